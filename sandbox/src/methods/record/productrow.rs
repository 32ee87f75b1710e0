//! `crm.item.productrow.{set,add,update,get,list,delete,fields}`, as the pages under
//! `api-reference/crm/universal/product-rows/` document them: the owner is `ownerType` (the
//! short code of `api-reference/crm/data-types.md#object_type`: `L`, `D`, `Q`, `SI`, `T` + the
//! smart process's entityTypeId in lower-case hex) + `ownerId`, and must exist; `set` replaces
//! every row of the owner (an empty list clears them); the derived prices are computed as the
//! pages' answers show.
//!
//! Owns those methods' checks and answers; the rows live in `crate::record::Records`. It must
//! not touch the owner item.

use serde_json::{Map, Value, json};

use super::super::filter::Kind;
use super::super::{Call, MethodError, MethodResult, Output, as_text, as_u64, param, php_array};
use super::{described, item_exists, list_of, purge};
use crate::record::measure_name;
use crate::state::State;

const FIELDS: &str = include_str!("productrow.fields.json");

/// The fields `update` may change (`crm-item-productrow-update.md`'s "Parameter fields").
const UPDATABLE: [&str; 11] = [
    "productId",
    "productName",
    "price",
    "quantity",
    "discountTypeId",
    "discountRate",
    "discountSum",
    "taxRate",
    "taxIncluded",
    "measureCode",
    "sort",
];

fn required(name: &str) -> MethodError {
    MethodError::bad("100", format!("Could not find value for parameter {{{name}}}"))
}

fn not_found() -> MethodError {
    MethodError::bad("NOT_FOUND", "Item not found")
}

fn owner_not_found() -> MethodError {
    MethodError::bad("OWNER_NOT_FOUND", "Owner was not found")
}

/// The pages' table text for a type without product rows (contacts, companies, a smart
/// process with `isLinkWithProductsEnabled` off, an unknown code).
fn not_supported() -> MethodError {
    MethodError::bad("ENTITY_TYPE_NOT_SUPPORTED", "Working with this type of objects is not supported")
}

/// The entityTypeId of an `ownerType` short code whose items have product rows: leads, deals,
/// quotes, smart invoices, and smart processes with products switched on.
pub(crate) fn owner_type(state: &State, code: &str) -> Result<u64, MethodError> {
    let etid = match code {
        "L" => 1,
        "D" => 2,
        "Q" => 7,
        "SI" => 31,
        _ => {
            let hex = code.strip_prefix('T').ok_or_else(not_supported)?;
            let etid = u64::from_str_radix(hex, 16).map_err(|_| not_supported())?;
            if state.spa_type(etid).is_none() || !state.flag(etid, "isLinkWithProductsEnabled") {
                return Err(not_supported());
            }
            etid
        }
    };
    Ok(etid)
}

fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A number as the pages show it: integral values without a fraction.
fn shown(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 { json!(x as i64) } else { json!(x) }
}

/// Fills the derived prices from `price` (the final unit price, after discount and tax, as
/// the pages define it), the tax rate and the discount, rounding each step to 2 places as the
/// answers show (`crm-item-productrow-add.md`: price 80000, tax 20 %, discount 20 % ->
/// priceExclusive 66666.67, priceNetto 83333.34, priceBrutto 100000.01, discountSum
/// 16666.67). `price` includes the tax whatever `taxIncluded` says (the pages' definition of
/// `price`; `taxIncluded` only records how the price was entered). A percentage discount
/// (`discountTypeId` 2) derives `discountSum`; an absolute one (1) derives `discountRate`.
fn derive(row: &mut Map<String, Value>) {
    let price = num(row.get("price")).unwrap_or(0.0);
    let tax = num(row.get("taxRate")).unwrap_or(0.0);
    let exclusive = round2(price / (1.0 + tax / 100.0));
    let (netto, rate, sum) = if as_u64(row.get("discountTypeId").unwrap_or(&Value::Null)) == Some(1) {
        let sum = num(row.get("discountSum")).unwrap_or(0.0);
        let netto = round2(exclusive + sum);
        let rate = if netto == 0.0 { 0.0 } else { round2(sum / netto * 100.0) };
        (netto, rate, sum)
    } else {
        let rate = num(row.get("discountRate")).unwrap_or(0.0);
        let netto = if rate >= 100.0 { exclusive } else { round2(exclusive / (1.0 - rate / 100.0)) };
        (netto, rate, round2(netto - exclusive))
    };
    let brutto = round2(netto * (1.0 + tax / 100.0));
    for (k, v) in [
        ("price", price),
        ("priceAccount", price),
        ("priceExclusive", exclusive),
        ("priceNetto", netto),
        ("priceBrutto", brutto),
        ("discountRate", rate),
        ("discountSum", sum),
    ] {
        row.insert(k.into(), shown(v));
    }
    if let Some(q) = num(row.get("quantity")) {
        row.insert("quantity".into(), shown(q));
    }
    if let Some(t) = num(row.get("taxRate")) {
        row.insert("taxRate".into(), shown(t));
    }
}

/// Applies sent values to a row: the catalogue's name and unit when a known `productId` comes
/// without them (the pages: "If not provided and a productId is provided, the product name
/// from the product catalog is used"), the unit's name from its code. A `productId` the
/// catalogue has not is stored as sent (a free row keeps `productId` 0): the pages give no
/// error for it.
fn apply(c: &Call, row: &mut Map<String, Value>, fields: &Map<String, Value>) {
    for name in UPDATABLE {
        if let Some((_, v)) = fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            row.insert(name.into(), v.clone());
        }
    }
    for int in ["productId", "discountTypeId", "measureCode", "sort"] {
        if let Some(n) = row.get(int).and_then(as_u64) {
            row.insert(int.into(), json!(n));
        }
    }
    if let Some(t) = row.get("taxIncluded").and_then(as_text) {
        row.insert("taxIncluded".into(), json!(if t.eq_ignore_ascii_case("Y") { "Y" } else { "N" }));
    }
    let product = row.get("productId").and_then(as_u64).and_then(|id| c.state.records.products.get(&id));
    if let Some(p) = product {
        if !fields.keys().any(|k| k.eq_ignore_ascii_case("productName")) {
            row.insert("productName".into(), p.get("NAME").cloned().unwrap_or(Value::Null));
        }
        if !fields.keys().any(|k| k.eq_ignore_ascii_case("measureCode")) {
            row.insert("measureCode".into(), p.get("MEASURE").cloned().unwrap_or(json!(796)));
        }
    }
    let code = row.get("measureCode").and_then(as_u64);
    row.insert("measureName".into(), json!(code.and_then(measure_name)));
    derive(row);
}

/// A new row of `owner` with the pages' defaults (quantity 1, discount type 2 percentage,
/// taxIncluded N, unit 796 pieces) and `fields` applied.
fn new_row(c: &Call, etid: u64, code: &str, owner: u64, fields: &Map<String, Value>) -> Map<String, Value> {
    let mut row = json!({
        "ownerId": owner, "ownerType": code, "productId": 0, "productName": "", "price": 0,
        "quantity": 1, "discountTypeId": 2, "discountRate": 0, "discountSum": 0, "taxRate": null,
        "taxIncluded": "N", "customized": "Y", "measureCode": 796, "sort": 0, "xmlId": "", "type": 1,
        "storeId": null, "_entityTypeId": etid,
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    apply(c, &mut row, fields);
    row
}

/// A row as the API shows it (the `_` keys are the sandbox's own).
fn render(id: u64, row: &Map<String, Value>) -> Value {
    let mut out: Map<String, Value> =
        row.iter().filter(|(k, _)| !k.starts_with('_')).map(|(k, v)| (k.clone(), v.clone())).collect();
    out.insert("id".into(), json!(id));
    Value::Object(out)
}

/// The owner of a request: `ownerType` + `ownerId` (in `params` itself or in `fields`),
/// both required (`100`), the type one with product rows, the item existing.
fn owner(c: &Call, from: &Value) -> Result<(u64, String, u64), MethodError> {
    let code = param(from, "ownerType").and_then(as_text).ok_or_else(|| required("ownerType"))?;
    let id = param(from, "ownerId").and_then(as_u64).ok_or_else(|| required("ownerId"))?;
    let etid = owner_type(c.state, &code)?;
    if !item_exists(c.state, etid, id) {
        return Err(owner_not_found());
    }
    Ok((etid, code, id))
}

fn rows_of(c: &Call, etid: u64, owner: u64) -> Vec<Value> {
    let mut rows: Vec<(&u64, &Map<String, Value>)> = c
        .state
        .records
        .product_rows
        .iter()
        .filter(|(_, r)| {
            r.get("_entityTypeId").and_then(Value::as_u64) == Some(etid)
                && r.get("ownerId").and_then(Value::as_u64) == Some(owner)
        })
        .collect();
    rows.sort_by_key(|(id, r)| (r.get("sort").and_then(Value::as_i64).unwrap_or(0), **id));
    rows.into_iter().map(|(id, r)| render(*id, r)).collect()
}

/// `crm.item.productrow.set`: replaces all the owner's rows with `productRows` (a row carrying
/// the `id` of one of the owner's rows keeps it; the others get new ids); answers every row.
pub(crate) fn set(c: &mut Call) -> MethodResult {
    purge(c);
    let (etid, code, owner) = owner(c, c.params)?;
    let sent = param(c.params, "productRows").ok_or_else(|| required("productRows"))?;
    let sent: Vec<Map<String, Value>> = match sent {
        // An empty list clears the rows; a query string sends it as "" (PHP drops empty arrays).
        Value::String(s) if s.is_empty() => Vec::new(),
        other => php_array(other)
            .ok_or_else(|| required("productRows"))?
            .into_iter()
            .map(|v| super::super::object(Some(v)))
            .collect(),
    };
    let mine = |r: &Map<String, Value>| {
        r.get("_entityTypeId").and_then(Value::as_u64) == Some(etid)
            && r.get("ownerId").and_then(Value::as_u64) == Some(owner)
    };
    let mut rows = Vec::new();
    for fields in &sent {
        let keep = param(&Value::Object(fields.clone()), "id")
            .and_then(as_u64)
            .filter(|id| c.state.records.product_rows.get(id).is_some_and(mine));
        rows.push((keep, new_row(c, etid, &code, owner, fields)));
    }
    let records = &mut c.state.records;
    records.product_rows.retain(|_, r| !mine(r));
    for (keep, row) in rows {
        let id = keep.unwrap_or_else(|| {
            records.counters.product_row += 1;
            records.counters.product_row
        });
        records.product_rows.insert(id, row);
    }
    Ok(Output::new(json!({ "productRows": rows_of(c, etid, owner) })))
}

/// `crm.item.productrow.add`: one row (`fields`, with `ownerType`/`ownerId`).
pub(crate) fn add(c: &mut Call) -> MethodResult {
    purge(c);
    let fields =
        param(c.params, "fields").filter(|f| f.is_object()).ok_or_else(|| required("fields"))?.clone();
    let (etid, code, owner) = owner(c, &fields)?;
    let row = new_row(c, etid, &code, owner, &super::super::object(Some(&fields)));
    c.state.records.counters.product_row += 1;
    let id = c.state.records.counters.product_row;
    let shown = render(id, &row);
    c.state.records.product_rows.insert(id, row);
    Ok(Output::new(json!({ "productRow": shown })))
}

fn id_param(c: &Call) -> Result<u64, MethodError> {
    param(c.params, "id").and_then(as_u64).ok_or_else(|| required("id"))
}

/// `crm.item.productrow.update`: only the page's fields may be sent; any other
/// (`ownerId`/`ownerType` included: a row cannot move) is `INVALID_ARG_VALUE`.
pub(crate) fn update(c: &mut Call) -> MethodResult {
    purge(c);
    let id = id_param(c)?;
    let fields = param(c.params, "fields").filter(|f| f.is_object()).ok_or_else(|| required("fields"))?;
    let fields = super::super::object(Some(fields));
    if let Some(bad) = fields.keys().find(|k| !UPDATABLE.iter().any(|u| u.eq_ignore_ascii_case(k))) {
        return Err(MethodError::bad(
            "INVALID_ARG_VALUE",
            format!("Unknown field or the provided field is not available for update: {bad}"),
        ));
    }
    let mut row = c.state.records.product_rows.get(&id).cloned().ok_or_else(not_found)?;
    apply(c, &mut row, &fields);
    let shown = render(id, &row);
    c.state.records.product_rows.insert(id, row);
    Ok(Output::new(json!({ "productRow": shown })))
}

/// `crm.item.productrow.get`.
pub(crate) fn get(c: &mut Call) -> MethodResult {
    purge(c);
    let id = id_param(c)?;
    let row = c.state.records.product_rows.get(&id).ok_or_else(not_found)?;
    Ok(Output::new(json!({ "productRow": render(id, row) })))
}

/// `crm.item.productrow.delete`: `result` null.
pub(crate) fn delete(c: &mut Call) -> MethodResult {
    purge(c);
    let id = id_param(c)?;
    c.state.records.product_rows.remove(&id).ok_or_else(not_found)?;
    Ok(Output::new(Value::Null))
}

/// `crm.item.productrow.fields`.
pub(crate) fn fields(_: &mut Call) -> MethodResult {
    Ok(Output::new(json!({ "fields": described(FIELDS) })))
}

fn kind(name: &str) -> Kind {
    match name {
        "ownerType" | "productName" | "taxIncluded" | "customized" | "measureName" | "xmlId" => Kind::Text,
        _ => Kind::Number,
    }
}

/// `crm.item.productrow.list`: the filter must hold `=ownerType` and `=ownerId` (the page:
/// "The following keys must be present"), else `INVALID_ARG_VALUE`; an unknown type code is
/// `INVALID_ARG_VALUE` too (the page's table has no other code for it). Answers
/// `{"productRows": [...]}` with `total`.
pub(crate) fn list(c: &mut Call) -> MethodResult {
    purge(c);
    let filter = param(c.params, "filter").filter(|f| f.is_object()).ok_or_else(|| required("filter"))?;
    let invalid = || MethodError::bad("INVALID_ARG_VALUE", "The filter must contain =ownerType and =ownerId");
    let code = filter.get("=ownerType").and_then(as_text).ok_or_else(invalid)?;
    filter.get("=ownerId").and_then(as_u64).ok_or_else(invalid)?;
    let etid = owner_type(c.state, &code).map_err(|_| invalid())?;
    let rows: Vec<Map<String, Value>> = c
        .state
        .records
        .product_rows
        .iter()
        .filter(|(_, r)| r.get("_entityTypeId").and_then(Value::as_u64) == Some(etid))
        .map(|(id, r)| render(*id, r).as_object().cloned().unwrap_or_default())
        .collect();
    let refs: Vec<&Map<String, Value>> = rows.iter().collect();
    let out = list_of(c, refs, "id", &kind, &|r, _| Value::Object(r.clone()))?;
    Ok(Output { result: json!({ "productRows": out.result }), ..out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_prices_are_those_of_the_pages_answers() {
        let mut row =
            json!({"price": 80000, "quantity": 2, "discountTypeId": 2, "discountRate": 20, "taxRate": 20})
                .as_object()
                .cloned()
                .unwrap();
        derive(&mut row);
        assert_eq!(row["priceExclusive"], json!(66666.67));
        assert_eq!(row["priceNetto"], json!(83333.34));
        assert_eq!(row["priceBrutto"], json!(100000.01));
        assert_eq!(row["discountSum"], json!(16666.67));
        let mut row =
            json!({"price": 90000, "discountRate": 10, "taxRate": 10}).as_object().cloned().unwrap();
        derive(&mut row);
        assert_eq!(
            (row["priceExclusive"].clone(), row["priceNetto"].clone()),
            (json!(81818.18), json!(90909.09))
        );
        assert_eq!((row["priceBrutto"].clone(), row["discountSum"].clone()), (json!(100000), json!(9090.91)));
    }
}
