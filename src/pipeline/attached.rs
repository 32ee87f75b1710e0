//! What attached records (timeline comments, activities; issue 19) need from the portal that
//! items do not: a comment found by its text and author (it has no key on the portal), and an
//! activity's communications taken from its parent item.
//!
//! Owns:
//! - [`find_comment`]: an unknown outcome of a comment is resolved by listing the parent's
//!   comments by that author, newest first (`crm.timeline.comment.list` filtered on
//!   `ENTITY_ID` + `ENTITY_TYPE` + `AUTHOR_ID`, one page: a comment just added is among the
//!   parent's newest), and matching the exact text; comments this step already holds in the
//!   journal are never matched twice (two rows of the same text on one parent stay two);
//! - [`Communications`]: `COMMUNICATIONS` of a meeting, call or e-mail that the mapping does
//!   not give (the `crm.activity.add` page: required for these types) is the parent item's
//!   first phone (meetings, calls) or e-mail (e-mails), read once per parent with
//!   `crm.item.get`; a deal (no phones of its own) lends its contact's. A parent with none
//!   leaves the field out, and the portal's refusal becomes the row's rejection.
//!
//! Must not write anything, nor decide a row's fate (the callers do).

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::core::Core;
use super::stop::Stop;
use crate::bitrix::{Method, json as bjson};
use crate::mapping::Entity;
use crate::payload::{ACTIVITY_CALL, ACTIVITY_EMAIL, ACTIVITY_MEETING, Command, activity_type, fields_of};

/// The portal comment a comment command created, if any: `Ok(None)` absent, `Err(why)` the
/// list could not be read (nothing may be concluded).
pub(super) async fn find_comment(
    core: &Core<'_>,
    cmd: &Command,
    taken: &HashSet<u64>,
) -> Result<Result<Option<u64>, String>, Stop> {
    let Some(fields) = fields_of(cmd) else { return Ok(Ok(None)) };
    let mut filter = json!({
        "ENTITY_ID": fields.get("ENTITY_ID").cloned().unwrap_or(Value::Null),
        "ENTITY_TYPE": fields.get("ENTITY_TYPE").cloned().unwrap_or(Value::Null),
    });
    if let Some(author) = fields.get("AUTHOR_ID") {
        filter["AUTHOR_ID"] = author.clone();
    }
    let params = json!({"filter": filter, "order": {"ID": "DESC"}, "select": ["ID", "COMMENT", "AUTHOR_ID"]});
    let list = match core.portal().read_many(Method::CrmTimelineCommentList, vec![params]).await?.pop() {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Ok(Err(e)),
        None => return Ok(Err("no answer".into())),
    };
    let text = fields.get("COMMENT").and_then(Value::as_str).unwrap_or_default();
    let found = list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c.get("COMMENT").and_then(Value::as_str) == Some(text))
        .filter_map(|c| c.get("ID").and_then(bjson::id))
        .find(|id| !taken.contains(id));
    Ok(Ok(found))
}

/// The parents' phones and e-mails, read once per parent.
#[derive(Default)]
pub(super) struct Communications {
    /// (entityTypeId, id) -> (first phone, first e-mail).
    known: HashMap<(u32, u64), (Option<String>, Option<String>)>,
}

impl Communications {
    /// Fills `COMMUNICATIONS` of an activity command that needs it and lacks it; a mapped
    /// value (one phone or e-mail as text) becomes the list the page asks for.
    pub(super) async fn fill(&mut self, core: &Core<'_>, cmd: &mut Command) -> Result<(), Stop> {
        let Some(Entity::Crm(owner_type)) = core.plan.target.parent.as_ref().and_then(|p| p.entity) else {
            return Ok(());
        };
        let Some(fields) = fields_of(cmd) else { return Ok(()) };
        let kind = activity_type(fields);
        let needs = matches!(kind, Some(ACTIVITY_MEETING | ACTIVITY_CALL | ACTIVITY_EMAIL));
        let owner = fields.get("OWNER_ID").and_then(bjson::id).unwrap_or(0);
        let type_name = if kind == Some(ACTIVITY_EMAIL) { "EMAIL" } else { "PHONE" };
        let value = match fields.get("COMMUNICATIONS") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(Value::Array(_)) => return Ok(()),
            _ if !needs || owner == 0 => None,
            _ => {
                let (phone, email) = self.of(core, owner_type, owner).await?;
                if kind == Some(ACTIVITY_EMAIL) { email } else { phone }
            }
        };
        let Some(params) = cmd.params.get_mut("fields").and_then(Value::as_object_mut) else { return Ok(()) };
        match value {
            Some(v) => {
                params.insert(
                    "COMMUNICATIONS".into(),
                    json!([{"VALUE": v, "TYPE": type_name, "ENTITY_ID": owner, "ENTITY_TYPE_ID": owner_type}]),
                );
            }
            None => {
                params.remove("COMMUNICATIONS");
            }
        }
        Ok(())
    }

    /// The first phone and e-mail of item `id` (a deal's: its contact's).
    async fn of(
        &mut self,
        core: &Core<'_>,
        etid: u32,
        id: u64,
    ) -> Result<(Option<String>, Option<String>), Stop> {
        if let Some(found) = self.known.get(&(etid, id)) {
            return Ok(found.clone());
        }
        let item = read_item(core, etid, id).await?;
        let mut found = first_comms(&item);
        if found == (None, None)
            && let Some(contact) = item.get("contactId").and_then(bjson::id).filter(|c| *c > 0)
        {
            found = first_comms(&read_item(core, crate::mapping::entity::CONTACT, contact).await?);
        }
        self.known.insert((etid, id), found.clone());
        Ok(found)
    }
}

/// `crm.item.get` of one item (`Null` when it cannot be read).
async fn read_item(core: &Core<'_>, etid: u32, id: u64) -> Result<Value, Stop> {
    let params = json!({"entityTypeId": etid, "id": id});
    let answer = core.portal().read_many(Method::CrmItemGet, vec![params]).await?.pop();
    Ok(answer.and_then(Result::ok).and_then(|v| v.get("item").cloned()).unwrap_or(Value::Null))
}

/// The first phone and e-mail of an item's `fm`.
fn first_comms(item: &Value) -> (Option<String>, Option<String>) {
    let fm = item.get("fm").and_then(Value::as_array);
    let first = |type_id: &str| {
        fm.into_iter()
            .flatten()
            .find(|m| m.get("typeId").and_then(Value::as_str) == Some(type_id))
            .and_then(|m| m.get("value").and_then(Value::as_str))
            .map(str::to_string)
    };
    (first("PHONE"), first("EMAIL"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_phone_and_email_of_an_item_are_its_communications() {
        let item = json!({"fm": [
            {"typeId": "EMAIL", "value": "a@x.io"},
            {"typeId": "PHONE", "value": "+1 555"},
            {"typeId": "PHONE", "value": "+1 556"},
        ]});
        assert_eq!(first_comms(&item), (Some("+1 555".into()), Some("a@x.io".into())));
        assert_eq!(first_comms(&json!({})), (None, None));
    }
}
