//! The vault pass-through as a channel: only `platform/*` peers use it, only for the
//! management calls, always with a gateway token the vault checks; the router names the
//! platform (a name the client sends is dropped), bounds what it forwards, and no secret
//! passing through it reaches a log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyroute_proto::vault::v1::*;
use keyroute_test_support::{capture_logs, with_token};
use support::platform::{ACME_CHANNEL, code, key, through_router};
use support::stack;
use tonic::Code;

#[tokio::test]
async fn tokens_are_required_and_checked_by_the_vault() {
    let stack = stack().await;
    let mut acme = through_router(&stack, "platform/acme");
    let list = || ListCredentialsRequest {
        owner_id: stack.user.clone(),
    };
    let none = acme.list_credentials(list()).await.unwrap_err();
    assert_eq!(none.code(), Code::Unauthenticated, "{none:?}");
    let bad = acme
        .list_credentials(with_token(list(), "kr_nottherealtoken"))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::Unauthenticated);

    let mut admin = stack.vault.client("admin");
    let tokens = admin
        .list_tokens(ListTokensRequest {
            principal_id: stack.user.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    acme.list_credentials(with_token(list(), &stack.token))
        .await
        .unwrap();
    admin
        .revoke_token(RevokeTokenRequest {
            token_id: tokens.tokens[0].id.clone(),
        })
        .await
        .unwrap();
    let revoked = acme
        .list_credentials(with_token(list(), &stack.token))
        .await
        .unwrap_err();
    assert_eq!(revoked.code(), Code::Unauthenticated);
    assert!(revoked.message().contains("revoked"), "{revoked:?}");
}

#[tokio::test]
async fn only_platforms_only_management_calls_and_only_the_router_names_them() {
    let mut stack = stack().await;
    let (user, token) = (stack.user.clone(), stack.token.clone());
    let list = || {
        with_token(
            ListCredentialsRequest {
                owner_id: user.clone(),
            },
            &token,
        )
    };

    // The edge calls the vault itself; the pass-through is not for it, nor for the router.
    for identity in ["edge", "router"] {
        let refused = through_router(&stack, identity)
            .list_credentials(list())
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::PermissionDenied,
            "{identity}: {refused:?}"
        );
        assert!(
            refused.message().contains("internal platforms"),
            "{refused:?}"
        );
    }

    // A forged platform name is dropped; the certificate names the platform.
    let mut acme = through_router(&stack, "platform/acme");
    let mut forged = with_token(key(&stack.user, "google", "AIza-forged-0123456789"), &token);
    forged
        .metadata_mut()
        .insert("x-keyroute-platform", "platform/evil".parse().unwrap());
    let created = acme
        .create_credential(forged)
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    let audit = acme
        .list_audit_events(with_token(
            ListAuditEventsRequest {
                owner_id: stack.user.clone(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    let event = audit
        .events
        .iter()
        .find(|e| e.target == created.id)
        .unwrap();
    assert_eq!(event.peer, ACME_CHANNEL);
    assert_eq!(event.actor, stack.user);
    assert!(!format!("{:?}", audit.events).contains("evil"));

    // The router without a platform named may not manage keys at the vault, and naming one
    // opens only the management calls, for a token's principal.
    let mut router = stack.vault.client("router");
    let refused = router.list_credentials(list()).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let named = |mut request: tonic::Request<ListCredentialsRequest>, value: &str| {
        request
            .metadata_mut()
            .insert("x-keyroute-platform", value.parse().unwrap());
        request
    };
    router
        .list_credentials(named(list(), "platform/acme"))
        .await
        .unwrap();
    let no_token = ListCredentialsRequest {
        owner_id: stack.user.clone(),
    };
    let status = router
        .list_credentials(named(tonic::Request::new(no_token), "platform/acme"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        code(router.list_credentials(named(list(), "edge")).await),
        Code::PermissionDenied
    );
    let mut lease = tonic::Request::new(LeaseCredentialsRequest {
        principal_id: stack.user.clone(),
    });
    lease
        .metadata_mut()
        .insert("x-keyroute-platform", "platform/acme".parse().unwrap());
    assert_eq!(
        code(router.lease_credentials(lease).await),
        Code::PermissionDenied
    );
    let mut edge_naming = list();
    edge_naming
        .metadata_mut()
        .insert("x-keyroute-platform", "platform/acme".parse().unwrap());
    let status = stack
        .vault
        .client("edge")
        .list_credentials(edge_naming)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // Calls outside the management set are refused by the router itself: with the vault
    // stopped, they still get the router's refusal, while a management call cannot be
    // answered at all.
    stack.vault.stop().await;
    let issue = IssueTokenRequest {
        principal_id: stack.user.clone(),
        name: "x".into(),
        ..Default::default()
    };
    let refused = [
        acme.issue_token(with_token(issue, &token))
            .await
            .unwrap_err(),
        acme.lease_credentials(with_token(
            LeaseCredentialsRequest {
                principal_id: stack.user.clone(),
            },
            &token,
        ))
        .await
        .unwrap_err(),
        acme.record_credential_test_result(with_token(
            RecordCredentialTestResultRequest {
                credential_id: created.id.clone(),
                outcome: "ok".into(),
            },
            &token,
        ))
        .await
        .unwrap_err(),
        acme.create_user(CreateUserRequest {
            name: "x".into(),
            email: String::new(),
        })
        .await
        .unwrap_err(),
    ];
    for status in refused {
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        assert!(
            status.message().contains("is not offered to platforms"),
            "{status:?}"
        );
    }
    let unanswered = acme.list_credentials(list()).await.unwrap_err();
    assert_eq!(unanswered.code(), Code::Unavailable, "{unanswered:?}");
}

#[tokio::test]
async fn oversized_requests_stop_at_the_router() {
    let stack = stack().await;
    let mut acme = through_router(&stack, "platform/acme");
    let huge = key(&stack.user, "openai", &"x".repeat(2 * 1024 * 1024));
    let status = acme
        .create_credential(with_token(huge, &stack.token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
}

#[tokio::test]
async fn secrets_sent_through_the_router_are_never_logged() {
    let logs = capture_logs();
    let stack = stack().await;
    let mut acme = through_router(&stack, "platform/acme");
    let canary = "sk-canary-platform-passthrough-7f3a9c";
    let created = acme
        .create_credential(with_token(
            key(&stack.user, "mistral", canary),
            &stack.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    let update = UpdateCredentialSecretRequest {
        credential_id: created.id.clone(),
        secret: format!("{canary}-2"),
        ..Default::default()
    };
    acme.update_credential_secret(with_token(update, &stack.token))
        .await
        .unwrap();
    // A refused one too: an owner that does not exist for the caller.
    let refused = key("org_nope", "mistral", &format!("{canary}-3"));
    assert!(
        acme.create_credential(with_token(refused, &stack.token))
            .await
            .is_err()
    );
    let text = logs.text();
    assert!(
        text.contains("platform call passed to the vault"),
        "logs are captured"
    );
    assert!(!text.contains(canary), "the canary secret was logged");
}
