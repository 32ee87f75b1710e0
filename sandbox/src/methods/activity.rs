//! `crm.activity.{add,update,get,list,delete,fields}` (issues 19 and 21), per
//! `api-reference/crm/timeline/activities/activity-base/*.md`: a system activity (meeting 1,
//! call 2, e-mail 4) bound to one existing item (`OWNER_TYPE_ID` + `OWNER_ID`), with
//! `SUBJECT`, `RESPONSIBLE_ID` and, for these three types, `COMMUNICATIONS` required.
//! `ORIGINATOR_ID`/`ORIGIN_ID` are stored and filterable, so a client can find what it created.
//!
//! An outgoing e-mail (`TYPE_ID` 4, `DIRECTION` 2) added without `COMPLETED = N` is sent by the
//! portal (the add page: "if the e-mail should not be sent, set `DIRECTION=2` and
//! `COMPLETED='N'`; to mark e-mails completed, update the activity"): counted in
//! `history.emails_sent`. An update never sends.
//!
//! Errors, as the pages' tables give them: HTTP 400 with an empty `error` and the text in
//! `error_description` (the pages' example: `{"error": "", "error_description": "Access
//! denied."}`). Owns the activity rules; the data is `history::History`'s.

use serde_json::{Map, Value, json};

use super::filter::{self, Kind};
use super::{Call, MethodError, MethodResult, Output, as_text, as_u64, is_yes, param, php_array};
use crate::clock::iso;
use crate::history::Activity;

/// The fields of `crm.activity.fields` (its page's answer): name, type, required, read-only,
/// immutable, multiple, title.
type FieldRow = (&'static str, &'static str, bool, bool, bool, bool, &'static str);
const FIELDS: [FieldRow; 44] = [
    ("ID", "integer", false, true, false, false, "ID"),
    ("OWNER_ID", "integer", false, false, true, false, "Owner ID"),
    ("OWNER_TYPE_ID", "crm_enum_ownertype", false, false, true, false, "Owner Type"),
    ("TYPE_ID", "crm_enum_activitytype", true, false, true, false, "Type"),
    ("PROVIDER_ID", "string", false, false, false, false, "Provider ID"),
    ("PROVIDER_TYPE_ID", "string", false, false, false, false, "Provider Type"),
    ("PROVIDER_GROUP_ID", "string", false, false, false, false, "Connector Type"),
    ("ASSOCIATED_ENTITY_ID", "integer", false, true, false, false, "Associated Entity ID"),
    ("SUBJECT", "string", true, false, false, false, "Subject"),
    ("START_TIME", "datetime", false, false, false, false, "Start"),
    ("END_TIME", "datetime", false, false, false, false, "Deadline"),
    ("DEADLINE", "datetime", false, false, false, false, "Execution Deadline"),
    ("COMPLETED", "char", false, false, false, false, "Completed"),
    ("STATUS", "crm_enum_activitystatus", false, false, false, false, "Status"),
    ("RESPONSIBLE_ID", "user", true, false, false, false, "Responsible"),
    ("PRIORITY", "crm_enum_activitypriority", false, false, false, false, "Priority"),
    ("NOTIFY_TYPE", "crm_enum_activitynotifytype", false, false, false, false, "Notification Type"),
    ("NOTIFY_VALUE", "integer", false, false, false, false, "Notification Parameter"),
    ("DESCRIPTION", "string", false, false, false, false, "Description"),
    ("DESCRIPTION_TYPE", "crm_enum_contenttype", false, false, false, false, "Description Type"),
    ("DIRECTION", "crm_enum_activitydirection", false, false, false, false, "Direction"),
    ("LOCATION", "string", false, false, false, false, "Location"),
    ("CREATED", "datetime", false, true, false, false, "Creation Date"),
    ("AUTHOR_ID", "user", false, true, false, false, "Created By"),
    ("LAST_UPDATED", "datetime", false, true, false, false, "Last Updated Date"),
    ("EDITOR_ID", "user", false, true, false, false, "Edited By"),
    ("SETTINGS", "object", false, false, false, false, "Settings"),
    ("ORIGIN_ID", "string", false, false, false, false, "External Code"),
    ("ORIGINATOR_ID", "string", false, false, false, false, "External Source"),
    ("RESULT_STATUS", "integer", false, false, false, false, "RESULT_STATUS"),
    ("RESULT_STREAM", "integer", false, false, false, false, "RESULT_STREAM"),
    ("RESULT_SOURCE_ID", "string", false, false, false, false, "RESULT_SOURCE_ID"),
    ("PROVIDER_PARAMS", "object", false, false, false, false, "Provider Parameters"),
    ("PROVIDER_DATA", "string", false, false, false, false, "Provider Data"),
    ("RESULT_MARK", "integer", false, false, false, false, "RESULT_MARK"),
    ("RESULT_VALUE", "double", false, false, false, false, "RESULT_VALUE"),
    ("RESULT_SUM", "double", false, false, false, false, "RESULT_SUM"),
    ("RESULT_CURRENCY_ID", "string", false, false, false, false, "RESULT_CURRENCY_ID"),
    ("AUTOCOMPLETE_RULE", "integer", false, false, false, false, "Autocomplete"),
    ("BINDINGS", "crm_activity_binding", false, true, false, true, "Bindings"),
    ("COMMUNICATIONS", "crm_activity_communication", true, false, false, true, "Communication Channel"),
    ("FILES", "diskfile", false, false, false, true, "Files"),
    ("WEBDAV_ELEMENTS", "diskfile", false, false, false, true, "Added Files"),
    ("IS_INCOMING_CHANNEL", "char", false, true, false, false, "IS_INCOMING_CHANNEL"),
];

/// The fields `crm.activity.get` answers (its page's example), in its order.
const SHOWN: usize = 39;

/// Fields a client may set (the rest are computed or read-only): copied as text.
const WRITABLE: [&str; 14] = [
    "SUBJECT",
    "DESCRIPTION",
    "DESCRIPTION_TYPE",
    "LOCATION",
    "PRIORITY",
    "NOTIFY_TYPE",
    "NOTIFY_VALUE",
    "ORIGINATOR_ID",
    "ORIGIN_ID",
    "PROVIDER_DATA",
    "PROVIDER_GROUP_ID",
    "RESULT_SOURCE_ID",
    "RESULT_CURRENCY_ID",
    "RESPONSIBLE_ID",
];

const MEETING: u64 = 1;
const CALL: u64 = 2;
const EMAIL: u64 = 4;
const OUTGOING: u64 = 2;

fn err(text: &str) -> MethodError {
    MethodError::bad("", text)
}

fn not_found() -> MethodError {
    err("Activity is not found")
}

/// `fields`: the legacy REST proxy's "The parameter 'fields' must be array." when it is
/// missing or not an object (the pages give no row for it).
fn fields_param(c: &Call) -> Result<Map<String, Value>, MethodError> {
    match param(c.params, "fields") {
        Some(Value::Object(o)) => Ok(o.clone()),
        _ => Err(err("The parameter 'fields' must be array.")),
    }
}

/// A date-time in the stored form; a value that is no date-time is not stored (null), as
/// the legacy proxy's date conversion drops it (the pages are silent).
fn datetime(v: &Value) -> Value {
    as_text(v).and_then(|s| filter::normalise_datetime(&s)).map_or(Value::Null, Value::String)
}

/// `COMMUNICATIONS`: a non-empty list of objects with a `VALUE`, for meetings, calls and
/// e-mails ("The field COMMUNICATIONS is not defined or invalid"); a call has exactly one.
fn communications(type_id: u64, v: Option<&Value>) -> Result<Vec<Value>, MethodError> {
    let list: Vec<&Value> = v.and_then(php_array).unwrap_or_default();
    let ok = list.iter().all(|e| e.get("VALUE").and_then(as_text).is_some_and(|s| !s.trim().is_empty()));
    let needs = matches!(type_id, MEETING | CALL | EMAIL);
    if needs && (list.is_empty() || !ok) {
        return Err(err("The field COMMUNICATIONS is not defined or invalid"));
    }
    if type_id == CALL && list.len() > 1 {
        return Err(err("The only one communication is allowed for activity of specified type"));
    }
    let kind = if type_id == EMAIL { "EMAIL" } else { "PHONE" };
    Ok(list
        .into_iter()
        .map(|e| {
            json!({
                "TYPE": e.get("TYPE").and_then(as_text).unwrap_or_else(|| kind.to_string()),
                "VALUE": e.get("VALUE").and_then(as_text).unwrap_or_default(),
                "ENTITY_ID": e.get("ENTITY_ID").and_then(as_text).unwrap_or_default(),
                "ENTITY_TYPE_ID": e.get("ENTITY_TYPE_ID").and_then(as_text).unwrap_or_default(),
            })
        })
        .collect())
}

fn check_subject(f: &Map<String, Value>) -> Result<(), MethodError> {
    if f.get("SUBJECT").and_then(as_text).is_none_or(|s| s.trim().is_empty()) {
        return Err(err("The field SUBJECT is not defined or empty"));
    }
    Ok(())
}

fn check_responsible(c: &Call, f: &Map<String, Value>) -> Result<(), MethodError> {
    let id = f.get("RESPONSIBLE_ID").and_then(as_u64).filter(|id| *id > 0);
    if !id.is_some_and(|id| c.state.users.contains_key(&id)) {
        return Err(err("The field RESPONSIBLE_ID is not defined or invalid"));
    }
    Ok(())
}

/// Sets the computed fields from the stored ones: `STATUS` (1 waiting, 2 completed) from
/// `COMPLETED`, `DEADLINE` from `START_TIME` for calls and meetings and from `END_TIME`
/// otherwise (the add page's `DEADLINE`).
fn derive(a: &mut Map<String, Value>, type_id: u64) {
    let completed = a.get("COMPLETED").and_then(Value::as_str) == Some("Y");
    a.insert("STATUS".into(), json!(if completed { "2" } else { "1" }));
    let from = if matches!(type_id, MEETING | CALL) { "START_TIME" } else { "END_TIME" };
    let deadline = a.get(from).cloned().unwrap_or(Value::Null);
    a.insert("DEADLINE".into(), deadline);
}

/// Copies what the client sent onto the stored fields.
fn apply(a: &mut Map<String, Value>, f: &Map<String, Value>) {
    for name in WRITABLE {
        if let Some(v) = f.get(name) {
            a.insert(name.into(), as_text(v).map_or(Value::Null, Value::String));
        }
    }
    for name in ["START_TIME", "END_TIME"] {
        if let Some(v) = f.get(name) {
            a.insert(name.into(), datetime(v));
        }
    }
    if let Some(v) = f.get("DIRECTION") {
        a.insert("DIRECTION".into(), json!(as_u64(v).unwrap_or(0).to_string()));
    }
    if let Some(v) = f.get("COMPLETED") {
        a.insert("COMPLETED".into(), json!(if is_yes(Some(v)) { "Y" } else { "N" }));
    }
    for name in ["SETTINGS", "PROVIDER_PARAMS"] {
        if let Some(v) = f.get(name) {
            a.insert(name.into(), v.clone());
        }
    }
}

/// `crm.activity.add`: result the new activity's ID. The checks in the legacy proxy's order:
/// `TYPE_ID`, `SUBJECT`, `RESPONSIBLE_ID` (a user of the portal), `COMMUNICATIONS`, then the
/// binding: the owner item must exist ("Could not build binding. Please ensure that owner info
/// and communications are defined correctly"). A communication's `ENTITY_ID` is not checked
/// (the pages do not say it must exist). `TYPE_ID` 6 (custom) without `PROVIDER_ID` is "The
/// custom activity without provider is not supported in current context"; task (3) and any
/// other type are "The field TYPE_ID is not defined or invalid" (tasks are created with
/// `tasks.task.add`, the page says).
pub(crate) fn add(c: &mut Call) -> MethodResult {
    let f = fields_param(c)?;
    let type_id = f.get("TYPE_ID").and_then(as_u64).unwrap_or(0);
    match type_id {
        MEETING | CALL | EMAIL => {}
        6 if f.get("PROVIDER_ID").and_then(as_text).is_none_or(|p| p.is_empty()) => {
            return Err(err("The custom activity without provider is not supported in current context"));
        }
        6 => return Err(err("Application context required")),
        _ => return Err(err("The field TYPE_ID is not defined or invalid")),
    }
    check_subject(&f)?;
    check_responsible(c, &f)?;
    let comms = communications(type_id, f.get("COMMUNICATIONS"))?;
    let owner_type_id = f.get("OWNER_TYPE_ID").and_then(as_u64).unwrap_or(0);
    let owner_id = f.get("OWNER_ID").and_then(as_u64).unwrap_or(0);
    if !super::timeline::owner_exists(c, owner_type_id, owner_id) {
        return Err(err(
            "Could not build binding. Please ensure that owner info and communications are defined correctly",
        ));
    }
    let direction = f.get("DIRECTION").and_then(as_u64).unwrap_or(0);
    let completed_sent_no = f.get("COMPLETED").is_some_and(|v| !is_yes(Some(v)));
    let sends = type_id == EMAIL && direction == OUTGOING && !completed_sent_no;
    if sends && comms.iter().any(|e| !e["VALUE"].as_str().is_some_and(|v| v.contains('@'))) {
        return Err(err("Email send error. Invalid email is specified"));
    }
    c.state.history.last_activity += 1;
    let id = c.state.history.last_activity;
    let now = iso(c.now_unix);
    let (provider, provider_type) = match type_id {
        MEETING => ("CRM_MEETING", "MEETING"),
        CALL => ("CRM_CALL", "CALL"),
        _ => ("CRM_EMAIL", "EMAIL"),
    };
    let mut a = Map::new();
    for (name, ..) in &FIELDS[..SHOWN] {
        a.insert((*name).to_string(), Value::Null);
    }
    for (k, v) in [
        ("ID", json!(id.to_string())),
        ("OWNER_ID", json!(owner_id.to_string())),
        ("OWNER_TYPE_ID", json!(owner_type_id.to_string())),
        ("TYPE_ID", json!(type_id.to_string())),
        ("PROVIDER_ID", json!(provider)),
        ("PROVIDER_TYPE_ID", json!(provider_type)),
        ("ASSOCIATED_ENTITY_ID", json!("0")),
        ("CREATED", json!(now)),
        ("LAST_UPDATED", json!(now)),
        ("COMPLETED", json!(if sends { "Y" } else { "N" })),
        ("PRIORITY", json!("2")),
        ("NOTIFY_TYPE", json!("1")),
        ("NOTIFY_VALUE", json!("15")),
        ("DESCRIPTION", json!("")),
        ("DESCRIPTION_TYPE", json!("1")),
        ("DIRECTION", json!("0")),
        ("LOCATION", json!("")),
        ("SETTINGS", json!([])),
        ("AUTHOR_ID", json!(c.user_id.to_string())),
        ("EDITOR_ID", json!(c.user_id.to_string())),
        ("PROVIDER_PARAMS", json!([])),
        ("RESULT_MARK", json!("0")),
        ("RESULT_STATUS", json!("0")),
        ("RESULT_STREAM", json!("0")),
        ("AUTOCOMPLETE_RULE", json!("0")),
    ] {
        a.insert(k.into(), v);
    }
    apply(&mut a, &f);
    if !sends && f.get("COMPLETED").is_some_and(|v| is_yes(Some(v))) {
        a.insert("COMPLETED".into(), json!("Y"));
    }
    derive(&mut a, type_id);
    if sends {
        c.state.history.emails_sent += 1;
    }
    let activity = Activity { id, owner_type_id, owner_id, fields: a, communications: comms };
    c.state.history.activities.insert(id, activity);
    Ok(Output::new(json!(id)))
}

/// `id` of an existing activity, else "Activity is not found" (the one text the tables give).
fn activity_id(c: &Call) -> Result<u64, MethodError> {
    param(c.params, "id")
        .and_then(as_u64)
        .filter(|id| c.state.history.activities.contains_key(id))
        .ok_or_else(not_found)
}

/// `crm.activity.update`: result `true`. `OWNER_*` and `TYPE_ID` are immutable
/// (`crm.activity.fields`) and ignored; a sent `SUBJECT`, `RESPONSIBLE_ID` or `COMMUNICATIONS`
/// is checked as on add. Marking an e-mail completed sends nothing.
pub(crate) fn update(c: &mut Call) -> MethodResult {
    let id = activity_id(c)?;
    let f = fields_param(c)?;
    if f.contains_key("SUBJECT") {
        check_subject(&f)?;
    }
    if f.contains_key("RESPONSIBLE_ID") {
        check_responsible(c, &f)?;
    }
    let type_id = c.state.history.activities[&id].fields["TYPE_ID"].as_str().and_then(|t| t.parse().ok());
    let comms = if f.contains_key("COMMUNICATIONS") {
        Some(communications(type_id.unwrap_or(0), f.get("COMMUNICATIONS"))?)
    } else {
        None
    };
    let now = iso(c.now_unix);
    let user = c.user_id;
    let a = c.state.history.activities.get_mut(&id).expect("activity_id() checked it");
    apply(&mut a.fields, &f);
    derive(&mut a.fields, type_id.unwrap_or(0));
    a.fields.insert("LAST_UPDATED".into(), json!(now));
    a.fields.insert("EDITOR_ID".into(), json!(user.to_string()));
    if let Some(comms) = comms {
        a.communications = comms;
    }
    Ok(Output::new(json!(true)))
}

/// `crm.activity.get`.
pub(crate) fn get(c: &mut Call) -> MethodResult {
    let id = activity_id(c)?;
    Ok(Output::new(Value::Object(c.state.history.activities[&id].fields.clone())))
}

/// `crm.activity.delete`: result `true`.
pub(crate) fn delete(c: &mut Call) -> MethodResult {
    let id = activity_id(c)?;
    c.state.history.activities.remove(&id);
    Ok(Output::new(json!(true)))
}

fn kind_of(field_type: &str) -> Kind {
    match field_type {
        "datetime" => Kind::Date,
        "char" => Kind::Bool,
        t if t == "integer" || t == "user" || t.starts_with("crm_enum_") => Kind::Number,
        _ => Kind::Text,
    }
}

fn resolve(name: &str) -> Option<(String, Kind)> {
    FIELDS[..SHOWN].iter().find(|f| f.0.eq_ignore_ascii_case(name)).map(|f| (f.0.to_string(), kind_of(f.1)))
}

/// The filter key without its operator prefix.
fn bare(key: &str) -> &str {
    key.trim_start_matches(['!', '=', '<', '>', '@', '%'])
}

/// `filter[BINDINGS]`: `[{OWNER_TYPE_ID, OWNER_ID}, ...]`, each pair alone or together; an
/// activity matches when its binding (its owner) matches one of them.
fn bindings_match(bindings: &[&Value], a: &Activity) -> bool {
    bindings.iter().any(|b| {
        let t = b.get("OWNER_TYPE_ID").and_then(as_u64);
        let o = b.get("OWNER_ID").and_then(as_u64);
        t.is_none_or(|t| t == a.owner_type_id) && o.is_none_or(|o| o == a.owner_id)
    })
}

/// `crm.activity.list`: `filter` on the activity's fields with the list prefixes (unknown keys
/// ignored, as the legacy list does), `BINDINGS`, `order` (by default `START_TIME` ascending,
/// the page), `select` (`*` or empty: every field; `COMMUNICATIONS` only when named), pages of
/// 50 with `total` and `next`.
pub(crate) fn list(c: &mut Call) -> MethodResult {
    let mut filter_obj = super::object(param(c.params, "filter"));
    let bindings_value = filter_obj.remove("BINDINGS");
    let bindings: Option<Vec<&Value>> = bindings_value.as_ref().and_then(php_array);
    let known: Map<String, Value> =
        filter_obj.into_iter().filter(|(k, _)| resolve(bare(k)).is_some()).collect();
    let cond = filter::compile(&Value::Object(known), &resolve)
        .map_err(|name| err(&format!("The field {name} is not defined or invalid")))?;
    let mut order: Vec<(String, Kind, bool)> = Vec::new();
    if let Some(Value::Object(o)) = param(c.params, "order") {
        for (k, dir) in o {
            if let Some((name, kind)) = resolve(k) {
                order.push((name, kind, dir.as_str().is_some_and(|d| d.eq_ignore_ascii_case("DESC"))));
            }
        }
    }
    if order.is_empty() {
        order.push(("START_TIME".into(), Kind::Date, false));
    }
    let select: Vec<String> = param(c.params, "select")
        .and_then(php_array)
        .map(|v| v.into_iter().filter_map(as_text).collect())
        .unwrap_or_default();
    let all = select.is_empty() || select.iter().any(|s| s == "*");
    let with_comms = select.iter().any(|s| s == "COMMUNICATIONS");
    let mut rows: Vec<&Activity> = c
        .state
        .history
        .activities
        .values()
        .filter(|a| bindings.as_ref().is_none_or(|b| bindings_match(b, a)))
        .filter(|a| filter::eval(&cond, &|k| a.fields.get(k).cloned()))
        .collect();
    rows.sort_by(|a, b| {
        for (field, kind, desc) in &order {
            let null = Value::Null;
            let o = filter::compare(
                *kind,
                a.fields.get(field).unwrap_or(&null),
                b.fields.get(field).unwrap_or(&null),
            );
            let o = if *desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        a.id.cmp(&b.id)
    });
    let (start, count) = super::start_param(c.params);
    let (page, total, next) = super::page(&rows, start, count);
    let page: Vec<Value> = page
        .into_iter()
        .map(|a| {
            let mut out: Map<String, Value> = a
                .fields
                .iter()
                .filter(|(k, _)| all || select.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if with_comms {
                let comms: Vec<Value> = a
                    .communications
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let mut e = e.clone();
                        e["ID"] = json!((a.id * 100 + i as u64).to_string());
                        e["ACTIVITY_ID"] = json!(a.id.to_string());
                        e
                    })
                    .collect();
                out.insert("COMMUNICATIONS".into(), json!(comms));
            }
            Value::Object(out)
        })
        .collect();
    Ok(Output::list(json!(page), total, next))
}

/// `crm.activity.fields`: the page's answer.
pub(crate) fn fields_of(_: &mut Call) -> MethodResult {
    let mut out = Map::new();
    for (name, ty, required, read_only, immutable, multiple, title) in FIELDS {
        out.insert(
            name.into(),
            json!({"type": ty, "isRequired": required, "isReadOnly": read_only, "isImmutable": immutable,
                   "isMultiple": multiple, "isDynamic": false, "title": title}),
        );
    }
    Ok(Output::new(Value::Object(out)))
}
