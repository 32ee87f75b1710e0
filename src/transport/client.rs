//! The HTTP edge: the reqwest client (rustls, keep-alive, `User-Agent`, JSON POST only), the
//! portal's address (webhook or OAuth endpoint) and the [`Secret`] wrapper for credentials.
//!
//! Owns: URL checks (`https://`, or `http://` to a loopback host only), building the URL and
//! body of one call, and sending it. Must not classify answers (that is `error.rs`) and must
//! never let a webhook code or token reach `Debug` output, error text or logs: URLs that carry
//! a secret are dropped from reqwest errors (`without_url`), and every URL shown anywhere goes
//! through [`redact_url`] (userinfo, webhook code, query values) or [`redact_text`].

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;
use serde_json::{Map, Value};

/// A credential. `Debug` prints `***`; there is no `Display`. Read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret text, for building a request. Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why the portal address or credentials cannot be used (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("`{0}` is not a URL")]
    NotAUrl(String),
    #[error(
        "`{0}` uses plain http:// to a non-loopback host; use https:// (http:// is allowed only for \
         127.0.0.1, ::1 and localhost)"
    )]
    InsecureUrl(String),
    #[error("unsupported URL scheme in `{0}`; use https://")]
    Scheme(String),
    #[error("`{0}` is not a webhook URL; expected https://<portal>/rest/<user id>/<code>/")]
    NotAWebhook(String),
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}

/// An inbound webhook: `https://<portal>/rest/<user>/<code>/`. The code is a [`Secret`].
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `https://<portal>/rest/` (no secret).
    base: Url,
    user: String,
    code: Secret,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Webhook({}{}/***/)", redact_url(self.base.as_str()), self.user)
    }
}

impl Webhook {
    /// Parses a webhook URL as Bitrix24 shows it (a trailing method such as `profile.json`
    /// is ignored). Errors show the URL with the code replaced by `***`.
    pub fn parse(url: &str) -> Result<Webhook, ConfigError> {
        let parsed = Url::parse(url).map_err(|_| ConfigError::NotAUrl(redact_webhook(url)))?;
        check_scheme(&parsed, &redact_webhook(url))?;
        let segments: Vec<&str> = parsed.path_segments().map(|s| s.collect()).unwrap_or_default();
        let at = segments
            .iter()
            .position(|s| *s == "rest")
            .filter(|i| segments.len() > i + 2 && !segments[i + 1].is_empty() && !segments[i + 2].is_empty())
            .ok_or_else(|| ConfigError::NotAWebhook(redact_webhook(url)))?;
        let user = segments[at + 1].to_string();
        if !user.chars().all(|c| c.is_ascii_digit()) {
            return Err(ConfigError::NotAWebhook(redact_webhook(url)));
        }
        let mut base = parsed.clone();
        base.set_query(None);
        base.set_fragment(None);
        base.set_path(&format!("{}/", segments[..=at].join("/")));
        Ok(Webhook { base, user, code: Secret::new(segments[at + 2]) })
    }

    /// The portal's host, safe to show.
    pub fn host(&self) -> &str {
        self.base.host_str().unwrap_or("")
    }

    /// The portal's `host[:port]` (no secret).
    pub fn address(&self) -> String {
        address(&self.base)
    }

    /// The webhook's identity for a one-way digest (`shared_pace::credential_digest`): user and
    /// code. Never log or store this string itself.
    pub(crate) fn identity(&self) -> String {
        format!("webhook {}/{}", self.user, self.code.expose())
    }

    fn method_url(&self, method: &str) -> String {
        format!("{}{}/{}/{}", self.base, self.user, self.code.expose(), method)
    }
}

/// Masks every credential a URL can carry; kept under its old name for callers that only knew
/// about webhook codes. A value with whitespace (a whole command line) goes through
/// [`redact_text`], a single value through [`redact_url`].
pub fn redact_webhook(url: &str) -> String {
    if url.contains(char::is_whitespace) { redact_text(url) } else { redact_url(url) }
}

/// Masks every credential a URL can carry, for anything that may be a URL, malformed or not
/// (never panics, masks rather too much than too little):
/// - the userinfo: `https://user:password@host/` -> `https://***@host/`;
/// - the webhook code, the path segment after `/rest/<user>/` (and `<user>` itself when it is
///   not a number, as in a mistyped `/rest/<code>/<method>`), and the one segment of
///   `/rest/<code>/` written without the user ID (unless it is a number or a method name);
/// - every query and fragment value: `?token=abc&x` -> `?token=***&***`.
pub fn redact_url(url: &str) -> String {
    let split = url.find(['?', '#']).unwrap_or(url.len());
    let (head, tail) = url.split_at(split);
    let mut out = String::with_capacity(url.len() + 8);
    let after_scheme = head.find("://").map_or(0, |i| i + 3);
    out.push_str(&head[..after_scheme]);
    let mut rest = &head[after_scheme..];
    // A password may hold an unescaped `/`: mask up to the last `@` before the query.
    if let Some(at) = rest.rfind('@') {
        out.push_str("***");
        rest = &rest[at..];
    }
    let mut segments: Vec<&str> = rest.split('/').collect();
    if let Some(i) = segments.iter().position(|s| s.eq_ignore_ascii_case("rest")) {
        let code_at = i + 2;
        let user = segments.get(i + 1).copied().unwrap_or("");
        let by_name = |s: &str| !s.is_empty() && (s.bytes().all(|b| b.is_ascii_digit()) || s.contains('.'));
        if segments.get(code_at).is_some_and(|s| !s.is_empty()) {
            if user.is_empty() || !user.bytes().all(|b| b.is_ascii_digit()) {
                segments[i + 1] = "***";
            }
            segments[code_at] = "***";
        } else if !user.is_empty() && !by_name(user) {
            // `/rest/<code>/` without the user ID: the one segment is the code (a method name
            // has a dot, a user ID only digits).
            segments[i + 1] = "***";
        }
    }
    out.push_str(&segments.join("/"));
    out.push_str(&redact_query(tail));
    out
}

/// `?a=1&b#c=2` -> `?a=***&***#c=***`: every value of a query or fragment masked, names kept.
fn redact_query(tail: &str) -> String {
    let mut out = String::with_capacity(tail.len());
    let mut item = String::new();
    let flush = |item: &mut String, out: &mut String| {
        match item.split_once('=') {
            Some((name, value)) if !value.is_empty() => {
                out.push_str(name);
                out.push_str("=***");
            }
            Some(_) => out.push_str(item),
            None if !item.is_empty() => out.push_str("***"),
            None => {}
        }
        item.clear();
    };
    for c in tail.chars() {
        if matches!(c, '?' | '#' | '&' | ';') {
            flush(&mut item, &mut out);
            out.push(c);
        } else {
            item.push(c);
        }
    }
    flush(&mut item, &mut out);
    out
}

/// Masks every URL inside free text (a stored command line, an error message): each
/// whitespace-separated word that looks like a URL (`://`, `/rest/` or a query) goes through
/// [`redact_url`]; quotes and brackets around it are kept.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut word_start = None;
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (c.is_whitespace(), word_start) {
            (false, None) => word_start = Some(i),
            (true, Some(start)) => {
                out.push_str(&redact_word(&text[start..i]));
                word_start = None;
                if i < text.len() {
                    out.push(c);
                }
            }
            (true, None) if i < text.len() => out.push(c),
            _ => {}
        }
    }
    out
}

fn redact_word(word: &str) -> String {
    let lower = word.to_ascii_lowercase();
    if !(lower.contains("://") || lower.contains("/rest/") || word.contains('?') || word.contains('@')) {
        return word.to_string();
    }
    let open = |c: char| matches!(c, '`' | '"' | '\'' | '(' | '<');
    let close = |c: char| matches!(c, '`' | '"' | '\'' | ')' | '>' | ',' | ';');
    let core_start = word.len() - word.trim_start_matches(open).len();
    let core_end = word.trim_end_matches(close).len().max(core_start);
    format!("{}{}{}", &word[..core_start], redact_url(&word[core_start..core_end]), &word[core_end..])
}

/// An OAuth application's access to a portal: `client_endpoint` (`https://<portal>/rest/`) with
/// `auth=<access token>` in every body, and what is needed to refresh the token.
#[derive(Clone)]
pub struct OAuth {
    pub endpoint: Url,
    pub access_token: Secret,
    pub refresh_token: Secret,
    pub client_id: String,
    pub client_secret: Secret,
    /// `https://oauth.bitrix.info/oauth/token/` or the sandbox's (`--oauth-endpoint`).
    pub token_url: Url,
    /// Tried once when `refresh_token` is refused: the other candidate (a saved token beside
    /// `B24_REFRESH_TOKEN`), so a choice between two tokens never strands the run.
    pub fallback_refresh_token: Option<Secret>,
    /// Appended to a failed refresh's message: where the refresh tokens tried came from (a
    /// file name, an environment variable; never a token).
    pub refresh_hint: Option<String>,
}

impl fmt::Debug for OAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth")
            .field("endpoint", &redact_url(self.endpoint.as_str()))
            .field("client_id", &self.client_id)
            .field("token_url", &redact_url(self.token_url.as_str()))
            .field("refresh_hint", &self.refresh_hint)
            .finish_non_exhaustive()
    }
}

impl OAuth {
    /// Checks both URLs (https, or http to loopback) and normalizes the endpoint to end in `/`
    /// (a query or fragment on the endpoint is dropped: the token travels in the body).
    pub fn new(
        endpoint: &str,
        access_token: Secret,
        refresh_token: Secret,
        client_id: String,
        client_secret: Secret,
        token_url: &str,
    ) -> Result<OAuth, ConfigError> {
        let shown = redact_url(endpoint);
        let mut endpoint = Url::parse(endpoint).map_err(|_| ConfigError::NotAUrl(shown.clone()))?;
        check_scheme(&endpoint, &shown)?;
        endpoint.set_query(None);
        endpoint.set_fragment(None);
        if !endpoint.path().ends_with('/') {
            let path = format!("{}/", endpoint.path());
            endpoint.set_path(&path);
        }
        let shown = redact_url(token_url);
        let token_url = Url::parse(token_url).map_err(|_| ConfigError::NotAUrl(shown.clone()))?;
        check_scheme(&token_url, &shown)?;
        Ok(OAuth {
            endpoint,
            access_token,
            refresh_token,
            client_id,
            client_secret,
            token_url,
            fallback_refresh_token: None,
            refresh_hint: None,
        })
    }
}

/// How the transport reaches the portal.
#[derive(Clone, Debug)]
pub enum Credentials {
    Webhook(Webhook),
    OAuth(OAuth),
}

/// `https://` always; `http://` only when the host is loopback (the sandbox).
pub fn check_scheme(url: &Url, shown: &str) -> Result<(), ConfigError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(ConfigError::InsecureUrl(shown.to_string())),
        _ => Err(ConfigError::Scheme(shown.to_string())),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Builds the shared HTTP client: rustls (ring), keep-alive pool, `User-Agent`, `timeout`.
pub fn build_http(timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    // Installing twice fails harmlessly: another part of the program may have done it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("b24import/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        // Resolution included; a portal not reached in 10 s is retried, then reported.
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .dns_resolver(std::sync::Arc::new(super::resolve::SystemResolver))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_keepalive(Duration::from_secs(60))
        .build()
        .map_err(|e| ConfigError::Client(e.without_url().to_string()))
}

/// One request ready to send: the URL (may hold the webhook code) and the JSON body.
pub(crate) struct Prepared {
    pub url: String,
    pub body: Value,
}

/// The URL and body of `method` with `params` (an object) under `credentials`; OAuth adds
/// `auth` to the body.
pub(crate) fn prepare(
    credentials: &Credentials,
    access_token: Option<&Secret>,
    method: &str,
    mut params: Map<String, Value>,
) -> Prepared {
    match credentials {
        Credentials::Webhook(w) => Prepared { url: w.method_url(method), body: Value::Object(params) },
        Credentials::OAuth(o) => {
            if let Some(token) = access_token {
                params.insert("auth".into(), Value::String(token.expose().to_string()));
            }
            Prepared { url: format!("{}{}", o.endpoint, method), body: Value::Object(params) }
        }
    }
}

/// What came back: status and raw body (not parsed yet).
pub(crate) struct RawAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Sends one JSON POST. A transport failure is returned as text without the URL.
pub(crate) async fn post_json(http: &reqwest::Client, req: &Prepared) -> Result<RawAnswer, SendError> {
    let resp = http
        .post(&req.url)
        .header(reqwest::header::ACCEPT, "application/json")
        .json(&req.body)
        .send()
        .await
        .map_err(SendError::from_reqwest)?;
    let status = resp.status().as_u16();
    let content_type =
        resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = resp.bytes().await.map_err(SendError::from_reqwest)?.to_vec();
    Ok(RawAnswer { status, content_type, body })
}

/// A request that got no HTTP answer.
#[derive(Debug)]
pub(crate) struct SendError {
    /// The connection could not be established: nothing was sent.
    pub not_sent: bool,
    pub message: String,
}

impl SendError {
    fn from_reqwest(e: reqwest::Error) -> SendError {
        let not_sent = e.is_connect();
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "connection failed"
        };
        let e = e.without_url();
        // reqwest's Display omits the causes (hyper, io); they say what actually happened.
        let mut message = format!("{kind}: {e}");
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            message.push_str(": ");
            message.push_str(&c.to_string());
            cause = c.source();
        }
        SendError { not_sent, message }
    }
}

/// `host[:port]` of a URL (the port only when it is not the scheme's default).
pub fn address(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_masked() {
        assert_eq!(format!("{:?}", Secret::new("abc123")), "***");
    }

    #[test]
    fn webhook_parses_and_hides_its_code() {
        let w = Webhook::parse("https://portal.bitrix24.ru/rest/1/s3cr3tc0de/").expect("parse");
        assert_eq!(w.method_url("batch"), "https://portal.bitrix24.ru/rest/1/s3cr3tc0de/batch");
        let dbg = format!("{w:?}");
        assert!(!dbg.contains("s3cr3tc0de"), "{dbg}");
        let w = Webhook::parse("https://portal.bitrix24.ru/rest/1/s3cr3tc0de/profile.json").expect("parse");
        assert_eq!(w.method_url("user.get"), "https://portal.bitrix24.ru/rest/1/s3cr3tc0de/user.get");
    }

    #[test]
    fn plain_http_is_refused_unless_loopback() {
        let err = Webhook::parse("http://portal.example.com/rest/1/s3cr3tc0de/").expect_err("insecure");
        assert!(matches!(err, ConfigError::InsecureUrl(_)));
        assert!(!err.to_string().contains("s3cr3tc0de"), "{err}");
        for ok in
            ["http://127.0.0.1:8080/rest/1/x/", "http://localhost/rest/1/x/", "http://[::1]:9/rest/1/x/"]
        {
            Webhook::parse(ok).expect(ok);
        }
    }

    // Bug pinned: `user:pass@` and `?token=` reached the journal and `status` unmasked.
    #[rstest::rstest]
    #[case("https://p.bitrix24.ru/rest/1/abc123xyz/", "https://p.bitrix24.ru/rest/1/***/")]
    #[case(
        "https://p.bitrix24.ru/rest/1/abc123xyz/batch.json",
        "https://p.bitrix24.ru/rest/1/***/batch.json"
    )]
    #[case("https://p.bitrix24.ru/rest/1/abc123xyz", "https://p.bitrix24.ru/rest/1/***")]
    #[case(
        "http://user:pass@127.0.0.1:80/rest/1/CODE/?token=SECRET",
        "http://***@127.0.0.1:80/rest/1/***/?token=***"
    )]
    #[case("https://u:p/a@ss@host/rest/", "https://***@host/rest/")]
    #[case(
        "https://host/rest/?auth=T1&x=&flag#access_token=T2",
        "https://host/rest/?auth=***&x=&***#access_token=***"
    )]
    #[case("https://host/rest/crm.item.add?auth=T1", "https://host/rest/crm.item.add?auth=***")]
    #[case("https://host/REST/abc/CODE/", "https://host/REST/***/***/")]
    #[case("host/rest/1/CODE/", "host/rest/1/***/")]
    #[case("tok3n@host", "***@host")]
    #[case("://@?#&=", "://***@?#&=")]
    #[case("", "")]
    #[case("https://example.bitrix24.ru/rest/", "https://example.bitrix24.ru/rest/")]
    // Bug pinned (issue 16): a webhook without its user ID was echoed whole.
    #[case("https://portal/rest/s3cr3tc0de/", "https://portal/rest/***/")]
    #[case("https://portal/rest/s3cr3tc0de", "https://portal/rest/***")]
    #[case("https://portal/rest/1/", "https://portal/rest/1/")]
    fn every_credential_in_a_url_is_masked(#[case] url: &str, #[case] want: &str) {
        assert_eq!(redact_url(url), want);
    }

    #[test]
    fn urls_inside_text_are_masked_and_the_rest_is_kept() {
        let text = "a.toml b.toml --webhook http://u:pw@h/rest/1/CODE/?token=S --batch-size 50";
        assert_eq!(
            redact_text(text),
            "a.toml b.toml --webhook http://***@h/rest/1/***/?token=*** --batch-size 50"
        );
        assert_eq!(redact_text("`https://h/rest/1/C/?a=b` is not"), "`https://h/rest/1/***/?a=***` is not");
        assert_eq!(redact_text("  two  spaces\tkept "), "  two  spaces\tkept ");
        assert_eq!(redact_webhook(text), redact_text(text));
        assert_eq!(redact_webhook("https://h/rest/1/C/"), "https://h/rest/1/***/");
    }

    #[test]
    fn redaction_never_panics_on_odd_input() {
        for s in ["@", "?", "#", "/rest/", "rest/x/", "é://ü@ß/rest/1/ж/?я=ю", "`", "'@'", "`?`", "\u{0}://"]
        {
            let _ = redact_url(s);
            let _ = redact_text(s);
        }
        assert!(!redact_url("é://ü@ß/rest/1/ж/?я=ю").contains(['ü', 'ж', 'ю']));
    }

    #[test]
    fn debug_of_credentials_shows_no_secret() {
        let w = Webhook::parse("http://user:pass@127.0.0.1:9/rest/1/CODE/?token=SECRET").expect("parse");
        let o = OAuth::new(
            "http://user:pass@127.0.0.1:9/rest/?auth=SECRET",
            Secret::new("ACCESS"),
            Secret::new("REFRESH"),
            "app".into(),
            Secret::new("CLIENTSECRET"),
            "http://127.0.0.1:9/oauth/token/?client_secret=SECRET",
        )
        .expect("oauth");
        assert_eq!(o.endpoint.query(), None, "a query on the endpoint is dropped");
        let dbg = format!("{:?}", (Credentials::Webhook(w), Credentials::OAuth(o)));
        for secret in ["pass", "CODE", "SECRET", "ACCESS", "REFRESH", "CLIENTSECRET"] {
            assert!(!dbg.contains(secret), "{secret} in {dbg}");
        }
    }

    #[test]
    fn malformed_webhook_error_hides_the_code() {
        let err =
            Webhook::parse("https://portal.bitrix24.ru/rest/abc/s3cr3tc0de/").expect_err("user not numeric");
        assert!(!err.to_string().contains("s3cr3tc0de"), "{err}");
    }
}
