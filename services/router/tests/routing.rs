//! Routing through real HTTP to the mock providers: candidates are tried in order, retryable
//! failures fall through to the next key (benching refused or throttled keys), client errors
//! do not, streams are retried only before their first event, and every provider's base URL
//! and credential wiring works (SigV4, Bedrock API keys, Vertex tokens, Azure, custom).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use keyroute_mock_providers::{Fault, Mock, MockServer};
use keyroute_proto::router::v1::KeySource;
use keyroute_router::cache::leases::LeasedKey;
use keyroute_router::metrics::Metrics;
use keyroute_router::policy::candidates::{Candidate, candidates, serving};
use keyroute_router::policy::cooldowns::Cooldowns;
use keyroute_router::policy::fallback;
use keyroute_router::upstream::{Timeouts, Upstreams};
use keyroute_wire::canonical::pb::complete_stream_response::Event;
use keyroute_wire::canonical::pb::{self, content_part::Part};
use keyroute_wire::canonical::{Accumulator, StreamEvent};
use keyroute_wire::catalog::Catalog;
use support::leased::{key, lease};
use support::{TEST_RSA_KEY, test_rsa_public_key};

fn question(text: &str) -> pb::ChatRequest {
    pb::ChatRequest {
        model: "any".into(),
        messages: vec![pb::Message {
            role: pb::Role::User as i32,
            content: vec![pb::ContentPart {
                part: Some(Part::Text(text.into())),
                ..Default::default()
            }],
            name: String::new(),
        }],
        sampling: Some(pb::Sampling {
            max_tokens: Some(64),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn complete(
    upstreams: &Upstreams,
    found: &[Candidate<'_>],
    request: &pb::ChatRequest,
    cooldowns: &Cooldowns,
) -> Result<pb::ChatResponse, keyroute_router::error::RouteFailure> {
    fallback::complete(
        upstreams,
        found,
        request,
        cooldowns,
        &Metrics::default(),
        &|_| {},
    )
    .await
    .map(|(response, _, _)| response)
}

async fn stream(
    upstreams: &Upstreams,
    found: &[Candidate<'_>],
    request: &pb::ChatRequest,
    cooldowns: &Cooldowns,
) -> Result<impl futures::Stream<Item = StreamEvent> + use<>, keyroute_router::error::RouteFailure>
{
    fallback::stream(
        upstreams,
        found,
        request,
        cooldowns,
        &Metrics::default(),
        &|_| {},
    )
    .await
    .map(|(_, events)| events)
}

fn answer(response: &pb::ChatResponse) -> String {
    response.choices[0]
        .message
        .as_ref()
        .unwrap()
        .content
        .iter()
        .filter_map(|p| match &p.part {
            Some(Part::Text(t)) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// The provider of a case label (`model via id`), from the key id's convention above.
fn credential_provider(label: &str) -> &'static str {
    match label.rsplit(" via ").next().unwrap_or_default() {
        "oa" => "openai",
        "az" => "azure",
        _ => "other",
    }
}

async fn setup() -> (MockServer, Upstreams) {
    let mock = Mock::new();
    for (provider, secret) in [
        ("openai", "sk-a"),
        ("openai", "sk-b"),
        ("anthropic", "sk-ant"),
        ("google", "AIza-g"),
        ("azure", "az-key"),
        ("bedrock", "ABSK-key"),
    ] {
        mock.add_key(provider, secret);
    }
    mock.add_aws_credentials(
        "AKIAROUTERTEST000001",
        "router/secret/0123456789abcdefghijklmno",
    );
    mock.add_service_account("gw@p1.iam.gserviceaccount.com", &test_rsa_public_key());
    let server = MockServer::start(mock).await.unwrap();
    let overrides = [
        "openai",
        "anthropic",
        "google",
        "azure",
        "bedrock",
        "vertex",
    ]
    .iter()
    .map(|p| ((*p).to_owned(), server.base_url(p)))
    .collect();
    // Custom endpoints and the Vertex token URI point at the mock, on loopback: allowed here
    // as `keyroute dev` allows it (tests/egress.rs covers the strict policy).
    let loopback = keyroute_egress::EgressPolicy::allowing_loopback();
    let upstreams = Upstreams::with_egress(overrides, Timeouts::default(), loopback).unwrap();
    (server, upstreams)
}

#[tokio::test]
async fn a_throttled_key_falls_through_and_sits_out_its_retry_after() {
    let (server, upstreams) = setup().await;
    server.mock.set_fault(
        "sk-a",
        Fault {
            status: Some(429),
            retry_after: Some(30),
            ..Fault::default()
        },
    );
    let catalog = Catalog::builtin().unwrap();
    let resolution = catalog.resolve("gpt-4o-mini").unwrap();
    let lease = lease(vec![
        key("a", "openai", "", "sk-a", &[]),
        key("b", "openai", "", "sk-b", &[]),
    ]);
    let cooldowns = Cooldowns::new();
    let found = candidates(&resolution, &lease, None, &cooldowns).unwrap();
    let response = complete(&upstreams, &found, &question("hello there"), &cooldowns)
        .await
        .unwrap();
    assert_eq!(answer(&response), "echo: hello there");
    let served = response.served_by.unwrap();
    assert_eq!(
        (
            served.provider.as_str(),
            served.credential_fingerprint.as_str(),
            served.attempts
        ),
        ("openai", "openai:…b", 2)
    );
    assert_eq!(served.key_source(), KeySource::Byok);
    let until = cooldowns.cooling("a").expect("the throttled key sits out");
    assert!(
        until > Instant::now() + Duration::from_secs(25),
        "retry-after is honoured"
    );
    // The next request skips it without a wasted call.
    let before = server.mock.requests_for("openai").len();
    let found = candidates(&resolution, &lease, None, &cooldowns).unwrap();
    assert_eq!(found.len(), 1);
    complete(&upstreams, &found, &question("again"), &cooldowns)
        .await
        .unwrap();
    assert_eq!(server.mock.requests_for("openai").len(), before + 1);
}

#[tokio::test]
async fn a_client_error_does_not_fall_through() {
    let (server, upstreams) = setup().await;
    server.mock.set_fault(
        "sk-a",
        Fault {
            status: Some(400),
            ..Fault::default()
        },
    );
    let catalog = Catalog::builtin().unwrap();
    let resolution = catalog.resolve("gpt-4o-mini").unwrap();
    let lease = lease(vec![
        key("a", "openai", "", "sk-a", &[]),
        key("b", "openai", "", "sk-b", &[]),
    ]);
    let cooldowns = Cooldowns::new();
    let found = candidates(&resolution, &lease, None, &cooldowns).unwrap();
    let failure = complete(&upstreams, &found, &question("bad"), &cooldowns)
        .await
        .unwrap_err();
    assert_eq!((failure.error.status, failure.attempts), (400, 1));
    assert!(
        server
            .mock
            .requests()
            .iter()
            .all(|r| r.header("authorization") != Some("Bearer sk-b")),
        "the second key was never called"
    );
}

fn collect(events: &[StreamEvent]) -> (pb::ChatResponse, Vec<pb::StreamError>) {
    let mut accumulator = Accumulator::new();
    events.iter().for_each(|e| accumulator.push(e));
    let errors = accumulator.errors.clone();
    (accumulator.finish(), errors)
}

#[tokio::test]
async fn streams_fall_through_before_the_first_event_and_never_after() {
    let (server, upstreams) = setup().await;
    let catalog = Catalog::builtin().unwrap();
    let resolution = catalog.resolve("gpt-4o-mini").unwrap();
    let lease = lease(vec![
        key("a", "openai", "", "sk-a", &[]),
        key("b", "openai", "", "sk-b", &[]),
    ]);
    let cooldowns = Cooldowns::new();

    server.mock.set_fault(
        "sk-a",
        Fault {
            status: Some(500),
            ..Fault::default()
        },
    );
    let found = candidates(&resolution, &lease, None, &cooldowns).unwrap();
    let events: Vec<StreamEvent> = stream(
        &upstreams,
        &found,
        &question("stream me please"),
        &cooldowns,
    )
    .await
    .unwrap()
    .collect()
    .await;
    let (response, errors) = collect(&events);
    assert!(errors.is_empty());
    assert_eq!(answer(&response), "echo: stream me please");
    let Some(Event::End(end)) = &events.last().unwrap().event else {
        panic!("ends with End")
    };
    assert_eq!(end.served_by.as_ref().unwrap().attempts, 2);

    // A reset after the first chunk: the stream ends with an error, and nothing is retried.
    server.mock.set_fault(
        "sk-a",
        Fault {
            reset_after_chunks: Some(1),
            chunk_delay: Duration::from_millis(20),
            ..Fault::default()
        },
    );
    let before_b = server
        .mock
        .requests()
        .iter()
        .filter(|r| r.header("authorization") == Some("Bearer sk-b"))
        .count();
    let found = candidates(&resolution, &lease, None, &cooldowns).unwrap();
    let events: Vec<StreamEvent> = stream(&upstreams, &found, &question("cut me off"), &cooldowns)
        .await
        .unwrap()
        .collect()
        .await;
    let (_, errors) = collect(&events);
    assert_eq!(errors.len(), 1, "{events:?}");
    assert_eq!(errors[0].r#type, "truncated_stream");
    let after_b = server
        .mock
        .requests()
        .iter()
        .filter(|r| r.header("authorization") == Some("Bearer sk-b"))
        .count();
    assert_eq!(after_b, before_b, "no retry after the first byte");
}

#[tokio::test]
async fn every_provider_is_wired_with_its_base_url_and_credentials() {
    let (server, upstreams) = setup().await;
    let catalog = Catalog::builtin().unwrap();
    let account = serde_json::json!({
        "type": "service_account", "project_id": "p1", "private_key_id": "kid", "private_key": TEST_RSA_KEY,
        "client_email": "gw@p1.iam.gserviceaccount.com", "token_uri": server.vertex_token_uri(),
    })
    .to_string();
    let aws = r#"{"accessKeyId":"AKIAROUTERTEST000001","secretAccessKey":"router/secret/0123456789abcdefghijklmno"}"#;
    let custom_base = server.base_url("deepseek");
    server.mock.add_key("deepseek", "sk-custom");
    let cases: Vec<(&str, LeasedKey)> = vec![
        ("gpt-4o-mini", key("oa", "openai", "", "sk-a", &[])),
        (
            "claude-sonnet-4-5",
            key("ant", "anthropic", "", "sk-ant", &[]),
        ),
        ("gemini-2.5-flash", key("goog", "google", "", "AIza-g", &[])),
        (
            "azure/prod",
            key(
                "az",
                "azure",
                "prod",
                "az-key",
                &[
                    ("endpoint", "http://unused.example"),
                    ("deployment", "gpt4o-prod"),
                ],
            ),
        ),
        (
            "claude-sonnet-4-5",
            key(
                "br-sig",
                "bedrock",
                "",
                aws,
                &[("auth", "sigv4"), ("region", "us-east-1")],
            ),
        ),
        (
            "claude-haiku-4-5",
            key(
                "br-key",
                "bedrock",
                "",
                "ABSK-key",
                &[("auth", "api_key"), ("region", "us-west-2")],
            ),
        ),
        (
            "gemini-2.5-pro",
            key(
                "vx-g",
                "vertex",
                "",
                &account,
                &[("project_id", "p1"), ("location", "us-central1")],
            ),
        ),
        (
            "claude-sonnet-4-5",
            key(
                "vx-a",
                "vertex",
                "",
                &account,
                &[("project_id", "p1"), ("location", "us-east5")],
            ),
        ),
        (
            "custom/mine/llama3",
            key(
                "cu",
                "custom",
                "mine",
                r#"{"apiKey":"sk-custom"}"#,
                &[("base_url", &custom_base)],
            ),
        ),
    ];
    for (model, credential) in cases {
        let label = format!("{model} via {}", credential.id);
        let lease = lease(vec![credential]);
        let resolution = catalog.resolve(model).unwrap();
        let cooldowns = Cooldowns::new();
        let found = candidates(&resolution, &lease, None, &cooldowns)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let response = complete(
            &upstreams,
            &found,
            &question(&format!("hi {label}")),
            &cooldowns,
        )
        .await
        .unwrap_or_else(|f| panic!("{label}: {}", f.error));
        assert_eq!(answer(&response), format!("echo: hi {label}"), "{label}");
        let events: Vec<StreamEvent> =
            stream(&upstreams, &found, &question("streamed"), &cooldowns)
                .await
                .unwrap_or_else(|f| panic!("{label}: {}", f.error))
                .collect()
                .await;
        let (streamed, errors) = collect(&events);
        assert!(errors.is_empty(), "{label}: {errors:?}");
        assert_eq!(answer(&streamed), "echo: streamed", "{label}");

        // The same as a Responses request: OpenAI and Azure through their Responses
        // endpoint, every other provider through its chat format.
        let responses = |text: &str| pb::ChatRequest {
            responses: Some(pb::ResponsesOptions {
                store: Some(false),
                ..Default::default()
            }),
            ..question(text)
        };
        let native = serving(found.clone(), &responses("")).unwrap();
        let before = server.mock.requests().len();
        let response = complete(&upstreams, &native, &responses("whole"), &cooldowns)
            .await
            .unwrap_or_else(|f| panic!("{label} as Responses: {}", f.error));
        assert_eq!(answer(&response), "echo: whole", "{label} as Responses");
        let events: Vec<StreamEvent> =
            stream(&upstreams, &native, &responses("streamed"), &cooldowns)
                .await
                .unwrap_or_else(|f| panic!("{label} as Responses: {}", f.error))
                .collect()
                .await;
        let (streamed, errors) = collect(&events);
        assert!(errors.is_empty(), "{label} as Responses: {errors:?}");
        assert_eq!(answer(&streamed), "echo: streamed", "{label} as Responses");
        let requests = server.mock.requests();
        let paths: Vec<&str> = requests[before..]
            .iter()
            .filter(|r| r.path != "/token")
            .map(|r| r.path.as_str())
            .collect();
        let through_responses = paths.iter().all(|path| path.ends_with("/responses"));
        assert_eq!(
            through_responses,
            matches!(credential_provider(&label), "openai" | "azure"),
            "{label}: {paths:?}"
        );
    }
    // The Vertex token was exchanged once per credential, then cached.
    assert_eq!(
        server
            .mock
            .requests()
            .iter()
            .filter(|r| r.provider == "vertex" && r.path == "/token")
            .count(),
        2
    );
}

#[tokio::test]
async fn a_timeout_falls_through_to_the_next_key() {
    let (server, _) = setup().await;
    let overrides = [("openai".to_owned(), server.base_url("openai"))]
        .into_iter()
        .collect();
    let timeouts = Timeouts {
        first_byte: Duration::from_millis(300),
        ..Timeouts::default()
    };
    let upstreams = Upstreams::new(overrides, timeouts).unwrap();
    server.mock.set_fault(
        "sk-a",
        Fault {
            first_byte_delay: Duration::from_secs(5),
            ..Fault::default()
        },
    );
    let catalog = Catalog::builtin().unwrap();
    let resolution = catalog.resolve("gpt-4o-mini").unwrap();
    let lease = lease(vec![
        key("a", "openai", "", "sk-a", &[]),
        key("b", "openai", "", "sk-b", &[]),
    ]);
    let cooldowns = Cooldowns::new();
    let found = candidates(&resolution, &lease, None, &cooldowns).unwrap();
    let started = Instant::now();
    let response = complete(&upstreams, &found, &question("slow then fast"), &cooldowns)
        .await
        .unwrap();
    assert_eq!(response.served_by.unwrap().attempts, 2);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the slow key was abandoned at the first-byte timeout"
    );
    assert!(
        cooldowns.cooling("a").is_none(),
        "a timeout is not the key's fault"
    );
}
