use std::collections::{HashMap, HashSet};
use std::time::Duration;

use keyroute_proto::vault::v1::{FallbackPolicy, PrincipalKind, ProviderMode, ProviderSetting};
use keyroute_wire::catalog::Catalog;
use secrecy::SecretString;

use super::*;

fn key(id: &str, owner: &str, provider: &str, label: &str, config: &[(&str, &str)]) -> LeasedKey {
    LeasedKey {
        id: id.into(),
        owner_id: owner.into(),
        owner_kind: if owner.starts_with("org") {
            PrincipalKind::Org
        } else {
            PrincipalKind::User
        },
        provider: provider.into(),
        label: label.into(),
        config: config
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<HashMap<_, _>>(),
        fingerprint: format!("{provider}:…{id}"),
        secret: SecretString::from(format!("secret-{id}")),
    }
}

fn setting(
    owner: &str,
    provider: &str,
    mode: ProviderMode,
    fallback: FallbackPolicy,
) -> ProviderSetting {
    ProviderSetting {
        owner_id: owner.into(),
        provider: provider.into(),
        mode: mode as i32,
        fallback_policy: fallback as i32,
        updated_at: None,
    }
}

fn user_lease(settings: Vec<ProviderSetting>) -> Lease {
    let keys = vec![
        key("personal-openai", "usr_1", "openai", "", &[]),
        key("org-openai", "org_1", "openai", "", &[]),
        key("org-anthropic", "org_1", "anthropic", "", &[]),
        key(
            "azure-prod",
            "usr_1",
            "azure",
            "prod",
            &[("deployment", "gpt4o-prod")],
        ),
        key(
            "azure-dev",
            "usr_1",
            "azure",
            "dev",
            &[("deployment", "gpt4o-dev")],
        ),
        key(
            "ollama",
            "usr_1",
            "custom",
            "ollama",
            &[("base_url", "http://127.0.0.1:11434/v1")],
        ),
    ];
    Lease::new(
        "usr_1",
        HashSet::from(["usr_1".to_owned(), "org_1".to_owned()]),
        keys,
        settings,
        Duration::from_secs(60),
    )
}

fn empty_lease(settings: Vec<ProviderSetting>) -> Lease {
    Lease::new(
        "usr_2",
        HashSet::from(["usr_2".to_owned()]),
        Vec::new(),
        settings,
        Duration::from_secs(60),
    )
}

fn platform() -> Lease {
    let keys = vec![
        key("managed-openai", "platform", "openai", "", &[]),
        key("managed-anthropic", "platform", "anthropic", "", &[]),
    ];
    Lease::new(
        "platform",
        HashSet::from(["platform".to_owned()]),
        keys,
        Vec::new(),
        Duration::from_secs(60),
    )
}

fn ids<'a>(candidates: &'a [Candidate<'a>]) -> Vec<(&'a str, Source)> {
    candidates
        .iter()
        .map(|c| (c.key.id.as_str(), c.source))
        .collect()
}

#[test]
fn personal_keys_then_org_keys_and_managed_only_when_no_key() {
    let catalog = Catalog::builtin().unwrap();
    let (lease, platform, cooldowns) = (user_lease(Vec::new()), platform(), Cooldowns::new());
    let resolution = catalog.resolve("gpt-4o-mini").unwrap();
    let found = candidates(&resolution, &lease, Some(&platform), &cooldowns).unwrap();
    assert_eq!(
        ids(&found),
        [
            ("personal-openai", Source::Byok),
            ("org-openai", Source::Byok)
        ]
    );
    assert_eq!(found[0].upstream_model, "gpt-4o-mini");
    assert_eq!(found[0].offer.unwrap().input_per_million, 150_000);

    let resolution = catalog.resolve("claude-sonnet-4-5").unwrap();
    assert_eq!(
        ids(&candidates(&resolution, &lease, Some(&platform), &cooldowns).unwrap()),
        [("org-anthropic", Source::Byok)]
    );

    // No key of one's own: the platform's key serves.
    let nobody = empty_lease(Vec::new());
    let resolution = catalog.resolve("gpt-4o-mini").unwrap();
    assert_eq!(
        ids(&candidates(&resolution, &nobody, Some(&platform), &cooldowns).unwrap()),
        [("managed-openai", Source::Managed)]
    );
    let error = candidates(&resolution, &nobody, None, &cooldowns).unwrap_err();
    assert_eq!(
        error.to_string(),
        "you have no enabled key for openai or openrouter, and managed routing is not available for this model"
    );
}

#[test]
fn settings_and_fallback_policies_decide_managed_routing() {
    let catalog = Catalog::builtin().unwrap();
    let (platform, cooldowns) = (platform(), Cooldowns::new());
    let resolution = catalog.resolve("gpt-4o-mini").unwrap();

    let disabled = user_lease(vec![setting(
        "usr_1",
        "openai",
        ProviderMode::Disabled,
        FallbackPolicy::WhenNoKey,
    )]);
    let error = candidates(&resolution, &disabled, Some(&platform), &cooldowns).unwrap_err();
    assert!(error.to_string().contains("openai is disabled"), "{error}");

    let never = empty_lease(vec![setting(
        "usr_2",
        "openai",
        ProviderMode::CustomKey,
        FallbackPolicy::Never,
    )]);
    let error = candidates(&resolution, &never, Some(&platform), &cooldowns).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("settings do not allow managed keys"),
        "{error}"
    );

    let when_fails = user_lease(vec![setting(
        "usr_1",
        "openai",
        ProviderMode::CustomKey,
        FallbackPolicy::WhenKeyFails,
    )]);
    let found = candidates(&resolution, &when_fails, Some(&platform), &cooldowns).unwrap();
    assert_eq!(
        ids(&found),
        [
            ("personal-openai", Source::Byok),
            ("org-openai", Source::Byok),
            ("managed-openai", Source::Managed)
        ]
    );

    let managed_only = user_lease(vec![setting(
        "usr_1",
        "openai",
        ProviderMode::Managed,
        FallbackPolicy::WhenNoKey,
    )]);
    assert_eq!(
        ids(&candidates(&resolution, &managed_only, Some(&platform), &cooldowns).unwrap()),
        [("managed-openai", Source::Managed)]
    );

    // An org's own setting keeps its keys out without affecting personal keys.
    let org_managed = user_lease(vec![setting(
        "org_1",
        "openai",
        ProviderMode::Managed,
        FallbackPolicy::WhenNoKey,
    )]);
    assert_eq!(
        ids(&candidates(&resolution, &org_managed, Some(&platform), &cooldowns).unwrap()),
        [("personal-openai", Source::Byok)]
    );
}

#[test]
fn cooling_keys_are_skipped() {
    let catalog = Catalog::builtin().unwrap();
    let (lease, platform, cooldowns) = (user_lease(Vec::new()), platform(), Cooldowns::new());
    let resolution = catalog.resolve("gpt-4o-mini").unwrap();
    cooldowns.cool("personal-openai", Duration::from_secs(30));
    assert_eq!(
        ids(&candidates(&resolution, &lease, Some(&platform), &cooldowns).unwrap()),
        [("org-openai", Source::Byok)]
    );
    cooldowns.cool("org-openai", Duration::from_secs(5));
    // Both own keys cooling: they count as keys the caller has, so no managed fallback by
    // default; the error says when to come back.
    let error = candidates(&resolution, &lease, Some(&platform), &cooldowns).unwrap_err();
    assert!(error.retry_at.is_some());
    assert!(error.to_string().contains("cooling down"), "{error}");
}

#[test]
fn pinned_deployments_endpoints_and_uncataloged_models() {
    let catalog = Catalog::builtin().unwrap();
    let (lease, platform, cooldowns) = (user_lease(Vec::new()), platform(), Cooldowns::new());
    let resolution = catalog.resolve("azure/prod").unwrap();
    let found = candidates(&resolution, &lease, Some(&platform), &cooldowns).unwrap();
    assert_eq!(ids(&found), [("azure-prod", Source::Byok)]);
    assert_eq!(found[0].upstream_model, "gpt4o-prod");

    let resolution = catalog.resolve("custom/ollama/llama3.1:8b").unwrap();
    let found = candidates(&resolution, &lease, Some(&platform), &cooldowns).unwrap();
    assert_eq!(
        (found[0].key.id.as_str(), found[0].upstream_model.as_str()),
        ("ollama", "llama3.1:8b")
    );

    let resolution = catalog.resolve("openai/gpt-9-preview").unwrap();
    let found = candidates(&resolution, &lease, Some(&platform), &cooldowns).unwrap();
    assert_eq!(
        ids(&found),
        [
            ("personal-openai", Source::Byok),
            ("org-openai", Source::Byok)
        ],
        "never managed: it has no price"
    );
    assert!(found[0].offer.is_none());

    let resolution = catalog.resolve("bedrock/claude-sonnet-4-5").unwrap();
    assert!(
        candidates(&resolution, &lease, Some(&platform), &cooldowns).is_err(),
        "pinned to a provider the caller has no key for"
    );
}
