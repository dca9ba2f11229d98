//! JSON answers: a request asking for JSON (OpenAI `response_format`, Responses
//! `text.format`, Anthropic `output_config.format`, Gemini `responseMimeType` with
//! `responseJsonSchema` or `responseSchema`, Bedrock `outputConfig.textFormat`) is answered
//! with JSON that parses, and for a schema with a value that validates against it, so a
//! client's parser works against the mock as against the provider.

use serde_json::{Map, Value, json};

/// What kind of JSON a request asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonAsk {
    /// JSON mode: any object. The mock answers `{"echo": "<last user text>"}`.
    Object,
    /// A value that validates against this JSON schema (or Gemini's OpenAPI subset). Every
    /// string in it reads `echo: <last user text> [format=json_schema]`, which proves the
    /// schema arrived.
    Schema(Value),
}

/// The JSON ask a request body carries, in whichever provider's shape.
pub fn ask_of(body: &Value) -> Option<JsonAsk> {
    let kind_at = |pointer: &str| body.pointer(pointer).and_then(Value::as_str);
    let schema_at = |pointer: &str| {
        let schema = body.pointer(pointer).cloned().unwrap_or_else(|| json!({}));
        // Bedrock takes its schema as a JSON string.
        match schema {
            Value::String(text) => serde_json::from_str(&text).unwrap_or_else(|_| json!({})),
            other => other,
        }
    };
    for (kind, schema) in [
        (
            "/response_format/type",
            "/response_format/json_schema/schema",
        ),
        ("/text/format/type", "/text/format/schema"),
        ("/output_config/format/type", "/output_config/format/schema"),
        (
            "/additionalModelRequestFields/output_config/format/type",
            "/additionalModelRequestFields/output_config/format/schema",
        ),
        (
            "/outputConfig/textFormat/type",
            "/outputConfig/textFormat/structure/jsonSchema/schema",
        ),
    ] {
        match kind_at(kind) {
            Some("json_object") => return Some(JsonAsk::Object),
            Some("json_schema") => return Some(JsonAsk::Schema(schema_at(schema))),
            _ => {}
        }
    }
    if kind_at("/generationConfig/responseMimeType") == Some("application/json") {
        for schema in [
            "/generationConfig/responseJsonSchema",
            "/generationConfig/responseSchema",
        ] {
            if body.pointer(schema).is_some() {
                return Some(JsonAsk::Schema(schema_at(schema)));
            }
        }
        return Some(JsonAsk::Object);
    }
    None
}

/// The answer's text: JSON for what was asked.
pub fn answer(ask: &JsonAsk, last_user_text: &str) -> String {
    match ask {
        JsonAsk::Object => json!({ "echo": last_user_text }).to_string(),
        JsonAsk::Schema(schema) => {
            let echo = format!("echo: {last_user_text} [format=json_schema]");
            value_for(schema, schema, &echo, 0).to_string()
        }
    }
}

/// Deeper than this, only required properties are filled; deeper still, `null`: recursive
/// schemas end.
const FULL_DEPTH: usize = 6;
const MAX_DEPTH: usize = 24;

/// A value valid against `schema`: objects get their properties (all of them near the top,
/// the required ones deeper), strings the echo, numbers their minimum or 0, booleans false,
/// arrays their minimum count of items; `enum` and `const` give their (first) value, and
/// `anyOf`/`oneOf`/`allOf` their first branch. `$ref`s into `$defs`/`definitions` resolve.
fn value_for(schema: &Value, root: &Value, echo: &str, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        let resolved = target
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer));
        return match resolved {
            Some(resolved) => value_for(resolved, root, echo, depth + 1),
            None => Value::Null,
        };
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for branch in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema
            .get(branch)
            .and_then(Value::as_array)
            .and_then(|b| b.first())
        {
            return value_for(first, root, echo, depth + 1);
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.to_ascii_lowercase(),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .unwrap_or("null")
            .to_ascii_lowercase(),
        _ if schema.get("properties").is_some() => "object".to_owned(),
        _ if schema.get("items").is_some() => "array".to_owned(),
        _ => "object".to_owned(),
    };
    let number = |name: &str| schema.get(name).and_then(Value::as_f64);
    match kind.as_str() {
        "object" => {
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut out = Map::new();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    if depth < FULL_DEPTH || required.contains(&name.as_str()) {
                        out.insert(name.clone(), value_for(property, root, echo, depth + 1));
                    }
                }
            }
            Value::Object(out)
        }
        "array" => {
            let count = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let items = schema.get("items").cloned().unwrap_or_else(|| json!({}));
            (0..count.min(16))
                .map(|_| value_for(&items, root, echo, depth + 1))
                .collect()
        }
        "string" => {
            let max = schema
                .get("maxLength")
                .and_then(Value::as_u64)
                .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
            let mut text: String = echo.chars().take(max).collect();
            let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0);
            while (text.chars().count() as u64) < min {
                text.push('.');
            }
            Value::String(text)
        }
        "integer" => {
            let low = number("minimum").or(number("exclusiveMinimum").map(|m| m + 1.0));
            json!(low.map_or(0, |low| low.max(0.0).ceil() as i64))
        }
        "number" => {
            let low = number("minimum").or(number("exclusiveMinimum").map(|m| m + 1.0));
            json!(low.map_or(0.0, |low| low.max(0.0)))
        }
        "boolean" => Value::Bool(false),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_shape_is_read() {
        let schema = json!({ "type": "object" });
        let asks = [
            json!({ "response_format": { "type": "json_object" } }),
            json!({ "response_format": { "type": "json_schema", "json_schema": { "name": "a", "schema": schema } } }),
            json!({ "text": { "format": { "type": "json_schema", "name": "a", "schema": schema } } }),
            json!({ "output_config": { "format": { "type": "json_schema", "schema": schema } } }),
            json!({ "generationConfig": { "responseMimeType": "application/json" } }),
            json!({ "generationConfig": { "responseMimeType": "application/json", "responseSchema": { "type": "OBJECT" } } }),
            json!({ "outputConfig": { "textFormat": { "type": "json_schema", "structure": { "jsonSchema": { "schema": "{\"type\":\"object\"}" } } } } }),
        ];
        for body in &asks {
            assert!(ask_of(body).is_some(), "{body}");
        }
        assert_eq!(
            ask_of(&json!({ "response_format": { "type": "text" } })),
            None
        );
        assert_eq!(ask_of(&json!({ "messages": [] })), None);
    }

    #[test]
    fn a_schema_gets_a_value_that_fits() {
        let schema = json!({
            "type": "object",
            "properties": {
                "answer": { "type": "string", "maxLength": 12 },
                "count": { "type": "integer", "minimum": 2 },
                "score": { "type": ["number", "null"] },
                "ok": { "type": "boolean" },
                "mood": { "enum": ["happy", "sad"] },
                "tags": { "type": "array", "items": { "type": "string" } },
                "inner": { "$ref": "#/$defs/inner" }
            },
            "required": ["answer", "count"],
            "additionalProperties": false,
            "$defs": { "inner": { "type": "object", "properties": { "x": { "type": "STRING" } } } }
        });
        let value: Value =
            serde_json::from_str(&answer(&JsonAsk::Schema(schema), "hi there")).unwrap();
        assert_eq!(
            value,
            json!({
                "answer": "echo: hi the", "count": 2, "score": 0.0, "ok": false, "mood": "happy",
                "tags": [], "inner": { "x": "echo: hi there [format=json_schema]" }
            })
        );
        let object: Value = serde_json::from_str(&answer(&JsonAsk::Object, "say \"hi\"")).unwrap();
        assert_eq!(object, json!({ "echo": "say \"hi\"" }));
    }
}
