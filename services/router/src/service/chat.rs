//! `Complete` and `CompleteStream`: one opening (caller, request id, request, keys), the
//! fallback over candidates, and one way to meter what was served and count what failed.

use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use keyroute_proto::contract::{header, header_name};
use keyroute_proto::router::v1::complete_stream_response::Event;
use keyroute_proto::router::v1::*;
use keyroute_ratelimit::Admission;
use keyroute_wire::catalog::Resolution;
use keyroute_wire::catalog::lifecycle::State;
use tonic::codegen::http::{HeaderMap, HeaderValue};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::Router;
use super::opening::{Opening, Plan};
use crate::cache::accounts::Source;
use crate::cache::reservations::Reservation;
use crate::error::{RouteFailure, RouterError};
use crate::policy::candidates::Candidate;
use crate::policy::charging::Meter;
use crate::policy::fallback;
use crate::policy::rate_limits::{self, Settlement};

/// The canonical events of a served stream, as the gRPC response body.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<CompleteStreamResponse, Status>> + Send>>;

/// Says who serves a response in its metadata as well: the edge turns it into headers, and
/// for a stream it is known before the first event. Header values are ASCII, so the
/// fingerprint's ellipsis becomes three dots.
pub(super) fn served_by_metadata(candidate: &Candidate<'_>, request_id: &str) -> MetadataMap {
    let mut metadata = MetadataMap::with_capacity(8);
    let headers: &mut HeaderMap = metadata.as_mut();
    let fingerprint = candidate.key.fingerprint.replace('…', "...");
    for (name, value) in [
        (
            &header_name::PROVIDER,
            HeaderValue::from_str(candidate.provider.id),
        ),
        (
            &header_name::KEY_SOURCE,
            HeaderValue::from_str(candidate.source.as_str()),
        ),
        // Taken whole, not copied again.
        (&header_name::CREDENTIAL, HeaderValue::try_from(fingerprint)),
        (&header_name::REQUEST_ID, HeaderValue::from_str(request_id)),
    ] {
        if let Ok(value) = value {
            headers.insert(name.clone(), value);
        }
    }
    metadata
}

/// Names the caller's principal in an answer's metadata, for the edge's access log.
fn caller_metadata(metadata: &mut MetadataMap, opening: &Opening) {
    if let Ok(value) = HeaderValue::from_str(&opening.caller.principal_id) {
        let headers: &mut HeaderMap = metadata.as_mut();
        headers.insert(header_name::PRINCIPAL.clone(), value);
    }
}

/// A failure after the caller was authenticated, as a status naming the caller's principal.
fn caller_status(error: RouterError, opening: &Opening) -> Status {
    let mut status = Status::from(error);
    caller_metadata(status.metadata_mut(), opening);
    status
}

impl Router {
    /// A served call, counted: its meter (charging when dropped), the request metrics, and
    /// who served it as response metadata. `upstream` is how long the providers took for a
    /// whole answer; `None` for a stream, whose first event just arrived.
    fn served(
        &self,
        opening: &Opening,
        plan: &Plan<'_>,
        winner: &Candidate<'_>,
        (reservation, admission): (Option<Reservation>, Admission),
        upstream: Option<Duration>,
    ) -> (Meter, MetadataMap) {
        // The caller's own key won: nothing of the balance needs holding.
        let reservation = reservation.filter(|_| winner.source == Source::Managed);
        let (provider, source) = (winner.provider.id, winner.source.as_str());
        let served = self.metrics.served(provider, plan.model_label(), source);
        self.metrics.served_ok(&served);
        match upstream {
            Some(upstream) => self
                .metrics
                .latency(&served, upstream, opening.started.elapsed()),
            None => self.metrics.first_byte(&served, opening.started.elapsed()),
        }
        let mut metadata = served_by_metadata(winner, &opening.request_id);
        rate_limits::quota_metadata(&mut metadata, &admission.quotas);
        let meter = self
            .meter(opening, plan, winner, reservation)
            .settling(Settlement::of(&self.limiter, admission));
        caller_metadata(&mut metadata, opening);
        self.deprecation_notice(plan, &mut metadata);
        (meter, metadata)
    }

    /// Says so in the answer's metadata when the model is deprecated (served, but its
    /// provider announced its end), with the successor to move to. Only models with
    /// lifecycle dates read the clock.
    fn deprecation_notice(&self, plan: &Plan<'_>, metadata: &mut MetadataMap) {
        let Resolution::Catalog { model, .. } = &plan.resolution else {
            return;
        };
        let lifecycle = &model.lifecycle;
        if lifecycle.deprecated_on.is_none() && lifecycle.retires_on.is_none() {
            return;
        }
        if lifecycle.state(&self.catalog.today()) != State::Deprecated {
            return;
        }
        let mut notice = lifecycle
            .deprecated_on
            .clone()
            .unwrap_or_else(|| "yes".to_owned());
        if let Some(retires) = &lifecycle.retires_on {
            notice.push_str(&format!("; retires {retires}"));
        }
        if let Ok(value) = notice.parse() {
            metadata.insert(header::MODEL_DEPRECATED, value);
        }
        if let Some(Ok(value)) = lifecycle.successor.as_deref().map(str::parse) {
            metadata.insert(header::MODEL_SUCCESSOR, value);
        }
    }

    /// The meter for one call of `opening` served (or attempted) by `candidate`; what it
    /// charges is counted in the token and cost metrics too.
    fn meter(
        &self,
        opening: &Opening,
        plan: &Plan<'_>,
        candidate: &Candidate<'_>,
        reservation: Option<Reservation>,
    ) -> Meter {
        let served = self.metrics.served(
            candidate.provider.id,
            plan.model_label(),
            candidate.source.as_str(),
        );
        Meter::new(
            opening.request_id.clone(),
            &opening.caller.principal_id,
            &opening.chat.model,
            candidate,
            opening.input_estimate,
            reservation,
            self.usage.clone(),
            self.accounts.clone(),
        )
        .counted(self.metrics.clone(), served)
    }

    /// Charges an attempt that failed after the provider took the request (it may bill it):
    /// keyroute's input estimate, nothing streamed.
    fn charge_failed_attempt(&self, opening: &Opening, plan: &Plan<'_>, candidate: &Candidate<'_>) {
        drop(self.meter(opening, plan, candidate, None));
    }

    /// A call no candidate could serve, counted (no key source: none served it). The
    /// request stays counted against its rate limits; its token estimate is taken back.
    fn failed(&self, plan: &Plan<'_>, admission: Admission, failure: RouteFailure) -> RouterError {
        if let Some(settlement) = Settlement::of(&self.limiter, admission) {
            settlement.settle(0);
        }
        let provider = failure.error.provider;
        let error = RouterError::Upstream(failure);
        self.metrics
            .request(provider, plan.model_label(), "", error.outcome());
        error
    }

    pub(super) async fn complete_chat(
        &self,
        request: Request<CompleteRequest>,
    ) -> Result<Response<CompleteResponse>, Status> {
        let opening = self.open(request, |r| r.request).await?;
        self.complete_opened(&opening)
            .await
            .map_err(|error| caller_status(error, &opening))
    }

    async fn complete_opened(
        &self,
        opening: &Opening,
    ) -> Result<Response<CompleteResponse>, RouterError> {
        let plan = self.plan(opening).await?;
        let (found, reservation) = self.choose_and_reserve(&plan, opening).await?;
        let (found, admission) = self.admit_chat(&plan, opening, found).await?;
        let chat = &opening.chat;
        let answer = fallback::complete(
            &self.upstreams,
            &found,
            chat,
            &self.cooldowns,
            &self.metrics,
            &|candidate| self.charge_failed_attempt(opening, &plan, candidate),
        )
        .await;
        let (mut response, upstream, winner) = match answer {
            Ok(answer) => answer,
            Err(failure) => return Err(self.failed(&plan, admission, failure)),
        };
        let (mut meter, metadata) = self.served(
            opening,
            &plan,
            &found[winner],
            (reservation, admission),
            Some(upstream),
        );
        meter.response(&response);
        if let Some(served) = &mut response.served_by {
            served.request_id.clone_from(&opening.request_id);
            served.cost_micros = meter.cost_micros();
        }
        drop(meter);
        // An answer without an id of its own (Bedrock's) is named by its request id, so
        // clients that keep ids (Responses, chat completions) never see two answers share one.
        if response.id.is_empty() {
            response.id.clone_from(&opening.request_id);
        }
        let reply = CompleteResponse {
            response: Some(response),
        };
        Ok(Response::from_parts(metadata, reply, Default::default()))
    }

    pub(super) async fn stream_chat(
        &self,
        request: Request<CompleteStreamRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let opening = self.open(request, |r| r.request).await?;
        self.stream_opened(&opening)
            .await
            .map_err(|error| caller_status(error, &opening))
    }

    async fn stream_opened(&self, opening: &Opening) -> Result<Response<EventStream>, RouterError> {
        let plan = self.plan(opening).await?;
        let (found, reservation) = self.choose_and_reserve(&plan, opening).await?;
        let (found, admission) = self.admit_chat(&plan, opening, found).await?;
        let chat = &opening.chat;
        let opened = fallback::stream(
            &self.upstreams,
            &found,
            chat,
            &self.cooldowns,
            &self.metrics,
            &|candidate| self.charge_failed_attempt(opening, &plan, candidate),
        )
        .await;
        let (winner, events) = match opened {
            Ok(opened) => opened,
            Err(failure) => return Err(self.failed(&plan, admission, failure)),
        };
        // A stream counts once its first event arrived: routing is over then.
        let (mut meter, metadata) = self.served(
            opening,
            &plan,
            &found[winner],
            (reservation, admission),
            None,
        );
        let request_id = opening.request_id.clone();
        let events = events.map(move |mut event| {
            if let Some(Event::Start(start)) = &mut event.event
                && start.id.is_empty()
            {
                start.id.clone_from(&request_id);
            }
            meter.observe(&mut event);
            Ok(event)
        });
        let events: EventStream = Box::pin(events);
        Ok(Response::from_parts(metadata, events, Default::default()))
    }
}
