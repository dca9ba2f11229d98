//! The catalog in use: a retired model is refused through the router with its successor
//! named, and the operator's catalog file is reloaded when it changes, a bad file leaving the
//! catalog in use as it was.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keyroute_proto::contract::header;
use keyroute_router::catalog::{LiveCatalog, Reloads};
use support::{ask, stack};
use tokio::sync::watch;
use tonic::Code;

/// A bound on waiting for a reload event, so that a broken watcher fails the test instead
/// of hanging it; the test proceeds on the event, never on the time.
const AT_MOST: Duration = Duration::from_secs(20);

fn operator_file(models: &str) -> String {
    format!(
        r#"{{"models":[{{"id":"{models}","source":"test","successor":"gpt-5.5","offers":[{{"provider":"openai","upstream":"{models}","input_per_million":1,"output_per_million":2}}]}}]}}"#
    )
}

struct TempFile(PathBuf);

impl TempFile {
    fn new(text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("keyroute-catalog-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("catalog.json");
        std::fs::write(&path, text).unwrap();
        Self(path)
    }

    /// Replaces the file the way operators and ConfigMaps do: a new file renamed over it.
    fn replace(&self, text: &str) {
        let next = self.0.with_extension("next");
        std::fs::write(&next, text).unwrap();
        std::fs::rename(&next, &self.0).unwrap();
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn next(reloads: &mut watch::Receiver<Reloads>) -> Reloads {
    tokio::time::timeout(AT_MOST, reloads.changed())
        .await
        .expect("a reload within the bound")
        .unwrap();
    *reloads.borrow_and_update()
}

#[tokio::test]
async fn the_operators_file_reloads_without_a_restart_and_a_bad_one_changes_nothing() {
    let file = TempFile::new(&operator_file("ops-model-one"));
    let live = Arc::new(LiveCatalog::open(Some(&file.0)).unwrap());
    assert!(live.resolve("ops-model-one").is_ok());
    assert!(
        live.resolve("gpt-5.5").is_ok(),
        "merged with the built-in catalog"
    );
    assert!(live.resolve("ops-model-two").is_err());
    let mut reloads = live.subscribe();
    let watcher = live.spawn_watcher(Duration::from_millis(20)).unwrap();

    file.replace(&operator_file("ops-model-two"));
    assert_eq!(
        next(&mut reloads).await,
        Reloads {
            loaded: 1,
            failed: 0
        }
    );
    assert!(
        live.resolve("ops-model-two").is_ok(),
        "the new model resolves"
    );
    assert!(
        live.resolve("ops-model-one").is_err(),
        "the old file's model is gone"
    );

    // Not JSON, then valid JSON naming an unknown successor: both refused whole.
    file.replace("{ not json");
    assert_eq!(
        next(&mut reloads).await,
        Reloads {
            loaded: 1,
            failed: 1
        }
    );
    file.replace(&operator_file("ops-model-three").replace("gpt-5.5", "no-such-model"));
    assert_eq!(
        next(&mut reloads).await,
        Reloads {
            loaded: 1,
            failed: 2
        }
    );
    assert!(
        live.resolve("ops-model-two").is_ok(),
        "the catalog in use stays"
    );
    assert!(
        live.resolve("ops-model-three").is_err(),
        "nothing half-loaded"
    );

    file.replace(&operator_file("ops-model-four"));
    assert_eq!(
        next(&mut reloads).await,
        Reloads {
            loaded: 2,
            failed: 2
        }
    );
    assert!(live.resolve("ops-model-four").is_ok());
    watcher.abort();
}

#[test]
fn an_unchanged_file_is_not_reloaded_and_startup_refuses_a_bad_one() {
    let file = TempFile::new(&operator_file("ops-model-one"));
    let live = LiveCatalog::open(Some(&file.0)).unwrap();
    assert!(!live.poll(), "nothing changed");
    file.replace(&operator_file("ops-model-one"));
    assert!(!live.poll(), "a new timestamp, the same contents");
    assert_eq!(live.reloads(), Reloads::default());

    let bad = TempFile::new("[]");
    let error = LiveCatalog::open(Some(&bad.0)).unwrap_err();
    assert!(error.to_string().contains("catalog.json"), "{error}");
    assert!(
        LiveCatalog::open(None).is_ok(),
        "the built-in catalog alone"
    );
}

#[test]
fn retirement_is_decided_by_the_clock_at_request_time() {
    let later = LiveCatalog::open(None)
        .unwrap()
        .with_clock(Arc::new(|| "2027-01-14".to_owned()));
    let error = later.check_retired("gpt-4.1").unwrap_err();
    assert_eq!(
        error.to_string(),
        "model \"gpt-4.1\" was retired on 2027-01-14; use gpt-6-luna instead"
    );
    let earlier = LiveCatalog::open(None)
        .unwrap()
        .with_clock(Arc::new(|| "2027-01-13".to_owned()));
    assert!(
        earlier.check_retired("gpt-4.1").is_ok(),
        "deprecated, still served"
    );
}

#[tokio::test]
async fn a_retired_model_is_refused_through_the_router_naming_its_successor() {
    let stack = stack().await;
    for model in ["claude-mythos-preview", "anthropic/claude-mythos-preview"] {
        let error = stack.complete(ask(model, "hello")).await.unwrap_err();
        assert_eq!(error.code(), Code::NotFound, "{model}");
        assert_eq!(
            error.message(),
            "model \"claude-mythos-preview\" was retired on 2026-06-30; use claude-mythos-5 instead",
            "{model}"
        );
    }
    assert!(
        stack.mock.requests_for("anthropic").is_empty(),
        "no provider was asked"
    );
}

#[tokio::test]
async fn a_deprecated_model_is_served_with_a_notice_naming_its_successor() {
    let stack = stack().await;
    let notice = |metadata: &tonic::metadata::MetadataMap, name: &str| {
        metadata
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    // Deprecated on 2026-09-29 (still served on Bedrock until 2027-04-08).
    let served = stack
        .complete(ask("claude-sonnet-4-5", "hello"))
        .await
        .unwrap();
    let metadata = served.metadata();
    assert_eq!(
        notice(metadata, header::MODEL_DEPRECATED).as_deref(),
        Some("2026-09-29")
    );
    assert_eq!(
        notice(metadata, header::MODEL_SUCCESSOR).as_deref(),
        Some("claude-sonnet-5-5")
    );
    // A current model carries no notice.
    let served = stack
        .complete(ask("claude-haiku-4-5", "hello"))
        .await
        .unwrap();
    assert_eq!(notice(served.metadata(), header::MODEL_DEPRECATED), None);
    assert_eq!(notice(served.metadata(), header::MODEL_SUCCESSOR), None);
}
