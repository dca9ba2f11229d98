//! The providers a credential can be stored for, and the shape of each one's credential:
//! read from the wire crate's provider registry, the one list every component shares.

pub use keyroute_wire::registry::{CredentialShape as Shape, provider_ids};

/// The shape of `provider`'s credential, or `None` for an unknown provider.
pub fn shape_of(provider: &str) -> Option<Shape> {
    keyroute_wire::registry::provider(provider).map(|p| p.shape)
}
