//! Compiles `proto/` with protox, a pure-Rust protobuf compiler, so that a fresh machine needs
//! no `protoc`.

use std::path::PathBuf;

/// Messages that carry a secret: their `Debug` is written by hand in `src/redact.rs`.
const REDACTED: &[&str] = &[
    "keyroute.vault.v1.IssueTokenResponse",
    "keyroute.vault.v1.AuthenticateRequest",
    "keyroute.vault.v1.CreateCredentialRequest",
    "keyroute.vault.v1.UpdateCredentialSecretRequest",
    "keyroute.vault.v1.LeasedCredential",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "keyroute/vault/v1/vault.proto",
        "keyroute/router/v1/router.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let descriptors = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("keyroute_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        // prost's codec, encoding each message into room reserved for it (src/codec.rs).
        .codec_path("crate::codec::ReservingCodec")
        .skip_debug(REDACTED.iter().map(|path| format!(".{path}")))
        .compile_fds(descriptors)?;
    Ok(())
}
