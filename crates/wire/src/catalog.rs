//! The model catalog: which providers serve a model, under what upstream name, at what price,
//! with what capabilities. A JSON file built in and overridable, and the resolution of a
//! requested model id (plain or provider-pinned) against it.

use std::collections::HashMap;

use serde::Deserialize;
use thiserror::Error;

use crate::registry::{self, Provider};

pub mod lifecycle;

pub use lifecycle::{RetiredModel, State};

mod price;

pub use price::{Billed, Price};

/// The built-in catalog file.
pub const BUILTIN: &str = include_str!("../catalog/models.json");

/// The built-in embedding models (capability `embeddings`), kept in their own file and
/// merged into [`BUILTIN`]'s models by [`Catalog::builtin`].
pub const BUILTIN_EMBEDDINGS: &str = include_str!("../catalog/embeddings.json");

/// Micro-dollars (10^-6 US dollars): prices and costs are integers, never floats.
pub type Micros = u64;

/// One provider's offer of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub provider: &'static Provider,
    /// The provider's own name for the model.
    pub upstream: String,
    /// For Vertex: `gemini` or `anthropic`, which wire format the publisher speaks.
    pub format: String,
    /// Micro-dollars per million input and output tokens.
    pub input_per_million: Micros,
    pub output_per_million: Micros,
    /// Micro-dollars per million tokens read from or written to the provider's prompt cache
    /// (writes with a 5-minute and a 1-hour lifetime), and per million reasoning tokens. A
    /// price the file leaves out is the plain input (or output) price: never cheaper than
    /// what the provider may bill.
    pub cache_read_per_million: Micros,
    pub cache_write_per_million: Micros,
    pub cache_write_1h_per_million: Micros,
    pub reasoning_per_million: Micros,
}

/// Micro-dollars as `$1.234567`, the way balances, caps and costs are shown to people.
pub fn dollars(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    format!("{sign}${}.{:06}", abs / 1_000_000, abs % 1_000_000)
}

impl Offer {
    /// The offer's prices, to price a call once it was served.
    pub fn price(&self) -> Price {
        Price {
            input_per_million: self.input_per_million,
            output_per_million: self.output_per_million,
            cache_read_per_million: self.cache_read_per_million,
            cache_write_per_million: self.cache_write_per_million,
            cache_write_1h_per_million: self.cache_write_1h_per_million,
            reasoning_per_million: self.reasoning_per_million,
        }
    }

    /// The cost of a call with plain input and output, rounded up to the next micro-dollar.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> Micros {
        self.price().cost(input_tokens, output_tokens)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub id: String,
    pub display_name: String,
    pub capabilities: Vec<String>,
    pub offers: Vec<Offer>,
    /// Where the id and prices come from (the provider's model or pricing page, or its SDK).
    pub source: String,
    pub lifecycle: Lifecycle,
}

/// When a model stops being offered, as its provider announced it (`YYYY-MM-DD` dates).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// Deprecated: still served, with a successor to move to.
    pub deprecated_on: Option<String>,
    /// Retired: the provider no longer serves it.
    pub retires_on: Option<String>,
    /// The catalog id to use instead.
    pub successor: Option<String>,
}

/// Why a catalog file was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CatalogError {
    #[error("catalog is not valid: {0}")]
    Parse(String),
    #[error("model {model}: {reason}")]
    Invalid { model: String, reason: String },
}

#[derive(Deserialize)]
struct FileModel {
    id: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    capabilities: Vec<String>,
    offers: Vec<FileOffer>,
    #[serde(default)]
    source: String,
    #[serde(default)]
    deprecated_on: Option<String>,
    #[serde(default)]
    retires_on: Option<String>,
    #[serde(default)]
    successor: Option<String>,
}

#[derive(Deserialize)]
struct FileOffer {
    provider: String,
    upstream: String,
    #[serde(default)]
    format: String,
    input_per_million: f64,
    output_per_million: f64,
    #[serde(default)]
    cache_read_per_million: Option<f64>,
    #[serde(default)]
    cache_write_per_million: Option<f64>,
    #[serde(default)]
    cache_write_1h_per_million: Option<f64>,
    #[serde(default)]
    reasoning_per_million: Option<f64>,
}

#[derive(Deserialize)]
struct File {
    models: Vec<FileModel>,
}

/// A parsed catalog.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    models: Vec<Model>,
    by_id: HashMap<String, usize>,
}

/// What a requested model id resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution<'a> {
    /// A catalog model: every provider that offers it, in catalog order.
    Catalog {
        model: &'a Model,
        offers: Vec<&'a Offer>,
    },
    /// A provider pinned by prefix with a model the catalog does not list: usable with the
    /// caller's own key (the provider decides whether the model exists), never priced.
    Uncataloged {
        provider: &'static Provider,
        upstream: String,
    },
    /// `azure/<label>`: the caller's Azure deployment with that label.
    AzureDeployment { label: String },
    /// `custom/<name>/<model>`: the caller's custom endpoint `name`.
    CustomEndpoint { name: String, upstream: String },
}

/// One way to serve a resolution: a provider, its name for the model, and the catalog offer
/// that prices it (none for uncatalogued models and the caller's own deployments).
pub type Target<'a> = (&'static Provider, String, Option<&'a Offer>);

impl Resolution<'_> {
    /// The providers that may serve this resolution, in the order they are tried.
    pub fn targets(&self) -> Vec<Target<'_>> {
        let pinned = |id: &str, upstream: &str| {
            registry::provider(id)
                .map(|p| (p, upstream.to_owned(), None))
                .into_iter()
                .collect()
        };
        match self {
            Self::Catalog { offers, .. } => offers
                .iter()
                .map(|offer| (offer.provider, offer.upstream.clone(), Some(*offer)))
                .collect(),
            Self::Uncataloged { provider, upstream } => vec![(*provider, upstream.clone(), None)],
            Self::AzureDeployment { .. } => pinned("azure", ""),
            Self::CustomEndpoint { upstream, .. } => pinned("custom", upstream),
        }
    }

    /// The label a key must carry to serve this resolution: a pinned Azure deployment or
    /// custom endpoint names one key of the caller's; anything else takes any key.
    pub fn required_label(&self) -> Option<&str> {
        match self {
            Self::AzureDeployment { label } | Self::CustomEndpoint { name: label, .. } => {
                Some(label)
            }
            _ => None,
        }
    }
}

/// An unknown model, with the closest known ids.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("model {model:?} is not known{}", hint(.suggestions))]
pub struct UnknownModel {
    pub model: String,
    pub suggestions: Vec<String>,
}

fn hint(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    }
}

fn price(value: f64, model: &str) -> Result<Micros, CatalogError> {
    if !value.is_finite() || value < 0.0 {
        return Err(CatalogError::Invalid {
            model: model.to_owned(),
            reason: "prices must be non-negative numbers".into(),
        });
    }
    Ok((value * 1_000_000.0).round() as Micros)
}

impl Catalog {
    /// The catalog that ships with keyroute.
    pub fn builtin() -> Result<Self, CatalogError> {
        let catalog = Self::from_json(BUILTIN)?.merged(Self::from_json(BUILTIN_EMBEDDINGS)?);
        catalog.check_successors()?;
        Ok(catalog)
    }

    /// Parses and checks a catalog file: known providers, unique ids, sane prices, lifecycle
    /// dates. Successors may name models of the catalog this file is merged into, so they
    /// are checked on the result with [`Catalog::check_successors`].
    pub fn from_json(text: &str) -> Result<Self, CatalogError> {
        let file: File =
            serde_json::from_str(text).map_err(|error| CatalogError::Parse(error.to_string()))?;
        let mut catalog = Self::default();
        for model in file.models {
            let invalid = |reason: &str| CatalogError::Invalid {
                model: model.id.clone(),
                reason: reason.to_owned(),
            };
            if model.id.is_empty() || model.offers.is_empty() {
                return Err(invalid("needs an id and at least one offer"));
            }
            let mut offers = Vec::with_capacity(model.offers.len());
            for offer in &model.offers {
                let provider = registry::provider(&offer.provider)
                    .ok_or_else(|| invalid(&format!("unknown provider {:?}", offer.provider)))?;
                if offer.upstream.is_empty() {
                    return Err(invalid("an offer needs an upstream model name"));
                }
                let input = price(offer.input_per_million, &model.id)?;
                let output = price(offer.output_per_million, &model.id)?;
                let or = |value: Option<f64>, default: Micros| {
                    value.map_or(Ok(default), |value| price(value, &model.id))
                };
                offers.push(Offer {
                    provider,
                    upstream: offer.upstream.clone(),
                    format: offer.format.clone(),
                    input_per_million: input,
                    output_per_million: output,
                    cache_read_per_million: or(offer.cache_read_per_million, input)?,
                    cache_write_per_million: or(offer.cache_write_per_million, input)?,
                    cache_write_1h_per_million: or(offer.cache_write_1h_per_million, input)?,
                    reasoning_per_million: or(offer.reasoning_per_million, output)?,
                });
            }
            if catalog
                .by_id
                .insert(model.id.clone(), catalog.models.len())
                .is_some()
            {
                return Err(invalid("appears twice"));
            }
            let lifecycle = Lifecycle {
                deprecated_on: model.deprecated_on,
                retires_on: model.retires_on,
                successor: model.successor,
            };
            lifecycle::check_model(&model.id, &lifecycle)?;
            catalog.models.push(Model {
                id: model.id,
                display_name: model.display_name,
                capabilities: model.capabilities,
                offers,
                source: model.source,
                lifecycle,
            });
        }
        Ok(catalog)
    }

    /// `overrides` replaces models with the same id and adds new ones.
    pub fn merged(mut self, overrides: Catalog) -> Self {
        for model in overrides.models {
            match self.by_id.get(&model.id) {
                Some(&index) => self.models[index] = model,
                None => {
                    self.by_id.insert(model.id.clone(), self.models.len());
                    self.models.push(model);
                }
            }
        }
        self
    }

    pub fn models(&self) -> &[Model] {
        &self.models
    }

    pub fn model(&self, id: &str) -> Option<&Model> {
        self.by_id.get(id).map(|&index| &self.models[index])
    }

    /// Resolves a requested model id: a catalog id, or `provider/model` pinning a provider.
    pub fn resolve(&self, requested: &str) -> Result<Resolution<'_>, UnknownModel> {
        if let Some(model) = self.model(requested) {
            return Ok(Resolution::Catalog {
                model,
                offers: model.offers.iter().collect(),
            });
        }
        if let Some((prefix, rest)) = requested.split_once('/')
            && let Some(provider) = registry::provider(prefix)
            && !rest.is_empty()
        {
            match provider.id {
                "azure" => {
                    return Ok(Resolution::AzureDeployment {
                        label: rest.to_owned(),
                    });
                }
                "custom" => {
                    if let Some((name, upstream)) = rest
                        .split_once('/')
                        .filter(|(n, u)| !n.is_empty() && !u.is_empty())
                    {
                        return Ok(Resolution::CustomEndpoint {
                            name: name.to_owned(),
                            upstream: upstream.to_owned(),
                        });
                    }
                }
                _ => {
                    // A catalog model pinned to one of its providers, by catalog id or upstream name.
                    for model in &self.models {
                        if let Some(offer) = model.offers.iter().find(|o| {
                            o.provider.id == provider.id && (model.id == rest || o.upstream == rest)
                        }) {
                            return Ok(Resolution::Catalog {
                                model,
                                offers: vec![offer],
                            });
                        }
                    }
                    return Ok(Resolution::Uncataloged {
                        provider,
                        upstream: rest.to_owned(),
                    });
                }
            }
        }
        Err(UnknownModel {
            model: requested.to_owned(),
            suggestions: self.suggest(requested),
        })
    }

    /// Up to three known ids close to `requested`.
    fn suggest(&self, requested: &str) -> Vec<String> {
        let wanted = requested.to_ascii_lowercase();
        let mut scored: Vec<(usize, &str)> = self
            .models
            .iter()
            .map(|model| {
                let id = model.id.to_ascii_lowercase();
                // A partial id (`claude-son`) is as good as a match; otherwise, typos by distance.
                let distance = if id.starts_with(&wanted) {
                    0
                } else {
                    edit_distance(&wanted, &id)
                };
                (distance, model.id.as_str())
            })
            .filter(|(distance, id)| *distance <= (id.len() / 3).max(2))
            .collect();
        scored.sort();
        scored
            .into_iter()
            .take(3)
            .map(|(_, id)| id.to_owned())
            .collect()
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(ca != *cb))
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}
