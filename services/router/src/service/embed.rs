//! `Embed`: vectors for texts. The model must be an embedding model (catalog capability
//! `embeddings`, or a pinned id the caller vouches for); keys whose provider has no
//! embeddings endpoint (Anthropic) are skipped; the rest are tried in order as for chat,
//! managed keys holding and then charging the input tokens at the catalog input price. Rate
//! limits count it as a chat call of its input tokens.

use std::time::Instant;

use keyroute_proto::contract::header;
use keyroute_proto::router::v1::{EmbedRequest, EmbedResponse, Embedding, Usage};
use keyroute_wire::catalog::Resolution;
use keyroute_wire::contract::Operation;
use keyroute_wire::embeddings::{MAX_INPUTS, estimate_tokens};
use tonic::{Request, Response};
use tracing::Instrument;

use super::Router;
use super::chat::served_by_metadata;
use super::opening::Plan;
use crate::cache::accounts::Source;
use crate::cache::reservations::Reservation;
use crate::error::{RouteFailure, RouterError};
use crate::policy::candidates::{Candidate, candidates};
use crate::policy::charging::{
    Meter, affordable, request_id, reservation_estimate, shortfall_error,
};
use crate::policy::fallback::{after_failure, may_bill, served_by};
use crate::policy::rate_limits::{self, Settlement};
use crate::spans;
use crate::upstream::{EmbedFailure, Embeddings};

/// The capability a catalog model must list to be embedded with.
const CAPABILITY: &str = "embeddings";

fn validate(request: &EmbedRequest) -> Result<(), RouterError> {
    let invalid = |message: String| Err(RouterError::InvalidArgument(message));
    if request.model.trim().is_empty() {
        return invalid("request.model is required".into());
    }
    if request.inputs.is_empty() {
        return invalid("request.inputs must not be empty".into());
    }
    if request.inputs.len() > MAX_INPUTS {
        return invalid(format!(
            "request.inputs may hold at most {MAX_INPUTS} texts"
        ));
    }
    if let Some(at) = request.inputs.iter().position(String::is_empty) {
        return invalid(format!("request.inputs[{at}] must not be empty"));
    }
    if request.dimensions == Some(0) {
        return invalid("request.dimensions must be positive".into());
    }
    Ok(())
}

/// Keeps the candidates whose provider embeds; none left is the caller's error.
fn embedding_keys<'a>(
    found: Vec<Candidate<'a>>,
    model: &str,
) -> Result<Vec<Candidate<'a>>, RouterError> {
    let providers: Vec<&str> = found.iter().map(|c| c.provider.id).collect();
    let kept: Vec<Candidate<'a>> = found
        .into_iter()
        .filter(|c| c.contract.supports(Operation::Embed))
        .collect();
    if kept.is_empty() {
        return Err(RouterError::InvalidArgument(format!(
            "cannot embed with {model}: the keys that serve it ({}) have no embeddings endpoint",
            providers.join(", ")
        )));
    }
    Ok(kept)
}

impl Router {
    pub(super) async fn embed_texts(
        &self,
        request: Request<EmbedRequest>,
    ) -> Result<Response<EmbedResponse>, RouterError> {
        let started = Instant::now();
        let caller = self.caller(&request).await?;
        let request_id = request_id(request.metadata());
        let embed = request.into_inner();
        validate(&embed)?;
        let model = embed.model.as_str();
        let resolution = self.resolve(model)?;
        let label = match &resolution {
            Resolution::Catalog { model: entry, .. } => {
                if !entry.capabilities.iter().any(|c| c == CAPABILITY) {
                    return Err(RouterError::InvalidArgument(format!(
                        "{model} is not an embedding model; the catalog's embedding models list the `embeddings` capability"
                    )));
                }
                entry.id.as_str()
            }
            _ => "other",
        };
        let plan = Plan {
            resolution,
            lease: self.leases.get(&caller).await?,
            managed: self.managed().await,
            account: self.accounts.get(&caller.principal_id).await,
        };
        let account = plan.account.as_deref();
        let mut found = candidates(
            &plan.resolution,
            &plan.lease,
            plan.managed.as_deref(),
            &self.cooldowns,
        )
        .map_err(|no_route| no_route.for_model(model))
        .and_then(|found| embedding_keys(found, model))
        .and_then(|found| affordable(model, &caller.principal_id, found, account))
        .inspect_err(|_| self.metrics.request("", label, "", "no_route"))?;
        let input_estimate = estimate_tokens(&embed.inputs);
        // A managed call holds its input at the dearest managed price; no output is made.
        let mut reservation: Option<Reservation> = None;
        if let (Some(micros), Some(account)) = (
            reservation_estimate(&found, input_estimate, Some(0)),
            account,
        ) {
            match self
                .reservations
                .reserve(&caller.principal_id, account.balance_micros(), micros)
                .await
            {
                Ok(held) => reservation = Some(held),
                Err(shortfall) => {
                    found.retain(|c| c.source == Source::Byok);
                    if found.is_empty() {
                        self.metrics.request("", label, "", "no_route");
                        return Err(shortfall_error(model, &shortfall));
                    }
                }
            }
        }
        let (found, admission) = self
            .admit(&plan, &caller.principal_id, model, input_estimate, found)
            .await?;
        let mut admission = Some(admission);
        let meter = |candidate: &Candidate<'_>, reservation: Option<Reservation>| {
            Meter::new(
                request_id.clone(),
                &caller.principal_id,
                model,
                candidate,
                input_estimate,
                reservation,
                self.usage.clone(),
                self.accounts.clone(),
            )
            .counted(
                self.metrics.clone(),
                self.metrics
                    .served(candidate.provider.id, label, candidate.source.as_str()),
            )
        };
        let mut last = None;
        for (tried, candidate) in found.iter().enumerate() {
            let attempts = tried as u32 + 1;
            let upstream_started = Instant::now();
            let span = spans::attempt("embeddings", candidate, model, attempts);
            let answered = self
                .upstreams
                .embed(candidate.target(), &embed)
                .instrument(span.clone())
                .await;
            match answered {
                Ok(answer) => {
                    let (provider, source) = (candidate.provider.id, candidate.source.as_str());
                    let served = self.metrics.served(provider, label, source);
                    self.metrics.served_ok(&served);
                    self.metrics
                        .latency(&served, upstream_started.elapsed(), started.elapsed());
                    let held = reservation
                        .take()
                        .filter(|_| candidate.source == Source::Managed);
                    let usage = Usage {
                        input_tokens: answer.input_tokens,
                        total_tokens: answer.input_tokens,
                        ..Default::default()
                    };
                    spans::usage(&span, &usage);
                    let quotas = admission.as_ref().map(|a| a.quotas).unwrap_or_default();
                    let settlement = admission
                        .take()
                        .and_then(|admission| Settlement::of(&self.limiter, admission));
                    let mut charged = meter(candidate, held).settling(settlement);
                    charged.usage(&usage);
                    let mut served = served_by(candidate, attempts);
                    served.cost_micros = charged.cost_micros();
                    drop(charged);
                    served.request_id.clone_from(&request_id);
                    let reply = answer_of(model, answer, usage, served);
                    let mut metadata = served_by_metadata(candidate, &request_id);
                    rate_limits::quota_metadata(&mut metadata, &quotas);
                    if let Ok(principal) = caller.principal_id.parse() {
                        metadata.insert(header::PRINCIPAL, principal);
                    }
                    return Ok(Response::from_parts(metadata, reply, Default::default()));
                }
                Err(EmbedFailure {
                    error,
                    served_tokens,
                }) => {
                    spans::failed(&span, &error);
                    if served_tokens > 0 {
                        // Earlier batches were answered, and billed: charge what they used.
                        let mut charged = meter(candidate, None);
                        charged.usage(&Usage {
                            input_tokens: served_tokens,
                            total_tokens: served_tokens,
                            ..Default::default()
                        });
                    } else if may_bill(&error) {
                        drop(meter(candidate, None));
                    }
                    let retry = after_failure(candidate, &error, &self.cooldowns, &self.metrics);
                    last = Some(RouteFailure { error, attempts });
                    if !retry {
                        break;
                    }
                }
            }
        }
        // Nothing was embedded: the request stays counted, its token estimate is taken back.
        if let Some(settlement) = admission.and_then(|a| Settlement::of(&self.limiter, a)) {
            settlement.settle(0);
        }
        let Some(failure) = last else {
            return Err(RouterError::NoRoute {
                message: format!("cannot route {model}"),
                retry_at: None,
            });
        };
        let provider = failure.error.provider;
        let error = RouterError::Upstream(failure);
        self.metrics.request(provider, label, "", error.outcome());
        Err(error)
    }
}

fn answer_of(
    model: &str,
    answer: Embeddings,
    usage: Usage,
    served: keyroute_proto::router::v1::ServedBy,
) -> EmbedResponse {
    EmbedResponse {
        model: model.to_owned(),
        embeddings: answer
            .vectors
            .into_iter()
            .enumerate()
            .map(|(index, values)| Embedding {
                index: index as u32,
                values,
            })
            .collect(),
        usage: Some(usage),
        served_by: Some(served),
        usage_estimated: answer.estimated,
    }
}
