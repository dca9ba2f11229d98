//! The one crypto provider every keyroute TLS config uses: ring, as everywhere in keyroute.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
