//! `POST /v1/chat/completions` over real HTTP, through a real router and vault over mTLS, to
//! the mock providers: answers and streams in OpenAI's shape with who-served-it headers, and
//! every bad input refused in OpenAI's error shape with the right status.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyroute_proto::contract::header;
use serde_json::{Value, json};
use support::{BODY_LIMIT, Gateway, gateway};

trait OpenAiCalls {
    async fn post(&self, token: Option<&str>, body: impl Into<reqwest::Body>) -> reqwest::Response;
    async fn error(&self, token: Option<&str>, body: impl Into<reqwest::Body>) -> (u16, Value);
}

impl OpenAiCalls for Gateway {
    async fn post(&self, token: Option<&str>, body: impl Into<reqwest::Body>) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/v1/chat/completions", self.url))
            .header("content-type", "application/json")
            .header(header::REQUEST_ID, "edge-test-1")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    async fn error(&self, token: Option<&str>, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let response = self.post(token, body).await;
        let status = response.status().as_u16();
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert!(body["error"]["message"].is_string(), "{body}");
        assert!(body["error"]["type"].is_string(), "{body}");
        (status, body["error"].clone())
    }
}

fn chat(model: &str, stream: bool) -> String {
    json!({
        "model": model,
        "stream": stream,
        "stream_options": if stream { json!({ "include_usage": true }) } else { Value::Null },
        "messages": [{ "role": "user", "content": "hello edge" }],
    })
    .to_string()
}

#[tokio::test]
async fn answers_and_streams_in_openais_shape_with_who_served_it() {
    let gateway = gateway().await;
    let response = gateway
        .post(Some(&gateway.token), chat("gpt-4o-mini", false))
        .await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header(header::PROVIDER), "openai");
    assert_eq!(header(header::KEY_SOURCE), "byok");
    assert_eq!(header(header::CREDENTIAL), "openai:...6789");
    assert_eq!(header(header::REQUEST_ID), "edge-test-1");
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "echo: hello edge");
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    let response = gateway
        .post(Some(&gateway.token), chat("gpt-4o-mini", true))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()[header::KEY_SOURCE], "byok");
    assert_eq!(response.headers()[header::CREDENTIAL], "openai:...6789");
    let text = response.text().await.unwrap();
    let mut content = String::new();
    let mut usage = None;
    for data in text.lines().filter_map(|line| line.strip_prefix("data: ")) {
        if data == "[DONE]" {
            continue;
        }
        let chunk: Value = serde_json::from_str(data).unwrap();
        assert_eq!(chunk["object"], "chat.completion.chunk");
        if let Some(piece) = chunk["choices"][0]["delta"]["content"].as_str() {
            content.push_str(piece);
        }
        if !chunk["usage"].is_null() {
            usage = Some(chunk["usage"].clone());
        }
    }
    assert_eq!(content, "echo: hello edge");
    assert!(usage.is_some(), "include_usage gives a usage chunk");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
}

#[tokio::test]
async fn bad_input_gets_openai_errors_with_the_right_status() {
    let gateway = gateway().await;
    let token = Some(gateway.token.as_str());

    let (status, error) = gateway.error(None, chat("gpt-4o-mini", false)).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (401, Some("invalid_api_key"))
    );
    let (status, _) = gateway
        .error(
            Some("kr_not-a-real-token-0123456789abcdef"),
            chat("gpt-4o-mini", false),
        )
        .await;
    assert_eq!(status, 401);

    let (status, error) = gateway.error(token, "{\"model\": ").await;
    assert_eq!(status, 400, "{error}");
    let (status, error) = gateway
        .error(token, json!({ "model": "gpt-4o-mini" }).to_string())
        .await;
    assert_eq!(status, 400);
    assert_eq!(error["param"], "messages", "{error}");
    assert!(
        error["message"].as_str().unwrap().starts_with("messages"),
        "the message names the field too: {error}"
    );

    let (status, error) = gateway.error(token, chat("gpt-4o-mni", false)).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (404, Some("model_not_found"))
    );
    assert!(
        error["message"].as_str().unwrap().contains("gpt-4o-mini"),
        "{error}"
    );

    // No key for Anthropic and no credit: both said, nothing routed.
    let (status, error) = gateway.error(token, chat("claude-sonnet-4-5", false)).await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("no enabled key for anthropic"),
        "{error}"
    );

    let huge = format!(
        "{{\"model\":\"gpt-4o-mini\",\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}",
        "x".repeat(BODY_LIMIT)
    );
    let (status, _) = gateway.error(token, huge).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn models_are_listed_in_either_dialect() {
    let gateway = gateway().await;
    let list = |anthropic: bool, token: Option<String>| {
        let mut request = gateway.http.get(format!("{}/v1/models", gateway.url));
        if let Some(token) = token {
            request = request.header("x-api-key", token);
        }
        if anthropic {
            request = request.header("anthropic-version", "2023-06-01");
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
            (status, body)
        }
    };
    let (status, openai) = list(false, Some(gateway.token.clone())).await;
    assert_eq!(status, 200);
    assert_eq!(openai["object"], "list");
    let mini = openai["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "gpt-4o-mini")
        .expect("the caller's OpenAI key serves gpt-4o-mini");
    assert_eq!(
        (mini["provider"].as_str(), mini["key_source"].as_str()),
        (Some("openai"), Some("byok"))
    );
    assert!(
        openai["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["id"] != "claude-sonnet-4-5"),
        "no Anthropic key and no managed key: not routable"
    );

    let (status, anthropic) = list(true, Some(gateway.token.clone())).await;
    assert_eq!(status, 200);
    assert_eq!(anthropic["has_more"], false);
    assert_eq!(anthropic["data"][0]["type"], "model");

    let health = gateway
        .http
        .get(format!("{}/healthz", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");

    let (status, error) = list(false, None).await;
    assert_eq!(status, 401);
    assert_eq!(error["error"]["code"], "invalid_api_key");
}

#[tokio::test]
async fn fill_in_the_middle_reaches_codestral_with_a_key_added_over_rest() {
    let gateway = gateway().await;
    gateway
        .mock
        .add_key("mistral", "mistral-edge-key-0123456789");
    let key = json!({ "provider": "mistral", "secret": "mistral-edge-key-0123456789" }).to_string();
    let (status, _, body) = gateway
        .send(
            reqwest::Method::POST,
            "/api/v1/keys",
            Some(&gateway.token),
            &[],
            Some(key),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let fim = |model: &str, stream: bool| {
        json!({ "model": model, "prompt": "def add(a, b):", "suffix": "    return c", "max_tokens": 32, "stream": stream })
            .to_string()
    };
    let (status, headers, body) = gateway
        .send(
            reqwest::Method::POST,
            "/v1/fim/completions",
            Some(&gateway.token),
            &[],
            Some(fim("codestral-latest", false)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers[header::PROVIDER], "mistral");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "/* between 14 and 12 */"
    );
    let sent = gateway.mock.requests_for("mistral");
    assert!(
        sent.last().unwrap().path.ends_with("/fim/completions"),
        "{:?}",
        sent.last().unwrap().path
    );
    assert_eq!(sent.last().unwrap().json()["suffix"], "    return c");

    let response = gateway
        .http
        .post(format!("{}/v1/fim/completions", gateway.url))
        .bearer_auth(&gateway.token)
        .body(fim("codestral-latest", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let content: String = support::sse_events(&text)
        .iter()
        .filter(|(_, data)| data != "[DONE]")
        .filter_map(|(_, data)| {
            let chunk: Value = serde_json::from_str(data).unwrap();
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(content, "/* between 14 and 12 */");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    // A model without a FIM endpoint, and a body without its prompt.
    let (status, _, body) = gateway
        .send(
            reqwest::Method::POST,
            "/v1/fim/completions",
            Some(&gateway.token),
            &[],
            Some(fim("gpt-4o-mini", false)),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fill-in-the-middle"),
        "{body}"
    );
    let (status, _, body) = gateway
        .send(
            reqwest::Method::POST,
            "/v1/fim/completions",
            Some(&gateway.token),
            &[],
            Some(json!({ "model": "codestral-latest" }).to_string()),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "prompt");
}

#[tokio::test]
async fn one_model_is_retrieved_and_every_answer_carries_a_request_id() {
    let gateway = gateway().await;
    let token = Some(gateway.token.as_str());
    let (status, headers, body) = gateway
        .send(
            reqwest::Method::GET,
            "/v1/models/gpt-4o-mini",
            token,
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["id"].as_str(), body["object"].as_str()),
        (Some("gpt-4o-mini"), Some("model"))
    );
    assert!(
        headers[header::REQUEST_ID]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    assert_eq!(
        headers[header::REQUEST_ID],
        headers[header::ANTHROPIC_REQUEST_ID]
    );
    let (status, _, body) = gateway
        .send(
            reqwest::Method::GET,
            "/v1/models/openai/gpt-4o-mini",
            token,
            &[("anthropic-version", "2023-06-01")],
            None,
        )
        .await;
    assert_eq!(status, 200, "pinned ids are listed: {body}");
    assert_eq!(
        (body["type"].as_str(), body["provider"].as_str()),
        (Some("model"), Some("openai"))
    );
    let (status, _, body) = gateway
        .send(
            reqwest::Method::GET,
            "/v1/models/google/gemini-2.5-flash",
            token,
            &[("anthropic-version", "2023-06-01")],
            None,
        )
        .await;
    assert_eq!(status, 404, "no Google key, no managed one: {body}");
    assert_eq!(body["error"]["type"], "not_found_error");
    let (status, _, body) = gateway
        .send(
            reqwest::Method::GET,
            "/v1/models/claude-sonnet-4-5",
            token,
            &[("anthropic-version", "2023-06-01")],
            None,
        )
        .await;
    assert_eq!(status, 404, "not routable without credit: {body}");

    // Errors carry the caller's id, or a new one.
    let (status, headers, _) = gateway
        .send(
            reqwest::Method::POST,
            "/v1/chat/completions",
            None,
            &[(header::REQUEST_ID, "client-id-42")],
            Some(chat("gpt-4o-mini", false)),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(headers[header::REQUEST_ID], "client-id-42");
    assert_eq!(headers[header::ANTHROPIC_REQUEST_ID], "client-id-42");
    let (status, headers, _) = gateway
        .send(
            reqwest::Method::POST,
            "/v1/chat/completions",
            token,
            &[],
            Some(chat("nope-model", false)),
        )
        .await;
    assert_eq!(status, 404);
    assert!(
        headers[header::REQUEST_ID]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
}

#[tokio::test]
async fn a_call_past_the_request_timeout_is_cut_with_504() {
    let gateway = support::gateway_with(1, std::time::Duration::from_millis(300)).await;
    let slow = keyroute_mock_providers::Fault {
        first_byte_delay: std::time::Duration::from_secs(30),
        ..Default::default()
    };
    gateway.mock.set_fault(support::USER_OPENAI_KEY, slow);
    let started = std::time::Instant::now();
    let (status, error) = gateway
        .error(Some(&gateway.token), chat("gpt-4o-mini", false))
        .await;
    assert_eq!(status, 504, "{error}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the edge's deadline, not the provider's delay, ends the call"
    );
}

#[tokio::test]
async fn a_refusal_reaches_openai_clients_as_refusal_and_anthropic_clients_as_a_refusal_stop() {
    let gateway = gateway().await;
    let ask = |stream: bool| {
        json!({
            "model": "gpt-4o-mini",
            "stream": stream,
            "messages": [{ "role": "user", "content": "mock-refuse this" }],
        })
        .to_string()
    };
    let response = gateway.post(Some(&gateway.token), ask(false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let message = &body["choices"][0]["message"];
    assert_eq!(message["refusal"], "echo: mock-refuse this", "{body}");
    assert!(
        message["content"].is_null() || message["content"] == "",
        "{body}"
    );

    let response = gateway.post(Some(&gateway.token), ask(true)).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let (mut refusal, mut content) = (String::new(), String::new());
    for data in text.lines().filter_map(|line| line.strip_prefix("data: ")) {
        if data == "[DONE]" {
            continue;
        }
        let chunk: Value = serde_json::from_str(data).unwrap();
        let delta = &chunk["choices"][0]["delta"];
        refusal.push_str(delta["refusal"].as_str().unwrap_or_default());
        content.push_str(delta["content"].as_str().unwrap_or_default());
    }
    assert_eq!(refusal, "echo: mock-refuse this", "{text}");
    assert_eq!(content, "", "the refusal is not content");

    // The same refusal to an Anthropic client: text, and the stop reason `refusal`.
    let body = json!({
        "model": "gpt-4o-mini",
        "max_tokens": 100,
        "messages": [{ "role": "user", "content": "mock-refuse this" }],
    })
    .to_string();
    let (status, _, answer) = gateway
        .send(
            reqwest::Method::POST,
            "/v1/messages",
            None,
            &[
                ("x-api-key", &gateway.token),
                ("anthropic-version", "2023-06-01"),
            ],
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["stop_reason"], "refusal", "{answer}");
    assert_eq!(answer["content"][0]["text"], "echo: mock-refuse this");
}

/// A stream running when the edge is told to stop finishes whole, and only then does the
/// server's future end: each connection thread waits for its connections.
#[tokio::test]
async fn a_stream_running_at_shutdown_finishes_before_the_server_ends() {
    use keyroute_edge::state::{Edge, EdgeSettings};
    use keyroute_tls::ClientTls;

    let gateway = gateway().await;
    let slow = keyroute_mock_providers::Fault {
        chunk_delay: std::time::Duration::from_millis(100),
        ..Default::default()
    };
    gateway.mock.set_fault(support::USER_OPENAI_KEY, slow);
    let settings = EdgeSettings {
        routers: vec![gateway.routers[0].addr.to_string()],
        vault: gateway.vault.addr.to_string(),
        ..EdgeSettings::default()
    };
    let tls = ClientTls::from_files(gateway.vault.pki.paths("edge")).unwrap();
    let edge = Edge::connect(&settings, tls).await.unwrap();
    let support::Stoppable { url, stop, server } = support::serve_until_stopped(edge).await;

    let mut response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&gateway.token)
        .header("content-type", "application/json")
        .body(chat("gpt-4o-mini", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut text = String::from_utf8(response.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    stop.send(()).unwrap();
    assert!(!server.is_finished(), "a stream is still running");
    while let Some(chunk) = response.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    server.await.unwrap().unwrap();
}
