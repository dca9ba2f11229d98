//! The egress policy at connect time: a DNS resolver for destinations users supply that
//! keeps only the addresses the policy allows, so a name resolving to loopback, link-local
//! or a private range (DNS rebinding included: this is the lookup the connection uses) is
//! refused with the rule named. Address literals never reach a resolver; `check_literal`
//! covers them before sending.

use std::net::SocketAddr;
use std::sync::Arc;

use keyroute_egress::{EgressPolicy, Refused};
use keyroute_wire::error::WireError;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Resolves names for user-supplied destinations, dropping refused addresses.
#[derive(Debug)]
pub struct GuardedResolver {
    pub policy: Arc<EgressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if policy.allows_host(&host) {
                let addrs: Addrs = Box::new(found.into_iter());
                return Ok(addrs);
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
                return Err(Box::new(named) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The refusal behind a failed request, if the egress policy is why it failed.
pub fn refusal(error: &reqwest::Error) -> Option<&Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
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

/// Checks a URL's host as written: an address literal (`http://10.0.0.1/`), which no
/// resolver sees, and `localhost`.
pub fn check_literal(policy: &EgressPolicy, url: &reqwest::Url) -> Result<(), Refused> {
    policy.check_host(url.host_str().unwrap_or_default())
}
