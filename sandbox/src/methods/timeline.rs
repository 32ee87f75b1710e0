//! `crm.timeline.comment.{add,update,get,list,delete,fields}` (issues 19 and 21), per
//! `api-reference/crm/timeline/comments/*.md`: a comment belongs to one existing item
//! (`ENTITY_TYPE` + `ENTITY_ID`), `COMMENT` is required, `AUTHOR_ID` is kept (the caller when
//! unsent), `CREATED` is the portal's clock and read-only.
//!
//! Errors, as the pages' tables give them (HTTP 400): add/update/delete answer with codes
//! (`OWNER_NOT_FOUND` "Owner of the item not found", `NOT_FOUND` "Not found." as in the
//! pages' example, `INVALID_ARG_VALUE` "Empty comment", `100` for a missing parameter, with the
//! engine binder's text "Could not find value for parameter {fields}"); get answers with an
//! empty code ("Not found.", "ID is not defined or invalid.").
//!
//! Owns the comment rules; the data is `history::History`'s. Must not touch items.

use serde_json::{Map, Value, json};

use super::filter::{self, Kind};
use super::{Call, MethodError, MethodResult, Output, as_text, as_u64, param, php_array};
use crate::clock::iso;
use crate::history::Comment;

/// `ENTITY_TYPE` -> entity type id: the system types by name, smart processes `dynamic_N`.
pub(crate) fn owner_type_id(name: &str) -> Option<u64> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "lead" => 1,
        "deal" => 2,
        "contact" => 3,
        "company" => 4,
        "quote" => 7,
        "order" => 14,
        "smart_invoice" => 31,
        other => other.strip_prefix("dynamic_")?.parse().ok()?,
    })
}

/// Entity type id -> `ENTITY_TYPE`.
pub(crate) fn owner_type_name(etid: u64) -> String {
    match etid {
        1 => "lead".into(),
        2 => "deal".into(),
        3 => "contact".into(),
        4 => "company".into(),
        7 => "quote".into(),
        14 => "order".into(),
        31 => "smart_invoice".into(),
        n => format!("dynamic_{n}"),
    }
}

/// The item exists.
pub(crate) fn owner_exists(c: &Call, etid: u64, id: u64) -> bool {
    c.state.items.get(&etid).is_some_and(|m| m.contains_key(&id))
}

fn owner_not_found() -> MethodError {
    MethodError::bad("OWNER_NOT_FOUND", "Owner of the item not found")
}

fn not_found() -> MethodError {
    MethodError::bad("NOT_FOUND", "Not found.")
}

fn missing(name: &str) -> MethodError {
    MethodError::bad("100", format!("Could not find value for parameter {{{name}}}"))
}

fn empty_comment() -> MethodError {
    MethodError::bad("INVALID_ARG_VALUE", "Empty comment")
}

/// `fields`, lower-case only (the add and update pages: "starting from crm 23.100.0, the method
/// only accepts parameters with the key `fields` in lowercase").
fn fields(c: &Call) -> Result<Map<String, Value>, MethodError> {
    match c.params.get("fields") {
        Some(Value::Object(o)) => Ok(o.clone()),
        _ => Err(missing("fields")),
    }
}

/// `FILES`: `[["name", "base64"], ...]` -> the `{"1": {...}}` of crm.timeline.comment.get.
fn files(c: &mut Call, v: Option<&Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let now = iso(c.now_unix);
    for pair in v.and_then(php_array).unwrap_or_default() {
        let parts = php_array(pair).unwrap_or_default();
        let name = parts.first().and_then(|v| as_text(v)).unwrap_or_default();
        let size = parts.get(1).and_then(|v| v.as_str()).map_or(0, |b| b.trim_end_matches('=').len() * 3 / 4);
        c.state.history.last_file += 1;
        let id = c.state.history.last_file;
        let kind = if name.ends_with(".gif") || name.ends_with(".png") || name.ends_with(".jpg") {
            "image"
        } else {
            "file"
        };
        out.insert(
            id.to_string(),
            json!({"id": id, "date": now, "type": kind, "name": name, "size": size, "authorId": c.user_id}),
        );
    }
    out
}

fn render(cm: &Comment) -> Value {
    json!({
        "ID": cm.id.to_string(),
        "ENTITY_ID": cm.owner_id.to_string(),
        "ENTITY_TYPE": cm.entity_type,
        "CREATED": cm.created,
        "COMMENT": cm.comment,
        "AUTHOR_ID": cm.author_id.to_string(),
        "FILES": Value::Object(cm.files.clone()),
    })
}

fn is_blank(v: Option<&Value>) -> bool {
    v.and_then(as_text).is_none_or(|s| s.trim().is_empty())
}

/// `crm.timeline.comment.add`: result the new comment's ID.
pub(crate) fn add(c: &mut Call) -> MethodResult {
    let f = fields(c)?;
    let etid = f.get("ENTITY_TYPE").and_then(as_text).and_then(|t| owner_type_id(&t));
    let owner = f.get("ENTITY_ID").and_then(as_u64);
    let (Some(etid), Some(owner)) = (etid, owner) else { return Err(owner_not_found()) };
    if !owner_exists(c, etid, owner) {
        return Err(owner_not_found());
    }
    if is_blank(f.get("COMMENT")) {
        return Err(empty_comment());
    }
    // AUTHOR_ID is not read-only (crm.timeline.comment.fields: immutable only): kept as sent,
    // the caller when unsent or not a number. The pages do not say it must be a user.
    let author_id = f.get("AUTHOR_ID").and_then(as_u64).filter(|a| *a > 0).unwrap_or(c.user_id);
    let files = files(c, f.get("FILES"));
    c.state.history.last_comment += 1;
    let id = c.state.history.last_comment;
    let comment = Comment {
        id,
        owner_type_id: etid,
        entity_type: owner_type_name(etid),
        owner_id: owner,
        created: iso(c.now_unix),
        author_id,
        comment: f.get("COMMENT").and_then(as_text).unwrap_or_default(),
        files,
    };
    c.state.history.comments.insert(id, comment);
    Ok(Output::new(json!(id)))
}

/// `id`: missing -> the binder's `100`, unknown -> `NOT_FOUND`.
fn comment_id(c: &Call) -> Result<u64, MethodError> {
    let id = param(c.params, "id").ok_or_else(|| missing("id"))?;
    as_u64(id).filter(|id| c.state.history.comments.contains_key(id)).ok_or_else(not_found)
}

/// `ownerTypeId` + `ownerId` (update, delete): when sent, the comment must be bound to them.
fn check_owner(c: &Call, id: u64) -> Result<(), MethodError> {
    let t = param(c.params, "ownerTypeId").and_then(as_u64);
    let o = param(c.params, "ownerId").and_then(as_u64);
    if t.is_none() && o.is_none() {
        return Ok(());
    }
    let cm = &c.state.history.comments[&id];
    let bound = t.is_none_or(|t| t == cm.owner_type_id) && o.is_none_or(|o| o == cm.owner_id);
    if bound && owner_exists(c, cm.owner_type_id, cm.owner_id) { Ok(()) } else { Err(owner_not_found()) }
}

/// `crm.timeline.comment.update`: `COMMENT` and `FILES` change; result the comment's ID.
pub(crate) fn update(c: &mut Call) -> MethodResult {
    let id = comment_id(c)?;
    let f = fields(c)?;
    check_owner(c, id)?;
    if f.contains_key("COMMENT") && is_blank(f.get("COMMENT")) {
        return Err(empty_comment());
    }
    let new_files = f.contains_key("FILES").then(|| files(c, f.get("FILES")));
    let cm = c.state.history.comments.get_mut(&id).expect("comment_id() checked it");
    if let Some(text) = f.get("COMMENT").and_then(as_text) {
        cm.comment = text;
    }
    if let Some(files) = new_files {
        cm.files = files;
    }
    Ok(Output::new(json!(id)))
}

/// `crm.timeline.comment.get`: its table's errors have an empty code.
pub(crate) fn get(c: &mut Call) -> MethodResult {
    let id = param(c.params, "id")
        .and_then(as_u64)
        .filter(|id| *id > 0)
        .ok_or_else(|| MethodError::bad("", "ID is not defined or invalid."))?;
    let cm = c.state.history.comments.get(&id).ok_or_else(|| MethodError::bad("", "Not found."))?;
    Ok(Output::new(render(cm)))
}

const LIST_FIELDS: [(&str, Kind); 6] = [
    ("ID", Kind::Number),
    ("ENTITY_ID", Kind::Number),
    ("ENTITY_TYPE", Kind::Text),
    ("CREATED", Kind::Date),
    ("AUTHOR_ID", Kind::Number),
    ("COMMENT", Kind::Text),
];

/// The filter key without its operator prefix (`>=CREATED` -> `CREATED`).
fn bare(key: &str) -> &str {
    key.trim_start_matches(['!', '=', '<', '>', '@', '%'])
}

/// `crm.timeline.comment.list`: `filter` must name `ENTITY_ID` and `ENTITY_TYPE` (the page:
/// "the filter works on two mandatory fields"); without them the answer is HTTP 400 with an
/// empty code and "ENTITY_ID is not defined or invalid." / "ENTITY_TYPE is not defined or
/// invalid." (the page gives no text; the get page's style for an undefined parameter).
/// Other filter keys (`ID`, `AUTHOR_ID`, `CREATED`, `COMMENT`, with the list prefixes) narrow
/// the list; unknown keys are ignored. `order` takes `ID`, `CREATED`, `AUTHOR_ID` (others
/// ignored); unsent, the list is by ID ascending (the page is silent). `select` as the page.
pub(crate) fn list(c: &mut Call) -> MethodResult {
    let filter_obj = super::object(param(c.params, "filter"));
    for required in ["ENTITY_ID", "ENTITY_TYPE"] {
        if !filter_obj.keys().any(|k| bare(k) == required) {
            return Err(MethodError::bad("", format!("{required} is not defined or invalid.")));
        }
    }
    let known: Map<String, Value> =
        filter_obj.into_iter().filter(|(k, _)| LIST_FIELDS.iter().any(|(n, _)| *n == bare(k))).collect();
    let resolve = |name: &str| {
        LIST_FIELDS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(n, k)| (n.to_string(), *k))
    };
    let cond = filter::compile(&Value::Object(known), &resolve)
        .map_err(|name| MethodError::bad("", format!("{name} is not defined or invalid.")))?;
    let mut order: Vec<(String, Kind, bool)> = Vec::new();
    if let Some(Value::Object(o)) = param(c.params, "order") {
        for (k, dir) in o {
            if let Some((name, kind)) =
                resolve(k).filter(|(n, _)| ["ID", "CREATED", "AUTHOR_ID"].contains(&n.as_str()))
            {
                order.push((name, kind, dir.as_str().is_some_and(|d| d.eq_ignore_ascii_case("DESC"))));
            }
        }
    }
    let select: Vec<String> = param(c.params, "select")
        .and_then(php_array)
        .map(|v| v.into_iter().filter_map(as_text).collect())
        .unwrap_or_default();
    let mut rows: Vec<Value> = c
        .state
        .history
        .comments
        .values()
        .map(render)
        .filter(|r| filter::eval(&cond, &|k| r.get(k).cloned()))
        .collect();
    rows.sort_by(|a, b| {
        for (field, kind, desc) in &order {
            let o = filter::compare(*kind, &a[field.as_str()], &b[field.as_str()]);
            let o = if *desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        filter::compare(Kind::Number, &a["ID"], &b["ID"])
    });
    let (start, count) = super::start_param(c.params);
    let (page, total, next) = super::page(&rows, start, count);
    let page: Vec<Value> = page
        .into_iter()
        .map(|r| match (&r, select.is_empty() || select.iter().any(|s| s == "*")) {
            (Value::Object(o), false) => Value::Object(
                o.iter().filter(|(k, _)| select.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
            ),
            _ => r,
        })
        .collect();
    Ok(Output::list(json!(page), total, next))
}

/// `crm.timeline.comment.delete`: result null.
pub(crate) fn delete(c: &mut Call) -> MethodResult {
    let id = comment_id(c)?;
    check_owner(c, id)?;
    c.state.history.comments.remove(&id);
    Ok(Output::new(Value::Null))
}

/// `crm.timeline.comment.fields`: the page's answer.
pub(crate) fn fields_of(_: &mut Call) -> MethodResult {
    let field = |ty: &str, required: bool, read_only: bool, immutable: bool, multiple: bool, title: &str| {
        json!({"type": ty, "isRequired": required, "isReadOnly": read_only, "isImmutable": immutable,
               "isMultiple": multiple, "isDynamic": false, "title": title})
    };
    Ok(Output::new(json!({
        "ID": field("integer", false, true, false, false, "ID"),
        "CREATED": field("datetime", false, true, false, false, "Date added"),
        "ENTITY_ID": field("integer", true, false, true, false, "ID of the element the comment is attached to"),
        "ENTITY_TYPE": field("string", true, false, true, false, "Type of the element the comment is attached to"),
        "AUTHOR_ID": field("integer", false, false, true, false, "Author"),
        "COMMENT": field("string", false, false, false, false, "Comment text"),
        "FILES": field("attached_diskfile", false, false, false, true, "File list"),
    })))
}
