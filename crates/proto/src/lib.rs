//! Generated gRPC code for keyroute's protobuf APIs, with redacting `Debug` for every message
//! that carries a secret.

#![allow(clippy::doc_markdown, missing_debug_implementations)]

mod redact;

/// `keyroute.vault.v1`: the credential vault.
#[allow(clippy::all)]
pub mod vault {
    /// Version 1 of the vault API.
    pub mod v1 {
        tonic::include_proto!("keyroute.vault.v1");
    }
}

/// `keyroute.router.v1`: the canonical chat API.
#[allow(clippy::all)]
pub mod router {
    /// Version 1 of the router API.
    pub mod v1 {
        tonic::include_proto!("keyroute.router.v1");
    }
}

/// The encoded `FileDescriptorSet` of every keyroute proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("keyroute_descriptor");
