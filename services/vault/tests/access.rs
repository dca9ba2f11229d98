//! Who may call what: service identities from mTLS, and owner roles for org keys.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyroute_proto::vault::v1::*;
use keyroute_test_support::{TestPki, TestVault, with_token};
use tonic::Code;

const KEY: &str = "sk-access-test-0123456789abcdef";

fn openai(owner: &str) -> CreateCredentialRequest {
    CreateCredentialRequest {
        owner_id: owner.into(),
        provider: "openai".into(),
        secret: KEY.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn services_are_admitted_by_identity() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("ada").await;

    // The edge may not lease, the router may not manage.
    let error = vault
        .client("edge")
        .lease_credentials(LeaseCredentialsRequest {
            principal_id: user.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied, "{error:?}");
    assert!(
        error
            .message()
            .contains("spiffe://keyroute/edge may not call LeaseCredentials")
    );
    let error = vault
        .client("router")
        .create_credential(with_token(openai(&user), &token))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    let error = vault
        .client("edge")
        .watch_revocations(WatchRevocationsRequest {})
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    // Internal platforms talk to the router, never the vault.
    let error = vault
        .client("platform/billing")
        .authenticate(AuthenticateRequest {
            token: token.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    // Only admin manages identities.
    let error = vault
        .client("edge")
        .create_user(CreateUserRequest {
            name: "x".into(),
            email: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);

    // The same calls from the right identities succeed.
    vault
        .client("edge")
        .create_credential(with_token(openai(&user), &token))
        .await
        .unwrap();
    let lease = vault
        .client("router")
        .lease_credentials(LeaseCredentialsRequest { principal_id: user })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lease.credentials.len(), 1);
    assert_eq!(lease.credentials[0].secret, KEY);
}

#[tokio::test]
async fn connections_without_a_trusted_certificate_fail() {
    let vault = TestVault::start().await;
    let other = TestPki::new();
    // A client certificate from another CA (trusting ours) is refused in the handshake.
    let mut foreign = other.paths("admin");
    foreign.ca = vault.pki.paths("admin").ca;
    let tls = keyroute_tls::ClientTls::from_files(foreign).unwrap();
    let channel = keyroute_tls::channel(
        &vault.addr.to_string(),
        tls,
        keyroute_tls::Identity::parse("vault").unwrap(),
    )
    .unwrap();
    let error = list_principals_error(channel).await;
    // With TLS 1.3 the server's rejection arrives as an alert on the first read.
    assert!(
        matches!(error.code(), Code::Unavailable | Code::Unknown),
        "{error:?}"
    );
    assert!(format!("{error:?}").contains("alert"), "{error:?}");
    // A client certificate with no identity cannot even be loaded as client material, and
    // one with two identities likewise; the TLS crate's tests cover the raw handshakes.
    let none = vault.pki.issue_with_uris("anonymous", &[]);
    assert!(keyroute_tls::ClientTls::from_files(none).is_err());
}

async fn list_principals_error(channel: tonic::transport::Channel) -> tonic::Status {
    vault_service_client::VaultServiceClient::new(channel)
        .list_principals(ListPrincipalsRequest::default())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn edge_calls_need_a_valid_token() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("bob").await;
    let mut edge = vault.client("edge");
    let error = edge.create_credential(openai(&user)).await.unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
    let error = edge
        .create_credential(with_token(openai(&user), "kr_nottherealtoken"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
    let info = vault
        .client("admin")
        .list_tokens(ListTokensRequest {
            principal_id: user.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    vault
        .client("admin")
        .revoke_token(RevokeTokenRequest {
            token_id: info.tokens[0].id.clone(),
        })
        .await
        .unwrap();
    let error = edge
        .create_credential(with_token(openai(&user), &token))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
    assert!(error.message().contains("revoked"));
    let error = vault
        .client("router")
        .authenticate(AuthenticateRequest { token })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn authenticate_returns_principal_and_memberships() {
    let vault = TestVault::start().await;
    let (owner, owner_token) = vault.user_with_token("olga").await;
    let org = vault.org("acme", &owner, &[]).await;
    let reply = vault
        .client("router")
        .authenticate(AuthenticateRequest { token: owner_token })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.principal.unwrap().id, owner);
    assert_eq!(reply.memberships.len(), 1);
    assert_eq!(reply.memberships[0].org_id, org);
    assert_eq!(reply.memberships[0].role(), Role::Owner);
}

#[tokio::test]
async fn only_owners_and_billing_managers_change_org_keys_and_each_change_is_audited_once() {
    let vault = TestVault::start().await;
    let (owner, owner_token) = vault.user_with_token("owner").await;
    let (billing, billing_token) = vault.user_with_token("billing").await;
    let (member, member_token) = vault.user_with_token("member").await;
    let (_outsider, outsider_token) = vault.user_with_token("outsider").await;
    let org = vault
        .org(
            "acme",
            &owner,
            &[(&billing, Role::BillingManager), (&member, Role::Member)],
        )
        .await;
    let mut edge = vault.client("edge");

    // A member can neither add...
    let error = edge
        .create_credential(with_token(openai(&org), &member_token))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    assert!(
        error.message().contains("role member"),
        "{}",
        error.message()
    );
    assert!(error.message().contains("owner or billing_manager"));
    // An outsider: the org does not exist for them, as an unknown owner does not.
    let error = edge
        .create_credential(with_token(openai(&org), &outsider_token))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    let unknown = edge
        .create_credential(with_token(openai("org_unknown"), &outsider_token))
        .await
        .unwrap_err();
    assert_eq!(
        error.message().replace(&org, "org_unknown"),
        unknown.message()
    );
    assert!(
        edge.list_credentials(with_token(
            ListCredentialsRequest {
                owner_id: org.clone()
            },
            &member_token
        ))
        .await
        .unwrap()
        .into_inner()
        .credentials
        .is_empty()
    );

    for (who, token) in [("owner", &owner_token), ("billing manager", &billing_token)] {
        let created = edge
            .create_credential(with_token(openai(&org), token))
            .await
            .unwrap_or_else(|e| panic!("{who}: {e}"));
        let id = created.into_inner().credential.unwrap().id;

        // ...nor update, disable or delete it.
        let update = UpdateCredentialSecretRequest {
            credential_id: id.clone(),
            secret: "sk-new-0123456789abcdef".into(),
            ..Default::default()
        };
        let disable = SetCredentialEnabledRequest {
            credential_id: id.clone(),
            enabled: false,
        };
        let delete = DeleteCredentialRequest {
            credential_id: id.clone(),
        };
        assert_eq!(
            edge.update_credential_secret(with_token(update.clone(), &member_token))
                .await
                .unwrap_err()
                .code(),
            Code::PermissionDenied
        );
        assert_eq!(
            edge.set_credential_enabled(with_token(disable.clone(), &member_token))
                .await
                .unwrap_err()
                .code(),
            Code::PermissionDenied
        );
        assert_eq!(
            edge.delete_credential(with_token(delete.clone(), &member_token))
                .await
                .unwrap_err()
                .code(),
            Code::PermissionDenied
        );
        assert_eq!(
            vault.store_audit_count(&id).await,
            1,
            "{who}: only the create is audited so far"
        );

        edge.update_credential_secret(with_token(update, token))
            .await
            .unwrap();
        assert_eq!(vault.store_audit_count(&id).await, 2);
        let disabled = edge
            .set_credential_enabled(with_token(disable, token))
            .await
            .unwrap()
            .into_inner();
        assert!(!disabled.credential.unwrap().enabled);
        assert_eq!(vault.store_audit_count(&id).await, 3);
        edge.delete_credential(with_token(delete, token))
            .await
            .unwrap();
        assert_eq!(vault.store_audit_count(&id).await, 4);
    }

    let audit = edge
        .list_audit_events(with_token(
            ListAuditEventsRequest {
                owner_id: org.clone(),
                ..Default::default()
            },
            &owner_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let actions: Vec<&str> = audit
        .events
        .iter()
        .map(|event| event.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "credential.delete",
            "credential.disable",
            "credential.update",
            "credential.create",
            "credential.delete",
            "credential.disable",
            "credential.update",
            "credential.create",
            "member.put",
            "member.put",
            "org.create"
        ]
    );
    assert!(
        audit
            .events
            .iter()
            .all(|event| !event.request_id.is_empty())
    );
    assert_eq!(audit.events[0].actor, billing);
    assert_eq!(audit.events[0].peer, "spiffe://keyroute/edge");
    // Members do not read the org's audit log.
    let error = edge
        .list_audit_events(with_token(
            ListAuditEventsRequest {
                owner_id: org,
                ..Default::default()
            },
            &member_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn users_manage_only_their_own_personal_keys() {
    let vault = TestVault::start().await;
    let (alice, alice_token) = vault.user_with_token("alice").await;
    let (bob, bob_token) = vault.user_with_token("bob").await;
    let mut edge = vault.client("edge");
    let id = edge
        .create_credential(with_token(openai(&alice), &alice_token))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .id;
    // Alice does not exist for Bob as an owner, nor does the platform: the same answer as
    // an unknown owner.
    let unknown = edge
        .create_credential(with_token(openai("usr_unknown"), &bob_token))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    for owner in [alice.as_str(), "platform"] {
        let error = edge
            .create_credential(with_token(openai(owner), &bob_token))
            .await
            .unwrap_err();
        assert_eq!(
            (error.code(), error.message().replace(owner, "usr_unknown")),
            (Code::NotFound, unknown.message().to_owned()),
            "{owner}"
        );
    }
    // Alice's key does not exist for Bob: the same answer as an unknown id.
    let error = edge
        .delete_credential(with_token(
            DeleteCredentialRequest {
                credential_id: id.clone(),
            },
            &bob_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(error.message(), format!("credential {id} not found"));
    assert_eq!(
        edge.list_credentials(with_token(
            ListCredentialsRequest { owner_id: bob },
            &bob_token
        ))
        .await
        .unwrap()
        .into_inner()
        .credentials
        .len(),
        0
    );
    // The operator manages managed keys.
    vault
        .client("admin")
        .create_credential(openai("platform"))
        .await
        .unwrap();
}

/// Calls each key RPC on `id` as `token`; returns (code, message) of each answer (Ok as None).
async fn try_each_key_call(
    edge: &mut vault_service_client::VaultServiceClient<tonic::transport::Channel>,
    id: &str,
    token: &str,
) -> Vec<Option<(Code, String)>> {
    let id = id.to_owned();
    let outcome = |result: Result<(), tonic::Status>| {
        result
            .err()
            .map(|status| (status.code(), status.message().to_owned()))
    };
    let get = GetCredentialRequest {
        credential_id: id.clone(),
    };
    let update = UpdateCredentialSecretRequest {
        credential_id: id.clone(),
        secret: "sk-probe-0123456789abcdef".into(),
        ..Default::default()
    };
    // A bad secret too: validation must not tell a hidden key from an unknown id.
    let bad_update = UpdateCredentialSecretRequest {
        credential_id: id.clone(),
        secret: "sk-bad-0123456789\nsk-bad-0123456789".into(),
        ..Default::default()
    };
    let disable = SetCredentialEnabledRequest {
        credential_id: id.clone(),
        enabled: false,
    };
    let delete = DeleteCredentialRequest {
        credential_id: id.clone(),
    };
    vec![
        outcome(edge.get_credential(with_token(get, token)).await.map(drop)),
        outcome(
            edge.update_credential_secret(with_token(update, token))
                .await
                .map(drop),
        ),
        outcome(
            edge.update_credential_secret(with_token(bad_update, token))
                .await
                .map(drop),
        ),
        outcome(
            edge.set_credential_enabled(with_token(disable, token))
                .await
                .map(drop),
        ),
        outcome(
            edge.delete_credential(with_token(delete, token))
                .await
                .map(drop),
        ),
    ]
}

#[tokio::test]
async fn keys_the_caller_may_not_see_answer_exactly_like_unknown_ids() {
    let vault = TestVault::start().await;
    let (alice, alice_token) = vault.user_with_token("alice").await;
    let (bob, bob_token) = vault.user_with_token("bob").await;
    let (_carol, carol_token) = vault.user_with_token("carol").await;
    // Alice owns "Secret Project"; Bob is a plain member of "Shared", which Alice owns too.
    let secret_org = vault.org("Secret Project", &alice, &[]).await;
    let shared = vault.org("Shared", &alice, &[(&bob, Role::Member)]).await;
    let mut edge = vault.client("edge");
    let create = |owner: String| {
        let (mut edge, token) = (edge.clone(), alice_token.clone());
        async move {
            edge.create_credential(with_token(openai(&owner), &token))
                .await
                .unwrap()
                .into_inner()
                .credential
                .unwrap()
                .id
        }
    };
    let personal = create(alice.clone()).await;
    let hidden_org_key = create(secret_org.clone()).await;
    let shared_key = create(shared.clone()).await;
    let platform_key = vault
        .client("admin")
        .create_credential(openai("platform"))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .id;

    // What an unknown id gets, with the id swapped in.
    let unknown = "cred_0000000000000000000000000000dead";
    let expected = |id: &str| -> Vec<Option<(Code, String)>> {
        let unknown_answers =
            vec![Some((Code::NotFound, format!("credential {unknown} not found"))); 5];
        unknown_answers
            .into_iter()
            .map(|answer| answer.map(|(code, message)| (code, message.replace(unknown, id))))
            .collect()
    };
    assert_eq!(
        try_each_key_call(&mut edge, unknown, &bob_token).await,
        expected(unknown)
    );
    for (who, token) in [("bob", &bob_token), ("carol", &carol_token)] {
        for id in [&personal, &hidden_org_key, &platform_key] {
            let answers = try_each_key_call(&mut edge, id, token).await;
            assert_eq!(answers, expected(id), "{who} on {id}");
            for (_, message) in answers.iter().flatten() {
                for name in [&alice, &secret_org, &shared, &"Secret Project".to_owned()] {
                    assert!(!message.contains(name.as_str()), "{message}");
                }
            }
        }
    }
    // Carol is in no org: the shared key is hidden from her too.
    assert_eq!(
        try_each_key_call(&mut edge, &shared_key, &carol_token).await,
        expected(&shared_key)
    );
    // Bob sees the shared org's key but may not change it: a 403 is right there.
    let answers = try_each_key_call(&mut edge, &shared_key, &bob_token).await;
    assert_eq!(answers[0], None, "a member reads the org's key");
    for answer in &answers[1..] {
        let (code, message) = answer.clone().unwrap();
        assert_eq!(code, Code::PermissionDenied, "{message}");
        assert!(message.contains("owner or billing_manager"), "{message}");
    }
    // Nothing was changed or audited by the refused calls.
    for id in [&personal, &hidden_org_key, &shared_key, &platform_key] {
        assert_eq!(
            vault.store_audit_count(id).await,
            1,
            "{id}: only its create"
        );
    }
    let lease = vault
        .client("router")
        .lease_credentials(LeaseCredentialsRequest {
            principal_id: alice.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lease.credentials.len(), 3);
    assert!(
        lease
            .credentials
            .iter()
            .all(|c| c.credential.as_ref().unwrap().enabled)
    );
    // The owner and the operator still do everything.
    let owner_answers = try_each_key_call(&mut edge, &personal, &alice_token).await;
    assert!(
        owner_answers
            .iter()
            .enumerate()
            .all(|(i, answer)| if i == 2 {
                answer
                    .as_ref()
                    .is_some_and(|(code, _)| *code == Code::InvalidArgument)
            } else {
                answer.is_none()
            }),
        "{owner_answers:?}"
    );
}
