//! The router's link to the vault: an mTLS channel presenting the router's certificate,
//! which must reach a server proving the `vault` identity.

use std::sync::Arc;

use keyroute_proto::vault::v1::vault_service_client::VaultServiceClient;
use keyroute_telemetry::TracedChannel;
use keyroute_telemetry::metrics::{GrpcMetrics, GrpcMetricsService};
use keyroute_tls::{ClientTls, Identity};
use tonic::transport::Channel;

use crate::error::RouterError;

/// A cheap-to-clone vault client; every call is counted (method, code, latency), which also
/// tells whether the vault is reachable.
/// Each call also carries the current trace context, so the vault's span joins the request's
/// trace.
pub type VaultClient = VaultServiceClient<GrpcMetricsService<TracedChannel>>;

/// Connects (lazily) to the vault at `address` with the router's TLS material; its calls are
/// counted where no one scrapes them (the server uses [`counted`]).
pub fn connect(address: &str, tls: Arc<ClientTls>) -> Result<VaultClient, RouterError> {
    Ok(counted(channel(address, tls)?, GrpcMetrics::unregistered()))
}

/// A client on `channel` whose calls are counted in `metrics` (`keyroute_router_vault_*`).
pub fn counted(channel: Channel, metrics: Arc<GrpcMetrics>) -> VaultClient {
    VaultServiceClient::new(GrpcMetricsService::new(
        keyroute_telemetry::traced(channel),
        metrics,
    ))
}

/// The raw channel to the vault (lazy), for calls the router passes through without
/// decoding them ([`crate::platform::VaultPassThrough`]).
pub fn channel(address: &str, tls: Arc<ClientTls>) -> Result<Channel, RouterError> {
    let vault =
        Identity::parse("vault").map_err(|error| RouterError::Internal(error.to_string()))?;
    keyroute_tls::channel(address, tls, vault)
        .map_err(|error| RouterError::Internal(error.to_string()))
}

/// A vault status as a router error: unreachable means unavailable; anything else passes on.
pub fn vault_error(status: tonic::Status) -> RouterError {
    use tonic::Code;
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Cancelled => {
            RouterError::VaultUnavailable(status.message().to_owned())
        }
        Code::Unauthenticated => RouterError::Unauthenticated(status.message().to_owned()),
        Code::PermissionDenied => RouterError::PermissionDenied(status.message().to_owned()),
        Code::NotFound => RouterError::NotFound(status.message().to_owned()),
        Code::InvalidArgument => RouterError::InvalidArgument(status.message().to_owned()),
        _ => RouterError::Internal(format!("vault: {}", status.message())),
    }
}
