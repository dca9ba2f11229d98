//! Attempts a provider may bill are charged even when they fail: a 2xx whose body does not
//! parse, a stream cut before its first event. Refusals (a redirect, a 4xx) are not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use keyroute_test_support::TestVault;
use support::ask;
use support::hostile::setup;

/// The calls the vault's ledger holds for `owner` this month, once `calls` have arrived.
async fn ledger(
    vault: &TestVault,
    owner: &str,
    calls: u64,
) -> Vec<keyroute_proto::vault::v1::UsageLine> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = vault
            .client("admin")
            .get_usage(keyroute_proto::vault::v1::GetUsageRequest {
                owner_id: owner.into(),
                month: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .lines;
        if lines.iter().map(|l| l.requests).sum::<u64>() >= calls {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "usage never reached {calls} calls"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_attempt_the_provider_took_but_broke_off_is_charged() {
    let mut setup = setup().await;
    // A 2xx whose body does not parse, and a stream cut before its first event: the provider
    // had the request in hand, so it may bill the input.
    let error = setup.complete("garbage").await.unwrap_err();
    assert!(error.message().contains("not JSON"), "{error:?}");
    let message = setup.stream_failure("cut-stream").await;
    assert!(message.contains("not JSON"), "{message}");
    let lines = ledger(&setup.vault, &setup.user, 2).await;
    let estimate = keyroute_wire::estimate::input_tokens(&ask("custom/garbage/m", "hello"));
    let input: u64 = lines.iter().map(|l| l.input_tokens).sum();
    let output: u64 = lines.iter().map(|l| l.output_tokens).sum();
    assert_eq!((input, output), (2 * u64::from(estimate), 0), "{lines:?}");

    // A refusal is not billed: a redirect records nothing more.
    setup.complete("redirect").await.unwrap_err();
    setup.complete("garbage").await.unwrap_err();
    let lines = ledger(&setup.vault, &setup.user, 3).await;
    assert_eq!(lines.iter().map(|l| l.requests).sum::<u64>(), 3);
}
