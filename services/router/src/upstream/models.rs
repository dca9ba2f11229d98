//! Asking a provider which models a key can use: the contract's list request, page after
//! page, through the same clients, authorization and egress checks as every other call, and
//! bounded in pages, models and time.

use std::collections::HashSet;
use std::time::Duration;

use keyroute_wire::contract::ListedModel;
use keyroute_wire::error::WireError;

use super::{Target, Upstreams};

/// The most pages followed for one key: 20 pages of up to 1000 models.
const MAX_PAGES: usize = 20;
/// The most models kept for one key; the rest of a longer list is dropped.
pub const MAX_MODELS: usize = 2000;
/// The longest a whole listing may take, pages included.
const LIST_DEADLINE: Duration = Duration::from_secs(20);

impl Upstreams {
    /// The models the target's key can use, as its provider lists them (in its order, without
    /// repeats), or why it would not say.
    pub async fn list_models(&self, target: Target<'_>) -> Result<Vec<ListedModel>, WireError> {
        let contract = target.contract;
        let listing = async {
            let mut models: Vec<ListedModel> = Vec::new();
            let mut seen: HashSet<String> = HashSet::new();
            let mut cursor: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let http = contract.list_models_request(cursor.as_deref())?;
                let deadline = self.timeouts.first_byte;
                let page = self
                    .fetch(target, http, deadline, |status, body| {
                        contract.parse_model_list(status, body)
                    })
                    .await?;
                for model in page.models {
                    if models.len() >= MAX_MODELS {
                        return Ok(models);
                    }
                    if seen.insert(model.id.clone()) {
                        models.push(model);
                    }
                }
                // A cursor that does not move would loop: stop there.
                match page.next {
                    Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                    _ => return Ok(models),
                }
            }
            Ok(models)
        };
        tokio::time::timeout(LIST_DEADLINE, listing)
            .await
            .map_err(|_| {
                WireError::from_status(
                    contract.provider.id,
                    504,
                    "timeout",
                    format!("{} did not list its models in time", contract.provider.id),
                )
            })?
    }
}
