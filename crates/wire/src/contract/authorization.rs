//! How a request proves who it is, read from the registry's scheme and the key's secret:
//! a header to add, SigV4 inputs to sign with once the host is known, or a service account
//! to exchange for an access token. Parsing the secret's JSON shapes (Bedrock's key pair,
//! a custom endpoint's token, Vertex's key file) happens here and nowhere else.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::{Contract, config_error};
use crate::bedrock;
use crate::error::WireError;
use crate::http::HttpRequest;
use crate::registry::AuthScheme;
use crate::sigv4::Credentials;
use crate::vertex::ServiceAccount;

/// The region Bedrock keys are signed for when their config names none.
const DEFAULT_AWS_REGION: &str = "us-east-1";

/// What the caller must do to authenticate one request. Borrows the secret; `Debug` never
/// shows it.
pub enum Authorization<'s> {
    /// Nothing: a custom endpoint without a key.
    None,
    /// One header, as it is.
    Header { name: &'static str, value: String },
    /// A SigV4 signature for service `bedrock` in `region`, over the request as sent.
    SigV4 {
        key: AwsKeyPair<'s>,
        region: &'s str,
    },
    /// A bearer access token exchanged for this service account (cache it: the exchange is
    /// a round trip to Google).
    ServiceAccount(ServiceAccountKey<'s>),
}

impl std::fmt::Debug for Authorization<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Header { name, .. } => write!(f, "Header({name}: [redacted])"),
            Self::SigV4 { key, region } => f
                .debug_struct("SigV4")
                .field("key", key)
                .field("region", region)
                .finish(),
            Self::ServiceAccount(_) => f.write_str("ServiceAccount([redacted])"),
        }
    }
}

/// A Vertex service-account key file, parsed only when a new access token is needed.
pub struct ServiceAccountKey<'s>(&'s str);

impl std::fmt::Debug for ServiceAccountKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceAccountKey([redacted])")
    }
}

impl ServiceAccountKey<'_> {
    /// The service account, with the key that signs its token requests.
    pub fn parse(&self) -> Result<ServiceAccount, WireError> {
        ServiceAccount::from_json(self.0)
    }
}

impl Authorization<'_> {
    /// Adds the header or signature to `request`, whose path is the full path as sent to
    /// `authority` (SigV4 signs both). A service account is exchanged by the caller, which
    /// then adds its token with [`Authorization::bearer`].
    pub fn apply(self, request: &mut HttpRequest, authority: &str, unix_now: i64) {
        match self {
            Self::None | Self::ServiceAccount(_) => {}
            Self::Header { name, value } => request.headers.push((name, value)),
            Self::SigV4 { key, region } => bedrock::authorize(
                request,
                authority,
                region,
                bedrock::Auth::SigV4(key.credentials()),
                unix_now,
            ),
        }
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(token: &str) -> (&'static str, String) {
        ("authorization", format!("Bearer {token}"))
    }
}

impl Contract<'_> {
    /// How to authenticate with `secret`, this key's decrypted secret.
    pub fn authorization<'s>(&'s self, secret: &'s str) -> Result<Authorization<'s>, WireError> {
        let provider = self.provider.id;
        let header = |name, value| Ok(Authorization::Header { name, value });
        let bearer = |token: &str| {
            let (name, value) = Authorization::bearer(token);
            header(name, value)
        };
        match self.provider.auth {
            AuthScheme::Bearer => bearer(secret),
            AuthScheme::Header(name) => header(name, secret.to_owned()),
            AuthScheme::Optional => {
                let parsed: Value = serde_json::from_str(secret).unwrap_or(Value::Null);
                let token = parsed
                    .get("apiKey")
                    .or_else(|| parsed.get("authToken"))
                    .and_then(Value::as_str);
                match token {
                    Some(token) => bearer(token),
                    None => Ok(Authorization::None),
                }
            }
            AuthScheme::AwsSigV4OrBearer => {
                let region = self
                    .config
                    .get("region")
                    .map_or(DEFAULT_AWS_REGION, String::as_str);
                if self.config.get("auth").map(String::as_str) == Some("api_key") {
                    return bearer(secret);
                }
                let key = AwsKeyPair::parse(secret).map_err(|m| config_error(provider, m))?;
                Ok(Authorization::SigV4 { key, region })
            }
            AuthScheme::GoogleServiceAccount => {
                Ok(Authorization::ServiceAccount(ServiceAccountKey(secret)))
            }
        }
    }
}

/// Bedrock's JSON secret: `{"accessKeyId","secretAccessKey","sessionToken"?}`, borrowed
/// from the secret where no JSON escape stands in the way.
#[derive(Deserialize)]
pub struct AwsKeyPair<'s> {
    #[serde(borrow, rename = "accessKeyId")]
    access_key_id: Option<Cow<'s, str>>,
    #[serde(borrow, rename = "secretAccessKey")]
    secret_access_key: Option<Cow<'s, str>>,
    #[serde(borrow, default, rename = "sessionToken")]
    session_token: Option<Cow<'s, str>>,
}

impl std::fmt::Debug for AwsKeyPair<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKeyPair")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl<'s> AwsKeyPair<'s> {
    fn parse(secret: &'s str) -> Result<Self, String> {
        let pair: Self = serde_json::from_str(secret)
            .map_err(|_| "bedrock credential is not JSON".to_owned())?;
        if pair.access_key_id.is_none() || pair.secret_access_key.is_none() {
            return Err("bedrock credential lacks its key pair".to_owned());
        }
        Ok(pair)
    }

    fn credentials(&self) -> Credentials<'_> {
        Credentials {
            access_key_id: self.access_key_id.as_deref().unwrap_or_default(),
            secret_access_key: self.secret_access_key.as_deref().unwrap_or_default(),
            session_token: self.session_token.as_deref(),
        }
    }
}
