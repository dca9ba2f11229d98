//! An edge whose router runs in its process, as in `keyroute dev`: answers and streams come
//! from the router without a connection to its port, readiness asks the router itself, the
//! edge's request timeout still cuts a slow call, and a stopped router is reported as such.
//! Model calls reach the router's `RouterService` typed, with no gRPC at all, and a typed
//! call answers as the in-process gRPC services do (identity, deadline, shutdown, statuses,
//! metadata, span).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use keyroute_edge::state::Edge;
use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::router::v1::router_service_server::RouterService;
use keyroute_proto::router::v1::*;
use keyroute_router::in_process::InProcessRouter;
use keyroute_test_support::{metric_value, with_token};
use keyroute_tls::{Identity, PeerInfo};
use reqwest::Method;
use serde_json::{Value, json};
use support::watch::{Spans, Watch, Watched};
use support::{Gateway, gateway_in_process, gateway_in_process_via, sse_events};
use tonic::{Code, Status};

fn chat(stream: bool) -> String {
    json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [{ "role": "user", "content": "in one process" }],
    })
    .to_string()
}

async fn post_chat(gateway: &Gateway, stream: bool) -> (u16, Value) {
    let (status, _, body) = gateway
        .send(
            Method::POST,
            "/v1/chat/completions",
            Some(&gateway.token),
            &[],
            Some(chat(stream)),
        )
        .await;
    (status, body)
}

/// How many connections the router's port accepted, from its metrics.
async fn connections(gateway: &Gateway) -> f64 {
    let text = gateway.routers[0].metrics_text().await;
    metric_value(&text, "keyroute_router_connections_total").unwrap()
}

#[tokio::test]
async fn served_in_process_with_readiness_from_the_router() {
    let mut gateway = gateway_in_process(|_| {}).await;
    let (status, body) = post_chat(&gateway, false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "echo: in one process"
    );
    let (status, body) = post_chat(&gateway, true).await;
    assert_eq!(status, 200, "{body}");
    let events = sse_events(body.as_str().unwrap());
    assert_eq!(events.last().unwrap().1, "[DONE]", "{events:?}");
    assert_eq!(gateway.routers[0].served().await, 2);
    assert_eq!(
        connections(&gateway).await,
        0.0,
        "nothing came over the port"
    );

    let (status, _, ready) = gateway.send(Method::GET, "/readyz", None, &[], None).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["routers"], json!({ "serving": 1, "known": 1 }));

    gateway.routers[0].stop().await;
    let (status, _, ready) = gateway.send(Method::GET, "/readyz", None, &[], None).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["routers"], json!({ "serving": 0, "known": 1 }));
    let (status, body) = post_chat(&gateway, false).await;
    assert_eq!(status, 503, "{body}");
}

#[tokio::test]
async fn a_call_past_the_request_timeout_is_cut_with_504() {
    let gateway = gateway_in_process(|settings| {
        settings.request_timeout = Duration::from_millis(300);
    })
    .await;
    let slow = keyroute_mock_providers::Fault {
        first_byte_delay: Duration::from_secs(30),
        ..Default::default()
    };
    gateway.mock.set_fault(support::USER_OPENAI_KEY, slow);
    let started = Instant::now();
    let (status, body) = post_chat(&gateway, false).await;
    assert_eq!(status, 504, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the edge's deadline, not the provider's delay, ends the call"
    );
}

#[tokio::test]
async fn model_calls_reach_the_router_typed_and_only_health_checks_go_over_grpc() {
    let watch = Watch::default();
    let watched = watch.clone();
    let gateway = gateway_in_process_via(
        Box::new(move |settings, tls, router| {
            Edge::connect_in_process(settings, tls, Watched::new(router, watched)).unwrap()
        }),
        |_| {},
    )
    .await;
    let token = Some(gateway.token.as_str());
    let (status, body) = post_chat(&gateway, false).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_chat(&gateway, true).await;
    assert_eq!(status, 200, "{body}");
    let embed = json!({ "model": "text-embedding-3-small", "input": ["one", "two"] });
    let (status, _, body) = gateway
        .send(
            Method::POST,
            "/v1/embeddings",
            token,
            &[],
            Some(embed.to_string()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let count = json!({
        "model": "gpt-4o-mini",
        "messages": [{ "role": "user", "content": "how many" }],
    });
    let (status, _, body) = gateway
        .send(
            Method::POST,
            "/v1/messages/count_tokens",
            token,
            &[],
            Some(count.to_string()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for path in ["/v1/models", "/api/v1/models"] {
        let (status, _, body) = gateway.send(Method::GET, path, token, &[], None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, _, keys) = gateway
        .send(Method::GET, "/api/v1/keys", token, &[], None)
        .await;
    assert_eq!(status, 200, "{keys}");
    let id = keys["data"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, tested) = gateway
        .send(
            Method::POST,
            &format!("/api/v1/keys/{id}/test"),
            token,
            &[],
            Some("{}".into()),
        )
        .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["outcome"], "ok");
    assert!(watch.grpc_paths().is_empty(), "{:?}", watch.grpc_paths());
    assert_eq!(
        watch.typed_methods(),
        [
            "Complete",
            "CompleteStream",
            "Embed",
            "CountTokens",
            "ListModels",
            "ListModels",
            "TestCredential",
        ]
    );

    // Readiness still asks the router's gRPC health service.
    let (status, _, ready) = gateway.send(Method::GET, "/readyz", None, &[], None).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(watch.grpc_paths(), ["/grpc.health.v1.Health/Check"]);
    assert_eq!(watch.typed_methods().len(), 7);
}

/// `text` asked of `model`, as the edge sends a chat.
fn ask(model: &str, text: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![Message {
            role: Role::User as i32,
            content: vec![ContentPart {
                part: Some(content_part::Part::Text(text.into())),
                ..Default::default()
            }],
            name: String::new(),
        }],
        ..Default::default()
    }
}

/// A status as a caller can tell it apart: code, message, details and every metadata entry.
type Seen = (Code, String, Vec<u8>, Vec<(String, String)>);

fn seen(status: &Status) -> Seen {
    let mut metadata: Vec<(String, String)> = status
        .metadata()
        .clone()
        .into_headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    metadata.sort();
    (
        status.code(),
        status.message().to_owned(),
        status.details().to_vec(),
        metadata,
    )
}

/// The metadata names of an answer, less what only gRPC's framing adds.
fn answer_names(metadata: &tonic::metadata::MetadataMap) -> Vec<String> {
    let mut names: Vec<String> = metadata
        .clone()
        .into_headers()
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| {
            !matches!(
                name.as_str(),
                "content-type" | "grpc-status" | "grpc-message"
            )
        })
        .collect();
    names.sort();
    names
}

/// A complete request with the gateway's token, `model`, and at most `deadline`.
fn complete(
    gateway: &Gateway,
    model: &str,
    deadline: Option<Duration>,
) -> tonic::Request<CompleteRequest> {
    let message = CompleteRequest {
        request: Some(ask(model, "typed or not")),
    };
    let mut request = with_token(message, &gateway.token);
    if let Some(deadline) = deadline {
        request.set_timeout(deadline);
    }
    request
}

/// The text of a chat answer.
fn text(reply: CompleteResponse) -> String {
    let answer = reply.response.unwrap_or_default();
    let message = answer.choices.into_iter().next().and_then(|c| c.message);
    let parts = message.map(|m| m.content).unwrap_or_default();
    parts
        .into_iter()
        .filter_map(|p| match p.part {
            Some(content_part::Part::Text(text)) => Some(text),
            _ => None,
        })
        .collect()
}

/// How a stream call ended: its error, or the number of events it sent.
async fn stream_outcome(
    reply: Result<
        tonic::Response<
            impl futures::Stream<Item = Result<CompleteStreamResponse, Status>> + Unpin,
        >,
        Status,
    >,
) -> Result<usize, Seen> {
    let mut events = reply.map_err(|status| seen(&status))?.into_inner();
    let mut count = 0;
    while let Some(event) = events.next().await {
        event.map_err(|status| seen(&status))?;
        count += 1;
    }
    Ok(count)
}

#[tokio::test]
async fn a_typed_call_answers_as_the_in_process_grpc_services_do() {
    let mut gateway = gateway_in_process(|_| {}).await;
    let typed = gateway.routers[0].in_process.clone();
    let mut grpc = RouterServiceClient::new(typed.clone());

    // Served as the edge whatever the caller claims: a forged peer is replaced (a vault may
    // not call the router).
    let mut forged = complete(&gateway, "gpt-4o-mini", None);
    forged.extensions_mut().insert(PeerInfo {
        identity: Identity::parse("vault").unwrap(),
        remote_addr: None,
    });
    let by_type = RouterService::complete(&typed, forged).await.unwrap();
    let by_grpc = grpc
        .complete(complete(&gateway, "gpt-4o-mini", None))
        .await
        .unwrap();
    assert!(
        by_type.metadata().get("x-keyroute-provider").is_some(),
        "{:?}",
        by_type.metadata()
    );
    assert_eq!(
        answer_names(by_type.metadata()),
        answer_names(by_grpc.metadata())
    );
    assert_eq!(text(by_type.into_inner()), "echo: typed or not");
    assert_eq!(text(by_grpc.into_inner()), "echo: typed or not");

    // Refusals carry the same status and metadata (no token; a model nobody serves).
    let mut no_token = complete(&gateway, "gpt-4o-mini", None);
    no_token.metadata_mut().remove("authorization");
    let mut no_token_grpc = complete(&gateway, "gpt-4o-mini", None);
    no_token_grpc.metadata_mut().remove("authorization");
    let refused = RouterService::complete(&typed, no_token).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert_eq!(
        seen(&refused),
        seen(&grpc.complete(no_token_grpc).await.unwrap_err())
    );
    let unknown = || complete(&gateway, "no-such-model", None);
    let refused = RouterService::complete(&typed, unknown())
        .await
        .unwrap_err();
    assert!(
        refused.metadata().get("x-keyroute-error-origin").is_some(),
        "{refused:?}"
    );
    assert_eq!(
        seen(&refused),
        seen(&grpc.complete(unknown()).await.unwrap_err())
    );

    // A stream is served the same.
    let stream = || {
        let message = CompleteStreamRequest {
            request: Some(ask("gpt-4o-mini", "typed stream")),
        };
        with_token(message, &gateway.token)
    };
    let by_type = stream_outcome(RouterService::complete_stream(&typed, stream()).await).await;
    let by_grpc = stream_outcome(grpc.complete_stream(stream()).await).await;
    assert!(
        by_type.as_ref().is_ok_and(|events| *events > 1),
        "{by_type:?}"
    );
    assert_eq!(by_type, by_grpc);

    // A deadline shorter than the provider's first byte cuts both, the same way.
    let slow = keyroute_mock_providers::Fault {
        first_byte_delay: Duration::from_secs(30),
        ..Default::default()
    };
    gateway.mock.set_fault(support::USER_OPENAI_KEY, slow);
    let late = Some(Duration::from_millis(200));
    let started = Instant::now();
    let cut = RouterService::complete(&typed, complete(&gateway, "gpt-4o-mini", late))
        .await
        .unwrap_err();
    assert_eq!(
        (cut.code(), cut.message()),
        (Code::Cancelled, "Timeout expired")
    );
    let cut_grpc = grpc
        .complete(complete(&gateway, "gpt-4o-mini", late))
        .await
        .unwrap_err();
    assert_eq!(seen(&cut), seen(&cut_grpc));
    let late_stream = || {
        let mut request = stream();
        request.set_timeout(Duration::from_millis(200));
        request
    };
    let by_type = stream_outcome(RouterService::complete_stream(&typed, late_stream()).await).await;
    let by_grpc = stream_outcome(grpc.complete_stream(late_stream()).await).await;
    assert_eq!(by_type, by_grpc);
    assert!(by_type.is_err_and(|(code, ..)| code == Code::Cancelled));
    assert!(started.elapsed() < Duration::from_secs(10));

    // Once the router stops, typed calls are refused as gRPC ones are.
    gateway.routers[0].stop().await;
    let refused = RouterService::complete(&typed, complete(&gateway, "gpt-4o-mini", None))
        .await
        .unwrap_err();
    assert_eq!(
        (refused.code(), refused.message()),
        (Code::Unavailable, "the router is shutting down")
    );
    let refused_grpc = grpc
        .complete(complete(&gateway, "gpt-4o-mini", None))
        .await
        .unwrap_err();
    assert_eq!(seen(&refused), seen(&refused_grpc));
    let refused = stream_outcome(RouterService::complete_stream(&typed, stream()).await).await;
    assert!(refused.is_err_and(|(code, ..)| code == Code::Unavailable));
}

#[tokio::test]
async fn a_typed_call_has_the_span_the_grpc_services_give_it() {
    let spans = Spans::default();
    let _collecting = spans.collect();
    let gateway = gateway_in_process(|_| {}).await;
    let typed: InProcessRouter = gateway.routers[0].in_process.clone();
    let mut grpc = RouterServiceClient::new(typed.clone());

    RouterService::complete(&typed, complete(&gateway, "gpt-4o-mini", None))
        .await
        .unwrap();
    let typed_span = spans.router_calls();
    grpc.complete(complete(&gateway, "gpt-4o-mini", None))
        .await
        .unwrap();
    let both = spans.router_calls();
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(typed_span.len(), 1, "{typed_span:?}");
    assert_eq!(both[0], both[1]);
    let span = &both[0];
    assert_eq!(span["target"], "keyroute::grpc");
    assert_eq!(
        span["otel.name"],
        "keyroute.router.v1.RouterService/Complete"
    );
    assert_eq!(span["otel.kind"], "server");
    assert_eq!(span["rpc.system"], "grpc");
    assert_eq!(span["rpc.service"], "keyroute.router.v1.RouterService");
    assert_eq!(span["rpc.method"], "Complete");
    assert_eq!(span["rpc.grpc.status_code"], "0");

    // A stream's span lasts until its end and records how it ended; a refusal its code.
    let stream = CompleteStreamRequest {
        request: Some(ask("gpt-4o-mini", "a traced stream")),
    };
    let events = RouterService::complete_stream(&typed, with_token(stream, &gateway.token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(spans.router_calls().len(), 2, "open while its events are");
    assert!(events.count().await > 1);
    let mut no_token = complete(&gateway, "gpt-4o-mini", None);
    no_token.metadata_mut().remove("authorization");
    RouterService::complete(&typed, no_token).await.unwrap_err();
    let calls = spans.router_calls();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!(calls[2]["rpc.method"], "CompleteStream");
    assert_eq!(calls[2]["rpc.grpc.status_code"], "0");
    assert_eq!(calls[3]["rpc.method"], "Complete");
    assert_eq!(calls[3]["rpc.grpc.status_code"], "16");
}
