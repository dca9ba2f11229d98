//! The round-trip harness shared by the mock's tests: a mock with a key for every provider,
//! and the canonical request built, authorized, sent and parsed the way the router will.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyroute_mock_providers::{Mock, MockServer};

/// An HTTP client for talking to the mock. Built with the whole workspace, reqwest has the
/// router's `rustls-no-provider` feature and needs a process-wide crypto provider first.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
use keyroute_wire::anthropic::{self, AnthropicStreamDecoder, Flavor as AnthropicFlavor};
use keyroute_wire::bedrock::{self, Auth, BedrockStreamDecoder};
use keyroute_wire::canonical::pb::{self, content_part::Part};
use keyroute_wire::canonical::{Accumulator, StreamDecoder};
use keyroute_wire::error::WireError;
use keyroute_wire::gemini::{self, Flavor as GeminiFlavor, GeminiStreamDecoder};
use keyroute_wire::http::HttpRequest;
use keyroute_wire::openai::{self, Endpoint, OpenAiStreamDecoder, Quirks};
use keyroute_wire::sigv4::Credentials;
use keyroute_wire::vertex::{ServiceAccount, parse_token_response};
use ring::signature::RsaKeyPair;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

pub const TEST_RSA_KEY: &str = include_str!("../../../wire/testdata/vertex-test-key.pem");
pub const AKID: &str = "AKIAMOCKEXAMPLE00001";
pub const AWS_SECRET: &str = "mock/secret/key/0123456789abcdefghijklmn";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
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

pub const ALL: [Kind; 10] = [
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

pub struct Harness {
    pub server: MockServer,
    pub client: reqwest::Client,
    pub vertex_token: String,
}

pub fn service_account(server: &MockServer) -> String {
    serde_json::json!({
        "type": "service_account", "project_id": "p1", "private_key_id": "kid", "private_key": TEST_RSA_KEY,
        "client_email": "gw@p1.iam.gserviceaccount.com", "token_uri": server.vertex_token_uri(),
    })
    .to_string()
}

pub fn public_key() -> Vec<u8> {
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
    pub async fn start() -> Self {
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
        let client = http_client();
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

    pub fn provider(kind: Kind) -> &'static str {
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

    pub fn build(&self, kind: Kind, request: &pb::ChatRequest, stream: bool) -> HttpRequest {
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
    pub fn authorize(&self, kind: Kind, request: &mut HttpRequest, key: Option<&str>) {
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

    pub fn url(&self, kind: Kind, request: &HttpRequest) -> String {
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

    pub async fn send_to(
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

    pub async fn send_absolute(
        &self,
        request: &HttpRequest,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        self.send_to(&request.path, request, &[]).await
    }

    pub async fn call(
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

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn parse(
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

pub fn decoder(kind: Kind) -> Box<dyn StreamDecoder> {
    match kind {
        Kind::OpenAi | Kind::Compatible | Kind::Mistral | Kind::Azure => {
            Box::new(OpenAiStreamDecoder::new())
        }
        Kind::Anthropic | Kind::VertexAnthropic => Box::new(AnthropicStreamDecoder::new()),
        Kind::Google | Kind::VertexGemini => Box::new(GeminiStreamDecoder::new()),
        Kind::BedrockSigV4 | Kind::BedrockKey => Box::new(BedrockStreamDecoder::new()),
    }
}

pub fn text(value: &str) -> pb::ContentPart {
    pb::ContentPart {
        part: Some(Part::Text(value.to_owned())),
        ..Default::default()
    }
}

pub fn first_turn(thinking: bool) -> pb::ChatRequest {
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
            ..Default::default()
        }],
        sampling: Some(pb::Sampling {
            max_tokens: Some(200),
            ..Default::default()
        }),
        reasoning: thinking.then(|| pb::ReasoningConfig {
            enabled: true,
            budget_tokens: Some(1024),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn thinks(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Anthropic | Kind::VertexAnthropic | Kind::Google | Kind::VertexGemini
    )
}

pub fn content(response: &pb::ChatResponse) -> &[pb::ContentPart] {
    &response.choices[0].message.as_ref().unwrap().content
}

pub fn answer_text(response: &pb::ChatResponse) -> String {
    content(response)
        .iter()
        .filter_map(|p| match &p.part {
            Some(Part::Text(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}
