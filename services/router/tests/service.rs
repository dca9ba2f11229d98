//! The router as a service, end to end over mTLS gRPC: a real vault, the router on a
//! loopback port, the mock providers upstream, and the edge's certificate as the client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use futures::StreamExt;
use keyroute_proto::router::v1::complete_stream_response::Event;
use keyroute_proto::router::v1::*;
use keyroute_proto::vault::v1::CreateCredentialRequest;
use keyroute_test_support::with_token;
use support::{ask, grant, stack, text};
use tonic::Code;

#[tokio::test]
async fn the_callers_key_serves_and_managed_keys_fill_the_gaps() {
    let stack = stack().await;
    let mut edge = stack.client("edge");
    let byok = edge
        .complete(with_token(
            CompleteRequest {
                request: Some(ask("gpt-4o-mini", "hello router")),
            },
            &stack.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap();
    assert_eq!(text(&byok), "echo: hello router");
    let served = byok.served_by.unwrap();
    assert_eq!(
        (
            served.provider.as_str(),
            served.key_source(),
            served.attempts
        ),
        ("openai", KeySource::Byok, 1)
    );
    assert_eq!(served.credential_fingerprint, "openai:…6789");

    let managed = edge
        .complete(with_token(
            CompleteRequest {
                request: Some(ask("claude-sonnet-4-5", "hi claude")),
            },
            &stack.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap();
    assert_eq!(text(&managed), "echo: hi claude");
    assert_eq!(managed.served_by.unwrap().key_source(), KeySource::Managed);

    let mut stream = edge
        .complete_stream(with_token(
            CompleteStreamRequest {
                request: Some(ask("gpt-4o-mini", "stream it")),
            },
            &stack.token,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut text = String::new();
    let mut end = None;
    while let Some(event) = stream.next().await {
        match event.unwrap().event {
            Some(Event::Delta(delta)) => text.push_str(&delta.text),
            Some(Event::End(done)) => end = done.served_by,
            _ => {}
        }
    }
    assert_eq!(text, "echo: stream it");
    assert_eq!(end.unwrap().key_source(), KeySource::Byok);

    // An internal platform may call too.
    let mut platform = stack.client("platform/billing");
    assert!(
        platform
            .complete(with_token(
                CompleteRequest {
                    request: Some(ask("gpt-4o-mini", "from a platform"))
                },
                &stack.token
            ))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn models_and_credential_tests() {
    let stack = stack().await;
    let mut edge = stack.client("edge");
    let models = edge
        .list_models(with_token(ListModelsRequest {}, &stack.token))
        .await
        .unwrap()
        .into_inner()
        .models;
    let find = |id: &str| models.iter().find(|m| m.id == id).cloned();
    assert_eq!(
        find("gpt-4o-mini").map(|m| (m.key_source(), m.provider)),
        Some((KeySource::Byok, "openai".to_owned()))
    );
    assert_eq!(
        find("claude-sonnet-4-5").map(|m| (m.key_source(), m.provider)),
        Some((KeySource::Managed, "anthropic".to_owned()))
    );
    assert!(
        find("gemini-2.5-flash").is_none(),
        "no key and no managed key for Google"
    );
    // Without credit, managed models are not routable.
    let (_, broke) = stack.vault.user_with_token("broke").await;
    let models = edge
        .list_models(with_token(ListModelsRequest {}, &broke))
        .await
        .unwrap()
        .into_inner()
        .models;
    assert!(
        models.iter().all(|m| m.id != "claude-sonnet-4-5"),
        "{models:?}"
    );

    let tested = edge
        .test_credential(with_token(
            TestCredentialRequest {
                credential_id: stack.credential.clone(),
                model: String::new(),
            },
            &stack.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (tested.outcome(), tested.provider.as_str()),
        (TestOutcome::Ok, "openai")
    );
    // The owner sees the test in the key's audit trail.
    let events = stack
        .vault
        .client("admin")
        .list_audit_events(keyroute_proto::vault::v1::ListAuditEventsRequest {
            owner_id: stack.user.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let test = events
        .iter()
        .find(|e| e.action == "credential.test")
        .expect("an audit event for the test");
    assert_eq!(
        (test.target.as_str(), test.actor.as_str()),
        (stack.credential.as_str(), stack.user.as_str())
    );
    assert!(
        test.detail.contains("\"outcome\":\"ok\""),
        "{}",
        test.detail
    );
    assert!(test.peer.ends_with("/router"), "{}", test.peer);
}

#[tokio::test]
async fn bad_callers_tokens_and_models_are_refused_clearly() {
    let stack = stack().await;
    let mut edge = stack.client("edge");
    let request = || CompleteRequest {
        request: Some(ask("gpt-4o-mini", "x")),
    };
    let error = edge.complete(request()).await.unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
    let error = edge
        .complete(with_token(
            request(),
            "kr_not-a-real-token-at-all-0123456789abcdef",
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
    let error = stack
        .client("router")
        .complete(with_token(request(), &stack.token))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    let unknown = CompleteRequest {
        request: Some(ask("gpt-4o-mni", "x")),
    };
    let error = edge
        .complete(with_token(unknown, &stack.token))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    assert!(
        error.message().contains("did you mean gpt-4o-mini"),
        "{}",
        error.message()
    );
    let no_key = CompleteRequest {
        request: Some(ask("gemini-2.5-flash", "x")),
    };
    let error = edge
        .complete(with_token(no_key, &stack.token))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(
        error.message().contains("no enabled key for google"),
        "{}",
        error.message()
    );
    let empty = CompleteRequest {
        request: Some(ChatRequest {
            model: "gpt-4o-mini".into(),
            ..Default::default()
        }),
    };
    assert_eq!(
        edge.complete(with_token(empty, &stack.token))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
}

#[tokio::test]
async fn a_thousand_concurrent_requests_are_attributed_right_without_vault_calls() {
    let stack = stack().await;
    // Three more principals, each with a key for another provider.
    let mut callers = vec![(
        stack.token.clone(),
        "gpt-4o-mini",
        "openai",
        KeySource::Byok,
    )];
    for (name, provider, model, secret) in [
        ("g", "google", "gemini-2.5-flash", "AIza-load-0123456789"),
        (
            "m",
            "mistral",
            "mistral-small-latest",
            "mistral-load-0123456789",
        ),
    ] {
        let (user, token) = stack.vault.user_with_token(name).await;
        stack.mock.add_key(provider, secret);
        let request = CreateCredentialRequest {
            owner_id: user,
            provider: provider.into(),
            secret: secret.into(),
            ..Default::default()
        };
        stack
            .vault
            .client("edge")
            .create_credential(with_token(request, &token))
            .await
            .unwrap();
        callers.push((token, model, provider, KeySource::Byok));
    }
    let (no_keys_user, no_keys) = stack.vault.user_with_token("nokeys").await;
    // Enough credit for 250 managed calls in flight at once: each holds its estimate (up to
    // 4096 output tokens without max_tokens) until it is charged.
    grant(&stack.vault, &no_keys_user, 100_000_000).await;
    // No key of their own: the platform's Anthropic key serves them.
    callers.push((
        no_keys,
        "claude-sonnet-4-5",
        "anthropic",
        KeySource::Managed,
    ));

    let edge = stack.client("edge");
    for (token, model, _, _) in &callers {
        edge.clone()
            .complete(with_token(
                CompleteRequest {
                    request: Some(ask(model, "warm up")),
                },
                token,
            ))
            .await
            .unwrap();
    }
    let warm = stack.leases.vault_calls();
    let started = std::time::Instant::now();

    let requests = (0..1000).map(|i| {
        let (token, model, provider, source) = callers[i % callers.len()].clone();
        let mut client = edge.clone();
        tokio::spawn(async move {
            let question = format!("request number {i}");
            let reply = client
                .complete(with_token(
                    CompleteRequest {
                        request: Some(ask(model, &question)),
                    },
                    &token,
                ))
                .await
                .unwrap()
                .into_inner()
                .response
                .unwrap();
            assert_eq!(
                text(&reply),
                format!("echo: {question}"),
                "each answer belongs to its request"
            );
            let served = reply.served_by.unwrap();
            assert_eq!(
                (served.provider.as_str(), served.key_source()),
                (provider, source),
                "request {i}"
            );
        })
    });
    for request in futures::future::join_all(requests).await {
        request.unwrap();
    }
    assert_eq!(
        stack.leases.vault_calls(),
        warm,
        "no vault call per request once leases are warm"
    );

    // The same traffic, as Prometheus sees it.
    let text = reqwest::get(format!("http://{}/metrics", stack.metrics))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |needle: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(
        count(
            "keyroute_router_requests_total{provider=\"google\",model=\"gemini-2.5-flash\",key_source=\"byok\",outcome=\"ok\"}"
        ),
        251,
        "{text}"
    );
    assert_eq!(
        count(
            "keyroute_router_requests_total{provider=\"anthropic\",model=\"claude-sonnet-4-5\",key_source=\"managed\",outcome=\"ok\"}"
        ),
        251
    );
    assert!(count("keyroute_router_lease_cache_hits_total") >= 1000);
    assert_eq!(
        count("keyroute_router_vault_lease_calls_total"),
        stack.leases.vault_calls()
    );
    assert!(count("keyroute_router_added_seconds_count") >= 1004);
    // Balances are cached for 2 s: a few fetches per principal, never one per request.
    let refreshes = started.elapsed().as_secs() / 2 + 2;
    let balance_calls = count("keyroute_router_vault_balance_calls_total");
    assert!(
        (1..=callers.len() as u64 * refreshes).contains(&balance_calls),
        "{balance_calls} balance calls"
    );
}

#[tokio::test]
async fn the_probe_port_answers_health_checks_in_plaintext_and_nothing_else() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let stack = stack().await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", stack.health))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);
    // Without a client certificate, the router's API is not reachable there.
    let refused = router_service_client::RouterServiceClient::new(channel)
        .list_models(ListModelsRequest {})
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unimplemented, "{refused:?}");
}

#[tokio::test]
async fn callers_cannot_mint_metric_labels() {
    let stack = stack().await;
    let mut edge = stack.client("edge");
    // Uncatalogued models pinned to a provider the caller has a key for: served, each under
    // a name of the caller's choosing.
    for n in 0..20 {
        edge.complete(with_token(
            CompleteRequest {
                request: Some(ask(&format!("openai/made-up-model-{n}"), "hi")),
            },
            &stack.token,
        ))
        .await
        .unwrap();
    }
    let text = reqwest::get(format!("http://{}/metrics", stack.metrics))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("made-up-model"), "{text}");
    assert!(
        text.contains(
            "keyroute_router_requests_total{provider=\"openai\",model=\"other\",key_source=\"byok\",outcome=\"ok\"} 20"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn the_port_answers_health_and_reflection_and_refuses_unknown_methods() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let stack = stack().await;
    let channel = stack.channel("edge");
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "keyroute.router.v1.RouterService".into(),
        })
        .await
        .unwrap();
    assert_eq!(health.into_inner().status, 1, "serving");

    let asked = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = ServerReflectionClient::new(channel.clone())
        .server_reflection_info(futures::stream::iter([asked]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(listed)) =
        answers.next().await.unwrap().unwrap().message_response
    else {
        panic!("no list of services");
    };
    let names: Vec<_> = listed.service.into_iter().map(|s| s.name).collect();
    assert!(
        names
            .iter()
            .any(|name| name == "keyroute.router.v1.RouterService"),
        "{names:?}"
    );

    // A method the router does not have, and a service it does not serve.
    for path in [
        "/keyroute.router.v1.RouterService/NoSuchMethod",
        "/no.such.Service/Method",
    ] {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let codec = tonic_prost::ProstCodec::<ListModelsRequest, ListModelsResponse>::default();
        let refused = grpc
            .unary(
                tonic::Request::new(ListModelsRequest {}),
                tonic::codegen::http::uri::PathAndQuery::from_static(path),
                codec,
            )
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unimplemented, "{path}: {refused:?}");
    }
}
