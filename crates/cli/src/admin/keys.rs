//! `keyroute admin keys|settings`: provider credentials (secrets read from a file or
//! standard input, never the command line) and per-owner provider settings.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use zeroize::Zeroizing;

use keyroute_proto::vault::v1::*;

use super::Admin;
use super::render;
use crate::CliError;

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

pub(super) async fn keys(
    admin: &mut Admin,
    command: KeysCommand,
) -> Result<crate::output::Listing, CliError> {
    let one = |credential: Option<Credential>| {
        render::credentials(&credential.into_iter().collect::<Vec<_>>()).one()
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
    )
    .one())
}

pub(super) async fn settings(
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
