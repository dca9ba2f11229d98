//! The console's sessions and the self-service side of gateway tokens: a principal, through
//! the edge, lists, issues and revokes its own API tokens, and exchanges a token or a
//! one-time sign-in code for a short-lived session token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyroute_proto::vault::v1 as pb;
use serde_json::json;
use zeroize::Zeroizing;

use super::identities::{TOKEN_PREFIX, check_display_name, token_hash, token_lifetime};
use super::{Actor, Call, Vault, new_id};
use crate::convert::{self, now_ms};
use crate::crypto::fill_random;
use crate::error::VaultError;
use crate::storage::{StoreError, TokenKind, TokenRecord};

/// A session's lifetime when the edge asks for none: twelve hours.
const DEFAULT_SESSION_MS: i64 = 12 * 3600 * 1000;

/// A new random token and its record's `last_four`.
pub(super) fn new_token() -> Zeroizing<String> {
    let mut random = Zeroizing::new([0u8; 32]);
    fill_random(random.as_mut());
    Zeroizing::new(format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(random.as_ref())
    ))
}

impl Vault {
    /// An IssueToken request as the caller may make it: the operator issues anything; a
    /// principal (through the edge) only API tokens for itself.
    pub(super) fn own_token_request(
        call: &Call,
        mut request: pb::IssueTokenRequest,
        kind: TokenKind,
    ) -> Result<pb::IssueTokenRequest, VaultError> {
        match &call.actor {
            Actor::Operator => Ok(request),
            Actor::Service => Err(VaultError::Unauthenticated(
                "the edge must forward the caller's gateway token".into(),
            )),
            Actor::Principal(actor) => {
                if kind != TokenKind::Api {
                    return Err(VaultError::PermissionDenied(
                        "only API tokens are issued here; sessions start with StartSession".into(),
                    ));
                }
                let id = request.principal_id.trim();
                if !id.is_empty() && id != actor.id {
                    return Err(VaultError::PermissionDenied(format!(
                        "{} may issue tokens only for itself",
                        actor.id
                    )));
                }
                request.principal_id.clone_from(&actor.id);
                Ok(request)
            }
        }
    }

    /// May the caller see or revoke tokens of `owner`? The operator may; a principal only its
    /// own (another's token id is not found, as an unknown one).
    pub(super) fn own_token(call: &Call, owner: &str, token_id: &str) -> Result<(), VaultError> {
        match &call.actor {
            Actor::Operator => Ok(()),
            Actor::Service => Err(VaultError::Unauthenticated(
                "the edge must forward the caller's gateway token".into(),
            )),
            Actor::Principal(actor) if actor.id == owner => Ok(()),
            Actor::Principal(actor) if token_id.is_empty() => Err(VaultError::PermissionDenied(
                format!("{} may list only its own tokens", actor.id),
            )),
            Actor::Principal(_) => Err(VaultError::NotFound(format!("token {token_id} not found"))),
        }
    }

    /// Exchanges `token` (the caller's, from the edge) for a new session token of the same
    /// principal. The session ends at the requested lifetime, or the presented token's own
    /// expiry when sooner; a sign-in code is spent in the same transaction.
    pub(super) async fn start_session(
        &self,
        call: &Call,
        token: &str,
        request: pb::StartSessionRequest,
    ) -> Result<pb::StartSessionResponse, VaultError> {
        let (principal, presented) = self.token_record(token).await?;
        let lifetime = match &request.expires_in {
            Some(duration) => token_lifetime(duration)?,
            None => DEFAULT_SESSION_MS,
        };
        let now = now_ms();
        let mut expires_at = now.saturating_add(lifetime);
        if presented.kind != TokenKind::SignIn
            && let Some(limit) = presented.expires_at
        {
            expires_at = expires_at.min(limit);
        }
        let name = if request.name.trim().is_empty() {
            "console session".to_owned()
        } else {
            check_display_name("name", &request.name)?
        };
        let secret = new_token();
        let record = TokenRecord {
            id: new_id("tok"),
            principal_id: principal.id.clone(),
            name,
            last_four: secret[secret.len() - 4..].to_owned(),
            created_at: now,
            revoked_at: None,
            expires_at: Some(expires_at),
            kind: TokenKind::Session,
        };
        let call = Call {
            actor: Actor::Principal(principal),
            ..call.clone()
        };
        let audit = call.audit(
            "session.start",
            &record.id,
            &record.principal_id,
            json!({ "from": presented.id, "from_kind": presented.kind.as_str(), "expires_at": expires_at }),
            now,
        );
        let spent = (presented.kind == TokenKind::SignIn).then(|| presented.id.clone());
        // The session ends when the token it came from is revoked; a code is spent here.
        let parent = (presented.kind != TokenKind::SignIn).then(|| presented.id.clone());
        match self
            .store()
            .insert_session(record.clone(), token_hash(&secret), spent, parent, audit)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(VaultError::Unauthenticated(
                    "the sign-in code was used already".into(),
                ));
            }
            Err(error) => return Err(error.into()),
        }
        Ok(pb::StartSessionResponse {
            info: Some(convert::token(record)),
            token: secret.to_string(),
        })
    }
}
