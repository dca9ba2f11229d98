//! A small checker for the OpenAPI file: `$ref`s resolved, and answers validated against
//! the subset of JSON Schema the file uses (types, required, properties, items, enums,
//! `additionalProperties`, `oneOf`/`anyOf`).

use serde_json::Value;

/// Keywords that only describe. Any keyword the check does not know fails it, so the file
/// cannot state a rule that this test would silently skip.
const ANNOTATIONS: [&str; 4] = ["description", "title", "examples", "default"];

/// What a local `$ref` (`#/components/...`) names, or `node` itself.
pub fn resolve<'a>(spec: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        None => node,
        Some(reference) => {
            let target = reference.strip_prefix('#').and_then(|at| spec.pointer(at));
            resolve(spec, target.expect(reference))
        }
    }
}

/// Whether `value` has the type `rule` names (`"string"`, or a list such as
/// `["string", "null"]`).
pub fn has_type(value: &Value, rule: &Value) -> bool {
    if let Value::Array(names) = rule {
        return names.iter().any(|name| has_type(value, name));
    }
    match rule.as_str().unwrap() {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("unknown type {other:?}"),
    }
}

/// Checks `value` against `schema`; the error says where (`at`) and why.
pub fn validate(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(spec, schema);
    let rules = schema.as_object().expect("a schema is an object");
    let (number, object) = (value.as_f64(), value.as_object());
    for (keyword, rule) in rules {
        let fine = match keyword.as_str() {
            "type" => has_type(value, rule),
            "enum" => rule.as_array().unwrap().contains(value),
            "minimum" => number.is_none() || number >= rule.as_f64(),
            "maximum" => number.is_none() || number <= rule.as_f64(),
            "required" => {
                let mut names = rule.as_array().unwrap().iter().filter_map(Value::as_str);
                names.all(|name| object.is_none_or(|object| object.contains_key(name)))
            }
            "anyOf" | "oneOf" => {
                let fits = |option: &&Value| validate(spec, option, value, at).is_ok();
                let matching = rule.as_array().unwrap().iter().filter(fits).count();
                matching == 1 || (matching > 1 && keyword == "anyOf")
            }
            "properties" => {
                for (name, item) in object.into_iter().flatten() {
                    if let Some(property) = rule.get(name) {
                        validate(spec, property, item, &format!("{at}.{name}"))?;
                    }
                }
                true
            }
            "additionalProperties" => {
                let known = &schema["properties"];
                for (name, item) in object.into_iter().flatten() {
                    match (known.get(name), rule) {
                        (Some(_), _) => {}
                        (None, Value::Bool(false)) => return Err(format!("{at}.{name}: unknown")),
                        (None, _) => validate(spec, rule, item, &format!("{at}.{name}"))?,
                    }
                }
                true
            }
            "items" => {
                for (index, item) in value.as_array().into_iter().flatten().enumerate() {
                    validate(spec, rule, item, &format!("{at}[{index}]"))?;
                }
                true
            }
            annotation if ANNOTATIONS.contains(&annotation) => true,
            unknown => panic!("{at}: the file uses {unknown:?}, which this check does not know"),
        };
        if !fine {
            return Err(format!("{at}: {value} fails {keyword} {rule}"));
        }
    }
    Ok(())
}

/// Resolves every `$ref` under `node`, so that a dangling one fails even if no answer uses it.
pub fn check_references(spec: &Value, node: &Value) {
    resolve(spec, node);
    match node {
        Value::Object(object) => object.values().for_each(|c| check_references(spec, c)),
        Value::Array(items) => items.iter().for_each(|c| check_references(spec, c)),
        _ => {}
    }
}
