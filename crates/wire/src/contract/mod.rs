//! The provider contract: everything keyroute must know to call one provider with one key,
//! decided once per candidate from the registry entry, the catalog offer and the credential's
//! routing config. It owns, per wire format and flavour, the base URL, the request build, the
//! authorization inputs, the parsing of answers and errors, the stream decoder, and which
//! operations the format serves. Pure like the rest of this crate: the router sends, times,
//! signs with the inputs it is given and caches tokens; it never asks which format it speaks.

mod authorization;
mod embed;
mod models;

use std::borrow::Cow;
use std::collections::HashMap;

pub use authorization::{Authorization, AwsKeyPair, ServiceAccountKey};
pub use models::{ListedModel, ModelPage};

use crate::canonical::{StreamDecoder, pb};
use crate::error::WireError;
use crate::http::HttpRequest;
use crate::registry::{BaseUrl, Provider, WireFormat};
use crate::{anthropic, bedrock, gemini, mistral, openai, responses, vertex};

/// What a caller may ask of a provider. Chat is served by every format; the rest by some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A chat completion, whole or streamed.
    Chat,
    /// An exact count of a request's input tokens.
    CountTokens,
    /// Fill-in-the-middle code completion (Codestral).
    FillInTheMiddle,
    /// Continuing a response the upstream stored (`previous_response_id`): only OpenAI and
    /// Azure OpenAI keep responses; keyroute keeps none.
    ContinueResponse,
    /// Running OpenAI's hosted tools (`web_search`, `file_search`...) where the request cannot
    /// do without them: OpenAI and Azure OpenAI, with the caller's own key.
    HostedTools,
    /// Embedding texts (`POST /v1/embeddings`, the `Embed` RPC): every format but
    /// Anthropic's (see `embed.rs`).
    Embed,
    /// Listing the models the key can use (see `models.rs` for which formats list them).
    ListModels,
}

impl Operation {
    /// What a request needs beyond a chat that not every candidate serves, in the order the
    /// router checks it.
    pub fn required_by(request: &pb::ChatRequest) -> Vec<Operation> {
        let mut needed = Vec::new();
        if request
            .responses
            .as_ref()
            .is_some_and(|options| !options.previous_response_id.is_empty())
        {
            needed.push(Operation::ContinueResponse);
        }
        if responses::needs_hosted_tools(request) {
            needed.push(Operation::HostedTools);
        }
        needed
    }
}

/// The format one candidate speaks, with the flavour its credential selects.
#[derive(Debug, Clone, Copy)]
enum Format<'a> {
    OpenAi {
        quirks: openai::Quirks,
        endpoint: openai::Endpoint<'a>,
    },
    Anthropic(anthropic::Flavor<'a>),
    Gemini(gemini::Flavor<'a>),
    Bedrock,
}

/// How to talk to one provider with one key. Cheap to build: borrows the credential's
/// config and allocates nothing.
#[derive(Debug, Clone, Copy)]
pub struct Contract<'a> {
    pub provider: &'static Provider,
    format: Format<'a>,
    config: &'a HashMap<String, String>,
    /// Whether fields keyroute does not model reach the provider (see [`Contract::priced_only`]).
    forward_extras: bool,
    /// Served through the Responses API (see [`Contract::serving`]).
    responses: bool,
}

/// Anthropic beta flags that change the price of a call (long-context pricing).
const PRICED_BETAS: &[&str] = &["context-1m"];

fn priced_beta(flag: &str) -> bool {
    PRICED_BETAS.iter().any(|prefix| flag.starts_with(prefix))
}

/// A credential whose configuration cannot be used: this key will not work, another may.
pub(crate) fn config_error(provider: &'static str, message: String) -> WireError {
    let mut error = WireError::from_status(provider, 401, "invalid_credential", message);
    error.retryable = true;
    error
}

impl<'a> Contract<'a> {
    /// The contract for `provider` with a key whose routing config is `config`, serving
    /// `upstream_model`. `publisher` is the catalog offer's format where the provider hosts
    /// several (Vertex: `anthropic` or `gemini`); uncatalogued Vertex models go by name.
    pub fn new(
        provider: &'static Provider,
        publisher: Option<&str>,
        upstream_model: &str,
        config: &'a HashMap<String, String>,
    ) -> Self {
        let field = |name: &str| config.get(name).map(String::as_str).unwrap_or_default();
        let format = match provider.format {
            WireFormat::OpenAiChat(quirks) => Format::OpenAi {
                quirks,
                endpoint: openai::Endpoint::ChatCompletions,
            },
            WireFormat::AzureOpenAi => Format::OpenAi {
                quirks: openai::Quirks::OPENAI,
                endpoint: openai::Endpoint::Azure {
                    deployment: field("deployment"),
                    api_version: field("api_version"),
                },
            },
            WireFormat::Anthropic => Format::Anthropic(anthropic::Flavor::Direct),
            WireFormat::Gemini => Format::Gemini(gemini::Flavor::AiStudio),
            WireFormat::Vertex
                if publisher == Some("anthropic") || upstream_model.starts_with("claude") =>
            {
                Format::Anthropic(anthropic::Flavor::Vertex {
                    project: field("project_id"),
                    region: field("location"),
                })
            }
            WireFormat::Vertex => Format::Gemini(gemini::Flavor::Vertex {
                project: field("project_id"),
                location: field("location"),
            }),
            WireFormat::Bedrock => Format::Bedrock,
        };
        Self {
            provider,
            format,
            config,
            forward_extras: true,
            responses: false,
        }
    }

    /// Whether this provider serves the Responses API: OpenAI's own, and Azure OpenAI.
    fn speaks_responses(&self) -> bool {
        match self.format {
            Format::OpenAi {
                endpoint: openai::Endpoint::Azure { .. },
                ..
            } => true,
            Format::OpenAi { .. } => self.provider.id == responses::PROVIDER,
            _ => false,
        }
    }

    /// The contract for serving `request`: a request in the Responses dialect (its
    /// `responses` options set) goes to OpenAI and Azure OpenAI through their Responses
    /// endpoint, keeping what only they can hold (stored responses, hosted tools, reasoning
    /// items); every other provider serves it as a chat. Fixes how the answer is read too.
    pub fn serving(mut self, request: &pb::ChatRequest) -> Self {
        self.responses = request.responses.is_some() && self.speaks_responses();
        self
    }

    /// A contract that sends only what keyroute models and prices: no pass-through provider
    /// options (`service_tier`, `store`, ...) and no beta flags that change the price. For the
    /// platform's managed keys, whose calls the caller pays at catalog price; a caller's own
    /// keys pass everything through.
    pub fn priced_only(mut self) -> Self {
        self.forward_extras = false;
        self
    }

    /// The request as this contract may send it: unchanged, or without its extras.
    fn forwardable<'r>(&self, request: &'r pb::ChatRequest) -> Cow<'r, pb::ChatRequest> {
        let has_extras = !request.provider_options_json.is_empty()
            || !request.anthropic_options_json.is_empty()
            || request.anthropic_beta.iter().any(|flag| priced_beta(flag));
        // Hosted tools run only at a Responses upstream, and are not priced.
        let has_hosted = request
            .responses
            .as_ref()
            .is_some_and(|options| !options.hosted_tools_json.is_empty());
        let drop_extras = !self.forward_extras && has_extras;
        let drop_hosted = has_hosted && (!self.forward_extras || !self.responses);
        if !drop_extras && !drop_hosted {
            return Cow::Borrowed(request);
        }
        let mut priced = request.clone();
        if drop_extras {
            priced.provider_options_json.clear();
            priced.anthropic_options_json.clear();
            priced.anthropic_beta.retain(|flag| !priced_beta(flag));
        }
        if drop_hosted {
            responses::without_hosted_tools(&mut priced);
        }
        Cow::Owned(priced)
    }

    /// Whether this provider, in this flavour, serves `operation`.
    pub fn supports(&self, operation: Operation) -> bool {
        match operation {
            Operation::Chat => true,
            Operation::CountTokens => {
                matches!(self.format, Format::Anthropic(anthropic::Flavor::Direct))
            }
            Operation::FillInTheMiddle => {
                matches!(self.format, Format::OpenAi { quirks, .. } if quirks.mistral)
            }
            Operation::ContinueResponse => self.speaks_responses(),
            Operation::HostedTools => self.speaks_responses() && self.forward_extras,
            Operation::Embed => self.embeds(),
            Operation::ListModels => self.lists_models(),
        }
    }

    /// The model name to send: an Azure deployment names its own, whatever was asked.
    pub fn upstream_model<'m>(&self, catalog_name: &'m str) -> &'m str
    where
        'a: 'm,
    {
        match self.format {
            Format::OpenAi {
                endpoint: openai::Endpoint::Azure { deployment, .. },
                ..
            } if !deployment.is_empty() => deployment,
            _ => catalog_name,
        }
    }

    fn config_field(&self, name: &str, fingerprint: &str) -> Result<&'a str, WireError> {
        self.config.get(name).map(String::as_str).ok_or_else(|| {
            config_error(
                self.provider.id,
                format!("credential {fingerprint} has no {name}"),
            )
        })
    }

    /// The base URL the registry gives for this key, its region or location filled in, or
    /// the key's own endpoint. An operator's override, where set, is the caller's to apply.
    pub fn base_url(&self, fingerprint: &str) -> Result<String, WireError> {
        match self.provider.base_url {
            BaseUrl::Fixed(url) => Ok(url.to_owned()),
            BaseUrl::Regional(template) => {
                Ok(template.replace("{region}", self.config_field("region", fingerprint)?))
            }
            BaseUrl::VertexLocation => Ok(format!(
                "https://{}",
                vertex::host(self.config_field("location", fingerprint)?)
            )),
            BaseUrl::FromCredential(field) => Ok(self.config_field(field, fingerprint)?.to_owned()),
        }
    }

    /// Whether the key's own config decides where requests go (an endpoint, a base URL, a
    /// region or location in a host name): such destinations pass the egress policy.
    pub fn user_supplied_destination(&self) -> bool {
        !matches!(self.provider.base_url, BaseUrl::Fixed(_))
    }

    /// The wire request for a chat (or, when the request carries one, fill-in-the-middle)
    /// call, relative to the base URL and without credentials.
    pub fn chat_request(
        &self,
        request: &pb::ChatRequest,
        model: &str,
        stream: bool,
    ) -> Result<HttpRequest, WireError> {
        let request = self.forwardable(request);
        let request = request.as_ref();
        if let Some(fim) = mistral::FimRequest::from_chat(request, stream) {
            if !self.supports(Operation::FillInTheMiddle) {
                return Err(WireError::from_status(
                    self.provider.id,
                    400,
                    "invalid_request_error",
                    format!(
                        "fill-in-the-middle is served by Mistral's Codestral models; {} has no FIM endpoint",
                        self.provider.id
                    ),
                ));
            }
            return Ok(mistral::build_fim_request(&fim, model));
        }
        match self.format {
            Format::OpenAi { endpoint, .. } if self.responses => {
                let endpoint = match endpoint {
                    openai::Endpoint::Azure { .. } => responses::Endpoint::Azure,
                    openai::Endpoint::ChatCompletions => responses::Endpoint::OpenAi,
                };
                responses::build_request(request, model, stream, endpoint)
            }
            Format::OpenAi { quirks, endpoint } => {
                openai::build_request(request, model, stream, endpoint, quirks)
            }
            Format::Anthropic(flavor) => anthropic::build_request(request, model, stream, flavor),
            Format::Gemini(flavor) => gemini::build_request(request, model, stream, flavor),
            Format::Bedrock => bedrock::build_request(request, model, stream),
        }
    }

    /// The wire request for an exact token count; only where [`Operation::CountTokens`] is
    /// supported.
    pub fn count_tokens_request(
        &self,
        request: &pb::ChatRequest,
        model: &str,
    ) -> Result<HttpRequest, WireError> {
        if !self.supports(Operation::CountTokens) {
            return Err(WireError::from_status(
                self.provider.id,
                400,
                "invalid_request_error",
                format!("{} does not count tokens", self.provider.id),
            ));
        }
        anthropic::build_count_tokens_request(request, model)
    }

    /// The input tokens in a token-count answer.
    pub fn parse_count_tokens(&self, status: u16, body: &[u8]) -> Result<u32, WireError> {
        anthropic::parse_count_tokens(status, body)
    }

    /// A whole (non-streaming) answer.
    pub fn parse_response(&self, status: u16, body: &[u8]) -> Result<pb::ChatResponse, WireError> {
        match self.format {
            Format::OpenAi { .. } if self.responses => responses::parse_response(status, body),
            Format::OpenAi { .. } => openai::parse_response(status, body),
            Format::Anthropic(_) => anthropic::parse_response(status, body),
            Format::Gemini(_) => gemini::parse_response(status, body),
            Format::Bedrock => bedrock::parse_response(status, None, body),
        }
    }

    /// A refusal: the status, the body, and AWS's `x-amzn-errortype` header where sent.
    pub fn parse_error(&self, status: u16, error_type: Option<&str>, body: &[u8]) -> WireError {
        match self.format {
            Format::OpenAi { .. } => openai::parse_error(status, body),
            Format::Anthropic(anthropic::Flavor::Vertex { .. })
                if !body.starts_with(b"{\"type\"") =>
            {
                // Vertex's own refusals use the Google envelope, the model's the Anthropic one.
                gemini::parse_error(status, body)
            }
            Format::Anthropic(_) => anthropic::parse_error(status, body),
            Format::Gemini(_) => gemini::parse_error(status, body),
            Format::Bedrock => bedrock::parse_error(status, error_type, body),
        }
    }

    /// A decoder for this format's stream, fed the body as it arrives.
    pub fn decoder(&self) -> Box<dyn StreamDecoder + Send> {
        match self.format {
            Format::OpenAi { .. } if self.responses => {
                Box::new(responses::ResponsesStreamDecoder::new())
            }
            Format::OpenAi { .. } => Box::new(openai::OpenAiStreamDecoder::new()),
            Format::Anthropic(_) => Box::new(anthropic::AnthropicStreamDecoder::new()),
            Format::Gemini(_) => Box::new(gemini::GeminiStreamDecoder::new()),
            Format::Bedrock => Box::new(bedrock::BedrockStreamDecoder::new()),
        }
    }
}
