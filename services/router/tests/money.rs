//! Money end to end: managed calls need a positive balance and debit exactly price x tokens,
//! every call is charged whatever request id it carries, a budget cap stops calls, BYOK calls
//! never touch the balance, and the usage queue is flushed when the router shuts down.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::router::v1::*;
use keyroute_proto::vault::v1::{
    GetBalanceRequest, GetUsageRequest, SetBudgetRequest, UsageSource,
};
use keyroute_test_support::{TestRouter, TestVault, with_token};
use keyroute_tls::{ClientTls, Identity};
use keyroute_wire::catalog::Catalog;
use support::{ask, grant, stack, text};
use tonic::Code;

/// What claude-sonnet-4-5 on Anthropic costs for `usage`, from the built-in catalog.
fn claude_cost(usage: &Usage) -> i64 {
    let catalog = Catalog::builtin().unwrap();
    let model = catalog
        .models()
        .iter()
        .find(|m| m.id == "claude-sonnet-4-5")
        .unwrap();
    let offer = model
        .offers
        .iter()
        .find(|o| o.provider.id == "anthropic")
        .unwrap();
    let exact = u128::from(usage.input_tokens) * u128::from(offer.input_per_million)
        + u128::from(usage.output_tokens) * u128::from(offer.output_per_million);
    i64::try_from(exact.div_ceil(1_000_000)).unwrap()
}

fn call(model: &str, text: &str, token: &str, request_id: &str) -> tonic::Request<CompleteRequest> {
    let mut request = with_token(
        CompleteRequest {
            request: Some(ask(model, text)),
        },
        token,
    );
    request
        .metadata_mut()
        .insert("x-request-id", request_id.parse().unwrap());
    request
}

async fn balance(vault: &TestVault, principal: &str) -> i64 {
    vault
        .client("admin")
        .get_balance(GetBalanceRequest {
            principal_id: principal.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .balance_micros
}

/// How many calls the vault's ledger holds for `owner` this month.
async fn recorded_calls(vault: &TestVault, owner: &str) -> u64 {
    vault
        .client("admin")
        .get_usage(GetUsageRequest {
            owner_id: owner.into(),
            month: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .lines
        .iter()
        .map(|line| line.requests)
        .sum()
}

/// Waits until the vault's ledger holds `calls` calls for `owner`: usage travels in batches.
async fn until_recorded(vault: &TestVault, owner: &str, calls: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while recorded_calls(vault, owner).await < calls {
        assert!(
            tokio::time::Instant::now() < deadline,
            "usage for {owner} never reached {calls} calls"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_managed_call_is_charged_whatever_its_request_id() {
    let stack = stack().await;
    let mut edge = stack.client("edge");

    // No key and no credit: the error names both.
    let (_, broke) = stack.vault.user_with_token("broke").await;
    let error = edge
        .complete(call("claude-sonnet-4-5", "hi", &broke, "broke-1"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "{error:?}");
    assert!(
        error.message().contains("no enabled key for anthropic")
            && error.message().contains("credit balance is $0.000000"),
        "{}",
        error.message()
    );

    let (payer, token) = stack.vault.user_with_token("payer").await;
    grant(&stack.vault, &payer, 1_000_000).await;
    let first = edge
        .complete(call(
            "claude-sonnet-4-5",
            "what does this cost",
            &token,
            "pay-1",
        ))
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap();
    assert_eq!(text(&first), "echo: what does this cost");
    let served = first.served_by.clone().unwrap();
    assert_eq!(served.key_source(), KeySource::Managed);
    assert_eq!(served.request_id, "pay-1");
    let cost = claude_cost(first.usage.as_ref().unwrap());
    assert!(cost > 0);

    // The request id is the caller's to choose and proves nothing: the same id again is
    // another call, and another charge.
    let retried = edge
        .complete(call(
            "claude-sonnet-4-5",
            "what does this cost",
            &token,
            "pay-1",
        ))
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap();
    assert_eq!(retried.usage, first.usage);
    assert_eq!(
        retried.served_by.unwrap().request_id,
        "pay-1",
        "still echoed"
    );
    let second = edge
        .complete(call("claude-sonnet-4-5", "and this one", &token, "pay-2"))
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap();
    let second_cost = claude_cost(second.usage.as_ref().unwrap());
    until_recorded(&stack.vault, &payer, 3).await;
    // The router counts a batch once the vault's reply is back, a moment after the ledger.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = reqwest::get(format!("http://{}/metrics", stack.metrics))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("keyroute_router_usage_records_sent_total 3") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        balance(&stack.vault, &payer).await,
        1_000_000 - 2 * cost - second_cost,
        "price x tokens, each call charged"
    );

    // 50 calls under one reused id are 50 charges, by another principal too.
    let (other, other_token) = stack.vault.user_with_token("other").await;
    grant(&stack.vault, &other, 1_000_000).await;
    for _ in 0..50 {
        edge.complete(call(
            "claude-sonnet-4-5",
            "what does this cost",
            &other_token,
            "pay-1",
        ))
        .await
        .unwrap();
    }
    until_recorded(&stack.vault, &other, 50).await;
    assert_eq!(balance(&stack.vault, &other).await, 1_000_000 - 50 * cost);
    assert_eq!(recorded_calls(&stack.vault, &payer).await, 3);

    // BYOK: recorded with an estimated cost, never debited.
    let before = balance(&stack.vault, &stack.user).await;
    edge.complete(call("gpt-4o-mini", "my own key", &stack.token, "byok-1"))
        .await
        .unwrap();
    until_recorded(&stack.vault, &stack.user, 1).await;
    assert_eq!(balance(&stack.vault, &stack.user).await, before);
    let usage = stack
        .vault
        .client("admin")
        .get_usage(GetUsageRequest {
            owner_id: stack.user.clone(),
            month: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(usage.lines[0].source(), UsageSource::Byok);
    assert!(usage.lines[0].cost_micros > 0, "BYOK cost is estimated");
}

#[tokio::test]
async fn a_budget_cap_stops_calls_once_reached() {
    let stack = stack().await;
    let mut edge = stack.client("edge");
    let (capped, token) = stack.vault.user_with_token("capped").await;
    grant(&stack.vault, &capped, 1_000_000).await;
    stack
        .vault
        .client("admin")
        .set_budget(SetBudgetRequest {
            owner_id: capped.clone(),
            monthly_cap_micros: 1,
        })
        .await
        .unwrap();
    edge.complete(call("claude-sonnet-4-5", "under the cap", &token, "cap-1"))
        .await
        .unwrap();
    // The first call spent more than the cap: this router knows at once.
    let error = edge
        .complete(call("claude-sonnet-4-5", "over the cap", &token, "cap-2"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::ResourceExhausted, "{error:?}");
    assert!(
        error.message().contains("monthly budget"),
        "{}",
        error.message()
    );
    // Streams are stopped the same way.
    let mut request = with_token(
        CompleteStreamRequest {
            request: Some(ask("claude-sonnet-4-5", "streamed")),
        },
        &token,
    );
    request
        .metadata_mut()
        .insert("x-request-id", "cap-3".parse().unwrap());
    let error = edge.complete_stream(request).await.unwrap_err();
    assert_eq!(error.code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn shutdown_flushes_usage_not_yet_sent() {
    let mut stack = stack().await;
    let mut edge = stack.client("edge");
    let before = balance(&stack.vault, &stack.user).await;
    let mut request = with_token(
        CompleteStreamRequest {
            request: Some(ask("claude-sonnet-4-5", "stream then stop")),
        },
        &stack.token,
    );
    request
        .metadata_mut()
        .insert("x-request-id", "flush-1".parse().unwrap());
    let mut events = edge.complete_stream(request).await.unwrap().into_inner();
    let mut usage = None;
    let mut end = None;
    while let Some(event) = events.message().await.unwrap() {
        match event.event {
            Some(complete_stream_response::Event::Usage(u)) => usage = Some(u),
            Some(complete_stream_response::Event::End(e)) => end = e.served_by,
            _ => {}
        }
    }
    assert_eq!(end.unwrap().request_id, "flush-1");
    stack.router.stop().await;
    // The router has exited: whatever it had queued is in the vault now, with no waiting.
    assert_eq!(recorded_calls(&stack.vault, &stack.user).await, 1);
    assert_eq!(
        balance(&stack.vault, &stack.user).await,
        before - claude_cost(&usage.unwrap())
    );
}

#[tokio::test]
async fn a_stream_the_caller_leaves_early_is_still_charged() {
    let stack = stack().await;
    let mut edge = stack.client("edge");
    // OpenAI's format sends usage last, after every word: slow the words down, leave after one.
    stack.mock.set_fault(
        "sk-user-openai-0123456789",
        keyroute_mock_providers::Fault {
            chunk_delay: Duration::from_millis(200),
            ..Default::default()
        },
    );
    let question = "please repeat these twelve words back to me one at a time slowly";
    let mut events = edge
        .complete_stream(with_token(
            CompleteStreamRequest {
                request: Some(ask("gpt-4o-mini", question)),
            },
            &stack.token,
        ))
        .await
        .unwrap()
        .into_inner();
    loop {
        let event = events.message().await.unwrap().unwrap();
        if let Some(complete_stream_response::Event::Delta(delta)) = event.event
            && !delta.text.is_empty()
        {
            break;
        }
    }
    drop(events);

    until_recorded(&stack.vault, &stack.user, 1).await;
    let usage = stack
        .vault
        .client("admin")
        .get_usage(GetUsageRequest {
            owner_id: stack.user.clone(),
            month: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let line = &usage.lines[0];
    // No count came: keyroute's estimates, never zero.
    let estimate = keyroute_wire::estimate::input_tokens(&ask("gpt-4o-mini", question));
    assert_eq!(line.input_tokens, u64::from(estimate));
    assert!(line.output_tokens >= 1, "{line:?}");
    assert!(line.cost_micros > 0, "{line:?}");
}

#[tokio::test]
async fn managed_calls_send_only_what_keyroute_prices() {
    let stack = stack().await;
    let mut edge = stack.client("edge");
    let (payer, token) = stack.vault.user_with_token("payer").await;
    grant(&stack.vault, &payer, 1_000_000).await;
    let with_extras = |model: &str| {
        let mut request = ask(model, "extras");
        request.provider_options_json = r#"{"service_tier":"priority","top_k":3}"#.into();
        request.anthropic_beta = vec![
            "context-1m-2025-08-07".into(),
            "interleaved-thinking-2025-05-14".into(),
        ];
        request
    };
    // Managed (the platform's Anthropic key): unpriced fields and long-context betas stay home.
    let reply = edge
        .complete(with_token(
            CompleteRequest {
                request: Some(with_extras("claude-sonnet-4-5")),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap();
    assert_eq!(reply.served_by.unwrap().key_source(), KeySource::Managed);
    let sent = stack.mock.requests_for("anthropic").pop().unwrap();
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert!(
        body.get("service_tier").is_none() && body.get("top_k").is_none(),
        "{body}"
    );
    let beta = sent.header("anthropic-beta").unwrap_or_default();
    assert!(
        !beta.contains("context-1m") && beta.contains("interleaved-thinking"),
        "{beta}"
    );

    // BYOK (the caller's own OpenAI key): passed through, the caller's provider bills it.
    edge.complete(with_token(
        CompleteRequest {
            request: Some(with_extras("gpt-4o-mini")),
        },
        &stack.token,
    ))
    .await
    .unwrap();
    let sent = stack.mock.requests_for("openai").pop().unwrap();
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["service_tier"], "priority", "{body}");
}

#[tokio::test]
async fn concurrent_managed_streams_cannot_overdraw_the_balance_across_routers() {
    let stack = stack().await;
    // A second router on the same vault and providers: the calls are spread over both.
    let base_urls = ["openai", "anthropic", "google", "mistral"]
        .iter()
        .map(|p| ((*p).to_owned(), stack._mock.base_url(p)))
        .collect();
    let second = TestRouter::start(&stack.vault, base_urls).await;
    let routers = [stack.client("edge"), {
        let tls = ClientTls::from_files(stack.vault.pki.paths("edge")).unwrap();
        let channel = keyroute_tls::channel(
            &second.addr.to_string(),
            tls,
            Identity::parse("router").unwrap(),
        )
        .unwrap();
        RouterServiceClient::new(channel)
    }];
    let (payer, token) = stack.vault.user_with_token("crowd").await;
    // Slow streams, so that they overlap: the mock echoes one word per chunk.
    stack.mock.set_fault(
        "sk-platform-anthropic-0123",
        keyroute_mock_providers::Fault {
            chunk_delay: Duration::from_millis(20),
            ..Default::default()
        },
    );
    let prompt = "word ".repeat(40);
    let request = || {
        let mut chat = ask("claude-sonnet-4-5", prompt.trim_end());
        chat.sampling = Some(Sampling {
            max_tokens: Some(50),
            ..Default::default()
        });
        chat
    };
    // What one call costs, measured: the balance is worth three of them.
    let catalog = Catalog::builtin().unwrap();
    let price = catalog.model("claude-sonnet-4-5").unwrap().offers[0].price();
    let one_call = i64::try_from(price.cost(40, 41)).unwrap();
    grant(&stack.vault, &payer, 3 * one_call).await;
    let start = balance(&stack.vault, &payer).await;

    let calls = (0..50).map(|i| {
        let mut edge = routers[i % 2].clone();
        let chat = request();
        let token = token.clone();
        async move {
            let opened = edge
                .complete_stream(with_token(
                    CompleteStreamRequest {
                        request: Some(chat),
                    },
                    &token,
                ))
                .await;
            let Ok(events) = opened else {
                return false;
            };
            let mut events = events.into_inner();
            while let Some(event) = events.message().await.unwrap() {
                assert!(
                    !matches!(event.event, Some(complete_stream_response::Event::Error(_))),
                    "{event:?}"
                );
            }
            true
        }
    });
    let served = futures::future::join_all(calls)
        .await
        .into_iter()
        .filter(|served| *served)
        .count() as u64;
    assert!((1..=3).contains(&served), "{served} streams were served");
    until_recorded(&stack.vault, &payer, served).await;
    let end = balance(&stack.vault, &payer).await;
    // The documented bound: the balance never goes below zero by more than the calls' excess
    // over their reservations, which is none here (max_tokens is set and the input estimate
    // covers the input), however many routers serve them: the vault's holds span routers.
    assert!(end >= 0, "balance {end} after {served} calls from {start}");
}
