//! Managed calls whose upstream answer reports cached and reasoning tokens are charged exactly:
//! every provider format (OpenAI chat and Responses, Anthropic, Gemini, Bedrock Converse,
//! Mistral), whole and streamed, each kind of token at its own catalog price, in integer
//! micro-dollars rounded up once; the ledger keeps the split the caller was shown.
//!
//! The mock's rule (see `keyroute_mock_providers`): a last user text holding `mock-cache` was
//! partly read from (4) and written to (2) the provider's cache, 1 of the writes for an hour
//! when the request asked for it and the provider tells lifetimes apart; thinking spends 3
//! output tokens on reasoning where the provider counts them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use keyroute_mock_providers::{
    CACHE_READ_TOKENS, CACHE_WRITE_1H_TOKENS, CACHE_WRITE_TOKENS, MOCK_CACHE_WORD, Mock,
    MockServer, REASONING_TOKENS,
};
use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::router::v1::*;
use keyroute_proto::vault::v1::{
    CreateCredentialRequest, GetBalanceRequest, GetUsageRequest, UsageLine, UsageSource,
};
use keyroute_test_support::{TestRouter, TestVault, with_token};
use keyroute_tls::{ClientTls, Identity};
use support::{ask, grant};
use tonic::transport::Channel;

/// Prices in dollars per million tokens, each kind apart and none a round number of
/// micro-dollars per token, so that a token billed at the wrong price, or a part rounded on
/// its own, changes the charge. Order: input, output, cache read, 5-minute cache write,
/// 1-hour cache write, reasoning.
const PRICES: [(&str, [f64; 6]); 5] = [
    (
        "openai",
        [
            1.234_567, 9.876_543, 0.123_457, 1.543_211, 2.469_135, 12.345_679,
        ],
    ),
    (
        "anthropic",
        [
            3.111_111, 15.222_223, 0.311_113, 3.888_887, 6.222_229, 17.333_331,
        ],
    ),
    (
        "google",
        [
            0.301_007, 2.500_003, 0.075_011, 0.333_337, 0.444_443, 3.500_009,
        ],
    ),
    (
        "bedrock",
        [
            3.300_001, 16.500_007, 0.330_003, 4.125_011, 6.600_013, 19.000_003,
        ],
    ),
    (
        "mistral",
        [
            2.000_003, 6.000_011, 0.200_009, 2.500_001, 2.700_007, 7.000_001,
        ],
    ),
];

/// A model per provider, priced as above, on an upstream name of the provider's own.
fn catalog() -> String {
    let upstream = |provider: &str| match provider {
        "openai" => "gpt-5",
        "anthropic" => "claude-sonnet-4-5",
        "google" => "gemini-2.5-flash",
        "bedrock" => "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        _ => "magistral-medium-latest",
    };
    let models: Vec<serde_json::Value> = PRICES
        .iter()
        .map(|(provider, p)| {
            serde_json::json!({
                "id": model(provider),
                "capabilities": ["tools", "vision", "json", "reasoning", "cache"],
                "offers": [{
                    "provider": provider, "upstream": upstream(provider),
                    "input_per_million": p[0], "output_per_million": p[1],
                    "cache_read_per_million": p[2], "cache_write_per_million": p[3],
                    "cache_write_1h_per_million": p[4], "reasoning_per_million": p[5],
                }],
            })
        })
        .collect();
    serde_json::json!({ "models": models }).to_string()
}

fn model(provider: &str) -> String {
    format!("money-{provider}")
}

/// Micro-dollars per million tokens, from the table above (as the catalog rounds them).
fn micros(provider: &str) -> [u128; 6] {
    let (_, prices) = PRICES.iter().find(|(p, _)| *p == provider).unwrap();
    prices.map(|dollars| (dollars * 1_000_000.0).round() as u128)
}

/// What `usage` costs at `provider`'s prices, by hand: plain input (input less cache reads
/// and writes), cache reads, 5-minute writes (writes less 1-hour ones), 1-hour writes, plain
/// output (output less reasoning), reasoning; summed, then rounded up once.
fn expected_cost(provider: &str, usage: &Usage) -> i64 {
    let [input, output, read, write_5m, write_1h, reasoning] = micros(provider);
    let plain_input = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens;
    let exact = u128::from(plain_input) * input
        + u128::from(usage.cache_read_tokens) * read
        + u128::from(usage.cache_write_tokens - usage.cache_write_1h_tokens) * write_5m
        + u128::from(usage.cache_write_1h_tokens) * write_1h
        + u128::from(usage.output_tokens - usage.reasoning_tokens) * output
        + u128::from(usage.reasoning_tokens) * reasoning;
    i64::try_from(exact.div_ceil(1_000_000)).unwrap()
}

struct Platform {
    vault: TestVault,
    _mock: MockServer,
    router: TestRouter,
}

/// A vault with a platform (managed) key for each provider, the mock upstream, and a router
/// with the test catalog.
async fn platform() -> Platform {
    let vault = TestVault::start().await;
    let keys = Mock::new();
    let secrets = [
        ("openai", "sk-platform-openai-0123"),
        ("anthropic", "sk-platform-anthropic-0123"),
        ("google", "AIza-platform-google-0123"),
        ("bedrock", "ABSK-platform-bedrock-0123"),
        ("mistral", "sk-platform-mistral-0123"),
    ];
    for (provider, secret) in secrets {
        keys.add_key(provider, secret);
        let config = match provider {
            "bedrock" => HashMap::from([("region".to_owned(), "us-east-1".to_owned())]),
            _ => HashMap::new(),
        };
        vault
            .client("admin")
            .create_credential(CreateCredentialRequest {
                owner_id: "platform".into(),
                provider: provider.into(),
                secret: secret.into(),
                config,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let mock = MockServer::start(keys).await.unwrap();
    let base_urls = secrets
        .iter()
        .map(|(provider, _)| ((*provider).to_owned(), mock.base_url(provider)))
        .collect();
    let router = TestRouter::start_with_catalog(&vault, base_urls, &catalog()).await;
    Platform {
        vault,
        _mock: mock,
        router,
    }
}

impl Platform {
    fn client(&self) -> RouterServiceClient<Channel> {
        let tls = ClientTls::from_files(self.vault.pki.paths("edge")).unwrap();
        let channel = keyroute_tls::channel(
            &self.router.addr.to_string(),
            tls,
            Identity::parse("router").unwrap(),
        )
        .unwrap();
        RouterServiceClient::new(channel)
    }

    async fn balance(&self, principal: &str) -> i64 {
        self.vault
            .client("admin")
            .get_balance(GetBalanceRequest {
                principal_id: principal.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .balance_micros
    }

    /// The ledger's one line for `owner`, once a call has arrived (usage travels in batches).
    async fn ledger_line(&self, owner: &str) -> UsageLine {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self
                .vault
                .client("admin")
                .get_usage(GetUsageRequest {
                    owner_id: owner.into(),
                    month: String::new(),
                })
                .await
                .unwrap()
                .into_inner()
                .lines;
            if let [line] = lines.as_slice() {
                return line.clone();
            }
            assert!(lines.is_empty(), "{lines:?}");
            assert!(
                tokio::time::Instant::now() < deadline,
                "usage for {owner} never arrived"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One provider format: which provider serves it, whether as a Responses request, and what
/// the mock's rule makes of its usage there (cache read, cache write, 1-hour write, reasoning).
struct Format {
    name: &'static str,
    provider: &'static str,
    responses: bool,
    split: [u64; 4],
}

const FORMATS: [Format; 6] = [
    Format {
        name: "OpenAI chat",
        provider: "openai",
        responses: false,
        split: [CACHE_READ_TOKENS, CACHE_WRITE_TOKENS, 0, REASONING_TOKENS],
    },
    Format {
        name: "OpenAI Responses",
        provider: "openai",
        responses: true,
        split: [CACHE_READ_TOKENS, CACHE_WRITE_TOKENS, 0, REASONING_TOKENS],
    },
    Format {
        name: "Anthropic",
        provider: "anthropic",
        responses: false,
        split: [
            CACHE_READ_TOKENS,
            CACHE_WRITE_TOKENS,
            CACHE_WRITE_1H_TOKENS,
            REASONING_TOKENS,
        ],
    },
    // Gemini reports no cache writes.
    Format {
        name: "Gemini",
        provider: "google",
        responses: false,
        split: [CACHE_READ_TOKENS, 0, 0, REASONING_TOKENS],
    },
    // Converse has no reasoning counter: thinking is inside its output. Its 1-hour writes
    // depend on the request's cache points: see `hour_writes`.
    Format {
        name: "Bedrock",
        provider: "bedrock",
        responses: false,
        split: [CACHE_READ_TOKENS, CACHE_WRITE_TOKENS, 0, 0],
    },
    Format {
        name: "Mistral",
        provider: "mistral",
        responses: false,
        split: [CACHE_READ_TOKENS, CACHE_WRITE_TOKENS, 0, REASONING_TOKENS],
    },
];

/// A request that reads from and writes to the cache (with a 1-hour hint) and thinks.
fn request(format: &Format) -> ChatRequest {
    let mut chat = ask(
        &model(format.provider),
        &format!("{MOCK_CACHE_WORD} what does a cached and considered answer cost"),
    );
    chat.messages[0].content[0].cache = Some(CacheHint { ttl: "1h".into() });
    chat.reasoning = Some(ReasoningConfig {
        enabled: true,
        budget_tokens: Some(2048),
        ..Default::default()
    });
    chat.sampling = Some(Sampling {
        max_tokens: Some(4096),
        ..Default::default()
    });
    if format.responses {
        chat.responses = Some(ResponsesOptions {
            store: Some(false),
            ..Default::default()
        });
    }
    chat
}

/// Calls `format` whole or streamed as `token`; the usage the caller was shown.
async fn call(platform: &Platform, format: &Format, streamed: bool, token: &str) -> Usage {
    let mut client = platform.client();
    let chat = request(format);
    if !streamed {
        let response = client
            .complete(with_token(
                CompleteRequest {
                    request: Some(chat),
                },
                token,
            ))
            .await
            .unwrap_or_else(|status| panic!("{}: {status:?}", format.name))
            .into_inner()
            .response
            .unwrap();
        let served = response.served_by.unwrap();
        assert_eq!(
            (served.provider.as_str(), served.key_source()),
            (format.provider, KeySource::Managed),
            "{}",
            format.name
        );
        return response.usage.unwrap();
    }
    let mut events = client
        .complete_stream(with_token(
            CompleteStreamRequest {
                request: Some(chat),
            },
            token,
        ))
        .await
        .unwrap_or_else(|status| panic!("{} streamed: {status:?}", format.name))
        .into_inner();
    let (mut usage, mut ended) = (None, false);
    while let Some(event) = events.message().await.unwrap() {
        match event.event {
            // The last report is the whole count (Anthropic's first carries the input side).
            Some(complete_stream_response::Event::Usage(reported)) => usage = Some(reported),
            Some(complete_stream_response::Event::End(_)) => ended = true,
            Some(complete_stream_response::Event::Error(error)) => {
                panic!("{} streamed: {error:?}", format.name)
            }
            _ => {}
        }
    }
    assert!(ended, "{} streamed: no end", format.name);
    usage.unwrap_or_else(|| panic!("{} streamed: no usage", format.name))
}

/// The 1-hour writes the mock reports for the last request to Bedrock: its rule counts them
/// when the Converse body carries a `cachePoint` with `ttl: "1h"`, which keyroute's Converse
/// builder does not send today (its cache points have no TTL).
fn hour_writes(platform: &Platform) -> u64 {
    let sent = platform._mock.mock.requests_for("bedrock").pop().unwrap();
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    fn hour_point(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(map) => map.iter().any(|(key, value)| {
                (key == "cachePoint" && value["ttl"] == "1h") || hour_point(value)
            }),
            serde_json::Value::Array(items) => items.iter().any(hour_point),
            _ => false,
        }
    }
    let hour_point = hour_point(&body);
    if hour_point { CACHE_WRITE_1H_TOKENS } else { 0 }
}

#[tokio::test]
async fn managed_calls_are_charged_for_cache_and_reasoning_at_their_own_prices() {
    let platform = platform().await;
    for format in &FORMATS {
        for streamed in [false, true] {
            let label = format!(
                "{} {}",
                format.name,
                if streamed { "streamed" } else { "whole" }
            );
            // A payer of its own per call: its balance and ledger show this call alone.
            let (payer, token) = platform.vault.user_with_token("payer").await;
            grant(&platform.vault, &payer, 1_000_000).await;
            let usage = call(&platform, format, streamed, &token).await;
            let mut split = format.split;
            if format.provider == "bedrock" {
                split[2] = hour_writes(&platform);
            }

            // The upstream's report, made canonical: every part where the rule puts it.
            assert_eq!(
                [
                    usage.cache_read_tokens,
                    usage.cache_write_tokens,
                    usage.cache_write_1h_tokens,
                    usage.reasoning_tokens,
                ],
                split,
                "{label}: {usage:?}"
            );
            assert!(
                usage.input_tokens > usage.cache_read_tokens + usage.cache_write_tokens
                    && usage.output_tokens > usage.reasoning_tokens,
                "{label}: plain input and output are left: {usage:?}"
            );

            // Charged exactly: each kind of token at its price, rounded up once.
            let cost = expected_cost(format.provider, &usage);
            let line = platform.ledger_line(&payer).await;
            assert_eq!(
                (line.provider.as_str(), line.model.as_str(), line.source()),
                (
                    format.provider,
                    model(format.provider).as_str(),
                    UsageSource::Managed
                ),
                "{label}"
            );
            assert_eq!(
                [
                    line.requests,
                    line.input_tokens,
                    line.cache_read_tokens,
                    line.cache_write_tokens,
                    line.cache_write_1h_tokens,
                    line.output_tokens,
                    line.reasoning_tokens,
                ],
                [
                    1,
                    usage.input_tokens,
                    usage.cache_read_tokens,
                    usage.cache_write_tokens,
                    usage.cache_write_1h_tokens,
                    usage.output_tokens,
                    usage.reasoning_tokens,
                ],
                "{label}: the ledger keeps the split the caller was shown"
            );
            assert_eq!(line.cost_micros, cost, "{label}: {usage:?}");
            assert_eq!(
                platform.balance(&payer).await,
                1_000_000 - cost,
                "{label}: debited exactly"
            );
            // Not the price of plain tokens: the split changed the charge.
            let [input, output, ..] = micros(format.provider);
            let plain = (u128::from(usage.input_tokens) * input
                + u128::from(usage.output_tokens) * output)
                .div_ceil(1_000_000);
            assert_ne!(i64::try_from(plain).unwrap(), cost, "{label}");
        }
    }
}

#[tokio::test]
async fn calls_without_cache_or_reasoning_are_charged_plain_prices() {
    let platform = platform().await;
    let (payer, token) = platform.vault.user_with_token("plain").await;
    grant(&platform.vault, &payer, 1_000_000).await;
    let mut chat = ask(&model("anthropic"), "nothing cached here");
    chat.sampling = Some(Sampling {
        max_tokens: Some(100),
        ..Default::default()
    });
    let usage = platform
        .client()
        .complete(with_token(
            CompleteRequest {
                request: Some(chat),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap()
        .usage
        .unwrap();
    assert_eq!(
        [
            usage.cache_read_tokens,
            usage.cache_write_tokens,
            usage.reasoning_tokens
        ],
        [0, 0, 0]
    );
    let [input, output, ..] = micros("anthropic");
    let plain = (u128::from(usage.input_tokens) * input + u128::from(usage.output_tokens) * output)
        .div_ceil(1_000_000);
    let line = platform.ledger_line(&payer).await;
    assert_eq!(line.cost_micros, i64::try_from(plain).unwrap());
    assert_eq!(
        [
            line.cache_read_tokens,
            line.cache_write_tokens,
            line.reasoning_tokens
        ],
        [0, 0, 0]
    );
}

#[tokio::test]
async fn a_stream_cut_short_is_charged_for_the_cache_counts_it_brought() {
    let platform = platform().await;
    let (payer, token) = platform.vault.user_with_token("cut").await;
    grant(&platform.vault, &payer, 1_000_000).await;
    // Anthropic's first event, `message_start`, brings the input side with its cache counts;
    // the connection breaks right after it.
    platform._mock.mock.set_fault(
        "sk-platform-anthropic-0123",
        keyroute_mock_providers::Fault {
            reset_after_chunks: Some(1),
            chunk_delay: Duration::from_millis(20),
            ..Default::default()
        },
    );
    let anthropic = &FORMATS[2];
    let mut events = platform
        .client()
        .complete_stream(with_token(
            CompleteStreamRequest {
                request: Some(request(anthropic)),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut broke = false;
    while let Ok(Some(event)) = events.message().await {
        broke |= matches!(event.event, Some(complete_stream_response::Event::Error(_)));
    }
    assert!(broke, "the stream ends in an error");

    let line = platform.ledger_line(&payer).await;
    assert_eq!(
        [
            line.cache_read_tokens,
            line.cache_write_tokens,
            line.cache_write_1h_tokens
        ],
        [CACHE_READ_TOKENS, CACHE_WRITE_TOKENS, CACHE_WRITE_1H_TOKENS],
        "{line:?}"
    );
    assert!(line.output_tokens >= 1, "never free: {line:?}");
    let charged = Usage {
        input_tokens: line.input_tokens,
        output_tokens: line.output_tokens,
        cache_read_tokens: line.cache_read_tokens,
        cache_write_tokens: line.cache_write_tokens,
        cache_write_1h_tokens: line.cache_write_1h_tokens,
        reasoning_tokens: line.reasoning_tokens,
        total_tokens: 0,
    };
    let cost = expected_cost("anthropic", &charged);
    assert_eq!(line.cost_micros, cost, "{line:?}");
    assert_eq!(platform.balance(&payer).await, 1_000_000 - cost);
}
