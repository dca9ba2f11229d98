//! What can be wrong with a client's request, in a form both client dialects render: the
//! parameter at fault and why. Always a 400: the client must change the request.

use thiserror::Error;

/// A client request that cannot be translated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{param}: {message}")]
pub struct IngressError {
    /// The JSON path of the offending field (`messages[2].content`), or empty for the body.
    pub param: String,
    pub message: String,
}

impl IngressError {
    pub fn invalid(param: &str, message: &str) -> Self {
        Self {
            param: param.to_owned(),
            message: message.to_owned(),
        }
    }

    /// The body is not JSON at all. Says where, never echoes the body.
    pub fn not_json(error: &serde_json::Error) -> Self {
        Self {
            param: String::new(),
            message: format!(
                "the body is not valid JSON (line {}, column {})",
                error.line(),
                error.column()
            ),
        }
    }
}

/// A field that is a string or an array of strings (`stop`, `stop_sequences`).
pub(crate) fn string_list(
    object: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<Vec<String>, IngressError> {
    string_list_of(key, object.get(key))
}

/// [`string_list`] of a field already found (`None` when absent).
pub(crate) fn string_list_of(
    key: &str,
    value: Option<&serde_json::Value>,
) -> Result<Vec<String>, IngressError> {
    use serde_json::Value;
    let invalid = || IngressError::invalid(key, "must be a string or an array of strings");
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(one)) => Ok(vec![one.clone()]),
        Some(Value::Array(many)) => many
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(invalid))
            .collect(),
        Some(_) => Err(invalid()),
    }
}

/// A number field read by a typed ingress (`None` when absent or null); one of another type
/// is a fault.
pub(crate) fn number(
    key: &str,
    field: Option<crate::lenient::Float>,
) -> Result<Option<f64>, IngressError> {
    match field {
        None => Ok(None),
        Some(crate::lenient::Float(value)) => value
            .map(Some)
            .ok_or_else(|| IngressError::invalid(key, "must be a number")),
    }
}

/// The tree a field held, if it was there and not null.
pub(crate) fn tree(field: Option<&crate::lenient::Tree>) -> Option<&serde_json::Value> {
    field.and_then(|tree| tree.0.as_ref())
}

/// A tree as compact JSON text, as `Value::to_string` writes it but straight into bytes
/// (`to_string` goes through `fmt::Write` a piece at a time, several times slower).
pub(crate) fn json_text(value: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    // serde_json writes UTF-8 only.
    String::from_utf8(bytes).unwrap_or_default()
}
