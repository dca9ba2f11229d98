//! Rate limits: who may set which, what each caller sees, and how limits reach routers (with
//! balances, with leases, and on the revocation stream), over mTLS against a real vault.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use keyroute_proto::vault::v1::*;
use keyroute_test_support::{TestVault, VaultClient, with_token};
use tonic::Code;

fn limit(scope: RateLimitScope, target: &str, rpm: u64, tpm: u64) -> SetRateLimitRequest {
    SetRateLimitRequest {
        scope: scope as i32,
        target_id: target.into(),
        requests_per_minute: rpm,
        tokens_per_minute: tpm,
    }
}

fn key(owner: &str, secret: &str) -> CreateCredentialRequest {
    CreateCredentialRequest {
        owner_id: owner.into(),
        provider: "openai".into(),
        secret: secret.into(),
        ..Default::default()
    }
}

/// Sets a limit as the operator.
async fn operator_sets(
    vault: &TestVault,
    request: SetRateLimitRequest,
) -> Result<SetRateLimitResponse, tonic::Status> {
    vault
        .client("admin")
        .set_rate_limit(request)
        .await
        .map(tonic::Response::into_inner)
}

/// Sets a limit as the principal whose token this is, through the edge.
async fn principal_sets(
    vault: &TestVault,
    token: &str,
    request: SetRateLimitRequest,
) -> Result<SetRateLimitResponse, tonic::Status> {
    vault
        .client("edge")
        .set_rate_limit(with_token(request, token))
        .await
        .map(tonic::Response::into_inner)
}

/// Every limit, as the operator lists them: (scope, target, rpm, tpm, set by operator).
async fn all_limits(vault: &TestVault) -> Vec<(RateLimitScope, String, u64, u64, bool)> {
    vault
        .client("admin")
        .list_rate_limits(ListRateLimitsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .rate_limits
        .into_iter()
        .map(|l| {
            (
                l.scope(),
                l.target_id,
                l.requests_per_minute,
                l.tokens_per_minute,
                l.set_by_operator,
            )
        })
        .collect()
}

/// The (scope, target) pairs a principal lists.
async fn visible(vault: &TestVault, token: &str) -> Vec<(RateLimitScope, String)> {
    vault
        .client("edge")
        .list_rate_limits(with_token(ListRateLimitsRequest::default(), token))
        .await
        .unwrap()
        .into_inner()
        .rate_limits
        .into_iter()
        .map(|l| (l.scope(), l.target_id))
        .collect()
}

async fn create_key(
    client: &mut VaultClient,
    request: tonic::Request<CreateCredentialRequest>,
) -> String {
    client
        .create_credential(request)
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .id
}

async fn lease(vault: &TestVault, principal: &str) -> LeaseCredentialsResponse {
    vault
        .client("router")
        .lease_credentials(LeaseCredentialsRequest {
            principal_id: principal.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

fn targets(limits: &[RateLimit]) -> Vec<(RateLimitScope, &str)> {
    limits
        .iter()
        .map(|l| (l.scope(), l.target_id.as_str()))
        .collect()
}

#[tokio::test]
async fn the_operator_sets_changes_and_removes_limits_each_audited_once() {
    let vault = TestVault::start().await;
    let (ada, _) = vault.user_with_token("ada").await;

    let set = operator_sets(&vault, limit(RateLimitScope::Principal, &ada, 60, 0))
        .await
        .unwrap()
        .rate_limit
        .unwrap();
    assert_eq!(set.scope(), RateLimitScope::Principal);
    assert_eq!((set.requests_per_minute, set.tokens_per_minute), (60, 0));
    assert!(set.set_by_operator);
    assert!(set.updated_at.is_some());
    operator_sets(&vault, limit(RateLimitScope::Principal, &ada, 0, 90_000))
        .await
        .unwrap();
    assert_eq!(
        all_limits(&vault).await,
        vec![(RateLimitScope::Principal, ada.clone(), 0, 90_000, true)]
    );

    let removed = operator_sets(&vault, limit(RateLimitScope::Principal, &ada, 0, 0))
        .await
        .unwrap();
    assert!(removed.rate_limit.is_none(), "a removal answers no limit");
    assert!(all_limits(&vault).await.is_empty());
    // Removing what is not there changes nothing and is not an error.
    operator_sets(&vault, limit(RateLimitScope::Principal, &ada, 0, 0))
        .await
        .unwrap();

    let events = vault
        .client("admin")
        .list_audit_events(ListAuditEventsRequest {
            owner_id: ada.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e.action.starts_with("rate_limit."))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        ["rate_limit.removed", "rate_limit.set", "rate_limit.set"],
        "newest first, one per change"
    );
    let detail: serde_json::Value = serde_json::from_str(&events[0].detail).unwrap();
    assert_eq!(
        detail,
        serde_json::json!({"scope": "principal", "target_id": ada, "requests_per_minute": 0, "tokens_per_minute": 0})
    );

    // Managed models and any key are the operator's to limit too.
    operator_sets(
        &vault,
        limit(RateLimitScope::ManagedModel, "gpt-4o-mini", 500, 0),
    )
    .await
    .unwrap();
    assert_eq!(vault.store_audit_count("gpt-4o-mini").await, 1);
}

#[tokio::test]
async fn principals_limit_themselves_but_not_others_managed_models_or_the_operators_limits() {
    let vault = TestVault::start().await;
    let (ada, ada_token) = vault.user_with_token("ada").await;
    let (bob, _) = vault.user_with_token("bob").await;
    let audited = vault.store_audit_count(&ada).await;

    let own = principal_sets(
        &vault,
        &ada_token,
        limit(RateLimitScope::Principal, &ada, 30, 10_000),
    )
    .await
    .unwrap()
    .rate_limit
    .unwrap();
    assert!(!own.set_by_operator);
    principal_sets(
        &vault,
        &ada_token,
        limit(RateLimitScope::Principal, &ada, 40, 0),
    )
    .await
    .unwrap();

    // Another user, an unknown id and a wrong scope all answer the same NotFound.
    let another = principal_sets(
        &vault,
        &ada_token,
        limit(RateLimitScope::Principal, &bob, 1, 0),
    )
    .await
    .unwrap_err();
    let unknown = principal_sets(
        &vault,
        &ada_token,
        limit(RateLimitScope::Principal, "usr_nobody", 1, 0),
    )
    .await
    .unwrap_err();
    assert_eq!(another.code(), Code::NotFound, "{another:?}");
    assert_eq!(
        another.message().replace(&bob, "X"),
        unknown.message().replace("usr_nobody", "X"),
        "another user's id reads like an unknown one"
    );

    let model = principal_sets(
        &vault,
        &ada_token,
        limit(RateLimitScope::ManagedModel, "gpt-4o-mini", 1, 0),
    )
    .await
    .unwrap_err();
    assert_eq!(model.code(), Code::PermissionDenied, "{model:?}");

    // Once the operator sets it, the principal may neither change nor remove it.
    operator_sets(&vault, limit(RateLimitScope::Principal, &ada, 20, 0))
        .await
        .unwrap();
    for (rpm, tpm) in [(100, 0), (0, 0)] {
        let refused = principal_sets(
            &vault,
            &ada_token,
            limit(RateLimitScope::Principal, &ada, rpm, tpm),
        )
        .await
        .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
        assert!(refused.message().contains("operator"), "{refused:?}");
    }
    assert_eq!(
        all_limits(&vault).await,
        vec![(RateLimitScope::Principal, ada.clone(), 20, 0, true)]
    );
    // Set by the principal twice, then by the operator; the refusals wrote nothing.
    assert_eq!(vault.store_audit_count(&ada).await, audited + 3);

    // The edge must say who is asking.
    let anonymous = vault
        .client("edge")
        .set_rate_limit(limit(RateLimitScope::Principal, &ada, 1, 0))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    // An internal platform, through the router, acts for the principal whose token it sends.
    let mut through_router = with_token(limit(RateLimitScope::Principal, &bob, 1, 0), &ada_token);
    through_router
        .metadata_mut()
        .insert("x-keyroute-platform", "platform/acme".parse().unwrap());
    let platform = vault
        .client("router")
        .set_rate_limit(through_router)
        .await
        .unwrap_err();
    assert_eq!(platform.code(), Code::NotFound, "{platform:?}");
    let mut listed = with_token(ListRateLimitsRequest::default(), &ada_token);
    listed
        .metadata_mut()
        .insert("x-keyroute-platform", "platform/acme".parse().unwrap());
    let seen = vault
        .client("router")
        .list_rate_limits(listed)
        .await
        .unwrap()
        .into_inner()
        .rate_limits;
    assert_eq!(targets(&seen), [(RateLimitScope::Principal, ada.as_str())]);
    // The router has no business here on its own.
    let router = vault
        .client("router")
        .set_rate_limit(limit(RateLimitScope::Principal, &ada, 1, 0))
        .await
        .unwrap_err();
    assert_eq!(router.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn org_limits_are_for_owners_and_billing_managers_and_any_member_reads_them() {
    let vault = TestVault::start().await;
    let (owner, owner_token) = vault.user_with_token("owner").await;
    let (biller, biller_token) = vault.user_with_token("biller").await;
    let (member, member_token) = vault.user_with_token("member").await;
    let (_outsider, outsider_token) = vault.user_with_token("outsider").await;
    let org = vault
        .org(
            "acme",
            &owner,
            &[(&biller, Role::BillingManager), (&member, Role::Member)],
        )
        .await;

    principal_sets(
        &vault,
        &owner_token,
        limit(RateLimitScope::Org, &org, 100, 0),
    )
    .await
    .unwrap();
    principal_sets(
        &vault,
        &biller_token,
        limit(RateLimitScope::Org, &org, 120, 0),
    )
    .await
    .unwrap();
    let member_try = principal_sets(
        &vault,
        &member_token,
        limit(RateLimitScope::Org, &org, 1, 0),
    )
    .await
    .unwrap_err();
    assert_eq!(member_try.code(), Code::PermissionDenied, "{member_try:?}");
    let outsider_try = principal_sets(
        &vault,
        &outsider_token,
        limit(RateLimitScope::Org, &org, 1, 0),
    )
    .await
    .unwrap_err();
    assert_eq!(outsider_try.code(), Code::NotFound, "{outsider_try:?}");
    // An org is not a user, nor a user an org.
    let wrong_kind = operator_sets(&vault, limit(RateLimitScope::Principal, &org, 1, 0))
        .await
        .unwrap_err();
    assert_eq!(wrong_kind.code(), Code::NotFound);
    let wrong_kind = operator_sets(&vault, limit(RateLimitScope::Org, &owner, 1, 0))
        .await
        .unwrap_err();
    assert_eq!(wrong_kind.code(), Code::NotFound);

    assert_eq!(
        all_limits(&vault).await,
        vec![(RateLimitScope::Org, org.clone(), 120, 0, false)]
    );
    assert_eq!(
        visible(&vault, &member_token).await,
        vec![(RateLimitScope::Org, org.clone())]
    );
    assert!(visible(&vault, &outsider_token).await.is_empty());
}

#[tokio::test]
async fn key_limits_are_for_those_who_manage_the_key_and_reach_routers_at_once() {
    let vault = TestVault::start().await;
    let (ada, ada_token) = vault.user_with_token("ada").await;
    let (_bob, bob_token) = vault.user_with_token("bob").await;
    let mut edge = vault.client("edge");
    let ada_key = create_key(
        &mut edge,
        with_token(key(&ada, "sk-ada-0123456789abcdef"), &ada_token),
    )
    .await;
    let managed_key = create_key(
        &mut vault.client("admin"),
        tonic::Request::new(key("platform", "sk-platform-0123456789")),
    )
    .await;

    let mut stream = vault
        .client("router")
        .watch_revocations(WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stream.message().await.unwrap().unwrap().kind(),
        RevocationKind::Resync
    );

    principal_sets(
        &vault,
        &ada_token,
        limit(RateLimitScope::Credential, &ada_key, 0, 200_000),
    )
    .await
    .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(1), stream.message())
        .await
        .expect("no event within one second")
        .unwrap()
        .unwrap();
    assert_eq!(event.kind(), RevocationKind::CredentialUpdated);
    assert_eq!(
        (event.credential_id.as_str(), event.owner_id.as_str()),
        (ada_key.as_str(), ada.as_str())
    );
    // The audit event is filed under the key's owner, named by the key.
    assert_eq!(
        vault.store_audit_count(&ada_key).await,
        2,
        "created, then limited"
    );

    // Another's key, a platform key and an unknown id all answer like an unknown id.
    for (target, token) in [(&ada_key, &bob_token), (&managed_key, &ada_token)] {
        let hidden = principal_sets(
            &vault,
            token,
            limit(RateLimitScope::Credential, target, 1, 0),
        )
        .await
        .unwrap_err();
        assert_eq!(hidden.code(), Code::NotFound, "{hidden:?}");
        assert_eq!(hidden.message(), format!("credential {target} not found"));
    }
    let unknown = operator_sets(
        &vault,
        limit(RateLimitScope::Credential, "cred_nothing", 1, 0),
    )
    .await
    .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // The managed model's limit makes routers refresh the platform's lease.
    operator_sets(
        &vault,
        limit(RateLimitScope::ManagedModel, "gpt-4o-mini", 1000, 0),
    )
    .await
    .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(1), stream.message())
        .await
        .expect("no event within one second")
        .unwrap()
        .unwrap();
    assert_eq!(event.kind(), RevocationKind::ProviderSettingChanged);
    assert_eq!(event.owner_id, "platform");

    // The lease carries its keys' limits; the platform's, also the managed models'.
    operator_sets(
        &vault,
        limit(RateLimitScope::Credential, &managed_key, 5, 0),
    )
    .await
    .unwrap();
    operator_sets(&vault, limit(RateLimitScope::Principal, &ada, 5, 0))
        .await
        .unwrap();
    let ada_lease = lease(&vault, &ada).await;
    assert_eq!(
        targets(&ada_lease.rate_limits),
        [(RateLimitScope::Credential, ada_key.as_str())]
    );
    assert_eq!(ada_lease.rate_limits[0].tokens_per_minute, 200_000);
    let platform_lease = lease(&vault, "platform").await;
    assert_eq!(
        targets(&platform_lease.rate_limits),
        [
            (RateLimitScope::Credential, managed_key.as_str()),
            (RateLimitScope::ManagedModel, "gpt-4o-mini"),
        ]
    );

    // The key's owner sees its limit; someone else does not.
    assert_eq!(
        visible(&vault, &ada_token).await,
        [
            (RateLimitScope::Principal, ada.clone()),
            (RateLimitScope::Credential, ada_key.clone()),
        ]
    );
    assert!(visible(&vault, &bob_token).await.is_empty());
}

#[tokio::test]
async fn org_keys_are_limited_by_their_managers_and_seen_by_every_member() {
    let vault = TestVault::start().await;
    let (owner, owner_token) = vault.user_with_token("owner").await;
    let (member, member_token) = vault.user_with_token("member").await;
    let org = vault.org("acme", &owner, &[(&member, Role::Member)]).await;
    let org_key = create_key(
        &mut vault.client("edge"),
        with_token(key(&org, "sk-org-0123456789abcdef"), &owner_token),
    )
    .await;

    let member_try = principal_sets(
        &vault,
        &member_token,
        limit(RateLimitScope::Credential, &org_key, 1, 0),
    )
    .await
    .unwrap_err();
    assert_eq!(member_try.code(), Code::PermissionDenied, "{member_try:?}");
    principal_sets(
        &vault,
        &owner_token,
        limit(RateLimitScope::Credential, &org_key, 10, 0),
    )
    .await
    .unwrap();
    assert_eq!(
        visible(&vault, &member_token).await,
        [(RateLimitScope::Credential, org_key.clone())]
    );
    // A member's lease holds the org's key, and so its limit.
    assert_eq!(
        targets(&lease(&vault, &member).await.rate_limits),
        [(RateLimitScope::Credential, org_key.as_str())]
    );
}

#[tokio::test]
async fn bad_requests_change_nothing() {
    let vault = TestVault::start().await;
    let (ada, ada_token) = vault.user_with_token("ada").await;
    let bad = [
        (
            limit(RateLimitScope::Unspecified, &ada, 1, 0),
            Code::InvalidArgument,
        ),
        (
            SetRateLimitRequest {
                scope: 99,
                ..limit(RateLimitScope::Principal, &ada, 1, 0)
            },
            Code::InvalidArgument,
        ),
        (
            limit(RateLimitScope::Principal, "  ", 1, 0),
            Code::InvalidArgument,
        ),
        (
            limit(RateLimitScope::Principal, &"x".repeat(300), 1, 0),
            Code::InvalidArgument,
        ),
        (
            limit(RateLimitScope::ManagedModel, "gpt\n4o", 1, 0),
            Code::InvalidArgument,
        ),
        (
            limit(RateLimitScope::Principal, &ada, u64::MAX, 0),
            Code::InvalidArgument,
        ),
        (
            limit(RateLimitScope::Principal, "usr_nobody", 1, 0),
            Code::NotFound,
        ),
        (
            limit(RateLimitScope::Org, "org_nobody", 1, 0),
            Code::NotFound,
        ),
    ];
    for (request, code) in bad {
        let error = operator_sets(&vault, request.clone()).await.unwrap_err();
        assert_eq!(error.code(), code, "{request:?}: {error:?}");
        let error = principal_sets(&vault, &ada_token, request.clone())
            .await
            .unwrap_err();
        assert_eq!(error.code(), code, "{request:?}: {error:?}");
    }
    assert!(all_limits(&vault).await.is_empty());
    assert_eq!(vault.store_audit_count("usr_nobody").await, 0);
    let listed = vault
        .client("admin")
        .list_rate_limits(ListRateLimitsRequest {
            scope: 42,
            target_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(listed.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn balances_carry_the_limits_on_the_principal_and_its_orgs_and_lists_filter() {
    let vault = TestVault::start().await;
    let (ada, _) = vault.user_with_token("ada").await;
    let (bob, _) = vault.user_with_token("bob").await;
    let org = vault.org("acme", &bob, &[(&ada, Role::Member)]).await;
    let other_org = vault.org("other", &bob, &[]).await;
    for request in [
        limit(RateLimitScope::Principal, &ada, 10, 0),
        limit(RateLimitScope::Principal, &bob, 11, 0),
        limit(RateLimitScope::Org, &org, 12, 0),
        limit(RateLimitScope::Org, &other_org, 13, 0),
        limit(RateLimitScope::ManagedModel, "gpt-4o", 14, 0),
    ] {
        operator_sets(&vault, request).await.unwrap();
    }

    let balance = vault
        .client("router")
        .get_balance(GetBalanceRequest {
            principal_id: ada.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        targets(&balance.rate_limits),
        [
            (RateLimitScope::Principal, ada.as_str()),
            (RateLimitScope::Org, org.as_str()),
        ]
    );
    assert_eq!(balance.rate_limits[1].requests_per_minute, 12);

    let mut admin = vault.client("admin");
    let orgs = admin
        .list_rate_limits(ListRateLimitsRequest {
            scope: RateLimitScope::Org as i32,
            target_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .rate_limits;
    assert_eq!(orgs.len(), 2);
    assert!(orgs.iter().all(|l| l.scope() == RateLimitScope::Org));
    let one = admin
        .list_rate_limits(ListRateLimitsRequest {
            scope: RateLimitScope::Unspecified as i32,
            target_id: "gpt-4o".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .rate_limits;
    assert_eq!(targets(&one), [(RateLimitScope::ManagedModel, "gpt-4o")]);
    // Sorted by scope (the proto's order), then target.
    let scopes: Vec<RateLimitScope> = all_limits(&vault).await.into_iter().map(|l| l.0).collect();
    assert_eq!(
        scopes,
        [
            RateLimitScope::Principal,
            RateLimitScope::Principal,
            RateLimitScope::Org,
            RateLimitScope::Org,
            RateLimitScope::ManagedModel,
        ]
    );
}

#[tokio::test]
async fn a_deleted_keys_limit_leaves_every_lease_and_only_the_operator_removes_it() {
    let vault = TestVault::start().await;
    let (ada, ada_token) = vault.user_with_token("ada").await;
    let mut edge = vault.client("edge");
    let ada_key = create_key(
        &mut edge,
        with_token(key(&ada, "sk-ada-0123456789abcdef"), &ada_token),
    )
    .await;
    principal_sets(
        &vault,
        &ada_token,
        limit(RateLimitScope::Credential, &ada_key, 10, 0),
    )
    .await
    .unwrap();
    edge.delete_credential(with_token(
        DeleteCredentialRequest {
            credential_id: ada_key.clone(),
        },
        &ada_token,
    ))
    .await
    .unwrap();

    assert!(lease(&vault, &ada).await.rate_limits.is_empty());
    assert!(visible(&vault, &ada_token).await.is_empty());
    let gone = principal_sets(
        &vault,
        &ada_token,
        limit(RateLimitScope::Credential, &ada_key, 0, 0),
    )
    .await
    .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    // The operator still sees the row, may not set a limit on a key that is gone, and may
    // remove what is left.
    assert_eq!(all_limits(&vault).await.len(), 1);
    let refused = operator_sets(&vault, limit(RateLimitScope::Credential, &ada_key, 5, 0))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    operator_sets(&vault, limit(RateLimitScope::Credential, &ada_key, 0, 0))
        .await
        .unwrap();
    assert!(all_limits(&vault).await.is_empty());
}
