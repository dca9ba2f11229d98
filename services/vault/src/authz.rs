//! Authorization, in two steps. A tower layer admits each RPC only from the service
//! identities allowed to call it (by the peer's SPIFFE identity from the mTLS handshake).
//! Handlers then resolve who the change is for: the platform operator (the `admin` identity),
//! or the principal whose gateway token the edge (or the router, for an internal platform)
//! forwarded, and check that principal's role.
//!
//! Internal platforms never reach the vault themselves: the router passes a fixed set of
//! their management calls through and names the platform, from its verified certificate, in
//! the `x-keyroute-platform` metadata. Only the router may send that entry; a router call
//! carrying it is a [`PeerRole::Platform`] call, admitted to exactly the RPCs the edge makes
//! for a principal, never to the router's own (leases, usage, holds).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use keyroute_proto::contract::header;
use keyroute_tls::{Identity, PeerInfo};

/// The services that may call the vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    Admin,
    Edge,
    Router,
    /// The router speaking for an internal platform (`x-keyroute-platform`): a channel like
    /// the edge's, acting for the principal whose gateway token it forwards.
    Platform,
}

/// The calling service's role, and for [`PeerRole::Platform`] the platform it speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub role: PeerRole,
    pub platform: Option<Identity>,
}

impl PeerRole {
    fn of(identity: &Identity) -> Option<Self> {
        match identity.name() {
            "admin" => Some(Self::Admin),
            "edge" => Some(Self::Edge),
            "router" => Some(Self::Router),
            _ => None,
        }
    }
}

/// Who calls: the peer's identity and, when present, the `x-keyroute-platform` entry
/// (`platform` is `Some` whenever the entry is there, `Some("")` when it is not text).
/// The entry is believed only from the router and only if it names a `platform/<name>`
/// identity; any other use of it is refused, so an edge or a stray header cannot turn a
/// call into something else.
pub fn caller(identity: &Identity, platform: Option<&str>) -> Result<Caller, String> {
    let role =
        PeerRole::of(identity).ok_or_else(|| format!("{identity} may not call the vault"))?;
    let Some(platform) = platform else {
        return Ok(Caller {
            role,
            platform: None,
        });
    };
    if role != PeerRole::Router {
        return Err(format!(
            "{identity} may not send {}: only the router speaks for platforms",
            header::PLATFORM
        ));
    }
    match Identity::parse(platform) {
        Ok(named) if named.name().starts_with("platform/") => Ok(Caller {
            role: PeerRole::Platform,
            platform: Some(named),
        }),
        _ => Err(format!(
            "{} must name a platform identity (platform/<name>)",
            header::PLATFORM
        )),
    }
}

use PeerRole::{Admin, Edge, Platform, Router};

/// Which peers may call each vault RPC. An RPC missing here is denied to everyone.
/// `Platform` holds exactly what the edge offers a principal (keys, settings, audit, money)
/// plus the router's records of a key test it ran for the platform; never tokens, sessions,
/// identities or the router's own leases and usage.
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
    ("CreateCredential", &[Admin, Edge, Platform]),
    ("UpdateCredentialSecret", &[Admin, Edge, Platform]),
    ("SetCredentialEnabled", &[Admin, Edge, Platform]),
    ("DeleteCredential", &[Admin, Edge, Platform]),
    ("RenameCredential", &[Admin, Edge, Platform]),
    ("RecordCredentialTestResult", &[Admin, Edge, Platform]),
    ("GetCredential", &[Admin, Edge, Platform]),
    ("ListCredentials", &[Admin, Edge, Platform]),
    ("ListProviderSettings", &[Admin, Edge, Platform]),
    ("SetProviderSetting", &[Admin, Edge, Platform]),
    ("ListAuditEvents", &[Admin, Edge, Platform]),
    ("LeaseCredentials", &[Router]),
    ("WatchRevocations", &[Router]),
    ("RotateKek", &[Admin]),
    ("RecordUsage", &[Router]),
    ("HoldCredits", &[Router]),
    ("RecordCredentialTest", &[Router, Platform]),
    ("GetBalance", &[Admin, Edge, Router, Platform]),
    ("GrantCredits", &[Admin]),
    ("SetBudget", &[Admin, Edge, Platform]),
    ("GetUsage", &[Admin, Edge, Platform]),
    ("GetDailyUsage", &[Admin, Edge, Platform]),
    ("SetRateLimit", &[Admin, Edge, Platform]),
    ("ListRateLimits", &[Admin, Edge, Platform]),
];

const VAULT_SERVICE: &str = "/keyroute.vault.v1.VaultService/";

/// Whether `identity` (speaking for `platform`, see [`caller`]) may call the gRPC method at
/// `path`. Health checks are open to any authenticated peer (the mTLS handshake already
/// proved it holds a keyroute certificate).
pub fn allowed(path: &str, identity: &Identity, platform: Option<&str>) -> Result<(), String> {
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
    let caller = caller(identity, platform)?;
    if allowed.contains(&caller.role) {
        return Ok(());
    }
    Err(match caller.platform {
        Some(platform) => format!("{platform} may not call {method} through {identity}"),
        None => format!("{identity} may not call {method}"),
    })
}

/// The `x-keyroute-platform` entry of a request, if it has one (`""` if it is not text).
pub fn platform_entry(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(header::PLATFORM)
        .map(|value| value.to_str().unwrap_or_default())
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
            Some(peer) => allowed(
                request.uri().path(),
                &peer.identity,
                platform_entry(request.headers()),
            )
            .map_err(|message| {
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
        assert!(allowed(lease, &id("router"), None).is_ok());
        assert!(allowed(lease, &id("edge"), None).is_err());
        assert!(allowed(lease, &id("admin"), None).is_err());
        assert!(allowed(create, &id("edge"), None).is_ok());
        assert!(allowed(create, &id("router"), None).is_err());
        assert!(allowed(create, &id("platform/billing"), None).is_err());
        assert!(allowed("/keyroute.vault.v1.VaultService/Nope", &id("admin"), None).is_err());
        assert!(allowed("/other.Service/Call", &id("admin"), None).is_err());
        assert!(allowed("/grpc.health.v1.Health/Check", &id("platform/x"), None).is_ok());
    }

    #[test]
    fn the_router_speaks_for_platforms_on_management_calls_only() {
        let rpc = |name: &str| format!("{VAULT_SERVICE}{name}");
        let router = id("router");
        let acme = Some("platform/acme");
        for name in [
            "CreateCredential",
            "ListAuditEvents",
            "GetBalance",
            "GetDailyUsage",
        ] {
            assert!(allowed(&rpc(name), &router, acme).is_ok(), "{name}");
        }
        // The router's own calls are not a platform's, and a platform gets no token,
        // session or identity calls.
        for name in [
            "LeaseCredentials",
            "RecordUsage",
            "HoldCredits",
            "WatchRevocations",
            "Authenticate",
            "IssueToken",
            "StartSession",
            "CreateUser",
            "GrantCredits",
        ] {
            let refused = allowed(&rpc(name), &router, acme).unwrap_err();
            assert!(refused.contains("platform/acme may not call"), "{refused}");
        }
        let full = Some("spiffe://keyroute/platform/acme");
        assert!(allowed(&rpc("ListCredentials"), &router, full).is_ok());
        // Only the router may name a platform, and only a platform identity.
        for (peer, entry) in [
            ("edge", "platform/acme"),
            ("admin", "platform/acme"),
            ("router", "edge"),
            ("router", "router"),
            ("router", "platform"),
            ("router", "platform/"),
            ("router", "spiffe://other/platform/acme"),
            ("router", ""),
        ] {
            assert!(
                allowed(&rpc("ListCredentials"), &id(peer), Some(entry)).is_err(),
                "{peer} naming {entry:?}"
            );
        }
        let named = caller(&router, acme).unwrap();
        assert_eq!(named.role, PeerRole::Platform);
        assert_eq!(named.platform, Some(id("platform/acme")));
    }
}
