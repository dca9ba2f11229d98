use std::collections::HashMap;

use super::*;

const KEY: &str = "sk-test-0123456789abcdefCANARY";
const TEST_RSA_KEY: &str = include_str!("../../testdata/vertex-test-key.pem");

fn config(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn error(provider: &str, label: &str, secret: &str, pairs: &[(&str, &str)]) -> String {
    let message = validate(provider, label, secret, &config(pairs))
        .unwrap_err()
        .0;
    assert!(!message.contains("CANARY"), "secret echoed: {message}");
    message
}

fn service_account(overrides: &[(&str, serde_json::Value)]) -> String {
    let mut account = serde_json::json!({
        "type": "service_account",
        "project_id": "keyroute-test",
        "private_key_id": "0123456789abcdef0123CANARY",
        "private_key": TEST_RSA_KEY,
        "client_email": "gateway@keyroute-test.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    for (key, value) in overrides {
        account[*key] = value.clone();
    }
    account.to_string()
}

#[test]
fn api_keys_are_trimmed_and_fingerprinted() {
    let valid = validate("openai", "", &format!("  {KEY}\n"), &HashMap::new()).unwrap();
    assert_eq!(valid.secret.as_str(), KEY);
    assert_eq!(valid.fingerprint, "openai:…NARY");
    let short = validate("mistral", "", "abc123", &HashMap::new()).unwrap();
    assert_eq!(short.fingerprint, "mistral:…****");
}

#[test]
fn bad_api_keys_are_rejected_without_echo() {
    assert!(error("openai", "", "   ", &[]).contains("empty"));
    assert!(error("openai", "", "sk-abc\nCANARY", &[]).contains("position 6"));
    assert!(error("openai", "", "sk-abc\tCANARY", &[]).contains("whitespace"));
    assert!(error("openai", "", "sk-abc\u{7}CANARY", &[]).contains("control"));
    assert!(error("openai", "", "sk-éCANARY", &[]).contains("non-ASCII"));
    assert!(error("openai", "", &"CANARY".repeat(1000), &[]).contains("longer than 4096"));
    assert!(error("openai", "", KEY, &[("region", "x")]).contains("takes no config"));
    assert!(error("nope", "", KEY, &[]).contains("unknown provider"));
    assert!(error("openai", "bad label!", KEY, &[]).contains("label"));
}

#[test]
fn bedrock_json_and_api_key() {
    let json = r#"{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","region":"us-east-1"}"#;
    let valid = validate("bedrock", "", json, &HashMap::new()).unwrap();
    assert_eq!(valid.config["region"], "us-east-1");
    assert_eq!(valid.config["auth"], "sigv4");
    assert_eq!(valid.fingerprint, "bedrock:…MPLE");
    assert!(!valid.secret.contains("region"));

    let key = validate(
        "bedrock",
        "",
        "ABSKQmVkcm9ja0FQSUtleS1CANARY",
        &config(&[("region", "eu-west-3")]),
    )
    .unwrap();
    assert_eq!(key.config["auth"], "api_key");

    let no_region = r#"{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"CANARYsecret"}"#;
    assert_eq!(
        error("bedrock", "", no_region, &[]),
        "secret.region is required"
    );
    let bad_region = r#"{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"CANARYsecret","region":"mars"}"#;
    assert!(error("bedrock", "", bad_region, &[]).contains("AWS region"));
    let number =
        r#"{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":12345,"region":"us-east-1"}"#;
    assert_eq!(
        error("bedrock", "", number, &[]),
        "secret.secretAccessKey must be a string"
    );
    let extra = r#"{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"CANARYx","region":"us-east-1","x":"CANARY"}"#;
    assert!(error("bedrock", "", extra, &[]).contains("secret.x is not accepted"));
    assert!(error("bedrock", "", "{not json CANARY", &[]).contains("not a JSON object"));
    assert_eq!(
        error("bedrock", "", "ABSKCANARYkey12345", &[]),
        "config.region is required"
    );
}

#[test]
fn azure_requires_endpoint_and_deployment() {
    let pairs = [
        ("endpoint", "https://example.openai.azure.com/"),
        ("deployment", "gpt-4o-prod"),
        ("api_version", "2024-10-21"),
    ];
    let valid = validate("azure", "", KEY, &config(&pairs)).unwrap();
    assert_eq!(valid.label, "gpt-4o-prod");
    assert_eq!(valid.config["endpoint"], "https://example.openai.azure.com");
    assert_eq!(
        error("azure", "", KEY, &[("deployment", "d")]),
        "config.endpoint is required"
    );
    assert!(
        error(
            "azure",
            "",
            KEY,
            &[("endpoint", "http://plain"), ("deployment", "d")]
        )
        .contains("https")
    );
    assert!(
        error(
            "azure",
            "",
            KEY,
            &[
                ("endpoint", "https://e.example"),
                ("deployment", "d"),
                ("api_version", "x")
            ]
        )
        .contains("api_version")
    );
}

#[test]
fn vertex_service_account_is_checked() {
    let valid = validate(
        "vertex",
        "",
        &service_account(&[]),
        &config(&[("location", "global")]),
    )
    .unwrap();
    assert_eq!(valid.config["project_id"], "keyroute-test");
    assert_eq!(valid.config["location"], "global");
    assert_eq!(valid.fingerprint, "vertex:…NARY");

    let broken = TEST_RSA_KEY.replace("MII", "CANARY");
    let message = error(
        "vertex",
        "",
        &service_account(&[("private_key", broken.into())]),
        &[],
    );
    assert_eq!(
        message,
        "secret.private_key is not a parseable PEM RSA private key"
    );
    let not_pem = error(
        "vertex",
        "",
        &service_account(&[("private_key", "CANARY".into())]),
        &[],
    );
    assert!(not_pem.contains("private_key"));
    assert!(
        error(
            "vertex",
            "",
            &service_account(&[("type", "authorized_user".into())]),
            &[]
        )
        .contains("service_account")
    );
    assert!(
        error(
            "vertex",
            "",
            &service_account(&[("client_email", serde_json::Value::Null)]),
            &[]
        )
        .contains("client_email is required")
    );
    assert!(
        error(
            "vertex",
            "",
            &service_account(&[("token_uri", "ftp://x".into())]),
            &[]
        )
        .contains("token_uri")
    );
}

#[test]
fn custom_endpoints_need_a_name_and_base_url() {
    let pairs = [("base_url", "http://ollama.example.com:11434/v1/")];
    let open = validate("custom", "ollama", "", &config(&pairs)).unwrap();
    assert_eq!(
        open.config["base_url"],
        "http://ollama.example.com:11434/v1"
    );
    assert_eq!(open.fingerprint, "custom:none");
    let keyed = validate("custom", "vllm", KEY, &config(&pairs)).unwrap();
    assert!(keyed.secret.contains("apiKey"));
    let both = validate(
        "custom",
        "router",
        &format!(r#"{{"apiKey":"{KEY}","authToken":"tok-0123456789abcdef"}}"#),
        &config(&pairs),
    )
    .unwrap();
    assert!(both.secret.contains("authToken"));
    assert!(error("custom", "", "", &pairs).contains("label is required"));
    assert_eq!(error("custom", "x", "", &[]), "config.base_url is required");
    assert!(error("custom", "x", "", &[("base_url", "localhost:8000")]).contains("URL"));
}

#[test]
fn destinations_keys_carry_pass_the_egress_policy_when_they_are_added() {
    use keyroute_egress::EgressPolicy;
    for (provider, pairs, secret) in [
        (
            "custom",
            vec![("base_url", "http://127.0.0.1:11434/v1")],
            String::new(),
        ),
        (
            "custom",
            vec![("base_url", "http://localhost:11434/v1")],
            String::new(),
        ),
        (
            "custom",
            vec![("base_url", "http://[::1]:8000/v1")],
            String::new(),
        ),
        (
            "custom",
            vec![("base_url", "http://169.254.169.254/v1")],
            String::new(),
        ),
        (
            "azure",
            vec![("endpoint", "https://10.1.2.3"), ("deployment", "d")],
            KEY.to_owned(),
        ),
    ] {
        let refused = validate(provider, "x", &secret, &config(&pairs))
            .unwrap_err()
            .0;
        assert!(
            refused.contains("egress policy") && refused.contains("address"),
            "{provider} {pairs:?}: {refused}"
        );
    }
    let message = error(
        "custom",
        "x",
        "",
        &[("base_url", "http://169.254.169.254/v1")],
    );
    assert!(message.contains("link-local"), "{message}");
    // The operator's allowances (and `keyroute dev`'s loopback) let them in.
    let loopback = [("base_url", "http://127.0.0.1:11434/v1")];
    let dev = EgressPolicy::allowing_loopback();
    assert!(validate_for("custom", "ollama", "", &config(&loopback), &dev).is_ok());
    let mut allowing = EgressPolicy::strict();
    allowing.allow("10.1.0.0/16").unwrap();
    let private = [("endpoint", "https://10.1.2.3"), ("deployment", "d")];
    assert!(validate_for("azure", "x", KEY, &config(&private), &allowing).is_ok());
}
