//! The router's token cache against a real vault over mTLS: a token is cached no longer
//! than it lives, and disabling a principal or revoking all its tokens reaches the cache as
//! a pushed revocation (no waiting for the cache TTL).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use keyroute_proto::vault::v1::*;
use keyroute_router::cache::leases::LeaseCache;
use keyroute_router::cache::revocations::{RevocationWatch, watch};
use keyroute_router::cache::tokens::TokenCache;
use keyroute_router::error::RouterError;
use keyroute_test_support::TestVault;
use keyroute_tls::ClientTls;

const BOUND: Duration = Duration::from_secs(5);

struct Router {
    tokens: Arc<TokenCache>,
    _watch: RevocationWatch,
}

/// A token cache that keeps answers for a minute, and the revocation watch.
async fn router(vault: &TestVault) -> Router {
    let tls = ClientTls::from_files(vault.pki.paths("router")).unwrap();
    let client = keyroute_router::vault::connect(&vault.addr.to_string(), tls).unwrap();
    let tokens = Arc::new(TokenCache::new(client.clone(), Duration::from_secs(60)));
    let leases = LeaseCache::new(client.clone());
    let mut watch = watch(client, leases, tokens.clone());
    tokio::time::timeout(BOUND, watch.connections.wait_for(|n| *n >= 1))
        .await
        .unwrap()
        .unwrap();
    Router {
        tokens,
        _watch: watch,
    }
}

async fn issue(
    vault: &TestVault,
    principal: &str,
    expires_in: Option<Duration>,
) -> (String, TokenInfo) {
    let reply = vault
        .client("admin")
        .issue_token(IssueTokenRequest {
            principal_id: principal.into(),
            name: "t".into(),
            expires_in: expires_in.map(|d| prost_types::Duration {
                seconds: d.as_secs() as i64,
                nanos: d.subsec_nanos() as i32,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    (reply.token, reply.info.unwrap())
}

fn refused(result: Result<Arc<keyroute_router::cache::tokens::Caller>, RouterError>) -> bool {
    matches!(result, Err(RouterError::Unauthenticated(_)))
}

#[tokio::test]
async fn an_expiring_token_is_cached_no_longer_than_it_lives() {
    let vault = TestVault::start().await;
    let (user, _) = vault.user_with_token("brief").await;
    let router = router(&vault).await;
    let (token, info) = issue(&vault, &user, Some(Duration::from_secs(1))).await;
    router.tokens.authenticate(&token).await.unwrap();

    // Waiting for the expiry itself (nothing else to wait for): the cache, which would keep
    // an answer a minute, asks the vault again once the token's time is up.
    let expires = info.expires_at.unwrap();
    let at = std::time::UNIX_EPOCH
        + Duration::new(expires.seconds as u64, expires.nanos as u32)
        + Duration::from_millis(50);
    let left = at
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(left).await;
    let result = router.tokens.authenticate(&token).await;
    assert!(refused(result.clone()), "{result:?}");
}

#[tokio::test]
async fn disabling_a_principal_or_revoking_its_tokens_reaches_the_cache_at_once() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("switched").await;
    let org = vault.org("switched-org", &user, &[]).await;
    let (org_token, _) = issue(&vault, &org, None).await;
    let (second, _) = issue(&vault, &user, None).await;
    let router = router(&vault).await;
    for t in [&token, &org_token, &second] {
        router.tokens.authenticate(t).await.unwrap();
    }
    let mut admin = vault.client("admin");
    let mut applied = router.tokens.revocations();
    let mut seen = *applied.borrow_and_update();
    let mut next_revocation = async || {
        tokio::time::timeout(BOUND, applied.wait_for(|n| *n > seen))
            .await
            .unwrap()
            .unwrap();
        seen = *applied.borrow_and_update();
    };

    admin
        .set_principal_disabled(SetPrincipalDisabledRequest {
            principal_id: user.clone(),
            disabled: true,
        })
        .await
        .unwrap();
    next_revocation().await;
    for t in [&token, &second] {
        let result = router.tokens.authenticate(t).await;
        assert!(refused(result.clone()), "{result:?}");
    }
    router.tokens.authenticate(&org_token).await.unwrap();

    admin
        .set_principal_disabled(SetPrincipalDisabledRequest {
            principal_id: user.clone(),
            disabled: false,
        })
        .await
        .unwrap();
    router.tokens.authenticate(&token).await.unwrap();

    admin
        .revoke_principal_tokens(RevokePrincipalTokensRequest {
            principal_id: user.clone(),
        })
        .await
        .unwrap();
    next_revocation().await;
    let result = router.tokens.authenticate(&token).await;
    assert!(refused(result.clone()), "{result:?}");

    admin
        .set_principal_disabled(SetPrincipalDisabledRequest {
            principal_id: org.clone(),
            disabled: true,
        })
        .await
        .unwrap();
    next_revocation().await;
    let result = router.tokens.authenticate(&org_token).await;
    assert!(refused(result.clone()), "{result:?}");
}
