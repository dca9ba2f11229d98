//! The router's services called in-process, as `keyroute dev`'s edge calls them: served
//! without a connection to the port, authorized and attributed exactly as a call with the
//! edge's certificate over mTLS, with the port's health answers, deadlines and shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use futures::StreamExt;
use keyroute_proto::router::v1::complete_stream_response::Event;
use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::router::v1::*;
use keyroute_proto::vault::v1::{GetCredentialRequest, ListAuditEventsRequest};
use keyroute_router::in_process::InProcessRouter;
use keyroute_test_support::{metric_value, with_token};
use support::{Stack, ask, stack, text};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// The user's key in the stack (the mock knows it).
const USER_OPENAI_KEY: &str = "sk-user-openai-0123456789";

fn in_process(stack: &Stack) -> RouterServiceClient<InProcessRouter> {
    RouterServiceClient::new(stack.router.in_process.clone())
}

async fn connections(stack: &Stack) -> f64 {
    let text = stack.router.metrics_text().await;
    metric_value(&text, "keyroute_router_connections_total").unwrap()
}

/// The audit events of the stack's user, newest first, as (action, peer).
async fn audit(stack: &Stack) -> Vec<(String, String)> {
    let request = ListAuditEventsRequest {
        owner_id: stack.user.clone(),
        ..Default::default()
    };
    let events = stack
        .vault
        .client("edge")
        .list_audit_events(with_token(request, &stack.token))
        .await
        .unwrap()
        .into_inner()
        .events;
    events.into_iter().map(|e| (e.action, e.peer)).collect()
}

/// Tests the user's key through `client` and returns the audit events that added, with the
/// key's recorded test outcome afterwards.
async fn key_test<T>(stack: &Stack, client: &mut RouterServiceClient<T>) -> Vec<(String, String)>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let before = audit(stack).await.len();
    let answer = client
        .test_credential(with_token(
            TestCredentialRequest {
                credential_id: stack.credential.clone(),
                model: "gpt-4o-mini".into(),
            },
            &stack.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.outcome(), TestOutcome::Ok);
    let after = audit(stack).await;
    let added = after.len() - before;
    after.into_iter().take(added).collect()
}

#[tokio::test]
async fn the_edge_in_process_is_served_and_authorized_as_its_certificate_is() {
    let stack = stack().await;
    let mut local = in_process(&stack);

    let answer = local
        .complete(with_token(
            CompleteRequest {
                request: Some(ask("gpt-4o-mini", "hello in-process")),
            },
            &stack.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap();
    assert_eq!(text(&answer), "echo: hello in-process");
    let mut stream = local
        .complete_stream(with_token(
            CompleteStreamRequest {
                request: Some(ask("claude-sonnet-4-5", "stream it")),
            },
            &stack.token,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut streamed = String::new();
    while let Some(event) = stream.next().await {
        if let Some(Event::Delta(delta)) = event.unwrap().event {
            streamed.push_str(&delta.text);
        }
    }
    assert_eq!(streamed, "echo: stream it");
    // The peer check passed (a call without a peer is refused for its missing certificate);
    // the token is still required.
    let refused = local
        .complete(CompleteRequest {
            request: Some(ask("gpt-4o-mini", "no token")),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(refused.message().contains("gateway token"), "{refused:?}");
    // Served, and the port never saw a connection.
    assert_eq!(stack.router.served().await, 2);
    assert_eq!(connections(&stack).await, 0.0);

    // A key test is the edge's, not a platform's, as over mTLS with the edge's certificate:
    // the same audit trail, and no outcome recorded on the key by the router (the edge
    // records its own tests; the router records only platforms').
    let over_mtls = key_test(&stack, &mut stack.client("edge")).await;
    assert_eq!(
        connections(&stack).await,
        1.0,
        "the port counts connections"
    );
    let local_trail = key_test(&stack, &mut local).await;
    assert!(!over_mtls.is_empty());
    assert_eq!(local_trail, over_mtls);
    assert!(
        local_trail
            .iter()
            .all(|(_, peer)| !peer.contains("platform")),
        "{local_trail:?}"
    );
    let key = stack
        .vault
        .client("edge")
        .get_credential(with_token(
            GetCredentialRequest {
                credential_id: stack.credential.clone(),
            },
            &stack.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    assert_eq!(key.last_test_outcome, "", "{key:?}");
    assert_eq!(connections(&stack).await, 1.0);
}

#[tokio::test]
async fn health_deadlines_and_shutdown_are_the_ports() {
    let mut stack = stack().await;
    let check = |router: InProcessRouter| async move {
        HealthClient::new(router)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
    };
    let health = check(stack.router.in_process.clone()).await.unwrap();
    assert_eq!(health.into_inner().status(), ServingStatus::Serving);

    // A deadline shorter than the provider's answer: cut as the port cuts it.
    let slow = keyroute_mock_providers::Fault {
        first_byte_delay: Duration::from_secs(30),
        ..Default::default()
    };
    stack.mock.set_fault(USER_OPENAI_KEY, slow);
    let late = || {
        let mut request = with_token(
            CompleteRequest {
                request: Some(ask("gpt-4o-mini", "too slow")),
            },
            &stack.token,
        );
        request.set_timeout(Duration::from_millis(200));
        request
    };
    let started = std::time::Instant::now();
    let local = in_process(&stack).complete(late()).await.unwrap_err();
    let remote = stack.client("edge").complete(late()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        (local.code(), local.message()),
        (remote.code(), remote.message())
    );
    assert_eq!(local.code(), Code::Cancelled, "{local:?}");

    // Once the router stops, calls in-process are refused as new calls on its port are.
    stack.router.stop().await;
    let stopped = check(stack.router.in_process.clone()).await.unwrap_err();
    assert_eq!(stopped.code(), Code::Unavailable, "{stopped:?}");
    let refused = in_process(&stack)
        .complete(with_token(
            CompleteRequest {
                request: Some(ask("gpt-4o-mini", "after the end")),
            },
            &stack.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
}
