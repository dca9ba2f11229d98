//! The providers a credential can be stored for, and the shape of each one's credential.

/// How a provider's credential is shaped, and therefore validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One API key string.
    ApiKey,
    /// AWS access keys as JSON, or a Bedrock API key with a region.
    Bedrock,
    /// Endpoint, deployment and API key.
    Azure,
    /// A Google service-account JSON.
    Vertex,
    /// An OpenAI-compatible endpoint with optional key or token.
    Custom,
}

/// Every provider id the vault accepts, with its credential shape.
pub const PROVIDERS: &[(&str, Shape)] = &[
    ("openai", Shape::ApiKey),
    ("anthropic", Shape::ApiKey),
    ("google", Shape::ApiKey),
    ("mistral", Shape::ApiKey),
    ("deepseek", Shape::ApiKey),
    ("xai", Shape::ApiKey),
    ("minimax", Shape::ApiKey),
    ("moonshot", Shape::ApiKey),
    ("perplexity", Shape::ApiKey),
    ("fireworks", Shape::ApiKey),
    ("novita", Shape::ApiKey),
    ("inception", Shape::ApiKey),
    ("xiaomi", Shape::ApiKey),
    ("zai", Shape::ApiKey),
    ("openrouter", Shape::ApiKey),
    ("bedrock", Shape::Bedrock),
    ("azure", Shape::Azure),
    ("vertex", Shape::Vertex),
    ("custom", Shape::Custom),
];

/// The shape of `provider`'s credential, or `None` for an unknown provider.
pub fn shape_of(provider: &str) -> Option<Shape> {
    PROVIDERS
        .iter()
        .find(|(id, _)| *id == provider)
        .map(|(_, shape)| *shape)
}

/// Every provider id, for error messages.
pub fn provider_ids() -> String {
    PROVIDERS
        .iter()
        .map(|(id, _)| *id)
        .collect::<Vec<_>>()
        .join(", ")
}
