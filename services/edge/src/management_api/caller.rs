//! Who is calling: the request's gateway token authenticated with the vault, and vault
//! requests made on the caller's behalf.

use http::{HeaderMap, StatusCode};
use keyroute_proto::contract::header;
use keyroute_proto::vault::v1::{AuthenticateRequest, Membership, Principal, Role, TokenKind};

use crate::auth::gateway_token;
use crate::auth_failures::token_hash;
use crate::management_api::error::ApiError;
use crate::state::Edge;

/// Who is calling, as the vault knows them.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: String,
    pub principal: Principal,
    pub memberships: Vec<Membership>,
    /// The presented token's id, kind and expiry (sign-out revokes a session by its id).
    pub token_id: String,
    pub token_kind: TokenKind,
    pub token_expires_at: Option<prost_types::Timestamp>,
}

impl Caller {
    /// Authenticates the request's gateway token with the vault.
    pub async fn of(edge: &Edge, headers: &HeaderMap) -> Result<Self, ApiError> {
        let token = gateway_token(headers).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "a gateway token is required: send `Authorization: Bearer kr_...` (or sign in to the console)",
            )
        })?;
        let reply = edge
            .vault()
            .authenticate(AuthenticateRequest {
                token: token.to_owned(),
            })
            .await?
            .into_inner();
        let token_kind = reply.token_kind();
        let principal = reply.principal.ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the vault sent no principal",
            )
        })?;
        edge.auth_failures
            .verified(&token_hash(token), std::time::Instant::now());
        Ok(Self {
            token: token.to_owned(),
            principal,
            memberships: reply.memberships,
            token_id: reply.token_id,
            token_kind,
            token_expires_at: reply.token_expires_at,
        })
    }

    /// A vault request on the caller's behalf (the vault checks their roles).
    pub fn request<T>(
        &self,
        message: T,
        headers: &HeaderMap,
    ) -> Result<tonic::Request<T>, ApiError> {
        let mut request = tonic::Request::new(message);
        let value = format!("Bearer {}", self.token).parse().map_err(|_| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the gateway token is malformed",
            )
        })?;
        request.metadata_mut().insert("authorization", value);
        if let Some(id) = headers
            .get(header::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
        {
            request.metadata_mut().insert(header::REQUEST_ID, id);
        }
        Ok(request)
    }

    /// The caller's role in `org`, if they belong to it.
    pub fn role_in(&self, org: &str) -> Option<Role> {
        self.memberships
            .iter()
            .find(|m| m.org_id == org)
            .map(|m| m.role())
    }

    /// The principal a call acts on: the caller, or `org` when the caller belongs to it
    /// (a 404 otherwise, so org ids cannot be probed).
    pub fn owner(&self, org: Option<&str>) -> Result<String, ApiError> {
        match org {
            None | Some("") => Ok(self.principal.id.clone()),
            Some(org) if org == self.principal.id => Ok(org.to_owned()),
            Some(org) if self.role_in(org).is_some() => Ok(org.to_owned()),
            Some(org) => Err(ApiError::not_found(format!(
                "organization {org} does not exist or you are not a member"
            ))),
        }
    }
}
