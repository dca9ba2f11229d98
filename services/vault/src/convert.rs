//! Conversions between storage records and protobuf messages, and the clock.

use keyroute_proto::vault::v1 as pb;
use prost_types::Timestamp;

use crate::storage::{
    AuditEventRecord, CredentialRecord, FallbackPolicy, MembershipRecord, Millis, PrincipalKind,
    PrincipalRecord, ProviderMode, ProviderSettingRecord, Role, TokenKind, TokenRecord,
};

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as Millis)
}

pub fn timestamp(ms: Millis) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

pub fn principal_kind(kind: PrincipalKind) -> pb::PrincipalKind {
    match kind {
        PrincipalKind::User => pb::PrincipalKind::User,
        PrincipalKind::Org => pb::PrincipalKind::Org,
        PrincipalKind::Platform => pb::PrincipalKind::Platform,
    }
}

pub fn principal_kind_from(kind: pb::PrincipalKind) -> Option<PrincipalKind> {
    match kind {
        pb::PrincipalKind::Unspecified => None,
        pb::PrincipalKind::User => Some(PrincipalKind::User),
        pb::PrincipalKind::Org => Some(PrincipalKind::Org),
        pb::PrincipalKind::Platform => Some(PrincipalKind::Platform),
    }
}

pub fn role(role: Role) -> pb::Role {
    match role {
        Role::Owner => pb::Role::Owner,
        Role::BillingManager => pb::Role::BillingManager,
        Role::Member => pb::Role::Member,
    }
}

pub fn role_from(role: pb::Role) -> Option<Role> {
    match role {
        pb::Role::Unspecified => None,
        pb::Role::Owner => Some(Role::Owner),
        pb::Role::BillingManager => Some(Role::BillingManager),
        pb::Role::Member => Some(Role::Member),
    }
}

pub fn mode(mode: ProviderMode) -> pb::ProviderMode {
    match mode {
        ProviderMode::Managed => pb::ProviderMode::Managed,
        ProviderMode::CustomKey => pb::ProviderMode::CustomKey,
        ProviderMode::Disabled => pb::ProviderMode::Disabled,
    }
}

pub fn mode_from(mode: pb::ProviderMode) -> Option<ProviderMode> {
    match mode {
        pb::ProviderMode::Unspecified => None,
        pb::ProviderMode::Managed => Some(ProviderMode::Managed),
        pb::ProviderMode::CustomKey => Some(ProviderMode::CustomKey),
        pb::ProviderMode::Disabled => Some(ProviderMode::Disabled),
    }
}

pub fn fallback(policy: FallbackPolicy) -> pb::FallbackPolicy {
    match policy {
        FallbackPolicy::Never => pb::FallbackPolicy::Never,
        FallbackPolicy::WhenNoKey => pb::FallbackPolicy::WhenNoKey,
        FallbackPolicy::WhenKeyFails => pb::FallbackPolicy::WhenKeyFails,
    }
}

pub fn fallback_from(policy: pb::FallbackPolicy) -> Option<FallbackPolicy> {
    match policy {
        pb::FallbackPolicy::Unspecified => None,
        pb::FallbackPolicy::Never => Some(FallbackPolicy::Never),
        pb::FallbackPolicy::WhenNoKey => Some(FallbackPolicy::WhenNoKey),
        pb::FallbackPolicy::WhenKeyFails => Some(FallbackPolicy::WhenKeyFails),
    }
}

pub fn principal(record: PrincipalRecord) -> pb::Principal {
    pb::Principal {
        id: record.id,
        kind: principal_kind(record.kind) as i32,
        name: record.name,
        email: record.email,
        created_at: Some(timestamp(record.created_at)),
        disabled_at: record.disabled_at.map(timestamp),
    }
}

pub fn membership(record: MembershipRecord) -> pb::Membership {
    pb::Membership {
        org_id: record.org_id,
        org_name: record.org_name,
        user_id: record.user_id,
        role: role(record.role) as i32,
        created_at: Some(timestamp(record.created_at)),
    }
}

pub fn token(record: TokenRecord) -> pb::TokenInfo {
    pb::TokenInfo {
        id: record.id,
        principal_id: record.principal_id,
        name: record.name,
        last_four: record.last_four,
        created_at: Some(timestamp(record.created_at)),
        revoked_at: record.revoked_at.map(timestamp),
        expires_at: record.expires_at.map(timestamp),
        kind: token_kind(record.kind).into(),
    }
}

pub fn token_kind(kind: TokenKind) -> pb::TokenKind {
    match kind {
        TokenKind::Api => pb::TokenKind::Api,
        TokenKind::Session => pb::TokenKind::Session,
        TokenKind::SignIn => pb::TokenKind::SignIn,
    }
}

/// A credential's metadata; the sealed secret is left behind.
pub fn credential(record: CredentialRecord) -> pb::Credential {
    pb::Credential {
        id: record.id,
        owner_id: record.owner_id,
        provider: record.provider,
        label: record.label,
        enabled: record.enabled,
        config: record.config.into_iter().collect(),
        fingerprint: record.fingerprint,
        created_at: Some(timestamp(record.created_at)),
        updated_at: Some(timestamp(record.updated_at)),
        last_tested_at: record.last_tested_at.map(timestamp),
        last_test_outcome: record.last_test_outcome.unwrap_or_default(),
    }
}

pub fn setting(record: ProviderSettingRecord) -> pb::ProviderSetting {
    pb::ProviderSetting {
        owner_id: record.owner_id,
        provider: record.provider,
        mode: mode(record.mode) as i32,
        fallback_policy: fallback(record.fallback) as i32,
        updated_at: Some(timestamp(record.updated_at)),
    }
}

pub fn audit_event(event: AuditEventRecord) -> pb::AuditEvent {
    let record = event.record;
    pb::AuditEvent {
        id: event.id,
        time: Some(timestamp(record.time)),
        actor: record.actor,
        peer: record.peer,
        action: record.action,
        target: record.target,
        owner_id: record.owner_id,
        request_id: record.request_id,
        detail: record.detail,
    }
}
