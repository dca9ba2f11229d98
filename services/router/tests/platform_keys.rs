//! Key management for internal platforms: a `platform/acme` client calls
//! `keyroute.vault.v1.VaultService` on the router's port, forwarding its users' gateway
//! tokens, and gets exactly the edge's authorization for them (own keys; org keys read by
//! members and changed by owners and billing managers; everything else not found), with the
//! platform named as the channel in the audit log. Key tests go through `TestCredential` and
//! are recorded as the edge's are. Rate limits pass through as the rest does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyroute_proto::router::v1::{TestCredentialRequest, TestOutcome};
use keyroute_proto::vault::v1::*;
use keyroute_test_support::with_token;
use support::platform::{ACME_CHANNEL, UNKNOWN, code, key, people, through_router};
use support::stack;
use tonic::Code;

#[tokio::test]
async fn a_principal_manages_their_own_keys_settings_and_money() {
    let stack = stack().await;
    let mut acme = through_router(&stack, "platform/acme");

    // The key's owner: everything on their own keys, settings and money.
    let own = &stack.token;
    let mine = acme
        .create_credential(with_token(
            key(&stack.user, "mistral", "mistral-own-0123456789abcdef"),
            own,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    assert_eq!(mine.owner_id, stack.user);
    let listed = acme
        .list_credentials(with_token(
            ListCredentialsRequest {
                owner_id: stack.user.clone(),
            },
            own,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.credentials.len(), 2);
    let renamed = acme
        .rename_credential(with_token(
            RenameCredentialRequest {
                credential_id: mine.id.clone(),
                label: "work".into(),
            },
            own,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.credential.unwrap().label, "work");
    let disabled = acme
        .set_credential_enabled(with_token(
            SetCredentialEnabledRequest {
                credential_id: mine.id.clone(),
                enabled: false,
            },
            own,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!disabled.credential.unwrap().enabled);
    acme.update_credential_secret(with_token(
        UpdateCredentialSecretRequest {
            credential_id: mine.id.clone(),
            secret: "mistral-new-0123456789abcdef".into(),
            ..Default::default()
        },
        own,
    ))
    .await
    .unwrap();
    let setting = SetProviderSettingRequest {
        owner_id: stack.user.clone(),
        provider: "openai".into(),
        mode: ProviderMode::CustomKey as i32,
        fallback_policy: FallbackPolicy::Never as i32,
    };
    acme.set_provider_setting(with_token(setting, own))
        .await
        .unwrap();
    let settings = acme
        .list_provider_settings(with_token(
            ListProviderSettingsRequest {
                owner_id: stack.user.clone(),
            },
            own,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(settings.settings.len(), 1);
    let budget = SetBudgetRequest {
        owner_id: stack.user.clone(),
        monthly_cap_micros: 5_000_000,
    };
    acme.set_budget(with_token(budget, own)).await.unwrap();
    let balance = acme
        .get_balance(with_token(
            GetBalanceRequest {
                principal_id: stack.user.clone(),
            },
            own,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(balance.balance_micros, 10_000_000);
    assert_eq!(balance.budget.unwrap().monthly_cap_micros, 5_000_000);
    let usage = GetUsageRequest {
        owner_id: stack.user.clone(),
        month: String::new(),
    };
    acme.get_usage(with_token(usage, own)).await.unwrap();
    let daily = GetDailyUsageRequest {
        owner_id: stack.user.clone(),
        month: String::new(),
    };
    acme.get_daily_usage(with_token(daily, own)).await.unwrap();
    // Rate limits: the user's own, set and listed through the router.
    let limit = SetRateLimitRequest {
        scope: RateLimitScope::Principal.into(),
        target_id: stack.user.clone(),
        requests_per_minute: 60,
        tokens_per_minute: 0,
    };
    let set = acme.set_rate_limit(with_token(limit, own)).await.unwrap();
    let stored = set.into_inner().rate_limit.unwrap();
    assert_eq!(
        (stored.requests_per_minute, stored.set_by_operator),
        (60, false)
    );
    let own_limits = ListRateLimitsRequest {
        scope: RateLimitScope::Principal.into(),
        target_id: stack.user.clone(),
    };
    let listed = acme
        .list_rate_limits(with_token(own_limits, own))
        .await
        .unwrap();
    assert_eq!(listed.into_inner().rate_limits, [stored]);
    acme.delete_credential(with_token(
        DeleteCredentialRequest {
            credential_id: mine.id.clone(),
        },
        own,
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn org_keys_follow_roles_and_other_owners_do_not_exist() {
    let stack = stack().await;
    let people = people(&stack.vault).await;
    let org = &people.org;
    let mut acme = through_router(&stack, "platform/acme");

    // Org keys: the owner and the billing manager manage them.
    let mut org_keys = Vec::new();
    for (who, token, provider) in [
        ("owner", &people.owner.1, "openai"),
        ("billing manager", &people.billing.1, "anthropic"),
    ] {
        let created = acme
            .create_credential(with_token(
                key(org, provider, "sk-org-key-0123456789abcdef"),
                token,
            ))
            .await
            .unwrap_or_else(|e| panic!("{who}: {e}"))
            .into_inner()
            .credential
            .unwrap();
        let disable = SetCredentialEnabledRequest {
            credential_id: created.id.clone(),
            enabled: false,
        };
        acme.set_credential_enabled(with_token(disable, token))
            .await
            .unwrap_or_else(|e| panic!("{who}: {e}"));
        let enable = SetCredentialEnabledRequest {
            credential_id: created.id.clone(),
            enabled: true,
        };
        acme.set_credential_enabled(with_token(enable, token))
            .await
            .unwrap();
        let budget = SetBudgetRequest {
            owner_id: org.clone(),
            monthly_cap_micros: 1_000_000,
        };
        acme.set_budget(with_token(budget, token))
            .await
            .unwrap_or_else(|e| panic!("{who}: {e}"));
        let audit = ListAuditEventsRequest {
            owner_id: org.clone(),
            ..Default::default()
        };
        acme.list_audit_events(with_token(audit, token))
            .await
            .unwrap_or_else(|e| panic!("{who}: {e}"));
        org_keys.push(created.id);
    }
    let org_key = &org_keys[0];

    // A plain member reads what the edge lets them read, and changes nothing.
    let member = &people.member.1;
    let listed = acme
        .list_credentials(with_token(
            ListCredentialsRequest {
                owner_id: org.clone(),
            },
            member,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.credentials.len(), 2);
    let seen = GetCredentialRequest {
        credential_id: org_key.clone(),
    };
    acme.get_credential(with_token(seen, member)).await.unwrap();
    let usage = GetUsageRequest {
        owner_id: org.clone(),
        month: String::new(),
    };
    acme.get_usage(with_token(usage, member)).await.unwrap();
    let refused = [
        code(
            acme.create_credential(with_token(
                key(org, "google", "AIza-member-0123456789"),
                member,
            ))
            .await,
        ),
        code(
            acme.set_credential_enabled(with_token(
                SetCredentialEnabledRequest {
                    credential_id: org_key.clone(),
                    enabled: false,
                },
                member,
            ))
            .await,
        ),
        code(
            acme.update_credential_secret(with_token(
                UpdateCredentialSecretRequest {
                    credential_id: org_key.clone(),
                    secret: "sk-member-0123456789abcdef".into(),
                    ..Default::default()
                },
                member,
            ))
            .await,
        ),
        code(
            acme.rename_credential(with_token(
                RenameCredentialRequest {
                    credential_id: org_key.clone(),
                    label: "mine".into(),
                },
                member,
            ))
            .await,
        ),
        code(
            acme.delete_credential(with_token(
                DeleteCredentialRequest {
                    credential_id: org_key.clone(),
                },
                member,
            ))
            .await,
        ),
        code(
            acme.list_audit_events(with_token(
                ListAuditEventsRequest {
                    owner_id: org.clone(),
                    ..Default::default()
                },
                member,
            ))
            .await,
        ),
        code(
            acme.set_budget(with_token(
                SetBudgetRequest {
                    owner_id: org.clone(),
                    monthly_cap_micros: 1,
                },
                member,
            ))
            .await,
        ),
    ];
    assert_eq!(refused, [Code::PermissionDenied; 7]);

    // An outsider: the org's keys, the org and another user's keys do not exist for them,
    // word for word as an unknown id does not.
    let outsider = &people.outsider.1;
    let unknown = acme
        .get_credential(with_token(
            GetCredentialRequest {
                credential_id: UNKNOWN.into(),
            },
            outsider,
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    for id in [org_key, &stack.credential] {
        for status in [
            acme.get_credential(with_token(
                GetCredentialRequest {
                    credential_id: id.clone(),
                },
                outsider,
            ))
            .await
            .unwrap_err(),
            acme.delete_credential(with_token(
                DeleteCredentialRequest {
                    credential_id: id.clone(),
                },
                outsider,
            ))
            .await
            .unwrap_err(),
        ] {
            assert_eq!(status.code(), Code::NotFound, "{id}: {status:?}");
            assert_eq!(
                status.message().replace(id.as_str(), UNKNOWN),
                unknown.message()
            );
        }
    }
    let no_org = acme
        .list_credentials(with_token(
            ListCredentialsRequest {
                owner_id: "org_nope".into(),
            },
            outsider,
        ))
        .await
        .unwrap_err();
    for owner in [org, &stack.user] {
        let status = acme
            .list_credentials(with_token(
                ListCredentialsRequest {
                    owner_id: owner.clone(),
                },
                outsider,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{owner}: {status:?}");
        assert_eq!(
            status.message().replace(owner.as_str(), "org_nope"),
            no_org.message()
        );
        let audit = ListAuditEventsRequest {
            owner_id: owner.clone(),
            ..Default::default()
        };
        assert_eq!(
            code(acme.list_audit_events(with_token(audit, outsider)).await),
            Code::NotFound
        );
    }

    // The org's audit log names the principal and the platform as the channel.
    let audit = acme
        .list_audit_events(with_token(
            ListAuditEventsRequest {
                owner_id: org.clone(),
                ..Default::default()
            },
            &people.owner.1,
        ))
        .await
        .unwrap()
        .into_inner();
    let by_acme: Vec<_> = audit
        .events
        .iter()
        .filter(|e| e.peer == ACME_CHANNEL)
        .collect();
    // Per manager: the key added, disabled and enabled, and the budget set.
    assert_eq!(by_acme.len(), 8, "{:?}", audit.events);
    assert_eq!(
        (by_acme[0].action.as_str(), by_acme[0].actor.as_str()),
        ("budget.set", people.billing.0.as_str())
    );
    assert!(
        by_acme
            .iter()
            .any(|e| e.actor == people.owner.0 && e.action == "credential.create")
    );
    // Every change to the org's keys went through acme; none failed into the log.
    assert!(
        audit
            .events
            .iter()
            .filter(|e| e.action.starts_with("credential."))
            .all(|e| e.peer == ACME_CHANNEL)
    );
}

#[tokio::test]
async fn platform_key_tests_are_recorded_like_the_edges() {
    let stack = stack().await;
    let people = people(&stack.vault).await;
    let mut acme = through_router(&stack, "platform/acme");
    let mut tests = stack.client("platform/acme");
    let org_key = acme
        .create_credential(with_token(
            key(&people.org, "openai", "sk-unknown-to-mock-0123456789"),
            &people.owner.1,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .id;
    let test = |id: &str, token: &str| {
        with_token(
            TestCredentialRequest {
                credential_id: id.into(),
                model: "gpt-4o-mini".into(),
            },
            token,
        )
    };
    let get = |id: &str, token: &str| {
        with_token(
            GetCredentialRequest {
                credential_id: id.into(),
            },
            token,
        )
    };

    // The key's owner: tested, and the outcome is on the key.
    let answer = tests
        .test_credential(test(&stack.credential, &stack.token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.outcome(), TestOutcome::Ok);
    let tested = acme
        .get_credential(get(&stack.credential, &stack.token))
        .await
        .unwrap()
        .into_inner();
    let tested = tested.credential.unwrap();
    assert_eq!(tested.last_test_outcome, "ok");
    assert!(tested.last_tested_at.is_some());
    let audit = acme
        .list_audit_events(with_token(
            ListAuditEventsRequest {
                owner_id: stack.user.clone(),
                ..Default::default()
            },
            &stack.token,
        ))
        .await
        .unwrap()
        .into_inner();
    let actions: Vec<(&str, &str)> = audit
        .events
        .iter()
        .take(2)
        .map(|e| (e.action.as_str(), e.peer.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("credential.test_result", ACME_CHANNEL),
            ("credential.test", ACME_CHANNEL)
        ]
    );

    // A member may test an org key (answered) but records nothing on it.
    let answer = tests
        .test_credential(test(&org_key, &people.member.1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.outcome(), TestOutcome::KeyInvalid);
    let untouched = acme
        .get_credential(get(&org_key, &people.member.1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(untouched.credential.unwrap().last_test_outcome, "");
    // The billing manager's test is recorded.
    tests
        .test_credential(test(&org_key, &people.billing.1))
        .await
        .unwrap();
    let recorded = acme
        .get_credential(get(&org_key, &people.owner.1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        recorded.credential.unwrap().last_test_outcome,
        "key_invalid"
    );

    // An outsider's test of a key they cannot see, and a test without a token, do nothing.
    let status = tests
        .test_credential(test(&org_key, &people.outsider.1))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let bare = TestCredentialRequest {
        credential_id: org_key.clone(),
        model: String::new(),
    };
    assert_eq!(
        tests.test_credential(bare).await.unwrap_err().code(),
        Code::Unauthenticated
    );
}
