//! Users, orgs, memberships and gateway tokens.

use keyroute_proto::vault::v1 as pb;
use keyroute_proto::vault::v1::RevocationKind;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Call, Vault, new_id, page_size};
use crate::convert::{self, now_ms};
use crate::error::VaultError;
use crate::revocations::Change;
use crate::storage::{MembershipRecord, PrincipalKind, PrincipalRecord, TokenKind, TokenRecord};

/// Every gateway token starts with this.
pub const TOKEN_PREFIX: &str = "kr_";
/// `kr_` and 43 characters of URL-safe base64 (256 random bits).
pub(super) const TOKEN_LEN: usize = 3 + 43;

pub(super) fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub(super) fn check_display_name(field: &str, value: &str) -> Result<String, VaultError> {
    let value = value.trim();
    if value.is_empty() || value.len() > 200 || value.chars().any(char::is_control) {
        return Err(VaultError::InvalidArgument(format!(
            "{field} must be 1 to 200 characters without control characters"
        )));
    }
    Ok(value.to_owned())
}

/// The longest lifetime a token may be issued with: ten years.
const MAX_TOKEN_LIFETIME_MS: i64 = 10 * 366 * 24 * 3600 * 1000;

/// A requested token lifetime in milliseconds: positive and at most ten years.
pub(super) fn token_lifetime(expires_in: &prost_types::Duration) -> Result<i64, VaultError> {
    let ms = expires_in
        .seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(expires_in.nanos) / 1_000_000);
    if ms <= 0 || ms > MAX_TOKEN_LIFETIME_MS {
        return Err(VaultError::InvalidArgument(
            "expires_in must be longer than zero and at most ten years".into(),
        ));
    }
    Ok(ms)
}

impl Vault {
    /// The principal and token behind a gateway token, if it is valid: not revoked, not
    /// expired, its principal not disabled, and not a sign-in code (those only start a
    /// session: [`Vault::token_record`]).
    pub(super) async fn authenticate_token(
        &self,
        token: &str,
    ) -> Result<(PrincipalRecord, TokenRecord), VaultError> {
        let (principal, record) = self.token_record(token).await?;
        if record.kind == TokenKind::SignIn {
            return Err(VaultError::Unauthenticated(
                "a sign-in code only signs in to the console; it is not a gateway token".into(),
            ));
        }
        Ok((principal, record))
    }

    /// Like [`Vault::authenticate_token`], sign-in codes included.
    pub(super) async fn token_record(
        &self,
        token: &str,
    ) -> Result<(PrincipalRecord, TokenRecord), VaultError> {
        let invalid = || VaultError::Unauthenticated("invalid gateway token".into());
        if !token.starts_with(TOKEN_PREFIX) || token.len() != TOKEN_LEN {
            return Err(invalid());
        }
        let record = self
            .store()
            .token_by_hash(token_hash(token))
            .await?
            .ok_or_else(invalid)?;
        if record.revoked_at.is_some() {
            return Err(VaultError::Unauthenticated(
                "gateway token has been revoked".into(),
            ));
        }
        if record.expires_at.is_some_and(|at| at <= now_ms()) {
            return Err(VaultError::Unauthenticated(
                "gateway token has expired".into(),
            ));
        }
        let principal = self
            .store()
            .get_principal(&record.principal_id)
            .await?
            .ok_or_else(invalid)?;
        if principal.disabled_at.is_some() {
            return Err(VaultError::Unauthenticated(format!(
                "{} is disabled: its gateway tokens are refused",
                principal.id
            )));
        }
        Ok((principal, record))
    }

    pub(super) async fn create_user(
        &self,
        call: &Call,
        request: pb::CreateUserRequest,
    ) -> Result<pb::CreateUserResponse, VaultError> {
        let name = check_display_name("name", &request.name)?;
        let email = request.email.trim().to_owned();
        if !email.is_empty()
            && (!email.contains('@') || email.len() > 320 || email.chars().any(char::is_whitespace))
        {
            return Err(VaultError::InvalidArgument(
                "email is not an email address".into(),
            ));
        }
        let now = now_ms();
        let record = PrincipalRecord {
            id: new_id("usr"),
            kind: PrincipalKind::User,
            name,
            email,
            created_at: now,
            disabled_at: None,
        };
        let audit = call.audit(
            "user.create",
            &record.id,
            &record.id,
            json!({ "name": record.name }),
            now,
        );
        self.store()
            .create_principal(record.clone(), None, audit)
            .await?;
        Ok(pb::CreateUserResponse {
            user: Some(convert::principal(record)),
        })
    }

    pub(super) async fn create_org(
        &self,
        call: &Call,
        request: pb::CreateOrgRequest,
    ) -> Result<pb::CreateOrgResponse, VaultError> {
        let name = check_display_name("name", &request.name)?;
        let owner = Some(request.owner_user_id.trim().to_owned()).filter(|owner| !owner.is_empty());
        let now = now_ms();
        let record = PrincipalRecord {
            id: new_id("org"),
            kind: PrincipalKind::Org,
            name,
            email: String::new(),
            created_at: now,
            disabled_at: None,
        };
        let audit = call.audit(
            "org.create",
            &record.id,
            &record.id,
            json!({ "name": record.name, "owner": owner }),
            now,
        );
        self.store()
            .create_principal(record.clone(), owner, audit)
            .await?;
        Ok(pb::CreateOrgResponse {
            org: Some(convert::principal(record)),
        })
    }

    pub(super) async fn add_member(
        &self,
        call: &Call,
        request: pb::AddMemberRequest,
    ) -> Result<pb::AddMemberResponse, VaultError> {
        let role = convert::role_from(request.role()).ok_or_else(|| {
            VaultError::InvalidArgument("role is required: owner, billing_manager or member".into())
        })?;
        let now = now_ms();
        let detail = json!({ "user_id": request.user_id, "role": role.as_str() });
        let audit = call.audit("member.put", &request.user_id, &request.org_id, detail, now);
        let membership: MembershipRecord = self
            .store()
            .put_member(&request.org_id, &request.user_id, role, now, audit)
            .await?;
        self.inner.revocations.publish(
            RevocationKind::MembershipChanged,
            Change {
                owner_id: &request.org_id,
                principal_id: &request.user_id,
                ..Change::default()
            },
            now,
        );
        Ok(pb::AddMemberResponse {
            membership: Some(convert::membership(membership)),
        })
    }

    pub(super) async fn remove_member(
        &self,
        call: &Call,
        request: pb::RemoveMemberRequest,
    ) -> Result<pb::RemoveMemberResponse, VaultError> {
        let now = now_ms();
        let audit = call.audit(
            "member.remove",
            &request.user_id,
            &request.org_id,
            json!({ "user_id": request.user_id }),
            now,
        );
        self.store()
            .remove_member(&request.org_id, &request.user_id, audit)
            .await?;
        self.inner.revocations.publish(
            RevocationKind::MembershipChanged,
            Change {
                owner_id: &request.org_id,
                principal_id: &request.user_id,
                ..Change::default()
            },
            now,
        );
        Ok(pb::RemoveMemberResponse {})
    }

    pub(super) async fn list_principals(
        &self,
        request: pb::ListPrincipalsRequest,
    ) -> Result<pb::ListPrincipalsResponse, VaultError> {
        let kind = convert::principal_kind_from(request.kind());
        let limit = page_size(request.page_size);
        let after = Some(request.page_token).filter(|token| !token.is_empty());
        let mut principals = self.store().list_principals(kind, after, limit + 1).await?;
        let next_page_token = if principals.len() > limit {
            principals.truncate(limit);
            principals.last().map(|p| p.id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListPrincipalsResponse {
            principals: principals.into_iter().map(convert::principal).collect(),
            next_page_token,
        })
    }

    pub(super) async fn get_principal(
        &self,
        request: pb::GetPrincipalRequest,
    ) -> Result<pb::GetPrincipalResponse, VaultError> {
        let principal = self
            .store()
            .get_principal(&request.principal_id)
            .await?
            .ok_or_else(|| {
                VaultError::NotFound(format!("principal {} not found", request.principal_id))
            })?;
        let memberships = self.store().memberships_of(&principal.id).await?;
        Ok(pb::GetPrincipalResponse {
            principal: Some(convert::principal(principal)),
            memberships: memberships.into_iter().map(convert::membership).collect(),
        })
    }

    pub(super) async fn issue_token(
        &self,
        call: &Call,
        request: pb::IssueTokenRequest,
    ) -> Result<pb::IssueTokenResponse, VaultError> {
        let kind = match request.kind() {
            pb::TokenKind::Unspecified | pb::TokenKind::Api => TokenKind::Api,
            pb::TokenKind::Session => TokenKind::Session,
            pb::TokenKind::SignIn => TokenKind::SignIn,
        };
        let request = Self::own_token_request(call, request, kind)?;
        let name = if request.name.trim().is_empty() {
            "default".to_owned()
        } else {
            check_display_name("name", &request.name)?
        };
        let lifetime = request
            .expires_in
            .as_ref()
            .map(token_lifetime)
            .transpose()?;
        let token = super::sessions::new_token();
        let now = now_ms();
        let record = TokenRecord {
            id: new_id("tok"),
            principal_id: request.principal_id.clone(),
            name,
            last_four: token[token.len() - 4..].to_owned(),
            created_at: now,
            revoked_at: None,
            expires_at: lifetime.map(|ms| now.saturating_add(ms)),
            kind,
        };
        let audit = call.audit(
            "token.issue",
            &record.id,
            &record.principal_id,
            json!({ "name": record.name, "expires_at": record.expires_at, "kind": kind.as_str() }),
            now,
        );
        self.store()
            .insert_token(record.clone(), token_hash(&token), audit)
            .await?;
        Ok(pb::IssueTokenResponse {
            info: Some(convert::token(record)),
            token: token.to_string(),
        })
    }

    pub(super) async fn revoke_token(
        &self,
        call: &Call,
        request: pb::RevokeTokenRequest,
    ) -> Result<pb::RevokeTokenResponse, VaultError> {
        let now = now_ms();
        let owner = self
            .store()
            .token_owner(&request.token_id)
            .await?
            .ok_or_else(|| VaultError::NotFound(format!("token {} not found", request.token_id)))?;
        Self::own_token(call, &owner, &request.token_id)?;
        let audit = call.audit("token.revoke", &request.token_id, &owner, json!({}), now);
        let (record, sessions) = self
            .store()
            .revoke_token(&request.token_id, now, audit)
            .await?;
        for token in std::iter::once(&record).chain(&sessions) {
            self.inner.revocations.publish(
                RevocationKind::TokenRevoked,
                Change {
                    token_id: &token.id,
                    principal_id: &token.principal_id,
                    ..Change::default()
                },
                now,
            );
        }
        Ok(pb::RevokeTokenResponse {
            info: Some(convert::token(record)),
        })
    }

    pub(super) async fn revoke_principal_tokens(
        &self,
        call: &Call,
        request: pb::RevokePrincipalTokensRequest,
    ) -> Result<pb::RevokePrincipalTokensResponse, VaultError> {
        let principal_id = request.principal_id.trim();
        if principal_id.is_empty() {
            return Err(VaultError::InvalidArgument(
                "principal_id is required".into(),
            ));
        }
        let now = now_ms();
        let audit = call.audit(
            "token.revoke_all",
            principal_id,
            principal_id,
            json!({}),
            now,
        );
        let revoked = self
            .store()
            .revoke_principal_tokens(principal_id, now, audit)
            .await?;
        self.inner.revocations.publish(
            RevocationKind::PrincipalTokensRevoked,
            Change {
                owner_id: principal_id,
                principal_id,
                ..Change::default()
            },
            now,
        );
        Ok(pb::RevokePrincipalTokensResponse {
            revoked: revoked.into_iter().map(convert::token).collect(),
        })
    }

    pub(super) async fn set_principal_disabled(
        &self,
        call: &Call,
        request: pb::SetPrincipalDisabledRequest,
    ) -> Result<pb::SetPrincipalDisabledResponse, VaultError> {
        let id = request.principal_id.trim();
        if id.is_empty() {
            return Err(VaultError::InvalidArgument(
                "principal_id is required".into(),
            ));
        }
        let now = now_ms();
        let kind = match self.store().get_principal(id).await? {
            Some(found) => found.kind.as_str(),
            None => return Err(VaultError::NotFound(format!("principal {id} not found"))),
        };
        let verb = if request.disabled {
            "disable"
        } else {
            "enable"
        };
        let audit = call.audit(&format!("{kind}.{verb}"), id, id, json!({}), now);
        let principal = self
            .store()
            .set_principal_disabled(id, request.disabled, now, audit)
            .await?;
        let kind = if request.disabled {
            RevocationKind::PrincipalDisabled
        } else {
            RevocationKind::PrincipalEnabled
        };
        self.inner.revocations.publish(
            kind,
            Change {
                owner_id: id,
                principal_id: id,
                ..Change::default()
            },
            now,
        );
        Ok(pb::SetPrincipalDisabledResponse {
            principal: Some(convert::principal(principal)),
        })
    }

    pub(super) async fn list_tokens(
        &self,
        call: &Call,
        request: pb::ListTokensRequest,
    ) -> Result<pb::ListTokensResponse, VaultError> {
        Self::own_token(call, &request.principal_id, "")?;
        let tokens = self.store().list_tokens(&request.principal_id).await?;
        Ok(pb::ListTokensResponse {
            tokens: tokens.into_iter().map(convert::token).collect(),
        })
    }

    pub(super) async fn authenticate(
        &self,
        request: pb::AuthenticateRequest,
    ) -> Result<pb::AuthenticateResponse, VaultError> {
        let (principal, token) = self.authenticate_token(request.token.trim()).await?;
        let memberships = if principal.kind == PrincipalKind::User {
            self.store().memberships_of(&principal.id).await?
        } else {
            Vec::new()
        };
        Ok(pb::AuthenticateResponse {
            principal: Some(convert::principal(principal)),
            memberships: memberships.into_iter().map(convert::membership).collect(),
            token_id: token.id,
            token_expires_at: token.expires_at.map(convert::timestamp),
            token_kind: convert::token_kind(token.kind).into(),
        })
    }
}
