//! List filters with the portal's prefix operators (`=`, `!=`, `!`, `>`, `>=`, `<`, `<=`, `@`,
//! `!@`, `%`, `!%`, `=%`, `%=`, `!=%`, `!%=`), nested groups with `logic: OR`, plus the date
//! formats values are normalised to. Shared by `crm.item.list`, `user.get` and the dictionaries.
//!
//! Owns matching, and the checks of a filter's and an order's shape ([`check`],
//! [`check_order`]: unknown fields, values a field's type cannot hold, sort directions); which
//! field names exist is answered by the caller's resolver, and which answer a refusal gets is
//! the caller's (each list method's page).

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::Value;

/// How values of a field compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Case-insensitive text.
    Text,
    /// Numbers (text that does not parse compares as text).
    Number,
    /// `Y`/`N` (filters may say `1`/`0`).
    Bool,
    /// Dates and date-times, normalised to the stored RFC 3339 form.
    Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    Pattern,
}

#[derive(Debug, Clone)]
struct Leaf {
    field: String,
    kind: Kind,
    op: Op,
    negate: bool,
    args: Vec<Value>,
}

/// A compiled filter.
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    Leaf(LeafBox),
    Group { or: bool, conds: Vec<Cond> },
}

/// Boxed leaf (keeps the enum small).
#[derive(Debug, Clone)]
pub(crate) struct LeafBox(Box<Leaf>);

const PREFIXES: [(&str, Op, bool); 15] = [
    ("!=%", Op::Pattern, true),
    ("!%=", Op::Pattern, true),
    ("=%", Op::Pattern, false),
    ("%=", Op::Pattern, false),
    ("!%", Op::Like, true),
    (">=", Op::Ge, false),
    ("<=", Op::Le, false),
    ("!=", Op::Eq, true),
    ("!@", Op::Eq, true),
    ("@", Op::Eq, false),
    (">", Op::Gt, false),
    ("<", Op::Lt, false),
    ("=", Op::Eq, false),
    ("%", Op::Like, false),
    ("!", Op::Eq, true),
];

fn split_op(key: &str) -> (Op, bool, &str) {
    for (prefix, op, negate) in PREFIXES {
        if let Some(rest) = key.strip_prefix(prefix) {
            return (op, negate, rest);
        }
    }
    (Op::Eq, false, key)
}

/// Compiles a filter object. `resolve` maps a client field name to (stored key, kind); a name it
/// does not know is returned as the error.
pub(crate) fn compile(
    filter: &Value,
    resolve: &dyn Fn(&str) -> Option<(String, Kind)>,
) -> Result<Cond, String> {
    let Some(obj) = filter.as_object() else {
        return Ok(Cond::Group { or: false, conds: Vec::new() });
    };
    let mut or = false;
    let mut conds = Vec::new();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("logic") {
            or = value.as_str().is_some_and(|s| s.eq_ignore_ascii_case("OR"));
            continue;
        }
        let (op, negate, name) = split_op(key);
        let resolved = resolve(name);
        if resolved.is_none() && value.is_object() {
            conds.push(compile(value, resolve)?);
            continue;
        }
        let Some((field, kind)) = resolved else { return Err(name.to_string()) };
        let args: Vec<Value> = match value {
            Value::Array(a) => a.iter().map(|v| normalise(kind, v)).collect(),
            Value::Object(o) => o.values().map(|v| normalise(kind, v)).collect(),
            v => vec![normalise(kind, v)],
        };
        conds.push(Cond::Leaf(LeafBox(Box::new(Leaf { field, kind, op, negate, args }))));
    }
    Ok(Cond::Group { or, conds })
}

/// Why a filter or an order is refused (the caller words it as its page does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListError {
    /// A filter key names no field that can be filtered on (the name without its operator).
    FilterField(String),
    /// A filter value the field's type cannot hold (a word for a number, a date that is no
    /// date, an object where a value belongs).
    FilterValue(String),
    /// An order key names no field that can be sorted on.
    OrderField(String),
    /// A sort direction other than `ASC` / `DESC` (field, direction as sent).
    OrderDirection(String, String),
}

/// Checks a filter the way [`compile`] reads it: every key resolves (or is a nested group),
/// and every value is one its field's type can hold: numbers (or numeric text) for
/// [`Kind::Number`], a date in an accepted form for [`Kind::Date`], `Y`/`N`/`1`/`0`/`true`/
/// `false` for [`Kind::Bool`], any scalar for [`Kind::Text`]; an empty value (null, `""`, an
/// empty list) is always allowed (it matches empty fields). A value that is itself an object
/// or a list of lists is never allowed.
pub(crate) fn check(
    filter: &Value,
    resolve: &dyn Fn(&str) -> Option<(String, Kind)>,
) -> Result<(), ListError> {
    let Some(obj) = filter.as_object() else { return Ok(()) };
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("logic") {
            continue;
        }
        let (_, _, name) = split_op(key);
        let resolved = resolve(name);
        if resolved.is_none() && value.is_object() {
            check(value, resolve)?;
            continue;
        }
        let Some((_, kind)) = resolved else { return Err(ListError::FilterField(name.to_string())) };
        let values: Vec<&Value> = match value {
            Value::Array(a) => a.iter().collect(),
            Value::Object(o) => o.values().collect(),
            v => vec![v],
        };
        if !values.iter().all(|v| value_fits(kind, v)) {
            return Err(ListError::FilterValue(name.to_string()));
        }
    }
    Ok(())
}

fn value_fits(kind: Kind, v: &Value) -> bool {
    if is_empty(v) {
        return true;
    }
    match (kind, v) {
        (_, Value::Array(_) | Value::Object(_)) => false,
        (Kind::Text, _) => true,
        (Kind::Number, Value::Number(_)) => true,
        (Kind::Number, Value::String(s)) => s.trim().parse::<f64>().is_ok_and(f64::is_finite),
        (Kind::Number, _) => false,
        (Kind::Bool, Value::Bool(_)) => true,
        (Kind::Bool, other) => super::as_text(other).is_some_and(|t| {
            matches!(t.to_ascii_uppercase().as_str(), "Y" | "N" | "1" | "0" | "TRUE" | "FALSE")
        }),
        (Kind::Date, Value::String(s)) => parse_datetime(s).is_some(),
        (Kind::Date, _) => false,
    }
}

/// Checks an `order` object: every key resolves and every direction is `ASC` or `DESC` (in any
/// case). Anything but an object (absent, a list) orders nothing and passes.
pub(crate) fn check_order(
    order: Option<&Value>,
    resolve: &dyn Fn(&str) -> Option<(String, Kind)>,
) -> Result<(), ListError> {
    let Some(Value::Object(o)) = order else { return Ok(()) };
    for (field, dir) in o {
        if resolve(field).is_none() {
            return Err(ListError::OrderField(field.clone()));
        }
        let text = super::as_text(dir).unwrap_or_else(|| dir.to_string());
        if !text.eq_ignore_ascii_case("ASC") && !text.eq_ignore_ascii_case("DESC") {
            return Err(ListError::OrderDirection(field.clone(), text));
        }
    }
    Ok(())
}

fn normalise(kind: Kind, v: &Value) -> Value {
    match kind {
        Kind::Bool => match super::as_text(v).map(|s| s.to_ascii_uppercase()).as_deref() {
            Some("1" | "Y" | "TRUE") => Value::String("Y".into()),
            Some("0" | "N" | "FALSE") => Value::String("N".into()),
            _ => v.clone(),
        },
        Kind::Date => match v.as_str().and_then(normalise_datetime) {
            Some(s) => Value::String(s),
            None => v.clone(),
        },
        _ => v.clone(),
    }
}

/// Evaluates a compiled filter against one record.
pub(crate) fn eval(cond: &Cond, get: &dyn Fn(&str) -> Option<Value>) -> bool {
    match cond {
        Cond::Group { or, conds } => {
            if *or {
                conds.is_empty() || conds.iter().any(|c| eval(c, get))
            } else {
                conds.iter().all(|c| eval(c, get))
            }
        }
        Cond::Leaf(LeafBox(leaf)) => {
            let value = get(&leaf.field).unwrap_or(Value::Null);
            let values: Vec<Value> = match value {
                Value::Array(a) if a.is_empty() => vec![Value::Null],
                Value::Array(a) => a,
                v => vec![v],
            };
            let hit = values.iter().any(|v| leaf.args.iter().any(|a| test(leaf.op, leaf.kind, v, a)))
                || (leaf.args.is_empty() && leaf.op == Op::Eq && values.iter().all(is_empty));
            hit != leaf.negate
        }
    }
}

fn is_empty(v: &Value) -> bool {
    matches!(v, Value::Null) || v.as_str() == Some("")
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Object(o) => o.get("value").map(text).unwrap_or_default(),
        other => super::as_text(other).unwrap_or_default(),
    }
}

/// Compares two values the way a list filter or `order` does.
pub(crate) fn compare(kind: Kind, a: &Value, b: &Value) -> Ordering {
    let (ta, tb) = (text(a), text(b));
    if kind == Kind::Number
        && let (Ok(x), Ok(y)) = (ta.trim().parse::<f64>(), tb.trim().parse::<f64>())
    {
        return x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    }
    ta.to_lowercase().cmp(&tb.to_lowercase())
}

fn test(op: Op, kind: Kind, v: &Value, arg: &Value) -> bool {
    match op {
        Op::Eq => {
            if is_empty(arg) {
                return is_empty(v);
            }
            compare(kind, v, arg) == Ordering::Equal
        }
        Op::Gt => !is_empty(v) && compare(kind, v, arg) == Ordering::Greater,
        Op::Ge => !is_empty(v) && compare(kind, v, arg) != Ordering::Less,
        Op::Lt => !is_empty(v) && compare(kind, v, arg) == Ordering::Less,
        Op::Le => !is_empty(v) && compare(kind, v, arg) != Ordering::Greater,
        Op::Like => text(v).to_lowercase().contains(&text(arg).to_lowercase()),
        Op::Pattern => like(&text(v).to_lowercase(), &text(arg).to_lowercase()),
    }
}

/// SQL LIKE with `%` (any run) and `_` (one character).
fn like(s: &str, pattern: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let (mut si, mut pi, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == s[si]) {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}

/// A date in any accepted input form: `YYYY-MM-DD`, ISO date-time, `MM/DD/YYYY`, `DD.MM.YYYY`.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    if let Some(dt) = parse_datetime(s) {
        return Some(dt.date());
    }
    NaiveDate::parse_from_str(s, "%m/%d/%Y").or_else(|_| NaiveDate::parse_from_str(s, "%d.%m.%Y")).ok()
}

/// A date-time (UTC) from RFC 3339, `YYYY-MM-DD hh:mm:ss`, or a plain date.
pub(crate) fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.naive_utc());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%d.%m.%Y %H:%M:%S",
        "%m/%d/%Y %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(d);
        }
    }
    for fmt in ["%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
            return d.and_hms_opt(0, 0, 0);
        }
    }
    None
}

/// The stored form of a date or date-time: `YYYY-MM-DDThh:mm:ss+00:00`.
pub(crate) fn normalise_datetime(s: &str) -> Option<String> {
    parse_datetime(s).map(|d| d.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolve(name: &str) -> Option<(String, Kind)> {
        match name {
            "id" => Some(("id".into(), Kind::Number)),
            "title" | "originId" => Some((name.into(), Kind::Text)),
            "tags" => Some((name.into(), Kind::Text)),
            _ => None,
        }
    }

    fn run(filter: Value, record: Value) -> bool {
        let cond = compile(&filter, &resolve).expect("compiles");
        eval(&cond, &|k| record.get(k).cloned())
    }

    #[test]
    fn prefix_operators_match_like_the_portal() {
        let r = json!({"id": 12, "title": "Acme Ltd", "originId": "A-7", "tags": ["x", "y"]});
        assert!(run(json!({">id": 10, "<=id": "12"}), r.clone()));
        assert!(!run(json!({">id": 12}), r.clone()));
        assert!(run(json!({"@originId": ["A-1", "A-7"]}), r.clone()));
        assert!(!run(json!({"!@originId": ["A-1", "A-7"]}), r.clone()));
        assert!(run(json!({"%title": "acme"}), r.clone()));
        assert!(run(json!({"=%title": "Ac%"}), r.clone()));
        assert!(run(json!({"!=title": "Other"}), r.clone()));
        assert!(run(json!({"tags": "y"}), r.clone()));
        assert!(run(json!({"0": {"logic": "OR", "id": 1, "title": "acme ltd"}}), r.clone()));
        assert!(!run(json!({"0": {"logic": "OR", "id": 1, "title": "b"}}), r));
        assert_eq!(compile(&json!({"bogus": 1}), &resolve).err().as_deref(), Some("bogus"));
    }

    #[test]
    fn check_refuses_unknown_fields_values_a_type_cannot_hold_and_bad_directions() {
        let r = |name: &str| match name {
            "id" => Some(("id".into(), Kind::Number)),
            "title" => Some(("title".into(), Kind::Text)),
            "begindate" => Some(("begindate".into(), Kind::Date)),
            "opened" => Some(("opened".into(), Kind::Bool)),
            _ => None,
        };
        assert_eq!(
            check(
                &json!({">=id": "12", "@id": [1, "2"], "title": "x", "begindate": "2025-01-31", "opened": "Y", "0": {"logic": "OR", "id": ""}}),
                &r
            ),
            Ok(())
        );
        assert_eq!(check(&json!({"bogus": 1}), &r), Err(ListError::FilterField("bogus".into())));
        assert_eq!(check(&json!({">id": "twelve"}), &r), Err(ListError::FilterValue("id".into())));
        assert_eq!(check(&json!({"@id": [[1]]}), &r), Err(ListError::FilterValue("id".into())));
        assert_eq!(
            check(&json!({"begindate": "31/31/2025"}), &r),
            Err(ListError::FilterValue("begindate".into()))
        );
        assert_eq!(check(&json!({"opened": "maybe"}), &r), Err(ListError::FilterValue("opened".into())));
        assert_eq!(
            check(&json!({"0": {"id": "x"}}), &r),
            Err(ListError::FilterValue("id".into())),
            "nested groups too"
        );
        assert_eq!(check_order(Some(&json!({"id": "desc", "title": "ASC"})), &r), Ok(()));
        assert_eq!(check_order(Some(&json!({"nope": "ASC"})), &r), Err(ListError::OrderField("nope".into())));
        assert_eq!(
            check_order(Some(&json!({"id": "UP"})), &r),
            Err(ListError::OrderDirection("id".into(), "UP".into()))
        );
    }

    #[test]
    fn dates_in_every_accepted_form_normalise_to_one() {
        for s in ["2025-04-29", "04/29/2025", "29.04.2025", "2025-04-29T00:00:00+00:00"] {
            assert_eq!(normalise_datetime(s).as_deref(), Some("2025-04-29T00:00:00+00:00"), "{s}");
        }
        assert!(parse_date("2025-02-30").is_none());
    }
}
