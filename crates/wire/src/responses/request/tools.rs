//! A Responses request's `tools` and `tool_choice`. Functions (bare or in a namespace) become
//! canonical tools; OpenAI's hosted tools are kept verbatim for the upstreams that run them.
//! A choice that narrows the tools (`allowed_tools`, a hosted tool) is applied by narrowing
//! the declared tools, which every upstream understands.

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::input::{custom_tools_unsupported, invalid};
use super::input_body::ToolIn;
use crate::canonical::pb;
use crate::ingress::IngressError;
use crate::json::str_of;
use crate::lenient::{Flag, Obj};
use crate::responses::namespaced;

/// Tool types OpenAI runs (or defines) itself, passed to Responses upstreams as sent.
pub(super) const HOSTED: &[&str] = &[
    "web_search",
    "web_search_2025_08_26",
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "file_search",
    "code_interpreter",
    "image_generation",
    "mcp",
    "computer",
    "computer_use_preview",
    "local_shell",
    "shell",
    "apply_patch",
    "tool_search",
    "programmatic_tool_calling",
];

/// The declared tools, read.
#[derive(Debug, Default)]
pub(super) struct Tools {
    pub functions: Vec<pb::Tool>,
    /// Hosted tools and namespace shells, as `hosted_tools_json` holds them.
    pub hosted: Vec<Value>,
    pub namespaces: Vec<String>,
}

/// A function tool (bare, or one of a namespace's), read typed.
fn function(tool: &ToolIn<'_>, at: &str, namespace: &str) -> Result<pb::Tool, IngressError> {
    let name = tool
        .name
        .get()
        .filter(|name| !name.is_empty())
        .ok_or_else(|| invalid(&format!("{at}.name"), "is required"))?;
    // The schema goes on as the client wrote it (checked as a tree would check it).
    let parameters_json = match tool.parameters.text() {
        None | Some("null") => String::new(),
        Some(schema) if schema.starts_with('{') => schema.to_owned(),
        Some(_) => {
            return Err(invalid(
                &format!("{at}.parameters"),
                "must be a JSON Schema object",
            ));
        }
    };
    let strict = match tool.strict {
        None => false,
        Some(Flag(Some(strict))) => strict,
        Some(Flag(None)) => return Err(invalid(&format!("{at}.strict"), "must be a boolean")),
    };
    Ok(pb::Tool {
        name: namespaced(namespace, name),
        description: tool.description.as_str().to_owned(),
        parameters_json,
        strict,
        cache: None,
        namespace: namespace.to_owned(),
    })
}

/// Reads `tools` from the client's text of them (already checked as a tree would check it;
/// `None` when absent or null), each tool from its own text: functions typed, hosted tools
/// kept whole as trees.
pub(super) fn read_tools(tools: Option<&str>) -> Result<Tools, IngressError> {
    let mut read = Tools::default();
    let list: Vec<&RawValue> = match tools {
        None => return Ok(read),
        // Checked already: it parses.
        Some(text) if text.starts_with('[') => serde_json::from_str(text).unwrap_or_default(),
        Some(_) => return Err(invalid("tools", "must be an array")),
    };
    for (i, text) in list.iter().enumerate() {
        let at = format!("tools[{i}]");
        let tool: Obj<ToolIn<'_>> = serde_json::from_str(text.get()).unwrap_or_default();
        match tool.kind.as_str() {
            "function" => read.functions.push(function(&tool, &at, "")?),
            "namespace" => {
                let name = tool
                    .name
                    .get()
                    .filter(|name| !name.is_empty())
                    .ok_or_else(|| invalid(&format!("{at}.name"), "is required"))?;
                let inner = tool.tools.0.as_deref().ok_or_else(|| {
                    invalid(&format!("{at}.tools"), "must be an array of function tools")
                })?;
                for (j, member) in inner.iter().enumerate() {
                    let member_at = format!("{at}.tools[{j}]");
                    match member.kind.as_str() {
                        "function" => read.functions.push(function(member, &member_at, name)?),
                        "custom" => return Err(custom_tools_unsupported(&member_at)),
                        _ => {
                            return Err(invalid(&format!("{member_at}.type"), "must be function"));
                        }
                    }
                }
                read.namespaces.push(name.to_owned());
                read.hosted
                    .push(namespace_shell(name, tool.description.as_str()));
            }
            "custom" => return Err(custom_tools_unsupported(&at)),
            hosted if HOSTED.contains(&hosted) => {
                read.hosted
                    .push(serde_json::from_str(text.get()).unwrap_or_default());
            }
            "" => return Err(invalid(&format!("{at}.type"), "is required")),
            other => {
                return Err(invalid(
                    &format!("{at}.type"),
                    format!("{other:?} is not a tool type keyroute knows"),
                ));
            }
        }
    }
    Ok(read)
}

/// What `hosted_tools_json` holds of a namespace: its name and description (its functions
/// are the canonical tools with that namespace).
pub(super) fn namespace_shell(name: &str, description: &str) -> Value {
    json!({
        "type": "namespace",
        "name": name,
        "description": description,
    })
}

fn mode(mode: &str, at: &str) -> Result<pb::ToolChoiceMode, IngressError> {
    match mode {
        "auto" => Ok(pb::ToolChoiceMode::Auto),
        "none" => Ok(pb::ToolChoiceMode::None),
        "required" => Ok(pb::ToolChoiceMode::Required),
        _ => Err(invalid(at, "must be none, auto or required")),
    }
}

fn choice(mode: pb::ToolChoiceMode, name: &str) -> Option<pb::ToolChoice> {
    Some(pb::ToolChoice {
        mode: mode as i32,
        name: name.to_owned(),
    })
}

/// Whether the hosted tool `tool` is what `wanted` (a `{"type", ...}` descriptor) names.
fn hosted_matches(tool: &Value, wanted: &Value) -> bool {
    let (kind, wanted_kind) = (str_of(tool, "type"), str_of(wanted, "type"));
    let same = kind == wanted_kind
        || (kind.starts_with("web_search") && wanted_kind.starts_with("web_search"));
    let label = str_of(wanted, "server_label");
    same && (label.is_empty() || str_of(tool, "server_label") == label)
}

/// Reads `tool_choice`, narrowing `tools` where the choice does.
pub(super) fn read_tool_choice(
    value: Option<&Value>,
    tools: &mut Tools,
) -> Result<Option<pb::ToolChoice>, IngressError> {
    let value = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(name)) => return Ok(choice(mode(name, "tool_choice")?, "")),
        Some(value @ Value::Object(_)) => value,
        Some(_) => return Err(invalid("tool_choice", "must be a string or an object")),
    };
    match str_of(value, "type") {
        "function" => {
            let name = match value.get("name") {
                Some(Value::String(name)) if !name.is_empty() => name,
                _ => return Err(invalid("tool_choice.name", "is required")),
            };
            Ok(choice(pb::ToolChoiceMode::Tool, name))
        }
        "allowed_tools" => {
            let mode = mode(str_of(value, "mode"), "tool_choice.mode")?;
            let allowed = value
                .get("tools")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("tool_choice.tools", "must be an array of tools"))?;
            // Functions by name (bare, namespaced, or a whole namespace); hosted tools by type.
            let allows_function = |tool: &pb::Tool| {
                allowed.iter().any(|entry| match str_of(entry, "type") {
                    "function" => {
                        let name = str_of(entry, "name");
                        name == tool.name
                            || namespaced(str_of(entry, "namespace"), name) == tool.name
                    }
                    "namespace" => {
                        !tool.namespace.is_empty() && str_of(entry, "name") == tool.namespace
                    }
                    _ => false,
                })
            };
            tools.functions.retain(allows_function);
            tools.hosted.retain(|tool| {
                str_of(tool, "type") == "namespace"
                    || allowed.iter().any(|entry| hosted_matches(tool, entry))
            });
            Ok(choice(mode, ""))
        }
        "custom" => Err(custom_tools_unsupported("tool_choice")),
        "" => Err(invalid("tool_choice.type", "is required")),
        hosted => {
            // A hosted tool, forced: only it stays, and the model must call it.
            if !tools.hosted.iter().any(|tool| hosted_matches(tool, value)) {
                return Err(invalid(
                    "tool_choice.type",
                    format!("{hosted:?} is not among the request's tools"),
                ));
            }
            tools.functions.clear();
            tools.hosted.retain(|tool| hosted_matches(tool, value));
            Ok(choice(pb::ToolChoiceMode::Required, ""))
        }
    }
}

/// The request's `hosted_tools_json` entries (hosted tools and namespace shells).
pub(super) fn hosted_entries(request: &pb::ChatRequest) -> Result<Vec<Value>, String> {
    let json = request
        .responses
        .as_ref()
        .map(|options| options.hosted_tools_json.as_str())
        .unwrap_or_default();
    if json.is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str(json) {
        Ok(Value::Array(entries)) => Ok(entries),
        _ => Err("hosted tools must be a JSON array of Responses tools".to_owned()),
    }
}

/// The hosted tools a request declares (namespace shells excluded): what only OpenAI's and
/// Azure's Responses endpoints can run.
pub fn hosted_tools(request: &pb::ChatRequest) -> Vec<Value> {
    let mut entries = hosted_entries(request).unwrap_or_default();
    entries.retain(|tool| str_of(tool, "type") != "namespace");
    entries
}

/// Whether a request can only be served where its hosted tools run: it requires a tool call
/// and declares no function, only hosted tools (a hosted `tool_choice`, or `required` with
/// hosted tools alone). Anywhere else the model would have no tool to call.
pub fn needs_hosted_tools(request: &pb::ChatRequest) -> bool {
    request
        .tool_choice
        .as_ref()
        .is_some_and(|choice| choice.mode() == pb::ToolChoiceMode::Required)
        && request.tools.is_empty()
        && !hosted_tools(request).is_empty()
}

/// Drops a request's hosted tools, keeping namespace shells: for upstreams that do not run
/// them, and for managed keys, whose hosted tool calls keyroute does not price.
pub fn without_hosted_tools(request: &mut pb::ChatRequest) {
    let Some(options) = request.responses.as_mut() else {
        return;
    };
    if options.hosted_tools_json.is_empty() {
        return;
    }
    let kept: Vec<Value> = serde_json::from_str::<Vec<Value>>(&options.hosted_tools_json)
        .unwrap_or_default()
        .into_iter()
        .filter(|tool| str_of(tool, "type") == "namespace")
        .collect();
    options.hosted_tools_json = if kept.is_empty() {
        String::new()
    } else {
        crate::ingress::json_text(&Value::Array(kept))
    };
}
