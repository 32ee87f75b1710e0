//! `crm.item.list`'s checks of `filter` and `order`, before the list itself (`item::list`)
//! runs: its page (`api-reference/crm/universal/crm-item-list.md`, "Possible Error Codes")
//! documents four refusals, each HTTP 400 `INVALID_ARG_VALUE`:
//! - "Invalid filter: field 'FIELD' is not allowed in filter": a key no field resolves;
//! - "Invalid filter: field 'FIELD' has invalid value": a value the field's type cannot hold
//!   (what that means per type is [`filter::check`]'s; the page gives no list, so the sandbox
//!   refuses what the portal cannot convert: a word for a number or an ID, a date that is no
//!   date, a flag other than Y/N, an object or a nested list where a value belongs);
//! - "Invalid order: field 'FIELD' is not allowed in order": a key no field resolves;
//! - "Invalid order: allowed sort directions are ASC, DESC. But got 'VALUE' for field 'FIELD'".
//!
//! Owns these checks only; it must not answer the list (that is `item::list`, which it calls),
//! and it resolves field names exactly as `item::list` does: `id`, then the entity's fields by
//! the name `useOriginalUfNames` asks for, neither multifields nor files.

use super::filter::{self, Kind, ListError};
use super::item::kind_of;
use super::{Call, MethodError, MethodResult, as_u64, is_yes, param};

/// `crm.item.list`: the page's checks of `filter` and `order`, then the list.
pub(crate) fn item_list(c: &mut Call) -> MethodResult {
    let etid = param(c.params, "entityTypeId").and_then(as_u64);
    // An unknown entity type is the list's own refusal (NOT_FOUND), answered by `item::list`.
    if let Some(schema) = etid.and_then(|etid| c.state.meta.schemas.get(&etid)) {
        let original = is_yes(param(c.params, "useOriginalUfNames"));
        let resolve = |name: &str| -> Option<(String, Kind)> {
            if name == "id" || name == "ID" {
                return Some(("id".into(), Kind::Number));
            }
            schema
                .find(name, original)
                .filter(|f| f.field_type != "crm_multifield" && f.field_type != "file")
                .map(|f| (f.name.clone(), kind_of(&f.field_type)))
        };
        if let Some(f) = param(c.params, "filter") {
            filter::check(f, &resolve).map_err(refusal)?;
        }
        filter::check_order(param(c.params, "order"), &resolve).map_err(refusal)?;
    }
    super::item::list(c)
}

/// The page's words for each refusal.
fn refusal(e: ListError) -> MethodError {
    let text = match e {
        ListError::FilterField(f) => format!("Invalid filter: field '{f}' is not allowed in filter"),
        ListError::FilterValue(f) => format!("Invalid filter: field '{f}' has invalid value"),
        ListError::OrderField(f) => format!("Invalid order: field '{f}' is not allowed in order"),
        ListError::OrderDirection(f, d) => {
            format!("Invalid order: allowed sort directions are ASC, DESC. But got '{d}' for field '{f}'")
        }
    };
    MethodError::bad("INVALID_ARG_VALUE", text)
}
