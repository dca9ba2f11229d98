//! Which keys may serve a request, in the order they are tried: the caller's enabled
//! personal keys, then each org's (membership order), whose provider serves the model and
//! whose settings allow the owner's own keys; then the platform's managed keys when the
//! caller's settings and fallback policy allow. Keys cooling down are skipped. Pure: the
//! inputs are the catalog resolution, the leases and the cooldowns.

use std::time::Instant;

use keyroute_proto::vault::v1::{FallbackPolicy, ProviderMode, ProviderSetting};
use keyroute_wire::canonical::pb::ChatRequest;
use keyroute_wire::catalog::{Offer, Resolution};
use keyroute_wire::contract::{Contract, Operation};
use keyroute_wire::registry::Provider;

pub use crate::cache::accounts::Source;
use crate::cache::leases::{Lease, LeasedKey};
use crate::error::RouterError;
use crate::policy::cooldowns::Cooldowns;
use crate::upstream::Target;

/// One key to try.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub key: &'a LeasedKey,
    pub provider: &'static Provider,
    /// How to call the provider with this key: format, flavour, base URL, authorization.
    pub contract: Contract<'a>,
    /// The provider's name for the model.
    pub upstream_model: String,
    /// The catalog offer, for prices; absent for uncataloged models.
    pub offer: Option<&'a Offer>,
    pub source: Source,
}

impl<'a> Candidate<'a> {
    /// The one place the router asks the registry's contract for a key: chosen here, once.
    fn new(
        key: &'a LeasedKey,
        provider: &'static Provider,
        upstream: &str,
        offer: Option<&'a Offer>,
        source: Source,
    ) -> Self {
        let publisher = offer.map(|o| o.format.as_str());
        let mut contract = Contract::new(provider, publisher, upstream, &key.config);
        if source == Source::Managed {
            // The caller pays the catalog price: nothing unpriced reaches the platform's key.
            contract = contract.priced_only();
        }
        Self {
            key,
            provider,
            upstream_model: contract.upstream_model(upstream).to_owned(),
            contract,
            offer,
            source,
        }
    }

    /// What the upstream needs to call this candidate.
    pub fn target(&self) -> Target<'_> {
        Target {
            key: self.key,
            contract: &self.contract,
            model: &self.upstream_model,
        }
    }
}

/// Why no key can serve the request, in words for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRoute {
    pub reasons: Vec<String>,
    /// The earliest a cooling key may be tried again, if that is what stood in the way.
    pub retry_at: Option<Instant>,
}

impl NoRoute {
    /// The caller's error for `model`: retryable when cooling keys are what stands in the way.
    pub fn for_model(self, model: &str) -> RouterError {
        RouterError::NoRoute {
            message: format!("cannot route {model}: {self}"),
            retry_at: self.retry_at,
        }
    }
}

impl std::fmt::Display for NoRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reasons.join("; "))
    }
}

fn setting<'s>(
    settings: &'s [ProviderSetting],
    owner_id: &str,
    provider: &str,
) -> Option<&'s ProviderSetting> {
    settings
        .iter()
        .find(|s| s.owner_id == owner_id && s.provider == provider)
}

fn mode(settings: &[ProviderSetting], owner_id: &str, provider: &str) -> ProviderMode {
    setting(settings, owner_id, provider).map_or(ProviderMode::CustomKey, ProviderSetting::mode)
}

fn fallback(settings: &[ProviderSetting], owner_id: &str, provider: &str) -> FallbackPolicy {
    setting(settings, owner_id, provider)
        .map_or(FallbackPolicy::WhenNoKey, ProviderSetting::fallback_policy)
}

/// Orders the keys that may serve `resolution` for `caller_lease`.
pub fn candidates<'a>(
    resolution: &'a Resolution<'a>,
    caller_lease: &'a Lease,
    managed: Option<&'a Lease>,
    cooldowns: &Cooldowns,
) -> Result<Vec<Candidate<'a>>, NoRoute> {
    let targets = resolution.targets();
    let caller = caller_lease.principal_id.as_str();
    let settings = &caller_lease.settings;
    let mut reasons = Vec::new();
    let mut retry_at: Option<Instant> = None;
    let mut cooled = |until: Instant| retry_at = Some(retry_at.map_or(until, |at| at.min(until)));

    let mut byok = Vec::new();
    // Keys the caller has for this model, usable or cooling: a cooling key failed, which is
    // `when_key_fails` territory, not `when_no_key`.
    let mut has_own_key = false;
    for key in &caller_lease.keys {
        let Some((provider, upstream, offer)) =
            targets.iter().find(|(p, _, _)| p.id == key.provider)
        else {
            continue;
        };
        if resolution
            .required_label()
            .is_some_and(|label| key.label != label)
        {
            continue;
        }
        if mode(settings, caller, &key.provider) == ProviderMode::Disabled
            || mode(settings, &key.owner_id, &key.provider) == ProviderMode::Disabled
        {
            reasons.push(format!(
                "{} is disabled in your provider settings",
                key.provider
            ));
            continue;
        }
        if mode(settings, &key.owner_id, &key.provider) == ProviderMode::Managed
            || mode(settings, caller, &key.provider) == ProviderMode::Managed
        {
            continue;
        }
        has_own_key = true;
        let candidate = Candidate::new(key, provider, upstream, *offer, Source::Byok);
        if let Some(until) = cooldowns.cooling_for(&key.id, &candidate.upstream_model) {
            cooled(until);
            reasons.push(format!(
                "your {} key {} is cooling down after a failure",
                key.provider, key.fingerprint
            ));
            continue;
        }
        byok.push(candidate);
    }

    let mut managed_candidates = Vec::new();
    if let Some(platform) = managed {
        for (provider, upstream, offer) in &targets {
            // Uncataloged models have no price, and pinned deployments are the caller's own.
            if offer.is_none() {
                continue;
            }
            let allowed = match mode(settings, caller, provider.id) {
                ProviderMode::Disabled => false,
                ProviderMode::Managed => true,
                _ => match fallback(settings, caller, provider.id) {
                    FallbackPolicy::Never => false,
                    FallbackPolicy::WhenKeyFails => true,
                    _ => !has_own_key,
                },
            };
            if !allowed {
                continue;
            }
            for key in platform.keys.iter().filter(|k| k.provider == provider.id) {
                let candidate = Candidate::new(key, provider, upstream, *offer, Source::Managed);
                if let Some(until) = cooldowns.cooling_for(&key.id, &candidate.upstream_model) {
                    cooled(until);
                    continue;
                }
                managed_candidates.push(candidate);
            }
        }
    }

    let mut all = byok;
    all.extend(managed_candidates);
    if all.is_empty() {
        let providers: Vec<&str> = targets.iter().map(|(p, _, _)| p.id).collect();
        if reasons.is_empty() {
            // Managed routing exists for this model only if the platform holds a key for one
            // of its priced offers.
            let platform_serves = managed.is_some_and(|platform| {
                platform.keys.iter().any(|key| {
                    targets
                        .iter()
                        .any(|(p, _, offer)| p.id == key.provider && offer.is_some())
                })
            });
            let managed_part = if !platform_serves {
                "managed routing is not available for this model"
            } else {
                "your settings do not allow managed keys for it"
            };
            reasons.push(format!(
                "you have no enabled key for {}, and {managed_part}",
                providers.join(" or ")
            ));
        }
        return Err(NoRoute { reasons, retry_at });
    }
    Ok(all)
}

/// Why no candidate can serve a request that needs `operation`, in words for the caller.
fn unserved(operation: Operation) -> String {
    match operation {
        Operation::ContinueResponse => "previous_response_id needs an OpenAI or Azure OpenAI key: \
            those upstreams keep responses; keyroute keeps none — send the conversation as \
            input with store: false"
            .to_owned(),
        Operation::HostedTools => "this request leaves the model only OpenAI's hosted tools \
            (web_search, file_search...), which run only with your own OpenAI or Azure OpenAI \
            key — declare function tools, or let the model choose (tool_choice: auto)"
            .to_owned(),
        other => format!("no key for this model serves {other:?}"),
    }
}

/// The candidates as they serve `request` (see [`Contract::serving`]: a Responses request
/// reaches OpenAI and Azure through their Responses endpoint), without those that cannot
/// serve what it needs: a stored response to continue, hosted tools to run. None left is the
/// caller's error: the request asks for what only other keys give.
pub fn serving<'a>(
    found: Vec<Candidate<'a>>,
    request: &ChatRequest,
) -> Result<Vec<Candidate<'a>>, RouterError> {
    let needed = Operation::required_by(request);
    let mut kept = Vec::with_capacity(found.len());
    let mut missing = None;
    for mut candidate in found {
        candidate.contract = candidate.contract.serving(request);
        match needed
            .iter()
            .find(|operation| !candidate.contract.supports(**operation))
        {
            Some(operation) => {
                missing.get_or_insert(*operation);
            }
            None => kept.push(candidate),
        }
    }
    match missing {
        Some(operation) if kept.is_empty() => {
            Err(RouterError::InvalidArgument(unserved(operation)))
        }
        _ => Ok(kept),
    }
}

#[cfg(test)]
mod tests;
