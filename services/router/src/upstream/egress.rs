//! The egress policy at connect time: the resolver of the pooled clients, which for
//! destinations users supply keeps only the addresses the policy allows, so a name resolving
//! to loopback, link-local or a private range (DNS rebinding included: this is the lookup the
//! connection uses) is refused with the rule named. Address literals never reach a resolver;
//! `Base::literal` (checked before sending) covers them and `localhost`.

use std::error::Error;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;
use keyroute_egress::{EgressPolicy, Refused};
use keyroute_wire::error::WireError;

/// What connectors and resolvers fail with: whatever caused it, kept for `refusal`.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// Resolves names with the system resolver; with a policy (user-supplied destinations), drops
/// the addresses it refuses, and fails naming the rule when none is left.
#[derive(Debug, Clone)]
pub struct Resolver {
    pub policy: Option<Arc<EgressPolicy>>,
}

type Resolving =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, BoxError>> + Send>>;

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
            match policy {
                Some(policy) => guard(&policy, host, found).map(Vec::into_iter),
                None => Ok(found.into_iter()),
            }
        })
    }
}

/// The addresses of `host` the policy allows, or why there are none.
fn guard(
    policy: &EgressPolicy,
    host: &str,
    found: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, BoxError> {
    if policy.allows_host(host) {
        return Ok(found);
    }
    let mut refused = None;
    let allowed: Vec<SocketAddr> = found
        .into_iter()
        .filter(|addr| match policy.check_ip(addr.ip()) {
            Ok(()) => true,
            Err(why) => {
                refused.get_or_insert(why);
                false
            }
        })
        .collect();
    if let Some(why) = refused.filter(|_| allowed.is_empty()) {
        let named = Refused {
            target: format!("{host} ({})", why.target),
            rule: why.rule,
        };
        return Err(Box::new(named));
    }
    Ok(allowed)
}

/// The refusal behind a failed request, if the egress policy is why it failed.
pub fn refusal<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a Refused> {
    let mut source = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<Refused>() {
            return Some(refused);
        }
        source = current.source();
    }
    None
}

/// A destination the policy refuses, as the caller's error: the key's configuration is at
/// fault, so no retry helps.
pub fn refused_error(provider: &'static str, refused: &Refused) -> WireError {
    let mut error = WireError::from_status(
        provider,
        403,
        "destination_refused",
        format!("the key's destination {refused}"),
    );
    error.kind = keyroute_wire::error::ErrorKind::InvalidRequest;
    error.retryable = false;
    error
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    fn addr(ip: [u8; 4]) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), 0)
    }

    #[test]
    fn refused_addresses_are_dropped_and_none_left_names_the_rule() {
        let strict = EgressPolicy::strict();
        let kept = guard(
            &strict,
            "mixed.example",
            vec![addr([10, 0, 0, 1]), addr([8, 8, 8, 8])],
        );
        assert_eq!(kept.unwrap(), vec![addr([8, 8, 8, 8])]);
        let error = guard(&strict, "rebind.example", vec![addr([169, 254, 169, 254])]).unwrap_err();
        let refused = refusal(&*error).unwrap();
        assert_eq!(refused.target, "rebind.example (169.254.169.254)");
        assert!(
            refused_error("custom", refused)
                .message
                .contains("link-local address, which the egress policy refuses")
        );
        let mut allowing = EgressPolicy::strict();
        allowing.allow("rebind.example").unwrap();
        assert!(guard(&allowing, "rebind.example", vec![addr([127, 0, 0, 1])]).is_ok());
    }
}
