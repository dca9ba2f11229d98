//! Money around a routed call: before it, which candidates the caller can afford (a positive
//! balance for managed keys, budgets not used up) and what a managed call may cost; after it,
//! one usage record per billable call under its own usage id, priced from the catalog, and the
//! local balance, budgets, credit hold and rate-limit token count adjusted.

use std::sync::Arc;

use keyroute_proto::router::v1::content_part::Part;
use keyroute_proto::router::v1::{ChatResponse, CompleteStreamResponse, Usage};
use keyroute_proto::vault::v1::{UsageRecord, UsageSource};
use keyroute_wire::canonical::pb::complete_stream_response::Event;
use keyroute_wire::catalog::{Price, dollars};

use crate::cache::accounts::{Account, Accounts};
use crate::cache::reservations::{Reservation, Shortfall};
use crate::cache::usage::UsageReporter;
use crate::error::RouterError;
use crate::metrics::{Metrics, Served};
use crate::policy::candidates::{Candidate, Source};
use crate::policy::rate_limits::Settlement;

/// The request id: the caller's `x-request-id` when sane, otherwise a new one. A correlation
/// id only: every call is charged under a usage id of its own, whatever request id it carries.
pub fn request_id(metadata: &tonic::metadata::MetadataMap) -> String {
    keyroute_telemetry::request_id(metadata)
        .map_or_else(keyroute_telemetry::new_request_id, str::to_owned)
}

/// Output tokens a managed call without `max_tokens` holds credit for.
pub const DEFAULT_RESERVED_OUTPUT_TOKENS: u64 = 4096;

/// The most a managed call may cost, as far as is known before it starts: keyroute's input
/// estimate and the requested `max_tokens` (else [`DEFAULT_RESERVED_OUTPUT_TOKENS`]) at the
/// dearest managed candidate's catalog prices, each token at the dearest price it could be
/// billed at (input written to a 1-hour cache, output spent on reasoning). `None` when no
/// managed key may serve.
pub fn reservation_estimate(
    found: &[Candidate<'_>],
    input_estimate: u64,
    max_tokens: Option<u32>,
) -> Option<i64> {
    let output = max_tokens.map_or(DEFAULT_RESERVED_OUTPUT_TOKENS, u64::from);
    found
        .iter()
        .filter(|c| c.source == Source::Managed)
        .filter_map(|c| c.offer)
        .map(|offer| offer.price().ceiling(input_estimate, output))
        .max()
        .map(|micros| i64::try_from(micros).unwrap_or(i64::MAX))
}

/// The caller's error when its balance, less what its calls in flight hold, cannot cover
/// another managed call.
pub fn shortfall_error(model: &str, shortfall: &Shortfall) -> RouterError {
    RouterError::NoRoute {
        message: format!(
            "cannot route {model}: your credit balance is {}, of which {} is held by {} call(s) in flight; this call needs up to {} (its input and max_tokens at the catalog prices)",
            dollars(shortfall.balance),
            dollars(shortfall.reserved),
            shortfall.in_flight,
            dollars(shortfall.needed),
        ),
        retry_at: None,
    }
}

/// Drops the candidates the caller cannot pay for; an error naming every reason when none
/// is left. Without a known account (vault unreachable, nothing cached) budgets cannot be
/// checked and BYOK keys still serve, but managed keys do not.
pub fn affordable<'a>(
    model: &str,
    caller: &str,
    found: Vec<Candidate<'a>>,
    account: Option<&Account>,
) -> Result<Vec<Candidate<'a>>, RouterError> {
    if let Some(reason) = account.and_then(|a| a.budget_reached(caller)) {
        return Err(RouterError::LimitReached(format!(
            "cannot route {model}: {reason}"
        )));
    }
    let had_own_key = found.iter().any(|c| c.source == Source::Byok);
    let mut providers: Vec<&str> = Vec::new();
    let mut reasons: Vec<String> = Vec::new();
    let mut note = |reason: String| {
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    };
    let mut kept = Vec::with_capacity(found.len());
    for candidate in found {
        let refusal = match (candidate.source, account) {
            (Source::Byok, Some(account)) => account.budget_reached(&candidate.key.owner_id),
            (Source::Byok, None) => None,
            (Source::Managed, Some(account)) if account.balance_micros() > 0 => None,
            (Source::Managed, Some(account)) => Some(format!(
                "your credit balance is {}, and managed keys need a positive balance",
                dollars(account.balance_micros())
            )),
            (Source::Managed, None) => Some(
                "your credit balance cannot be checked right now (the vault is unreachable), so managed keys are not used"
                    .to_owned(),
            ),
        };
        match refusal {
            Some(reason) => {
                // Only needed for the error, when every candidate was refused.
                if !providers.contains(&candidate.provider.id) {
                    providers.push(candidate.provider.id);
                }
                note(reason);
            }
            None => kept.push(candidate),
        }
    }
    if !kept.is_empty() {
        return Ok(kept);
    }
    if !had_own_key {
        reasons.insert(
            0,
            format!("you have no enabled key for {}", providers.join(" or ")),
        );
    }
    Err(RouterError::NoRoute {
        message: format!("cannot route {model}: {}", reasons.join("; ")),
        retry_at: None,
    })
}

/// Counts one served call: created when a candidate answers, recorded once when dropped
/// (a finished stream, a caller who went away, or a complete response) under a usage id of
/// its own. A call cut short is still charged: the provider's counts where they came, else
/// keyroute's estimates (the request for input, what was streamed for output). Cache and
/// reasoning tokens are charged at their own catalog prices.
#[derive(Debug)]
pub struct Meter {
    record: UsageRecord,
    /// The provider's counts so far, each the largest reported.
    counted: Usage,
    price: Option<Price>,
    reporter: Arc<UsageReporter>,
    accounts: Arc<Accounts>,
    /// keyroute's estimate of the input, for when the provider's count never came.
    input_estimate: u64,
    /// Characters the caller received (text, reasoning, tool arguments): the output
    /// estimate when the provider's count never came.
    output_chars: usize,
    /// Whether the provider's answer was whole (a response, or a stream that reached its end).
    whole: bool,
    /// The credit a managed call holds; released after the charge, when the meter drops.
    reservation: Option<Reservation>,
    source: Source,
    /// Where the charge is counted in the token and cost metrics, if anywhere.
    metered_in: Option<(Arc<Metrics>, Served)>,
    /// The rate limits' token estimate, settled to what is charged when the meter drops.
    settlement: Option<Settlement>,
}

impl Meter {
    /// `input_estimate`: keyroute's count of the request's input tokens; `reservation`: the
    /// credit a managed call holds until it is charged.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        request_id: String,
        principal_id: &str,
        model: &str,
        candidate: &Candidate<'_>,
        input_estimate: u64,
        reservation: Option<Reservation>,
        reporter: Arc<UsageReporter>,
        accounts: Arc<Accounts>,
    ) -> Self {
        Self {
            record: UsageRecord {
                usage_id: uuid::Uuid::now_v7().to_string(),
                request_id,
                principal_id: principal_id.to_owned(),
                credential_id: candidate.key.id.clone(),
                credential_owner_id: candidate.key.owner_id.clone(),
                source: match candidate.source {
                    Source::Byok => UsageSource::Byok,
                    Source::Managed => UsageSource::Managed,
                } as i32,
                provider: candidate.provider.id.to_owned(),
                model: model.to_owned(),
                hold_id: reservation
                    .as_ref()
                    .map(|r| r.hold_id().to_owned())
                    .unwrap_or_default(),
                // Counts, cost and time are filled in when the call is charged.
                ..UsageRecord::default()
            },
            counted: Usage::default(),
            price: candidate.offer.map(|offer| offer.price()),
            reporter,
            accounts,
            input_estimate,
            output_chars: 0,
            whole: false,
            reservation,
            source: candidate.source,
            metered_in: None,
            settlement: None,
        }
    }

    /// Also settles the call's rate-limit token estimate to the tokens charged.
    pub fn settling(mut self, settlement: Option<Settlement>) -> Self {
        self.settlement = settlement;
        self
    }

    /// Also counts the charge in `metrics`' token and cost series under `served`.
    pub fn counted(mut self, metrics: Arc<Metrics>, served: Served) -> Self {
        self.metered_in = Some((metrics, served));
        self
    }

    /// Takes token counts from a usage report; streams may send several, each cumulative
    /// or partial (Anthropic's cache counts come first, its output last), so the largest of
    /// each count wins.
    pub fn usage(&mut self, usage: &Usage) {
        let counted = &mut self.counted;
        counted.input_tokens = counted.input_tokens.max(usage.input_tokens);
        counted.output_tokens = counted.output_tokens.max(usage.output_tokens);
        counted.cache_read_tokens = counted.cache_read_tokens.max(usage.cache_read_tokens);
        counted.cache_write_tokens = counted.cache_write_tokens.max(usage.cache_write_tokens);
        counted.cache_write_1h_tokens = counted
            .cache_write_1h_tokens
            .max(usage.cache_write_1h_tokens);
        counted.reasoning_tokens = counted.reasoning_tokens.max(usage.reasoning_tokens);
    }

    /// A whole, non-streamed answer: its usage, or its text where the provider sent none.
    pub fn response(&mut self, response: &ChatResponse) {
        self.whole = true;
        match &response.usage {
            Some(usage) => self.usage(usage),
            None => {
                for message in response.choices.iter().filter_map(|c| c.message.as_ref()) {
                    for part in &message.content {
                        self.output_chars += match &part.part {
                            Some(Part::Text(text)) => text.chars().count(),
                            Some(Part::Reasoning(reasoning)) => reasoning.text.chars().count(),
                            Some(Part::ToolCall(call)) => {
                                call.name.len() + call.arguments_json.len()
                            }
                            _ => 0,
                        };
                    }
                }
            }
        }
    }

    /// Watches a stream event: usage counts, what was streamed, the end, and the request id
    /// stamped on `End`.
    pub fn observe(&mut self, event: &mut CompleteStreamResponse) {
        match &mut event.event {
            Some(Event::Usage(usage)) => self.usage(usage),
            Some(Event::Delta(delta)) => {
                let mut chars = delta.text.chars().count() + delta.reasoning.chars().count();
                if let Some(call) = &delta.tool_call {
                    chars += call.name.len() + call.arguments_fragment.len();
                }
                self.output_chars += chars;
            }
            Some(Event::End(end)) => {
                self.whole = true;
                if let Some(served) = &mut end.served_by {
                    served.request_id.clone_from(&self.record.request_id);
                    served.cost_micros = self.cost_micros();
                }
            }
            _ => {}
        }
    }

    /// What the call is charged so far, in micro-dollars: what [`Drop`] records, told to the
    /// caller on the answer (`ServedBy.cost_micros`) so that the edge can log it.
    pub fn cost_micros(&self) -> i64 {
        let cost = self
            .price
            .map_or(0, |price| price.usage_cost(&self.charged_usage()));
        i64::try_from(cost).unwrap_or(i64::MAX)
    }

    /// The counts to charge: the provider's where they came, else keyroute's estimates;
    /// for an answer cut short, never less than what was streamed. Always consistent: a
    /// whole is never less than its parts (the vault refuses a record where it is).
    fn charged_usage(&self) -> Usage {
        let counted = &self.counted;
        let cache_write = counted
            .cache_write_tokens
            .max(counted.cache_write_1h_tokens);
        let cached = counted.cache_read_tokens.saturating_add(cache_write);
        let input = match counted.input_tokens {
            0 => self.input_estimate,
            reported => reported,
        }
        .max(cached);
        let streamed = keyroute_wire::estimate::text_tokens(self.output_chars);
        let output = if self.whole && counted.output_tokens > 0 {
            counted.output_tokens
        } else {
            counted.output_tokens.max(streamed)
        }
        .max(counted.reasoning_tokens);
        Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: counted.cache_read_tokens,
            cache_write_tokens: cache_write,
            cache_write_1h_tokens: counted.cache_write_1h_tokens,
            reasoning_tokens: counted.reasoning_tokens,
            total_tokens: input.saturating_add(output),
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        let usage = self.charged_usage();
        self.record.input_tokens = usage.input_tokens;
        self.record.output_tokens = usage.output_tokens;
        self.record.cache_read_tokens = usage.cache_read_tokens;
        self.record.cache_write_tokens = usage.cache_write_tokens;
        self.record.cache_write_1h_tokens = usage.cache_write_1h_tokens;
        self.record.reasoning_tokens = usage.reasoning_tokens;
        let cost = self.price.map_or(0, |price| price.usage_cost(&usage));
        self.record.cost_micros = i64::try_from(cost).unwrap_or(i64::MAX);
        if let Some((metrics, served)) = &self.metered_in {
            metrics.charged(served, &usage, cost);
        }
        self.record.time = Some(prost_types::Timestamp::from(std::time::SystemTime::now()));
        self.accounts.charge(
            &self.record.principal_id,
            &self.record.credential_owner_id,
            self.source,
            self.record.cost_micros,
        );
        if let Some(reservation) = &self.reservation {
            reservation.charged(self.record.cost_micros);
        }
        if let Some(settlement) = self.settlement.take() {
            settlement.settle(usage.total_tokens);
        }
        self.reporter.report(std::mem::take(&mut self.record));
    }
}
