//! `department.get` and `app.info`: the two methods the `batch` page's examples call besides
//! `user.current` (`settings/how-to-call-rest-api/batch.md`). The product calls neither; they
//! are here so that the page's examples run as written.
//!
//! Owns the portal's department structure, which is fixed: the root department 1 (the company,
//! headed by the administrator, user 1), the department every user the sandbox creates is
//! placed in. Departments cannot be added (`department.add` is not emulated). It must not
//! invent departments the portal has not got.
//!
//! - `department.get` (`api-reference/departments/department-get.md`): filters `ID`, `NAME`,
//!   `SORT`, `PARENT`, `UF_HEAD` (exact values), `sort` + `order`, pages of 50 with `START`;
//!   the answer is a list of `{ID, NAME, SORT, UF_HEAD}` with string IDs and `total`, as its
//!   example shows (the root has no `PARENT`, as on a portal).
//! - `app.info` (`api-reference/common/system/app-info.md`): the application's figures for an
//!   OAuth call; a webhook is no application: 400 `ACCESS_DENIED` "Access denied! Application
//!   context required" (its error table). The page is silent on a trial's `DAYS`: the sandbox's
//!   application is a free, installed one (`STATUS` "F", `DAYS` null).

use serde_json::{Value, json};

use super::{Call, MethodError, MethodResult, Output, as_text, param};
use crate::access::Via;

/// The sandbox's departments: the root, named as a new portal names it.
fn departments() -> Vec<Value> {
    vec![json!({"ID": "1", "NAME": "Company", "SORT": 500, "UF_HEAD": "1"})]
}

/// `department.get`.
pub(crate) fn get(c: &mut Call) -> MethodResult {
    let mut rows: Vec<Value> = departments()
        .into_iter()
        .filter(|d| {
            ["ID", "NAME", "SORT", "PARENT", "UF_HEAD"].iter().all(|k| {
                match param(c.params, k).and_then(as_text) {
                    None => true,
                    Some(want) => d.get(*k).and_then(as_text).is_some_and(|got| got == want),
                }
            })
        })
        .collect();
    if let Some(field) = param(c.params, "sort").and_then(as_text) {
        let key = |d: &Value| d.get(&field).and_then(as_text).unwrap_or_default();
        rows.sort_by_key(key);
        let desc = param(c.params, "order").and_then(as_text).is_some_and(|o| o.eq_ignore_ascii_case("DESC"));
        if desc {
            rows.reverse();
        }
    }
    let total = rows.len() as u64;
    let start = param(c.params, "START").and_then(super::as_u64).unwrap_or(0) as usize;
    let page: Vec<Value> = rows.into_iter().skip(start).take(50).collect();
    let next = (start + page.len() < total as usize).then_some((start + page.len()) as u64);
    Ok(Output::list(Value::Array(page), total, next))
}

/// `app.info`.
pub(crate) fn app_info(c: &mut Call) -> MethodResult {
    if c.access.via != Via::App {
        return Err(MethodError::bad("ACCESS_DENIED", "Access denied! Application context required"));
    }
    Ok(Output::new(json!({
        "ID": 1,
        "CODE": "local.sandbox",
        "VERSION": 1,
        "STATUS": "F",
        "INSTALLED": true,
        "PAYMENT_EXPIRED": "N",
        "DAYS": null,
        "LANGUAGE_ID": "en",
        "LICENSE": "en_project",
        "LICENSE_TYPE": "project",
        "LICENSE_FAMILY": "project",
    })))
}
