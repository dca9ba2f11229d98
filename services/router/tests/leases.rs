//! The router's caches against a real vault over mTLS: leases are fetched once and served
//! from memory, refreshed in the background, dropped on revocation within a second, kept
//! serving while the vault is down until they expire; tokens likewise.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use keyroute_proto::vault::v1::*;
use keyroute_router::cache::leases::LeaseCache;
use keyroute_router::cache::revocations::{RevocationWatch, watch};
use keyroute_router::cache::tokens::TokenCache;
use keyroute_router::error::RouterError;
use keyroute_test_support::{TestVault, with_token};
use keyroute_tls::ClientTls;
use secrecy::ExposeSecret;

struct Router {
    tokens: Arc<TokenCache>,
    leases: Arc<LeaseCache>,
    watch: RevocationWatch,
}

async fn router(vault: &TestVault) -> Router {
    let tls = ClientTls::from_files(vault.pki.paths("router")).unwrap();
    let client = keyroute_router::vault::connect(&vault.addr.to_string(), tls).unwrap();
    let tokens = Arc::new(TokenCache::new(client.clone(), Duration::from_secs(30)));
    let leases = LeaseCache::new(client.clone());
    let mut watch = watch(client, leases.clone(), tokens.clone());
    tokio::time::timeout(
        Duration::from_secs(5),
        watch.connections.wait_for(|n| *n >= 1),
    )
    .await
    .unwrap()
    .unwrap();
    Router {
        tokens,
        leases,
        watch,
    }
}

fn key(owner: &str, provider: &str, secret: &str) -> CreateCredentialRequest {
    CreateCredentialRequest {
        owner_id: owner.into(),
        provider: provider.into(),
        secret: secret.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn leases_are_fetched_once_and_dropped_within_a_second_of_a_disable() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("router-user").await;
    let org = vault.org("router-org", &user, &[]).await;
    let mut edge = vault.client("edge");
    let personal = edge
        .create_credential(with_token(
            key(&user, "openai", "sk-personal-0123456789"),
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .id;
    edge.create_credential(with_token(
        key(&org, "anthropic", "sk-ant-org-0123456789"),
        &token,
    ))
    .await
    .unwrap();
    let router = router(&vault).await;

    let caller = router.tokens.authenticate(&token).await.unwrap();
    assert_eq!(caller.principal_id, user);
    assert_eq!(caller.org_ids, std::slice::from_ref(&org));
    for _ in 0..50 {
        let lease = router.leases.get(&caller).await.unwrap();
        assert_eq!(lease.keys.len(), 2);
        assert_eq!(
            lease.keys[0].secret.expose_secret(),
            "sk-personal-0123456789",
            "personal first"
        );
        assert_eq!(lease.keys[1].owner_id, org);
    }
    assert_eq!(
        router.leases.vault_calls(),
        1,
        "one vault call for fifty requests"
    );
    assert!(
        !format!("{:?}", router.leases.get(&caller).await.unwrap()).contains("sk-personal"),
        "Debug hides secrets"
    );

    let mut invalidations = router.leases.invalidations();
    invalidations.borrow_and_update();
    edge.set_credential_enabled(with_token(
        SetCredentialEnabledRequest {
            credential_id: personal,
            enabled: false,
        },
        &token,
    ))
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(1), invalidations.changed())
        .await
        .expect("dropped within a second")
        .unwrap();
    let lease = router.leases.get(&caller).await.unwrap();
    assert_eq!(lease.keys.len(), 1, "the disabled key is gone");
    assert_eq!(lease.keys[0].provider, "anthropic");
    assert_eq!(router.leases.vault_calls(), 2);
    drop(router.watch);
}

#[tokio::test]
async fn revoked_tokens_stop_working_at_once() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("revoked").await;
    let router = router(&vault).await;
    router.tokens.authenticate(&token).await.unwrap();
    let mut invalidations = router.leases.invalidations();
    invalidations.borrow_and_update();
    let tokens = vault
        .client("admin")
        .list_tokens(ListTokensRequest { principal_id: user })
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
    // Token revocations touch no lease; wait for the event by polling the cache itself.
    let revoked = async {
        loop {
            match router.tokens.authenticate(&token).await {
                Err(RouterError::Unauthenticated(message)) => return message,
                Ok(_) => tokio::task::yield_now().await,
                Err(other) => panic!("{other}"),
            }
        }
    };
    let message = tokio::time::timeout(Duration::from_secs(1), revoked)
        .await
        .expect("revoked within a second");
    assert!(message.contains("revoked"), "{message}");
}

#[tokio::test]
async fn leases_outlive_a_vault_outage_until_they_expire_and_revocation_resumes_after_restart() {
    let mut vault = TestVault::start_with_lease_ttl(Duration::from_secs(2)).await;
    let (user, token) = vault.user_with_token("outage").await;
    let id = vault
        .client("edge")
        .create_credential(with_token(
            key(&user, "mistral", "mistral-outage-0123456789"),
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .id;
    let mut router = router(&vault).await;
    let caller = router.tokens.authenticate(&token).await.unwrap();
    let lease = router.leases.get(&caller).await.unwrap();

    vault.stop().await;
    // Cached: still served while the vault is down.
    assert_eq!(router.leases.get(&caller).await.unwrap().keys.len(), 1);
    // Expired: a clear error that names the vault. (The TTL is the behaviour under test.)
    tokio::time::sleep_until(
        tokio::time::Instant::from_std(lease.expires_at()) + Duration::from_millis(50),
    )
    .await;
    let error = router.leases.get(&caller).await.unwrap_err();
    assert!(
        matches!(error, RouterError::VaultUnavailable(_)),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with("vault unavailable"),
        "{error}"
    );
    assert_eq!(tonic::Status::from(error).code(), tonic::Code::Unavailable);

    vault.start_again().await;
    let reconnected = *router.watch.connections.borrow();
    tokio::time::timeout(
        Duration::from_secs(10),
        router.watch.connections.wait_for(|n| *n > reconnected),
    )
    .await
    .expect("the watch reconnects")
    .unwrap();
    assert_eq!(router.leases.get(&caller).await.unwrap().keys.len(), 1);
    let mut invalidations = router.leases.invalidations();
    invalidations.borrow_and_update();
    vault
        .client("edge")
        .delete_credential(with_token(
            DeleteCredentialRequest { credential_id: id },
            &token,
        ))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(1), invalidations.changed())
        .await
        .expect("revocation works again")
        .unwrap();
    assert!(router.leases.get(&caller).await.unwrap().keys.is_empty());
}
