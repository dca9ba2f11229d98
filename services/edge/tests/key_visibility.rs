//! A key the caller may not see does not exist for them: PATCH, DELETE and test on another
//! user's key, on a key of an org they are not in, or on a platform key answer exactly as an
//! unknown id does (404, same body, no owner or org named). A member who sees an org key but
//! may not change it gets a 403.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyroute_proto::vault::v1::{CreateCredentialRequest, ListCredentialsRequest, Role};
use keyroute_test_support::with_token;
use reqwest::Method;
use serde_json::{Value, json};
use support::{Gateway, gateway};

const UNKNOWN: &str = "cred_0000000000000000000000000000dead";

async fn create_key(gateway: &Gateway, owner: &str, token: &str, secret: &str) -> String {
    gateway
        .vault
        .client("edge")
        .create_credential(with_token(
            CreateCredentialRequest {
                owner_id: owner.into(),
                provider: "openai".into(),
                secret: secret.into(),
                ..Default::default()
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .id
}

/// Every call on `/api/v1/keys/{id}` as the test user: (what, status, body).
async fn every_call(gateway: &Gateway, id: &str) -> Vec<(&'static str, u16, Value)> {
    let path = format!("/api/v1/keys/{id}");
    let calls: [(&str, Method, String, Option<Value>); 6] = [
        (
            "disable",
            Method::PATCH,
            path.clone(),
            Some(json!({ "enabled": false })),
        ),
        (
            "new secret",
            Method::PATCH,
            path.clone(),
            Some(json!({ "secret": "sk-probe-0123456789abcdef" })),
        ),
        (
            "new secret and config",
            Method::PATCH,
            path.clone(),
            Some(json!({ "secret": "sk-probe-0123456789abcdef", "config": {} })),
        ),
        (
            "bad secret",
            Method::PATCH,
            path.clone(),
            Some(json!({ "secret": "sk-bad\nsk-bad", "config": {} })),
        ),
        ("delete", Method::DELETE, path.clone(), None),
        ("test", Method::POST, format!("{path}/test"), None),
    ];
    let mut answers = Vec::new();
    for (what, method, path, body) in calls {
        let (status, _, body) = gateway
            .send(
                method,
                &path,
                Some(&gateway.token),
                &[],
                body.map(|b| b.to_string()),
            )
            .await;
        answers.push((what, status, body));
    }
    answers
}

/// The answers for `id` with `id` written as the unknown id, to compare word for word.
fn as_unknown(answers: &[(&'static str, u16, Value)], id: &str) -> Vec<(&'static str, u16, Value)> {
    answers
        .iter()
        .map(|(what, status, body)| {
            let text = body.to_string().replace(id, UNKNOWN);
            (*what, *status, serde_json::from_str(&text).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn keys_the_caller_may_not_see_are_404_like_unknown_ids_and_visible_ones_403() {
    let gateway = gateway().await;
    let vault = &gateway.vault;
    let (other, other_token) = vault.user_with_token("someone-else").await;
    let hidden_org = vault.org("Hidden Org Name", &other, &[]).await;
    let team = vault
        .org("Team Org Name", &other, &[(&gateway.user, Role::Member)])
        .await;
    let personal = create_key(&gateway, &other, &other_token, "sk-other-0123456789").await;
    let hidden = create_key(&gateway, &hidden_org, &other_token, "sk-hidden-0123456789").await;
    let team_key = create_key(&gateway, &team, &other_token, "sk-team-0123456789").await;
    let platform_key = vault
        .client("admin")
        .list_credentials(ListCredentialsRequest {
            owner_id: "platform".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .credentials[0]
        .id
        .clone();

    let unknown = every_call(&gateway, UNKNOWN).await;
    for (what, status, body) in &unknown {
        assert_eq!(*status, 404, "{what}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{what}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(UNKNOWN));
    }
    for id in [&personal, &hidden, &platform_key] {
        let answers = every_call(&gateway, id).await;
        assert_eq!(as_unknown(&answers, id), unknown, "{id}");
        let text = format!("{answers:?}");
        for name in [
            &other,
            &hidden_org,
            &team,
            "Hidden Org Name",
            "Team Org Name",
            "platform",
        ] {
            assert!(!text.contains(name), "{name} in {text}");
        }
    }

    // The user is a plain member of the team org: they see its key, and may test it (the
    // mock does not know it), but not change it.
    let answers = every_call(&gateway, &team_key).await;
    for (what, status, body) in &answers {
        // Roles are checked before the input: a bad secret gets the same 403.
        let expected = if *what == "test" { 200 } else { 403 };
        assert_eq!(*status, expected, "{what}: {body}");
        if *status == 403 {
            assert_eq!(body["error"]["code"], "permission_denied", "{body}");
        }
    }
    assert_eq!(answers[5].2["outcome"], "key_invalid", "{:?}", answers[5]);

    // Nothing changed: the other user's keys are all there, enabled, with their fingerprints.
    for (owner, count) in [(&other, 1), (&hidden_org, 1), (&team, 1)] {
        let keys = vault
            .client("edge")
            .list_credentials(with_token(
                ListCredentialsRequest {
                    owner_id: owner.clone(),
                },
                &other_token,
            ))
            .await
            .unwrap()
            .into_inner()
            .credentials;
        assert_eq!(keys.len(), count, "{owner}");
        assert!(keys.iter().all(|k| k.enabled), "{owner}");
        assert!(keys[0].fingerprint.ends_with("6789"), "{owner}");
    }
}
