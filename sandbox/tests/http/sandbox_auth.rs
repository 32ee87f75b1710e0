//! Auth over HTTP: webhook codes, OAuth tokens in body or query, expiry and refresh.

use crate::sandbox_common;

use std::time::Duration;

use b24_sandbox::{Clock, SandboxConfig};
use sandbox_common::Portal;
use serde_json::{Value, json};

#[tokio::test]
async fn a_wrong_webhook_code_or_user_is_401_no_auth_found() {
    let p = Portal::fast().await;
    let base = p.handle.base_url();
    for url in [
        format!("{base}/rest/1/wrongcode/profile"),
        format!("{base}/rest/2/{}/profile", p.handle.config().webhook.code),
    ] {
        let resp = p.client.post(url).json(&json!({})).send().await.expect("answer");
        assert_eq!(resp.status().as_u16(), 401);
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["error"], "NO_AUTH_FOUND");
    }
    assert_eq!(p.handle.snapshot().refusals["NO_AUTH_FOUND"], 2);
}

async fn oauth_call(p: &Portal, method: &str, token: &str) -> (u16, Value) {
    let url = format!("{}{method}", p.handle.client_endpoint());
    let resp = p.client.post(url).json(&json!({"auth": token})).send().await.expect("answer");
    (resp.status().as_u16(), resp.json().await.expect("json"))
}

#[tokio::test]
async fn an_oauth_token_works_in_the_body_or_the_query_and_a_wrong_one_is_refused() {
    let p = Portal::fast().await;
    let token = p.handle.config().oauth.access_token.clone();
    let (status, v) = oauth_call(&p, "profile", &token).await;
    assert_eq!(status, 200, "{v}");
    let url = format!("{}profile?auth={token}", p.handle.client_endpoint());
    assert_eq!(p.client.get(url).send().await.expect("answer").status().as_u16(), 200);
    assert_eq!(oauth_call(&p, "profile", "nope").await.1["error"], "NO_AUTH_FOUND");
    let url = format!("{}profile", p.handle.client_endpoint());
    assert_eq!(p.client.post(url).send().await.expect("answer").status().as_u16(), 401);
}

#[tokio::test]
async fn an_expired_token_is_401_expired_token_and_a_refresh_gives_a_working_one() {
    let clock = Clock::manual();
    let mut cfg = SandboxConfig { clock: clock.clone(), ..SandboxConfig::fast() };
    cfg.oauth.token_ttl = Some(Duration::from_secs(3600));
    let p = Portal::start(cfg).await;
    let oauth = p.handle.config().oauth.clone();
    assert_eq!(oauth_call(&p, "profile", &oauth.access_token).await.0, 200);
    clock.advance(Duration::from_secs(3600));
    let (status, v) = oauth_call(&p, "profile", &oauth.access_token).await;
    assert_eq!((status, v["error"].as_str()), (401, Some("expired_token")));
    let refresh = |rt: &str| {
        format!(
            "{}?grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={rt}",
            p.handle.oauth_endpoint(),
            oauth.client_id,
            oauth.client_secret
        )
    };
    let v: Value =
        p.client.get(refresh(&oauth.refresh_token)).send().await.expect("answer").json().await.expect("json");
    let new_token = v["access_token"].as_str().expect("access_token");
    assert_eq!(v["expires_in"], 3600);
    assert_ne!(v["refresh_token"].as_str(), Some(oauth.refresh_token.as_str()));
    assert_eq!(oauth_call(&p, "profile", new_token).await.0, 200);
    // The old refresh token was rotated away.
    let resp = p.client.get(refresh(&oauth.refresh_token)).send().await.expect("answer");
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(resp.json::<Value>().await.expect("json")["error"], "invalid_grant");
    let bad = format!(
        "{}?grant_type=refresh_token&client_id=x&client_secret=y&refresh_token=z",
        p.handle.oauth_endpoint()
    );
    let resp = p.client.get(bad).send().await.expect("answer");
    assert_eq!(resp.json::<Value>().await.expect("json")["error"], "invalid_client");
}

// The request-rate bucket is one per portal and source address, shared by the webhook and the
// OAuth application: `sandbox_limits.rs`.
