//! What the limiter answers: an [`Admission`] to settle later or a [`Refusal`] to turn into a
//! 429, each with the figures the rate-limit headers need.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::check::{Check, Dimension};
use crate::window::{Counts, Position};

/// Where a decision was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Store {
    /// In Redis: shared by every router.
    Redis,
    /// In this process, because Redis is configured but unreachable or slow (the fallback).
    Fallback,
    /// In this process, because no Redis is configured (a single router, `keyroute dev`).
    Local,
}

/// One limit's state as the headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The limit per window (in fallback, the share this router enforces).
    pub limit: u64,
    /// What is left of it now.
    pub remaining: u64,
    /// How long until it is fully available again if nothing else is admitted.
    pub reset: Duration,
}

impl Quota {
    pub(crate) fn at(position: Position, counts: Counts, limit: u64) -> Self {
        Self {
            limit,
            remaining: position.remaining(counts, limit),
            reset: position.reset(counts),
        }
    }
}

/// The tightest limit per dimension among a call's checks: the one with the least remaining,
/// which is what OpenAI and Anthropic headers report. `None` where no check limits that
/// dimension.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quotas {
    /// Requests per window.
    pub requests: Option<Quota>,
    /// Tokens per window.
    pub tokens: Option<Quota>,
}

impl Quotas {
    /// The quota of one dimension.
    pub fn get(&self, dimension: Dimension) -> Option<Quota> {
        match dimension {
            Dimension::Requests => self.requests,
            Dimension::Tokens => self.tokens,
        }
    }

    pub(crate) fn slot(&mut self, dimension: Dimension) -> &mut Option<Quota> {
        match dimension {
            Dimension::Requests => &mut self.requests,
            Dimension::Tokens => &mut self.tokens,
        }
    }

    pub(crate) fn tighten(&mut self, dimension: Dimension, quota: Quota) {
        let slot = self.slot(dimension);
        let tighter = match slot {
            None => true,
            Some(held) => (quota.remaining, quota.limit) < (held.remaining, held.limit),
        };
        if tighter {
            *slot = Some(quota);
        }
    }
}

/// A call the limiter let through. Keep it until the call ends and hand it to
/// [`Limiter::settle`](crate::Limiter::settle) with the real token count; dropped unsettled,
/// the estimate stands.
#[derive(Debug)]
pub struct Admission {
    /// The figures for the response's rate-limit headers, after this call.
    pub quotas: Quotas,
    /// Where it was counted; `None` when no check limited anything (nothing counted).
    pub store: Option<Store>,
    pub(crate) settlement: Settlement,
}

impl Admission {
    /// An admission no limit applied to: nothing to count, nothing to settle.
    pub(crate) fn unlimited() -> Self {
        Self {
            quotas: Quotas::default(),
            store: None,
            settlement: Settlement::default(),
        }
    }

    /// The token estimate this call was admitted with.
    pub fn estimated_tokens(&self) -> u64 {
        self.settlement.estimated
    }

    /// Whether settling can change anything (a token limit counted the estimate), so that a
    /// caller need not keep the admission, or spawn a settlement, when it cannot.
    pub fn needs_settling(&self) -> bool {
        !self.settlement.scopes.is_empty()
    }
}

/// What settling needs: which token counters were charged, in which window, by how much.
#[derive(Debug, Default)]
pub(crate) struct Settlement {
    pub window: u64,
    pub estimated: u64,
    /// Scopes of the checks with a token limit; empty when there is nothing to settle.
    pub scopes: Vec<Arc<str>>,
}

/// Why a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The limit is used up for now: retry after `retry_after`.
    Exhausted,
    /// The call alone asks more than the limit (an estimate above the token limit, or a limit
    /// of zero): waiting never helps, so there is no `retry_after`.
    TooLarge,
}

/// A call the limiter refused: the edge answers 429 with `retry-after` and the rate-limit
/// headers from these figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Whether waiting helps.
    pub kind: RefusalKind,
    /// The check that refused (the one needing the longest wait when several did).
    pub scope: Arc<str>,
    /// What it ran out of.
    pub dimension: Dimension,
    /// Its limit in that dimension.
    pub limit: u64,
    /// What the call asked in that dimension (1 request, or the token estimate).
    pub requested: u64,
    /// How long until the call would fit if nothing else is admitted; `None` for
    /// [`RefusalKind::TooLarge`].
    pub retry_after: Option<Duration>,
    /// The figures for the rate-limit headers, the refusing check's in its dimension (empty
    /// for [`RefusalKind::TooLarge`], decided before any counter was read).
    pub quotas: Quotas,
}

impl Refusal {
    /// The refusing check's quota in the refused dimension, when counters were read.
    pub fn quota(&self) -> Option<Quota> {
        self.quotas.get(self.dimension)
    }

    pub(crate) fn too_large(
        check: &Check,
        dimension: Dimension,
        limit: u64,
        requested: u64,
    ) -> Self {
        Self {
            kind: RefusalKind::TooLarge,
            scope: check.scope.clone(),
            dimension,
            limit,
            requested,
            retry_after: None,
            quotas: Quotas::default(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RefusalKind::Exhausted => write!(
                f,
                "rate limit of {} {} per minute reached for {}",
                self.limit, self.dimension, self.scope
            ),
            RefusalKind::TooLarge => write!(
                f,
                "call needs {} {}, above the limit of {} per minute for {}",
                self.requested, self.dimension, self.limit, self.scope
            ),
        }
    }
}

impl std::error::Error for Refusal {}
