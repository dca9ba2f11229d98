//! Rate limits: requests and tokens per minute on a user, an org, a provider key or a model
//! served by the platform's managed keys. Routers enforce them together; the vault keeps
//! them, hands them out with balances and leases, and records who set each one, because a
//! limit the operator set is the operator's alone to change.

use super::audit::append;
use super::sql::{Param, Row, Tx, params};
use super::{AuditRecord, Millis, Store, StoreError, parse_enum};

/// What a rate limit counts. The order is the order lists are sorted in (the proto's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RateLimitScope {
    /// Every call a user makes.
    Principal,
    /// Every call made with an org's keys.
    Org,
    /// Every call served by one provider key.
    Credential,
    /// Every call to one catalog model through the platform's managed keys.
    ManagedModel,
}

impl RateLimitScope {
    /// The scope as the `rate_limits.scope` column (and audit details) spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Principal => "principal",
            Self::Org => "org",
            Self::Credential => "credential",
            Self::ManagedModel => "managed_model",
        }
    }

    /// The scope a column value names, if any.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "principal" => Some(Self::Principal),
            "org" => Some(Self::Org),
            "credential" => Some(Self::Credential),
            "managed_model" => Some(Self::ManagedModel),
            _ => None,
        }
    }
}

/// One stored limit. A figure of 0 does not limit; a stored limit has at least one above 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitRecord {
    pub scope: RateLimitScope,
    pub target_id: String,
    pub requests_per_minute: u64,
    pub tokens_per_minute: u64,
    /// Written by the operator: only the operator may change or remove it.
    pub set_by_operator: bool,
    pub updated_at: Millis,
}

impl RateLimitRecord {
    /// Both figures 0: the write removes the limit.
    pub fn is_removal(&self) -> bool {
        self.requests_per_minute == 0 && self.tokens_per_minute == 0
    }
}

/// What [`Store::set_rate_limit`] came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimitChange {
    /// The limit as now stored (new or changed).
    Stored(RateLimitRecord),
    /// The limit that was removed.
    Removed(RateLimitRecord),
    /// A removal found no limit: nothing changed, nothing was audited.
    Absent,
    /// The operator set the existing limit and this writer is not the operator: nothing
    /// changed.
    OperatorOwned,
}

const COLUMNS: &str =
    "scope, target_id, requests_per_minute, tokens_per_minute, set_by_operator, updated_at";

/// Most targets bound in one `IN (...)` list, well under either database's parameter limit.
const TARGETS_PER_QUERY: usize = 500;

fn from_row(row: &Row<'_>) -> Result<RateLimitRecord, StoreError> {
    let scope: String = row.get(0)?;
    Ok(RateLimitRecord {
        scope: parse_enum(&scope, RateLimitScope::parse, "rate limit scope")?,
        target_id: row.get(1)?,
        requests_per_minute: row.get(2)?,
        tokens_per_minute: row.get(3)?,
        set_by_operator: row.get(4)?,
        updated_at: row.get(5)?,
    })
}

/// A figure as the signed column holds it; the service refuses larger ones first.
fn figure(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Conflict(format!("rate limit figure {value} is too large")))
}

/// By scope, then target (bytewise, the same on either database).
fn sorted(mut limits: Vec<RateLimitRecord>) -> Vec<RateLimitRecord> {
    limits.sort_by(|a, b| (a.scope, &a.target_id).cmp(&(b.scope, &b.target_id)));
    limits
}

fn get(
    tx: &Tx<'_>,
    scope: RateLimitScope,
    target_id: &str,
) -> Result<Option<RateLimitRecord>, StoreError> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM rate_limits WHERE scope = ?1 AND target_id = ?2"),
        params![scope.as_str(), target_id],
        from_row,
    )
}

/// `?start, ?start+1, ...`: `count` numbered parameters.
fn placeholders(start: usize, count: usize) -> String {
    (start..start + count)
        .map(|n| format!("?{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The limits of any of `scopes` on any of `targets`.
fn on_targets(
    tx: &Tx<'_>,
    scopes: &[RateLimitScope],
    targets: &[String],
) -> Result<Vec<RateLimitRecord>, StoreError> {
    let scope_names: Vec<&str> = scopes.iter().map(|scope| scope.as_str()).collect();
    let mut found = Vec::new();
    for chunk in targets.chunks(TARGETS_PER_QUERY) {
        let sql = format!(
            "SELECT {COLUMNS} FROM rate_limits WHERE scope IN ({}) AND target_id IN ({})",
            placeholders(1, scope_names.len()),
            placeholders(1 + scope_names.len(), chunk.len()),
        );
        let mut bound: Vec<&dyn Param> = Vec::with_capacity(scope_names.len() + chunk.len());
        bound.extend(scope_names.iter().map(|name| name as &dyn Param));
        bound.extend(chunk.iter().map(|target| target as &dyn Param));
        found.extend(tx.query_map(&sql, &bound, from_row)?);
    }
    Ok(found)
}

impl Store {
    /// Sets, changes or (both figures 0) removes one limit, with its audit event, unless the
    /// operator set the existing one and `limit` is not the operator's (checked in the same
    /// transaction as the write, so a concurrent operator write is never overwritten).
    pub async fn set_rate_limit(
        &self,
        limit: RateLimitRecord,
        audit: AuditRecord,
    ) -> Result<RateLimitChange, StoreError> {
        self.write(move |tx| {
            let existing = get(tx, limit.scope, &limit.target_id)?;
            if existing
                .as_ref()
                .is_some_and(|row| row.set_by_operator && !limit.set_by_operator)
            {
                return Ok(RateLimitChange::OperatorOwned);
            }
            if limit.is_removal() {
                let Some(existing) = existing else {
                    return Ok(RateLimitChange::Absent);
                };
                tx.execute(
                    "DELETE FROM rate_limits WHERE scope = ?1 AND target_id = ?2",
                    params![limit.scope.as_str(), limit.target_id],
                )?;
                append(tx, &audit)?;
                return Ok(RateLimitChange::Removed(existing));
            }
            tx.execute(
                "INSERT INTO rate_limits (scope, target_id, requests_per_minute,
                        tokens_per_minute, set_by_operator, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (scope, target_id) DO UPDATE SET requests_per_minute = ?3,
                        tokens_per_minute = ?4, set_by_operator = ?5, updated_at = ?6",
                params![
                    limit.scope.as_str(),
                    limit.target_id,
                    figure(limit.requests_per_minute)?,
                    figure(limit.tokens_per_minute)?,
                    limit.set_by_operator,
                    limit.updated_at,
                ],
            )?;
            append(tx, &audit)?;
            Ok(RateLimitChange::Stored(limit.clone()))
        })
        .await
    }

    /// Every limit, or those of one scope and/or one target (the operator's view), sorted
    /// by scope then target.
    pub async fn list_rate_limits(
        &self,
        scope: Option<RateLimitScope>,
        target_id: Option<&str>,
    ) -> Result<Vec<RateLimitRecord>, StoreError> {
        let scope = scope.map_or("", RateLimitScope::as_str);
        let target_id = target_id.unwrap_or_default().to_owned();
        self.read(move |tx| {
            tx.query_map(
                &format!(
                    "SELECT {COLUMNS} FROM rate_limits
                     WHERE (?1 = '' OR scope = ?1) AND (?2 = '' OR target_id = ?2)"
                ),
                params![scope, target_id],
                from_row,
            )
        })
        .await
        .map(sorted)
    }

    /// The limits `principal_id` may see: on itself, on its orgs (any role), and on the keys
    /// it and its orgs own; optionally of one scope and/or one target. Sorted by scope, then
    /// target.
    pub async fn visible_rate_limits(
        &self,
        principal_id: &str,
        scope: Option<RateLimitScope>,
        target_id: Option<&str>,
    ) -> Result<Vec<RateLimitRecord>, StoreError> {
        let principal_id = principal_id.to_owned();
        let scope = scope.map_or("", RateLimitScope::as_str);
        let target_id = target_id.unwrap_or_default().to_owned();
        self.read(move |tx| {
            tx.query_map(
                &format!(
                    "SELECT {COLUMNS} FROM rate_limits
                     WHERE ((scope IN ('principal', 'org') AND target_id = ?1)
                        OR (scope = 'org' AND target_id IN
                            (SELECT org_id FROM memberships WHERE user_id = ?1))
                        OR (scope = 'credential' AND target_id IN
                            (SELECT id FROM credentials WHERE owner_id = ?1 OR owner_id IN
                                (SELECT org_id FROM memberships WHERE user_id = ?1))))
                       AND (?2 = '' OR scope = ?2) AND (?3 = '' OR target_id = ?3)"
                ),
                params![principal_id, scope, target_id],
                from_row,
            )
        })
        .await
        .map(sorted)
    }

    /// The limits on a principal and its orgs (`owner_ids`), as routers read them with the
    /// balance: user and org scopes only. Sorted by scope, then target.
    pub async fn owner_rate_limits(
        &self,
        owner_ids: Vec<String>,
    ) -> Result<Vec<RateLimitRecord>, StoreError> {
        self.read(move |tx| {
            on_targets(
                tx,
                &[RateLimitScope::Principal, RateLimitScope::Org],
                &owner_ids,
            )
        })
        .await
        .map(sorted)
    }

    /// The limits a lease carries: those on its keys, and with `managed_models` (the
    /// platform's own lease) every managed-model limit. Sorted by scope, then target.
    pub async fn lease_rate_limits(
        &self,
        credential_ids: Vec<String>,
        managed_models: bool,
    ) -> Result<Vec<RateLimitRecord>, StoreError> {
        self.read(move |tx| {
            let mut limits = on_targets(tx, &[RateLimitScope::Credential], &credential_ids)?;
            if managed_models {
                limits.extend(tx.query_map(
                    &format!("SELECT {COLUMNS} FROM rate_limits WHERE scope = ?1"),
                    params![RateLimitScope::ManagedModel.as_str()],
                    from_row,
                )?);
            }
            Ok(limits)
        })
        .await
        .map(sorted)
    }
}

#[cfg(test)]
mod tests {
    use super::{RateLimitScope, placeholders};

    #[test]
    fn scopes_read_back_as_written_and_sort_in_proto_order() {
        let all = [
            RateLimitScope::Principal,
            RateLimitScope::Org,
            RateLimitScope::Credential,
            RateLimitScope::ManagedModel,
        ];
        for scope in all {
            assert_eq!(RateLimitScope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(RateLimitScope::parse("model"), None);
        let mut shuffled = [all[3], all[1], all[0], all[2]];
        shuffled.sort();
        assert_eq!(shuffled, all);
    }

    #[test]
    fn placeholders_are_numbered_from_the_start_given() {
        assert_eq!(placeholders(3, 2), "?3, ?4");
        assert_eq!(placeholders(1, 1), "?1");
    }
}
