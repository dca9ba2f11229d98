//! What every call starts with: the peer may call the router, the gateway token names a
//! principal, the request is well formed, and the model resolves to keys the caller may use
//! and pay for.

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use keyroute_proto::router::v1::ChatRequest;
use keyroute_telemetry::OpenTelemetrySpanExt;
use keyroute_tls::PeerInfo;
use keyroute_wire::catalog::Resolution;
use tonic::Request;

use super::Router;
use crate::cache::accounts::Account;
use crate::cache::accounts::Source;
use crate::cache::leases::Lease;
use crate::cache::reservations::Reservation;
use crate::cache::tokens::Caller;
use crate::error::RouterError;
use crate::policy::candidates::{Candidate, candidates, serving};
use crate::policy::charging::{affordable, request_id, reservation_estimate, shortfall_error};

/// The built-in owner of the platform's managed keys.
const PLATFORM: &str = "platform";

/// The platform as a caller, built once: asking for managed keys allocates nothing.
static PLATFORM_CALLER: LazyLock<Arc<Caller>> = LazyLock::new(|| {
    Arc::new(Caller {
        principal_id: PLATFORM.into(),
        token_id: String::new(),
        org_ids: Vec::new(),
    })
});

/// Only the edge and internal platforms (`spiffe://keyroute/platform/<name>`) call the router.
fn check_peer<T>(request: &Request<T>) -> Result<(), RouterError> {
    let peer = request
        .extensions()
        .get::<PeerInfo>()
        .ok_or_else(|| RouterError::Unauthenticated("no verified client certificate".into()))?;
    let name = peer.identity.name();
    if name == "edge" || name.starts_with("platform/") {
        return Ok(());
    }
    Err(RouterError::PermissionDenied(format!(
        "{} may not call the router",
        peer.identity
    )))
}

/// The gateway token the caller presents (`authorization: Bearer kr_...`).
pub(super) fn bearer<T>(request: &Request<T>) -> Result<String, RouterError> {
    let value = request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    keyroute_proto::bearer_token(value)
        .map(str::to_owned)
        .ok_or_else(|| {
            RouterError::Unauthenticated(
                "a gateway token is required as `authorization: Bearer kr_...`".into(),
            )
        })
}

/// A chat call, opened: who asks, under which request id, for what, since when.
pub(super) struct Opening {
    pub caller: Arc<Caller>,
    pub request_id: String,
    pub chat: ChatRequest,
    pub started: Instant,
    /// keyroute's estimate of the input tokens, for reservations and cut-short charges.
    pub input_estimate: u64,
}

/// What routing one request needs, gathered once: the model's resolution, the caller's and
/// the platform's keys, and what the caller may spend.
pub(super) struct Plan<'c> {
    pub resolution: Resolution<'c>,
    pub lease: Arc<Lease>,
    pub managed: Option<Arc<Lease>>,
    pub account: Option<Arc<Account>>,
}

impl Plan<'_> {
    /// The model as a metric label: a catalog id, else `other`, so that callers cannot mint
    /// label values (every `openai/<anything>` would be a new series, never dropped).
    pub fn model_label(&self) -> &str {
        match &self.resolution {
            Resolution::Catalog { model, .. } => &model.id,
            _ => "other",
        }
    }
}

impl Router {
    pub(super) async fn caller<T>(&self, request: &Request<T>) -> Result<Arc<Caller>, RouterError> {
        check_peer(request)?;
        let token = bearer(request)?;
        let caller = self.tokens.authenticate(&token).await?;
        // The call's server span names whom it serves (its upstream attempts sit under it).
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.set_attribute("keyroute.principal.id", caller.principal_id.clone());
        }
        Ok(caller)
    }

    /// The caller, the request id and the validated chat request of a chat-shaped call.
    pub(super) async fn open<T>(
        &self,
        request: Request<T>,
        chat: impl FnOnce(T) -> Option<ChatRequest>,
    ) -> Result<Opening, RouterError> {
        let started = Instant::now();
        let caller = self.caller(&request).await?;
        let request_id = request_id(request.metadata());
        let chat = Self::validate(chat(request.into_inner()))?;
        let input_estimate = u64::from(keyroute_wire::estimate::input_tokens(&chat));
        Ok(Opening {
            caller,
            request_id,
            chat,
            started,
            input_estimate,
        })
    }

    /// The platform's managed keys; routing goes on without them when the vault cannot say.
    pub(super) async fn managed(&self) -> Option<Arc<Lease>> {
        match self.leases.get(&PLATFORM_CALLER).await {
            Ok(lease) => Some(lease),
            Err(error) => {
                tracing::warn!(%error, "managed keys unavailable");
                None
            }
        }
    }

    fn validate(request: Option<ChatRequest>) -> Result<ChatRequest, RouterError> {
        let invalid = |message: &str| RouterError::InvalidArgument(message.into());
        let request = request.ok_or_else(|| invalid("request is required"))?;
        if request.model.trim().is_empty() {
            return Err(invalid("request.model is required"));
        }
        if request.messages.is_empty() && request.fim.is_none() {
            return Err(invalid("request.messages must not be empty"));
        }
        Ok(request)
    }

    /// Resolves the requested model against the catalog in use. A model its provider has
    /// retired is refused like an unknown one (not found, the caller's error), naming the
    /// successor: both providers answer a retired model with 404, and so do their SDKs'
    /// `NotFoundError`s, where a 410 would surface as an untyped status.
    pub(super) fn resolve<'c>(&'c self, model: &str) -> Result<Resolution<'c>, RouterError> {
        let resolution = self
            .catalog
            .resolve(model)
            .map_err(|unknown| RouterError::NotFound(unknown.to_string()))?;
        // Only a model with an announced retirement can be retired: the rest (nearly every
        // request) skip reading the clock.
        if let Resolution::Catalog { model, .. } = &resolution
            && model.lifecycle.retires_on.is_some()
        {
            self.catalog
                .check_retired(&model.id)
                .map_err(|retired| RouterError::NotFound(retired.to_string()))?;
        }
        Ok(resolution)
    }

    pub(super) async fn plan(&self, opening: &Opening) -> Result<Plan<'_>, RouterError> {
        // Counted here too: an unknown model or an unreachable vault is a failed request.
        let count = |error: &RouterError| self.metrics.request("", "other", "", error.outcome());
        Ok(Plan {
            resolution: self.resolve(&opening.chat.model).inspect_err(count)?,
            lease: self.leases.get(&opening.caller).await.inspect_err(count)?,
            managed: self.managed().await,
            account: self.accounts.get(&opening.caller.principal_id).await,
        })
    }

    /// The keys to try, in order, among those the caller can pay for.
    pub(super) fn choose<'p>(
        &self,
        plan: &'p Plan<'_>,
        opening: &Opening,
    ) -> Result<Vec<Candidate<'p>>, RouterError> {
        let model = opening.chat.model.as_str();
        candidates(
            &plan.resolution,
            &plan.lease,
            plan.managed.as_deref(),
            &self.cooldowns,
        )
        .map_err(|no_route| no_route.for_model(model))
        .and_then(|found| serving(found, &opening.chat))
        .and_then(|found| {
            affordable(
                model,
                &opening.caller.principal_id,
                found,
                plan.account.as_deref(),
            )
        })
        .inspect_err(|_| self.metrics.request("", plan.model_label(), "", "no_route"))
    }

    /// The keys to try, and the credit held for the call if a managed key may serve it:
    /// managed keys are tried only if the caller's balance, less what its calls in flight
    /// hold, covers this call's estimate.
    pub(super) async fn choose_and_reserve<'p>(
        &self,
        plan: &'p Plan<'_>,
        opening: &Opening,
    ) -> Result<(Vec<Candidate<'p>>, Option<Reservation>), RouterError> {
        let mut found = self.choose(plan, opening)?;
        let max_tokens = opening.chat.sampling.as_ref().and_then(|s| s.max_tokens);
        let (Some(micros), Some(account)) = (
            reservation_estimate(&found, opening.input_estimate, max_tokens),
            plan.account.as_deref(),
        ) else {
            return Ok((found, None));
        };
        let principal = &opening.caller.principal_id;
        match self
            .reservations
            .reserve(principal, account.balance_micros(), micros)
            .await
        {
            Ok(reservation) => Ok((found, Some(reservation))),
            Err(shortfall) => {
                found.retain(|c| c.source == Source::Byok);
                if found.is_empty() {
                    self.metrics.request("", plan.model_label(), "", "no_route");
                    return Err(shortfall_error(&opening.chat.model, &shortfall));
                }
                Ok((found, None))
            }
        }
    }
}
