//! Gateway tokens that expire, principals that can be disabled, and revoking every token of
//! a principal, on a real vault over mTLS: refused by `Authenticate` (what routers ask) and
//! by every call the edge makes on a principal's behalf, audited, and pushed to revocation
//! watchers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keyroute_proto::vault::v1::*;
use keyroute_test_support::{TestVault, VaultClient, with_token};
use keyroute_vault::storage::SqlValue;
use tonic::Code;

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn issue(
    admin: &mut VaultClient,
    principal: &str,
    expires_in: Option<i64>,
) -> (String, TokenInfo) {
    let reply = admin
        .issue_token(IssueTokenRequest {
            principal_id: principal.into(),
            name: "t".into(),
            expires_in: expires_in.map(|seconds| prost_types::Duration { seconds, nanos: 0 }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    (reply.token, reply.info.unwrap())
}

async fn authenticate(
    vault: &TestVault,
    token: &str,
) -> Result<AuthenticateResponse, tonic::Status> {
    vault
        .client("router")
        .authenticate(AuthenticateRequest {
            token: token.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// What the edge's management API does with the caller's token.
async fn list_keys(vault: &TestVault, token: &str, owner: &str) -> Result<(), tonic::Status> {
    vault
        .client("edge")
        .list_credentials(with_token(
            ListCredentialsRequest {
                owner_id: owner.into(),
            },
            token,
        ))
        .await
        .map(drop)
}

#[tokio::test]
async fn a_token_issued_to_expire_is_refused_once_it_has() {
    let vault = TestVault::start().await;
    let (user, _) = vault.user_with_token("expiring").await;
    let mut admin = vault.client("admin");

    let (token, info) = issue(&mut admin, &user, Some(30 * 86_400)).await;
    let expires = info.expires_at.unwrap().seconds;
    assert!((expires - now_s() - 30 * 86_400).abs() <= 5, "{info:?}");
    let reply = authenticate(&vault, &token).await.unwrap();
    assert_eq!(reply.token_expires_at.unwrap().seconds, expires);
    let listed = admin
        .list_tokens(ListTokensRequest {
            principal_id: user.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed
            .tokens
            .iter()
            .any(|t| t.id == info.id && t.expires_at.is_some())
    );
    let (forever, _) = issue(&mut admin, &user, None).await;
    assert!(
        authenticate(&vault, &forever)
            .await
            .unwrap()
            .token_expires_at
            .is_none()
    );

    for seconds in [0, -5, 11 * 366 * 86_400] {
        let refused = admin
            .issue_token(IssueTokenRequest {
                principal_id: user.clone(),
                name: "t".into(),
                expires_in: Some(prost_types::Duration { seconds, nanos: 0 }),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{seconds}: {refused:?}"
        );
    }

    // Its time comes (the row says so; the vault reads the clock at each check).
    let changed = vault
        .store()
        .await
        .execute_sql(
            "UPDATE tokens SET expires_at = ?1 WHERE id = ?2",
            vec![
                SqlValue::Int((now_s() - 1) * 1000),
                SqlValue::Text(info.id.clone()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);
    let refused = authenticate(&vault, &token).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(refused.message().contains("expired"), "{refused:?}");
    assert!(!refused.message().contains(&token), "no token in errors");
    let refused = list_keys(&vault, &token, &user).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Code::Unauthenticated,
        "the edge's calls too"
    );
    authenticate(&vault, &forever).await.unwrap();
}

#[tokio::test]
async fn revoking_all_of_a_principals_tokens_revokes_each_once_and_tells_routers() {
    let vault = TestVault::start().await;
    let (user, first) = vault.user_with_token("leaving").await;
    let (other_user, other) = vault.user_with_token("staying").await;
    let mut admin = vault.client("admin");
    let (second, _) = issue(&mut admin, &user, Some(3600)).await;
    let mut events = vault
        .client("router")
        .watch_revocations(WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    let resync = events.message().await.unwrap().unwrap();
    assert_eq!(resync.kind(), RevocationKind::Resync);

    let reply = admin
        .revoke_principal_tokens(RevokePrincipalTokensRequest {
            principal_id: user.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.revoked.len(), 2);
    assert!(reply.revoked.iter().all(|t| t.revoked_at.is_some()));
    let event = tokio::time::timeout(Duration::from_secs(5), events.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.kind(), RevocationKind::PrincipalTokensRevoked);
    assert_eq!(event.principal_id, user);

    for token in [&first, &second] {
        let refused = authenticate(&vault, token).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
        assert!(refused.message().contains("revoked"), "{refused:?}");
    }
    authenticate(&vault, &other).await.unwrap();
    let again = admin
        .revoke_principal_tokens(RevokePrincipalTokensRequest {
            principal_id: user.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(again.revoked.is_empty(), "revoked tokens stay as they were");
    let unknown = admin
        .revoke_principal_tokens(RevokePrincipalTokensRequest {
            principal_id: "usr_nobody".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert!(vault.store_audit_count(&user).await >= 1);
    let denied = vault
        .client("edge")
        .revoke_principal_tokens(with_token(
            RevokePrincipalTokensRequest {
                principal_id: other_user,
            },
            &other,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "only admin revokes");
}

#[tokio::test]
async fn a_disabled_user_or_org_is_refused_until_enabled_again() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("paused").await;
    let org = vault.org("paused-org", &user, &[]).await;
    let mut admin = vault.client("admin");
    let (org_token, _) = issue(&mut admin, &org, None).await;
    let mut events = vault
        .client("router")
        .watch_revocations(WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    events.message().await.unwrap().unwrap();

    let disable = |id: &str, disabled: bool| SetPrincipalDisabledRequest {
        principal_id: id.into(),
        disabled,
    };
    let principal = admin
        .set_principal_disabled(disable(&user, true))
        .await
        .unwrap()
        .into_inner()
        .principal
        .unwrap();
    assert!(principal.disabled_at.is_some());
    let event = tokio::time::timeout(Duration::from_secs(5), events.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.kind(), RevocationKind::PrincipalDisabled);
    assert_eq!(event.principal_id, user);

    let refused = authenticate(&vault, &token).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(refused.message().contains("disabled"), "{refused:?}");
    let refused = list_keys(&vault, &token, &user).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    authenticate(&vault, &org_token).await.unwrap();
    let shown = admin
        .get_principal(GetPrincipalRequest {
            principal_id: user.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.principal.unwrap().disabled_at, principal.disabled_at);
    // Disabling twice keeps the first time.
    let twice = admin
        .set_principal_disabled(disable(&user, true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(twice.principal.unwrap().disabled_at, principal.disabled_at);

    let enabled = admin
        .set_principal_disabled(disable(&user, false))
        .await
        .unwrap()
        .into_inner();
    assert!(enabled.principal.unwrap().disabled_at.is_none());
    authenticate(&vault, &token).await.unwrap();
    list_keys(&vault, &token, &user).await.unwrap();

    admin
        .set_principal_disabled(disable(&org, true))
        .await
        .unwrap();
    let refused = authenticate(&vault, &org_token).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    authenticate(&vault, &token).await.unwrap();

    let platform = admin
        .set_principal_disabled(disable("platform", true))
        .await
        .unwrap_err();
    assert_eq!(platform.code(), Code::FailedPrecondition, "{platform:?}");
    let unknown = admin
        .set_principal_disabled(disable("usr_nobody", true))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let denied = vault
        .client("edge")
        .set_principal_disabled(with_token(disable(&user, true), &token))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "only admin disables");

    let audit = admin
        .list_audit_events(ListAuditEventsRequest {
            owner_id: user.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let actions: Vec<&str> = audit.events.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"user.disable"), "{actions:?}");
    assert!(actions.contains(&"user.enable"), "{actions:?}");
}
