//! Issue 16's acceptance, with the real binaries: two vault replicas on one PostgreSQL, two
//! routers (one on each replica) sharing rate limits in one Redis.
//!
//! - a key disabled through replica A stops routing on the router attached to replica B
//!   within a second;
//! - 1,000 concurrent managed calls spread over both routers never overdraw the balance (the
//!   documented bound is zero when calls set `max_tokens`: every router's credit hold is a
//!   row in the shared database, granted only while all of them fit in the balance);
//! - a 600 requests-per-minute limit holds within 5% across both routers;
//! - `kill -9` of either replica loses no write it acknowledged, and the other replica and
//!   both routers go on serving.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod stack;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::router::v1::{
    ChatRequest, CompleteRequest, ContentPart, Message, Role, Sampling, content_part,
};
use keyroute_proto::vault::v1::{
    GetBalanceRequest, GetUsageRequest, GrantCreditsRequest, ListCredentialsRequest,
    RateLimitScope, SetCredentialEnabledRequest, SetRateLimitRequest,
};
use stack::Stack;
use tonic::transport::Channel;

fn ask(model: &str, max_tokens: u32) -> CompleteRequest {
    CompleteRequest {
        request: Some(ChatRequest {
            model: model.into(),
            messages: vec![Message {
                role: Role::User as i32,
                content: vec![ContentPart {
                    part: Some(content_part::Part::Text("hello there".into())),
                    ..Default::default()
                }],
                name: String::new(),
            }],
            sampling: Some(Sampling {
                max_tokens: Some(max_tokens),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

async fn chat(
    router: &mut RouterServiceClient<Channel>,
    token: &str,
    model: &str,
) -> Result<(), tonic::Status> {
    router
        .complete(with_token(ask(model, 16), token))
        .await
        .map(drop)
}

#[tokio::test]
async fn a_key_disabled_through_replica_a_stops_routing_on_replica_bs_router_within_a_second() {
    let stack = Stack::start().await;
    let (_, token, key) = stack.user(0, "ada", true).await;
    let mut on_b = stack.router(1);
    let mut on_a = stack.router(0);
    chat(&mut on_b, &token, "gpt-4o-mini").await.unwrap();
    chat(&mut on_a, &token, "gpt-4o-mini").await.unwrap();

    stack
        .vault(0, "admin")
        .set_credential_enabled(SetCredentialEnabledRequest {
            credential_id: key,
            enabled: false,
        })
        .await
        .unwrap();
    let disabled = Instant::now();
    // Each try is a real call through the router; the first refusal ends the wait.
    let refused = loop {
        match chat(&mut on_b, &token, "gpt-4o-mini").await {
            Err(status) => break status,
            Ok(()) => assert!(
                disabled.elapsed() < Duration::from_secs(5),
                "replica B's router still routes the disabled key"
            ),
        }
    };
    let took = disabled.elapsed();
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
    println!("disabled through replica A, refused on replica B's router after {took:?}");
    assert!(chat(&mut on_a, &token, "gpt-4o-mini").await.is_err());
}

/// Waits until at least `margin` is left of the current minute, so that a short burst falls
/// in one or two rate-limit windows only as the test means it to.
async fn with_room_in_this_minute(margin: Duration) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into = Duration::from_millis(u64::try_from(now.as_millis() % 60_000).unwrap());
    let left = Duration::from_secs(60) - into;
    if left < margin {
        tokio::time::sleep(left + Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn six_hundred_requests_per_minute_hold_within_five_percent_across_both_routers() {
    let stack = Stack::start().await;
    let (user, token, _) = stack.user(0, "grace", true).await;
    stack
        .vault(1, "admin")
        .set_rate_limit(SetRateLimitRequest {
            scope: RateLimitScope::Principal as i32,
            target_id: user,
            requests_per_minute: 600,
            tokens_per_minute: 0,
        })
        .await
        .unwrap();
    with_room_in_this_minute(Duration::from_secs(20)).await;
    // 900 calls, 32 at a time, alternating routers: far more than the limit within a
    // fraction of a minute.
    let routers = [stack.router(0), stack.router(1)];
    let started = Instant::now();
    let outcomes = futures::future::join_all((0..32).map(|worker| {
        let mut router = routers[worker % 2].clone();
        let token = token.clone();
        async move {
            let (mut served, mut refused) = (0u32, 0u32);
            for _ in 0..(900 / 32 + usize::from(worker < 900 % 32)) {
                match chat(&mut router, &token, "gpt-4o-mini").await {
                    Ok(()) => served += 1,
                    Err(status) => {
                        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
                        let by = status.metadata().get("x-keyroute-ratelimit-refused-by");
                        assert_eq!(by.unwrap(), "principal/requests");
                        assert!(status.metadata().get("retry-after").is_some());
                        refused += 1;
                    }
                }
            }
            (served, refused)
        }
    }))
    .await;
    let took = started.elapsed();
    let served: u32 = outcomes.iter().map(|o| o.0).sum();
    let refused: u32 = outcomes.iter().map(|o| o.1).sum();
    assert_eq!(served + refused, 900);
    println!("600 rpm over two routers: {served} served, {refused} refused in {took:?}");
    assert!((570..=630).contains(&served), "{served} served");
}

#[tokio::test]
async fn a_thousand_concurrent_managed_calls_over_both_routers_never_overdraw() {
    let stack = Stack::start().await;
    stack.managed_key().await;
    let (user, token, _) = stack.user(1, "hopper", false).await;
    // Enough for a few dozen of these calls at the catalog's price.
    let grant = 2_000;
    stack
        .vault(0, "admin")
        .grant_credits(GrantCreditsRequest {
            principal_id: user.clone(),
            micros: grant,
            reason: "e2e".into(),
        })
        .await
        .unwrap();
    let routers = [stack.router(0), stack.router(1)];
    let results = futures::future::join_all((0..1_000).map(|i| {
        let mut router = routers[i % 2].clone();
        let token = token.clone();
        async move { chat(&mut router, &token, "claude-sonnet-4-5").await }
    }))
    .await;
    let served = results.iter().filter(|r| r.is_ok()).count() as u64;
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        // Refused for want of credit, never for anything else.
        assert!(
            matches!(
                refused.code(),
                tonic::Code::FailedPrecondition | tonic::Code::ResourceExhausted
            ),
            "{refused:?}"
        );
    }
    assert!(served >= 1, "no call was served");
    let mut vault = stack.vault(1, "admin");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let usage = vault
            .get_usage(GetUsageRequest {
                owner_id: user.clone(),
                month: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        let recorded = usage.total.map_or(0, |t| t.requests);
        if recorded >= served {
            assert_eq!(recorded, served);
            break;
        }
        assert!(Instant::now() < deadline, "{recorded} of {served} recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let balance = vault
        .get_balance(GetBalanceRequest { principal_id: user })
        .await
        .unwrap()
        .into_inner()
        .balance_micros;
    println!("1,000 managed calls on {grant} micros: {served} served, balance {balance}");
    assert!(balance >= 0, "overdrawn: {balance} after {served} calls");
}

#[tokio::test]
async fn killing_either_replica_loses_no_acknowledged_write() {
    let mut stack = Stack::start().await;
    let (user, token, _) = stack.user(0, "lovelace", true).await;
    for victim in [0, 1] {
        let survivor = 1 - victim;
        // Keys written through both replicas at once; the victim dies under them.
        let writers = [victim, survivor].map(|index| {
            let mut vault = stack.vault(index, "admin");
            let user = user.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for n in 0..200 {
                    let request = keyroute_proto::vault::v1::CreateCredentialRequest {
                        owner_id: user.clone(),
                        provider: "openai".into(),
                        label: format!("r{victim}-{index}-{n}"),
                        secret: format!(
                            "{}kill-{victim}-{index}-{n}-0123456789",
                            stack::USER_OPENAI_PREFIX
                        ),
                        ..Default::default()
                    };
                    match vault.create_credential(request).await {
                        Ok(reply) => acknowledged.push(reply.into_inner().credential.unwrap().id),
                        Err(_) if index == victim => break,
                        Err(status) => panic!("the surviving replica failed: {status:?}"),
                    }
                }
                acknowledged
            })
        });
        // Dies once it has acknowledged some writes of its own.
        let mut probe = stack.vault(victim, "admin");
        loop {
            let listed = probe
                .list_credentials(ListCredentialsRequest {
                    owner_id: user.clone(),
                })
                .await
                .unwrap()
                .into_inner()
                .credentials;
            if listed
                .iter()
                .filter(|c| c.label.starts_with(&format!("r{victim}-{victim}-")))
                .count()
                >= 20
            {
                break;
            }
        }
        stack.vaults[victim].kill().await;
        let [through_victim, through_survivor] = writers;
        let mut acknowledged = through_victim.await.unwrap();
        assert!(acknowledged.len() >= 20);
        acknowledged.extend(through_survivor.await.unwrap());

        let stored: Vec<String> = stack
            .vault(survivor, "admin")
            .list_credentials(ListCredentialsRequest {
                owner_id: user.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .credentials
            .into_iter()
            .map(|c| c.id)
            .collect();
        for id in &acknowledged {
            assert!(stored.contains(id), "acknowledged key {id} was lost");
        }
        // The survivor's router goes on serving (the victim's would too, had its vault
        // address been the Service that spreads over both replicas, as in Kubernetes).
        chat(&mut stack.router(survivor), &token, "gpt-4o-mini")
            .await
            .unwrap();
        // Back on its old address, where its router reconnects.
        stack.restart_vault(victim).await;
        chat(&mut stack.router(victim), &token, "gpt-4o-mini")
            .await
            .unwrap();
    }
}
