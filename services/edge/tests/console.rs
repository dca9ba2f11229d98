//! The console's server side: its files with their security headers, signing in with a
//! gateway token or a one-time code, the session cookie's flags, the CSRF defence, sign-out
//! and expiry. No secret presented or issued ever shows in an answer or a log line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyroute_proto::vault::v1::{IssueTokenRequest, TokenKind};
use keyroute_test_support::capture_logs;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use support::{Gateway, gateway};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn assert_secure_headers(headers: &HeaderMap, what: &str) {
    assert_eq!(headers["content-security-policy"], CSP, "{what}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
}

/// A one-time sign-in code for `principal`, as `keyroute dev` makes one.
async fn sign_in_code(gw: &Gateway, principal: &str) -> (String, String) {
    let reply = gw
        .vault
        .client("admin")
        .issue_token(IssueTokenRequest {
            principal_id: principal.into(),
            name: "sign-in".into(),
            expires_in: Some(prost_types::Duration {
                seconds: 600,
                nanos: 0,
            }),
            kind: TokenKind::SignIn.into(),
        })
        .await
        .unwrap()
        .into_inner();
    (reply.token, reply.info.unwrap().id)
}

/// A signed-in session: the session token and CSRF value from the cookies, and the answer.
struct Session {
    token: String,
    csrf: String,
    body: Value,
    set_cookies: Vec<String>,
}

impl Session {
    fn cookie(&self) -> String {
        format!("kr_session={}; kr_csrf={}", self.token, self.csrf)
    }
}

fn cookie_value(set_cookies: &[String], name: &str) -> String {
    let line = set_cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {set_cookies:?}"));
    line[name.len() + 1..].split(';').next().unwrap().to_owned()
}

async fn sign_in(gw: &Gateway, body: Value, headers: &[(&str, &str)]) -> Session {
    let (status, headers, body) = gw
        .send(
            Method::POST,
            "/api/v1/session",
            None,
            headers,
            Some(body.to_string()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let set_cookies: Vec<String> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    Session {
        token: cookie_value(&set_cookies, "kr_session"),
        csrf: cookie_value(&set_cookies, "kr_csrf"),
        body,
        set_cookies,
    }
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_with_strict_headers() {
    let gw = gateway().await;
    let (status, headers, body) = gw.send(Method::GET, "/", None, &[], None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    assert!(body.as_str().unwrap().contains("<"), "{body}");
    assert_secure_headers(&headers, "/");

    let (status, headers, _) = gw
        .send(Method::GET, "/console/app.js", None, &[], None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert_secure_headers(&headers, "app.js");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (status, headers, _) = gw
        .send(
            Method::GET,
            "/console/app.js",
            None,
            &[("if-none-match", &etag)],
            None,
        )
        .await;
    assert_eq!(status, 304);
    assert_secure_headers(&headers, "304");

    for missing in [
        "/console/nope.js",
        "/console/pages/none.css",
        "/console/..%2fCargo.toml",
    ] {
        let (status, headers, _) = gw.send(Method::GET, missing, None, &[], None).await;
        assert_eq!(status, 404, "{missing}");
        assert_secure_headers(&headers, missing);
    }
}

#[tokio::test]
async fn a_gateway_token_signs_in_to_a_new_short_lived_session() {
    let logs = capture_logs();
    let gw = gateway().await;
    let session = sign_in(&gw, json!({ "token": gw.token }), &[]).await;
    assert_ne!(
        session.token, gw.token,
        "a new token, never the one presented"
    );
    assert!(session.token.starts_with("kr_"));
    assert_eq!(session.body["principal_id"], gw.user);
    assert_eq!(session.body["csrf"], session.csrf.as_str());
    assert!(session.body["expires_at"].is_string(), "{}", session.body);
    let [session_cookie, csrf_cookie] = [0, 1].map(|i| session.set_cookies[i].clone());
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43"] {
        assert!(session_cookie.contains(flag), "{flag}: {session_cookie}");
    }
    assert!(
        !session_cookie.contains("Secure"),
        "plain HTTP: {session_cookie}"
    );
    assert!(csrf_cookie.contains("SameSite=Strict") && !csrf_cookie.contains("HttpOnly"));
    let text = session.body.to_string();
    assert!(!text.contains(&gw.token) && !text.contains(&session.token));

    // Over TLS (as the proxy says), the cookies are Secure.
    let tls = sign_in(
        &gw,
        json!({ "token": gw.token }),
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert!(
        tls.set_cookies.iter().all(|c| c.contains("; Secure")),
        "{:?}",
        tls.set_cookies
    );

    // The cookie is who I am, with my orgs and roles.
    let org = gw.vault.org("console-org", &gw.user, &[]).await;
    let (status, _, me) = gw
        .send(
            Method::GET,
            "/api/v1/session",
            None,
            &[("cookie", &session.cookie())],
            None,
        )
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["principal_id"], gw.user);
    assert_eq!(me["kind"], "user");
    assert_eq!(me["token_kind"], "session");
    assert_eq!(
        me["orgs"],
        json!([{ "id": org, "name": "console-org", "role": "owner" }])
    );
    // ... and so is a bearer token.
    let (status, _, me) = gw
        .send(Method::GET, "/api/v1/session", Some(&gw.token), &[], None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(me["token_kind"], "api");

    // The model API does not read the cookie.
    let (status, _, _) = gw
        .send(
            Method::GET,
            "/v1/models",
            None,
            &[("cookie", &session.cookie())],
            None,
        )
        .await;
    assert_eq!(status, 401);

    let (status, _, body) = gw
        .send(
            Method::POST,
            "/api/v1/session",
            None,
            &[],
            Some(json!({ "token": "kr_nope" }).to_string()),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthenticated");

    let logged = logs.text();
    for secret in [&gw.token, &session.token, &tls.token] {
        assert!(!logged.contains(secret.as_str()), "a token in the logs");
    }
}

#[tokio::test]
async fn a_sign_in_code_works_once_and_not_after_it_expires() {
    let logs = capture_logs();
    let gw = gateway().await;
    let (code, _) = sign_in_code(&gw, &gw.user).await;
    // A code is no gateway token.
    let (status, _, _) = gw
        .send(Method::GET, "/api/v1/keys", Some(&code), &[], None)
        .await;
    assert_eq!(status, 401);
    let session = sign_in(&gw, json!({ "code": code }), &[]).await;
    assert_eq!(session.body["principal_id"], gw.user);
    let (status, _, body) = gw
        .send(
            Method::POST,
            "/api/v1/session",
            None,
            &[],
            Some(json!({ "code": code }).to_string()),
        )
        .await;
    assert_eq!(status, 401, "a code signs in once: {body}");
    assert!(!body.to_string().contains(&code));

    let (expired, id) = sign_in_code(&gw, &gw.user).await;
    let db = rusqlite::Connection::open(gw.vault.db_path()).unwrap();
    db.execute("UPDATE tokens SET expires_at = 1000 WHERE id = ?1", [&id])
        .unwrap();
    let (status, _, _) = gw
        .send(
            Method::POST,
            "/api/v1/session",
            None,
            &[],
            Some(json!({ "code": expired }).to_string()),
        )
        .await;
    assert_eq!(status, 401, "an expired code");
    let logged = logs.text();
    assert!(
        !logged.contains(&code) && !logged.contains(&expired) && !logged.contains(&session.token)
    );
}

#[tokio::test]
async fn unsafe_calls_with_the_cookie_need_the_csrf_token_and_this_origin() {
    let gw = gateway().await;
    let session = sign_in(&gw, json!({ "token": gw.token }), &[]).await;
    let cookie = session.cookie();
    let budget = || Some(json!({ "monthly_cap_micros": 5_000_000 }).to_string());
    let host = gw.url.trim_start_matches("http://").to_owned();
    let own_origin = gw.url.clone();

    let (status, _, body) = gw
        .send(
            Method::PUT,
            "/api/v1/budget",
            None,
            &[("cookie", &cookie)],
            budget(),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-csrf-token"),
        "{body}"
    );
    let (status, _, _) = gw
        .send(
            Method::PUT,
            "/api/v1/budget",
            None,
            &[("cookie", &cookie), ("x-csrf-token", "0123")],
            budget(),
        )
        .await;
    assert_eq!(status, 403, "a wrong token");
    // A planted kr_csrf cookie matching the header is not this session's.
    let planted = format!("kr_session={}; kr_csrf=aaaa", session.token);
    let (status, _, _) = gw
        .send(
            Method::PUT,
            "/api/v1/budget",
            None,
            &[("cookie", &planted), ("x-csrf-token", "aaaa")],
            budget(),
        )
        .await;
    assert_eq!(status, 403, "a planted pair");
    let (status, _, body) = gw
        .send(
            Method::PUT,
            "/api/v1/budget",
            None,
            &[
                ("cookie", &cookie),
                ("x-csrf-token", &session.csrf),
                ("origin", "https://evil.example"),
            ],
            budget(),
        )
        .await;
    assert_eq!(status, 403, "a foreign origin: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Origin"),
        "{body}"
    );
    let (status, _, body) = gw
        .send(
            Method::PUT,
            "/api/v1/budget",
            None,
            &[
                ("cookie", &cookie),
                ("x-csrf-token", &session.csrf),
                ("origin", &own_origin),
                ("host", &host),
            ],
            budget(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["monthly_cap_micros"], 5_000_000);
    // Safe methods need nothing more than the cookie.
    let (status, _, _) = gw
        .send(
            Method::GET,
            "/api/v1/balance",
            None,
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(status, 200);
    // Bearer calls are unaffected.
    let (status, _, _) = gw
        .send(
            Method::DELETE,
            "/api/v1/budget",
            Some(&gw.token),
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(status, 204);
    // A foreign page cannot sign the browser in either.
    let (status, _, _) = gw
        .send(
            Method::POST,
            "/api/v1/session",
            None,
            &[("origin", "https://evil.example")],
            Some(json!({ "token": gw.token }).to_string()),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn sign_out_revokes_the_session_and_an_expired_one_is_refused() {
    let gw = gateway().await;
    let session = sign_in(&gw, json!({ "token": gw.token }), &[]).await;
    let cookie = session.cookie();
    let (status, _, _) = gw
        .send(
            Method::DELETE,
            "/api/v1/session",
            None,
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(status, 403, "sign-out is an unsafe call: CSRF applies");
    let (status, headers, _) = gw
        .send(
            Method::DELETE,
            "/api/v1/session",
            None,
            &[("cookie", &cookie), ("x-csrf-token", &session.csrf)],
            None,
        )
        .await;
    assert_eq!(status, 204);
    let cleared: Vec<&str> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cleared.len(), 2, "{cleared:?}");
    assert!(
        cleared.iter().all(|c| c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    let (status, _, body) = gw
        .send(
            Method::GET,
            "/api/v1/session",
            None,
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(status, 401, "{body}");
    // The token it was made from still works.
    let (status, _, _) = gw
        .send(Method::GET, "/api/v1/session", Some(&gw.token), &[], None)
        .await;
    assert_eq!(status, 200);

    let session = sign_in(&gw, json!({ "token": gw.token }), &[]).await;
    let (_, _, me) = gw
        .send(
            Method::GET,
            "/api/v1/session",
            None,
            &[("cookie", &session.cookie())],
            None,
        )
        .await;
    assert_eq!(me["token_kind"], "session");
    let db = rusqlite::Connection::open(gw.vault.db_path()).unwrap();
    db.execute(
        "UPDATE tokens SET expires_at = 1000 WHERE kind = 'session' AND revoked_at IS NULL",
        [],
    )
    .unwrap();
    let (status, _, body) = gw
        .send(
            Method::GET,
            "/api/v1/keys",
            None,
            &[("cookie", &session.cookie())],
            None,
        )
        .await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn daily_usage_counts_byok_and_managed_calls_on_their_day() {
    let gw = gateway().await;
    gw.grant(5_000_000).await;
    let calls = [
        ("/v1/chat/completions", "gpt-4o-mini"),
        ("/v1/chat/completions", "anthropic/claude-sonnet-4-5"),
    ];
    for (path, model) in calls {
        let body = json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] });
        let (status, _, answer) = gw
            .send(
                Method::POST,
                path,
                Some(&gw.token),
                &[],
                Some(body.to_string()),
            )
            .await;
        assert_eq!(status, 200, "{model}: {answer}");
    }
    let session = sign_in(&gw, json!({ "token": gw.token }), &[]).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let today = loop {
        let (status, _, body) = gw
            .send(
                Method::GET,
                "/api/v1/usage/daily",
                None,
                &[("cookie", &session.cookie())],
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let days = body["days"].as_array().unwrap().clone();
        let month = body["month"].as_str().unwrap();
        assert!(
            days.iter()
                .all(|d| d["date"].as_str().unwrap().starts_with(month))
        );
        let busy: Vec<&Value> = days.iter().filter(|d| d["requests"] != 0).collect();
        if busy
            .iter()
            .map(|d| d["requests"].as_u64().unwrap())
            .sum::<u64>()
            >= 2
        {
            assert_eq!(busy.len(), 1, "{body}");
            break busy[0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(today["byok_requests"], 1, "{today}");
    assert_eq!(today["managed_requests"], 1, "{today}");
    assert!(
        today["managed_cost_micros"].as_i64().unwrap() > 0,
        "{today}"
    );
}

#[tokio::test]
async fn revoking_a_token_ends_the_sessions_started_from_it() {
    let gw = gateway().await;
    // A token of the user's own, and a session from it; a second session from that one.
    let (status, _, made) = gw
        .send(
            Method::POST,
            "/api/v1/tokens",
            Some(&gw.token),
            &[],
            Some(json!({ "name": "laptop" }).to_string()),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let laptop = made["token"].as_str().unwrap().to_owned();
    let first = sign_in(&gw, json!({ "token": laptop }), &[]).await;
    let second = sign_in(&gw, json!({ "token": first.token }), &[]).await;
    // An unrelated session, from the user's first token, lives on.
    let other = sign_in(&gw, json!({ "token": gw.token }), &[]).await;
    for session in [&first, &second, &other] {
        let (status, _, _) = gw
            .send(
                Method::GET,
                "/api/v1/session",
                Some(&session.token),
                &[],
                None,
            )
            .await;
        assert_eq!(status, 200);
    }

    let id = made["id"].as_str().unwrap();
    let (status, _, _) = gw
        .send(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            Some(&gw.token),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 204);
    for (session, alive) in [(&first, false), (&second, false), (&other, true)] {
        let (status, _, body) = gw
            .send(
                Method::GET,
                "/api/v1/session",
                None,
                &[("cookie", &session.cookie())],
                None,
            )
            .await;
        assert_eq!(status, if alive { 200 } else { 401 }, "{body}");
    }
}
