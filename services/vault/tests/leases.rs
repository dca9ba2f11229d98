//! Leases: routing order, provider settings, revocations pushed within a second, and KEK
//! rotation that keeps every credential leasable after the old version is retired.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use keyroute_proto::vault::v1::*;
use keyroute_test_support::{TestVault, with_token};
use keyroute_vault::crypto::Keyring;
use tonic::Code;

fn key(owner: &str, provider: &str, secret: &str) -> CreateCredentialRequest {
    CreateCredentialRequest {
        owner_id: owner.into(),
        provider: provider.into(),
        secret: secret.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn leases_list_personal_keys_then_each_orgs_in_membership_order() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("lea").await;
    let (other, _) = vault.user_with_token("other").await;
    let first_org = vault.org("first", &user, &[]).await;
    let second_org = vault.org("second", &other, &[(&user, Role::Member)]).await;
    let mut admin = vault.client("admin");
    admin
        .create_credential(key(&second_org, "openai", "sk-second-org-0123456789"))
        .await
        .unwrap();
    admin
        .create_credential(key(&first_org, "openai", "sk-first-org-0123456789"))
        .await
        .unwrap();
    let mut edge = vault.client("edge");
    edge.create_credential(with_token(
        key(&user, "openai", "sk-personal-0123456789"),
        &token,
    ))
    .await
    .unwrap();
    let disabled = CreateCredentialRequest {
        disabled: true,
        ..key(&user, "mistral", "mistral-disabled-0123456789")
    };
    edge.create_credential(with_token(disabled, &token))
        .await
        .unwrap();
    let setting = SetProviderSettingRequest {
        owner_id: first_org.clone(),
        provider: "anthropic".into(),
        mode: ProviderMode::Disabled as i32,
        fallback_policy: FallbackPolicy::Never as i32,
    };
    admin.set_provider_setting(setting).await.unwrap();

    let lease = vault
        .client("router")
        .lease_credentials(LeaseCredentialsRequest {
            principal_id: user.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let order: Vec<(&str, &str)> = lease
        .credentials
        .iter()
        .map(|c| {
            (
                c.credential.as_ref().unwrap().owner_id.as_str(),
                c.secret.as_str(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            (user.as_str(), "sk-personal-0123456789"),
            (first_org.as_str(), "sk-first-org-0123456789"),
            (second_org.as_str(), "sk-second-org-0123456789")
        ]
    );
    assert_eq!(lease.credentials[0].owner_kind(), PrincipalKind::User);
    assert_eq!(lease.credentials[1].owner_kind(), PrincipalKind::Org);
    assert_eq!(lease.provider_settings.len(), 1);
    assert_eq!(lease.provider_settings[0].mode(), ProviderMode::Disabled);
    let expires = lease.expires_at.unwrap().seconds;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now + 290..=now + 310).contains(&expires),
        "lease ttl is the configured 5 minutes"
    );
    // Each lease is audited under the principal.
    let audit = edge
        .list_audit_events(with_token(
            ListAuditEventsRequest {
                owner_id: user.clone(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(audit.events[0].action, "credentials.lease");
    assert_eq!(audit.events[0].peer, "spiffe://keyroute/router");

    let error = vault
        .client("router")
        .lease_credentials(LeaseCredentialsRequest {
            principal_id: "usr_missing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
}

#[tokio::test]
async fn a_disable_reaches_a_watching_router_within_a_second() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("watch").await;
    let mut edge = vault.client("edge");
    let id = edge
        .create_credential(with_token(
            key(&user, "openai", "sk-watch-0123456789"),
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .id;

    let mut stream = vault
        .client("router")
        .watch_revocations(WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(
        first.kind(),
        RevocationKind::Resync,
        "every stream starts with a resync"
    );

    let disabled_at = std::time::Instant::now();
    edge.set_credential_enabled(with_token(
        SetCredentialEnabledRequest {
            credential_id: id.clone(),
            enabled: false,
        },
        &token,
    ))
    .await
    .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(1), stream.message())
        .await
        .expect("no event within one second")
        .unwrap()
        .unwrap();
    assert!(disabled_at.elapsed() < Duration::from_secs(1));
    assert_eq!(event.kind(), RevocationKind::CredentialDisabled);
    assert_eq!(event.credential_id, id);
    assert_eq!(event.owner_id, user);

    edge.delete_credential(with_token(
        DeleteCredentialRequest {
            credential_id: id.clone(),
        },
        &token,
    ))
    .await
    .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(1), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.kind(), RevocationKind::CredentialDeleted);

    let tokens = vault
        .client("admin")
        .list_tokens(ListTokensRequest {
            principal_id: user.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    vault
        .client("admin")
        .revoke_token(RevokeTokenRequest {
            token_id: tokens.tokens[0].id.clone(),
        })
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(1), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.kind(), RevocationKind::TokenRevoked);
    assert_eq!(event.principal_id, user);
}

#[tokio::test]
async fn revocation_streams_end_when_the_vault_stops() {
    let mut vault = TestVault::start().await;
    let mut stream = vault
        .client("router")
        .watch_revocations(WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().unwrap();
    tokio::time::timeout(Duration::from_secs(5), vault.stop())
        .await
        .expect("graceful shutdown waited on the stream");
    assert!(!matches!(stream.message().await, Ok(Some(_))));
}

#[tokio::test]
async fn kek_rotation_rewraps_everything_and_the_old_version_can_be_retired() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("rot").await;
    let mut edge = vault.client("edge");
    let secrets: Vec<String> = (0..70)
        .map(|i| format!("sk-rotate-{i:04}-0123456789"))
        .collect();
    for (i, secret) in secrets.iter().enumerate() {
        let request = CreateCredentialRequest {
            label: format!("k{i}"),
            ..key(&user, "custom", "")
        };
        let mut request = request;
        request.secret = secret.clone();
        request
            .config
            .insert("base_url".into(), "http://127.0.0.1:9/v1".into());
        edge.create_credential(with_token(request, &token))
            .await
            .unwrap();
    }
    let mut admin = vault.client("admin");

    // Rotating without a new version rewraps nothing.
    let unchanged = admin
        .rotate_kek(RotateKekRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!((unchanged.active_version, unchanged.rewrapped), (1, 0));

    let mut keyring = Keyring::load(&vault.kek_path()).unwrap();
    keyring.add_version();
    keyring.save(&vault.kek_path()).unwrap();
    let rotated = admin
        .rotate_kek(RotateKekRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rotated.active_version, 2);
    assert_eq!(rotated.rewrapped, 70, "more than one batch");
    assert_eq!(rotated.versions_in_use, [2]);

    keyring.retire(1).unwrap();
    keyring.save(&vault.kek_path()).unwrap();
    admin.rotate_kek(RotateKekRequest {}).await.unwrap();
    let vault = vault.restart().await;
    let lease = vault
        .client("router")
        .lease_credentials(LeaseCredentialsRequest { principal_id: user })
        .await
        .unwrap()
        .into_inner();
    assert!(lease.unreadable.is_empty());
    let mut leased: Vec<String> = lease
        .credentials
        .iter()
        .map(|c| {
            serde_json::from_str::<serde_json::Value>(&c.secret).unwrap()["apiKey"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    leased.sort();
    assert_eq!(leased, secrets);
}

#[tokio::test]
async fn a_keyring_missing_a_version_in_use_is_refused() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("miss").await;
    vault
        .client("edge")
        .create_credential(with_token(
            key(&user, "openai", "sk-miss-0123456789"),
            &token,
        ))
        .await
        .unwrap();
    // Replace the keyring with one that does not hold version 1.
    let mut keyring = Keyring::generate();
    keyring.add_version();
    keyring.retire(1).unwrap();
    keyring.save(&vault.kek_path()).unwrap();
    let error = vault
        .client("admin")
        .rotate_kek(RotateKekRequest {})
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(error.message().contains("[1]"), "{}", error.message());
    // The running vault kept its old keyring.
    let lease = vault
        .client("router")
        .lease_credentials(LeaseCredentialsRequest { principal_id: user })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lease.credentials.len(), 1);
}
