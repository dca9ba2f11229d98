//! `keyroute admin limits`: rate limits in requests and tokens per minute on a user, an org,
//! a provider key or a managed model. The operator's limits are marked as theirs: no owner
//! may change or remove them.

use keyroute_proto::vault::v1::*;
use serde_json::{Value, json};

use super::Admin;
use super::render::done;
use crate::CliError;
use crate::output::{Listing, time};

/// What a limit counts, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScopeArg {
    /// Every call a user makes (`usr_...`).
    Principal,
    /// Every call made with an org's keys (`org_...`).
    Org,
    /// Every call served by one provider key (`cred_...`).
    Credential,
    /// Every call to one catalog model through the platform's managed keys.
    ManagedModel,
}

#[derive(Debug, clap::Subcommand)]
pub enum LimitsCommand {
    /// Sets or changes a limit (routers apply it within seconds).
    Set {
        #[arg(long, value_enum)]
        scope: ScopeArg,
        /// The user, org, credential id or catalog model id.
        #[arg(long)]
        target: String,
        /// Requests per minute; 0 or absent: not limited.
        #[arg(long, default_value_t = 0)]
        rpm: u64,
        /// Tokens (input plus output) per minute; 0 or absent: not limited.
        #[arg(long, default_value_t = 0)]
        tpm: u64,
    },
    /// Lists limits, by scope then target.
    List {
        #[arg(long, value_enum)]
        scope: Option<ScopeArg>,
        #[arg(long, default_value = "")]
        target: String,
    },
    /// Removes a limit.
    Remove {
        #[arg(long, value_enum)]
        scope: ScopeArg,
        #[arg(long)]
        target: String,
    },
}

fn scope(arg: ScopeArg) -> RateLimitScope {
    match arg {
        ScopeArg::Principal => RateLimitScope::Principal,
        ScopeArg::Org => RateLimitScope::Org,
        ScopeArg::Credential => RateLimitScope::Credential,
        ScopeArg::ManagedModel => RateLimitScope::ManagedModel,
    }
}

/// A figure for the table: `none` when not limited.
fn figure(value: u64) -> String {
    if value == 0 {
        "none".to_owned()
    } else {
        value.to_string()
    }
}

fn limit_json(limit: &RateLimit) -> Value {
    json!({
        "scope": limit.scope().name(),
        "target_id": limit.target_id,
        "requests_per_minute": limit.requests_per_minute,
        "tokens_per_minute": limit.tokens_per_minute,
        "set_by_operator": limit.set_by_operator,
        "updated_at": time(limit.updated_at.as_ref()),
    })
}

fn listing(limits: &[RateLimit], json: Value) -> Listing {
    Listing {
        json,
        headers: &["SCOPE", "TARGET", "RPM", "TPM", "SET BY", "UPDATED"],
        rows: limits
            .iter()
            .map(|l| {
                vec![
                    l.scope().name().to_owned(),
                    l.target_id.clone(),
                    figure(l.requests_per_minute),
                    figure(l.tokens_per_minute),
                    if l.set_by_operator {
                        "operator"
                    } else {
                        "owner"
                    }
                    .to_owned(),
                    time(l.updated_at.as_ref()),
                ]
            })
            .collect(),
    }
}

pub(super) async fn run(admin: &mut Admin, command: LimitsCommand) -> Result<Listing, CliError> {
    Ok(match command {
        LimitsCommand::Set {
            scope: arg,
            target,
            rpm,
            tpm,
        } => {
            if rpm == 0 && tpm == 0 {
                return Err(CliError::Usage(
                    "pass --rpm or --tpm above 0 (`keyroute admin limits remove` removes a limit)"
                        .into(),
                ));
            }
            let request = SetRateLimitRequest {
                scope: scope(arg).into(),
                target_id: target,
                requests_per_minute: rpm,
                tokens_per_minute: tpm,
            };
            let reply = admin
                .client
                .set_rate_limit(request)
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            let stored: Vec<RateLimit> = reply.rate_limit.into_iter().collect();
            let json = stored.first().map_or(Value::Null, limit_json);
            listing(&stored, json)
        }
        LimitsCommand::List { scope: arg, target } => {
            let request = ListRateLimitsRequest {
                scope: arg.map_or(RateLimitScope::Unspecified, scope).into(),
                target_id: target,
            };
            let limits = admin
                .client
                .list_rate_limits(request)
                .await
                .map_err(|s| admin.status(s))?
                .into_inner()
                .rate_limits;
            let json = Value::Array(limits.iter().map(limit_json).collect());
            listing(&limits, json)
        }
        LimitsCommand::Remove { scope: arg, target } => {
            let request = SetRateLimitRequest {
                scope: scope(arg).into(),
                target_id: target.clone(),
                requests_per_minute: 0,
                tokens_per_minute: 0,
            };
            admin
                .client
                .set_rate_limit(request)
                .await
                .map_err(|s| admin.status(s))?;
            done(&format!(
                "removed the {} limit on {target}",
                scope(arg).name()
            ))
        }
    })
}
