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
//! `crm.type.list` (`crm-type-list.md`) documents the same four refusals with the same words,
//! over the fields of a type; `crm.automatedsolution.list` (`crm-automated-solution-list.md`)
//! refuses a filter or order on a field it does not have with `INVALID_ARG_VALUE` (its page
//! gives no text; the sandbox says which field, in the same words).
//!
//! Owns these checks only; it must not answer the list (that is `item::list`, which it calls),
//! and it resolves field names exactly as `item::list` does: `id`, then the entity's fields by
//! the name `useOriginalUfNames` asks for, neither multifields nor files.

use super::filter::{self, Kind, ListError};
use super::{Call, MethodError, MethodResult, as_u64, is_yes, param};

/// `crm.item.list`: the page's checks of `filter` and `order`, then the list.
pub(crate) fn item_list(c: &mut Call) -> MethodResult {
    let etid = param(c.params, "entityTypeId").and_then(as_u64);
    // An unknown entity type is the list's own refusal (NOT_FOUND), answered by `item::list`.
    if let Some(schema) = etid.and_then(|etid| c.state.meta.schemas.get(&etid)) {
        let original = is_yes(param(c.params, "useOriginalUfNames"));
        let resolve = super::item::resolver(schema, original);
        if let Some(f) = param(c.params, "filter") {
            filter::check(f, &resolve).map_err(refusal)?;
        }
        filter::check_order(param(c.params, "order"), &resolve).map_err(refusal)?;
    }
    super::item::list(c)
}

/// The fields of a smart-process type (`crm-type-fields.md`) besides its feature flags
/// ([`super::types::FLAGS`], Y/N), as `crm.type.list` filters and orders them.
const TYPE_FIELDS: &[(&str, Kind)] = &[
    ("id", Kind::Number),
    ("title", Kind::Text),
    ("code", Kind::Text),
    ("createdBy", Kind::Number),
    ("updatedBy", Kind::Number),
    ("entityTypeId", Kind::Number),
    ("customSectionId", Kind::Number),
    ("createdTime", Kind::Date),
    ("updatedTime", Kind::Date),
];

/// The fields of a digital workspace (`crm-automated-solution-list.md`).
const SOLUTION_FIELDS: &[(&str, Kind)] = &[("id", Kind::Number), ("title", Kind::Text)];

/// `filter` and `order` of a list over `fields`, by the words of [`refusal`].
fn check_over(c: &Call, fields: &[(&str, Kind)]) -> Result<(), MethodError> {
    let resolve = |name: &str| -> Option<(String, Kind)> {
        // Names as the page spells them (camelCase): a portal refuses `ID` here (fast_bitrix24 #196).
        fields.iter().find(|(f, _)| *f == name).map(|(f, k)| (f.to_string(), *k))
    };
    if let Some(f) = param(c.params, "filter") {
        filter::check(f, &resolve).map_err(refusal)?;
    }
    filter::check_order(param(c.params, "order"), &resolve).map_err(refusal)
}

/// `crm.type.list`: the page's checks of `filter` and `order`, then the list.
pub(crate) fn type_list(c: &mut Call) -> MethodResult {
    let mut fields = TYPE_FIELDS.to_vec();
    fields.extend(super::types::FLAGS.iter().map(|f| (*f, Kind::Bool)));
    check_over(c, &fields)?;
    super::types::type_list(c)
}

/// `crm.automatedsolution.list`: the page's checks of `filter` and `order`, then the list.
pub(crate) fn solution_list(c: &mut Call) -> MethodResult {
    check_over(c, SOLUTION_FIELDS)?;
    super::types::solution_list(c)
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
