//! One request's life: pacing (operating budget, gate, rate limiter), sending, reading the
//! answer, and the retry policy (resend what is known not to have run, within the maximum
//! wait; never what may have run), with the OAuth refresh and the 413 floor.
//!
//! Owns: [`Transport::exchange`] and its helpers (budget, back-off, error texts). Must not
//! build batches or know about commands (that is `batch` and the public calls in `mod.rs`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::time::Instant;

use super::*;

impl Transport {
    /// Sends one request until it is accepted or cannot be: paces it, retries it while the
    /// portal says it did not run, refreshes an expired token once per generation.
    pub(super) async fn exchange(
        &self,
        method: &str,
        params: Map<String, Value>,
        bills: &[(&str, usize)],
    ) -> Result<Accepted<'_>, TransportError> {
        let inner = &*self.inner;
        let started = Instant::now();
        let mut refused = 0u32;
        let mut refresh_attempts = 0u32;
        loop {
            let (reservation, waited) = self.unless_stopped(method, inner.operating.wait(bills)).await?;
            self.add_wait(waited);
            let mut slot = self.unless_stopped(method, inner.flight.acquire()).await?;
            self.unless_stopped(method, inner.limiter.until_ready()).await?;
            let token = match &inner.auth {
                Some(a) => Some(self.unless_stopped(method, a.current()).await?),
                None => None,
            };
            let req = client::prepare(
                &inner.config.credentials,
                token.as_ref().map(|t| &t.0),
                method,
                params.clone(),
            );
            let known_too_large = inner.too_large_at.load(Ordering::Relaxed);
            if known_too_large != usize::MAX {
                // The portal refused a body this large already: do not send it again.
                let bytes = body_size(&req.body);
                if bytes >= known_too_large {
                    return Err(TransportError::TooLarge { method: method.into(), bytes });
                }
            }
            if inner.shutdown.is_stopped() {
                return Err(interrupted(method, false));
            }
            inner.counters.requests.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(method, "sending");
            slot.leaving();
            let sent = tokio::select! {
                biased;
                _ = inner.shutdown.abandoned() => {
                    tracing::warn!(method, "abandoning the request in flight; its rows are looked up on the next run");
                    reservation.spent();
                    return Err(interrupted(method, true));
                }
                sent = client::post_json(&inner.http, &req) => sent,
            };
            let answer = match sent {
                Ok(a) => {
                    slot.landed(inner.limiter.current_rate());
                    inner.contacted.store(true, Ordering::Relaxed);
                    a
                }
                Err(e) if e.not_sent => {
                    drop((slot, reservation));
                    // Nothing reached the portal: back off and resend, for a while. Before the
                    // portal ever answered that is a few seconds (a wrong URL, a portal that is
                    // down); later a minute (a network blip). Then give up: it is not a limit.
                    refused += 1;
                    let contacted = inner.contacted.load(Ordering::Relaxed);
                    let limit = if contacted {
                        inner.config.max_connect_wait
                    } else {
                        inner.config.first_connect_wait
                    };
                    let elapsed = started.elapsed();
                    if elapsed >= limit {
                        return Err(TransportError::Unreachable {
                            host: self.host(),
                            reason: e.message,
                            attempts: refused,
                            advice: if contacted {
                                "the portal stopped answering: is the portal up? is the network down? \
                                 Run again to continue"
                            } else {
                                "is the URL right? is the portal up?"
                            },
                        });
                    }
                    tracing::warn!(method, error = %e.message, "could not connect to the portal; retrying");
                    let delay =
                        inner.limiter.backoff(refused).min(limit - elapsed + Duration::from_millis(10));
                    self.unless_stopped(method, tokio::time::sleep(delay)).await?;
                    continue;
                }
                Err(e) => {
                    drop(slot);
                    reservation.spent();
                    tracing::warn!(method, error = %e.message, "request failed; its outcome is unknown");
                    return Err(TransportError::Ambiguous { method: method.into(), reason: e.message });
                }
            };
            let parsed: Option<Value> = serde_json::from_slice(&answer.body).ok().filter(Value::is_object);
            let code = parsed.as_ref().and_then(|v| error_text(v.get("error")));
            let description =
                parsed.as_ref().and_then(|v| error_text(v.get("error_description"))).unwrap_or_default();
            let class = error::classify(answer.status, code.as_deref(), parsed.is_some());
            let code_or_status = code.clone().unwrap_or_else(|| format!("HTTP {}", answer.status));
            tracing::debug!(method, status = answer.status, ?class, "portal answered");
            match class {
                Class::Success => {
                    let body = parsed.unwrap_or_default();
                    inner.limiter.accepted();
                    let time = body.get("time").and_then(TimeInfo::from_value);
                    let commands = bills.iter().find(|(m, _)| *m == method).map_or(1, |(_, n)| *n);
                    inner.operating.observe(method, time.as_ref(), commands);
                    return Ok(Accepted { body, _reservation: reservation });
                }
                Class::QueryLimit => {
                    drop(reservation);
                    refused += 1;
                    let delay = inner.limiter.refused();
                    self.back_off(method, refused, started, &code_or_status, delay).await?;
                }
                Class::OperatingLimit => {
                    drop(reservation);
                    refused += 1;
                    inner.counters.operating_refusals.fetch_add(1, Ordering::Relaxed);
                    let park = inner.operating.blocked(method);
                    // The park itself is waited at the top of the loop.
                    self.check_budget(method, refused, started, &code_or_status, park)?;
                }
                Class::ExpiredToken => {
                    drop(reservation);
                    refresh_attempts += 1;
                    // No OAuth to refresh (a webhook), or a fresh token expiring again:
                    // something else is wrong, stop.
                    let (Some(a), Some((_, generation)), true) = (&inner.auth, token, refresh_attempts <= 2)
                    else {
                        return Err(fatal(
                            FatalKind::Auth,
                            answer.status,
                            &code_or_status,
                            &description,
                            method,
                        ));
                    };
                    let refreshed = tokio::select! {
                        biased;
                        _ = inner.shutdown.abandoned() => return Err(interrupted(method, false)),
                        r = a.refresh(generation) => r?,
                    };
                    if refreshed {
                        inner.counters.refreshes.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Class::Fatal(kind) => {
                    return Err(fatal(kind, answer.status, &code_or_status, &description, method));
                }
                Class::TooLarge => {
                    let bytes = body_size(&req.body);
                    inner.too_large_at.fetch_min(bytes, Ordering::Relaxed);
                    tracing::warn!(method, bytes, "the portal refused the request as too large (HTTP 413)");
                    return Err(TransportError::TooLarge { method: method.into(), bytes });
                }
                Class::Permanent => {
                    return Err(TransportError::Refused {
                        method: method.into(),
                        status: answer.status,
                        code: code_or_status,
                        description,
                    });
                }
                Class::Ambiguous => {
                    reservation.spent();
                    let reason = ambiguous_reason(
                        answer.status,
                        answer.content_type.as_deref(),
                        parsed.is_some(),
                        &code_or_status,
                    );
                    tracing::warn!(method, status = answer.status, %reason, "answer unusable; outcome unknown");
                    return Err(TransportError::Ambiguous { method: method.into(), reason });
                }
            }
        }
    }

    fn add_wait(&self, d: Duration) {
        if !d.is_zero() {
            self.inner.counters.limit_wait_us.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        }
    }

    /// Gives up if waiting `next` more would exceed the maximum limit wait.
    fn check_budget(
        &self,
        method: &str,
        attempts: u32,
        started: Instant,
        last_code: &str,
        next: Duration,
    ) -> Result<(), TransportError> {
        let waited = started.elapsed();
        if waited + next > self.inner.config.max_limit_wait {
            return Err(TransportError::Exhausted {
                method: method.into(),
                attempts,
                waited,
                last_code: last_code.into(),
            });
        }
        Ok(())
    }

    async fn back_off(
        &self,
        method: &str,
        attempts: u32,
        started: Instant,
        last_code: &str,
        delay: Duration,
    ) -> Result<(), TransportError> {
        self.check_budget(method, attempts, started, last_code, delay)?;
        self.add_wait(delay);
        self.unless_stopped(method, tokio::time::sleep(delay)).await
    }
}

pub(super) fn interrupted(method: &str, in_flight: bool) -> TransportError {
    TransportError::Interrupted { method: method.into(), in_flight }
}

/// Bytes of a JSON request body as sent.
fn body_size(body: &Value) -> usize {
    serde_json::to_vec(body).map_or(0, |b| b.len())
}

/// The portal's `error` / `error_description` as text, any URL in it masked (a proxy's or the
/// portal's message may echo the request's URL, webhook code and all).
fn error_text(v: Option<&Value>) -> Option<String> {
    let text = match v? {
        Value::String(s) => s.clone(),
        Value::Null => return None,
        other => other.to_string(),
    };
    let lower = text.to_ascii_lowercase();
    Some(if lower.contains("://") || lower.contains("/rest/") { client::redact_text(&text) } else { text })
}

/// The run-stopping error of `kind`, with the advice a user needs; also for a batch command's
/// refusal that stops the run (`error::command_stops_the_run`).
pub(crate) fn fatal(
    kind: FatalKind,
    status: u16,
    code: &str,
    description: &str,
    method: &str,
) -> TransportError {
    let advice = match kind {
        FatalKind::Auth => {
            "the portal refused the credentials: check the webhook URL or tokens and their scopes"
        }
        FatalKind::Overload => {
            "the portal is blocked for this app by Bitrix24 support (OVERLOAD_LIMIT); contact support"
        }
        FatalKind::PortalClosed => "the portal is closed",
        FatalKind::Plan => {
            "the portal's plan does not allow this (nothing more was sent; the rows stay pending): \
             change the plan or its limits, then run again"
        }
    };
    let message = if description.is_empty() {
        format!("{method}: {advice}")
    } else {
        format!("{method}: {advice}: {description}")
    };
    TransportError::Fatal { kind, status, code: code.into(), message }
}

fn ambiguous_reason(status: u16, content_type: Option<&str>, json: bool, code: &str) -> String {
    if !json {
        format!("HTTP {status} with a non-JSON body ({})", content_type.unwrap_or("no content type"))
    } else {
        format!("HTTP {status} {code}")
    }
}
