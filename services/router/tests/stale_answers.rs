//! The router's caches never keep an answer the vault gave before a revocation the router
//! has since applied. A stand-in in front of a real vault (mTLS both ways) forwards every
//! call, and holds one answer until the test lets it go: the token check or lease is
//! answered, the revocation is made and applied, and only then does the answer arrive.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use keyroute_proto::vault::v1::*;
use keyroute_router::cache::leases::LeaseCache;
use keyroute_router::cache::revocations::{RevocationWatch, watch};
use keyroute_router::cache::tokens::{Caller, TokenCache};
use keyroute_router::error::RouterError;
use keyroute_test_support::{TestVault, with_token};
use keyroute_tls::{ClientTls, Identity, ServerTls};
use tokio::sync::oneshot;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::transport::Channel;

/// How long a test waits for something it expects before calling the router stuck.
const BOUND: Duration = Duration::from_secs(5);

/// One answer to hold: the RPC, who to tell that its answer is in, and what lets it go.
struct Hold {
    method: &'static str,
    answered: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// A vault stand-in: forwards every call to the real vault, holding the answer of one.
#[derive(Clone)]
struct HoldingVault {
    vault: Channel,
    hold: Arc<Mutex<Option<Hold>>>,
}

impl tonic::server::NamedService for HoldingVault {
    const NAME: &'static str = "keyroute.vault.v1.VaultService";
}

impl Service<http::Request<Body>> for HoldingVault {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let mut vault = self.vault.clone();
        let hold = {
            let mut slot = self.hold.lock().unwrap();
            let this_one = slot
                .as_ref()
                .is_some_and(|hold| request.uri().path().ends_with(&format!("/{}", hold.method)));
            if this_one { slot.take() } else { None }
        };
        Box::pin(async move {
            let ready = std::future::poll_fn(|cx| vault.poll_ready(cx)).await;
            let answer = match ready {
                Ok(()) => vault.call(request).await,
                Err(error) => Err(error),
            };
            let answer = match answer {
                Ok(answer) => answer,
                Err(error) => tonic::Status::unavailable(error.to_string()).into_http(),
            };
            if let Some(hold) = hold {
                let _ = hold.answered.send(());
                let _ = hold.release.await;
            }
            Ok(answer)
        })
    }
}

impl HoldingVault {
    /// Holds the next answer to `method`: the first receiver resolves when the vault has
    /// answered, sending on the second lets the answer go.
    fn hold(&self, method: &'static str) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (answered, is_answered) = oneshot::channel();
        let (release, released) = oneshot::channel();
        *self.hold.lock().unwrap() = Some(Hold {
            method,
            answered,
            release: released,
        });
        (is_answered, release)
    }
}

struct Router {
    stand_in: HoldingVault,
    tokens: Arc<TokenCache>,
    leases: Arc<LeaseCache>,
    _watch: RevocationWatch,
}

/// Token and lease caches that ask the stand-in, and a revocation watch on the real vault.
async fn router(vault: &TestVault) -> Router {
    let router_tls = || ClientTls::from_files(vault.pki.paths("router")).unwrap();
    let channel = keyroute_tls::channel(
        &vault.addr.to_string(),
        router_tls(),
        Identity::parse("vault").unwrap(),
    )
    .unwrap();
    let stand_in = HoldingVault {
        vault: channel,
        hold: Arc::new(Mutex::new(None)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = ServerTls::from_files(vault.pki.paths("vault")).unwrap();
    let server = tonic::transport::Server::builder()
        .add_service(stand_in.clone())
        .serve_with_incoming(keyroute_tls::incoming(listener, tls));
    tokio::spawn(server);

    let through_stand_in =
        keyroute_router::vault::connect(&addr.to_string(), router_tls()).unwrap();
    let direct = keyroute_router::vault::connect(&vault.addr.to_string(), router_tls()).unwrap();
    let tokens = Arc::new(TokenCache::new(
        through_stand_in.clone(),
        Duration::from_secs(30),
    ));
    let leases = LeaseCache::new(through_stand_in);
    let mut watch = watch(direct, leases.clone(), tokens.clone());
    tokio::time::timeout(BOUND, watch.connections.wait_for(|n| *n >= 1))
        .await
        .unwrap()
        .unwrap();
    Router {
        stand_in,
        tokens,
        leases,
        _watch: watch,
    }
}

#[tokio::test]
async fn a_token_check_answered_before_its_revocation_is_not_cached() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("stale-token").await;
    let mut admin = vault.client("admin");
    let token_id = admin
        .list_tokens(ListTokensRequest {
            principal_id: user.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens[0]
        .id
        .clone();
    let router = router(&vault).await;
    let mut revocations = router.tokens.revocations();
    let applied = *revocations.borrow_and_update();

    let (answered, release) = router.stand_in.hold("Authenticate");
    let check = tokio::spawn({
        let (tokens, token) = (router.tokens.clone(), token.clone());
        async move { tokens.authenticate(&token).await }
    });
    tokio::time::timeout(BOUND, answered)
        .await
        .unwrap()
        .unwrap();
    // The vault said yes; now the token is revoked, and the router applies the revocation
    // before that yes reaches it.
    admin
        .revoke_token(RevokeTokenRequest { token_id })
        .await
        .unwrap();
    tokio::time::timeout(BOUND, revocations.wait_for(|n| *n > applied))
        .await
        .unwrap()
        .unwrap();
    release.send(()).unwrap();

    let raced = check.await.unwrap();
    assert!(
        matches!(raced, Err(RouterError::Unauthenticated(_))),
        "an answer overtaken by a revocation is asked for again: {raced:?}"
    );
    let later = router.tokens.authenticate(&token).await;
    assert!(
        matches!(later, Err(RouterError::Unauthenticated(_))),
        "and never served from the cache: {later:?}"
    );
}

#[tokio::test]
async fn a_lease_made_before_a_revocation_is_not_cached() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("stale-lease").await;
    let credential = vault
        .client("edge")
        .create_credential(with_token(
            CreateCredentialRequest {
                owner_id: user.clone(),
                provider: "openai".into(),
                secret: "sk-stale-lease-0123456789".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    let router = router(&vault).await;
    let caller = Arc::new(Caller {
        principal_id: user,
        token_id: String::new(),
        org_ids: Vec::new(),
    });
    let mut invalidations = router.leases.invalidations();
    let applied = *invalidations.borrow_and_update();

    let (answered, release) = router.stand_in.hold("LeaseCredentials");
    let lease = tokio::spawn({
        let (leases, caller) = (router.leases.clone(), caller.clone());
        async move { leases.get(&caller).await }
    });
    tokio::time::timeout(BOUND, answered)
        .await
        .unwrap()
        .unwrap();
    vault
        .client("admin")
        .set_credential_enabled(SetCredentialEnabledRequest {
            credential_id: credential.id.clone(),
            enabled: false,
        })
        .await
        .unwrap();
    tokio::time::timeout(BOUND, invalidations.wait_for(|n| *n > applied))
        .await
        .unwrap()
        .unwrap();
    release.send(()).unwrap();

    let raced = lease.await.unwrap().unwrap();
    assert!(
        raced.keys.is_empty(),
        "a lease overtaken by a revocation is asked for again: {:?}",
        raced.keys
    );
    let later = router.leases.get(&caller).await.unwrap();
    assert!(
        later.keys.iter().all(|key| key.id != credential.id),
        "and the disabled key is never served from the cache"
    );
    assert_eq!(router.leases.vault_calls(), 2);
}
