//! Money around a routed call: before it, which candidates the caller can afford (a positive
//! balance for managed keys, budgets not used up); after it, one usage record per request
//! id, priced from the catalog, and the local balance and budgets adjusted.

use std::sync::Arc;

use keyroute_proto::router::v1::{CompleteStreamResponse, Usage};
use keyroute_proto::vault::v1::{UsageRecord, UsageSource};
use keyroute_wire::canonical::pb::complete_stream_response::Event;
use keyroute_wire::catalog::{Price, dollars};

use crate::cache::accounts::{Account, Accounts};
use crate::cache::usage::UsageReporter;
use crate::error::RouterError;
use crate::policy::candidates::{Candidate, Source};

/// The request id: the caller's `x-request-id` when sane (so a retried request is charged
/// once), otherwise a new one.
pub fn request_id(metadata: &tonic::metadata::MetadataMap) -> String {
    keyroute_telemetry::request_id(metadata)
        .map_or_else(keyroute_telemetry::new_request_id, str::to_owned)
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
/// (a finished stream, a caller who went away, or a complete response).
#[derive(Debug)]
pub struct Meter {
    record: UsageRecord,
    price: Option<Price>,
    reporter: Arc<UsageReporter>,
    accounts: Arc<Accounts>,
}

impl Meter {
    pub fn new(
        request_id: String,
        principal_id: &str,
        model: &str,
        candidate: &Candidate<'_>,
        reporter: Arc<UsageReporter>,
        accounts: Arc<Accounts>,
    ) -> Self {
        Self {
            record: UsageRecord {
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
                input_tokens: 0,
                output_tokens: 0,
                cost_micros: 0,
                time: None,
            },
            price: candidate.offer.map(|offer| offer.price()),
            reporter,
            accounts,
        }
    }

    /// Takes token counts from a usage report; streams may send several, each cumulative
    /// or partial, so the largest of each count wins.
    pub fn usage(&mut self, usage: &Usage) {
        self.record.input_tokens = self.record.input_tokens.max(usage.input_tokens);
        self.record.output_tokens = self.record.output_tokens.max(usage.output_tokens);
    }

    /// Watches a stream event: usage counts, and the request id stamped on `End`.
    pub fn observe(&mut self, event: &mut CompleteStreamResponse) {
        match &mut event.event {
            Some(Event::Usage(usage)) => self.usage(usage),
            Some(Event::End(end)) => {
                if let Some(served) = &mut end.served_by {
                    served.request_id.clone_from(&self.record.request_id);
                }
            }
            _ => {}
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        let cost = self.price.map_or(0, |price| {
            price.cost(self.record.input_tokens, self.record.output_tokens)
        });
        self.record.cost_micros = i64::try_from(cost).unwrap_or(i64::MAX);
        self.record.time = Some(prost_types::Timestamp::from(std::time::SystemTime::now()));
        let source = match self.record.source() {
            UsageSource::Managed => Source::Managed,
            _ => Source::Byok,
        };
        self.accounts.charge(
            &self.record.principal_id,
            &self.record.credential_owner_id,
            source,
            self.record.cost_micros,
        );
        self.reporter.report(std::mem::take(&mut self.record));
    }
}
