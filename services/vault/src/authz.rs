//! Authorization, in two steps. A tower layer admits each RPC only from the service
//! identities allowed to call it (by the peer's SPIFFE identity from the mTLS handshake).
//! Handlers then resolve who the change is for: the platform operator (the `admin` identity),
//! or the principal whose gateway token the edge forwarded, and check that principal's role.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use keyroute_tls::{Identity, PeerInfo};

/// The services that may call the vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    Admin,
    Edge,
    Router,
}

impl PeerRole {
    pub fn of(identity: &Identity) -> Option<Self> {
        match identity.name() {
            "admin" => Some(Self::Admin),
            "edge" => Some(Self::Edge),
            "router" => Some(Self::Router),
            _ => None,
        }
    }
}

use PeerRole::{Admin, Edge, Router};

/// Which peers may call each vault RPC. An RPC missing here is denied to everyone.
const VAULT_RPCS: &[(&str, &[PeerRole])] = &[
    ("CreateUser", &[Admin]),
    ("CreateOrg", &[Admin]),
    ("AddMember", &[Admin]),
    ("RemoveMember", &[Admin]),
    ("ListPrincipals", &[Admin]),
    ("GetPrincipal", &[Admin]),
    ("SetPrincipalDisabled", &[Admin]),
    ("IssueToken", &[Admin, Edge]),
    ("RevokeToken", &[Admin, Edge]),
    ("RevokePrincipalTokens", &[Admin]),
    ("ListTokens", &[Admin, Edge]),
    ("Authenticate", &[Admin, Edge, Router]),
    ("StartSession", &[Edge]),
    ("CreateCredential", &[Admin, Edge]),
    ("UpdateCredentialSecret", &[Admin, Edge]),
    ("SetCredentialEnabled", &[Admin, Edge]),
    ("DeleteCredential", &[Admin, Edge]),
    ("RenameCredential", &[Admin, Edge]),
    ("RecordCredentialTestResult", &[Admin, Edge]),
    ("GetCredential", &[Admin, Edge]),
    ("ListCredentials", &[Admin, Edge]),
    ("ListProviderSettings", &[Admin, Edge]),
    ("SetProviderSetting", &[Admin, Edge]),
    ("ListAuditEvents", &[Admin, Edge]),
    ("LeaseCredentials", &[Router]),
    ("WatchRevocations", &[Router]),
    ("RotateKek", &[Admin]),
    ("RecordUsage", &[Router]),
    ("HoldCredits", &[Router]),
    ("RecordCredentialTest", &[Router]),
    ("GetBalance", &[Admin, Edge, Router]),
    ("GrantCredits", &[Admin]),
    ("SetBudget", &[Admin, Edge]),
    ("GetUsage", &[Admin, Edge]),
    ("GetDailyUsage", &[Admin, Edge]),
];

const VAULT_SERVICE: &str = "/keyroute.vault.v1.VaultService/";

/// Whether `identity` may call the gRPC method at `path`. Health checks are open to any
/// authenticated peer (the mTLS handshake already proved it holds a keyroute certificate).
pub fn allowed(path: &str, identity: &Identity) -> Result<(), String> {
    if path.starts_with("/grpc.health.v1.Health/") {
        return Ok(());
    }
    let Some(method) = path.strip_prefix(VAULT_SERVICE) else {
        return Err(format!("{identity} may not call {path}"));
    };
    let allowed = VAULT_RPCS
        .iter()
        .find(|(name, _)| *name == method)
        .map(|(_, roles)| *roles)
        .unwrap_or(&[]);
    match PeerRole::of(identity) {
        Some(role) if allowed.contains(&role) => Ok(()),
        _ => Err(format!("{identity} may not call {method}")),
    }
}

/// The tower layer that enforces [`allowed`] before any handler runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthorizeLayer;

impl<S> tower::Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorize { inner }
    }
}

/// See [`AuthorizeLayer`].
#[derive(Debug, Clone)]
pub struct Authorize<S> {
    inner: S,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for Authorize<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let verdict = match request.extensions().get::<PeerInfo>() {
            None => Err(tonic::Status::unauthenticated("no verified client certificate")),
            Some(peer) => allowed(request.uri().path(), &peer.identity).map_err(|message| {
                tracing::info!(peer = %peer.identity, rpc = request.uri().path(), "denied by peer identity");
                tonic::Status::permission_denied(message)
            }),
        };
        match verdict {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(status) => Box::pin(async move { Ok(status.into_http()) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> Identity {
        Identity::parse(name).unwrap()
    }

    #[test]
    fn the_table_is_enforced() {
        let lease = "/keyroute.vault.v1.VaultService/LeaseCredentials";
        let create = "/keyroute.vault.v1.VaultService/CreateCredential";
        assert!(allowed(lease, &id("router")).is_ok());
        assert!(allowed(lease, &id("edge")).is_err());
        assert!(allowed(lease, &id("admin")).is_err());
        assert!(allowed(create, &id("edge")).is_ok());
        assert!(allowed(create, &id("router")).is_err());
        assert!(allowed(create, &id("platform/billing")).is_err());
        assert!(allowed("/keyroute.vault.v1.VaultService/Nope", &id("admin")).is_err());
        assert!(allowed("/other.Service/Call", &id("admin")).is_err());
        assert!(allowed("/grpc.health.v1.Health/Check", &id("platform/x")).is_ok());
    }
}
