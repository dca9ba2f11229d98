//! Rate limits before the first key is tried: the caller's own limit and the first
//! candidate's (its key's, its org's, the managed model's) admitted together in one call to
//! the limiter, so a refused call takes nothing from any of them. A candidate held back only
//! by its own limits gives way to the next; a call refused by the caller's own limit, or
//! with every candidate held back, is the caller's 429.
//!
//! Only the first key tried is checked against its limits: when it fails at the provider and
//! the call moves on, the next key serves without a check of its own (its provider still
//! enforces its limit, and a key it throttles sits out as any other).

use keyroute_proto::vault::v1::{PrincipalKind, RateLimitScope};
use keyroute_ratelimit::{Admission, Check, Refusal};
use keyroute_wire::catalog::Resolution;

use super::Router;
use super::opening::{Opening, Plan};
use crate::cache::accounts::Source;
use crate::error::RouterError;
use crate::policy::candidates::Candidate;
use crate::policy::rate_limits::{refused, token_estimate};

/// Adds the limits on `candidate` itself to `checks`.
fn candidate_checks(plan: &Plan<'_>, candidate: &Candidate<'_>, checks: &mut Vec<Check>) {
    let key = candidate.key;
    let lease = match candidate.source {
        Source::Byok => Some(&*plan.lease),
        Source::Managed => plan.managed.as_deref(),
    };
    if let Some(lease) = lease {
        checks.extend(
            lease
                .limits
                .get(RateLimitScope::Credential, &key.id)
                .cloned(),
        );
        if candidate.source == Source::Managed
            && let Resolution::Catalog { model, .. } = &plan.resolution
        {
            checks.extend(
                lease
                    .limits
                    .get(RateLimitScope::ManagedModel, &model.id)
                    .cloned(),
            );
        }
    }
    if key.owner_kind == PrincipalKind::Org
        && let Some(account) = plan.account.as_deref()
    {
        checks.extend(
            account
                .limits()
                .get(RateLimitScope::Org, &key.owner_id)
                .cloned(),
        );
    }
}

/// Of two refusals, the one to report: the sooner a retry may succeed, the better; one
/// that waiting cannot help only when there is no other.
fn sooner(held: Option<Refusal>, refusal: Refusal) -> Refusal {
    match held {
        Some(held) => match (held.retry_after, refusal.retry_after) {
            (Some(a), Some(b)) if b < a => refusal,
            (None, Some(_)) => refusal,
            _ => held,
        },
        None => refusal,
    }
}

impl Router {
    /// Admits the call against its rate limits; the candidates left start with the one the
    /// admission covers.
    pub(super) async fn admit_chat<'p>(
        &self,
        plan: &Plan<'_>,
        opening: &Opening,
        found: Vec<Candidate<'p>>,
    ) -> Result<(Vec<Candidate<'p>>, Admission), RouterError> {
        let max_tokens = opening.chat.sampling.as_ref().and_then(|s| s.max_tokens);
        let estimate = token_estimate(opening.input_estimate, max_tokens);
        let principal = &opening.caller.principal_id;
        self.admit(plan, principal, &opening.chat.model, estimate, found)
            .await
    }

    /// Admits a call of `principal` for `model` costing `estimate` tokens; see the module
    /// docs.
    pub(super) async fn admit<'p>(
        &self,
        plan: &Plan<'_>,
        principal: &str,
        model: &str,
        estimate: u64,
        mut found: Vec<Candidate<'p>>,
    ) -> Result<(Vec<Candidate<'p>>, Admission), RouterError> {
        let caller = plan
            .account
            .as_deref()
            .and_then(|account| account.limits().get(RateLimitScope::Principal, principal));
        // Allocates only when some limit applies.
        let mut checks: Vec<Check> = Vec::new();
        let mut held_back = None;
        for index in 0..found.len() {
            checks.clear();
            checks.extend(caller.cloned());
            candidate_checks(plan, &found[index], &mut checks);
            match self.limiter.admit(&checks, estimate).await {
                Ok(admission) => {
                    found.drain(..index);
                    return Ok((found, admission));
                }
                Err(refusal) => {
                    if caller.is_some_and(|check| check.scope == refusal.scope) {
                        held_back = Some(refusal);
                        break;
                    }
                    held_back = Some(sooner(held_back, refusal));
                }
            }
        }
        self.metrics
            .request("", plan.model_label(), "", "rate_limit_refused");
        match held_back {
            Some(refusal) => Err(refused(model, &refusal)),
            None => Err(RouterError::Internal(
                "no candidate to admit against rate limits".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use keyroute_ratelimit::{Dimension, Quotas, RefusalKind};

    use super::*;

    fn refusal(scope: &str, wait: Option<u64>) -> Refusal {
        Refusal {
            kind: if wait.is_some() {
                RefusalKind::Exhausted
            } else {
                RefusalKind::TooLarge
            },
            scope: scope.into(),
            dimension: Dimension::Requests,
            limit: 1,
            requested: 1,
            retry_after: wait.map(Duration::from_secs),
            quotas: Quotas::default(),
        }
    }

    #[test]
    fn the_sooner_retry_is_reported() {
        let first = sooner(None, refusal("credential:a", Some(30)));
        let second = sooner(Some(first), refusal("credential:b", Some(5)));
        assert_eq!(&*second.scope, "credential:b");
        let third = sooner(Some(second), refusal("credential:c", None));
        assert_eq!(&*third.scope, "credential:b");
        let only_too_large = sooner(None, refusal("credential:c", None));
        let then_waiting = sooner(Some(only_too_large), refusal("credential:d", Some(60)));
        assert_eq!(&*then_waiting.scope, "credential:d");
    }
}
