//! Error classification: what a portal answer (or the lack of one) means for the commands in
//! the request, and the errors the transport hands to the run.
//!
//! Owns: the mapping from (HTTP status, portal error code) to a [`Class`] (retry, permanent,
//! refresh, fatal, ambiguous), codes compared case-insensitively (`docs/portal-protocol.md` §5.3,
//! §5.4), and [`TransportError`] / [`CallError`]. Must not perform I/O or hold secrets: every
//! message here is safe to print and log.

use std::time::Duration;

/// What an answer means for the request that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// 2xx with a JSON body and no `error`.
    Success,
    /// 503 `QUERY_LIMIT_EXCEEDED`: refused before execution; back off and resend.
    QueryLimit,
    /// 429 `OPERATION_TIME_LIMIT`: the method is blocked; park it until its reset and resend.
    OperatingLimit,
    /// 401 `expired_token`: refresh the OAuth token once, then resend.
    ExpiredToken,
    /// Deterministic refusal (400 field errors, 404 method, ...): do not resend.
    Permanent,
    /// Credentials refused (`NO_AUTH_FOUND`, 401/403) or `OVERLOAD_LIMIT`: stop the run.
    Fatal(FatalKind),
    /// The request may or may not have run (timeout, dropped connection, 5xx, non-JSON body).
    Ambiguous,
    /// 413 Request Entity Too Large: a proxy (nginx `client_max_body_size`) refused the body
    /// before the portal saw it; nothing ran. Send less per request.
    TooLarge,
}

/// Why the run must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatalKind {
    /// The portal refused the credentials or their rights.
    Auth,
    /// `OVERLOAD_LIMIT`: a manual block by Bitrix24 support.
    Overload,
    /// `PORTAL_DELETED`: the portal's public part is closed.
    PortalClosed,
    /// The portal's plan does not allow the writes (no smart processes on it, its user limit).
    Plan,
}

const AUTH_CODES: &[&str] = &[
    "NO_AUTH_FOUND",
    "INVALID_CREDENTIALS",
    "ACCESS_DENIED",
    "insufficient_scope",
    "invalid_scope",
    "user_access_error",
    "invalid_token",
    "invalid_grant",
    "invalid_client",
    "PAYMENT_REQUIRED",
    "WRONG_AUTH_TYPE",
];

fn is(code: Option<&str>, want: &str) -> bool {
    code.is_some_and(|c| c.eq_ignore_ascii_case(want))
}

/// Classifies a whole-request answer. `code` is the body's `error` field when the body is a
/// JSON object; `json` says whether the body parsed as JSON at all.
pub fn classify(status: u16, code: Option<&str>, json: bool) -> Class {
    // Branch on the code first: 503 carries both QUERY_LIMIT_EXCEEDED and OVERLOAD_LIMIT.
    if is(code, "QUERY_LIMIT_EXCEEDED") {
        return Class::QueryLimit;
    }
    if is(code, "OPERATION_TIME_LIMIT") {
        return Class::OperatingLimit;
    }
    if is(code, "OVERLOAD_LIMIT") {
        return Class::Fatal(FatalKind::Overload);
    }
    if is(code, "expired_token") {
        return Class::ExpiredToken;
    }
    if is(code, "PORTAL_DELETED") {
        return Class::Fatal(FatalKind::PortalClosed);
    }
    if code.is_some_and(|c| AUTH_CODES.iter().any(|a| a.eq_ignore_ascii_case(c))) {
        return Class::Fatal(FatalKind::Auth);
    }
    match status {
        401 | 403 => Class::Fatal(FatalKind::Auth),
        // Refused by the web server in front of the portal on the body size alone.
        413 => Class::TooLarge,
        // 408 Request Timeout and every 5xx: the portal may have done the work.
        408 | 500..=599 => Class::Ambiguous,
        _ if !json => Class::Ambiguous,
        200..=299 if code.is_none() => Class::Success,
        _ => Class::Permanent,
    }
}

/// A per-command refusal that every other row would get too, so that the run stops (exit 3)
/// and the row stays pending, instead of being rejected (a rejected row is not sent again
/// while its source row is unchanged, so the rows would be lost after the portal is fixed):
/// - the credential's kind or scopes: `allowed_only_intranet_user` (an extranet user's
///   webhook, crm.item.add's table), `insufficient_scope` / `invalid_scope`, `user_access_error`,
///   `INVALID_CREDENTIALS` (`_includes/system-errors.md`);
/// - the plan: `CREATE_DYNAMIC_ITEM_RESTRICTED` / `UPDATE_DYNAMIC_ITEM_RESTRICTED` (the tables
///   of crm.item.add and crm.item.update), `user.add`'s `ERROR_ARGUMENT` "user_count_exceeded"
///   (user-add.md: "User limit exceeded").
///
/// `ACCESS_DENIED` stays a row's refusal: a portal's CRM permissions can be per item.
pub fn command_stops_the_run(code: &str, description: &str) -> Option<FatalKind> {
    const CREDENTIAL: &[&str] = &[
        "allowed_only_intranet_user",
        "insufficient_scope",
        "invalid_scope",
        "user_access_error",
        "INVALID_CREDENTIALS",
    ];
    const PLAN: &[&str] = &["CREATE_DYNAMIC_ITEM_RESTRICTED", "UPDATE_DYNAMIC_ITEM_RESTRICTED"];
    if CREDENTIAL.iter().any(|c| c.eq_ignore_ascii_case(code)) {
        Some(FatalKind::Auth)
    } else if PLAN.iter().any(|c| c.eq_ignore_ascii_case(code))
        || (code.eq_ignore_ascii_case("ERROR_ARGUMENT") && description.trim() == "user_count_exceeded")
    {
        Some(FatalKind::Plan)
    } else {
        None
    }
}

/// A per-command `result_error` code that means the command did not run because of a limit
/// (so it can be resent as is).
pub fn is_limit_code(code: &str) -> bool {
    code.eq_ignore_ascii_case("QUERY_LIMIT_EXCEEDED") || code.eq_ignore_ascii_case("OPERATION_TIME_LIMIT")
}

/// Why a request did not produce an answer the run can use.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The request may have run: every command in it has an unknown outcome and must be
    /// reconciled (looked up by its key) before anything is resent.
    #[error(
        "outcome unknown for {method}: {reason}; the affected rows are marked unknown, nothing is resent"
    )]
    Ambiguous { method: String, reason: String },
    /// Stop the run (exit 3): credentials refused, `OVERLOAD_LIMIT`, portal closed.
    #[error("{message} (HTTP {status}, {code})")]
    Fatal { kind: FatalKind, status: u16, code: String, message: String },
    /// Limits kept refusing the request for longer than the configured maximum wait.
    #[error(
        "gave up on {method} after {attempts} refused attempts over {waited:?} ({last_code}); \
         the portal's limits kept refusing: lower --rate, or run when the portal is less busy"
    )]
    Exhausted { method: String, attempts: u32, waited: Duration, last_code: String },
    /// The portal refused the whole request before running it (not a row's fault for a batch).
    #[error("the portal refused {method}: {code}: {description} (HTTP {status})")]
    Refused { method: String, status: u16, code: String, description: String },
    /// The caller asked for a batch the portal would refuse (more than 50 commands, over the
    /// byte budget, duplicate keys). A bug in the caller, never sent.
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// The portal cannot be reached (connection refused, a name that does not resolve, no
    /// route). Nothing was sent; the rows of the request are still pending.
    #[error("cannot reach the portal at {host} ({reason}); {advice}")]
    Unreachable { host: String, reason: String, attempts: u32, advice: &'static str },
    /// The request body was larger than the portal accepts (HTTP 413). Nothing ran: send
    /// fewer commands per request, or the command alone; a single command still too large
    /// is the row's fault.
    #[error("{method}: the request of {bytes} bytes is larger than the portal accepts (HTTP 413)")]
    TooLarge { method: String, bytes: usize },
    /// The run was told to stop (Ctrl-C, SIGTERM). `in_flight: false`: nothing was sent (the
    /// rows are still pending); `true`: a request on the wire was abandoned (its rows stay
    /// `sent` and are looked up on the next run).
    #[error("interrupted during {method}")]
    Interrupted { method: String, in_flight: bool },
    /// The OAuth token endpoint did not give a new token.
    #[error("OAuth token refresh failed: {0}; re-authorize the application and set B24_REFRESH_TOKEN")]
    Refresh(String),
}

impl TransportError {
    /// Whether the run must stop (exit 3) rather than record row outcomes and go on.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, TransportError::Ambiguous { .. } | TransportError::TooLarge { .. })
    }

    /// Whether the run was told to stop (exit 130, not a portal failure).
    pub fn is_interrupted(&self) -> bool {
        matches!(self, TransportError::Interrupted { .. })
    }
}

/// Result of a direct call: the portal's refusal of this call, or a transport failure.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// A deterministic refusal of this call (400 field error, 404 not found, ...).
    #[error("{method}: {code}: {description} (HTTP {status})")]
    Rejected { method: String, status: u16, code: String, description: String },
    #[error(transparent)]
    Transport(TransportError),
}

impl From<TransportError> for CallError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Refused { method, status, code, description } => {
                CallError::Rejected { method, status, code, description }
            }
            other => CallError::Transport(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(503, Some("QUERY_LIMIT_EXCEEDED"), Class::QueryLimit)]
    #[case(503, Some("query_limit_exceeded"), Class::QueryLimit)]
    #[case(429, Some("OPERATION_TIME_LIMIT"), Class::OperatingLimit)]
    #[case(503, Some("OVERLOAD_LIMIT"), Class::Fatal(FatalKind::Overload))]
    #[case(401, Some("expired_token"), Class::ExpiredToken)]
    #[case(401, Some("EXPIRED_TOKEN"), Class::ExpiredToken)]
    #[case(401, Some("NO_AUTH_FOUND"), Class::Fatal(FatalKind::Auth))]
    #[case(403, Some("insufficient_scope"), Class::Fatal(FatalKind::Auth))]
    #[case(403, None, Class::Fatal(FatalKind::Auth))]
    #[case(400, Some("CRM_FIELD_ERROR_VALUE_NOT_VALID"), Class::Permanent)]
    #[case(404, Some("ERROR_METHOD_NOT_FOUND"), Class::Permanent)]
    #[case(500, Some("INTERNAL_SERVER_ERROR"), Class::Ambiguous)]
    #[case(502, None, Class::Ambiguous)]
    #[case(413, None, Class::TooLarge)]
    #[case(200, None, Class::Success)]
    #[case(200, Some("SOMETHING"), Class::Permanent)]
    fn answers_classify_by_code_then_status(
        #[case] status: u16,
        #[case] code: Option<&str>,
        #[case] want: Class,
    ) {
        assert_eq!(classify(status, code, true), want);
    }

    #[rstest]
    #[case("CREATE_DYNAMIC_ITEM_RESTRICTED", "", Some(FatalKind::Plan))]
    #[case("UPDATE_DYNAMIC_ITEM_RESTRICTED", "", Some(FatalKind::Plan))]
    #[case("ERROR_ARGUMENT", "user_count_exceeded", Some(FatalKind::Plan))]
    #[case("ERROR_ARGUMENT", "User with this email already exists", None)]
    #[case("allowed_only_intranet_user", "Action allowed only for intranet users", Some(FatalKind::Auth))]
    #[case("insufficient_scope", "", Some(FatalKind::Auth))]
    #[case("ACCESS_DENIED", "Access denied", None)]
    #[case("CRM_FIELD_ERROR_VALUE_NOT_VALID", "", None)]
    fn a_command_refusal_every_row_would_get_stops_the_run(
        #[case] code: &str,
        #[case] description: &str,
        #[case] want: Option<FatalKind>,
    ) {
        assert_eq!(command_stops_the_run(code, description), want);
    }

    #[test]
    fn non_json_bodies_are_ambiguous_even_with_200() {
        assert_eq!(classify(200, None, false), Class::Ambiguous);
        assert_eq!(classify(503, None, false), Class::Ambiguous);
    }

    // Regression: an nginx 413 page (HTML) was taken for an unknown outcome and retried.
    #[test]
    fn a_413_page_means_too_large_not_unknown() {
        assert_eq!(classify(413, None, false), Class::TooLarge);
    }
}
