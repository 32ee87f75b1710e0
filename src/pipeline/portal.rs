//! Read-only queries of the portal: items and users by their keys, the entity's field list.
//!
//! Owns: how a lookup is asked (`crm.item.list` by `originId`/`xmlId`, `user.get` by
//! `EMAIL`, in chunks of [`LOOKUP_CHUNK`]). Every read goes through the one read rule,
//! [`crate::portal::Reads`] (retries for about a minute, never "absent" on a failure, abandoned
//! at the first Ctrl-C); several chunks of one lookup go at once. Must not write anything.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::stop::Stop;
use crate::bitrix::{Method, json};
use crate::mapping::{Entity, KeyField, MappingPlan, TargetPlan};
use crate::payload;
use crate::portal::Reads;
use crate::transport::CallError;

/// How long a read waits for a write batch to ride in before it goes alone.
pub(super) const RIDE_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

/// Keys per lookup request (`@originId` / `@EMAIL` lists).
pub(super) const LOOKUP_CHUNK: usize = 50;

/// The portal, for reading. Cheap to copy.
#[derive(Clone, Copy)]
pub(super) struct Portal<'a> {
    reads: &'a Reads,
}

impl<'a> Portal<'a> {
    pub(super) fn new(reads: &'a Reads) -> Portal<'a> {
        Portal { reads }
    }

    /// Independent reads of `method` at once, under the read rule.
    pub(super) async fn read_many(
        &self,
        method: Method,
        params: Vec<Value>,
    ) -> Result<Vec<Result<Value, String>>, Stop> {
        self.reads.many(method, params).await.map_err(Stop::Portal)
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
            // An activity carries its key in ORIGINATOR_ID + ORIGIN_ID (the `crm.activity.add`
            // page); the legacy list reads an array value as "one of".
            Entity::Activity => {
                let params: Vec<Value> = keys
                    .chunks(LOOKUP_CHUNK)
                    .map(|chunk| {
                        json!({
                            "filter": {"ORIGINATOR_ID": target.origin, "ORIGIN_ID": chunk},
                            "select": ["ID", "ORIGIN_ID", "OWNER_ID", "COMPLETED"],
                            "start": -1,
                        })
                    })
                    .collect();
                for answer in self.read_many(Method::CrmActivityList, params).await? {
                    let result = match answer {
                        Ok(v) => v,
                        Err(e) => return Ok(Err(e)),
                    };
                    for a in result.as_array().into_iter().flatten() {
                        if let (Some(k), Some(id)) =
                            (a.get("ORIGIN_ID").and_then(Value::as_str), a.get("ID").and_then(json::id))
                        {
                            out.insert(k.to_string(), (id, a.clone()));
                        }
                    }
                }
            }
            // Requisites and bank details by XML_ID; an address has none (issue 20).
            Entity::Requisite | Entity::BankDetail | Entity::Address => {
                return super::record::find_records(self, target.entity, keys).await;
            }
            // A parent's set is sent again (it is idempotent: `pipeline::products`).
            Entity::ProductRows => return Ok(Ok(HashMap::new())),
            // A comment has no key on the portal (`attached::find_comment` matches its text).
            Entity::Comment => return Ok(Err("a comment has no key to look it up by".into())),
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
        // It rides in the step's first batch when one leaves soon (no request of its own).
        let result = match self.reads.portal().call_riding(Method::CrmItemFields, params, RIDE_WAIT).await {
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
