//! Rate-limit scopes by name: the one spelling the management API's JSON, the CLI's output,
//! the router's counter names and its refusal metadata share (`principal`, `org`,
//! `credential`, `managed_model`).

use crate::vault::v1::RateLimitScope;

impl RateLimitScope {
    /// Every scope a limit can have (not `Unspecified`).
    pub const NAMED: [Self; 4] = [
        Self::Principal,
        Self::Org,
        Self::Credential,
        Self::ManagedModel,
    ];

    /// The scope's name; `unspecified` for none.
    pub fn name(self) -> &'static str {
        match self {
            Self::Principal => "principal",
            Self::Org => "org",
            Self::Credential => "credential",
            Self::ManagedModel => "managed_model",
            Self::Unspecified => "unspecified",
        }
    }

    /// The scope `name` spells; `None` for any other word, `unspecified` included.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMED.into_iter().find(|scope| scope.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimitScope;

    #[test]
    fn names_read_back_as_written() {
        for scope in RateLimitScope::NAMED {
            assert_eq!(RateLimitScope::from_name(scope.name()), Some(scope));
        }
        assert_eq!(RateLimitScope::Unspecified.name(), "unspecified");
        assert_eq!(RateLimitScope::from_name("unspecified"), None);
        assert_eq!(RateLimitScope::from_name("managed-model"), None);
    }
}
