//! Payloads of product rows (issue 20, `entity = "product_rows"`): one source row becomes one
//! element of `productRows`, and the rows of one parent become one `crm.item.productrow.set`
//! `{ownerType, ownerId, productRows: [...]}` (the `crm-item-productrow-set.md` page: `set`
//! replaces every row of the owner; an empty list clears them).
//!
//! Owns: the owner's short type ([`owner_type`], `api-reference/crm/data-types.md#object_type`),
//! the form of one mapped row before it is grouped (a `set` command whose `fields` is the row,
//! its parent's ID completed into `fields.ownerId` as any pending value), the set of a parent
//! ([`set_of`]), the clearing set undo sends ([`clear_of`]) and the ID a journal keeps for a
//! set (the parent's: a set has none of its own). Must not do I/O, nor group rows (the
//! pipeline's `products`).

use serde_json::{Map, Value, json};

use super::{Command, Method};
use crate::bitrix::json as bjson;
use crate::mapping::Entity;
use crate::mapping::entity::{DEAL, INVOICE, LEAD, QUOTE};

/// The field of a mapped row that carries its parent's ID (completed from the journal).
pub const OWNER_ID: &str = "ownerId";

/// The `ownerType` of a parent of this entity: `D` deal, `L` lead, `Q` quote, `SI` smart
/// invoice, `T` + the smart process's entityTypeId in lower-case hex (156 -> `T9c`); `None` for
/// a kind without product rows (contacts, companies, the attached kinds).
pub fn owner_type(parent: Entity) -> Option<String> {
    match parent {
        Entity::Crm(LEAD) => Some("L".into()),
        Entity::Crm(DEAL) => Some("D".into()),
        Entity::Crm(QUOTE) => Some("Q".into()),
        Entity::Crm(INVOICE) => Some("SI".into()),
        Entity::Crm(id) if !Entity::is_builtin_type_id(id) => Some(format!("T{id:x}")),
        _ => None,
    }
}

/// The command of one mapped product row, before it is grouped with its parent's other rows:
/// `{ownerType, fields: {...the row, ownerId}}` (never sent as such).
pub(super) fn row_of(parent: Option<Entity>, fields: Map<String, Value>) -> Command {
    let owner = parent.and_then(owner_type).unwrap_or_default();
    Command { method: Method::CrmItemProductrowSet, params: json!({"ownerType": owner, "fields": fields}) }
}

/// The parts of one mapped row's command: the owner's type, its ID (`None`: not completed) and
/// the row as it goes into `productRows`.
pub fn parts_of(cmd: &Command) -> (String, Option<u64>, Map<String, Value>) {
    let owner = cmd.params.get("ownerType").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut row = cmd.params.get("fields").and_then(Value::as_object).cloned().unwrap_or_default();
    let id = row.remove(OWNER_ID).as_ref().and_then(bjson::id);
    (owner, id, row)
}

/// The `crm.item.productrow.set` of one parent: its rows, in source order.
pub fn set_of(owner_type: &str, owner_id: u64, rows: Vec<Map<String, Value>>) -> Command {
    let rows: Vec<Value> = rows.into_iter().map(Value::Object).collect();
    Command {
        method: Method::CrmItemProductrowSet,
        params: json!({"ownerType": owner_type, "ownerId": owner_id, "productRows": rows}),
    }
}

/// The set that empties the product rows of the parent `owner_id` (undo).
pub fn clear_of(owner_type: &str, owner_id: u64) -> Command {
    set_of(owner_type, owner_id, Vec::new())
}

/// The ID a set's answer stands for: its owner's (the answer is `{"productRows": [...]}`).
/// `None`: not a set; `Some(None)`: an answer without the rows.
pub fn created_id(cmd: &Command, result: &Value) -> Option<Option<u64>> {
    if cmd.method != Method::CrmItemProductrowSet {
        return None;
    }
    let ok = result.get("productRows").is_some_and(|r| r.is_array() || r.is_object());
    Some(ok.then(|| cmd.params.get("ownerId").and_then(bjson::id)).flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_types_are_the_short_codes_and_a_smart_process_its_hex_id() {
        assert_eq!(owner_type(Entity::Crm(2)).as_deref(), Some("D"));
        assert_eq!(owner_type(Entity::Crm(1)).as_deref(), Some("L"));
        assert_eq!(owner_type(Entity::Crm(7)).as_deref(), Some("Q"));
        assert_eq!(owner_type(Entity::Crm(31)).as_deref(), Some("SI"));
        assert_eq!(owner_type(Entity::Crm(156)).as_deref(), Some("T9c"));
        assert_eq!(owner_type(Entity::Crm(1032)).as_deref(), Some("T408"));
        assert_eq!(owner_type(Entity::Crm(3)), None);
        assert_eq!(owner_type(Entity::Crm(4)), None);
    }

    #[test]
    fn a_row_goes_into_its_parents_set_without_the_owner() {
        let fields: Map<String, Value> =
            serde_json::from_value(json!({"productName": "A", "price": 10.5, "ownerId": 7})).unwrap();
        let cmd = row_of(Some(Entity::Crm(2)), fields);
        let (owner, id, row) = parts_of(&cmd);
        assert_eq!((owner.as_str(), id), ("D", Some(7)));
        let set = set_of(&owner, 7, vec![row]);
        assert_eq!(
            set.params,
            json!({"ownerType": "D", "ownerId": 7, "productRows": [{"productName": "A", "price": 10.5}]})
        );
        assert_eq!(created_id(&set, &json!({"productRows": []})), Some(Some(7)));
        assert_eq!(created_id(&set, &json!(true)), Some(None));
        assert_eq!(clear_of("T9c", 3).params["productRows"], json!([]));
    }
}
