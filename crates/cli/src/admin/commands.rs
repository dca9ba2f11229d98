//! The admin nouns and verbs: the resources, and the dispatch to each one's commands (the
//! audit log and KEK rotation are short enough to live here).

use keyroute_proto::vault::v1::*;

use super::identities::{self, MembersCommand, OrgsCommand, TokensCommand, UsersCommand};
use super::keys::{self, KeysCommand, SettingsCommand};
use super::{Admin, render};
use crate::CliError;

#[derive(Debug, clap::Subcommand)]
pub enum Resource {
    /// Users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Organizations.
    #[command(subcommand)]
    Orgs(OrgsCommand),
    /// Org memberships and roles.
    #[command(subcommand)]
    Members(MembersCommand),
    /// Gateway API tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Provider credentials (API keys).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Per-owner provider settings.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Key-encryption key rotation.
    #[command(subcommand)]
    Kek(AdminKekCommand),
    /// Credit balances, monthly budgets and usage.
    #[command(subcommand)]
    Billing(super::billing::BillingCommand),
    /// Rate limits: requests and tokens per minute.
    #[command(subcommand)]
    Limits(super::limits::LimitsCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Lists an owner's audit events, newest first.
    List {
        #[arg(long)]
        owner: String,
        #[arg(long, default_value_t = 50)]
        limit: i32,
        /// Continue from a previous page.
        #[arg(long, default_value = "")]
        page_token: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum AdminKekCommand {
    /// Reloads the vault's keyring file and rewraps every data key under its active version.
    /// Credentials that cannot be opened are skipped and listed (and audited as
    /// `kek.rotate.skip`); the command then exits 1, as their KEK version is still in use.
    Rotate,
}

pub(super) async fn run(admin: &mut Admin, resource: Resource) -> Result<(), CliError> {
    let format = admin.format;
    let listing = match resource {
        Resource::Users(command) => identities::users(admin, command).await?,
        Resource::Orgs(command) => identities::orgs(admin, command).await?,
        Resource::Members(command) => identities::members(admin, command).await?,
        Resource::Tokens(command) => identities::tokens(admin, command).await?,
        Resource::Keys(command) => keys::keys(admin, command).await?,
        Resource::Settings(command) => keys::settings(admin, command).await?,
        Resource::Billing(command) => super::billing::run(admin, command).await?,
        Resource::Limits(command) => super::limits::run(admin, command).await?,
        Resource::Audit(AuditCommand::List {
            owner,
            limit,
            page_token,
        }) => {
            let request = ListAuditEventsRequest {
                owner_id: owner,
                page_size: limit,
                page_token,
            };
            let reply = admin
                .client
                .list_audit_events(request)
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            if !reply.next_page_token.is_empty() && format == crate::output::Format::Table {
                eprintln!("more events: --page-token {}", reply.next_page_token);
            }
            render::audit(&reply.events, &reply.next_page_token)
        }
        Resource::Kek(AdminKekCommand::Rotate) => {
            let reply = admin
                .client
                .rotate_kek(RotateKekRequest {})
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            render::rotation(&reply).print(format);
            if reply.skipped.is_empty() {
                return Ok(());
            }
            if format == crate::output::Format::Table {
                print!("\n{}", render::rotation_skipped(&reply));
            }
            // Everything else was rewrapped, but the old versions are still in use: exit 1
            // so that a script does not go on to retire them.
            let old: Vec<String> = reply
                .versions_in_use
                .iter()
                .filter(|version| **version != reply.active_version)
                .map(u32::to_string)
                .collect();
            return Err(CliError::Vault {
                code: "rotation_incomplete".into(),
                message: format!(
                    "{} credential(s) could not be opened and still use kek version(s) {}; \
                     do not retire those versions: delete these keys (their owners add them again), \
                     then rotate again",
                    reply.skipped.len(),
                    old.join(",")
                ),
            });
        }
    };
    listing.print(format);
    Ok(())
}
