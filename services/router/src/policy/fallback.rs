//! Trying candidates in order: a retryable failure (unreachable, timeout, 429, 5xx, 529, a
//! key the provider refused) moves to the next key; a client error returns at once. Keys
//! refused for authentication or rate limits sit out (honouring `retry-after`). A stream is
//! retried only until its first event: after that a failure ends it with an error event.

use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use keyroute_proto::router::v1::ServedBy;
use keyroute_wire::canonical::pb::complete_stream_response::Event;
use keyroute_wire::canonical::{StreamEvent, error_event, pb};
use keyroute_wire::error::{ErrorKind, WireError};
use tracing::Instrument;

use crate::error::RouteFailure;
use crate::metrics::Metrics;
use crate::policy::candidates::Candidate;
use crate::policy::cooldowns::{Cooldowns, bench_for};
use crate::spans;
use crate::upstream::Upstreams;

pub(crate) fn served_by(candidate: &Candidate<'_>, attempts: u32) -> ServedBy {
    ServedBy {
        provider: candidate.provider.id.to_owned(),
        key_source: candidate.source.key_source() as i32,
        credential_fingerprint: candidate.key.fingerprint.clone(),
        attempts,
        request_id: String::new(),
        cost_micros: 0,
    }
}

/// Benches a key the provider refused or throttled; says whether the next key may be tried.
pub(crate) fn after_failure(
    candidate: &Candidate<'_>,
    error: &WireError,
    cooldowns: &Cooldowns,
    metrics: &Metrics,
) -> bool {
    metrics.upstream_error(candidate.provider.id, error.status);
    if let Some(bench) = bench_for(error) {
        cooldowns.bench(&candidate.key.id, &candidate.upstream_model, bench);
        metrics
            .cooldowns
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    // Per request, so not at info: the attempt's span and the edge's access log say it.
    tracing::debug!(provider = candidate.provider.id, credential = %candidate.key.fingerprint, status = error.status, retryable = error.retryable, "upstream call failed");
    error.retryable
}

fn no_candidates() -> RouteFailure {
    RouteFailure {
        error: WireError::from_status(
            "keyroute",
            503,
            "no_candidates",
            "no key could serve the request",
        ),
        attempts: 0,
    }
}

/// Whether a failed attempt may still be billed by the provider: it accepted the request
/// (a 2xx whose body broke off or did not parse) or had it in hand when the deadline struck.
/// A refusal (4xx, 5xx) or a connection never made is not billed.
pub fn may_bill(error: &WireError) -> bool {
    error.kind == ErrorKind::Malformed || error.error_type == "timeout"
}

/// Called for each failed attempt the provider may bill, to charge it.
pub type Billable<'b> = &'b (dyn Fn(&Candidate<'_>) + Sync);

/// Serves a non-streaming request with the first candidate that succeeds; also returns how
/// long the providers took, failed attempts included, and which candidate answered. Failed
/// attempts a provider may bill go to `billable`.
pub async fn complete(
    upstreams: &Upstreams,
    candidates: &[Candidate<'_>],
    request: &pb::ChatRequest,
    cooldowns: &Cooldowns,
    metrics: &Metrics,
    billable: Billable<'_>,
) -> Result<(pb::ChatResponse, Duration, usize), RouteFailure> {
    let mut last = None;
    let started = Instant::now();
    for (tried, candidate) in candidates.iter().enumerate() {
        let attempts = tried as u32 + 1;
        let span = spans::attempt("chat", candidate, &request.model, attempts);
        let answer = upstreams
            .complete(candidate.target(), request)
            .instrument(span.clone())
            .await;
        match answer {
            Ok(mut response) => {
                spans::response(&span, &response);
                response.served_by = Some(served_by(candidate, attempts));
                return Ok((response, started.elapsed(), tried));
            }
            Err(error) => {
                spans::failed(&span, &error);
                if may_bill(&error) {
                    billable(candidate);
                }
                let retry = after_failure(candidate, &error, cooldowns, metrics);
                last = Some(RouteFailure { error, attempts });
                if !retry {
                    break;
                }
            }
        }
    }
    Err(last.unwrap_or_else(no_candidates))
}

/// Serves a streaming request: the first candidate whose stream yields an event wins; the
/// stream ends with `End` carrying who served it. Also returns which candidate serves it.
/// Failed attempts a provider may bill go to `billable`.
pub async fn stream(
    upstreams: &Upstreams,
    candidates: &[Candidate<'_>],
    request: &pb::ChatRequest,
    cooldowns: &Cooldowns,
    metrics: &Metrics,
    billable: Billable<'_>,
) -> Result<(usize, impl Stream<Item = StreamEvent> + Send + use<>), RouteFailure> {
    let mut last = None;
    for (tried, candidate) in candidates.iter().enumerate() {
        let attempts = tried as u32 + 1;
        let span = spans::attempt("chat", candidate, &request.model, attempts);
        let opened = upstreams
            .stream(candidate.target(), request)
            .instrument(span.clone())
            .await;
        let error = match opened {
            Ok(mut events) => match events.next().instrument(span.clone()).await {
                Some(Ok(first)) => {
                    let served = served_by(candidate, attempts);
                    let rest = events.map(|item| item.unwrap_or_else(error_event));
                    // The span lives with the stream: it ends when the stream does.
                    let mut watch = spans::StreamWatch::default();
                    let stamped = futures::stream::once(async move { first }).chain(rest).map(
                        move |mut event| {
                            if let Some(Event::End(end)) = &mut event.event {
                                end.served_by = Some(served.clone());
                            }
                            watch.observe(&span, &event);
                            event
                        },
                    );
                    return Ok((tried, stamped));
                }
                Some(Err(error)) => error,
                None => WireError::truncated(candidate.provider.id, "its first event"),
            },
            Err(error) => error,
        };
        spans::failed(&span, &error);
        if may_bill(&error) {
            billable(candidate);
        }
        let retry = after_failure(candidate, &error, cooldowns, metrics);
        last = Some(RouteFailure { error, attempts });
        if !retry {
            break;
        }
    }
    Err(last.unwrap_or_else(no_candidates))
}
