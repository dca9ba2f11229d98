//! `ListModels`: every id the caller can route now, with the provider and key source that
//! would serve it. Each catalog id (served by the first key that can), the same id pinned to
//! each provider that can serve it (`anthropic/...`, `bedrock/...`, `vertex/...`), the
//! caller's Azure deployments (`azure/<label>`), and the models their keys' providers list
//! that the catalog lacks (`openai/<id>`, `custom/<name>/<id>`: their own keys only, never
//! managed ones, which serve priced models alone). Every id is checked the way a request for
//! it is routed, so each one listed routes where it says.

use std::collections::HashSet;
use std::time::Duration;

use keyroute_proto::router::v1::{ListModelsRequest, ListModelsResponse, ModelInfo};
use keyroute_wire::catalog::Resolution;
use keyroute_wire::registry::{self, WireFormat};
use tonic::{Request, Response};

use super::Router;
use crate::cache::accounts::Account;
use crate::cache::leases::{Lease, LeasedKey};
use crate::error::RouterError;
use crate::policy::candidates::candidates;
use crate::policy::charging::affordable;
use crate::policy::cooldowns::Cooldowns;
use crate::upstream::Discovery;

/// The longest a listing waits for keys' providers to list their models; a slower provider
/// shows its last list (or none) and its refresh goes on for the next listing.
const DISCOVERY_WAIT: Duration = Duration::from_secs(5);

/// The ids listed so far, in order, without repeats.
#[derive(Default)]
struct Listing {
    seen: HashSet<String>,
    models: Vec<ModelInfo>,
}

impl Listing {
    fn has(&self, id: &str) -> bool {
        self.seen.contains(id)
    }

    fn push(&mut self, model: ModelInfo) {
        if self.seen.insert(model.id.clone()) {
            self.models.push(model);
        }
    }
}

/// What a listing routes against: the caller's lease, the platform's, the caller's account.
struct Routing<'a> {
    lease: &'a Lease,
    managed: Option<&'a Lease>,
    account: Option<&'a Account>,
}

impl Routing<'_> {
    /// The entry for `id` if a request for it would be served now (a key the caller may use
    /// and, for managed keys, credit to pay), named after the key that would serve it.
    fn entry(&self, id: &str, resolution: &Resolution<'_>) -> Option<ModelInfo> {
        let found = candidates(resolution, self.lease, self.managed, &Cooldowns::new()).ok()?;
        let found = affordable(id, &self.lease.principal_id, found, self.account).ok()?;
        let first = found.first()?;
        let display_name = match resolution {
            Resolution::Catalog { model, .. } => model.display_name.clone(),
            _ => String::new(),
        };
        Some(ModelInfo {
            id: id.to_owned(),
            provider: first.provider.id.to_owned(),
            key_source: first.source.key_source() as i32,
            display_name,
            upstream: first.upstream_model.clone(),
            discovered: false,
        })
    }
}

/// The id a key's listed model is asked for by: its provider's prefix, or the custom
/// endpoint's name.
fn pinned_id(key: &LeasedKey, model: &str) -> String {
    if key.provider == "custom" {
        format!("custom/{}/{model}", key.label)
    } else {
        format!("{}/{model}", key.provider)
    }
}

impl Router {
    pub(super) async fn routable_models(
        &self,
        request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, RouterError> {
        let caller = self.caller(&request).await?;
        let lease = self.leases.get(&caller).await?;
        let managed = self.managed().await;
        let account = self.accounts.get(&caller.principal_id).await;
        let discovered = self.discover_all(&lease.keys).await;
        let routing = Routing {
            lease: &lease,
            managed: managed.as_deref(),
            account: account.as_deref(),
        };
        let mut listing = Listing::default();
        for model in self.catalog.models() {
            let ids = std::iter::once(model.id.clone()).chain(
                model
                    .offers
                    .iter()
                    // `azure/<x>` names a deployment (listed below), not a catalog model.
                    .filter(|offer| offer.provider.id != "azure")
                    .map(|offer| format!("{}/{}", offer.provider.id, model.id)),
            );
            for id in ids {
                // Resolved as a request is: a retired model is refused there, and skipped here.
                let Ok(resolution) = self.resolve(&id) else {
                    continue;
                };
                if let Some(entry) = routing.entry(&id, &resolution) {
                    listing.push(entry);
                }
            }
        }
        for key in &lease.keys {
            let deployment = registry::provider(&key.provider)
                .is_some_and(|p| p.format == WireFormat::AzureOpenAi);
            if deployment && !key.label.is_empty() {
                let id = format!("azure/{}", key.label);
                if let Ok(resolution) = self.resolve(&id)
                    && let Some(entry) = routing.entry(&id, &resolution)
                {
                    listing.push(entry);
                }
            }
        }
        for (key, discovery) in &discovered {
            for listed in discovery.models() {
                let id = pinned_id(key, &listed.id);
                if listing.has(&id) {
                    continue;
                }
                // A model the catalog knows is listed above, under its catalog id.
                let Ok(resolution) = self.resolve(&id) else {
                    continue;
                };
                if matches!(resolution, Resolution::Catalog { .. }) {
                    continue;
                }
                if let Some(mut entry) = routing.entry(&id, &resolution) {
                    entry.display_name = listed.display_name.clone();
                    entry.upstream = listed.id.clone();
                    entry.discovered = true;
                    listing.push(entry);
                }
            }
        }
        Ok(Response::new(ListModelsResponse {
            models: listing.models,
        }))
    }

    /// What each of the caller's keys' providers lists, asked together and waited for at
    /// most [`DISCOVERY_WAIT`]; kept answers come at once.
    async fn discover_all<'k>(&self, keys: &'k [LeasedKey]) -> Vec<(&'k LeasedKey, Discovery)> {
        let asks = keys.iter().map(|key| async move {
            let discovery = self.upstreams.discover(key, DISCOVERY_WAIT, false).await?;
            Some((key, discovery))
        });
        futures::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}
