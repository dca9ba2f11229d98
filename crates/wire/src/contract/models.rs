//! How to ask a provider which models a key can use ([`Operation::ListModels`]), page by page,
//! and how to read its answer. Where each format lists them:
//!
//! - OpenAI and every OpenAI-compatible host (Mistral, DeepSeek, xAI, custom endpoints...):
//!   `GET {base}/models`, one page `{"object":"list","data":[{"id",...}]}`. Mistral adds
//!   `capabilities.completion_chat`; a model that says `false` (embeddings, OCR) is left out.
//! - Anthropic: `GET /v1/models?limit=&after_id=`, `{"data":[{"id","display_name"}],
//!   "has_more","last_id"}`; `limit` ranges 1 to 1000 (docs.anthropic.com, Models API).
//! - Gemini (AI Studio): `GET /v1beta/models?pageSize=&pageToken=`, `{"models":[{"name":
//!   "models/...","displayName","supportedGenerationMethods"}],"nextPageToken"}`; only models
//!   that `generateContent` are kept (ai.google.dev, models.list).
//!
//! Not listed, on purpose: Azure OpenAI (a key is bound to its deployment; the data-plane
//! `GET /openai/deployments` was retired after `2023-03-15-preview` in favour of the ARM
//! management plane, which an API key cannot call), Bedrock (`ListFoundationModels` lives on
//! the control-plane host `bedrock.{region}.amazonaws.com` and lists every model of the
//! region whether or not the account was granted access, so it does not say what the key
//! can use), and Vertex (Model Garden's publisher list is a catalogue, not a project's
//! entitlement). Their keys serve the catalog's models and their own pinned ids.

use serde_json::Value;

use super::{Contract, Format, Operation};
use crate::error::WireError;
use crate::http::HttpRequest;
use crate::json::str_of;
use crate::sigv4::uri_encode;
use crate::{anthropic, gemini, openai};

/// Models asked for per page where the provider lets the caller choose (both maxima).
pub const PAGE_SIZE: u32 = 1000;

/// A listed model longer than this is not a model id: dropped.
const MAX_ID_LEN: usize = 256;

/// One model a provider says the key can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedModel {
    /// The provider's own id (Gemini's without `models/`).
    pub id: String,
    /// Its name for people, where the provider gives one.
    pub display_name: String,
}

/// One page of a model list, and the cursor of the next one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelPage {
    pub models: Vec<ListedModel>,
    /// Where the next page starts (Anthropic's `after_id`, Gemini's `pageToken`); none at the end.
    pub next: Option<String>,
}

fn get(path: String) -> HttpRequest {
    HttpRequest {
        method: "GET",
        path,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

fn encoded(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    uri_encode(value.as_bytes(), &mut out);
    out
}

fn malformed(provider: &'static str, what: &str) -> WireError {
    WireError::from_status(
        provider,
        502,
        "malformed_response",
        format!("{provider}'s model list is not {what}"),
    )
}

fn listed(id: &str, display_name: &str) -> Option<ListedModel> {
    (!id.is_empty() && id.len() <= MAX_ID_LEN && !id.chars().any(char::is_control)).then(|| {
        ListedModel {
            id: id.to_owned(),
            display_name: display_name.to_owned(),
        }
    })
}

impl Contract<'_> {
    /// The request for one page of the key's model list, relative to the base URL and without
    /// credentials: the first page, or the one `cursor` (a [`ModelPage::next`]) points to.
    pub fn list_models_request(&self, cursor: Option<&str>) -> Result<HttpRequest, WireError> {
        if !self.supports(Operation::ListModels) {
            return Err(WireError::from_status(
                self.provider.id,
                404,
                "not_found_error",
                format!("{} lists no models", self.provider.id),
            ));
        }
        let request = match self.format {
            Format::Anthropic(_) => {
                let mut path = format!("/v1/models?limit={PAGE_SIZE}");
                if let Some(after) = cursor {
                    path.push_str(&format!("&after_id={}", encoded(after)));
                }
                let mut request = get(path);
                request
                    .headers
                    .push(("anthropic-version", anthropic::ANTHROPIC_VERSION.to_owned()));
                request
            }
            Format::Gemini(_) => {
                let mut path = format!("/v1beta/models?pageSize={PAGE_SIZE}");
                if let Some(token) = cursor {
                    path.push_str(&format!("&pageToken={}", encoded(token)));
                }
                get(path)
            }
            _ => get("/models".to_owned()),
        };
        Ok(request)
    }

    /// One page of the provider's model list, or its refusal in the format's error shape.
    pub fn parse_model_list(&self, status: u16, body: &[u8]) -> Result<ModelPage, WireError> {
        if !(200..300).contains(&status) {
            return Err(self.parse_error(status, None, body));
        }
        let provider = self.provider.id;
        let value: Value = serde_json::from_slice(body).map_err(|_| malformed(provider, "JSON"))?;
        match self.format {
            Format::Anthropic(_) => anthropic_page(provider, &value),
            Format::Gemini(_) => gemini_page(provider, &value),
            _ => openai_page(provider, &value),
        }
    }

    /// Whether this key's provider answers [`Operation::ListModels`].
    pub(super) fn lists_models(&self) -> bool {
        matches!(
            self.format,
            Format::OpenAi {
                endpoint: openai::Endpoint::ChatCompletions,
                ..
            } | Format::Anthropic(anthropic::Flavor::Direct)
                | Format::Gemini(gemini::Flavor::AiStudio)
        )
    }
}

fn entries<'v>(
    provider: &'static str,
    value: &'v Value,
    key: &str,
) -> Result<&'v [Value], WireError> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| malformed(provider, &format!("an object with {key:?}")))
}

fn openai_page(provider: &'static str, value: &Value) -> Result<ModelPage, WireError> {
    let models = entries(provider, value, "data")?
        .iter()
        .filter(|model| {
            // Mistral marks what chat does not serve (embeddings, OCR, moderation).
            model.pointer("/capabilities/completion_chat") != Some(&Value::Bool(false))
        })
        .filter_map(|model| listed(str_of(model, "id"), str_of(model, "name")))
        .collect();
    Ok(ModelPage { models, next: None })
}

fn anthropic_page(provider: &'static str, value: &Value) -> Result<ModelPage, WireError> {
    let models: Vec<ListedModel> = entries(provider, value, "data")?
        .iter()
        .filter_map(|model| listed(str_of(model, "id"), str_of(model, "display_name")))
        .collect();
    let more = value.get("has_more").and_then(Value::as_bool) == Some(true);
    let last = str_of(value, "last_id");
    let next = (more && !last.is_empty()).then(|| last.to_owned());
    Ok(ModelPage { models, next })
}

fn gemini_page(provider: &'static str, value: &Value) -> Result<ModelPage, WireError> {
    // A key with no models at all may get `{}`: an empty list, not a malformed one.
    let all = match value.get("models") {
        None => &[][..],
        Some(_) => entries(provider, value, "models")?,
    };
    let models = all
        .iter()
        .filter(|model| {
            model
                .get("supportedGenerationMethods")
                .and_then(Value::as_array)
                .is_some_and(|methods| methods.iter().any(|m| m == "generateContent"))
        })
        .filter_map(|model| {
            let name = str_of(model, "name");
            listed(
                name.strip_prefix("models/").unwrap_or(name),
                str_of(model, "displayName"),
            )
        })
        .collect();
    let token = str_of(value, "nextPageToken");
    let next = (!token.is_empty()).then(|| token.to_owned());
    Ok(ModelPage { models, next })
}

#[cfg(test)]
mod tests;
