//! Read-only queries of the portal: items and users by their keys, the entity's field list.
//!
//! Owns: how a lookup is asked (`crm.item.list` by `originId`/`xmlId`, `user.get` by
//! `EMAIL`, in chunks) and the rules of every read of a run (lookups and the duplicate check
//! alike): one whose outcome is unknown is tried again with a capped backoff for about a
//! minute ([`LOOKUP_ATTEMPTS`], [`retry_pause`]) and then reported as failed, never taken for
//! "absent"; a read in flight is abandoned at the first Ctrl-C ([`unless_stopped`]), as a
//! read records nothing. Must not write anything.
//! Several chunks of one lookup are independent reads: they go at once ([`Portal::read_many`]),
//! each as a task of its own, so the transport keeps as many in flight as it allows.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::step::Stop;
use crate::bitrix::{Method, json};
use crate::mapping::{Entity, KeyField, MappingPlan, TargetPlan};
use crate::payload;
use crate::transport::{CallError, Transport, TransportError};

/// Keys per lookup request (`@originId` / `@EMAIL` lists).
pub(super) const LOOKUP_CHUNK: usize = 50;

/// Tries of one lookup whose answer was lost (a dropped connection, a 5xx) before it counts as
/// failed. A read is idempotent, so it rides out faults as long as a write's outcome is chased:
/// with [`retry_pause`] about a minute of a portal failing every request.
pub(super) const LOOKUP_ATTEMPTS: u32 = 12;

/// The pause before try `attempt` (1-based) of a lookup: 200 ms doubling, at most 8 s.
pub(super) fn retry_pause(attempt: u32) -> std::time::Duration {
    let ms = 200u64.saturating_mul(1 << attempt.saturating_sub(1).min(6));
    std::time::Duration::from_millis(ms.min(8_000))
}

/// `read` (a request of lookups), abandoned as soon as the run is told to stop (the first
/// Ctrl-C): nothing is recorded from a read, so dropping it loses nothing, and the run stops at
/// once instead of waiting for an answer it would not use.
pub(super) async fn unless_stopped<T>(
    transport: &Transport,
    method: &str,
    read: impl std::future::Future<Output = T>,
) -> Result<T, Stop> {
    let shutdown = transport.shutdown();
    let interrupted =
        || Stop::Portal(TransportError::Interrupted { method: method.to_string(), in_flight: false });
    if shutdown.is_stopped() {
        return Err(interrupted());
    }
    tokio::select! {
        biased;
        _ = shutdown.stopped() => Err(interrupted()),
        answer = read => Ok(answer),
    }
}

/// The portal, for reading. Cheap to copy.
#[derive(Clone, Copy)]
pub(super) struct Portal<'a> {
    transport: &'a Transport,
}

impl<'a> Portal<'a> {
    pub(super) fn new(transport: &'a Transport) -> Portal<'a> {
        Portal { transport }
    }

    /// A read call. A deterministic refusal means "nothing found" (`Null`); a failure whose
    /// outcome is unknown (dropped connection, 5xx) is tried again a few times and then
    /// returned as `Err` so that callers never take a failed lookup for "absent".
    pub(super) async fn read_call(
        &self,
        method: Method,
        params: &Value,
    ) -> Result<Result<Value, String>, Stop> {
        let mut last = String::new();
        let method = method.as_str();
        for attempt in 0..LOOKUP_ATTEMPTS {
            if attempt > 0 {
                self.transport.pause(retry_pause(attempt)).await.map_err(Stop::Portal)?;
            }
            match unless_stopped(self.transport, method, self.transport.call(method, params)).await? {
                Ok(v) => return Ok(Ok(v)),
                Err(CallError::Rejected { code, description, .. }) => {
                    tracing::warn!(method, code, description, "lookup refused");
                    return Ok(Ok(Value::Null));
                }
                Err(CallError::Transport(e)) if e.is_fatal() => return Err(Stop::Portal(e)),
                Err(CallError::Transport(e)) => {
                    tracing::warn!(method, error = %e, "lookup failed; trying again");
                    last = e.to_string();
                }
            }
        }
        Ok(Err(last))
    }

    /// Independent reads of `method`, at once (as many in flight as the transport allows);
    /// the answers in the order of `params`. Every read is waited for, even after one stopped
    /// the run; the first stop is returned.
    pub(super) async fn read_many(
        &self,
        method: Method,
        params: Vec<Value>,
    ) -> Result<Vec<Result<Value, String>>, Stop> {
        if let [one] = params.as_slice() {
            return Ok(vec![self.read_call(method, one).await?]);
        }
        let mut reads = tokio::task::JoinSet::new();
        for (i, p) in params.into_iter().enumerate() {
            let transport = self.transport.clone();
            reads.spawn(async move { (i, Portal::new(&transport).read_call(method, &p).await) });
        }
        let mut answers: Vec<(usize, Result<Value, String>)> = Vec::with_capacity(reads.len());
        let mut stop = None;
        while let Some(joined) = reads.join_next().await {
            match joined {
                Ok((i, Ok(answer))) => answers.push((i, answer)),
                Ok((_, Err(s))) => stop = stop.or(Some(s)),
                Err(e) => answers.push((usize::MAX, Err(format!("a lookup task failed: {e}")))),
            }
        }
        if let Some(s) = stop {
            return Err(s);
        }
        answers.sort_by_key(|(i, _)| *i);
        Ok(answers.into_iter().map(|(_, a)| a).collect())
    }

    /// `user.get` with `@EMAIL`: e-mail (lower-case) -> user ID; `Err` when the lookup failed.
    pub(super) async fn find_users(
        &self,
        emails: &[String],
    ) -> Result<Result<HashMap<String, u64>, String>, Stop> {
        let mut out = HashMap::new();
        let params: Vec<Value> = emails
            .chunks(LOOKUP_CHUNK)
            .map(|chunk| {
                // One e-mail: the plain `EMAIL` filter every portal knows; several: the `@` (IN) form.
                let filter = if let [one] = chunk { json!({"EMAIL": one}) } else { json!({"@EMAIL": chunk}) };
                json!({"filter": filter, "ADMIN_MODE": true})
            })
            .collect();
        for answer in self.read_many(Method::UserGet, params).await? {
            let result = match answer {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            for user in result.as_array().into_iter().flatten() {
                if let (Some(email), Some(id)) =
                    (user.get("EMAIL").and_then(Value::as_str), user.get("ID").and_then(json::id))
                {
                    out.insert(email.to_lowercase(), id);
                }
            }
        }
        Ok(Ok(out))
    }

    /// Finds items (or users) by their external keys: key -> (portal ID, the item as listed).
    /// `full` selects every field (to compare multifields); otherwise only the ID and key.
    /// The inner `Err` means the lookup failed: nothing may be concluded from it.
    #[allow(clippy::type_complexity)]
    pub(super) async fn find_items(
        &self,
        target: &TargetPlan,
        keys: &[String],
        full: bool,
    ) -> Result<Result<HashMap<String, (u64, Value)>, String>, Stop> {
        let mut out = HashMap::new();
        match target.entity {
            Entity::User => {
                let emails: Vec<String> = keys.iter().map(|k| k.to_lowercase()).collect();
                match self.find_users(&emails).await? {
                    Ok(found) => out.extend(found.into_iter().map(|(k, id)| (k, (id, Value::Null)))),
                    Err(e) => return Ok(Err(e)),
                }
            }
            Entity::Crm(entity_type_id) => {
                let origin = target.entity.key_field() == KeyField::Origin;
                let field = if origin { "originId" } else { "xmlId" };
                let select = if full { json!(["*"]) } else { json!(["id", field]) };
                let params: Vec<Value> = keys
                    .chunks(LOOKUP_CHUNK)
                    .map(|chunk| {
                        let filter = if origin {
                            json!({"=originatorId": target.origin, "@originId": chunk})
                        } else {
                            let xml: Vec<String> =
                                chunk.iter().map(|k| payload::xml_id(&target.origin, k)).collect();
                            json!({"@xmlId": xml})
                        };
                        json!({"entityTypeId": entity_type_id, "filter": filter, "select": select, "start": -1})
                    })
                    .collect();
                for answer in self.read_many(Method::CrmItemList, params).await? {
                    let result = match answer {
                        Ok(v) => v,
                        Err(e) => return Ok(Err(e)),
                    };
                    for item in result.get("items").and_then(Value::as_array).into_iter().flatten() {
                        if let (Some(k), Some(id)) =
                            (item.get(field).and_then(Value::as_str), item.get("id").and_then(json::id))
                        {
                            let prefix = format!("{}:", target.origin);
                            let key = if origin {
                                k.to_string()
                            } else {
                                k.strip_prefix(&prefix).unwrap_or(k).to_string()
                            };
                            out.insert(key, (id, item.clone()));
                        }
                    }
                }
            }
        }
        Ok(Ok(out))
    }

    /// Compares the mapping's field names with the portal's `crm.item.fields`: the portal
    /// silently ignores unknown fields, so each is returned as a note for the report.
    pub(super) async fn unknown_fields(&self, plan: &MappingPlan) -> Result<Vec<String>, Stop> {
        let mut notes = Vec::new();
        let Entity::Crm(entity_type_id) = plan.target.entity else { return Ok(notes) };
        let params = json!({
            "entityTypeId": entity_type_id,
            "useOriginalUfNames": if plan.target.use_original_uf_names { "Y" } else { "N" },
        });
        let result = match self.transport.call(Method::CrmItemFields.as_str(), &params).await {
            Ok(r) => r,
            // The portal cannot be used at all (credentials, overload, unreachable): stop now.
            Err(CallError::Transport(e)) if e.is_fatal() => return Err(Stop::Portal(e)),
            Err(_) => return Ok(notes),
        };
        let Some(known) = result.get("fields").and_then(Value::as_object) else { return Ok(notes) };
        for f in &plan.fields {
            if !known.contains_key(&f.name) {
                notes.push(format!(
                    "field `{}` is not a field of {} in this portal; the portal will ignore it",
                    f.name,
                    plan.target.entity.name()
                ));
            }
        }
        Ok(notes)
    }
}
