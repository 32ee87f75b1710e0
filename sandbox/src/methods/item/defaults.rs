//! The values `crm.item.add` gives the fields a client leaves empty, each as the
//! `crm.item.add` page's field tables say ("By default — ..."), applied before the required
//! fields are checked (the page's order: "default values are assigned to fields" is one of the
//! checks of a create, and a default fills a required field as a value would).
//!
//! Owns the defaults only; it never overwrites a value the client sent, and it skips fields the
//! entity does not have or a smart process switched off.

use chrono::{DateTime, Days};
use serde_json::{Map, Value, json};

use super::is_blank;
use crate::methods::as_u64;
use crate::methods::currency::CURRENCIES;
use crate::schema::{self, EntitySchema};
use crate::state::{Item, Meta};

/// What the defaults depend on besides the schema and the portal's data.
pub(super) struct Context<'a> {
    /// The acting user (`assignedById`: "identifier of the user calling the method").
    pub user: u64,
    /// The time of the call (`begindate`: "creation date"; `closedate`, `actualDate`:
    /// "creation date + 7 days").
    pub now_unix: f64,
    /// The entity type's default pipeline (`categoryId`: "By default — 0 (general)" for deals,
    /// the default pipeline otherwise).
    pub default_category: u64,
    /// Fields a smart process's flags switch off (they get no default).
    pub disabled: &'a [&'a str],
}

/// The portal's base currency (`currencyId`: "Default is the default currency"; the sandbox
/// portal's base currency is the one `crm.currency.list` marks `BASE = Y`).
pub(crate) fn base_currency() -> &'static str {
    CURRENCIES.iter().find(|(_, _, base)| *base).map_or("USD", |(code, _, _)| code)
}

/// A date field's stored form, `days` after the call's day.
fn date_after(now_unix: f64, days: u64) -> Value {
    let day = DateTime::from_timestamp(now_unix as i64, 0).map(|d| d.date_naive()).unwrap_or_default();
    let day = day.checked_add_days(Days::new(days)).unwrap_or(day);
    json!(day.format("%Y-%m-%dT00:00:00+00:00").to_string())
}

/// The first value (by sort) of a status directory.
fn first_status(meta: &Meta, directory: &str) -> Option<String> {
    meta.statuses
        .iter()
        .filter(|s| s.entity_id == directory)
        .min_by_key(|s| s.sort)
        .map(|s| s.status_id.clone())
}

/// Fills the documented defaults into `values` (an item being added).
pub(super) fn apply(
    meta: &Meta,
    companies: Option<&std::collections::BTreeMap<u64, Item>>,
    schema: &EntitySchema,
    values: &mut Map<String, Value>,
    cx: &Context<'_>,
) {
    let has = |n: &str| {
        schema.by_name(n).is_some_and(|f| !f.read_only || n == "createdBy") && !cx.disabled.contains(&n)
    };
    let etid = schema.entity_type_id;
    // (field, value): every entry cites the page's "By default" of that field.
    let mut defaults: Vec<(&str, Value)> = vec![
        ("isRecurring", json!("N")),                // deal: "By default — N"
        ("closed", json!("N")),                     // deal (read-only in the answer, computed)
        ("assignedById", json!(cx.user)),           // "identifier of the user calling the method"
        ("createdBy", json!(cx.user)),              // the answer's createdBy: the caller
        ("opened", json!("Y")),                     // "By default — Y"
        ("currencyId", json!(base_currency())),     // "By default — default currency"
        ("isManualOpportunity", json!("N")),        // "By default — N"
        ("categoryId", json!(cx.default_category)), // "By default — 0 (general)"
        ("export", json!("Y")),                     // contact: "By default — Y"
        ("isMyCompany", json!("N")),                // company: "By default — N"
        ("revenue", json!(0.0)),                    // company: "By default — 0"
        ("storageTypeId", json!(3)), // quote: "If the disk module is installed -> Drive" (3; the cloud has it)
        ("begindate", date_after(cx.now_unix, 0)), // "By default — creation date"
        ("closedate", date_after(cx.now_unix, 7)), // "By default — creation date + 7 days"
        ("actualDate", date_after(cx.now_unix, 7)), // quote: "creation date of the entity + 7 days"
    ];
    // `opportunity`, `taxValue`, `probability`: "By default — null", so none is set here.
    // "By default — the first available ..." of every directory field but the stage.
    for f in schema.fields.iter().filter(|f| f.field_type == "crm_status" && f.name != "stageId") {
        if let Some(dir) = &f.status_type
            && f.name != "honorific" // "By default — null"
            && let Some(first) = first_status(meta, dir)
        {
            defaults.push((f.name.as_str(), json!(first)));
        }
    }
    // mycompanyId: "By default — identifier of the first available "my" company".
    if let Some(id) = companies
        .into_iter()
        .flat_map(|m| m.values())
        .find(|c| c.fields.get("isMyCompany").and_then(Value::as_str) == Some("Y"))
        .map(|c| c.id)
    {
        defaults.push(("mycompanyId", json!(id)));
    }
    for (k, v) in defaults {
        if has(k) && is_blank(values.get(k)) {
            values.insert(k.into(), v);
        }
    }
    // stageId: "By default — the first available stage relative to the funnel".
    if has("stageId") && is_blank(values.get("stageId")) {
        let category = values.get("categoryId").and_then(as_u64).unwrap_or(cx.default_category);
        if let Some(first) = first_status(meta, &schema::stage_status_type(etid, category)) {
            values.insert("stageId".into(), json!(first));
        }
    }
}
