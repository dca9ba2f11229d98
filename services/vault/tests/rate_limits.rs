//! Rate limits: who may set which, what each caller sees, and how limits reach routers (with
//! balances, with leases, and on the revocation stream), over mTLS against a real vault.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use keyroute_proto::vault::v1::*;
use keyroute_test_support::{TestVault, VaultClient, with_token};
use tonic::{Code, Status};

use RateLimitScope as S;

/// Who asks: the operator, a principal through the edge, or a principal through the router
/// for an internal platform.
#[derive(Clone, Copy)]
enum By<'a> {
    Operator,
    Edge(&'a str),
    Platform(&'a str),
}

/// The client and request `by` sends `message` with.
fn sent<T>(vault: &TestVault, by: By<'_>, message: T) -> (VaultClient, tonic::Request<T>) {
    match by {
        By::Operator => (vault.client("admin"), tonic::Request::new(message)),
        By::Edge(token) => (vault.client("edge"), with_token(message, token)),
        By::Platform(token) => {
            let mut request = with_token(message, token);
            let platform = "platform/acme".parse().unwrap();
            request
                .metadata_mut()
                .insert("x-keyroute-platform", platform);
            (vault.client("router"), request)
        }
    }
}

/// Sets a limit; `Ok(None)` when it was removed.
async fn set(
    vault: &TestVault,
    by: By<'_>,
    (scope, target): (S, &str),
    rpm: u64,
    tpm: u64,
) -> Result<Option<RateLimit>, Status> {
    let request = SetRateLimitRequest {
        scope: scope as i32,
        target_id: target.into(),
        requests_per_minute: rpm,
        tokens_per_minute: tpm,
    };
    let (mut client, request) = sent(vault, by, request);
    let response = client.set_rate_limit(request).await?;
    Ok(response.into_inner().rate_limit)
}

/// The limits `by` lists (every scope and target).
async fn list(vault: &TestVault, by: By<'_>) -> Vec<RateLimit> {
    let (mut client, request) = sent(vault, by, ListRateLimitsRequest::default());
    client
        .list_rate_limits(request)
        .await
        .unwrap()
        .into_inner()
        .rate_limits
}

fn targets(limits: &[RateLimit]) -> Vec<(S, &str)> {
    limits
        .iter()
        .map(|l| (l.scope(), l.target_id.as_str()))
        .collect()
}

/// Every limit, as the operator lists them: (scope, target, rpm, tpm, set by operator).
async fn all_limits(vault: &TestVault) -> Vec<(S, String, u64, u64, bool)> {
    let limits = list(vault, By::Operator).await;
    limits
        .into_iter()
        .map(|l| {
            let (rpm, tpm) = (l.requests_per_minute, l.tokens_per_minute);
            (l.scope(), l.target_id, rpm, tpm, l.set_by_operator)
        })
        .collect()
}

/// Adds an OpenAI key for `owner` as `by`; returns its id.
async fn add_key(vault: &TestVault, by: By<'_>, owner: &str, secret: &str) -> String {
    let request = CreateCredentialRequest {
        owner_id: owner.into(),
        provider: "openai".into(),
        secret: secret.into(),
        ..Default::default()
    };
    let (mut client, request) = sent(vault, by, request);
    let created = client
        .create_credential(request)
        .await
        .unwrap()
        .into_inner();
    created.credential.unwrap().id
}

async fn lease(vault: &TestVault, principal: &str) -> LeaseCredentialsResponse {
    let request = LeaseCredentialsRequest {
        principal_id: principal.into(),
    };
    let response = vault.client("router").lease_credentials(request).await;
    response.unwrap().into_inner()
}

#[tokio::test]
async fn the_operator_sets_changes_and_removes_limits_each_audited_once() {
    let vault = TestVault::start().await;
    let (ada, _) = vault.user_with_token("ada").await;
    let on_ada = (S::Principal, ada.as_str());

    let stored = set(&vault, By::Operator, on_ada, 60, 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.scope(), S::Principal);
    assert_eq!(
        (stored.requests_per_minute, stored.tokens_per_minute),
        (60, 0)
    );
    assert!(stored.set_by_operator && stored.updated_at.is_some());
    set(&vault, By::Operator, on_ada, 0, 90_000).await.unwrap();
    let expected = (S::Principal, ada.clone(), 0, 90_000, true);
    assert_eq!(all_limits(&vault).await, [expected]);

    let removed = set(&vault, By::Operator, on_ada, 0, 0).await.unwrap();
    assert!(removed.is_none(), "a removal answers no limit");
    assert!(all_limits(&vault).await.is_empty());
    // Removing what is not there changes nothing and is no error.
    assert!(
        set(&vault, By::Operator, on_ada, 0, 0)
            .await
            .unwrap()
            .is_none()
    );

    let request = ListAuditEventsRequest {
        owner_id: ada.clone(),
        ..Default::default()
    };
    let audit = vault.client("admin").list_audit_events(request).await;
    let events = audit.unwrap().into_inner().events;
    let events: Vec<_> = events
        .iter()
        .filter(|e| e.action.starts_with("rate_limit."))
        .collect();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["rate_limit.removed", "rate_limit.set", "rate_limit.set"],
        "newest first, one per change"
    );
    assert_eq!(events[0].target, ada);
    let detail: serde_json::Value = serde_json::from_str(&events[0].detail).unwrap();
    let expected = serde_json::json!({"scope": "principal", "target_id": ada,
        "requests_per_minute": 0, "tokens_per_minute": 0});
    assert_eq!(detail, expected);

    // Managed models are the operator's to limit.
    let model = (S::ManagedModel, "gpt-4o-mini");
    set(&vault, By::Operator, model, 500, 0).await.unwrap();
    assert_eq!(vault.store_audit_count("gpt-4o-mini").await, 1);
}

#[tokio::test]
async fn principals_limit_themselves_but_not_others_managed_models_or_the_operators_limits() {
    let vault = TestVault::start().await;
    let (ada, ada_token) = vault.user_with_token("ada").await;
    let (bob, _) = vault.user_with_token("bob").await;
    let audited = vault.store_audit_count(&ada).await;
    let (on_ada, by_ada) = ((S::Principal, ada.as_str()), By::Edge(&ada_token));

    let own = set(&vault, by_ada, on_ada, 30, 10_000)
        .await
        .unwrap()
        .unwrap();
    assert!(!own.set_by_operator);
    set(&vault, by_ada, on_ada, 40, 0).await.unwrap();

    // Another user and an unknown id answer the same NotFound.
    let another = set(&vault, by_ada, (S::Principal, &bob), 1, 0)
        .await
        .unwrap_err();
    let unknown = set(&vault, by_ada, (S::Principal, "usr_nobody"), 1, 0)
        .await
        .unwrap_err();
    assert_eq!(another.code(), Code::NotFound, "{another:?}");
    assert_eq!(
        another.message().replace(&bob, "X"),
        unknown.message().replace("usr_nobody", "X"),
        "another user's id reads like an unknown one"
    );
    let model = set(&vault, by_ada, (S::ManagedModel, "gpt-4o"), 1, 0)
        .await
        .unwrap_err();
    assert_eq!(model.code(), Code::PermissionDenied, "{model:?}");

    // Once the operator sets it, the principal may neither change nor remove it.
    set(&vault, By::Operator, on_ada, 20, 0).await.unwrap();
    for (rpm, tpm) in [(100, 0), (0, 0)] {
        let refused = set(&vault, by_ada, on_ada, rpm, tpm).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
        assert!(
            refused.message().contains("the operator set"),
            "{refused:?}"
        );
    }
    let expected = (S::Principal, ada.clone(), 20, 0, true);
    assert_eq!(all_limits(&vault).await, [expected]);
    // Set by the principal twice, then by the operator; the refusals wrote nothing.
    assert_eq!(vault.store_audit_count(&ada).await, audited + 3);

    // An internal platform, through the router, acts for the principal whose token it sends.
    let by_platform = By::Platform(&ada_token);
    let hidden = set(&vault, by_platform, (S::Principal, &bob), 1, 0)
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound, "{hidden:?}");
    let seen = list(&vault, by_platform).await;
    assert_eq!(targets(&seen), [(S::Principal, ada.as_str())]);

    // The edge must say who asks; the router on its own has no business here.
    let request = SetRateLimitRequest {
        scope: S::Principal as i32,
        target_id: ada.clone(),
        requests_per_minute: 1,
        tokens_per_minute: 0,
    };
    let anonymous = vault.client("edge").set_rate_limit(request.clone()).await;
    assert_eq!(anonymous.unwrap_err().code(), Code::Unauthenticated);
    let router = vault.client("router").set_rate_limit(request).await;
    assert_eq!(router.unwrap_err().code(), Code::PermissionDenied);
}

#[tokio::test]
async fn org_limits_are_for_owners_and_billing_managers_and_any_member_reads_them() {
    let vault = TestVault::start().await;
    let (owner, owner_token) = vault.user_with_token("owner").await;
    let (biller, biller_token) = vault.user_with_token("biller").await;
    let (member, member_token) = vault.user_with_token("member").await;
    let (_, outsider_token) = vault.user_with_token("outsider").await;
    let roles = [
        (biller.as_str(), Role::BillingManager),
        (member.as_str(), Role::Member),
    ];
    let org = vault.org("acme", &owner, &roles).await;
    let on_org = (S::Org, org.as_str());

    set(&vault, By::Edge(&owner_token), on_org, 100, 0)
        .await
        .unwrap();
    set(&vault, By::Edge(&biller_token), on_org, 120, 0)
        .await
        .unwrap();
    let by_member = set(&vault, By::Edge(&member_token), on_org, 1, 0)
        .await
        .unwrap_err();
    assert_eq!(by_member.code(), Code::PermissionDenied, "{by_member:?}");
    let by_outsider = set(&vault, By::Edge(&outsider_token), on_org, 1, 0)
        .await
        .unwrap_err();
    assert_eq!(by_outsider.code(), Code::NotFound, "{by_outsider:?}");
    // An org is no user, nor a user an org.
    for wrong_kind in [(S::Principal, org.as_str()), (S::Org, owner.as_str())] {
        let error = set(&vault, By::Operator, wrong_kind, 1, 0)
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::NotFound, "{wrong_kind:?}");
    }

    let expected = (S::Org, org.clone(), 120, 0, false);
    assert_eq!(all_limits(&vault).await, [expected]);
    let seen = list(&vault, By::Edge(&member_token)).await;
    assert_eq!(targets(&seen), [on_org]);
    assert!(list(&vault, By::Edge(&outsider_token)).await.is_empty());
}

#[tokio::test]
async fn key_limits_are_for_those_who_manage_the_key_and_reach_routers_at_once() {
    let vault = TestVault::start().await;
    let (ada, ada_token) = vault.user_with_token("ada").await;
    let (_, bob_token) = vault.user_with_token("bob").await;
    let (by_ada, by_bob) = (By::Edge(&ada_token), By::Edge(&bob_token));
    let ada_key = add_key(&vault, by_ada, &ada, "sk-ada-0123456789abcdef").await;
    let managed_key = add_key(&vault, By::Operator, "platform", "sk-platform-0123456789").await;

    let watch = vault
        .client("router")
        .watch_revocations(WatchRevocationsRequest {})
        .await;
    let mut stream = watch.unwrap().into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.kind(), RevocationKind::Resync);
    let mut next_event = async || {
        let event = tokio::time::timeout(Duration::from_secs(1), stream.message()).await;
        event.expect("no event within one second").unwrap().unwrap()
    };

    set(&vault, by_ada, (S::Credential, &ada_key), 0, 200_000)
        .await
        .unwrap();
    let event = next_event().await;
    assert_eq!(event.kind(), RevocationKind::CredentialUpdated);
    assert_eq!((&event.credential_id, &event.owner_id), (&ada_key, &ada));
    // Audited on the key: created, then limited.
    assert_eq!(vault.store_audit_count(&ada_key).await, 2);

    // Another's key and a platform key answer exactly like an unknown id.
    for (key, by) in [(&ada_key, by_bob), (&managed_key, by_ada)] {
        let hidden = set(&vault, by, (S::Credential, key), 1, 0)
            .await
            .unwrap_err();
        assert_eq!(hidden.code(), Code::NotFound, "{hidden:?}");
        assert_eq!(hidden.message(), format!("credential {key} not found"));
    }
    let unknown = set(&vault, By::Operator, (S::Credential, "cred_nothing"), 1, 0).await;
    assert_eq!(unknown.unwrap_err().code(), Code::NotFound);

    // A managed model's limit makes routers refresh the platform's lease.
    set(
        &vault,
        By::Operator,
        (S::ManagedModel, "gpt-4o-mini"),
        1000,
        0,
    )
    .await
    .unwrap();
    let event = next_event().await;
    assert_eq!(event.kind(), RevocationKind::ProviderSettingChanged);
    assert_eq!(event.owner_id, "platform");

    // A lease carries its keys' limits; the platform's, also the managed models'.
    set(&vault, By::Operator, (S::Credential, &managed_key), 5, 0)
        .await
        .unwrap();
    set(&vault, By::Operator, (S::Principal, &ada), 5, 0)
        .await
        .unwrap();
    let ada_lease = lease(&vault, &ada).await;
    assert_eq!(
        targets(&ada_lease.rate_limits),
        [(S::Credential, ada_key.as_str())]
    );
    assert_eq!(ada_lease.rate_limits[0].tokens_per_minute, 200_000);
    let platform_lease = lease(&vault, "platform").await;
    assert_eq!(
        targets(&platform_lease.rate_limits),
        [
            (S::Credential, managed_key.as_str()),
            (S::ManagedModel, "gpt-4o-mini")
        ]
    );

    // The key's owner sees its limit; someone else does not.
    let seen = list(&vault, by_ada).await;
    assert_eq!(
        targets(&seen),
        [
            (S::Principal, ada.as_str()),
            (S::Credential, ada_key.as_str())
        ]
    );
    assert!(list(&vault, by_bob).await.is_empty());
}

#[tokio::test]
async fn org_keys_are_limited_by_their_managers_and_seen_by_every_member() {
    let vault = TestVault::start().await;
    let (owner, owner_token) = vault.user_with_token("owner").await;
    let (member, member_token) = vault.user_with_token("member").await;
    let org = vault.org("acme", &owner, &[(&member, Role::Member)]).await;
    let org_key = add_key(
        &vault,
        By::Edge(&owner_token),
        &org,
        "sk-org-0123456789abcdef",
    )
    .await;
    let on_key = (S::Credential, org_key.as_str());

    let by_member = set(&vault, By::Edge(&member_token), on_key, 1, 0)
        .await
        .unwrap_err();
    assert_eq!(by_member.code(), Code::PermissionDenied, "{by_member:?}");
    set(&vault, By::Edge(&owner_token), on_key, 10, 0)
        .await
        .unwrap();
    assert_eq!(
        targets(&list(&vault, By::Edge(&member_token)).await),
        [on_key]
    );
    // A member's lease holds the org's key, and so its limit.
    assert_eq!(targets(&lease(&vault, &member).await.rate_limits), [on_key]);
}

#[tokio::test]
async fn a_deleted_keys_limit_goes_with_it() {
    let vault = TestVault::start().await;
    let (ada, ada_token) = vault.user_with_token("ada").await;
    let by_ada = By::Edge(&ada_token);
    let ada_key = add_key(&vault, by_ada, &ada, "sk-ada-0123456789abcdef").await;
    let on_key = (S::Credential, ada_key.as_str());
    set(&vault, by_ada, on_key, 10, 0).await.unwrap();
    assert_eq!(all_limits(&vault).await.len(), 1);
    let request = DeleteCredentialRequest {
        credential_id: ada_key.clone(),
    };
    let deleted = vault
        .client("edge")
        .delete_credential(with_token(request, &ada_token))
        .await;
    deleted.unwrap();

    assert!(lease(&vault, &ada).await.rate_limits.is_empty());
    assert!(list(&vault, by_ada).await.is_empty());
    assert!(all_limits(&vault).await.is_empty());
    // A key that is gone takes no limit, from anyone.
    for by in [by_ada, By::Operator] {
        let gone = set(&vault, by, on_key, 5, 0).await.unwrap_err();
        assert_eq!(gone.code(), Code::NotFound);
    }
}

#[tokio::test]
async fn bad_requests_change_nothing() {
    let vault = TestVault::start().await;
    let (ada, ada_token) = vault.user_with_token("ada").await;
    let long = "x".repeat(300);
    let bad = [
        ((S::Unspecified, ada.as_str()), 1, Code::InvalidArgument),
        ((S::Principal, "  "), 1, Code::InvalidArgument),
        ((S::Principal, long.as_str()), 1, Code::InvalidArgument),
        ((S::ManagedModel, "gpt\n4o"), 1, Code::InvalidArgument),
        (
            (S::Principal, ada.as_str()),
            u64::MAX,
            Code::InvalidArgument,
        ),
        ((S::Principal, "usr_nobody"), 1, Code::NotFound),
        ((S::Org, "org_nobody"), 1, Code::NotFound),
    ];
    for (target, rpm, code) in bad {
        for by in [By::Operator, By::Edge(&ada_token)] {
            let error = set(&vault, by, target, rpm, 0).await.unwrap_err();
            assert_eq!(error.code(), code, "{target:?} {rpm}: {error:?}");
        }
    }
    // A scope number the proto does not have, in a set or a list.
    let (mut admin, request) = sent(
        &vault,
        By::Operator,
        SetRateLimitRequest {
            scope: 99,
            target_id: ada.clone(),
            requests_per_minute: 1,
            tokens_per_minute: 0,
        },
    );
    assert_eq!(
        admin.set_rate_limit(request).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let request = ListRateLimitsRequest {
        scope: 42,
        target_id: String::new(),
    };
    assert_eq!(
        admin.list_rate_limits(request).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    assert!(all_limits(&vault).await.is_empty());
    assert_eq!(vault.store_audit_count("usr_nobody").await, 0);
}

#[tokio::test]
async fn balances_carry_the_limits_on_the_principal_and_its_orgs_and_lists_filter() {
    let vault = TestVault::start().await;
    let (ada, _) = vault.user_with_token("ada").await;
    let (bob, _) = vault.user_with_token("bob").await;
    let org = vault.org("acme", &bob, &[(&ada, Role::Member)]).await;
    let other_org = vault.org("other", &bob, &[]).await;
    for (target, rpm) in [
        ((S::Principal, ada.as_str()), 10),
        ((S::Principal, bob.as_str()), 11),
        ((S::Org, org.as_str()), 12),
        ((S::Org, other_org.as_str()), 13),
        ((S::ManagedModel, "gpt-4o"), 14),
    ] {
        set(&vault, By::Operator, target, rpm, 0).await.unwrap();
    }

    let request = GetBalanceRequest {
        principal_id: ada.clone(),
    };
    let balance = vault
        .client("router")
        .get_balance(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        targets(&balance.rate_limits),
        [(S::Principal, ada.as_str()), (S::Org, org.as_str())]
    );
    assert_eq!(balance.rate_limits[1].requests_per_minute, 12);

    let filtered = async |scope: S, target: &str| {
        let request = ListRateLimitsRequest {
            scope: scope as i32,
            target_id: target.into(),
        };
        let response = vault.client("admin").list_rate_limits(request).await;
        response.unwrap().into_inner().rate_limits
    };
    let orgs = filtered(S::Org, "").await;
    assert_eq!(orgs.len(), 2);
    assert!(orgs.iter().all(|l| l.scope() == S::Org));
    let one = filtered(S::Unspecified, "gpt-4o").await;
    assert_eq!(targets(&one), [(S::ManagedModel, "gpt-4o")]);
    assert!(filtered(S::Org, "gpt-4o").await.is_empty());
    // Sorted by scope (the proto's order), then target.
    let scopes: Vec<S> = all_limits(&vault).await.into_iter().map(|l| l.0).collect();
    let expected = [S::Principal, S::Principal, S::Org, S::Org, S::ManagedModel];
    assert_eq!(scopes, expected);
}
