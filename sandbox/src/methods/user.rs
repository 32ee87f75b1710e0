//! `user.add`, `user.get`, `user.fields`, `user.current`, `profile` (§4).
//!
//! `user.add` (the seed page `../shared/seeds/user.add.txt`, codes from
//! `api-reference/user/user-add.md`) needs a well-formed, unused `EMAIL` (`ERROR_ARGUMENT`),
//! intranet users need `UF_DEPARTMENT`, extranet users `EXTRANET=Y` + `SONET_GROUP_ID` naming
//! an existing extranet workgroup (`SandboxConfig::setup`); it answers the integer id. Its
//! `ERROR_ARGUMENT` answers carry `argument` (see [`add`]).
//! `user.get` answers ID-like values as strings, like the portal.

use serde_json::{Map, Value, json};

use super::filter::{self, Kind};
use super::{Call, MethodError, MethodResult, Output, as_text, is_yes, param, php_array};
use crate::clock::iso;
use crate::state::User;

/// The fields `user.fields` lists (name, title): the sandbox's own copy of the portal's user
/// fields.
pub const FIELDS: [(&str, &str); 24] = [
    ("ID", "ID"),
    ("XML_ID", "External ID"),
    ("ACTIVE", "Active"),
    ("NAME", "First name"),
    ("LAST_NAME", "Last name"),
    ("SECOND_NAME", "Second name"),
    ("TITLE", "Title"),
    ("EMAIL", "E-mail"),
    ("LAST_LOGIN", "Last login"),
    ("DATE_REGISTER", "Registration date"),
    ("TIME_ZONE", "Time zone"),
    ("IS_ONLINE", "Is online"),
    ("TIME_ZONE_OFFSET", "Time zone offset"),
    ("PERSONAL_GENDER", "Gender"),
    ("PERSONAL_PROFESSION", "Profession"),
    ("PERSONAL_BIRTHDAY", "Date of birth"),
    ("PERSONAL_PHOTO", "Photo"),
    ("PERSONAL_MOBILE", "Mobile phone"),
    ("PERSONAL_CITY", "City"),
    ("WORK_COMPANY", "Company"),
    ("WORK_POSITION", "Position"),
    ("WORK_PHONE", "Work phone"),
    ("UF_DEPARTMENT", "Departments"),
    ("USER_TYPE", "User type"),
];

fn wrong_email() -> MethodError {
    argument_error("wrong_email")
}

/// An `ERROR_ARGUMENT` answer of `user.add`: the page's example is
/// `{"error": "ERROR_ARGUMENT", "error_description": "wrong_email", "argument": ""}`. The
/// portal's REST server adds `argument` (the parameter an `ArgumentException` names) to every
/// `ERROR_ARGUMENT` it answers; `user.add` names none, so it is always empty. Its other codes
/// (`ERROR_GROUPID`, `ERROR_NO_GROUP`, `ERROR_CORE`) are plain REST errors without it.
fn argument_error(description: &str) -> MethodError {
    MethodError::bad("ERROR_ARGUMENT", description).with_argument("")
}

/// A plausible e-mail: one `@`, a non-empty local part, a dotted domain, no spaces.
pub(crate) fn well_formed_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain.split('.').count() >= 2
        && domain.split('.').all(|p| !p.is_empty())
}

/// `user.add`.
pub(crate) fn add(c: &mut Call) -> MethodResult {
    let mut fields = Map::new();
    if let Some(obj) = c.params.as_object() {
        for (k, v) in obj {
            if k != "auth" {
                fields.insert(k.to_ascii_uppercase(), v.clone());
            }
        }
    }
    let email = fields.get("EMAIL").and_then(as_text).unwrap_or_default().trim().to_string();
    if email.is_empty() || !well_formed_email(&email) {
        return Err(wrong_email());
    }
    let lower = email.to_lowercase();
    let taken =
        c.state.users.values().any(|u| {
            u.fields.get("EMAIL").and_then(Value::as_str).is_some_and(|e| e.to_lowercase() == lower)
        });
    if taken {
        return Err(argument_error("User with this email already exists"));
    }
    let extranet = is_yes(fields.get("EXTRANET"));
    let nonempty = |k: &str| match fields.get(k) {
        Some(v) => php_array(v).map_or_else(|| as_text(v).is_some_and(|s| !s.is_empty()), |a| !a.is_empty()),
        None => false,
    };
    if extranet {
        if !nonempty("SONET_GROUP_ID") {
            return Err(MethodError::bad("ERROR_GROUPID", "Group code not specified"));
        }
        // At least one of the groups named must be an extranet workgroup of the portal (the
        // portal looks the named groups up on the extranet site and refuses when it finds
        // none; the page: "Group specified incorrectly").
        let named = fields.get("SONET_GROUP_ID").map(ids).unwrap_or_default();
        if !named.iter().any(|g| c.setup.extranet_groups.contains(g)) {
            return Err(MethodError::bad("ERROR_NO_GROUP", "Group specified incorrectly"));
        }
    } else if !nonempty("UF_DEPARTMENT") {
        return Err(argument_error("no_extranet_field"));
    } else {
        // The licence counts intranet users (`crate::plan`): the administrator and every user
        // with a department; extranet users are not counted.
        let intranet = c
            .state
            .users
            .values()
            .filter(|u| {
                u.builtin || u.fields.get("UF_DEPARTMENT").and_then(php_array).is_some_and(|a| !a.is_empty())
            })
            .count();
        c.plan.check_user_add(intranet)?;
    }
    let mut stored = Map::new();
    for (k, v) in fields {
        if k == "EXTRANET" || k == "SONET_GROUP_ID" {
            continue;
        }
        let v = if k == "UF_DEPARTMENT" {
            Value::Array(ids(&v).into_iter().map(|n| json!(n)).collect())
        } else {
            v
        };
        stored.insert(k, v);
    }
    stored.insert("EMAIL".into(), json!(email));
    stored.insert("ACTIVE".into(), json!(true));
    stored.insert("USER_TYPE".into(), json!(if extranet { "extranet" } else { "employee" }));
    stored.insert("DATE_REGISTER".into(), json!(iso(c.now_unix)));
    c.state.counters.user += 1;
    let id = c.state.counters.user;
    c.state.users.insert(id, User { id, fields: stored, builtin: false });
    c.state.touch_user(id);
    Ok(Output::new(json!(id)))
}

/// `user.update` (`api-reference/user/user-update.md`): changes the fields sent of user `ID`
/// and answers `true`. Its error table: an `ID` that is not a positive number is `ERROR_CORE`
/// with an empty text; a user the caller may not change (one that does not exist among them,
/// the page: "no rights to edit, or the user does not exist") is `ERROR_CORE` `access_denied`.
/// The page is silent on which fields may change: the sandbox takes every field `user.add`
/// takes except `EXTRANET` and `SONET_GROUP_ID` (a user's type does not change), and keeps
/// `EMAIL` unique as `user.add` does.
pub(crate) fn update(c: &mut Call) -> MethodResult {
    let params = super::object(Some(c.params));
    let id = params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("ID"))
        .and_then(|(_, v)| super::as_u64(v))
        .filter(|id| *id > 0)
        .ok_or_else(|| MethodError::bad("ERROR_CORE", ""))?;
    if !c.state.users.contains_key(&id) {
        return Err(MethodError::bad("ERROR_CORE", "access_denied"));
    }
    let mut changes = Map::new();
    for (k, v) in params {
        let k = k.to_ascii_uppercase();
        if k == "ID" || k == "AUTH" || k == "EXTRANET" || k == "SONET_GROUP_ID" {
            continue;
        }
        changes.insert(k, v.clone());
    }
    if let Some(email) = changes.get("EMAIL").and_then(Value::as_str) {
        let taken = c.state.users.values().any(|u| {
            u.id != id
                && u.fields
                    .get("EMAIL")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
        });
        if !well_formed_email(email) || taken {
            return Err(argument_error("User with this email already exists"));
        }
    }
    if let Some(u) = c.state.users.get_mut(&id) {
        u.fields.extend(changes);
    }
    c.state.touch_user(id);
    Ok(Output::new(json!(true)))
}

/// The integer IDs of a list value (or of a single one).
fn ids(v: &Value) -> Vec<u64> {
    php_array(v).unwrap_or_else(|| vec![v]).into_iter().filter_map(super::as_u64).collect()
}

/// A user as `user.get` shows it: scalars as strings, `ID` a string, `UF_DEPARTMENT` numbers.
pub(crate) fn render(u: &User) -> Value {
    let mut out = Map::new();
    out.insert("ID".into(), json!(u.id.to_string()));
    for (k, v) in &u.fields {
        let v = match v {
            Value::Number(n) => json!(n.to_string()),
            other => other.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

fn user_value(u: &User, key: &str) -> Option<Value> {
    if key == "ID" { Some(json!(u.id)) } else { u.fields.get(key).cloned() }
}

/// `user.get`: `FILTER`/`filter` (or plain top-level field filters), `sort`/`order`, `start`.
pub(crate) fn get(c: &mut Call) -> MethodResult {
    const NOT_FILTERS: [&str; 8] =
        ["SORT", "ORDER", "START", "ADMIN_MODE", "SELECT", "AUTH", "IMAGE_RESIZE", "FILTER"];
    let filter_value = match param(c.params, "FILTER") {
        Some(f) => f.clone(),
        None => {
            let mut m = Map::new();
            if let Some(obj) = c.params.as_object() {
                for (k, v) in obj {
                    if !NOT_FILTERS.contains(&k.to_ascii_uppercase().as_str()) {
                        m.insert(k.clone(), v.clone());
                    }
                }
            }
            Value::Object(m)
        }
    };
    let resolve = |name: &str| -> Option<(String, Kind)> {
        let upper = name.to_ascii_uppercase();
        let kind = if upper == "ID" || upper == "UF_DEPARTMENT" { Kind::Number } else { Kind::Text };
        Some((upper, kind))
    };
    let cond = filter::compile(&filter_value, &resolve).map_err(|n| {
        MethodError::bad("INVALID_ARG_VALUE", format!("field \"{n}\" is not allowed in filter"))
    })?;
    let mut users: Vec<&User> = c
        .state
        .users
        .values()
        .filter(|u| {
            u.fields.get("ACTIVE").is_none_or(|a| a != &json!(false)) || filter_mentions_active(&filter_value)
        })
        .filter(|u| filter::eval(&cond, &|k| user_value(u, k)))
        .collect();
    let sort = param(c.params, "sort").and_then(as_text).map(|s| s.to_ascii_uppercase());
    if let Some(sort) = sort {
        let desc = param(c.params, "order").and_then(as_text).is_some_and(|o| o.eq_ignore_ascii_case("DESC"));
        let kind = if sort == "ID" { Kind::Number } else { Kind::Text };
        users.sort_by(|a, b| {
            let o = filter::compare(
                kind,
                &user_value(a, &sort).unwrap_or(Value::Null),
                &user_value(b, &sort).unwrap_or(Value::Null),
            );
            if desc { o.reverse() } else { o }
        });
    }
    let (start, _) = super::start_param(c.params);
    let (page, total, next) = super::page(&users, start, true);
    Ok(Output::list(Value::Array(page.iter().map(|u| render(u)).collect()), total, next))
}

fn filter_mentions_active(f: &Value) -> bool {
    f.as_object().is_some_and(|o| o.keys().any(|k| k.to_ascii_uppercase().ends_with("ACTIVE")))
}

/// `user.fields`.
pub(crate) fn fields(_: &mut Call) -> MethodResult {
    let mut out = Map::new();
    for (k, v) in FIELDS {
        out.insert(k.into(), json!(v));
    }
    Ok(Output::new(Value::Object(out)))
}

/// `user.current`.
pub(crate) fn current(c: &mut Call) -> MethodResult {
    let u = c
        .state
        .users
        .get(&c.user_id)
        .ok_or_else(|| MethodError::new(401, "NO_AUTH_FOUND", "Wrong authorization data"))?;
    Ok(Output::new(render(u)))
}

/// `profile`.
pub(crate) fn profile(c: &mut Call) -> MethodResult {
    let u = c
        .state
        .users
        .get(&c.user_id)
        .ok_or_else(|| MethodError::new(401, "NO_AUTH_FOUND", "Wrong authorization data"))?;
    let text = |k: &str| u.fields.get(k).and_then(as_text).unwrap_or_default();
    Ok(Output::new(json!({
        "ID": u.id.to_string(),
        // `--not-admin` (`HistoryConfig::not_admin`) makes the credential's user no administrator
        // everywhere it shows: here as in the import methods' date and author rules.
        "ADMIN": !c.history.not_admin && u.fields.get("IS_ADMIN").is_some_and(|v| v == &json!(true)),
        "NAME": text("NAME"),
        "LAST_NAME": text("LAST_NAME"),
        "PERSONAL_GENDER": text("PERSONAL_GENDER"),
        "TIME_ZONE": "",
        "TIME_ZONE_OFFSET": 0,
    })))
}
