//! Vertex AI authentication with a service account: an RS256-signed JWT (RFC 7523 bearer
//! grant) exchanged at the account's `token_uri` for an access token. Building the exchange
//! and reading its answer are here; sending it belongs to the router, which caches the token
//! per credential until shortly before it expires.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

use crate::error::WireError;
use crate::http::HttpRequest;

const PROVIDER: &str = "vertex";
/// The scope every Vertex call needs.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's token endpoint, the audience of the assertion.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// How long an assertion is valid (the maximum Google accepts).
const ASSERTION_LIFETIME: i64 = 3600;
/// Refresh this long before expiry, as google-auth does (3 min 45 s).
pub const REFRESH_MARGIN_SECONDS: i64 = 225;

/// The fields of a service-account JSON that signing needs. `Debug` hides the key.
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key_id: String,
    pub token_uri: String,
    pub project_id: String,
    key: RsaKeyPair,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .finish_non_exhaustive()
    }
}

fn invalid(message: &str) -> WireError {
    WireError::from_status(PROVIDER, 401, "invalid_service_account", message)
}

impl ServiceAccount {
    /// Reads a service-account JSON (as the vault stores it).
    pub fn from_json(json: &str) -> Result<Self, WireError> {
        let value: Value =
            serde_json::from_str(json).map_err(|_| invalid("service account is not JSON"))?;
        let field = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let pem = field("private_key");
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| invalid("service account private_key is not a PEM key"))?;
        let PrivateKeyDer::Pkcs8(pkcs8) = der else {
            return Err(invalid("service account private_key is not PKCS#8"));
        };
        let key = RsaKeyPair::from_pkcs8(pkcs8.secret_pkcs8_der())
            .map_err(|_| invalid("service account private_key is not an RSA key"))?;
        let token_uri = match field("token_uri") {
            uri if uri.is_empty() => GOOGLE_TOKEN_URI.to_owned(),
            uri => uri,
        };
        Ok(Self {
            client_email: field("client_email"),
            private_key_id: field("private_key_id"),
            token_uri,
            project_id: field("project_id"),
            key,
        })
    }

    /// The signed assertion: header `{"alg":"RS256","typ":"JWT","kid"}`, claims `iss`,
    /// `scope`, `aud`, `iat`, `exp`, each segment unpadded base64url.
    pub fn assertion(&self, scope: &str, now: i64) -> Result<String, WireError> {
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": self.private_key_id });
        let claims = json!({ "iss": self.client_email, "scope": scope, "aud": self.token_uri, "iat": now, "exp": now + ASSERTION_LIFETIME });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| invalid("could not sign the assertion"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// The token exchange: a form POST to `token_uri` (absolute URL in `path`).
    pub fn token_request(&self, now: i64) -> Result<HttpRequest, WireError> {
        let assertion = self.assertion(CLOUD_PLATFORM_SCOPE, now)?;
        Ok(HttpRequest {
            method: "POST",
            path: self.token_uri.clone(),
            headers: vec![("content-type", "application/x-www-form-urlencoded".to_owned())],
            body: format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}").into_bytes(),
        })
    }
}

/// An access token and when to stop using it. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    /// Unix seconds after which the token must be refreshed (expiry minus the margin).
    pub refresh_at: i64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("refresh_at", &self.refresh_at)
            .finish_non_exhaustive()
    }
}

/// Reads the token endpoint's answer: `{"access_token","expires_in","token_type"}`, or an
/// OAuth error (`{"error":"invalid_grant","error_description":...}`).
pub fn parse_token_response(status: u16, body: &[u8], now: i64) -> Result<AccessToken, WireError> {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let error = value
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("token_error");
        let description = value
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or("the token exchange failed");
        // Any refusal here means the service account cannot be used.
        let status = if status >= 500 { status } else { 401 };
        return Err(WireError::from_status(PROVIDER, status, error, description));
    }
    let token = value
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| WireError::malformed(PROVIDER, "token response has no access_token"))?;
    let expires_in = value
        .get("expires_in")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    Ok(AccessToken {
        token: token.to_owned(),
        refresh_at: now + (expires_in - REFRESH_MARGIN_SECONDS).max(0),
    })
}

/// The Vertex host for a location: regional, `global`, or the `us`/`eu` multi-regions.
pub fn host(location: &str) -> String {
    match location {
        "global" => "aiplatform.googleapis.com".to_owned(),
        "us" | "eu" => format!("aiplatform.{location}.rep.googleapis.com"),
        region => format!("{region}-aiplatform.googleapis.com"),
    }
}
