//! The Vertex service-account flow: the assertion is a well-formed RS256 JWT with the claims
//! Google requires and a signature the key's public half verifies; the token exchange is the
//! RFC 7523 form; answers and refusals parse.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyroute_wire::vertex::{CLOUD_PLATFORM_SCOPE, ServiceAccount, host, parse_token_response};
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

const KEY: &str = include_str!("../testdata/vertex-test-key.pem");

fn account() -> String {
    json!({
        "type": "service_account",
        "project_id": "keyroute-test",
        "private_key_id": "kid-0123",
        "private_key": KEY,
        "client_email": "gateway@keyroute-test.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    })
    .to_string()
}

#[test]
fn the_assertion_is_a_signed_rs256_jwt() {
    let account = ServiceAccount::from_json(&account()).unwrap();
    assert!(
        !format!("{account:?}").contains("PRIVATE"),
        "Debug hides the key"
    );
    let jwt = account
        .assertion(CLOUD_PLATFORM_SCOPE, 1_700_000_000)
        .unwrap();
    let segments: Vec<&str> = jwt.split('.').collect();
    assert_eq!(segments.len(), 3);
    assert!(segments.iter().all(|s| !s.contains('=')), "unpadded");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segments[0]).unwrap()).unwrap();
    assert_eq!(
        header,
        json!({ "alg": "RS256", "typ": "JWT", "kid": "kid-0123" })
    );
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segments[1]).unwrap()).unwrap();
    assert_eq!(
        claims,
        json!({
            "iss": "gateway@keyroute-test.iam.gserviceaccount.com",
            "scope": "https://www.googleapis.com/auth/cloud-platform",
            "aud": "https://oauth2.googleapis.com/token",
            "iat": 1_700_000_000,
            "exp": 1_700_003_600,
        })
    );
    let PrivateKeyDer::Pkcs8(der) = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap() else {
        panic!("pkcs8")
    };
    let public = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .unwrap()
        .public()
        .as_ref()
        .to_vec();
    let signature = URL_SAFE_NO_PAD.decode(segments[2]).unwrap();
    let signed = format!("{}.{}", segments[0], segments[1]);
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
        .verify(signed.as_bytes(), &signature)
        .expect("signature verifies");
    let mut tampered = signed.into_bytes();
    tampered[5] ^= 1;
    assert!(
        UnparsedPublicKey::new(
            &RSA_PKCS1_2048_8192_SHA256,
            RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
                .unwrap()
                .public()
                .as_ref()
                .to_vec()
        )
        .verify(&tampered, &signature)
        .is_err()
    );
}

#[test]
fn the_token_exchange_and_its_answers() {
    let account = ServiceAccount::from_json(&account()).unwrap();
    let request = account.token_request(1_700_000_000).unwrap();
    assert_eq!(request.path, "https://oauth2.googleapis.com/token");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let body = String::from_utf8(request.body).unwrap();
    assert!(
        body.starts_with(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=ey"
        ),
        "{body}"
    );

    let token = parse_token_response(
        200,
        br#"{"access_token":"ya29.test","expires_in":3599,"token_type":"Bearer"}"#,
        1_000,
    )
    .unwrap();
    assert_eq!(token.token, "ya29.test");
    assert_eq!(token.refresh_at, 1_000 + 3599 - 225);
    assert!(!format!("{token:?}").contains("ya29"));
    let refused = parse_token_response(
        400,
        br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
        0,
    )
    .unwrap_err();
    assert_eq!(
        (
            refused.status,
            refused.error_type.as_str(),
            refused.message.as_str()
        ),
        (401, "invalid_grant", "Invalid JWT Signature.")
    );
    assert!(parse_token_response(200, b"{}", 0).is_err());
}

#[test]
fn broken_service_accounts_are_refused_and_hosts_follow_the_location() {
    for broken in [
        json!({}).to_string(),
        json!({ "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" })
            .to_string(),
        "not json".to_owned(),
    ] {
        assert!(ServiceAccount::from_json(&broken).is_err());
    }
    assert_eq!(host("us-central1"), "us-central1-aiplatform.googleapis.com");
    assert_eq!(host("global"), "aiplatform.googleapis.com");
    assert_eq!(host("eu"), "aiplatform.eu.rep.googleapis.com");
}
