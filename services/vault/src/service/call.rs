//! Who is calling: the peer service (from mTLS), the request id, and the actor on whose
//! behalf a change is made. Role checks for owners live here, one set for every channel a
//! principal comes through (the edge, or an internal platform through the router).

use keyroute_proto::contract::header;
use keyroute_tls::{Identity, PeerInfo};

use super::Vault;
use crate::authz::{self, PeerRole};
use crate::error::VaultError;
use crate::storage::{AuditRecord, CredentialRecord, PrincipalKind, PrincipalRecord, Role};

/// On whose behalf a request acts.
#[derive(Debug, Clone)]
pub enum Actor {
    /// The platform operator (the `admin` identity): may manage everything.
    Operator,
    /// A principal authenticated by the gateway token the edge (or the router, for a
    /// platform) forwarded.
    Principal(PrincipalRecord),
    /// A service acting for nobody in particular (the router).
    Service,
}

/// The context of one RPC.
#[derive(Debug, Clone)]
pub struct Call {
    pub peer: Identity,
    pub role: PeerRole,
    /// For [`PeerRole::Platform`]: the platform the router speaks for.
    pub platform: Option<Identity>,
    pub request_id: String,
    pub actor: Actor,
}

impl Call {
    /// An audit record for an action by this call.
    pub fn audit(
        &self,
        action: &str,
        target: &str,
        owner_id: &str,
        detail: serde_json::Value,
        now: i64,
    ) -> AuditRecord {
        AuditRecord {
            time: now,
            actor: match &self.actor {
                Actor::Principal(principal) => principal.id.clone(),
                Actor::Operator | Actor::Service => String::new(),
            },
            peer: self.channel(),
            action: action.to_owned(),
            target: target.to_owned(),
            owner_id: owner_id.to_owned(),
            request_id: self.request_id.clone(),
            detail: detail.to_string(),
        }
    }
}

impl Call {
    /// The channel a call came through, as audit records name it: the peer's identity, or
    /// for a platform's call `spiffe://keyroute/platform/<name> via spiffe://keyroute/router`
    /// (the platform first: it is who asked; the router only carried it).
    pub fn channel(&self) -> String {
        match &self.platform {
            Some(platform) => format!("{platform} via {}", self.peer),
            None => self.peer.to_string(),
        }
    }
}

/// The peer's identity and role, with the platform the router speaks for, if it does.
fn peer_of<T>(request: &tonic::Request<T>) -> Result<(Identity, authz::Caller), VaultError> {
    let peer = request
        .extensions()
        .get::<PeerInfo>()
        .ok_or_else(|| VaultError::Unauthenticated("no verified client certificate".into()))?
        .identity
        .clone();
    let platform = request
        .metadata()
        .get(header::PLATFORM)
        .map(|value| value.to_str().unwrap_or_default());
    let caller = authz::caller(&peer, platform).map_err(VaultError::PermissionDenied)?;
    Ok((peer, caller))
}

/// A request id from `x-request-id` if it is sane, otherwise a new one.
fn request_id(metadata: &tonic::metadata::MetadataMap) -> String {
    keyroute_telemetry::request_id(metadata).map_or_else(|| super::new_id("req"), str::to_owned)
}

/// The gateway token from `authorization: Bearer kr_...`.
fn bearer(metadata: &tonic::metadata::MetadataMap) -> Option<&str> {
    keyroute_proto::bearer_token(metadata.get("authorization")?.to_str().ok()?)
}

impl Vault {
    /// Resolves the caller. The authorization layer already admitted the peer for this RPC;
    /// an edge must also forward the gateway token of the principal it acts for, and a
    /// platform's call through the router always does: it acts for nobody else.
    pub(super) async fn call<T>(&self, request: &tonic::Request<T>) -> Result<Call, VaultError> {
        let (peer, caller) = peer_of(request)?;
        let request_id = request_id(request.metadata());
        let token = bearer(request.metadata());
        let actor = match (caller.role, token) {
            (PeerRole::Admin, _) => Actor::Operator,
            (PeerRole::Router, _) => Actor::Service,
            (PeerRole::Edge | PeerRole::Platform, Some(token)) => {
                Actor::Principal(self.authenticate_token(token).await?.0)
            }
            (PeerRole::Edge, None) => Actor::Service,
            (PeerRole::Platform, None) => {
                return Err(VaultError::Unauthenticated(
                    "a platform acts for the principal whose gateway token it forwards: send `authorization: Bearer kr_...`".into(),
                ));
            }
        };
        Ok(Call {
            peer,
            role: caller.role,
            platform: caller.platform,
            request_id,
            actor,
        })
    }

    /// The context of a StartSession call, without authenticating its token (a sign-in code
    /// is not a gateway token): the call acts for nobody until the token is checked.
    pub(super) fn session_call<T>(
        &self,
        request: &tonic::Request<T>,
    ) -> Result<(Call, zeroize::Zeroizing<String>), VaultError> {
        let (peer, caller) = peer_of(request)?;
        let token = bearer(request.metadata()).ok_or_else(|| {
            VaultError::Unauthenticated(
                "send the token to exchange as `authorization: Bearer kr_...`".into(),
            )
        })?;
        let call = Call {
            peer,
            role: caller.role,
            platform: caller.platform,
            request_id: request_id(request.metadata()),
            actor: Actor::Service,
        };
        Ok((call, zeroize::Zeroizing::new(token.to_owned())))
    }

    /// Requires an actor that may act on owners' keys (operator or principal).
    pub(super) fn acting_principal(call: &Call) -> Result<Option<&PrincipalRecord>, VaultError> {
        match &call.actor {
            Actor::Operator => Ok(None),
            Actor::Principal(principal) => Ok(Some(principal)),
            Actor::Service => Err(VaultError::Unauthenticated(
                "the edge must forward the caller's gateway token as `authorization: Bearer kr_...`".into(),
            )),
        }
    }

    /// May `call` change keys and settings of `owner_id`?
    pub(super) async fn authorize_manage(
        &self,
        call: &Call,
        owner_id: &str,
    ) -> Result<(), VaultError> {
        self.authorize_owner(call, owner_id, true).await
    }

    /// May `call` read metadata of `owner_id`'s keys and settings?
    pub(super) async fn authorize_read(
        &self,
        call: &Call,
        owner_id: &str,
    ) -> Result<(), VaultError> {
        self.authorize_owner(call, owner_id, false).await
    }

    /// May `call` see the existing key `credential` (and, with `write`, change it)?
    ///
    /// A key is visible to its owner, to the members of the org that owns it, and to the
    /// operator. To anyone else it does not exist: the answer is the very `NotFound` an
    /// unknown id gets (same code, same words, no owner or org named), so ids cannot be
    /// probed. A member who sees an org key but may not change it gets `PermissionDenied`.
    pub(super) async fn authorize_credential(
        &self,
        call: &Call,
        credential: &CredentialRecord,
        write: bool,
    ) -> Result<(), VaultError> {
        let Some(actor) = Self::acting_principal(call)? else {
            return Ok(());
        };
        if actor.id == credential.owner_id {
            return Ok(());
        }
        // Memberships exist only in orgs: another user's or the platform's key has none.
        if self
            .store()
            .role_in(&credential.owner_id, &actor.id)
            .await?
            .is_none()
        {
            return Err(credential_not_found(&credential.id));
        }
        self.authorize_owner(call, &credential.owner_id, write)
            .await
    }

    /// A principal acts on their own keys and settings, and on an org's where their role
    /// allows. Any other owner, known or not (another user, an org they are not in, the
    /// platform's managed keys), does not exist for them: the same `NotFound` an unknown id
    /// gets, as the edge answers, so owner ids cannot be probed through any channel.
    async fn authorize_owner(
        &self,
        call: &Call,
        owner_id: &str,
        write: bool,
    ) -> Result<(), VaultError> {
        let Some(actor) = Self::acting_principal(call)? else {
            return Ok(());
        };
        if actor.id == owner_id {
            return Ok(());
        }
        let not_found = || VaultError::NotFound(format!("owner {owner_id} not found"));
        let owner = self
            .store()
            .get_principal(owner_id)
            .await?
            .ok_or_else(not_found)?;
        if owner.kind != PrincipalKind::Org {
            return Err(not_found());
        }
        match self.store().role_in(owner_id, &actor.id).await? {
            None => Err(not_found()),
            Some(Role::Member) if write => Err(VaultError::PermissionDenied(format!(
                "role member may not manage keys of org {owner_id}: owner or billing_manager is required"
            ))),
            Some(_) => Ok(()),
        }
    }
}

/// What every call on a key id the caller cannot see answers, known or not.
pub(super) fn credential_not_found(id: &str) -> VaultError {
    VaultError::NotFound(format!("credential {id} not found"))
}
