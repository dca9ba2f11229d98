//! The contract's embeddings: which formats embed ([`Operation::Embed`](super::Operation::Embed)), the calls an
//! `EmbedRequest` becomes for this key, and how their answers read.

use std::borrow::Cow;

use super::{Contract, Format};
use crate::canonical::pb;
use crate::embeddings::{self, EmbedBatch, Embedded};
use crate::error::WireError;
use crate::{anthropic, gemini};

impl Contract<'_> {
    /// Whether this key's format has an embeddings endpoint: every OpenAI-format host
    /// (OpenAI, Azure, Mistral, compatible hosts and custom endpoints), Gemini on AI Studio
    /// and Vertex, and Bedrock; Anthropic has none.
    pub(super) fn embeds(&self) -> bool {
        match self.format {
            Format::OpenAi { .. } | Format::Gemini(_) | Format::Bedrock => true,
            Format::Anthropic(_) => false,
        }
    }

    /// The upstream calls for `request` with `model` (the provider's name), in order: one,
    /// or several where the provider embeds one text (Titan, Gemini on Vertex) or a bounded
    /// batch per call. Managed keys send no provider options. Only where
    /// [`Operation::Embed`](super::Operation::Embed) is supported.
    pub fn embed_request(
        &self,
        request: &pb::EmbedRequest,
        model: &str,
    ) -> Result<Vec<EmbedBatch>, WireError> {
        let request = if self.forward_extras || request.provider_options_json.is_empty() {
            Cow::Borrowed(request)
        } else {
            let mut priced = request.clone();
            priced.provider_options_json.clear();
            Cow::Owned(priced)
        };
        match self.format {
            Format::OpenAi { quirks, endpoint } => {
                embeddings::build_openai(&request, model, endpoint, quirks)
            }
            Format::Gemini(gemini::Flavor::AiStudio) => {
                embeddings::build_ai_studio(&request, model)
            }
            Format::Gemini(gemini::Flavor::Vertex { project, location }) => {
                embeddings::build_vertex(&request, model, project, location)
            }
            Format::Bedrock => embeddings::build_bedrock(&request, model),
            Format::Anthropic(_) => Err(WireError::from_status(
                self.provider.id,
                400,
                "invalid_request_error",
                format!("{} has no embeddings endpoint", self.provider.id),
            )),
        }
    }

    /// The vectors (and token count, where reported) of one call's answer, which carried
    /// `inputs` texts.
    pub fn parse_embed_response(
        &self,
        status: u16,
        body: &[u8],
        inputs: usize,
    ) -> Result<Embedded, WireError> {
        let mut parsed = match self.format {
            Format::OpenAi { .. } => embeddings::parse_openai(status, body, inputs),
            Format::Gemini(gemini::Flavor::AiStudio) => {
                embeddings::parse_ai_studio(status, body, inputs)
            }
            Format::Gemini(gemini::Flavor::Vertex { .. }) => {
                embeddings::parse_vertex(status, body, inputs)
            }
            Format::Bedrock => embeddings::parse_bedrock(status, body, inputs),
            Format::Anthropic(_) => Err(anthropic::parse_error(status, body)),
        };
        // The formats' parsers speak for their reference provider; the error is this key's.
        if let Err(error) = &mut parsed {
            error.provider = self.provider.id;
        }
        parsed
    }
}
