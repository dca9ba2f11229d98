//! Small accessors for reading provider JSON leniently: a missing or mistyped field reads as
//! empty, and the decoders decide what is required.

use serde_json::Value;

pub(crate) fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

pub(crate) fn u64_of(value: &Value, key: &str) -> u64 {
    value.get(key).and_then(Value::as_u64).unwrap_or_default()
}
