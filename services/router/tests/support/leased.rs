//! Leases built by hand, for tests that call the routing policy and upstreams directly
//! (no vault): one user, `usr_1`, and the keys a test gives it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use keyroute_proto::vault::v1::PrincipalKind;
use keyroute_router::cache::leases::{Lease, LeasedKey};
use secrecy::SecretString;

/// A key of `usr_1`'s; its fingerprint is `<provider>:…<id>`.
pub fn key(
    id: &str,
    provider: &str,
    label: &str,
    secret: &str,
    config: &[(&str, &str)],
) -> LeasedKey {
    LeasedKey {
        id: id.into(),
        owner_id: "usr_1".into(),
        owner_kind: PrincipalKind::User,
        provider: provider.into(),
        label: label.into(),
        config: config
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<HashMap<_, _>>(),
        fingerprint: format!("{provider}:…{id}"),
        secret: SecretString::from(secret.to_owned()),
    }
}

/// `usr_1`'s lease of `keys`, for a minute.
pub fn lease(keys: Vec<LeasedKey>) -> Lease {
    Lease::new(
        "usr_1",
        HashSet::from(["usr_1".to_owned()]),
        keys,
        Vec::new(),
        Duration::from_secs(60),
    )
}
