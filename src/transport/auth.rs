//! OAuth tokens: the current access token, and one refresh shared by every in-flight call
//! when the portal answers 401 `expired_token` (`../shared/bitrix24.md` §5.2).
//!
//! Owns: the token state (a generation counter tells a caller whether someone else already
//! refreshed the token it used), the refresh request to the token endpoint, and handing the
//! rotated refresh token to the run's callback so it can be persisted. A failed refresh is
//! not repeated for the same token. Must not log or format any token.

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
        match self.request(&t.refresh).await {
            Ok((access, refresh)) => {
                t.access = access;
                t.refresh = refresh;
                t.generation += 1;
                tracing::info!(generation = t.generation, "OAuth access token refreshed");
                if let Some(cb) = &self.on_refresh {
                    cb(&t.refresh);
                }
                Ok(true)
            }
            Err(why) => {
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
            return Err(format!("token endpoint refused: {code} {desc} (HTTP {status})"));
        }
        let field = |k: &str| json.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(Secret::new);
        match (field("access_token"), field("refresh_token")) {
            (Some(a), Some(r)) => Ok((a, r)),
            _ => Err(format!("token endpoint answer (HTTP {status}) lacks access_token or refresh_token")),
        }
    }
}
