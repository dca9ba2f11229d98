//! mTLS for keyroute's internal gRPC: server and client configs from PEM files, the peer's
//! identity from its single `spiffe://keyroute/<name>` URI SAN, and certificates that reload
//! from disk without a restart (cert-manager rotates them).
//!
//! Servers verify client certificates against the internal CA and reject any certificate
//! without exactly one SPIFFE identity during the handshake. Clients verify the server's chain
//! and its SPIFFE identity instead of a DNS name, so Kubernetes service names and loopback
//! addresses work alike.

mod client;
mod coalesce;
mod crypto;
mod deadline;
#[cfg(feature = "dev-pki")]
pub mod dev_pki;
mod error;
mod h2_channel;
mod h2_recv;
mod h2_server;
mod identity;
mod material;
mod reload;
mod server;
#[cfg(feature = "test-pki")]
mod stock_client;
#[cfg(feature = "test-pki")]
mod test_pki;
mod verify;

pub use client::{ClientTls, channel};
pub use deadline::{grpc_timeout, timed_out};
pub use error::TlsError;
pub use h2_channel::{H2Channel, NotSent};
pub use h2_server::{AnswerBody, GrpcServices, serve_h2};
pub use identity::{Identity, TRUST_DOMAIN_PREFIX, identity_of_der};
pub use material::TlsPaths;
pub use server::{PeerInfo, ServerTls, TlsConnection, handed_over, incoming};
#[cfg(feature = "test-pki")]
pub use stock_client::stock_channel;
#[cfg(feature = "test-pki")]
pub use test_pki::TestPki;
