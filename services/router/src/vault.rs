//! The router's link to the vault: an mTLS channel presenting the router's certificate,
//! which must reach a server proving the `vault` identity.

use std::sync::Arc;

use keyroute_proto::vault::v1::vault_service_client::VaultServiceClient;
use keyroute_tls::{ClientTls, Identity};
use tonic::transport::Channel;

use crate::error::RouterError;

/// A cheap-to-clone vault client.
pub type VaultClient = VaultServiceClient<Channel>;

/// Connects (lazily) to the vault at `address` with the router's TLS material.
pub fn connect(address: &str, tls: Arc<ClientTls>) -> Result<VaultClient, RouterError> {
    let vault =
        Identity::parse("vault").map_err(|error| RouterError::Internal(error.to_string()))?;
    let channel = keyroute_tls::channel(address, tls, vault)
        .map_err(|error| RouterError::Internal(error.to_string()))?;
    Ok(VaultServiceClient::new(channel))
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
