//! Failures over real HTTP: wrong keys, injected faults and resets come back in each
//! provider's own shape, and signatures and credentials are really checked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use keyroute_mock_providers::Fault;
use keyroute_wire::error::ErrorKind;
use keyroute_wire::vertex::{ServiceAccount, parse_token_response};

#[tokio::test]
async fn wrong_keys_fail_in_each_providers_shape() {
    let harness = Harness::start().await;
    for kind in ALL {
        let mut http = harness.build(kind, &first_turn(false), false);
        harness.authorize(
            kind,
            &mut http,
            Some("wrong/key/0123456789abcdefghijklmnopq"),
        );
        let url = harness.url(kind, &http);
        let (status, headers, body) = harness.send_to(&url, &http, &[]).await;
        let error = parse(kind, status, &headers, &body).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Authentication, "{kind:?}: {error}");
        assert!(!error.message.is_empty());
        if kind == Kind::Google {
            assert_eq!(
                status, 400,
                "Gemini answers a bad key with 400 API_KEY_INVALID"
            );
        }
    }
}

#[tokio::test]
async fn faults_come_back_as_each_provider_reports_them() {
    let harness = Harness::start().await;
    for kind in ALL {
        let error = harness
            .call(
                kind,
                &first_turn(false),
                false,
                &[("x-mock-fault", "status=429; retry-after=3")],
            )
            .await
            .unwrap_err();
        assert_eq!(
            (error.kind, error.status, error.retryable),
            (ErrorKind::RateLimited, 429, true),
            "{kind:?}: {error}"
        );
        let error = harness
            .call(
                kind,
                &first_turn(false),
                false,
                &[("x-mock-fault", "status=500")],
            )
            .await
            .unwrap_err();
        assert_eq!(
            (error.kind, error.retryable),
            (ErrorKind::Unavailable, true),
            "{kind:?}"
        );
    }
    let overloaded = harness
        .call(
            Kind::Anthropic,
            &first_turn(false),
            false,
            &[("x-mock-fault", "status=529")],
        )
        .await
        .unwrap_err();
    assert_eq!(
        (overloaded.status, overloaded.error_type.as_str()),
        (529, "overloaded_error")
    );
    let quota = harness
        .call(
            Kind::Google,
            &first_turn(false),
            false,
            &[("x-mock-fault", "status=429; retry-after=7")],
        )
        .await
        .unwrap_err();
    assert_eq!(quota.retry_after, Some(std::time::Duration::from_secs(7)));

    // Per key, without a header.
    harness.server.mock.set_fault(
        "sk-openai",
        Fault {
            status: Some(401),
            ..Fault::default()
        },
    );
    let error = harness
        .call(Kind::OpenAi, &first_turn(false), false, &[])
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Authentication);
    harness.server.mock.clear_fault("sk-openai");
    assert!(
        harness
            .call(Kind::OpenAi, &first_turn(false), false, &[])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_reset_mid_stream_is_a_truncated_stream() {
    let harness = Harness::start().await;
    // A text answer arrives in several chunks; the reset comes after the first.
    let mut request = first_turn(false);
    request.tools.clear();
    for kind in [
        Kind::OpenAi,
        Kind::Anthropic,
        Kind::Google,
        Kind::BedrockKey,
    ] {
        let mut http = harness.build(kind, &request, true);
        harness.authorize(kind, &mut http, None);
        let url = harness.url(kind, &http);
        let mut builder = harness
            .client
            .post(&url)
            .body(http.body.clone())
            .header("x-mock-fault", "reset-after=1; chunk-delay-ms=20");
        for (name, value) in &http.headers {
            builder = builder.header(*name, value);
        }
        let mut response = builder.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let mut decoder = decoder(kind);
        let mut events = Vec::new();
        let mut transport_failed = false;
        loop {
            match response.chunk().await {
                Ok(Some(bytes)) => decoder.feed(&bytes, &mut events).unwrap(),
                Ok(None) => break,
                Err(_) => {
                    transport_failed = true;
                    break;
                }
            }
        }
        assert!(transport_failed, "{kind:?}: the reset reaches the client");
        let error = decoder.finish(&mut events).unwrap_err();
        assert_eq!(error.error_type, "truncated_stream", "{kind:?}");
    }
}

/// Sends a raw Gemini body with these `contents` to the mock.
async fn send_gemini(
    harness: &Harness,
    contents: Vec<serde_json::Value>,
) -> Result<(), keyroute_wire::error::WireError> {
    let mut http = harness.build(Kind::Google, &first_turn(false), false);
    harness.authorize(Kind::Google, &mut http, None);
    http.body = serde_json::json!({ "contents": contents })
        .to_string()
        .into_bytes();
    let url = harness.url(Kind::Google, &http);
    let (status, headers, body) = harness.send_to(&url, &http, &[]).await;
    parse(Kind::Google, status, &headers, &body).map(|_| ())
}

#[tokio::test]
async fn signatures_and_credentials_are_really_checked() {
    let harness = Harness::start().await;
    // A body changed after signing fails the SigV4 check.
    let mut http = harness.build(Kind::BedrockSigV4, &first_turn(false), false);
    harness.authorize(Kind::BedrockSigV4, &mut http, None);
    http.body.extend_from_slice(b" ");
    let url = harness.url(Kind::BedrockSigV4, &http);
    let (status, headers, body) = harness.send_to(&url, &http, &[]).await;
    let error = parse(Kind::BedrockSigV4, status, &headers, &body).unwrap_err();
    assert_eq!(
        (status, error.error_type.as_str()),
        (403, "InvalidSignatureException")
    );

    // Like Gemini 3, the mock refuses a function call sent back without its thought signature
    // in the current turn. Raw Gemini bodies: the wire builder would add Google's placeholder.
    let mut request = first_turn(false);
    let first = harness
        .call(Kind::Google, &request, false, &[])
        .await
        .unwrap();
    let mut message = first.choices[0].message.clone().unwrap();
    let signature = message
        .content
        .iter()
        .map(|p| p.thought_signature.clone())
        .find(|s| !s.is_empty())
        .unwrap();
    let call = serde_json::json!({ "functionCall": { "name": "get_weather", "args": {} } });
    let signed = |signature: &str| {
        let mut part = call.clone();
        part["thoughtSignature"] = serde_json::json!(signature);
        part
    };
    let user = |text: &str| serde_json::json!({ "role": "user", "parts": [{ "text": text }] });
    let model =
        |parts: Vec<serde_json::Value>| serde_json::json!({ "role": "model", "parts": parts });
    let result = serde_json::json!({ "role": "user", "parts": [{ "functionResponse": { "name": "get_weather", "response": { "output": "sunny" } } }] });
    let send = |contents| send_gemini(&harness, contents);
    let refused = send(vec![user("weather?"), model(vec![call.clone()])])
        .await
        .unwrap_err();
    assert_eq!(refused.status, 400);
    assert!(refused.message.contains("thought_signature"), "{refused}");
    let refused = send(vec![
        user("weather?"),
        model(vec![signed("forged")]),
        result.clone(),
    ])
    .await
    .unwrap_err();
    assert!(refused.message.contains("thought_signature"), "{refused}");
    // What Google accepts: the signature it gave, its placeholder, later parallel calls
    // unsigned, and unsigned calls of earlier turns.
    for contents in [
        vec![
            user("weather?"),
            model(vec![signed(&signature)]),
            result.clone(),
        ],
        vec![
            user("weather?"),
            model(vec![signed("skip_thought_signature_validator")]),
            result.clone(),
        ],
        vec![
            user("weather?"),
            model(vec![signed(&signature), call.clone()]),
            result.clone(),
        ],
        vec![
            user("weather?"),
            model(vec![call.clone()]),
            result.clone(),
            model(vec![]),
            user("and now?"),
        ],
    ] {
        let sent = serde_json::Value::Array(contents.clone());
        assert!(send(contents).await.is_ok(), "{sent}");
    }
    // Through the wire builder, a call whose signature was lost gets the placeholder and passes.
    message
        .content
        .iter_mut()
        .for_each(|p| p.thought_signature.clear());
    request.messages.push(message);
    assert!(
        harness
            .call(Kind::Google, &request, false, &[])
            .await
            .is_ok()
    );

    // A service account whose key the mock does not know gets no token.
    let other = serde_json::json!({
        "type": "service_account", "private_key": TEST_RSA_KEY, "client_email": "stranger@p1.iam.gserviceaccount.com",
        "private_key_id": "x", "token_uri": harness.server.vertex_token_uri(),
    });
    let account = ServiceAccount::from_json(&other.to_string()).unwrap();
    let (status, _, body) = harness
        .send_absolute(&account.token_request(now()).unwrap())
        .await;
    let error = parse_token_response(status, &body, now()).unwrap_err();
    assert_eq!(error.error_type, "invalid_grant");

    // What reached the mock is recorded, headers included.
    let anthropic = harness
        .call(Kind::Anthropic, &first_turn(false), false, &[])
        .await;
    assert!(anthropic.is_ok());
    let recorded = harness.server.mock.requests_for("anthropic");
    let last = recorded.last().unwrap();
    assert_eq!(
        (last.header("anthropic-version"), last.header("x-api-key")),
        (Some("2023-06-01"), Some("sk-ant"))
    );
    assert_eq!(last.json()["max_tokens"], 200);
}
