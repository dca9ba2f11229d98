//! `keyroute admin users|orgs|members|tokens`: who may call keyroute, in which orgs, with
//! which roles, and with which gateway tokens.

use keyroute_proto::vault::v1::*;

use super::Admin;
use super::render;
use crate::CliError;

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

fn role(role: RoleArg) -> Role {
    match role {
        RoleArg::Owner => Role::Owner,
        RoleArg::BillingManager => Role::BillingManager,
        RoleArg::Member => Role::Member,
    }
}

pub(super) async fn users(
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
            render::principals(&reply.into_inner().user.into_iter().collect::<Vec<_>>()).one()
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
    Ok(render::principals(&reply.principal.into_iter().collect::<Vec<_>>()).one())
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

pub(super) async fn orgs(
    admin: &mut Admin,
    command: OrgsCommand,
) -> Result<crate::output::Listing, CliError> {
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
            render::principals(&reply.into_inner().org.into_iter().collect::<Vec<_>>()).one()
        }
        OrgsCommand::List => render::principals(&list_all(admin, PrincipalKind::Org).await?),
        OrgsCommand::Disable { id } => set_disabled(admin, id, true).await?,
        OrgsCommand::Enable { id } => set_disabled(admin, id, false).await?,
    })
}

pub(super) async fn members(
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
            render::memberships(&reply.membership.into_iter().collect::<Vec<_>>()).one()
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

pub(super) async fn tokens(
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
                    ..Default::default()
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
            render::tokens(&reply.info.into_iter().collect::<Vec<_>>()).one()
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
