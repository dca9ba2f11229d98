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
