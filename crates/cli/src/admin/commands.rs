//! The admin nouns and verbs.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use keyroute_proto::vault::v1::*;
use zeroize::Zeroizing;

use super::Admin;
use super::render;
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
}

#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Creates a user.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        email: String,
    },
    /// Lists users.
    List,
    /// Shows a user and their org memberships.
    Get { id: String },
    /// Disables a user: their gateway tokens are refused (routers drop them within about a
    /// second) until the user is enabled again.
    Disable { id: String },
    /// Enables a disabled user: their tokens work again.
    Enable { id: String },
}

#[derive(Debug, clap::Subcommand)]
pub enum OrgsCommand {
    /// Creates an org, optionally with its first owner.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        owner: Option<String>,
    },
    /// Lists orgs.
    List,
    /// Disables an org: its gateway tokens are refused (routers drop them within about a
    /// second) until the org is enabled again.
    Disable { id: String },
    /// Enables a disabled org: its tokens work again.
    Enable { id: String },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Owner,
    BillingManager,
    Member,
}

#[derive(Debug, clap::Subcommand)]
pub enum MembersCommand {
    /// Adds a user to an org, or changes their role.
    Add {
        #[arg(long)]
        org: String,
        #[arg(long)]
        user: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Removes a user from an org.
    Remove {
        #[arg(long)]
        org: String,
        #[arg(long)]
        user: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum TokensCommand {
    /// Issues a gateway token; it is printed once and never again.
    Issue {
        #[arg(long)]
        principal: String,
        #[arg(long, default_value = "default")]
        name: String,
        /// The token stops working this long after it is issued: 3600s, 90m, 12h, 30d or
        /// 2w. Without it, the token does not expire.
        #[arg(long, value_name = "DURATION", value_parser = parse_lifetime)]
        expires_in: Option<prost_types::Duration>,
    },
    /// Revokes a token by id.
    Revoke { id: String },
    /// Revokes every token of a principal at once (routers drop them within about a second).
    RevokeAll {
        #[arg(long)]
        principal: String,
    },
    /// Lists a principal's tokens (metadata only).
    List {
        #[arg(long)]
        principal: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct SecretSource {
    /// Read the secret from this file, or `-` for standard input. Secrets are never taken
    /// on the command line, where shell history and `ps` would keep them.
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Adds a credential for an owner (a user, an org, or `platform` for managed keys).
    Add {
        #[arg(long)]
        owner: String,
        #[arg(long)]
        provider: String,
        #[arg(long, default_value = "")]
        label: String,
        /// Non-secret configuration, repeatable: --config endpoint=https://...
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_pair)]
        config: Vec<(String, String)>,
        /// Store it disabled.
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        secret: SecretSource,
    },
    /// Lists an owner's credentials (fingerprints, never secrets).
    List {
        #[arg(long)]
        owner: String,
    },
    /// Shows one credential.
    Get { id: String },
    /// Replaces a credential's secret (and config).
    Update {
        id: String,
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_pair)]
        config: Vec<(String, String)>,
        #[command(flatten)]
        secret: SecretSource,
    },
    /// Enables a credential.
    Enable { id: String },
    /// Disables a credential; routers drop it within about a second.
    Disable { id: String },
    /// Deletes a credential.
    Delete { id: String },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    Managed,
    CustomKey,
    Disabled,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FallbackArg {
    Never,
    WhenNoKey,
    WhenKeyFails,
}

#[derive(Debug, clap::Subcommand)]
pub enum SettingsCommand {
    /// Lists an owner's provider settings.
    List {
        #[arg(long)]
        owner: String,
    },
    /// Sets how an owner's requests to a provider are served.
    Set {
        #[arg(long)]
        owner: String,
        #[arg(long)]
        provider: String,
        #[arg(long, value_enum)]
        mode: ModeArg,
        #[arg(long, value_enum, default_value = "when-no-key")]
        fallback: FallbackArg,
    },
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

/// A token lifetime: a whole number with `s`, `m`, `h`, `d` or `w`.
fn parse_lifetime(text: &str) -> Result<prost_types::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 12h or 30d"))?;
    let unit_seconds: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("{text:?} needs a unit: s, m, h, d or w")),
    };
    if value == 0 {
        return Err("the lifetime must be longer than zero".into());
    }
    Ok(prost_types::Duration {
        seconds: value.saturating_mul(unit_seconds),
        nanos: 0,
    })
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.trim().to_owned(), value.to_owned()))
        .filter(|(key, _)| !key.is_empty())
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

fn read_secret(source: &SecretSource) -> Result<Zeroizing<String>, CliError> {
    let Some(path) = &source.secret_file else {
        return Ok(Zeroizing::new(String::new()));
    };
    let mut secret = Zeroizing::new(String::new());
    let result = if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut secret).map(drop)
    } else {
        std::fs::File::open(path)
            .and_then(|mut file| file.read_to_string(&mut secret))
            .map(drop)
    };
    result.map_err(|error| {
        CliError::Io(format!(
            "cannot read the secret from {}: {error}",
            path.display()
        ))
    })?;
    Ok(secret)
}

fn role(role: RoleArg) -> Role {
    match role {
        RoleArg::Owner => Role::Owner,
        RoleArg::BillingManager => Role::BillingManager,
        RoleArg::Member => Role::Member,
    }
}

pub(super) async fn run(admin: &mut Admin, resource: Resource) -> Result<(), CliError> {
    let format = admin.format;
    let listing = match resource {
        Resource::Users(command) => users(admin, command).await?,
        Resource::Orgs(command) => orgs(admin, command).await?,
        Resource::Members(command) => members(admin, command).await?,
        Resource::Tokens(command) => tokens(admin, command).await?,
        Resource::Keys(command) => keys(admin, command).await?,
        Resource::Settings(command) => settings(admin, command).await?,
        Resource::Billing(command) => super::billing::run(admin, command).await?,
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

async fn users(
    admin: &mut Admin,
    command: UsersCommand,
) -> Result<crate::output::Listing, CliError> {
    Ok(match command {
        UsersCommand::Create { name, email } => {
            let reply = admin
                .client
                .create_user(CreateUserRequest { name, email })
                .await
                .map_err(|s| admin.status(s))?;
            render::principals(&reply.into_inner().user.into_iter().collect::<Vec<_>>())
        }
        UsersCommand::List => render::principals(&list_all(admin, PrincipalKind::User).await?),
        UsersCommand::Get { id } => {
            let reply = admin
                .client
                .get_principal(GetPrincipalRequest { principal_id: id })
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            render::principal_detail(&reply)
        }
        UsersCommand::Disable { id } => set_disabled(admin, id, true).await?,
        UsersCommand::Enable { id } => set_disabled(admin, id, false).await?,
    })
}

async fn set_disabled(
    admin: &mut Admin,
    id: String,
    disabled: bool,
) -> Result<crate::output::Listing, CliError> {
    let request = SetPrincipalDisabledRequest {
        principal_id: id,
        disabled,
    };
    let reply = admin
        .client
        .set_principal_disabled(request)
        .await
        .map_err(|s| admin.status(s))?
        .into_inner();
    Ok(render::principals(
        &reply.principal.into_iter().collect::<Vec<_>>(),
    ))
}

async fn list_all(admin: &mut Admin, kind: PrincipalKind) -> Result<Vec<Principal>, CliError> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = ListPrincipalsRequest {
            kind: kind as i32,
            page_size: 500,
            page_token,
        };
        let reply = admin
            .client
            .list_principals(request)
            .await
            .map_err(|s| admin.status(s))?
            .into_inner();
        all.extend(reply.principals);
        if reply.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = reply.next_page_token;
    }
}

async fn orgs(admin: &mut Admin, command: OrgsCommand) -> Result<crate::output::Listing, CliError> {
    Ok(match command {
        OrgsCommand::Create { name, owner } => {
            let request = CreateOrgRequest {
                name,
                owner_user_id: owner.unwrap_or_default(),
            };
            let reply = admin
                .client
                .create_org(request)
                .await
                .map_err(|s| admin.status(s))?;
            render::principals(&reply.into_inner().org.into_iter().collect::<Vec<_>>())
        }
        OrgsCommand::List => render::principals(&list_all(admin, PrincipalKind::Org).await?),
        OrgsCommand::Disable { id } => set_disabled(admin, id, true).await?,
        OrgsCommand::Enable { id } => set_disabled(admin, id, false).await?,
    })
}

async fn members(
    admin: &mut Admin,
    command: MembersCommand,
) -> Result<crate::output::Listing, CliError> {
    Ok(match command {
        MembersCommand::Add { org, user, role: r } => {
            let request = AddMemberRequest {
                org_id: org,
                user_id: user,
                role: role(r) as i32,
            };
            let reply = admin
                .client
                .add_member(request)
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            render::memberships(&reply.membership.into_iter().collect::<Vec<_>>())
        }
        MembersCommand::Remove { org, user } => {
            admin
                .client
                .remove_member(RemoveMemberRequest {
                    org_id: org.clone(),
                    user_id: user.clone(),
                })
                .await
                .map_err(|s| admin.status(s))?;
            render::done(&format!("removed {user} from {org}"))
        }
    })
}

async fn tokens(
    admin: &mut Admin,
    command: TokensCommand,
) -> Result<crate::output::Listing, CliError> {
    Ok(match command {
        TokensCommand::Issue {
            principal,
            name,
            expires_in,
        } => {
            let reply = admin
                .client
                .issue_token(IssueTokenRequest {
                    principal_id: principal,
                    name,
                    expires_in,
                })
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            render::issued_token(&reply)
        }
        TokensCommand::Revoke { id } => {
            let reply = admin
                .client
                .revoke_token(RevokeTokenRequest { token_id: id })
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            render::tokens(&reply.info.into_iter().collect::<Vec<_>>())
        }
        TokensCommand::RevokeAll { principal } => {
            let reply = admin
                .client
                .revoke_principal_tokens(RevokePrincipalTokensRequest {
                    principal_id: principal.clone(),
                })
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            render::revoked_tokens(&principal, &reply.revoked)
        }
        TokensCommand::List { principal } => {
            let reply = admin
                .client
                .list_tokens(ListTokensRequest {
                    principal_id: principal,
                })
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            render::tokens(&reply.tokens)
        }
    })
}

async fn keys(admin: &mut Admin, command: KeysCommand) -> Result<crate::output::Listing, CliError> {
    let one = |credential: Option<Credential>| {
        render::credentials(&credential.into_iter().collect::<Vec<_>>())
    };
    Ok(match command {
        KeysCommand::Add {
            owner,
            provider,
            label,
            config,
            disabled,
            secret,
        } => {
            let secret = read_secret(&secret)?;
            let request = CreateCredentialRequest {
                owner_id: owner,
                provider,
                label,
                secret: secret.to_string(),
                config: config.into_iter().collect::<HashMap<_, _>>(),
                disabled,
            };
            one(admin
                .client
                .create_credential(request)
                .await
                .map_err(|s| admin.status(s))?
                .into_inner()
                .credential)
        }
        KeysCommand::List { owner } => {
            let reply = admin
                .client
                .list_credentials(ListCredentialsRequest { owner_id: owner })
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            render::credentials(&reply.credentials)
        }
        KeysCommand::Get { id } => one(admin
            .client
            .get_credential(GetCredentialRequest { credential_id: id })
            .await
            .map_err(|s| admin.status(s))?
            .into_inner()
            .credential),
        KeysCommand::Update { id, config, secret } => {
            let secret = read_secret(&secret)?;
            let request = UpdateCredentialSecretRequest {
                credential_id: id,
                secret: secret.to_string(),
                config: config.into_iter().collect(),
            };
            one(admin
                .client
                .update_credential_secret(request)
                .await
                .map_err(|s| admin.status(s))?
                .into_inner()
                .credential)
        }
        KeysCommand::Enable { id } => set_enabled(admin, id, true).await?,
        KeysCommand::Disable { id } => set_enabled(admin, id, false).await?,
        KeysCommand::Delete { id } => one(admin
            .client
            .delete_credential(DeleteCredentialRequest { credential_id: id })
            .await
            .map_err(|s| admin.status(s))?
            .into_inner()
            .credential),
    })
}

async fn set_enabled(
    admin: &mut Admin,
    id: String,
    enabled: bool,
) -> Result<crate::output::Listing, CliError> {
    let request = SetCredentialEnabledRequest {
        credential_id: id,
        enabled,
    };
    let reply = admin
        .client
        .set_credential_enabled(request)
        .await
        .map_err(|s| admin.status(s))?;
    Ok(render::credentials(
        &reply
            .into_inner()
            .credential
            .into_iter()
            .collect::<Vec<_>>(),
    ))
}

async fn settings(
    admin: &mut Admin,
    command: SettingsCommand,
) -> Result<crate::output::Listing, CliError> {
    Ok(match command {
        SettingsCommand::List { owner } => {
            let reply = admin
                .client
                .list_provider_settings(ListProviderSettingsRequest { owner_id: owner })
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            render::settings(&reply.settings)
        }
        SettingsCommand::Set {
            owner,
            provider,
            mode,
            fallback,
        } => {
            let mode = match mode {
                ModeArg::Managed => ProviderMode::Managed,
                ModeArg::CustomKey => ProviderMode::CustomKey,
                ModeArg::Disabled => ProviderMode::Disabled,
            };
            let fallback = match fallback {
                FallbackArg::Never => FallbackPolicy::Never,
                FallbackArg::WhenNoKey => FallbackPolicy::WhenNoKey,
                FallbackArg::WhenKeyFails => FallbackPolicy::WhenKeyFails,
            };
            let request = SetProviderSettingRequest {
                owner_id: owner,
                provider,
                mode: mode as i32,
                fallback_policy: fallback as i32,
            };
            let reply = admin
                .client
                .set_provider_setting(request)
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            render::settings(&reply.setting.into_iter().collect::<Vec<_>>())
        }
    })
}
