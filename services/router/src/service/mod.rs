//! `RouterService` over gRPC: who is calling (the edge or an internal platform, by mTLS
//! identity; the principal by gateway token), which model, which keys, and the answer.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::{Stream, StreamExt};
use keyroute_proto::router::v1::router_service_server::RouterService;
use keyroute_proto::router::v1::*;
use keyroute_tls::PeerInfo;
use keyroute_wire::catalog::{Catalog, Resolution};
use keyroute_wire::error::ErrorKind;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

mod count;

use crate::cache::accounts::{Account, Accounts};
use crate::cache::leases::{Lease, LeaseCache};
use crate::cache::tokens::{Caller, TokenCache};
use crate::cache::usage::UsageReporter;
use crate::metrics::Metrics;
use crate::policy::candidates::{Candidate, NoRoute, candidates};
use crate::policy::charging::{Meter, affordable, request_id};
use crate::policy::cooldowns::Cooldowns;
use crate::policy::fallback::{self, RouteFailure};
use crate::upstream::Upstreams;
use crate::vault::{VaultClient, vault_error};

/// The built-in owner of the platform's managed keys.
const PLATFORM: &str = "platform";

/// The platform as a caller, built once: asking for managed keys allocates nothing.
static PLATFORM_CALLER: std::sync::LazyLock<Arc<Caller>> = std::sync::LazyLock::new(|| {
    Arc::new(Caller {
        principal_id: PLATFORM.into(),
        token_id: String::new(),
        org_ids: Vec::new(),
    })
});

/// Everything a request needs, shared by all of them.
#[derive(Debug, Clone)]
pub struct Router {
    pub tokens: Arc<TokenCache>,
    pub leases: Arc<LeaseCache>,
    pub catalog: Arc<Catalog>,
    pub upstreams: Arc<Upstreams>,
    pub cooldowns: Arc<Cooldowns>,
    pub metrics: Arc<Metrics>,
    pub accounts: Arc<Accounts>,
    pub usage: Arc<UsageReporter>,
    /// For audit records; leases, tokens and balances have their own caches.
    pub vault: VaultClient,
}

/// Only the edge and internal platforms (`spiffe://keyroute/platform/<name>`) call the router.
fn check_peer<T>(request: &Request<T>) -> Result<(), Status> {
    let peer = request
        .extensions()
        .get::<PeerInfo>()
        .ok_or_else(|| Status::unauthenticated("no verified client certificate"))?;
    let name = peer.identity.name();
    if name == "edge" || name.starts_with("platform/") {
        return Ok(());
    }
    Err(Status::permission_denied(format!(
        "{} may not call the router",
        peer.identity
    )))
}

fn bearer<T>(request: &Request<T>) -> Result<String, Status> {
    let value = request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    keyroute_proto::bearer_token(value)
        .map(str::to_owned)
        .ok_or_else(|| {
            Status::unauthenticated("a gateway token is required as `authorization: Bearer kr_...`")
        })
}

/// An upstream failure as a status: where it came from, whether a retry may help, and any
/// `retry-after` in the metadata.
fn failure_status(failure: &RouteFailure) -> Status {
    let error = &failure.error;
    let message = format!(
        "{} ({} after {} attempt{})",
        error.message,
        error.provider,
        failure.attempts,
        if failure.attempts == 1 { "" } else { "s" }
    );
    let mut status = match (error.kind, error.status) {
        (ErrorKind::InvalidRequest, 404) => Status::not_found(message),
        (ErrorKind::InvalidRequest, _) => Status::invalid_argument(message),
        (ErrorKind::Authentication, _) => {
            Status::failed_precondition(format!("the provider refused the key: {message}"))
        }
        (ErrorKind::Billing, _) => {
            Status::failed_precondition(format!("the provider account is out of credit: {message}"))
        }
        (ErrorKind::RateLimited, _) => Status::resource_exhausted(message),
        (_, 504) => Status::deadline_exceeded(message),
        _ => Status::unavailable(message),
    };
    let metadata = status.metadata_mut();
    metadata.insert(
        "x-keyroute-error-origin",
        tonic::metadata::MetadataValue::from_static("upstream"),
    );
    if let Ok(value) = error.status.to_string().parse() {
        metadata.insert("x-keyroute-upstream-status", value);
    }
    if let Ok(value) = error.provider.parse() {
        metadata.insert("x-keyroute-provider", value);
    }
    if let Some(retry_after) = error.retry_after
        && let Ok(value) = retry_after.as_secs().max(1).to_string().parse()
    {
        metadata.insert("retry-after", value);
    }
    status
}

fn no_route_status(model: &str, no_route: &NoRoute) -> Status {
    let message = format!("cannot route {model}: {no_route}");
    match no_route.retry_at {
        Some(at) => {
            let mut status = Status::resource_exhausted(message);
            let seconds = at
                .saturating_duration_since(Instant::now())
                .as_secs()
                .max(1);
            if let Ok(value) = seconds.to_string().parse() {
                status.metadata_mut().insert("retry-after", value);
            }
            status
        }
        None => Status::failed_precondition(message),
    }
}

impl Router {
    pub(crate) async fn caller<T>(&self, request: &Request<T>) -> Result<Arc<Caller>, Status> {
        check_peer(request)?;
        let token = bearer(request)?;
        Ok(self.tokens.authenticate(&token).await?)
    }

    /// The platform's managed keys; routing goes on without them when the vault cannot say.
    async fn managed(&self) -> Option<Arc<Lease>> {
        match self.leases.get(&PLATFORM_CALLER).await {
            Ok(lease) => Some(lease),
            Err(error) => {
                tracing::warn!(%error, "managed keys unavailable");
                None
            }
        }
    }

    pub(crate) fn validate(request: Option<ChatRequest>) -> Result<ChatRequest, Status> {
        let request = request.ok_or_else(|| Status::invalid_argument("request is required"))?;
        if request.model.trim().is_empty() {
            return Err(Status::invalid_argument("request.model is required"));
        }
        if request.messages.is_empty() && request.fim.is_none() {
            return Err(Status::invalid_argument(
                "request.messages must not be empty",
            ));
        }
        Ok(request)
    }

    fn resolve<'c>(&'c self, model: &str) -> Result<Resolution<'c>, Status> {
        self.catalog
            .resolve(model)
            .map_err(|unknown| Status::not_found(unknown.to_string()))
    }
}

/// What routing one request needs, gathered once: the model's resolution, the caller's and
/// the platform's keys, and what the caller may spend.
pub(crate) struct Plan<'c> {
    resolution: Resolution<'c>,
    lease: Arc<Lease>,
    managed: Option<Arc<Lease>>,
    account: Option<Arc<Account>>,
}

impl Router {
    pub(crate) async fn plan(&self, caller: &Arc<Caller>, model: &str) -> Result<Plan<'_>, Status> {
        Ok(Plan {
            resolution: self.resolve(model)?,
            lease: self.leases.get(caller).await?,
            managed: self.managed().await,
            account: self.accounts.get(&caller.principal_id).await,
        })
    }

    /// The keys to try, in order, among those the caller can pay for.
    pub(crate) fn choose<'p>(
        &self,
        plan: &'p Plan<'_>,
        caller: &str,
        model: &str,
    ) -> Result<Vec<Candidate<'p>>, Status> {
        candidates(
            &plan.resolution,
            &plan.lease,
            plan.managed.as_deref(),
            &self.cooldowns,
        )
        .map_err(|no_route| no_route_status(model, &no_route))
        .and_then(|found| affordable(model, caller, found, plan.account.as_deref()))
        .inspect_err(|_| self.metrics.request("", model, "", "no_route"))
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<CompleteStreamResponse, Status>> + Send>>;

/// Says who serves a response in its metadata as well: the edge turns it into headers, and
/// for a stream it is known before the first event. Header values are ASCII, so the
/// fingerprint's ellipsis becomes three dots.
fn served_by_metadata(candidate: &Candidate<'_>, request_id: &str) -> MetadataMap {
    let mut metadata = MetadataMap::new();
    let fingerprint = candidate.key.fingerprint.replace('…', "...");
    for (name, value) in [
        ("x-keyroute-provider", candidate.provider.id),
        ("x-keyroute-key-source", candidate.source.as_str()),
        ("x-keyroute-credential", fingerprint.as_str()),
        ("x-request-id", request_id),
    ] {
        if let Ok(value) = value.parse() {
            metadata.insert(name, value);
        }
    }
    metadata
}

fn outcome_label(failure: &RouteFailure) -> &'static str {
    match failure.error.kind {
        ErrorKind::InvalidRequest => "invalid_request",
        ErrorKind::Authentication => "key_refused",
        ErrorKind::Billing => "out_of_credit",
        ErrorKind::RateLimited => "rate_limited",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::Malformed => "malformed_response",
    }
}

#[tonic::async_trait]
impl RouterService for Router {
    async fn complete(
        &self,
        request: Request<CompleteRequest>,
    ) -> Result<Response<CompleteResponse>, Status> {
        let started = Instant::now();
        let caller = self.caller(&request).await?;
        let request_id = request_id(request.metadata());
        let chat = Self::validate(request.into_inner().request)?;
        let plan = self.plan(&caller, &chat.model).await?;
        let found = self.choose(&plan, &caller.principal_id, &chat.model)?;
        match fallback::complete(
            &self.upstreams,
            &found,
            &chat,
            &self.cooldowns,
            &self.metrics,
        )
        .await
        {
            Ok((mut response, upstream, winner)) => {
                let winner = &found[winner];
                let mut meter = Meter::new(
                    request_id.clone(),
                    &caller.principal_id,
                    &chat.model,
                    winner,
                    self.usage.clone(),
                    self.accounts.clone(),
                );
                if let Some(usage) = &response.usage {
                    meter.usage(usage);
                }
                drop(meter);
                let provider = winner.provider.id;
                self.metrics
                    .request(provider, &chat.model, winner.source.as_str(), "ok");
                self.metrics.latency(provider, upstream, started.elapsed());
                let metadata = served_by_metadata(winner, &request_id);
                if let Some(served) = &mut response.served_by {
                    served.request_id = request_id;
                }
                let reply = CompleteResponse {
                    response: Some(response),
                };
                Ok(Response::from_parts(metadata, reply, Default::default()))
            }
            Err(failure) => {
                self.metrics.request(
                    failure.error.provider,
                    &chat.model,
                    "",
                    outcome_label(&failure),
                );
                Err(failure_status(&failure))
            }
        }
    }

    type CompleteStreamStream = EventStream;

    async fn complete_stream(
        &self,
        request: Request<CompleteStreamRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let started = Instant::now();
        let caller = self.caller(&request).await?;
        let request_id = request_id(request.metadata());
        let chat = Self::validate(request.into_inner().request)?;
        let plan = self.plan(&caller, &chat.model).await?;
        let found = self.choose(&plan, &caller.principal_id, &chat.model)?;
        match fallback::stream(
            &self.upstreams,
            &found,
            &chat,
            &self.cooldowns,
            &self.metrics,
        )
        .await
        {
            Ok((winner, events)) => {
                // A stream counts once its first event arrived: routing is over then.
                let winner = &found[winner];
                let provider = winner.provider.id;
                let metadata = served_by_metadata(winner, &request_id);
                let mut meter = Meter::new(
                    request_id,
                    &caller.principal_id,
                    &chat.model,
                    winner,
                    self.usage.clone(),
                    self.accounts.clone(),
                );
                let events = events.map(move |mut event| {
                    meter.observe(&mut event);
                    Ok(event)
                });
                self.metrics
                    .request(provider, &chat.model, winner.source.as_str(), "ok");
                let first_event = started.elapsed();
                self.metrics.latency(provider, first_event, first_event);
                let events: EventStream = Box::pin(events);
                Ok(Response::from_parts(metadata, events, Default::default()))
            }
            Err(failure) => {
                self.metrics.request(
                    failure.error.provider,
                    &chat.model,
                    "stream",
                    outcome_label(&failure),
                );
                Err(failure_status(&failure))
            }
        }
    }

    async fn list_models(
        &self,
        request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
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

    async fn count_tokens(
        &self,
        request: Request<CountTokensRequest>,
    ) -> Result<Response<CountTokensResponse>, Status> {
        self.count(request).await
    }

    async fn test_credential(
        &self,
        request: Request<TestCredentialRequest>,
    ) -> Result<Response<TestCredentialResponse>, Status> {
        let caller = self.caller(&request).await?;
        let test = request.into_inner();
        let lease = self.leases.get(&caller).await?;
        let key = lease
            .keys
            .iter()
            .find(|k| k.id == test.credential_id)
            .ok_or_else(|| {
                Status::not_found(format!(
                    "credential {} is not one of your enabled keys",
                    test.credential_id
                ))
            })?;
        // The requested model, or the provider's cheapest catalog model.
        let model = if test.model.is_empty() {
            self.catalog
                .models()
                .iter()
                .flat_map(|m| {
                    m.offers
                        .iter()
                        .filter(|o| o.provider.id == key.provider)
                        .map(move |o| (o.input_per_million + o.output_per_million, m.id.clone()))
                })
                .min()
                .map(|(_, id)| id)
                .ok_or_else(|| {
                    Status::failed_precondition(format!(
                        "no catalog model to test a {} key with; name one",
                        key.provider
                    ))
                })?
        } else {
            test.model.clone()
        };
        let resolution = self
            .resolve(&format!("{}/{model}", key.provider))
            .or_else(|_| self.resolve(&model))?;
        let single = Lease::new(
            &caller.principal_id,
            lease.owners.clone(),
            vec![key.clone()],
            lease.settings.clone(),
            std::time::Duration::from_secs(60),
        );
        let found = candidates(&resolution, &single, None, &Cooldowns::new())
            .map_err(|no_route| no_route_status(&model, &no_route))?;
        let probe = ChatRequest {
            model: model.clone(),
            messages: vec![keyroute_wire::canonical::pb::Message {
                role: Role::User as i32,
                content: vec![ContentPart {
                    part: Some(content_part::Part::Text("ping".into())),
                    ..Default::default()
                }],
                name: String::new(),
            }],
            sampling: Some(Sampling {
                max_tokens: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        };
        let started = Instant::now();
        let outcome = fallback::complete(
            &self.upstreams,
            &found,
            &probe,
            &Cooldowns::new(),
            &self.metrics,
        )
        .await;
        let latency_ms = started.elapsed().as_millis() as u32;
        tracing::info!(credential = %key.fingerprint, ok = outcome.is_ok(), "credential tested");
        let (outcome, message) = match outcome {
            Ok(_) => (TestOutcome::Ok, String::new()),
            Err(failure) => {
                let kind = match (failure.error.kind, failure.error.status) {
                    (ErrorKind::Authentication, 403) => TestOutcome::NoModelAccess,
                    (ErrorKind::Authentication, _) => TestOutcome::KeyInvalid,
                    (ErrorKind::InvalidRequest, 404) => TestOutcome::NoModelAccess,
                    (ErrorKind::Billing, _) => TestOutcome::OutOfCredit,
                    _ => TestOutcome::Unreachable,
                };
                (kind, failure.error.message)
            }
        };
        let audit = keyroute_proto::vault::v1::RecordCredentialTestRequest {
            credential_id: key.id.clone(),
            principal_id: caller.principal_id.clone(),
            outcome: outcome
                .as_str_name()
                .strip_prefix("TEST_OUTCOME_")
                .unwrap_or_default()
                .to_ascii_lowercase(),
            model: model.clone(),
            latency_ms,
        };
        // A test nobody can trace did not happen: without the audit record, no answer.
        self.vault
            .clone()
            .record_credential_test(audit)
            .await
            .map_err(vault_error)?;
        Ok(Response::new(TestCredentialResponse {
            outcome: outcome as i32,
            provider: key.provider.clone(),
            latency_ms,
            provider_message: message,
        }))
    }
}
