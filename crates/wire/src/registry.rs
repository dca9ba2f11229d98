//! Every provider keyroute can route to, as data: which wire format it speaks, where, how it
//! authenticates, and what shape its credential has. Code that needs to know a provider asks
//! here instead of matching on ids.

use std::sync::RwLock;

use crate::openai::Quirks;

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// OpenAI Chat Completions, with the host's deviations.
    OpenAiChat(Quirks),
    /// Azure OpenAI: Chat Completions at a deployment URL.
    AzureOpenAi,
    /// The Anthropic Messages API.
    Anthropic,
    /// Google AI Studio `generateContent`.
    Gemini,
    /// Vertex AI: Gemini or Anthropic models, by publisher.
    Vertex,
    /// Bedrock Converse.
    Bedrock,
}

/// Where a provider's API is, for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseUrl {
    /// The same for every key.
    Fixed(&'static str),
    /// A template whose `{region}` is the key's `config.region` (Bedrock).
    Regional(&'static str),
    /// Vertex's host for the key's `config.location` (regional, `global`, `us`, `eu`).
    VertexLocation,
    /// The key's own `config.<field>` (an Azure resource endpoint, a custom base URL).
    FromCredential(&'static str),
}

impl WireFormat {
    /// The format's name in the providers API.
    pub const fn name(self) -> &'static str {
        match self {
            Self::OpenAiChat(_) => "openai_chat",
            Self::AzureOpenAi => "azure_openai",
            Self::Anthropic => "anthropic_messages",
            Self::Gemini => "gemini",
            Self::Vertex => "vertex",
            Self::Bedrock => "bedrock_converse",
        }
    }
}

/// How a request proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// The key in a named header (`x-api-key`, `api-key`, `x-goog-api-key`).
    Header(&'static str),
    /// SigV4 for service `bedrock`, or a Bedrock API key as a bearer token.
    AwsSigV4OrBearer,
    /// A Google access token from a service account.
    GoogleServiceAccount,
    /// Custom endpoints: a bearer API key and/or token, or nothing.
    Optional,
}

/// What a stored credential looks like for the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialShape {
    ApiKey,
    Bedrock,
    Azure,
    Vertex,
    Custom,
}

/// One field a credential of some shape takes, for forms and the providers API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// `secret`, `label`, or `config.<key>`.
    pub name: &'static str,
    pub required: bool,
    /// Whether the value is a secret (write-only: never returned).
    pub secret: bool,
    pub description: &'static str,
}

const fn field(
    name: &'static str,
    required: bool,
    secret: bool,
    description: &'static str,
) -> Field {
    Field {
        name,
        required,
        secret,
        description,
    }
}

const API_KEY_FIELDS: &[Field] = &[
    field("secret", true, true, "The provider's API key."),
    field("label", false, false, "A name to tell several keys apart."),
];

const BEDROCK_FIELDS: &[Field] = &[
    field(
        "secret",
        true,
        true,
        "JSON {\"accessKeyId\",\"secretAccessKey\",\"region\",\"sessionToken\"?}, or a Bedrock API key.",
    ),
    field(
        "config.region",
        false,
        false,
        "The AWS region; required with a Bedrock API key.",
    ),
    field("label", false, false, "A name to tell several keys apart."),
];

const AZURE_FIELDS: &[Field] = &[
    field("secret", true, true, "The Azure OpenAI API key."),
    field(
        "config.endpoint",
        true,
        false,
        "The resource endpoint, https://<resource>.openai.azure.com.",
    ),
    field("config.deployment", true, false, "The deployment name."),
    field(
        "config.api_version",
        false,
        false,
        "The API version (a recent GA version by default).",
    ),
    field(
        "label",
        false,
        false,
        "What clients ask for as azure/<label>.",
    ),
];

const VERTEX_FIELDS: &[Field] = &[
    field("secret", true, true, "The service account's JSON key file."),
    field(
        "config.project_id",
        false,
        false,
        "The Google Cloud project (default: the key file's).",
    ),
    field(
        "config.location",
        false,
        false,
        "The region (default us-central1).",
    ),
    field("label", false, false, "A name to tell several keys apart."),
];

const CUSTOM_FIELDS: &[Field] = &[
    field(
        "label",
        true,
        false,
        "The endpoint's name: clients ask for custom/<label>/<model>.",
    ),
    field(
        "config.base_url",
        true,
        false,
        "The OpenAI-compatible base URL, ending in /v1 or similar.",
    ),
    field(
        "secret",
        false,
        true,
        "Empty, an API key, or JSON {\"apiKey\"?,\"authToken\"?}.",
    ),
];

impl CredentialShape {
    /// The shape's name in the providers API.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Bedrock => "aws",
            Self::Azure => "azure",
            Self::Vertex => "google_service_account",
            Self::Custom => "custom_endpoint",
        }
    }

    /// The fields a credential of this shape takes (the vault validates the same rules).
    pub const fn fields(self) -> &'static [Field] {
        match self {
            Self::ApiKey => API_KEY_FIELDS,
            Self::Bedrock => BEDROCK_FIELDS,
            Self::Azure => AZURE_FIELDS,
            Self::Vertex => VERTEX_FIELDS,
            Self::Custom => CUSTOM_FIELDS,
        }
    }
}

/// One provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provider {
    pub id: &'static str,
    pub name: &'static str,
    pub format: WireFormat,
    /// Where its API is; an operator's `--base-url` replaces it.
    pub base_url: BaseUrl,
    pub auth: AuthScheme,
    pub shape: CredentialShape,
}

const fn compatible(id: &'static str, name: &'static str, base_url: &'static str) -> Provider {
    with_quirks(id, name, base_url, Quirks::COMPATIBLE)
}

const fn with_quirks(
    id: &'static str,
    name: &'static str,
    base_url: &'static str,
    quirks: Quirks,
) -> Provider {
    Provider {
        id,
        name,
        format: WireFormat::OpenAiChat(quirks),
        base_url: BaseUrl::Fixed(base_url),
        auth: AuthScheme::Bearer,
        shape: CredentialShape::ApiKey,
    }
}

/// Every provider, in display order.
pub const PROVIDERS: &[Provider] = &[
    Provider {
        id: "openai",
        name: "OpenAI",
        format: WireFormat::OpenAiChat(Quirks::OPENAI),
        base_url: BaseUrl::Fixed("https://api.openai.com/v1"),
        auth: AuthScheme::Bearer,
        shape: CredentialShape::ApiKey,
    },
    Provider {
        id: "anthropic",
        name: "Anthropic",
        format: WireFormat::Anthropic,
        base_url: BaseUrl::Fixed("https://api.anthropic.com"),
        auth: AuthScheme::Header("x-api-key"),
        shape: CredentialShape::ApiKey,
    },
    Provider {
        id: "google",
        name: "Google AI Studio",
        format: WireFormat::Gemini,
        base_url: BaseUrl::Fixed("https://generativelanguage.googleapis.com"),
        auth: AuthScheme::Header("x-goog-api-key"),
        shape: CredentialShape::ApiKey,
    },
    Provider {
        id: "vertex",
        name: "Google Vertex AI",
        format: WireFormat::Vertex,
        base_url: BaseUrl::VertexLocation,
        auth: AuthScheme::GoogleServiceAccount,
        shape: CredentialShape::Vertex,
    },
    Provider {
        id: "bedrock",
        name: "AWS Bedrock",
        format: WireFormat::Bedrock,
        base_url: BaseUrl::Regional("https://bedrock-runtime.{region}.amazonaws.com"),
        auth: AuthScheme::AwsSigV4OrBearer,
        shape: CredentialShape::Bedrock,
    },
    Provider {
        id: "azure",
        name: "Azure OpenAI",
        format: WireFormat::AzureOpenAi,
        base_url: BaseUrl::FromCredential("endpoint"),
        auth: AuthScheme::Header("api-key"),
        shape: CredentialShape::Azure,
    },
    Provider {
        id: "mistral",
        name: "Mistral",
        format: WireFormat::OpenAiChat(Quirks::MISTRAL),
        base_url: BaseUrl::Fixed("https://api.mistral.ai/v1"),
        auth: AuthScheme::Bearer,
        shape: CredentialShape::ApiKey,
    },
    with_quirks(
        "deepseek",
        "DeepSeek",
        "https://api.deepseek.com",
        Quirks::REASONING_HISTORY,
    ),
    compatible("xai", "xAI", "https://api.x.ai/v1"),
    compatible("minimax", "MiniMax", "https://api.minimax.io/v1"),
    with_quirks(
        "moonshot",
        "Moonshot (Kimi)",
        "https://api.moonshot.ai/v1",
        Quirks::REASONING_HISTORY,
    ),
    with_quirks(
        "perplexity",
        "Perplexity",
        "https://api.perplexity.ai",
        Quirks::PERPLEXITY,
    ),
    compatible(
        "fireworks",
        "Fireworks",
        "https://api.fireworks.ai/inference/v1",
    ),
    compatible("novita", "Novita", "https://api.novita.ai/openai/v1"),
    compatible("inception", "Inception", "https://api.inceptionlabs.ai/v1"),
    with_quirks(
        "xiaomi",
        "Xiaomi MiMo",
        "https://api.xiaomimimo.com/v1",
        Quirks::REASONING_HISTORY,
    ),
    with_quirks("zai", "Z.ai", "https://api.z.ai/api/paas/v4", Quirks::ZAI),
    compatible("openrouter", "OpenRouter", "https://openrouter.ai/api/v1"),
    Provider {
        id: "custom",
        name: "Custom OpenAI-compatible endpoint",
        format: WireFormat::OpenAiChat(Quirks::COMPATIBLE),
        base_url: BaseUrl::FromCredential("base_url"),
        auth: AuthScheme::Optional,
        shape: CredentialShape::Custom,
    },
];

/// Providers added at run time with [`register`], after the built-in ones.
static REGISTERED: RwLock<Vec<&'static Provider>> = RwLock::new(Vec::new());

/// Why a provider could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("provider id {0:?} must be lowercase letters, digits and dashes")]
    InvalidId(String),
    #[error("provider {0:?} is already registered")]
    Duplicate(String),
}

/// Adds a provider to the registry for the rest of the process: an OpenAI-compatible host
/// needs nothing but its entry (id, name, format and quirks, base URL, auth, credential
/// shape), and every component that asks the registry (key validation, the catalog, routing,
/// the providers API) knows it from then on. Entries live as long as the process.
pub fn register(entry: Provider) -> Result<&'static Provider, RegistryError> {
    let valid = !entry.id.is_empty()
        && entry
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(RegistryError::InvalidId(entry.id.to_owned()));
    }
    let mut registered = REGISTERED.write().unwrap_or_else(|p| p.into_inner());
    if PROVIDERS
        .iter()
        .chain(registered.iter().copied())
        .any(|p| p.id == entry.id)
    {
        return Err(RegistryError::Duplicate(entry.id.to_owned()));
    }
    let entry: &'static Provider = Box::leak(Box::new(entry));
    registered.push(entry);
    Ok(entry)
}

/// The provider with this id.
pub fn provider(id: &str) -> Option<&'static Provider> {
    if let Some(found) = PROVIDERS.iter().find(|p| p.id == id) {
        return Some(found);
    }
    REGISTERED
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .copied()
        .find(|p| p.id == id)
}

/// Every provider, built-in ones first, in display order.
pub fn all() -> Vec<&'static Provider> {
    let registered = REGISTERED.read().unwrap_or_else(|p| p.into_inner());
    PROVIDERS.iter().chain(registered.iter().copied()).collect()
}

/// Every provider id, comma-separated, for error messages.
pub fn provider_ids() -> String {
    all().iter().map(|p| p.id).collect::<Vec<_>>().join(", ")
}
