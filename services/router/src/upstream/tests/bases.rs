//! Base URLs through real calls: a key whose base URL changes reaches its new destination
//! (the parsed entry is keyed by the URL's text, not by the key), the operator's are parsed
//! at start, and an unusable one is the key's error with the wording clients know.

use keyroute_mock_providers::{Mock, MockServer};

use super::super::Upstreams;
use super::{complete, custom_key, loopback_upstreams, openai_key};

async fn mock_server() -> MockServer {
    let mock = Mock::new();
    mock.add_key("openai", "sk-a");
    MockServer::start(mock).await.unwrap()
}

#[tokio::test]
async fn a_changed_base_url_is_never_served_from_the_old_entry() {
    let first = mock_server().await;
    let second = mock_server().await;
    let upstreams = loopback_upstreams();

    let before = custom_key("k1", &first.base_url("openai"));
    complete(&upstreams, &before).await.unwrap();
    complete(&upstreams, &before).await.unwrap();
    assert_eq!(first.mock.requests_for("openai").len(), 2);
    assert_eq!(upstreams.bases.len(), 1, "parsed once, used twice");

    // The same key, rotated to another endpoint.
    let after = custom_key("k1", &format!("{}/", second.base_url("openai")));
    complete(&upstreams, &after).await.unwrap();
    assert_eq!(second.mock.requests_for("openai").len(), 1);
    assert_eq!(first.mock.requests_for("openai").len(), 2);
    let recorded = &second.mock.requests_for("openai")[0];
    assert_eq!(recorded.path, "/v1/chat/completions");
    assert_eq!(upstreams.bases.len(), 2);
}

#[tokio::test]
async fn an_unusable_base_url_is_the_keys_error() {
    let upstreams = loopback_upstreams();
    let error = complete(&upstreams, &custom_key("k2", "not a url"))
        .await
        .unwrap_err();
    assert_eq!(error.status, 401, "{error}");
    assert_eq!(error.error_type, "invalid_credential");
    assert!(error.retryable, "another key may work");
    assert!(
        error
            .message
            .contains("base url \"not a url\" is not a URL"),
        "{error}"
    );
    assert_eq!(upstreams.bases.len(), 0, "a failed parse is not kept");
}

#[tokio::test]
async fn the_operators_base_urls_are_parsed_at_start_and_trusted() {
    let server = mock_server().await;
    // A trailing slash, as operators write them.
    let operator = std::collections::HashMap::from([(
        "openai".to_owned(),
        format!("{}/", server.base_url("openai")),
    )]);
    // Strict: the operator's loopback destination is trusted all the same.
    let upstreams = Upstreams::new(operator, super::super::Timeouts::default()).unwrap();
    complete(&upstreams, &openai_key("k3")).await.unwrap();
    assert_eq!(
        server.mock.requests_for("openai")[0].path,
        "/v1/chat/completions"
    );
    assert_eq!(upstreams.bases.len(), 0, "nothing parsed per call");
}
