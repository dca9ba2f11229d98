//! Fair cooldowns on a shared key, end to end: two members of one org share its key. One
//! member's bad request, or a refusal for one model, does not take the key away from the
//! other; a provider's `retry-after` of a day benches the key for at most the documented cap.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyroute_mock_providers::Fault;
use keyroute_proto::contract::header;
use keyroute_proto::router::v1::*;
use keyroute_proto::vault::v1::{CreateCredentialRequest, Role};
use keyroute_router::policy::cooldowns::MAX_RATE_LIMIT_COOLDOWN;
use keyroute_test_support::with_token;
use support::{Stack, ask, stack};

const ORG_KEY: &str = "sk-org-shared-0000000077";

async fn call(stack: &Stack, token: &str, model: &str) -> Result<ChatResponse, tonic::Status> {
    stack
        .client("edge")
        .complete(with_token(
            CompleteRequest {
                request: Some(ask(model, "hello")),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner().response.unwrap())
}

#[tokio::test]
async fn one_callers_failures_do_not_bench_a_shared_key_for_the_others() {
    let stack = stack().await;
    let (alice, alice_token) = stack.vault.user_with_token("alice").await;
    let (bob, bob_token) = stack.vault.user_with_token("bob").await;
    let org = stack
        .vault
        .org("shared", &alice, &[(bob.as_str(), Role::Member)])
        .await;
    stack.mock.add_key("anthropic", ORG_KEY);
    stack
        .vault
        .client("admin")
        .create_credential(CreateCredentialRequest {
            owner_id: org,
            provider: "anthropic".into(),
            secret: ORG_KEY.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let served_by_org =
        |reply: &ChatResponse| reply.served_by.as_ref().unwrap().key_source() == KeySource::Byok;

    // Alice's request is refused as invalid: the key is not benched for Bob.
    stack.mock.set_fault(
        ORG_KEY,
        Fault {
            status: Some(400),
            ..Default::default()
        },
    );
    let error = call(&stack, &alice_token, "claude-sonnet-4-5")
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument, "{error:?}");
    stack.mock.clear_fault(ORG_KEY);
    let reply = call(&stack, &bob_token, "claude-sonnet-4-5").await.unwrap();
    assert!(served_by_org(&reply));

    // No access to one model (403): that model sits out, the key still serves the others.
    stack.mock.set_fault(
        ORG_KEY,
        Fault {
            status: Some(403),
            ..Default::default()
        },
    );
    call(&stack, &alice_token, "claude-sonnet-4-5")
        .await
        .unwrap_err();
    stack.mock.clear_fault(ORG_KEY);
    let reply = call(&stack, &bob_token, "claude-haiku-4-5").await.unwrap();
    assert!(
        served_by_org(&reply),
        "another model on the same key still serves"
    );
    let error = call(&stack, &bob_token, "claude-sonnet-4-5").await;
    match error {
        // Bob has no balance for a managed fallback: the cooling key is the reason given.
        Err(status) => assert!(status.message().contains("cooling down"), "{status:?}"),
        Ok(reply) => assert!(!served_by_org(&reply), "the refused model sits out"),
    }

    // The provider asks for a day: the key sits out for the cap at most.
    stack.mock.set_fault(
        ORG_KEY,
        Fault {
            status: Some(429),
            retry_after: Some(86_400),
            ..Default::default()
        },
    );
    call(&stack, &alice_token, "claude-haiku-4-5")
        .await
        .unwrap_err();
    stack.mock.clear_fault(ORG_KEY);
    let error = call(&stack, &bob_token, "claude-haiku-4-5")
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::ResourceExhausted, "{error:?}");
    let retry_after: u64 = error
        .metadata()
        .get(header::RETRY_AFTER)
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        retry_after <= MAX_RATE_LIMIT_COOLDOWN.as_secs(),
        "benched for {retry_after}s"
    );
}
