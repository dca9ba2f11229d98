//! Small accessors for reading provider JSON leniently: a missing or mistyped field reads as
//! empty, and the decoders decide what is required.

use serde_json::Value;

pub(crate) fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

pub(crate) fn u64_of(value: &Value, key: &str) -> u64 {
    value.get(key).and_then(Value::as_u64).unwrap_or_default()
}

/// Appends a turn, merging it into the previous one when the role repeats: Anthropic,
/// Bedrock and Gemini all want strictly alternating roles. `key` holds the turn's blocks
/// (`content`, or Gemini's `parts`). Only the tree-building egresses kept as test references
/// use it: the byte writers merge as they write.
#[cfg(test)]
pub(crate) fn push_turn(turns: &mut Vec<Value>, role: &str, key: &str, blocks: Vec<Value>) {
    if let Some(last) = turns.last_mut()
        && last["role"] == role
        && let Some(existing) = last[key].as_array_mut()
    {
        existing.extend(blocks);
        return;
    }
    let mut turn = serde_json::Map::new();
    turn.insert("role".into(), Value::String(role.to_owned()));
    turn.insert(key.into(), Value::Array(blocks));
    turns.push(Value::Object(turn));
}
