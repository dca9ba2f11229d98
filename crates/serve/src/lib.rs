//! How keyroute's servers take connections: one accept loop ([`accept_until`]) and the
//! connection threads accepted connections are dealt out to ([`ConnectionThreads`]). The
//! edge serves its clients this way, the router its gRPC port, and `keyroute_tls::incoming`
//! (the vault's port) accepts with the same loop. Clients whose connections should stay on
//! the connection thread that uses them keep one value per thread ([`PerThread`]).

mod accept;
mod per_thread;
mod threads;

pub use accept::accept_until;
pub use per_thread::PerThread;
pub use threads::{
    ConnectionThreads, Handed, HandedConnections, default_count, on_connection_thread,
};
