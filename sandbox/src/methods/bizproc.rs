//! `bizproc.workflow.template.list` (issue 19: which workflows a portal starts on every new
//! item, the automation an import avoids), per
//! `api-reference/bizproc/template/bizproc-workflow-template-list.md`: administrators only
//! (else HTTP 400 `ACCESS_DENIED` "Access denied!", its table), `filter` on the template
//! fields with the page's prefixes (`=`, `!`, `!=`, `<`, `<=`, `>`, `>=`; no prefix: equal; any
//! case), `select` (default `["ID"]`), `order` (default `{ID: ASC}`), pages of 50 with `start`,
//! `total`. The templates are `HistoryConfig::workflows` (none by default).
//!
//! Owns the listing only; the templates are configuration, never changed by a call.

use serde_json::{Map, Value, json};

use super::filter::{self, Kind};
use super::{Call, MethodError, MethodResult, Output, as_text, as_u64, param, php_array};
use crate::history::WorkflowTemplate;

/// The fields a template shows (the page's table, those the sandbox keeps).
const FIELDS: [(&str, Kind); 6] = [
    ("ID", Kind::Number),
    ("MODULE_ID", Kind::Text),
    ("ENTITY", Kind::Text),
    ("DOCUMENT_TYPE", Kind::Text),
    ("AUTO_EXECUTE", Kind::Number),
    ("NAME", Kind::Text),
];

fn render(t: &WorkflowTemplate) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ID".into(), json!(t.id.to_string()));
    m.insert("MODULE_ID".into(), json!(t.module_id));
    m.insert("ENTITY".into(), json!(t.entity));
    m.insert("DOCUMENT_TYPE".into(), json!(t.document_type));
    m.insert("AUTO_EXECUTE".into(), json!(t.auto_execute.to_string()));
    m.insert("NAME".into(), json!(t.name));
    m
}

fn resolve(name: &str) -> Option<(String, Kind)> {
    FIELDS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(n, k)| (n.to_string(), *k))
}

/// A parameter by any case of its name (the page: `SELECT`, `FILTER`, `ORDER`; examples use lower case).
fn any_case<'a>(c: &'a Call, name: &str) -> Option<&'a Value> {
    param(c.params, name).or_else(|| param(c.params, &name.to_ascii_uppercase()))
}

/// `bizproc.workflow.template.list`.
pub(crate) fn template_list(c: &mut Call) -> MethodResult {
    if c.history.not_admin {
        return Err(MethodError::bad("ACCESS_DENIED", "Access denied!"));
    }
    let filter_obj = super::object(any_case(c, "filter"));
    let known: Map<String, Value> = filter_obj
        .into_iter()
        .filter_map(|(k, v)| {
            let bare = k.trim_start_matches(['=', '!', '<', '>']);
            let prefix = &k[..k.len() - bare.len()];
            resolve(bare).map(|(name, _)| (format!("{prefix}{name}"), v))
        })
        .collect();
    let cond = filter::compile(&Value::Object(known), &resolve)
        .map_err(|name| MethodError::bad("", format!("Unknown field {name}")))?;
    let mut rows: Vec<Map<String, Value>> = c
        .history
        .workflows
        .iter()
        .map(render)
        .filter(|r| filter::eval(&cond, &|k| r.get(k).cloned()))
        .collect();
    let mut order: Vec<(String, Kind, bool)> = Vec::new();
    if let Some(Value::Object(o)) = any_case(c, "order") {
        for (k, dir) in o {
            if let Some((name, kind)) = resolve(k) {
                order.push((name, kind, dir.as_str().is_some_and(|d| d.eq_ignore_ascii_case("DESC"))));
            }
        }
    }
    order.push(("ID".into(), Kind::Number, false));
    rows.sort_by(|a, b| {
        for (field, kind, desc) in &order {
            let null = Value::Null;
            let o = filter::compare(*kind, a.get(field).unwrap_or(&null), b.get(field).unwrap_or(&null));
            let o = if *desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    let select: Vec<String> = any_case(c, "select")
        .and_then(php_array)
        .map(|v| v.into_iter().filter_map(as_text).filter_map(|s| resolve(&s).map(|(n, _)| n)).collect())
        .filter(|v: &Vec<String>| !v.is_empty())
        .unwrap_or_else(|| vec!["ID".to_string()]);
    let total = rows.len();
    let start = param(c.params, "start").and_then(as_u64).unwrap_or(0) as usize;
    let page: Vec<Value> = rows
        .into_iter()
        .skip(start)
        .take(50)
        .map(|r| Value::Object(r.into_iter().filter(|(k, _)| select.contains(k)).collect()))
        .collect();
    let mut out = Output::new(Value::Array(page));
    out.total = Some(total as u64);
    if start + 50 < total {
        out.next = Some((start + 50) as u64);
    }
    Ok(out)
}
