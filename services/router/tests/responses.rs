//! Responses requests through the router: `previous_response_id` is served only by keys whose
//! upstream keeps responses (OpenAI, Azure OpenAI), and refused clearly when no such key can
//! serve the model; OpenAI keys serve Responses requests through their Responses endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyroute_proto::contract::header;
use keyroute_proto::router::v1::*;
use keyroute_test_support::{credential_request, with_token};
use support::{ask, stack};
use tonic::Code;

fn continuing(model: &str, previous: &str) -> ChatRequest {
    ChatRequest {
        responses: Some(ResponsesOptions {
            previous_response_id: previous.into(),
            ..Default::default()
        }),
        ..ask(model, "and then?")
    }
}

#[tokio::test]
async fn previous_response_id_needs_a_key_whose_upstream_keeps_responses() {
    let stack = stack().await;

    // Only the platform's Anthropic key serves Claude: it keeps no responses.
    let refused = stack
        .complete(continuing("claude-sonnet-4-6", "resp_abc"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(
        refused.message(),
        "previous_response_id needs an OpenAI or Azure OpenAI key: those upstreams keep \
         responses; keyroute keeps none — send the conversation as input with store: false"
    );
    let metadata = |name: &str| {
        refused
            .metadata()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(metadata(header::ERROR_ORIGIN).as_deref(), Some("client"));
    assert_eq!(metadata(header::RETRYABLE).as_deref(), Some("false"));

    // The same Responses request without a stored response is a chat Anthropic serves.
    let mut fresh = continuing("claude-sonnet-4-6", "");
    fresh.responses.as_mut().unwrap().hosted_tools_json = r#"[{"type":"web_search"}]"#.into();
    let served = stack
        .complete(fresh)
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap();
    assert_eq!(served.served_by.unwrap().provider, "anthropic");

    // The caller's OpenAI key serves through the Responses endpoint, which keeps the answer
    // for the next turn to continue.
    let first = stack
        .complete(continuing("gpt-4o-mini", ""))
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap();
    assert!(first.id.starts_with("resp_"), "{}", first.id);
    let next = stack
        .complete(continuing("gpt-4o-mini", &first.id))
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap();
    assert_eq!(next.served_by.unwrap().provider, "openai");
}

#[tokio::test]
async fn an_answer_without_an_id_of_its_own_is_named_by_its_request_id() {
    let stack = stack().await;
    let mut edge = stack.client("edge");
    // Bedrock's Converse answers carry no id.
    stack.mock.add_key("bedrock", "ABSK-router-bedrock-0123");
    stack
        .vault
        .client("edge")
        .create_credential(with_token(
            credential_request(
                &stack.user,
                "bedrock",
                "",
                "ABSK-router-bedrock-0123",
                &[("region", "us-east-1")],
            ),
            &stack.token,
        ))
        .await
        .unwrap();
    stack.leases.clear();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let response = stack
            .complete(ask("bedrock/claude-haiku-4-5", "hello"))
            .await
            .unwrap()
            .into_inner()
            .response
            .unwrap();
        let served = response.served_by.unwrap();
        assert_eq!(served.provider, "bedrock");
        assert_eq!(response.id, served.request_id, "named by its request id");
        ids.push(response.id);
    }
    assert!(!ids[0].is_empty() && ids[0] != ids[1], "{ids:?}");

    let mut events = edge
        .complete_stream(with_token(
            CompleteStreamRequest {
                request: Some(ask("bedrock/claude-haiku-4-5", "hello")),
            },
            &stack.token,
        ))
        .await
        .unwrap()
        .into_inner();
    let first = events.message().await.unwrap().unwrap();
    let Some(complete_stream_response::Event::Start(start)) = first.event else {
        panic!("a stream starts with its start: {first:?}");
    };
    assert!(
        !start.id.is_empty() && !ids.contains(&start.id),
        "{}",
        start.id
    );
}
