//! What the store reads and writes, independent of the database behind it.

use std::collections::BTreeMap;

use crate::crypto::Sealed;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// What kind of principal an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    Org,
    Platform,
}

/// A role in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    BillingManager,
    Member,
}

/// What a gateway token is for: programs (`api`), the console's session, or a one-time
/// sign-in code that only StartSession accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenKind {
    #[default]
    Api,
    Session,
    SignIn,
}

/// How a principal's requests to one provider are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderMode {
    Managed,
    CustomKey,
    Disabled,
}

/// Whether managed keys may serve when the principal's own keys cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackPolicy {
    Never,
    WhenNoKey,
    WhenKeyFails,
}

macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

text_enum!(PrincipalKind { User => "user", Org => "org", Platform => "platform" });
text_enum!(Role { Owner => "owner", BillingManager => "billing_manager", Member => "member" });
text_enum!(ProviderMode { Managed => "managed", CustomKey => "custom_key", Disabled => "disabled" });
text_enum!(FallbackPolicy { Never => "never", WhenNoKey => "when_no_key", WhenKeyFails => "when_key_fails" });
text_enum!(TokenKind { Api => "api", Session => "session", SignIn => "sign_in" });

/// The id of the built-in principal that owns the platform's managed keys.
pub const PLATFORM_PRINCIPAL_ID: &str = "platform";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalRecord {
    pub id: String,
    pub kind: PrincipalKind,
    pub name: String,
    pub email: String,
    pub created_at: Millis,
    /// Set while the principal is disabled: its tokens are refused.
    pub disabled_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRecord {
    pub org_id: String,
    pub org_name: String,
    pub user_id: String,
    pub role: Role,
    pub created_at: Millis,
}

/// A gateway token's metadata; the token itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub principal_id: String,
    pub name: String,
    pub last_four: String,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
    /// `None`: the token does not expire.
    pub expires_at: Option<Millis>,
    pub kind: TokenKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    pub id: String,
    pub owner_id: String,
    pub provider: String,
    pub label: String,
    pub enabled: bool,
    pub config: BTreeMap<String, String>,
    pub fingerprint: String,
    pub sealed: Sealed,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// When the key was last tested live, so its owner sees whether it still works.
    pub last_tested_at: Option<Millis>,
    /// How that test went: a TestOutcome name such as `ok` or `key_invalid`.
    pub last_test_outcome: Option<String>,
}

/// A new sealed secret for an existing credential.
#[derive(Debug, Clone)]
pub struct SecretUpdate {
    pub sealed: Sealed,
    pub config: BTreeMap<String, String>,
    pub fingerprint: String,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSettingRecord {
    pub owner_id: String,
    pub provider: String,
    pub mode: ProviderMode,
    pub fallback: FallbackPolicy,
    pub updated_at: Millis,
}

/// One audit event to write in the same transaction as the change it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub time: Millis,
    pub actor: String,
    pub peer: String,
    pub action: String,
    pub target: String,
    pub owner_id: String,
    pub request_id: String,
    /// Non-secret details, as JSON.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEventRecord {
    pub id: i64,
    pub record: AuditRecord,
}

/// A credential handed out in a lease, with the kind of its owner.
#[derive(Debug, Clone)]
pub struct LeasableCredential {
    pub credential: CredentialRecord,
    pub owner_kind: PrincipalKind,
}

/// Everything a lease needs: usable credentials in routing order, and provider settings.
#[derive(Debug, Clone, Default)]
pub struct LeaseData {
    pub credentials: Vec<LeasableCredential>,
    pub settings: Vec<ProviderSettingRecord>,
    /// Enabled credentials whose row could not even be read (an unparseable config).
    pub unreadable: Vec<UnreadableRow>,
}

/// A stored credential that could not be used or refreshed, and why. The reason never holds
/// secret material (nor the config's values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableRow {
    pub credential_id: String,
    pub owner_id: String,
    pub reason: String,
}

/// Which credentials a refresh pass visits: those whose data key is not under
/// `not_under_kek` (`None`: whatever their KEK version), or whose secret is sealed with an
/// AAD version below `aad_below`.
#[derive(Debug, Clone, Copy)]
pub struct StaleRows {
    pub not_under_kek: Option<u32>,
    pub aad_below: u32,
}

/// What one refresh batch did.
#[derive(Debug, Clone, Default)]
pub struct RefreshBatch {
    /// Rows looked at; fewer than the limit means there are no more.
    pub visited: usize,
    pub replaced: usize,
    pub skipped: Vec<UnreadableRow>,
    /// The last id looked at: the next batch starts after it.
    pub last_id: Option<String>,
}
