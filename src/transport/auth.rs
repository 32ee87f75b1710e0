//! OAuth tokens: the current access token, and one refresh shared by every in-flight call
//! when the portal answers 401 `expired_token` (`docs/portal-protocol.md` §5.2).
//!
//! Owns: the token state (a generation counter tells a caller whether someone else already
//! refreshed the token it used), the refresh request to the token endpoint, and handing the
//! rotated refresh token to the run's callback so it can be persisted. When the first refresh
//! token is refused and the run gave a second candidate (`OAuth::fallback_refresh_token`: the
//! saved token beside `B24_REFRESH_TOKEN`), that one is tried once. A failed refresh is not
//! repeated for the same token, and its message says where the tokens came from
//! (`OAuth::refresh_hint`). Must not log or format any token.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Mutex;

use super::client::{OAuth, Secret};
use super::error::TransportError;

/// Receives the new refresh token after each rotation (the run persists it if asked to).
pub type OnRefresh = Arc<dyn Fn(&Secret) + Send + Sync>;

struct Tokens {
    access: Secret,
    refresh: Secret,
    /// Bumped by each successful refresh.
    generation: u64,
    /// Set when refreshing `generation`'s token failed: do not try again.
    failed: Option<String>,
    /// The other candidate refresh token, until a refresh succeeds or it was tried.
    fallback: Option<Secret>,
}

/// The access token in use and how to renew it.
pub struct Auth {
    oauth: OAuth,
    tokens: Mutex<Tokens>,
    on_refresh: Option<OnRefresh>,
    http: reqwest::Client,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth").field("token_url", &self.oauth.token_url.as_str()).finish_non_exhaustive()
    }
}

impl Auth {
    pub fn new(oauth: OAuth, http: reqwest::Client, on_refresh: Option<OnRefresh>) -> Auth {
        let tokens = Tokens {
            access: oauth.access_token.clone(),
            refresh: oauth.refresh_token.clone(),
            generation: 0,
            failed: None,
            fallback: oauth.fallback_refresh_token.clone(),
        };
        Auth { oauth, tokens: Mutex::new(tokens), on_refresh, http }
    }

    /// The access token to send and its generation. Waits while a refresh is in flight.
    pub async fn current(&self) -> (Secret, u64) {
        let t = self.tokens.lock().await;
        (t.access.clone(), t.generation)
    }

    /// The token of `used` generation expired. The first caller refreshes (returns `true`); the
    /// others wait on the lock and find the generation moved on (`false`).
    pub async fn refresh(&self, used: u64) -> Result<bool, TransportError> {
        let mut t = self.tokens.lock().await;
        if t.generation != used {
            return Ok(false);
        }
        if let Some(why) = &t.failed {
            return Err(TransportError::Refresh(why.clone()));
        }
        let mut answer = self.request(&t.refresh).await;
        if answer.is_err()
            && let Some(other) = t.fallback.take()
        {
            let second = self.request(&other).await;
            if second.is_ok() {
                tracing::info!("the first OAuth refresh token was refused; the other candidate worked");
            }
            answer = second.map_err(|why| match &answer {
                Err(first) if *first != why => format!("{first}; then {why}"),
                _ => why,
            });
        }
        match answer {
            Ok((access, refresh)) => {
                t.access = access;
                t.refresh = refresh;
                t.generation += 1;
                t.fallback = None;
                tracing::info!(generation = t.generation, "OAuth access token refreshed");
                if let Some(cb) = &self.on_refresh {
                    cb(&t.refresh);
                }
                Ok(true)
            }
            Err(mut why) => {
                if let Some(hint) = &self.oauth.refresh_hint {
                    why = format!("{why}; {hint}");
                }
                t.failed = Some(why.clone());
                Err(TransportError::Refresh(why))
            }
        }
    }

    /// `GET <token_url>?grant_type=refresh_token&client_id&client_secret&refresh_token`.
    async fn request(&self, refresh: &Secret) -> Result<(Secret, Secret), String> {
        let mut url = self.oauth.token_url.clone();
        url.query_pairs_mut()
            .append_pair("grant_type", "refresh_token")
            .append_pair("client_id", &self.oauth.client_id)
            .append_pair("client_secret", self.oauth.client_secret.expose())
            .append_pair("refresh_token", refresh.expose());
        let resp = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("token endpoint unreachable: {}", e.without_url()))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| format!("token endpoint: {}", e.without_url()))?;
        let json: Value = serde_json::from_slice(&body)
            .map_err(|_| format!("token endpoint answered HTTP {status} without JSON"))?;
        if let Some(code) = json.get("error").and_then(Value::as_str) {
            let desc = json.get("error_description").and_then(Value::as_str).unwrap_or("");
            let desc = if desc.contains("://") { super::client::redact_text(desc) } else { desc.to_string() };
            return Err(format!("token endpoint refused: {code} {desc} (HTTP {status})"));
        }
        let field = |k: &str| json.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(Secret::new);
        match (field("access_token"), field("refresh_token")) {
            (Some(a), Some(r)) => Ok((a, r)),
            _ => Err(format!("token endpoint answer (HTTP {status}) lacks access_token or refresh_token")),
        }
    }
}

// These tests refresh tokens against the embedded sandbox portal.
#[cfg(all(test, feature = "sandbox"))]
mod tests {
    use super::*;
    use crate::sandbox::{Sandbox, SandboxConfig};

    fn oauth_to(sandbox: &crate::sandbox::SandboxHandle, refresh: &str, fallback: Option<&str>) -> OAuth {
        let cfg = &sandbox.config().oauth;
        let mut o = OAuth::new(
            &sandbox.client_endpoint(),
            Secret::new("expired"),
            Secret::new(refresh),
            cfg.client_id.clone(),
            Secret::new(cfg.client_secret.clone()),
            &sandbox.oauth_endpoint(),
        )
        .expect("oauth");
        o.fallback_refresh_token = fallback.map(Secret::new);
        o.refresh_hint = Some("tried the token saved in j.refresh-token".into());
        o
    }

    // Bug pinned: a re-authorized B24_REFRESH_TOKEN was ignored in favour of a stale saved token.
    #[tokio::test]
    async fn a_refused_refresh_token_falls_back_to_the_other_candidate_once() {
        let sandbox = Sandbox::start(SandboxConfig::fast()).await.expect("sandbox");
        let good = sandbox.config().oauth.refresh_token.clone();
        let http = super::super::client::build_http(std::time::Duration::from_secs(5)).expect("http");
        let saved = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
        let sink = saved.clone();
        let on_refresh: OnRefresh = Arc::new(move |t: &Secret| {
            *sink.lock().expect("lock") = Some(t.expose().to_string());
        });
        let auth = Auth::new(oauth_to(&sandbox, "stale", Some(&good)), http.clone(), Some(on_refresh));
        assert!(auth.refresh(0).await.expect("the fallback works"));
        assert!(saved.lock().expect("lock").as_deref().is_some_and(|t| t != good));

        let auth = Auth::new(oauth_to(&sandbox, "stale", Some("older")), http, None);
        let err = auth.refresh(0).await.expect_err("both refused").to_string();
        assert!(err.contains("invalid_grant") && err.contains("j.refresh-token"), "{err}");
        assert!(!err.contains("stale") && !err.contains("older"), "no token in the message: {err}");
        sandbox.stop().await;
    }
}
