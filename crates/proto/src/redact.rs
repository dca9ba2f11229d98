//! Hand-written `Debug` for messages that carry secrets: the secret prints as a redaction,
//! so a request logged at `trace` or an error that formats one leaks nothing.

use std::fmt;

use crate::vault::v1::{
    AuthenticateRequest, CreateCredentialRequest, IssueTokenResponse, LeasedCredential,
    UpdateCredentialSecretRequest,
};

const REDACTED: &str = "[redacted]";

impl fmt::Debug for IssueTokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssueTokenResponse")
            .field("info", &self.info)
            .field("token", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for AuthenticateRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticateRequest")
            .field("token", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for CreateCredentialRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateCredentialRequest")
            .field("owner_id", &self.owner_id)
            .field("provider", &self.provider)
            .field("label", &self.label)
            .field("secret", &REDACTED)
            .field("config", &self.config)
            .field("disabled", &self.disabled)
            .finish()
    }
}

impl fmt::Debug for UpdateCredentialSecretRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateCredentialSecretRequest")
            .field("credential_id", &self.credential_id)
            .field("secret", &REDACTED)
            .field("config", &self.config)
            .finish()
    }
}

impl fmt::Debug for LeasedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeasedCredential")
            .field("credential", &self.credential)
            .field("secret", &REDACTED)
            .field("owner_kind", &self.owner_kind)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let canary = "sk-canary-0123456789";
        let printed = [
            format!(
                "{:?}",
                IssueTokenResponse {
                    info: None,
                    token: canary.into()
                }
            ),
            format!(
                "{:?}",
                AuthenticateRequest {
                    token: canary.into()
                }
            ),
            format!(
                "{:?}",
                CreateCredentialRequest {
                    secret: canary.into(),
                    ..Default::default()
                }
            ),
            format!(
                "{:?}",
                UpdateCredentialSecretRequest {
                    secret: canary.into(),
                    ..Default::default()
                }
            ),
            format!(
                "{:#?}",
                LeasedCredential {
                    secret: canary.into(),
                    ..Default::default()
                }
            ),
        ];
        for line in printed {
            assert!(!line.contains(canary), "leaked: {line}");
            assert!(line.contains(REDACTED));
        }
    }
}
