//! Key order on a running router against a real vault: the personal key, then the org's,
//! then the platform's; each change made in the vault takes effect within a second, and a
//! provider disabled in the caller's settings is never used.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use keyroute_proto::router::v1::*;
use keyroute_proto::vault::v1::{
    CreateCredentialRequest, FallbackPolicy, ProviderMode, SetCredentialEnabledRequest,
    SetProviderSettingRequest,
};
use keyroute_test_support::with_token;
use support::{Stack, ask, stack};

/// Who answers `gpt-4o-mini` for the stack's user right now.
async fn served(stack: &Stack) -> Result<(KeySource, String), tonic::Status> {
    let reply = stack
        .client("edge")
        .complete(with_token(
            CompleteRequest {
                request: Some(ask("gpt-4o-mini", "who answers")),
            },
            &stack.token,
        ))
        .await?
        .into_inner()
        .response
        .unwrap();
    let served = reply.served_by.unwrap();
    Ok((served.key_source(), served.credential_fingerprint))
}

/// Asks until the answer changes from `before`, which must happen within a second.
async fn next_change(
    stack: &Stack,
    before: &Result<(KeySource, String), tonic::Status>,
) -> Result<(KeySource, String), tonic::Status> {
    let changed_at = Instant::now();
    loop {
        let now = served(stack).await;
        let same = match (&now, before) {
            (Ok(a), Ok(b)) => a == b,
            (Err(a), Err(b)) => a.code() == b.code(),
            _ => false,
        };
        if !same {
            return now;
        }
        assert!(
            changed_at.elapsed() < Duration::from_secs(1),
            "the router still answers {now:?} a second after the change"
        );
    }
}

async fn add_key(stack: &Stack, owner: &str, secret: &str) -> String {
    stack.mock.add_key("openai", secret);
    stack
        .vault
        .client("admin")
        .create_credential(CreateCredentialRequest {
            owner_id: owner.into(),
            provider: "openai".into(),
            secret: secret.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .id
}

async fn disable(stack: &Stack, credential: &str) {
    stack
        .vault
        .client("admin")
        .set_credential_enabled(SetCredentialEnabledRequest {
            credential_id: credential.into(),
            enabled: false,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn personal_then_org_then_managed_and_changes_apply_within_a_second() {
    let stack = stack().await;
    let org = stack.vault.org("acme", &stack.user, &[]).await;
    let org_key = add_key(&stack, &org, "sk-org-openai-000000001111").await;
    add_key(&stack, "platform", "sk-platform-openai-00002222").await;

    let personal = served(&stack).await;
    assert_eq!(
        personal.as_ref().unwrap(),
        &(KeySource::Byok, "openai:…6789".to_owned())
    );

    disable(&stack, &stack.credential).await;
    let from_org = next_change(&stack, &personal).await;
    assert_eq!(
        from_org.as_ref().unwrap(),
        &(KeySource::Byok, "openai:…1111".to_owned())
    );

    disable(&stack, &org_key).await;
    let managed = next_change(&stack, &from_org).await;
    assert_eq!(
        managed.as_ref().unwrap(),
        &(KeySource::Managed, "openai:…2222".to_owned())
    );

    // The caller turns OpenAI off: no key of any kind serves it.
    stack
        .vault
        .client("admin")
        .set_provider_setting(SetProviderSettingRequest {
            owner_id: stack.user.clone(),
            provider: "openai".into(),
            mode: ProviderMode::Disabled as i32,
            fallback_policy: FallbackPolicy::WhenNoKey as i32,
        })
        .await
        .unwrap();
    let refused = next_change(&stack, &managed).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_disabled_orgs_keys_leave_its_members_within_a_second_and_return_when_enabled() {
    use keyroute_proto::vault::v1::{Role, SetPrincipalDisabledRequest};
    let stack = stack().await;
    let (member, token) = stack.vault.user_with_token("member").await;
    let org = stack
        .vault
        .org(
            "acme-disable",
            &stack.user,
            &[(member.as_str(), Role::Member)],
        )
        .await;
    add_key(&stack, &org, "sk-org-openai-000000009999").await;
    let ask_once = || async {
        stack
            .client("edge")
            .complete(with_token(
                CompleteRequest {
                    request: Some(ask("gpt-4o-mini", "whose key")),
                },
                &token,
            ))
            .await
            .map(|reply| reply.into_inner().response.unwrap().served_by.unwrap())
    };
    let served = ask_once().await.unwrap();
    assert_eq!(served.credential_fingerprint, "openai:…9999");

    let set_disabled = |disabled: bool| {
        let mut admin = stack.vault.client("admin");
        let org = org.clone();
        async move {
            admin
                .set_principal_disabled(SetPrincipalDisabledRequest {
                    principal_id: org,
                    disabled,
                })
                .await
                .unwrap();
        }
    };
    set_disabled(true).await;
    let changed_at = Instant::now();
    loop {
        match ask_once().await {
            Err(status) => {
                assert!(status.message().contains("no enabled key"), "{status:?}");
                break;
            }
            Ok(_) => assert!(
                changed_at.elapsed() < Duration::from_secs(1),
                "the disabled org's key still serves a second later"
            ),
        }
    }

    set_disabled(false).await;
    let changed_at = Instant::now();
    while ask_once().await.is_err() {
        assert!(
            changed_at.elapsed() < Duration::from_secs(1),
            "the enabled org's key is still missing a second later"
        );
    }
}
