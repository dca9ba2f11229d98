//! keyroute asks Vertex for streamed function-call arguments (`streamFunctionCallArguments`)
//! exactly where Google documents them: streaming, on Vertex, Gemini 3 and later, with tools
//! the model may call. Never on the Gemini API, which does not take the field.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyroute_wire::canonical::pb;
use keyroute_wire::gemini::{self, Flavor};
use serde_json::Value;

const VERTEX: Flavor<'static> = Flavor::Vertex {
    project: "p",
    location: "us-central1",
};

fn request(choice: Option<pb::ToolChoiceMode>) -> pb::ChatRequest {
    pb::ChatRequest {
        model: "any".into(),
        messages: vec![pb::Message {
            role: pb::Role::User as i32,
            content: vec![pb::ContentPart {
                part: Some(pb::content_part::Part::Text("hi".into())),
                ..Default::default()
            }],
            name: String::new(),
        }],
        tools: vec![pb::Tool {
            name: "get_weather".into(),
            parameters_json: r#"{"type":"object"}"#.into(),
            ..Default::default()
        }],
        tool_choice: choice.map(|mode| pb::ToolChoice {
            mode: mode as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn asked(request: &pb::ChatRequest, model: &str, stream: bool, flavor: Flavor<'_>) -> Value {
    let built = gemini::build_request(request, model, stream, flavor).unwrap();
    let body: Value = serde_json::from_slice(&built.body).unwrap();
    body["toolConfig"]["functionCallingConfig"]["streamFunctionCallArguments"].clone()
}

#[test]
fn streamed_arguments_are_asked_of_vertex_gemini_3_streams_with_tools_only() {
    let plain = request(None);
    for model in [
        "gemini-3-pro-preview",
        "gemini-3.1-pro-preview",
        "gemini-3-flash-preview",
    ] {
        assert_eq!(asked(&plain, model, true, VERTEX), true, "{model}");
        assert_eq!(asked(&plain, model, false, VERTEX), Value::Null, "{model}");
        assert_eq!(
            asked(&plain, model, true, Flavor::AiStudio),
            Value::Null,
            "{model}"
        );
    }
    assert_eq!(asked(&plain, "gemini-2.5-flash", true, VERTEX), Value::Null);
    let mut no_tools = request(None);
    no_tools.tools.clear();
    assert_eq!(
        asked(&no_tools, "gemini-3-pro-preview", true, VERTEX),
        Value::Null
    );
    assert_eq!(
        asked(
            &request(Some(pb::ToolChoiceMode::None)),
            "gemini-3-pro-preview",
            true,
            VERTEX
        ),
        Value::Null
    );
    // The mode the client chose stays beside it.
    let required = request(Some(pb::ToolChoiceMode::Required));
    let built = gemini::build_request(&required, "gemini-3-pro-preview", true, VERTEX).unwrap();
    let body: Value = serde_json::from_slice(&built.body).unwrap();
    assert_eq!(body["toolConfig"]["functionCallingConfig"]["mode"], "ANY");
    assert_eq!(
        body["toolConfig"]["functionCallingConfig"]["streamFunctionCallArguments"],
        true
    );
}
