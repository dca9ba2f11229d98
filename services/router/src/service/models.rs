//! `ListModels`: the catalog models the caller can be served right now, with the provider
//! and key source that would serve each.

use keyroute_proto::router::v1::{ListModelsRequest, ListModelsResponse, ModelInfo};
use keyroute_wire::catalog::Resolution;
use tonic::{Request, Response};

use super::Router;
use crate::error::RouterError;
use crate::policy::candidates::{Candidate, candidates};
use crate::policy::charging::affordable;
use crate::policy::cooldowns::Cooldowns;

impl Router {
    pub(super) async fn routable_models(
        &self,
        request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, RouterError> {
        let caller = self.caller(&request).await?;
        let lease = self.leases.get(&caller).await?;
        let managed = self.managed().await;
        let account = self.accounts.get(&caller.principal_id).await;
        let mut models = Vec::new();
        for model in self.catalog.models() {
            let resolution = Resolution::Catalog {
                model,
                offers: model.offers.iter().collect(),
            };
            // Routable now: a key the caller may use and, for managed keys, credit to pay.
            let routable = candidates(&resolution, &lease, managed.as_deref(), &Cooldowns::new())
                .ok()
                .and_then(|found| {
                    affordable(&model.id, &caller.principal_id, found, account.as_deref()).ok()
                });
            if let Some(found) = routable {
                let first: &Candidate<'_> = &found[0];
                models.push(ModelInfo {
                    id: model.id.clone(),
                    provider: first.provider.id.to_owned(),
                    key_source: first.source.key_source() as i32,
                    display_name: model.display_name.clone(),
                });
            }
        }
        Ok(Response::new(ListModelsResponse { models }))
    }
}
