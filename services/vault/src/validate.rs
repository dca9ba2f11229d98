//! Validation of credentials on add and update. Each provider's shape is checked before
//! anything is stored, and every message names the field at fault without echoing a value:
//! a rejected secret never reaches an error, a log line or the database.

use std::collections::{BTreeMap, HashMap};

use keyroute_egress::EgressPolicy;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::providers::{Shape, provider_ids, shape_of};

/// The longest single key accepted.
pub const MAX_KEY_LEN: usize = 4096;
/// The longest JSON secret (service accounts, AWS keys) accepted.
pub const MAX_JSON_SECRET_LEN: usize = 16 * 1024;
const MAX_CONFIG_VALUE_LEN: usize = 2048;
const MAX_LABEL_LEN: usize = 64;

/// A credential that passed validation, normalized for storage.
pub struct ValidCredential {
    pub label: String,
    pub secret: Zeroizing<String>,
    pub config: BTreeMap<String, String>,
    pub fingerprint: String,
}

impl std::fmt::Debug for ValidCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidCredential")
            .field("label", &self.label)
            .field("config", &self.config)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// A validation failure: a message fit for `INVALID_ARGUMENT`, never holding a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidCredential(pub String);

fn invalid(message: impl Into<String>) -> InvalidCredential {
    InvalidCredential(message.into())
}

/// Validates a credential for `provider` and returns its normalized form; destinations it
/// carries must pass the strict egress policy.
pub fn validate(
    provider: &str,
    label: &str,
    secret: &str,
    config: &HashMap<String, String>,
) -> Result<ValidCredential, InvalidCredential> {
    validate_for(provider, label, secret, config, &EgressPolicy::strict())
}

/// Validates a credential whose destinations (a custom base URL, an Azure endpoint, a Vertex
/// token URI) must pass `egress`: a key pointing at an internal address is refused when it is
/// added, with the rule named, not when it is first used.
pub fn validate_for(
    provider: &str,
    label: &str,
    secret: &str,
    config: &HashMap<String, String>,
    egress: &EgressPolicy,
) -> Result<ValidCredential, InvalidCredential> {
    let shape = shape_of(provider).ok_or_else(|| {
        invalid(format!(
            "unknown provider {provider:?}; expected one of {}",
            provider_ids()
        ))
    })?;
    let label = label.trim();
    if !label.is_empty() {
        check_name("label", label, MAX_LABEL_LEN)?;
    }
    for (key, value) in config {
        if value.len() > MAX_CONFIG_VALUE_LEN || value.chars().any(char::is_control) {
            return Err(invalid(format!(
                "config.{key} must be at most {MAX_CONFIG_VALUE_LEN} bytes without control characters"
            )));
        }
    }
    let config = Config(config);
    match shape {
        Shape::ApiKey => {
            config.allow(&[])?;
            let key = api_key("secret", secret)?;
            Ok(finish(provider, label, key, BTreeMap::new()))
        }
        Shape::Bedrock => bedrock(provider, label, secret, &config),
        Shape::Azure => azure(provider, label, secret, &config, egress),
        Shape::Vertex => vertex(provider, label, secret, &config, egress),
        Shape::Custom => custom(provider, label, secret, &config, egress),
    }
}

/// The label a key of `provider` with stored `config` gets when renamed to `label`: the rules
/// of [`validate_for`] for labels alone (a custom endpoint needs one, an Azure key without
/// one is named after its deployment), so a rename cannot make a label adding could not.
pub fn label_for(
    provider: &str,
    label: &str,
    config: &BTreeMap<String, String>,
) -> Result<String, InvalidCredential> {
    let shape =
        shape_of(provider).ok_or_else(|| invalid(format!("unknown provider {provider:?}")))?;
    let label = label.trim();
    if !label.is_empty() {
        check_name("label", label, MAX_LABEL_LEN)?;
        return Ok(label.to_owned());
    }
    match shape {
        Shape::Custom => Err(invalid(
            "label is required for a custom endpoint: it is the endpoint's name",
        )),
        Shape::Azure => Ok(config.get("deployment").cloned().unwrap_or_default()),
        _ => Ok(String::new()),
    }
}

struct Config<'a>(&'a HashMap<String, String>);

impl Config<'_> {
    fn allow(&self, known: &[&str]) -> Result<(), InvalidCredential> {
        let mut unknown: Vec<&str> = self
            .0
            .keys()
            .map(String::as_str)
            .filter(|key| !known.contains(key))
            .collect();
        unknown.sort_unstable();
        match unknown.first() {
            None => Ok(()),
            Some(key) if known.is_empty() => Err(invalid(format!(
                "config.{key} is not accepted for this provider; it takes no config"
            ))),
            Some(key) => Err(invalid(format!(
                "config.{key} is not accepted; expected {}",
                known.join(", ")
            ))),
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }

    fn require(&self, key: &str) -> Result<&str, InvalidCredential> {
        self.get(key)
            .ok_or_else(|| invalid(format!("config.{key} is required")))
    }
}

fn finish(
    provider: &str,
    label: &str,
    secret: Zeroizing<String>,
    config: BTreeMap<String, String>,
) -> ValidCredential {
    let fingerprint = fingerprint(provider, &secret);
    ValidCredential {
        label: label.to_owned(),
        secret,
        config,
        fingerprint,
    }
}

/// `openai:…a1b2`: the provider and the last four characters of the key, or no characters
/// when the key is too short for four to be a small part of it.
pub fn fingerprint(provider: &str, identifying: &str) -> String {
    let chars: Vec<char> = identifying.chars().collect();
    if chars.len() < 16 {
        return format!("{provider}:…****");
    }
    let last: String = chars[chars.len() - 4..].iter().collect();
    format!("{provider}:…{last}")
}

/// A key string: surrounding whitespace trimmed; empty, oversized, inner whitespace, control
/// or non-ASCII characters rejected.
fn api_key(field: &str, value: &str) -> Result<Zeroizing<String>, InvalidCredential> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(invalid(format!("{field} is empty")));
    }
    if trimmed.len() > MAX_KEY_LEN {
        return Err(invalid(format!(
            "{field} is longer than {MAX_KEY_LEN} bytes"
        )));
    }
    if let Some(position) = trimmed
        .chars()
        .position(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(format!(
            "{field} contains whitespace or a control character at position {position}"
        )));
    }
    if !trimmed.is_ascii() {
        return Err(invalid(format!("{field} contains non-ASCII characters")));
    }
    Ok(Zeroizing::new(trimmed.to_owned()))
}

fn check_name(field: &str, value: &str, max: usize) -> Result<(), InvalidCredential> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "{field} must be 1 to {max} characters of letters, digits, '.', '_' or '-'"
        )))
    }
}

fn check_url(
    field: &str,
    value: &str,
    https_only: bool,
    egress: &EgressPolicy,
) -> Result<(), InvalidCredential> {
    let parsed: Result<http::Uri, _> = value.parse();
    let uri = match &parsed {
        Ok(uri)
            if uri.authority().is_some()
                && match uri.scheme_str() {
                    Some("https") => true,
                    Some("http") => !https_only,
                    _ => false,
                } =>
        {
            uri
        }
        _ if https_only => return Err(invalid(format!("{field} must be an https:// URL"))),
        _ => {
            return Err(invalid(format!(
                "{field} must be an http:// or https:// URL"
            )));
        }
    };
    egress
        .check_host(uri.host().unwrap_or_default())
        .map_err(|refused| invalid(format!("{field}: {refused}")))
}

/// Parses a JSON object secret without ever quoting it in an error (serde's messages can
/// echo values).
fn json_object(field: &str, value: &str) -> Result<Map<String, Value>, InvalidCredential> {
    if value.len() > MAX_JSON_SECRET_LEN {
        return Err(invalid(format!(
            "{field} is longer than {MAX_JSON_SECRET_LEN} bytes"
        )));
    }
    match serde_json::from_str::<Value>(value) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(invalid(format!("{field} is not a JSON object"))),
    }
}

fn string_field<'a>(
    map: &'a Map<String, Value>,
    field: &str,
    key: &str,
) -> Result<Option<&'a str>, InvalidCredential> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) if value.trim().is_empty() => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.as_str())),
        Some(_) => Err(invalid(format!("{field}.{key} must be a string"))),
    }
}

fn required_field<'a>(
    map: &'a Map<String, Value>,
    field: &str,
    key: &str,
) -> Result<&'a str, InvalidCredential> {
    string_field(map, field, key)?.ok_or_else(|| invalid(format!("{field}.{key} is required")))
}

fn check_region(field: &str, region: &str) -> Result<(), InvalidCredential> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "{field} must be an AWS region such as us-east-1"
        )))
    }
}

fn bedrock(
    provider: &str,
    label: &str,
    secret: &str,
    config: &Config<'_>,
) -> Result<ValidCredential, InvalidCredential> {
    config.allow(&["region"])?;
    let trimmed = secret.trim();
    if !trimmed.starts_with('{') {
        // A Bedrock API key, sent as a bearer token; the region comes from config.
        let key = api_key("secret", trimmed)?;
        let region = config.require("region")?;
        check_region("config.region", region)?;
        let config = BTreeMap::from([
            ("auth".to_owned(), "api_key".to_owned()),
            ("region".to_owned(), region.to_owned()),
        ]);
        return Ok(finish(provider, label, key, config));
    }
    let map = json_object("secret", trimmed)?;
    if let Some(key) = map.keys().find(|key| {
        !["accessKeyId", "secretAccessKey", "region", "sessionToken"].contains(&key.as_str())
    }) {
        return Err(invalid(format!(
            "secret.{key} is not accepted; expected accessKeyId, secretAccessKey, region, sessionToken"
        )));
    }
    let access_key_id = api_key(
        "secret.accessKeyId",
        required_field(&map, "secret", "accessKeyId")?,
    )?;
    if access_key_id.len() < 16
        || !access_key_id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(invalid(
            "secret.accessKeyId must be an AWS access key id (16 or more uppercase letters and digits)",
        ));
    }
    let secret_access_key = api_key(
        "secret.secretAccessKey",
        required_field(&map, "secret", "secretAccessKey")?,
    )?;
    let region = required_field(&map, "secret", "region")?;
    check_region("secret.region", region)?;
    if config.get("region").is_some_and(|other| other != region) {
        return Err(invalid("config.region differs from secret.region"));
    }
    let session_token = string_field(&map, "secret", "sessionToken")?
        .map(|token| api_key("secret.sessionToken", token))
        .transpose()?;
    let mut stored = Map::new();
    stored.insert(
        "accessKeyId".into(),
        Value::String(access_key_id.to_string()),
    );
    stored.insert(
        "secretAccessKey".into(),
        Value::String(secret_access_key.to_string()),
    );
    if let Some(token) = session_token {
        stored.insert("sessionToken".into(), Value::String(token.to_string()));
    }
    let stored = Zeroizing::new(Value::Object(stored).to_string());
    let config = BTreeMap::from([
        ("auth".to_owned(), "sigv4".to_owned()),
        ("region".to_owned(), region.to_owned()),
    ]);
    let mut valid = finish(provider, label, stored, config);
    // The access key id identifies the key pair and is not itself secret.
    valid.fingerprint = fingerprint(provider, &access_key_id);
    Ok(valid)
}

fn azure(
    provider: &str,
    label: &str,
    secret: &str,
    config: &Config<'_>,
    egress: &EgressPolicy,
) -> Result<ValidCredential, InvalidCredential> {
    config.allow(&["endpoint", "deployment", "api_version"])?;
    let endpoint = config.require("endpoint")?.trim_end_matches('/');
    check_url("config.endpoint", endpoint, true, egress)?;
    let deployment = config.require("deployment")?;
    check_name("config.deployment", deployment, 64)?;
    let mut stored = BTreeMap::from([
        ("endpoint".to_owned(), endpoint.to_owned()),
        ("deployment".to_owned(), deployment.to_owned()),
    ]);
    if let Some(version) = config.get("api_version") {
        let ok = version.len() >= 10
            && version.len() <= 32
            && version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(invalid(
                "config.api_version must look like 2024-10-21 or 2025-04-01-preview",
            ));
        }
        stored.insert("api_version".to_owned(), version.to_owned());
    }
    let key = api_key("secret", secret)?;
    // Deployments are told apart by label; the deployment name is the natural default.
    let label = if label.is_empty() { deployment } else { label };
    Ok(finish(provider, label, key, stored))
}

fn vertex(
    provider: &str,
    label: &str,
    secret: &str,
    config: &Config<'_>,
    egress: &EgressPolicy,
) -> Result<ValidCredential, InvalidCredential> {
    config.allow(&["project_id", "location"])?;
    let map = json_object("secret", secret.trim())?;
    if string_field(&map, "secret", "type")? != Some("service_account") {
        return Err(invalid("secret.type must be \"service_account\""));
    }
    let email = required_field(&map, "secret", "client_email")?;
    if !email.contains('@') || email.chars().any(char::is_whitespace) {
        return Err(invalid("secret.client_email is not an email address"));
    }
    let token_uri = required_field(&map, "secret", "token_uri")?;
    check_url("secret.token_uri", token_uri, true, egress)?;
    let pem = required_field(&map, "secret", "private_key")?;
    check_rsa_private_key(pem)?;
    let project_id = match config.get("project_id") {
        Some(project) => project,
        None => string_field(&map, "secret", "project_id")?.ok_or_else(|| {
            invalid("config.project_id is required when secret.project_id is absent")
        })?,
    };
    check_name("project_id", project_id, 64)?;
    let location = config.get("location").unwrap_or("us-central1");
    if location.is_empty()
        || location.len() > 64
        || !location
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(invalid(
            "config.location must be a Google Cloud location such as us-central1 or global",
        ));
    }
    let identifying = string_field(&map, "secret", "private_key_id")?
        .unwrap_or(email)
        .to_owned();
    let config = BTreeMap::from([
        ("project_id".to_owned(), project_id.to_owned()),
        ("location".to_owned(), location.to_owned()),
        ("client_email".to_owned(), email.to_owned()),
    ]);
    let stored = Zeroizing::new(Value::Object(map).to_string());
    let mut valid = finish(provider, label, stored, config);
    valid.fingerprint = fingerprint(provider, &identifying);
    Ok(valid)
}

/// The service account's key must be a PEM PKCS#8 RSA key that ring can sign with.
fn check_rsa_private_key(pem: &str) -> Result<(), InvalidCredential> {
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    let broken = || invalid("secret.private_key is not a parseable PEM RSA private key");
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| broken())?;
    let PrivateKeyDer::Pkcs8(pkcs8) = der else {
        return Err(broken());
    };
    ring::signature::RsaKeyPair::from_pkcs8(pkcs8.secret_pkcs8_der()).map_err(|_| broken())?;
    Ok(())
}

fn custom(
    provider: &str,
    label: &str,
    secret: &str,
    config: &Config<'_>,
    egress: &EgressPolicy,
) -> Result<ValidCredential, InvalidCredential> {
    config.allow(&["base_url"])?;
    if label.is_empty() {
        return Err(invalid(
            "label is required for a custom endpoint: it is the endpoint's name",
        ));
    }
    let base_url = config.require("base_url")?.trim_end_matches('/');
    check_url("config.base_url", base_url, false, egress)?;
    let config = BTreeMap::from([("base_url".to_owned(), base_url.to_owned())]);
    let trimmed = secret.trim();
    if trimmed.is_empty() {
        let mut valid = finish(provider, label, Zeroizing::new(String::new()), config);
        valid.fingerprint = format!("{provider}:none");
        return Ok(valid);
    }
    if !trimmed.starts_with('{') {
        let key = api_key("secret", trimmed)?;
        let stored = Zeroizing::new(serde_json::json!({ "apiKey": key.as_str() }).to_string());
        let mut valid = finish(provider, label, stored, config);
        valid.fingerprint = fingerprint(provider, &key);
        return Ok(valid);
    }
    let map = json_object("secret", trimmed)?;
    if let Some(key) = map
        .keys()
        .find(|key| !["apiKey", "authToken"].contains(&key.as_str()))
    {
        return Err(invalid(format!(
            "secret.{key} is not accepted; expected apiKey, authToken"
        )));
    }
    let mut stored = Map::new();
    let mut identifying = String::new();
    for field in ["apiKey", "authToken"] {
        if let Some(value) = string_field(&map, "secret", field)? {
            let value = api_key(&format!("secret.{field}"), value)?;
            if identifying.is_empty() {
                identifying = value.to_string();
            }
            stored.insert(field.into(), Value::String(value.to_string()));
        }
    }
    let stored = Zeroizing::new(Value::Object(stored).to_string());
    let mut valid = finish(provider, label, stored, config);
    valid.fingerprint = fingerprint(provider, &identifying);
    Ok(valid)
}

#[cfg(test)]
mod tests;
