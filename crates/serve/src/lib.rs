//! How keyroute's servers take connections: one accept loop ([`accept_until`]) and the
//! connection threads accepted connections are dealt out to ([`ConnectionThreads`]). The
//! edge serves its clients this way, the router its gRPC port, and `keyroute_tls::incoming`
//! (the vault's port) accepts with the same loop.

mod accept;
mod threads;

pub use accept::accept_until;
pub use threads::{
    ConnectionThreads, Handed, HandedConnections, default_count, on_connection_thread,
};
