//! A key's last live test and its label: who may record and rename, what is kept, what is
//! refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyroute_proto::vault::v1::*;
use keyroute_test_support::{TestVault, with_token};
use tonic::Code;

type Client = vault_service_client::VaultServiceClient<tonic::transport::Channel>;

fn key(owner: &str, provider: &str, label: &str) -> CreateCredentialRequest {
    let mut config = std::collections::HashMap::new();
    let secret = if provider == "custom" {
        config.insert(
            "base_url".to_owned(),
            "https://llm.example.com/v1".to_owned(),
        );
        String::new()
    } else {
        "sk-history-test-0123456789abcdef".to_owned()
    };
    CreateCredentialRequest {
        owner_id: owner.into(),
        provider: provider.into(),
        label: label.into(),
        secret,
        config,
        ..Default::default()
    }
}

async fn create(edge: &mut Client, request: CreateCredentialRequest, token: &str) -> Credential {
    edge.create_credential(with_token(request, token))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
}

fn record(id: &str, outcome: &str) -> RecordCredentialTestResultRequest {
    RecordCredentialTestResultRequest {
        credential_id: id.into(),
        outcome: outcome.into(),
    }
}

async fn audit_actions(edge: &mut Client, owner: &str, token: &str) -> Vec<String> {
    edge.list_audit_events(with_token(
        ListAuditEventsRequest {
            owner_id: owner.into(),
            ..Default::default()
        },
        token,
    ))
    .await
    .unwrap()
    .into_inner()
    .events
    .into_iter()
    .map(|event| event.action)
    .collect()
}

#[tokio::test]
async fn a_test_result_is_kept_on_the_key_for_those_who_manage_it() {
    let vault = TestVault::start().await;
    let (alice, alice_token) = vault.user_with_token("alice").await;
    let (bob, bob_token) = vault.user_with_token("bob").await;
    let (member, member_token) = vault.user_with_token("member").await;
    let org = vault.org("acme", &alice, &[(&member, Role::Member)]).await;
    let mut edge = vault.client("edge");
    let mine = create(&mut edge, key(&alice, "openai", ""), &alice_token).await;
    assert_eq!(mine.last_tested_at, None);
    assert_eq!(mine.last_test_outcome, "");

    let recorded = edge
        .record_credential_test_result(with_token(record(&mine.id, "key_invalid"), &alice_token))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    assert_eq!(recorded.last_test_outcome, "key_invalid");
    assert!(recorded.last_tested_at.is_some());
    // A test is not a change to the key.
    assert_eq!(recorded.updated_at, mine.updated_at);
    let listed = edge
        .list_credentials(with_token(
            ListCredentialsRequest {
                owner_id: alice.clone(),
            },
            &alice_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credentials;
    assert_eq!(listed[0].last_test_outcome, "key_invalid");
    assert_eq!(listed[0].last_tested_at, recorded.last_tested_at);
    assert!(
        audit_actions(&mut edge, &alice, &alice_token)
            .await
            .contains(&"credential.test_result".to_owned())
    );

    // Another user cannot record on my key: for Bob it does not exist.
    let error = edge
        .record_credential_test_result(with_token(record(&mine.id, "ok"), &bob_token))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound, "{error:?}");
    assert_eq!(error.message(), format!("credential {} not found", mine.id));
    // An unknown outcome is refused.
    let error = edge
        .record_credential_test_result(with_token(record(&mine.id, "fine"), &alice_token))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    // The router may not call it, a forwarded token is required.
    let error = vault
        .client("router")
        .record_credential_test_result(record(&mine.id, "ok"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    let error = edge
        .record_credential_test_result(record(&mine.id, "ok"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);

    // A member of the org sees its keys but may not manage them, so may not record.
    let org_key = create(&mut edge, key(&org, "openai", ""), &alice_token).await;
    let error = edge
        .record_credential_test_result(with_token(record(&org_key.id, "ok"), &member_token))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied, "{error:?}");
    let error = edge
        .record_credential_test_result(with_token(record(&org_key.id, "ok"), &bob_token))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    let owner_recorded = edge
        .record_credential_test_result(with_token(record(&org_key.id, "ok"), &alice_token))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    assert_eq!(owner_recorded.last_test_outcome, "ok");
    let _ = bob;
}

#[tokio::test]
async fn a_rename_follows_the_label_rules() {
    let vault = TestVault::start().await;
    let (alice, alice_token) = vault.user_with_token("alice").await;
    let (_bob, bob_token) = vault.user_with_token("bob").await;
    let (member, member_token) = vault.user_with_token("member").await;
    let org = vault.org("acme", &alice, &[(&member, Role::Member)]).await;
    let mut edge = vault.client("edge");
    let first = create(&mut edge, key(&alice, "custom", "first"), &alice_token).await;
    let second = create(&mut edge, key(&alice, "custom", "second"), &alice_token).await;
    let rename = |id: &str, label: &str| RenameCredentialRequest {
        credential_id: id.into(),
        label: label.into(),
    };

    let renamed = edge
        .rename_credential(with_token(rename(&first.id, " primary "), &alice_token))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    assert_eq!(renamed.label, "primary");
    assert!(
        audit_actions(&mut edge, &alice, &alice_token)
            .await
            .contains(&"credential.rename".to_owned())
    );
    // Labels are unique per owner and provider; the answer names the holder.
    let error = edge
        .rename_credential(with_token(rename(&first.id, "second"), &alice_token))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::AlreadyExists);
    assert!(error.message().contains(&second.id), "{}", error.message());
    // A custom endpoint needs its name; labels are names.
    for bad in ["", "has space", "a/b"] {
        let error = edge
            .rename_credential(with_token(rename(&first.id, bad), &alice_token))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument, "{bad:?}");
        assert!(error.message().starts_with("label"), "{}", error.message());
    }
    // The same label again is no change.
    let same = edge
        .rename_credential(with_token(rename(&first.id, "primary"), &alice_token))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    assert_eq!(same.updated_at, renamed.updated_at);
    // Others cannot rename: hidden keys are not found, members are refused.
    let error = edge
        .rename_credential(with_token(rename(&first.id, "mine"), &bob_token))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    let org_key = create(&mut edge, key(&org, "openai", ""), &alice_token).await;
    let error = edge
        .rename_credential(with_token(rename(&org_key.id, "team"), &member_token))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    // A key without a label may get one, and lose it again.
    let labelled = edge
        .rename_credential(with_token(rename(&org_key.id, "team"), &alice_token))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    assert_eq!(labelled.label, "team");
    let cleared = edge
        .rename_credential(with_token(rename(&org_key.id, ""), &alice_token))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    assert_eq!(cleared.label, "");
}
