//! A key's last test is kept and listed; a key can be renamed, and a taken label is a 409
//! on `label`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::gateway;

#[tokio::test]
async fn a_tested_key_lists_its_outcome_and_a_renamed_key_its_label() {
    let gateway = gateway().await;
    let token = Some(gateway.token.as_str());
    let list = || async {
        let (status, _, keys) = gateway
            .send(Method::GET, "/api/v1/keys", token, &[], None)
            .await;
        assert_eq!(status, 200, "{keys}");
        keys["data"].as_array().unwrap().clone()
    };
    let keys = list().await;
    let id = keys[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(keys[0]["last_tested_at"], Value::Null);
    assert_eq!(keys[0]["last_test_outcome"], Value::Null);

    let (status, _, tested) = gateway
        .send(
            Method::POST,
            &format!("/api/v1/keys/{id}/test"),
            token,
            &[],
            Some("{}".into()),
        )
        .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["outcome"], "ok");
    let keys = list().await;
    let key = keys.iter().find(|k| k["id"] == id.as_str()).unwrap();
    assert_eq!(key["last_test_outcome"], "ok");
    let at = key["last_tested_at"].as_str().unwrap();
    assert!(at.ends_with('Z') && at.len() == 20, "{at}");

    // Rename.
    let path = format!("/api/v1/keys/{id}");
    let (status, _, renamed) = gateway
        .send(
            Method::PATCH,
            &path,
            token,
            &[],
            Some(json!({ "label": "primary" }).to_string()),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["label"], "primary");
    assert_eq!(renamed["last_test_outcome"], "ok");

    // A second key of the provider takes another label; taking the first's is a conflict.
    let (status, _, other) = gateway
        .send(
            Method::POST,
            "/api/v1/keys",
            token,
            &[],
            Some(
                json!({ "provider": "openai", "secret": "sk-other-0123456789abcdef", "label": "spare" })
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    let other_path = format!("/api/v1/keys/{}", other["id"].as_str().unwrap());
    let (status, _, conflict) = gateway
        .send(
            Method::PATCH,
            &other_path,
            token,
            &[],
            Some(json!({ "label": "primary", "enabled": false }).to_string()),
        )
        .await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["error"]["field"], "label");
    assert!(
        conflict["error"]["message"].as_str().unwrap().contains(&id),
        "{conflict}"
    );
    // Nothing else changed with the refused label.
    let keys = list().await;
    let spare = keys.iter().find(|k| k["id"] == other["id"]).unwrap();
    assert_eq!(spare["label"], "spare");
    assert_eq!(spare["enabled"], true);
    // A label that is no name is a 400 on `label`.
    let (status, _, bad) = gateway
        .send(
            Method::PATCH,
            &other_path,
            token,
            &[],
            Some(json!({ "label": "no spaces" }).to_string()),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["error"]["field"], "label");
    let (status, _, bad) = gateway
        .send(
            Method::PATCH,
            &other_path,
            token,
            &[],
            Some(json!({ "label": 7 }).to_string()),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
}
