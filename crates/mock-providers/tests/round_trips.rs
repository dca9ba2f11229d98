//! Round trips over real HTTP on loopback: canonical request -> each provider's wire request
//! -> the mock -> canonical response, non-streaming and streaming. Text, tool calls, tool
//! results, images and reasoning signatures survive two turns; auth failures, faults and
//! resets come back in each provider's own shape.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyroute_mock_providers::{Fault, Mock, MockServer};
use keyroute_wire::anthropic::{self, AnthropicStreamDecoder, Flavor as AnthropicFlavor};
use keyroute_wire::bedrock::{self, Auth, BedrockStreamDecoder};
use keyroute_wire::canonical::pb::{self, content_part::Part};
use keyroute_wire::canonical::{Accumulator, StreamDecoder};
use keyroute_wire::error::{ErrorKind, WireError};
use keyroute_wire::gemini::{self, Flavor as GeminiFlavor, GeminiStreamDecoder};
use keyroute_wire::http::HttpRequest;
use keyroute_wire::openai::{self, Endpoint, OpenAiStreamDecoder, Quirks};
use keyroute_wire::sigv4::Credentials;
use keyroute_wire::vertex::{ServiceAccount, parse_token_response};
use ring::signature::RsaKeyPair;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

const TEST_RSA_KEY: &str = include_str!("../../wire/testdata/vertex-test-key.pem");
const AKID: &str = "AKIAMOCKEXAMPLE00001";
const AWS_SECRET: &str = "mock/secret/key/0123456789abcdefghijklmn";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    OpenAi,
    Compatible,
    Mistral,
    Azure,
    Anthropic,
    Google,
    BedrockSigV4,
    BedrockKey,
    VertexGemini,
    VertexAnthropic,
}

const ALL: [Kind; 10] = [
    Kind::OpenAi,
    Kind::Compatible,
    Kind::Mistral,
    Kind::Azure,
    Kind::Anthropic,
    Kind::Google,
    Kind::BedrockSigV4,
    Kind::BedrockKey,
    Kind::VertexGemini,
    Kind::VertexAnthropic,
];

struct Harness {
    server: MockServer,
    client: reqwest::Client,
    vertex_token: String,
}

fn service_account(server: &MockServer) -> String {
    serde_json::json!({
        "type": "service_account", "project_id": "p1", "private_key_id": "kid", "private_key": TEST_RSA_KEY,
        "client_email": "gw@p1.iam.gserviceaccount.com", "token_uri": server.vertex_token_uri(),
    })
    .to_string()
}

fn public_key() -> Vec<u8> {
    let PrivateKeyDer::Pkcs8(der) = PrivateKeyDer::from_pem_slice(TEST_RSA_KEY.as_bytes()).unwrap()
    else {
        panic!("pkcs8")
    };
    RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .unwrap()
        .public()
        .as_ref()
        .to_vec()
}

impl Harness {
    async fn start() -> Self {
        let mock = Mock::new();
        for (provider, key) in [
            ("openai", "sk-openai"),
            ("deepseek", "sk-deepseek"),
            ("mistral", "mistral-key"),
            ("azure", "azure-key"),
            ("anthropic", "sk-ant"),
            ("google", "AIza-google"),
            ("bedrock", "ABSK-bedrock"),
        ] {
            mock.add_key(provider, key);
        }
        mock.add_aws_credentials(AKID, AWS_SECRET);
        mock.add_service_account("gw@p1.iam.gserviceaccount.com", &public_key());
        let server = MockServer::start(mock).await.unwrap();
        let client = reqwest::Client::new();
        let mut harness = Self {
            server,
            client,
            vertex_token: String::new(),
        };
        let account = ServiceAccount::from_json(&service_account(&harness.server)).unwrap();
        let token_request = account.token_request(now()).unwrap();
        let (status, _, body) = harness.send_absolute(&token_request).await;
        harness.vertex_token = parse_token_response(status, &body, now()).unwrap().token;
        harness
    }

    fn provider(kind: Kind) -> &'static str {
        match kind {
            Kind::OpenAi => "openai",
            Kind::Compatible => "deepseek",
            Kind::Mistral => "mistral",
            Kind::Azure => "azure",
            Kind::Anthropic => "anthropic",
            Kind::Google => "google",
            Kind::BedrockSigV4 | Kind::BedrockKey => "bedrock",
            Kind::VertexGemini | Kind::VertexAnthropic => "vertex",
        }
    }

    fn build(&self, kind: Kind, request: &pb::ChatRequest, stream: bool) -> HttpRequest {
        match kind {
            Kind::OpenAi => openai::build_request(
                request,
                "gpt-4o-mini",
                stream,
                Endpoint::ChatCompletions,
                Quirks::OPENAI,
            )
            .unwrap(),
            Kind::Compatible => openai::build_request(
                request,
                "deepseek-chat",
                stream,
                Endpoint::ChatCompletions,
                Quirks::COMPATIBLE,
            )
            .unwrap(),
            Kind::Mistral => openai::build_request(
                request,
                "mistral-large-latest",
                stream,
                Endpoint::ChatCompletions,
                Quirks::MISTRAL,
            )
            .unwrap(),
            Kind::Azure => openai::build_request(
                request,
                "gpt-4o",
                stream,
                Endpoint::Azure {
                    deployment: "prod",
                    api_version: "",
                },
                Quirks::OPENAI,
            )
            .unwrap(),
            Kind::Anthropic => anthropic::build_request(
                request,
                "claude-sonnet-4-5",
                stream,
                AnthropicFlavor::Direct,
            )
            .unwrap(),
            Kind::Google => {
                gemini::build_request(request, "gemini-2.5-flash", stream, GeminiFlavor::AiStudio)
                    .unwrap()
            }
            Kind::BedrockSigV4 | Kind::BedrockKey => {
                bedrock::build_request(request, "anthropic.claude-3-5-sonnet-20240620-v1:0", stream)
                    .unwrap()
            }
            Kind::VertexGemini => gemini::build_request(
                request,
                "gemini-2.5-pro",
                stream,
                GeminiFlavor::Vertex {
                    project: "p1",
                    location: "us-central1",
                },
            )
            .unwrap(),
            Kind::VertexAnthropic => anthropic::build_request(
                request,
                "claude-sonnet-4-5@20250929",
                stream,
                AnthropicFlavor::Vertex {
                    project: "p1",
                    region: "us-east5",
                },
            )
            .unwrap(),
        }
    }

    /// Adds the provider's credentials the way the router will.
    fn authorize(&self, kind: Kind, request: &mut HttpRequest, key: Option<&str>) {
        let provider = Self::provider(kind);
        let header = |name: &'static str, value: &str| (name, value.to_owned());
        match kind {
            Kind::OpenAi => request.headers.push(header(
                "authorization",
                &format!("Bearer {}", key.unwrap_or("sk-openai")),
            )),
            Kind::Compatible => request.headers.push(header(
                "authorization",
                &format!("Bearer {}", key.unwrap_or("sk-deepseek")),
            )),
            Kind::Mistral => request.headers.push(header(
                "authorization",
                &format!("Bearer {}", key.unwrap_or("mistral-key")),
            )),
            Kind::Azure => request
                .headers
                .push(header("api-key", key.unwrap_or("azure-key"))),
            Kind::Anthropic => request
                .headers
                .push(header("x-api-key", key.unwrap_or("sk-ant"))),
            Kind::Google => request
                .headers
                .push(header("x-goog-api-key", key.unwrap_or("AIza-google"))),
            Kind::BedrockKey => bedrock::authorize(
                request,
                "",
                "us-east-1",
                Auth::ApiKey(key.unwrap_or("ABSK-bedrock")),
                now(),
            ),
            Kind::BedrockSigV4 => {
                request.path = format!("/{provider}{}", request.path);
                let secret = key.unwrap_or(AWS_SECRET);
                let host = self.server.addr.to_string();
                bedrock::authorize(
                    request,
                    &host,
                    "us-east-1",
                    Auth::SigV4(Credentials {
                        access_key_id: AKID,
                        secret_access_key: secret,
                        session_token: None,
                    }),
                    now(),
                );
            }
            Kind::VertexGemini | Kind::VertexAnthropic => request.headers.push(header(
                "authorization",
                &format!("Bearer {}", key.unwrap_or(&self.vertex_token)),
            )),
        }
    }

    fn url(&self, kind: Kind, request: &HttpRequest) -> String {
        if kind == Kind::BedrockSigV4 {
            // The path already carries the provider prefix it was signed with.
            return format!("http://{}{}", self.server.addr, request.path);
        }
        format!(
            "{}{}",
            self.server.base_url(Self::provider(kind)),
            request.path
        )
    }

    async fn send_to(
        &self,
        url: &str,
        request: &HttpRequest,
        extra: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut builder = self.client.post(url).body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        for (name, value) in extra {
            builder = builder.header(*name, *value);
        }
        let response = builder.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (
            status,
            headers,
            response
                .bytes()
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default(),
        )
    }

    async fn send_absolute(
        &self,
        request: &HttpRequest,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        self.send_to(&request.path, request, &[]).await
    }

    async fn call(
        &self,
        kind: Kind,
        request: &pb::ChatRequest,
        stream: bool,
        extra: &[(&str, &str)],
    ) -> Result<pb::ChatResponse, WireError> {
        let mut http = self.build(kind, request, stream);
        self.authorize(kind, &mut http, None);
        let url = self.url(kind, &http);
        let (status, headers, body) = self.send_to(&url, &http, extra).await;
        if !stream || status != 200 {
            return parse(kind, status, &headers, &body);
        }
        let mut decoder = decoder(kind);
        let mut events = Vec::new();
        // Feed in small pieces, as the network would.
        for piece in body.chunks(7) {
            decoder.feed(piece, &mut events)?;
        }
        decoder.finish(&mut events)?;
        let mut accumulator = Accumulator::new();
        events.iter().for_each(|e| accumulator.push(e));
        assert!(accumulator.errors.is_empty(), "{:?}", accumulator.errors);
        Ok(accumulator.finish())
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn parse(
    kind: Kind,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> Result<pb::ChatResponse, WireError> {
    match kind {
        Kind::OpenAi | Kind::Compatible | Kind::Mistral | Kind::Azure => {
            openai::parse_response(status, body)
        }
        Kind::Anthropic | Kind::VertexAnthropic => anthropic::parse_response(status, body),
        Kind::Google | Kind::VertexGemini => gemini::parse_response(status, body),
        Kind::BedrockSigV4 | Kind::BedrockKey => bedrock::parse_response(
            status,
            headers
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok()),
            body,
        ),
    }
}

fn decoder(kind: Kind) -> Box<dyn StreamDecoder> {
    match kind {
        Kind::OpenAi | Kind::Compatible | Kind::Mistral | Kind::Azure => {
            Box::new(OpenAiStreamDecoder::new())
        }
        Kind::Anthropic | Kind::VertexAnthropic => Box::new(AnthropicStreamDecoder::new()),
        Kind::Google | Kind::VertexGemini => Box::new(GeminiStreamDecoder::new()),
        Kind::BedrockSigV4 | Kind::BedrockKey => Box::new(BedrockStreamDecoder::new()),
    }
}

fn text(value: &str) -> pb::ContentPart {
    pb::ContentPart {
        part: Some(Part::Text(value.to_owned())),
        ..Default::default()
    }
}

fn first_turn(thinking: bool) -> pb::ChatRequest {
    pb::ChatRequest {
        model: "any".into(),
        messages: vec![
            pb::Message {
                role: pb::Role::System as i32,
                content: vec![text("Be brief.")],
                name: String::new(),
            },
            pb::Message {
                role: pb::Role::User as i32,
                content: vec![
                    text("weather in Paris please"),
                    pb::ContentPart {
                        part: Some(Part::Image(pb::Image {
                            source: Some(pb::image::Source::Data(vec![0x89, b'P', b'N', b'G'])),
                            media_type: "image/png".into(),
                            detail: String::new(),
                        })),
                        ..Default::default()
                    },
                ],
                name: String::new(),
            },
        ],
        tools: vec![pb::Tool {
            name: "get_weather".into(),
            description: "Weather by city".into(),
            parameters_json: r#"{"type":"object","properties":{"query":{"type":"string"}}}"#.into(),
            strict: false,
            cache: None,
        }],
        sampling: Some(pb::Sampling {
            max_tokens: Some(200),
            ..Default::default()
        }),
        reasoning: thinking.then(|| pb::ReasoningConfig {
            enabled: true,
            budget_tokens: Some(1024),
            effort: String::new(),
        }),
        ..Default::default()
    }
}

fn thinks(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Anthropic | Kind::VertexAnthropic | Kind::Google | Kind::VertexGemini
    )
}

fn content(response: &pb::ChatResponse) -> &[pb::ContentPart] {
    &response.choices[0].message.as_ref().unwrap().content
}

fn answer_text(response: &pb::ChatResponse) -> String {
    content(response)
        .iter()
        .filter_map(|p| match &p.part {
            Some(Part::Text(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn two_turns_keep_text_tool_calls_results_images_and_signatures_everywhere() {
    let harness = Harness::start().await;
    for kind in ALL {
        for stream in [false, true] {
            let label = format!("{kind:?} stream={stream}");
            let mut request = first_turn(thinks(kind));
            let first = harness
                .call(kind, &request, stream, &[])
                .await
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_eq!(
                first.choices[0].finish_reason(),
                pb::FinishReason::ToolCalls,
                "{label}"
            );
            let call = content(&first)
                .iter()
                .find_map(|p| match &p.part {
                    Some(Part::ToolCall(call)) => Some(call.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("{label}: no tool call"));
            assert_eq!(call.name, "get_weather", "{label}");
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&call.arguments_json).unwrap(),
                serde_json::json!({ "query": "weather in Paris please" }),
                "{label}"
            );
            let usage = first.usage.unwrap_or_else(|| panic!("{label}: usage"));
            assert!(usage.input_tokens > 0 && usage.output_tokens > 0, "{label}");

            request
                .messages
                .push(first.choices[0].message.clone().unwrap());
            let result = pb::ToolResult {
                tool_call_id: call.id.clone(),
                name: String::new(),
                content: vec![text("18C and sunny")],
                is_error: false,
            };
            request.messages.push(pb::Message {
                role: pb::Role::Tool as i32,
                content: vec![pb::ContentPart {
                    part: Some(Part::ToolResult(result)),
                    ..Default::default()
                }],
                name: String::new(),
            });
            let second = harness
                .call(kind, &request, stream, &[])
                .await
                .unwrap_or_else(|e| panic!("{label} second turn: {e}"));
            let answer = answer_text(&second);
            assert!(
                answer.starts_with("echo: weather in Paris please"),
                "{label}: {answer}"
            );
            assert!(answer.contains("[images: 1]"), "{label}: {answer}");
            assert!(
                answer.contains("[tool results: 18C and sunny]"),
                "{label}: {answer}"
            );
            if thinks(kind) {
                assert!(
                    answer.contains("[signatures: mock-signature-"),
                    "{label}: signatures did not come back: {answer}"
                );
            }
            assert_eq!(
                second.choices[0].finish_reason(),
                pb::FinishReason::Stop,
                "{label}"
            );
        }
    }
}

#[tokio::test]
async fn wrong_keys_fail_in_each_providers_shape() {
    let harness = Harness::start().await;
    for kind in ALL {
        let mut http = harness.build(kind, &first_turn(false), false);
        harness.authorize(
            kind,
            &mut http,
            Some("wrong/key/0123456789abcdefghijklmnopq"),
        );
        let url = harness.url(kind, &http);
        let (status, headers, body) = harness.send_to(&url, &http, &[]).await;
        let error = parse(kind, status, &headers, &body).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Authentication, "{kind:?}: {error}");
        assert!(!error.message.is_empty());
        if kind == Kind::Google {
            assert_eq!(
                status, 400,
                "Gemini answers a bad key with 400 API_KEY_INVALID"
            );
        }
    }
}

#[tokio::test]
async fn faults_come_back_as_each_provider_reports_them() {
    let harness = Harness::start().await;
    for kind in ALL {
        let error = harness
            .call(
                kind,
                &first_turn(false),
                false,
                &[("x-mock-fault", "status=429; retry-after=3")],
            )
            .await
            .unwrap_err();
        assert_eq!(
            (error.kind, error.status, error.retryable),
            (ErrorKind::RateLimited, 429, true),
            "{kind:?}: {error}"
        );
        let error = harness
            .call(
                kind,
                &first_turn(false),
                false,
                &[("x-mock-fault", "status=500")],
            )
            .await
            .unwrap_err();
        assert_eq!(
            (error.kind, error.retryable),
            (ErrorKind::Unavailable, true),
            "{kind:?}"
        );
    }
    let overloaded = harness
        .call(
            Kind::Anthropic,
            &first_turn(false),
            false,
            &[("x-mock-fault", "status=529")],
        )
        .await
        .unwrap_err();
    assert_eq!(
        (overloaded.status, overloaded.error_type.as_str()),
        (529, "overloaded_error")
    );
    let quota = harness
        .call(
            Kind::Google,
            &first_turn(false),
            false,
            &[("x-mock-fault", "status=429; retry-after=7")],
        )
        .await
        .unwrap_err();
    assert_eq!(quota.retry_after, Some(std::time::Duration::from_secs(7)));

    // Per key, without a header.
    harness.server.mock.set_fault(
        "sk-openai",
        Fault {
            status: Some(401),
            ..Fault::default()
        },
    );
    let error = harness
        .call(Kind::OpenAi, &first_turn(false), false, &[])
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Authentication);
    harness.server.mock.clear_fault("sk-openai");
    assert!(
        harness
            .call(Kind::OpenAi, &first_turn(false), false, &[])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_reset_mid_stream_is_a_truncated_stream() {
    let harness = Harness::start().await;
    // A text answer arrives in several chunks; the reset comes after the first.
    let mut request = first_turn(false);
    request.tools.clear();
    for kind in [
        Kind::OpenAi,
        Kind::Anthropic,
        Kind::Google,
        Kind::BedrockKey,
    ] {
        let mut http = harness.build(kind, &request, true);
        harness.authorize(kind, &mut http, None);
        let url = harness.url(kind, &http);
        let mut builder = harness
            .client
            .post(&url)
            .body(http.body.clone())
            .header("x-mock-fault", "reset-after=1; chunk-delay-ms=20");
        for (name, value) in &http.headers {
            builder = builder.header(*name, value);
        }
        let mut response = builder.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let mut decoder = decoder(kind);
        let mut events = Vec::new();
        let mut transport_failed = false;
        loop {
            match response.chunk().await {
                Ok(Some(bytes)) => decoder.feed(&bytes, &mut events).unwrap(),
                Ok(None) => break,
                Err(_) => {
                    transport_failed = true;
                    break;
                }
            }
        }
        assert!(transport_failed, "{kind:?}: the reset reaches the client");
        let error = decoder.finish(&mut events).unwrap_err();
        assert_eq!(error.error_type, "truncated_stream", "{kind:?}");
    }
}

#[tokio::test]
async fn signatures_and_credentials_are_really_checked() {
    let harness = Harness::start().await;
    // A body changed after signing fails the SigV4 check.
    let mut http = harness.build(Kind::BedrockSigV4, &first_turn(false), false);
    harness.authorize(Kind::BedrockSigV4, &mut http, None);
    http.body.extend_from_slice(b" ");
    let url = harness.url(Kind::BedrockSigV4, &http);
    let (status, headers, body) = harness.send_to(&url, &http, &[]).await;
    let error = parse(Kind::BedrockSigV4, status, &headers, &body).unwrap_err();
    assert_eq!(
        (status, error.error_type.as_str()),
        (403, "InvalidSignatureException")
    );

    // Gemini 3 refuses a function call sent back without its thought signature.
    let mut request = first_turn(false);
    let first = harness
        .call(Kind::Google, &request, false, &[])
        .await
        .unwrap();
    let mut message = first.choices[0].message.clone().unwrap();
    message
        .content
        .iter_mut()
        .for_each(|p| p.thought_signature.clear());
    request.messages.push(message);
    let error = harness
        .call(Kind::Google, &request, false, &[])
        .await
        .unwrap_err();
    assert!(error.message.contains("thought_signature"), "{error}");

    // A service account whose key the mock does not know gets no token.
    let other = serde_json::json!({
        "type": "service_account", "private_key": TEST_RSA_KEY, "client_email": "stranger@p1.iam.gserviceaccount.com",
        "private_key_id": "x", "token_uri": harness.server.vertex_token_uri(),
    });
    let account = ServiceAccount::from_json(&other.to_string()).unwrap();
    let (status, _, body) = harness
        .send_absolute(&account.token_request(now()).unwrap())
        .await;
    let error = parse_token_response(status, &body, now()).unwrap_err();
    assert_eq!(error.error_type, "invalid_grant");

    // What reached the mock is recorded, headers included.
    let anthropic = harness
        .call(Kind::Anthropic, &first_turn(false), false, &[])
        .await;
    assert!(anthropic.is_ok());
    let recorded = harness.server.mock.requests_for("anthropic");
    let last = recorded.last().unwrap();
    assert_eq!(
        (last.header("anthropic-version"), last.header("x-api-key")),
        (Some("2023-06-01"), Some("sk-ant"))
    );
    assert_eq!(last.json()["max_tokens"], 200);
}
