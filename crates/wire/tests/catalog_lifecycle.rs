//! The built-in catalog as data (every entry sourced and valid, every provider family with a
//! current model, cloud ids resolving) and model lifecycles: dates checked, successors known
//! and acyclic, retired models refused with their successor named.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyroute_wire::catalog::lifecycle::civil_date;
use keyroute_wire::catalog::{Catalog, Resolution, State};

/// The day the built-in catalog was last brought up to date.
const CATALOG_DAY: &str = "2026-12-01";

fn file(models: &str) -> String {
    format!(r#"{{"models":[{models}]}}"#)
}

fn entry(id: &str, extra: &str) -> String {
    format!(
        r#"{{"id":"{id}","offers":[{{"provider":"openai","upstream":"{id}","input_per_million":1,"output_per_million":1}}]{extra}}}"#
    )
}

#[test]
fn every_builtin_entry_is_sourced_priced_and_its_successors_are_known() {
    let catalog = Catalog::builtin().unwrap();
    assert!(catalog.models().len() >= 60, "{}", catalog.models().len());
    for model in catalog.models() {
        assert!(
            !model.source.trim().is_empty(),
            "{} has no source",
            model.id
        );
        assert!(!model.display_name.is_empty(), "{} has no name", model.id);
        if let Some(successor) = &model.lifecycle.successor {
            assert!(
                catalog.model(successor).is_some(),
                "{}: {successor}",
                model.id
            );
        }
        for offer in &model.offers {
            assert!(offer.input_per_million > 0 || offer.provider.id == "custom");
            // Cache reads never cost more than plain input; writes never less.
            assert!(
                offer.cache_read_per_million <= offer.input_per_million,
                "{}",
                model.id
            );
            assert!(offer.cache_write_per_million >= offer.cache_read_per_million);
            assert!(offer.cache_write_1h_per_million >= offer.cache_write_per_million);
        }
    }
    catalog.check_successors().unwrap();
}

#[test]
fn every_provider_family_has_a_current_model() {
    let catalog = Catalog::builtin().unwrap();
    for provider in [
        "openai",
        "anthropic",
        "google",
        "vertex",
        "bedrock",
        "mistral",
        "deepseek",
        "xai",
        "minimax",
        "moonshot",
        "perplexity",
        "fireworks",
        "novita",
        "inception",
        "xiaomi",
        "zai",
        "openrouter",
    ] {
        assert!(
            catalog
                .models()
                .iter()
                .any(|m| m.lifecycle.state(CATALOG_DAY) == State::Active
                    && m.offers.iter().any(|o| o.provider.id == provider)),
            "{provider} has no current model"
        );
    }
}

#[test]
fn anthropic_cache_prices_follow_its_multipliers() {
    let catalog = Catalog::builtin().unwrap();
    for model in catalog.models() {
        for offer in model.offers.iter().filter(|o| o.provider.id == "anthropic") {
            let input = offer.input_per_million;
            assert_eq!(
                offer.cache_write_per_million * 4,
                input * 5,
                "{} 5 m",
                model.id
            );
            assert_eq!(
                offer.cache_write_1h_per_million,
                input * 2,
                "{} 1 h",
                model.id
            );
            assert!(
                offer.cache_read_per_million * 10 <= input,
                "{} read",
                model.id
            );
        }
    }
    // OpenAI bills no cache write: a write is plain input.
    let gpt = &catalog.model("gpt-5.5").unwrap().offers[0];
    assert_eq!(gpt.cache_write_per_million, gpt.input_per_million);
    assert!(gpt.cache_read_per_million < gpt.input_per_million);
}

#[test]
fn prefixed_cloud_ids_resolve_to_their_offer() {
    let catalog = Catalog::builtin().unwrap();
    let mut clouds = 0;
    for model in catalog.models() {
        for offer in model
            .offers
            .iter()
            .filter(|o| matches!(o.provider.id, "bedrock" | "vertex"))
        {
            clouds += 1;
            for requested in [
                format!("{}/{}", offer.provider.id, model.id),
                format!("{}/{}", offer.provider.id, offer.upstream),
            ] {
                let Resolution::Catalog {
                    model: found,
                    offers,
                } = catalog.resolve(&requested).unwrap()
                else {
                    panic!("{requested} is not a catalog model")
                };
                assert_eq!(found.id, model.id, "{requested}");
                assert_eq!(offers, [offer], "{requested}");
            }
        }
    }
    assert!(clouds >= 20, "{clouds} cloud offers");
}

#[test]
fn lifecycle_dates_are_checked() {
    for (extra, expected) in [
        (
            r#","retires_on":"2026-13-01""#,
            "retires_on must be a YYYY-MM-DD date",
        ),
        (r#","retires_on":"2025-02-29""#, "YYYY-MM-DD"),
        (r#","deprecated_on":"26-01-01""#, "deprecated_on must be"),
        (
            r#","deprecated_on":"2026-05-01","retires_on":"2026-04-01""#,
            "must not come after",
        ),
        (r#","successor":"x""#, "its own successor"),
    ] {
        let error = Catalog::from_json(&file(&entry("x", extra))).unwrap_err();
        assert!(error.to_string().contains(expected), "{extra}: {error}");
    }
    Catalog::from_json(&file(&entry("x", r#","retires_on":"2024-02-29""#))).unwrap();
}

#[test]
fn successors_must_be_known_and_must_not_cycle() {
    let unknown = Catalog::from_json(&file(&entry("a", r#","successor":"nope""#))).unwrap();
    let error = unknown.check_successors().unwrap_err();
    assert!(
        error
            .to_string()
            .contains("\"nope\" is not a catalog model"),
        "{error}"
    );

    let cycle = Catalog::from_json(&file(
        &[
            entry("a", r#","successor":"b""#),
            entry("b", r#","successor":"c""#),
            entry("c", r#","successor":"a""#),
        ]
        .join(","),
    ))
    .unwrap();
    let error = cycle.check_successors().unwrap_err();
    assert!(error.to_string().contains("cycle"), "{error}");

    // A file may name a built-in model as successor: checked once merged.
    let merged = Catalog::builtin()
        .unwrap()
        .merged(Catalog::from_json(&file(&entry("old", r#","successor":"gpt-5.5""#))).unwrap());
    merged.check_successors().unwrap();
}

#[test]
fn states_follow_the_day() {
    let catalog = Catalog::from_json(&file(
        &[
            entry(
                "old",
                r#","deprecated_on":"2026-01-01","retires_on":"2026-06-01","successor":"mid""#,
            ),
            entry("mid", r#","retires_on":"2026-09-01","successor":"new""#),
            entry("new", ""),
        ]
        .join(","),
    ))
    .unwrap();
    let old = &catalog.model("old").unwrap().lifecycle;
    assert_eq!(old.state("2025-12-31"), State::Active);
    assert_eq!(old.state("2026-01-01"), State::Deprecated);
    assert_eq!(old.state("2026-05-31"), State::Deprecated);
    assert_eq!(
        old.state("2026-06-01"),
        State::Retired,
        "retired on the day"
    );
    // Announced retirement without a deprecation date: deprecated until then.
    assert_eq!(
        catalog.model("mid").unwrap().lifecycle.state("2020-01-01"),
        State::Deprecated
    );

    assert!(catalog.check_retired("old", "2026-05-31").is_ok());
    let error = catalog.check_retired("old", "2026-07-01").unwrap_err();
    assert_eq!(error.successor.as_deref(), Some("mid"));
    assert_eq!(
        error.to_string(),
        "model \"old\" was retired on 2026-06-01; use mid instead"
    );
    // The successor is retired too by then: the hint skips to one that serves.
    let error = catalog.check_retired("old", "2026-10-01").unwrap_err();
    assert_eq!(error.successor.as_deref(), Some("new"));
    assert!(catalog.check_retired("new", "2030-01-01").is_ok());
    assert!(catalog.check_retired("not-there", "2030-01-01").is_ok());
}

#[test]
fn builtin_retirements_name_a_serving_successor() {
    let catalog = Catalog::builtin().unwrap();
    let error = catalog
        .check_retired("claude-mythos-preview", CATALOG_DAY)
        .unwrap_err();
    assert_eq!(error.successor.as_deref(), Some("claude-mythos-5"));
    // Ids the repository's own tests route stay servable today.
    for id in [
        "claude-sonnet-4-5",
        "claude-sonnet-4-6",
        "claude-haiku-4-5",
        "gpt-4o",
        "gpt-4o-mini",
        "o4-mini",
        "gemini-2.5-flash",
        "gemini-2.5-pro",
        "mistral-large-latest",
        "mistral-small-latest",
        "codestral-latest",
        "deepseek-chat",
        "deepseek-reasoner",
        "sonar",
        "glm-4.6",
    ] {
        assert!(catalog.model(id).is_some(), "{id} is gone");
        assert!(
            catalog.check_retired(id, CATALOG_DAY).is_ok(),
            "{id} is retired"
        );
    }
}

#[test]
fn civil_dates() {
    assert_eq!(civil_date(0), "1970-01-01");
    assert_eq!(civil_date(11_016), "2000-02-29");
    assert_eq!(civil_date(20_788), "2026-12-01");
    assert_eq!(civil_date(-1), "1969-12-31");
}
