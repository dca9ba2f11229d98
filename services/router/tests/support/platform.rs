//! A platform's client for the vault pass-through on the router's port, and the people of
//! the platform tests: an org with an owner, a billing manager and a member, and an outsider.

use keyroute_proto::vault::v1::vault_service_client::VaultServiceClient;
use keyroute_proto::vault::v1::{CreateCredentialRequest, Role};
use keyroute_test_support::TestVault;
use keyroute_tls::{ClientTls, Identity};
use tonic::Code;
use tonic::transport::Channel;

use super::Stack;

/// How the audit log names a platform's calls.
pub const ACME_CHANNEL: &str = "spiffe://keyroute/platform/acme via spiffe://keyroute/router";
pub const UNKNOWN: &str = "cred_0000000000000000000000000000dead";

/// A vault client that talks to the router's port with `identity`'s certificate.
pub fn through_router(stack: &Stack, identity: &str) -> VaultServiceClient<Channel> {
    // The services' own certificates exist; a platform's is issued.
    let paths = if identity == "edge" || identity == "router" {
        stack.vault.pki.paths(identity)
    } else {
        stack.vault.pki.issue(identity)
    };
    let tls = ClientTls::from_files(paths).unwrap();
    let channel = keyroute_tls::channel(
        &stack.router.addr.to_string(),
        tls,
        Identity::parse("router").unwrap(),
    )
    .unwrap();
    VaultServiceClient::new(channel)
}

pub fn key(owner: &str, provider: &str, secret: &str) -> CreateCredentialRequest {
    CreateCredentialRequest {
        owner_id: owner.into(),
        provider: provider.into(),
        secret: secret.into(),
        ..Default::default()
    }
}

pub fn code<T: std::fmt::Debug>(result: Result<tonic::Response<T>, tonic::Status>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// The org `acme` with an owner, a billing manager and a member; and an outsider.
pub struct People {
    pub org: String,
    /// (user id, gateway token) of each.
    pub owner: (String, String),
    pub billing: (String, String),
    pub member: (String, String),
    pub outsider: (String, String),
}

pub async fn people(vault: &TestVault) -> People {
    let owner = vault.user_with_token("olga").await;
    let billing = vault.user_with_token("bill").await;
    let member = vault.user_with_token("mem").await;
    let outsider = vault.user_with_token("otto").await;
    let org = vault
        .org(
            "acme",
            &owner.0,
            &[
                (&billing.0, Role::BillingManager),
                (&member.0, Role::Member),
            ],
        )
        .await;
    People {
        org,
        owner,
        billing,
        member,
        outsider,
    }
}
