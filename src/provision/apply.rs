//! The writes: each planned [`Action`] as the one request its method's page documents, sent
//! through the transport (limiter, retries of limit refusals; an ambiguous failure is never
//! resent), one at a time and in plan order.
//!
//! Owns: [`request`] (an action -> method and parameters: pure, tested against the pages'
//! shapes) and [`send`] (the request and what came of it). A refusal (rights, plan limits, a
//! value the portal will not take) is an [`Outcome::Refused`] naming the method and the
//! portal's code; only a portal that cannot be used at all stops provision.
//!
//! Shapes, from `../shared/seeds/` and `../shared/bitrix24.md` §6:
//! - `crm.type.update`: `{id, fields: {<flag>: "Y"}}`, only the flags to switch on ("changes
//!   occur only when the modifiable field values are passed").
//! - `crm.automatedsolution.add`: `{fields: {title, typeIds: [...]}}`;
//!   `crm.automatedsolution.update`: `{id, fields: {typeIds}}` with the types it holds kept.
//! - `crm.<entity>.userfield.update`: `{id, fields: {LIST: [{VALUE, XML_ID}]}}`: new entries
//!   only (no `ID`, so nothing existing is changed; never `DEL`).
//! - `userfieldconfig.update` sets the **whole** `enum` list: an item left out is deleted, and
//!   so is an item sent as `{id}` alone (`../shared/bitrix24.md` §6 **[core]**), and
//!   `userfieldconfig.list` returns no `enum`. So [`send`] first reads the field with
//!   `userfieldconfig.get` and resends every item it has with its `id`, `value`, `xmlId`,
//!   `def` and `sort`, then the new ones with `value` and `xmlId`; a refused read sends nothing.
//! - `crm.<entity>.userfield.add` prefixes `UF_CRM_` to `FIELD_NAME`: the name is sent without it.

use serde_json::{Map, Value, json};

use super::plan::{Action, Owner, xml_id};
use crate::bitrix::{Method, json};
use crate::portal::Reads;
use crate::schema::Refusal;
use crate::transport::{CallError, FatalKind, Transport, TransportError};

/// What came of one action.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done; what the portal answered worth showing (a new id).
    Done(Option<String>),
    /// The portal refused it.
    Refused(Refusal),
    /// Refused by an earlier round of this provision: not sent again.
    RefusedBefore(Refusal),
    /// `--dry-run`: not sent.
    Planned,
}

/// The method and parameters of `action`.
pub fn request(action: &Action) -> (Method, Value) {
    let yn = |b: bool| if b { "Y" } else { "N" };
    match action {
        Action::CreateType { title, flags } => {
            let mut fields = Map::new();
            fields.insert("title".into(), json!(title));
            for f in flags {
                fields.insert((*f).to_string(), json!("Y"));
            }
            (Method::CrmTypeAdd, json!({ "fields": fields }))
        }
        Action::SwitchFlags { type_id, flags, .. } => {
            let fields: Map<String, Value> = flags.iter().map(|f| ((*f).to_string(), json!("Y"))).collect();
            (Method::CrmTypeUpdate, json!({ "id": type_id, "fields": fields }))
        }
        Action::CreateWorkspace { title, type_ids } => {
            (Method::CrmAutomatedSolutionAdd, json!({ "fields": { "title": title, "typeIds": type_ids } }))
        }
        Action::AddToWorkspace { workspace_id, keep, add, .. } => {
            let mut ids = keep.clone();
            ids.extend(add.iter().filter(|a| !keep.contains(a)));
            (Method::CrmAutomatedSolutionUpdate, json!({ "id": workspace_id, "fields": { "typeIds": ids } }))
        }
        Action::CreateField { owner: Owner::Crm(entity), field, create, values } => {
            let name = field.strip_prefix("UF_CRM_").unwrap_or(field);
            let mut fields = json!({
                "FIELD_NAME": name,
                "USER_TYPE_ID": create.kind.as_str(),
                "LABEL": create.label,
                "EDIT_FORM_LABEL": create.label,
                "LIST_COLUMN_LABEL": create.label,
                "LIST_FILTER_LABEL": create.label,
                "MULTIPLE": yn(create.multiple),
                "MANDATORY": yn(create.required),
            });
            if !values.is_empty() {
                fields["LIST"] = Value::Array(values.iter().map(|v| list_entry(v)).collect());
            }
            (Method::CrmUserfieldAdd(*entity), json!({ "fields": fields }))
        }
        Action::CreateField { owner: Owner::Config(entity_id), field, create, values } => {
            let mut f = json!({
                "entityId": entity_id,
                "fieldName": field,
                "userTypeId": create.kind.as_str(),
                "multiple": yn(create.multiple),
                "mandatory": yn(create.required),
                "editFormLabel": { "en": create.label, "ru": create.label },
            });
            if !values.is_empty() {
                f["enum"] = Value::Array(values.iter().map(|v| enum_entry(v)).collect());
            }
            (Method::UserfieldconfigAdd, json!({ "moduleId": "crm", "field": f }))
        }
        Action::AddValues { owner: Owner::Crm(entity), field_id, values, .. } => (
            Method::CrmUserfieldUpdate(*entity),
            json!({ "id": field_id, "fields": { "LIST": values.iter().map(|v| list_entry(v)).collect::<Vec<_>>() } }),
        ),
        Action::AddValues { owner: Owner::Config(_), field_id, values, .. } => {
            config_values(*field_id, &[], values)
        }
        Action::AddStatus { entity_id, status_id, name, sort } => {
            let mut fields = json!({ "ENTITY_ID": entity_id, "STATUS_ID": status_id, "NAME": name });
            if let Some(sort) = sort {
                fields["SORT"] = json!(sort);
            }
            (Method::CrmStatusAdd, json!({ "fields": fields }))
        }
        Action::AddCategory { entity_type_id, name } => {
            (Method::CrmCategoryAdd, json!({ "entityTypeId": entity_type_id, "fields": { "name": name } }))
        }
    }
}

/// `userfieldconfig.update` of field `field_id`: every item it has (`existing`, as
/// `userfieldconfig.get` shows them), kept as they are, then `values` as new items.
fn config_values(field_id: u64, existing: &[Value], values: &[String]) -> (Method, Value) {
    let mut items: Vec<Value> = existing
        .iter()
        .filter_map(|e| {
            let id = e.get("id").and_then(json::id)?;
            let mut kept = json!({ "id": id });
            for key in ["value", "xmlId", "def", "sort"] {
                if let Some(v) = e.get(key).filter(|v| !v.is_null()) {
                    kept[key] = v.clone();
                }
            }
            Some(kept)
        })
        .collect();
    items.extend(values.iter().map(|v| enum_entry(v)));
    (
        Method::UserfieldconfigUpdate,
        json!({ "moduleId": "crm", "id": field_id, "field": { "userTypeId": "enumeration", "enum": items } }),
    )
}

fn list_entry(value: &str) -> Value {
    json!({ "VALUE": value, "XML_ID": xml_id(value), "DEF": "N" })
}

fn enum_entry(value: &str) -> Value {
    json!({ "value": value, "xmlId": xml_id(value), "def": "N" })
}

/// Sends `action`. `Err`: the portal cannot be used (unreachable, an answer whose outcome is
/// unknown): provision gives up.
///
/// A refusal of the credentials' rights (`ACCESS_DENIED`, which a set-up method answers to a
/// user without CRM administrator rights) is this method's refusal, not the end: the schema
/// was read with the same credentials just before, so they are valid, and the other writes
/// may still be allowed. Missing rights are then reported per method (exit 1).
pub async fn send(transport: &Transport, action: &Action) -> Result<Outcome, TransportError> {
    let (method, params) = match action {
        Action::AddValues { owner: Owner::Config(_), field_id, values, .. } => {
            let get = json!({ "moduleId": "crm", "id": field_id });
            // A read: under the one read rule (retried for about a minute when its answer is lost).
            let reads = Reads::new(std::sync::Arc::new(transport.clone()));
            let field = match reads.ask(Method::UserfieldconfigGet, &get).await? {
                Ok(result) => result,
                Err(e) => return refused(Method::UserfieldconfigGet, e),
            };
            let existing = field.get("field").and_then(|f| f.get("enum")).and_then(Value::as_array);
            config_values(*field_id, existing.map_or(&[][..], Vec::as_slice), values)
        }
        _ => request(action),
    };
    tracing::info!(method = method.as_str(), action = %action.describe(), "provision writes");
    match transport.call(method.as_str(), &params).await {
        Ok(result) => Ok(Outcome::Done(detail(action, &result))),
        Err(e) => refused(method, e),
    }
}

/// A refusal as this action's outcome; a portal that cannot be used is the error.
fn refused(method: Method, e: CallError) -> Result<Outcome, TransportError> {
    let (method, code, description) = match e {
        CallError::Rejected { method, code, description, .. } => (method, code, description),
        CallError::Transport(TransportError::Fatal { kind: FatalKind::Auth, code, message, .. }) => {
            (method.to_string(), code, message)
        }
        CallError::Transport(e) => return Err(e),
    };
    tracing::warn!(method, code, description, "provision write refused");
    Ok(Outcome::Refused(Refusal { method, code, description }))
}

/// The new object's id, from the answer.
fn detail(action: &Action, result: &Value) -> Option<String> {
    let num = |v: Option<&Value>| v.and_then(json::id);
    match action {
        Action::CreateType { .. } => {
            let t = result.get("type")?;
            Some(format!("entityTypeId {}, id {}", num(t.get("entityTypeId"))?, num(t.get("id"))?))
        }
        Action::CreateWorkspace { .. } => {
            Some(format!("id {}", num(result.get("automatedSolution").and_then(|s| s.get("id")))?))
        }
        Action::CreateField { .. } => num(Some(result))
            .or_else(|| num(result.get("field").and_then(|f| f.get("id"))))
            .map(|id| format!("id {id}")),
        Action::AddStatus { .. } => num(Some(result)).map(|id| format!("id {id}")),
        Action::AddCategory { .. } => {
            num(result.get("category").and_then(|c| c.get("id"))).map(|id| format!("id {id}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitrix::entity::UfEntity;
    use crate::mapping::CreatePlan;
    use crate::mapping::spec::UfType;

    /// The request as sent: the method's REST name and the parameters.
    fn wire(action: &Action) -> (String, Value) {
        let (method, params) = request(action);
        (method.to_string(), params)
    }

    #[test]
    fn crm_type_update_sends_only_the_flags_to_switch_on() {
        let a = Action::SwitchFlags {
            type_id: 20,
            title: "P".into(),
            flags: vec!["isClientEnabled", "isSourceEnabled"],
        };
        assert_eq!(
            wire(&a),
            (
                "crm.type.update".to_string(),
                json!({"id": 20, "fields": {"isClientEnabled": "Y", "isSourceEnabled": "Y"}})
            )
        );
    }

    #[test]
    fn a_workspace_is_created_with_the_type_or_updated_keeping_the_types_it_holds() {
        let add = Action::CreateWorkspace { title: "HR".into(), type_ids: vec![7] };
        assert_eq!(
            wire(&add),
            ("crm.automatedsolution.add".to_string(), json!({"fields": {"title": "HR", "typeIds": [7]}}))
        );
        let update =
            Action::AddToWorkspace { workspace_id: 2, title: "HR".into(), keep: vec![1, 3], add: vec![7] };
        assert_eq!(
            wire(&update),
            ("crm.automatedsolution.update".to_string(), json!({"id": 2, "fields": {"typeIds": [1, 3, 7]}}))
        );
    }

    #[test]
    fn list_values_are_added_as_new_entries_only_with_stable_xml_ids() {
        let crm = Action::AddValues {
            owner: Owner::Crm(UfEntity::Contact),
            field_id: 536,
            field: "UF_CRM_TIER".into(),
            values: vec!["Silver".into()],
        };
        let (method, params) = request(&crm);
        assert_eq!(method, "crm.contact.userfield.update");
        assert_eq!(
            params,
            json!({"id": 536, "fields": {"LIST": [{"VALUE": "Silver", "XML_ID": xml_id("Silver"), "DEF": "N"}]}})
        );
        assert!(!params.to_string().contains("DEL") && !params.to_string().contains("\"ID\""));
        let Action::AddValues { field_id, values, .. } = crm else { unreachable!() };
        // Bug: existing items were sent as `{id}` alone, which userfieldconfig.update deletes.
        let existing = [
            json!({"id": "41", "userFieldId": "536", "value": "Gold", "def": "N", "sort": "100", "xmlId": "GOLD"}),
        ];
        assert_eq!(
            config_values(field_id, &existing, &values).1,
            json!({"moduleId": "crm", "id": 536, "field": {"userTypeId": "enumeration", "enum": [
                {"id": 41, "value": "Gold", "xmlId": "GOLD", "def": "N", "sort": "100"},
                {"value": "Silver", "xmlId": xml_id("Silver"), "def": "N"}
            ]}})
        );
    }

    #[test]
    fn fields_are_created_by_the_entitys_method_or_userfieldconfig_for_smart_processes() {
        let create = CreatePlan {
            kind: UfType::Enumeration,
            label: "Segment".into(),
            multiple: false,
            required: false,
        };
        let crm = Action::CreateField {
            owner: Owner::Crm(UfEntity::Deal),
            field: "UF_CRM_SEGMENT".into(),
            create: create.clone(),
            values: vec!["Gold".into()],
        };
        let (method, params) = request(&crm);
        assert_eq!(method, "crm.deal.userfield.add");
        assert_eq!(params["fields"]["FIELD_NAME"], json!("SEGMENT"));
        assert_eq!(params["fields"]["USER_TYPE_ID"], json!("enumeration"));
        assert_eq!(params["fields"]["LIST"][0]["XML_ID"], json!(xml_id("Gold")));
        let spa = Action::CreateField {
            owner: Owner::Config("CRM_7".into()),
            field: "UF_CRM_7_SEGMENT".into(),
            create,
            values: vec![],
        };
        let (method, params) = request(&spa);
        assert_eq!(method, "userfieldconfig.add");
        assert_eq!(params["moduleId"], json!("crm"));
        assert_eq!(params["field"]["entityId"], json!("CRM_7"));
        assert_eq!(params["field"]["fieldName"], json!("UF_CRM_7_SEGMENT"));
    }

    #[test]
    fn stages_and_pipelines_use_the_status_and_category_methods() {
        let s = Action::AddStatus {
            entity_id: "DEAL_STAGE_3".into(),
            status_id: "C3:REVIEW".into(),
            name: "Review".into(),
            sort: Some(51),
        };
        assert_eq!(
            wire(&s),
            (
                "crm.status.add".to_string(),
                json!({"fields": {"ENTITY_ID": "DEAL_STAGE_3", "STATUS_ID": "C3:REVIEW", "NAME": "Review", "SORT": 51}})
            )
        );
        let c = Action::AddCategory { entity_type_id: 1032, name: "Wholesale".into() };
        assert_eq!(
            wire(&c),
            ("crm.category.add".to_string(), json!({"entityTypeId": 1032, "fields": {"name": "Wholesale"}}))
        );
    }
}
