//! The pre-flight of import steps (`method = "import"`): what the portal would refuse for the
//! whole step, found before anything is written.
//!
//! Owns three checks, each taken from the import pages (`api-reference/crm/universal/import/`):
//! - **the "import" permission** (`crm-item-batch-import.md`'s table: `ACCESS_DENIED`): asked
//!   with `crm.item.batchImport` and an empty `data` — the portal checks the permission before
//!   it looks at any item, and an empty list creates nothing;
//! - **an administrator** for the dates and authors (the overview: `createdTime`, `createdBy`
//!   ... "only for administrators", else `CRM_FIELD_ERROR_VALUE_NOT_VALID` on every item):
//!   `profile`'s `ADMIN`, asked only when the step maps one of those fields;
//! - **the order** (the overview: "you cannot import an item with a creation date earlier
//!   than already created items"): the portal's newest item of the type (`crm.item.list`
//!   ordered by `createdTime` descending) against the oldest row the step will send (its source
//!   read once more; rows the journal holds as done are left out). A newer item this job
//!   created is no obstacle — found by its ID in the journal, or, for a row an earlier run left
//!   `sent`/`unknown` (a crash), by its key: the reconciliation the step then does finds the
//!   same item by the same key, so deciding by the key is deciding after reconciling.
//!
//! A read that fails is a note ("could not check"), never a refusal: the rows' own answers
//! then say what the portal thinks. Must not write anything.
//!
//! Also the other side ([`automation_notes`]): a step that creates CRM items with `crm.item.add`
//! on a portal that starts business processes on every new item of the type
//! (`bizproc.workflow.template.list`, `AUTO_EXECUTE` 1 or 3: "execute on creation") is told once
//! that every item runs them, and that `method = "import"` does not. The list is for
//! administrators with the `bizproc` scope: without them, nothing is said (nothing is known).
//! The portal's automation rules (robots) have no REST list; the note names them with the
//! workflows it found.

use serde_json::{Value, json};

use super::job::{RunError, journal_key};
use super::order::parse_instant;
use super::prepare::{Prepared, Step};
use crate::bitrix::{Method, json as bjson};
use crate::journal::{Journal, RowState};
use crate::mapping::{CreateMethod, Entity, KeyField};
use crate::payload::{self, HISTORY_FIELDS};
use crate::portal::Reads;
use crate::transport::{CallError, TransportError};

/// Checks every import step; `Ok(notes)` as (step, note), `Err` when the portal would refuse
/// a step whole (exit 2, nothing written).
pub async fn check_imports(
    steps: &[Step],
    journal: Option<&Journal>,
    reads: &Reads,
    dry_run: bool,
) -> Result<Vec<(String, String)>, RunError> {
    let imports: Vec<&Step> = steps.iter().filter(|s| s.plan.target.method == CreateMethod::Import).collect();
    if imports.is_empty() {
        return Ok(Vec::new());
    }
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    let mut admin: Option<Result<bool, String>> = None;
    for step in imports {
        let name = step.plan.name.clone();
        let Entity::Crm(entity_type_id) = step.plan.target.entity else { continue };
        // The permission (not in a dry run: it calls a writing method, if with nothing to write).
        let probe = json!({"entityTypeId": entity_type_id, "data": []});
        let asked =
            if dry_run { Ok(Ok(Value::Null)) } else { reads.ask(Method::CrmItemBatchImport, &probe).await };
        let denied = match &asked {
            Ok(Err(CallError::Rejected { code, description, .. })) => {
                Some((code.clone(), description.clone()))
            }
            // A direct call's ACCESS_DENIED is the transport's credentials refusal.
            Err(TransportError::Fatal { code, message, .. }) => Some((code.clone(), message.clone())),
            _ => None,
        }
        .filter(|(code, _)| code.eq_ignore_ascii_case("ACCESS_DENIED"));
        if let Some((code, description)) = denied {
            problems.push(format!(
                "step `{name}`: the portal refuses crm.item.batchImport ({code}: {description}): the \
                 webhook's user needs the \"import\" permission for {} (CRM settings -> access \
                 permissions) and the webhook the crm scope, or use method = \"add\"",
                step.plan.target.entity.name()
            ));
            continue;
        }
        if let Err(e) = asked {
            return Err(RunError::NotImportable(format!("step `{name}`: {e}")));
        }
        // The administrator, for the dates and authors.
        let history: Vec<&str> =
            step.plan.fields.iter().map(|f| f.name.as_str()).filter(|n| HISTORY_FIELDS.contains(n)).collect();
        if !history.is_empty() {
            if admin.is_none() {
                admin = Some(is_admin(reads).await.map_err(|e| RunError::NotImportable(e.to_string()))?);
            }
            match admin.as_ref() {
                Some(Ok(false)) => problems.push(format!(
                    "step `{name}`: {} may only be imported by an administrator, and the webhook's user \
                     is not one (profile: ADMIN = false): make the webhook with an administrator, or leave \
                     these fields out",
                    history.join(", ")
                )),
                Some(Err(e)) => notes.push((
                    name.clone(),
                    format!("could not check that the webhook's user is an administrator ({e})"),
                )),
                _ => {}
            }
        }
        // The order.
        match check_order(step, entity_type_id, journal, reads).await? {
            Ok(None) => {}
            Ok(Some(problem)) => problems.push(format!("step `{name}`: {problem}")),
            Err(e) => notes.push((name.clone(), format!("could not check the portal's newest item ({e})"))),
        }
    }
    if problems.is_empty() {
        return Ok(notes);
    }
    Err(RunError::NotImportable(format!(
        "the portal would refuse these imports; nothing was written:\n  {}",
        problems.join("\n  ")
    )))
}

/// `profile`'s `ADMIN` for the webhook's user.
async fn is_admin(reads: &Reads) -> Result<Result<bool, String>, crate::transport::TransportError> {
    Ok(match reads.call(Method::Profile, &json!({})).await? {
        Ok(v) => match v.get("ADMIN") {
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Ok(matches!(other.as_str(), Some("Y" | "1" | "true"))),
            None => Err("profile did not say".to_string()),
        },
        Err(e) => Err(e),
    })
}

/// The step's oldest row to send, as (Unix seconds, where it is in the source, its key).
fn oldest_row(step: &Step, journal: Option<&Journal>) -> Result<Option<(i64, String, String)>, RunError> {
    let plan = &step.plan;
    let step_id = match journal {
        Some(j) => j.steps()?.into_iter().find(|s| s.name == plan.name).map(|s| s.id),
        None => None,
    };
    let mut oldest: Option<(i64, String, String)> = None;
    for record in crate::source::open(&plan.source, crate::source::BytesRead::default())? {
        let record = record?;
        let Ok(row) = plan.apply(&record) else { continue };
        let key = row.key.clone();
        let draft = payload::add_command(&plan.target, row);
        let Some(at) = draft.field("createdTime").and_then(parse_instant) else { continue };
        if oldest.as_ref().is_some_and(|(o, _, _)| *o <= at) {
            continue;
        }
        let row_ref = record.row.to_string();
        let prepared = Prepared { record, key: key.clone(), outcome: Ok(draft) };
        if let (Some(j), Some(id)) = (journal, step_id)
            && j.row_state(id, &journal_key(&prepared))?.is_some_and(|s| s.state == RowState::Done)
        {
            continue;
        }
        oldest = Some((at, row_ref, key));
    }
    Ok(oldest)
}

/// `Ok(Some(problem))` when the portal holds an item newer than the step's oldest row that this
/// job did not create; `Err(why)` when the portal could not be read.
async fn check_order(
    step: &Step,
    entity_type_id: u32,
    journal: Option<&Journal>,
    reads: &Reads,
) -> Result<Result<Option<String>, String>, RunError> {
    let Some((oldest, row_ref, key)) = oldest_row(step, journal)? else { return Ok(Ok(None)) };
    let target = &step.plan.target;
    let key_field = if target.entity.key_field() == KeyField::Origin { "originId" } else { "xmlId" };
    let params = json!({
        "entityTypeId": entity_type_id,
        "order": {"createdTime": "DESC", "id": "DESC"},
        "select": ["id", "createdTime", "originatorId", key_field],
        "start": -1,
    });
    let answer = match reads
        .call(Method::CrmItemList, &params)
        .await
        .map_err(|e| RunError::NotImportable(e.to_string()))?
    {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let Some(newest) = answer.get("items").and_then(Value::as_array).and_then(|a| a.first()) else {
        return Ok(Ok(None));
    };
    let (Some(id), Some(at)) =
        (newest.get("id").and_then(bjson::id), newest.get("createdTime").and_then(parse_instant))
    else {
        return Ok(Ok(None));
    };
    if at <= oldest || created_by_this_job(step, newest, id, journal)? {
        return Ok(Ok(None));
    }
    let shown = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map_or_else(|| t.to_string(), |d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
    };
    Ok(Ok(Some(format!(
        "the portal already holds {} {id}, created {}, newer than this step's oldest row ({row_ref}, key \
         `{key}`, created {}); the portal imports no item created before its newest one, and b24import \
         did not create {id}: import into a type with no newer items, leave the older rows out, or use \
         method = \"add\" (new dates, automation runs)",
        target.entity.name(),
        shown(at),
        shown(oldest)
    ))))
}

/// Whether the portal's item `id` (as listed) is one this step's journal knows.
fn created_by_this_job(
    step: &Step,
    item: &Value,
    id: u64,
    journal: Option<&Journal>,
) -> Result<bool, RunError> {
    let Some(j) = journal else { return Ok(false) };
    let Some(step_id) = j.steps()?.into_iter().find(|s| s.name == step.plan.name).map(|s| s.id) else {
        return Ok(false);
    };
    if j.ids(step_id)?.iter().any(|(_, known)| *known == id) {
        return Ok(true);
    }
    let target = &step.plan.target;
    let key = if target.entity.key_field() == KeyField::Origin {
        if item.get("originatorId").and_then(Value::as_str) != Some(target.origin.as_str()) {
            return Ok(false);
        }
        item.get("originId").and_then(Value::as_str).map(str::to_string)
    } else {
        let prefix = format!("{}:", target.origin);
        item.get("xmlId").and_then(Value::as_str).and_then(|x| x.strip_prefix(&prefix)).map(str::to_string)
    };
    let Some(key) = key else { return Ok(false) };
    // The journal key of a source key (`#7` is stored as `\#7`): the same escaping as the run's.
    let journal_key = crate::journal::keys::row_key(&key, 0, false);
    Ok(j.row_state(step_id, &journal_key)?.is_some())
}

/// The `DOCUMENT_TYPE` of a CRM entity's business processes (the template list's page).
fn document_type(entity: Entity) -> Option<String> {
    use crate::mapping::entity::{COMPANY, CONTACT, DEAL, INVOICE, LEAD, QUOTE};
    Some(match entity {
        Entity::Crm(LEAD) => "LEAD".into(),
        Entity::Crm(DEAL) => "DEAL".into(),
        Entity::Crm(CONTACT) => "CONTACT".into(),
        Entity::Crm(COMPANY) => "COMPANY".into(),
        Entity::Crm(QUOTE) => "QUOTE".into(),
        Entity::Crm(INVOICE) => "SMART_INVOICE".into(),
        Entity::Crm(id) if id > 0 => format!("DYNAMIC_{id}"),
        _ => return None,
    })
}

/// The steps [`automation_notes`] asks about: (step, entity name, document type) of every step
/// that creates CRM items with `crm.item.add`.
pub fn automation_questions(steps: &[Step]) -> Vec<(String, String, String)> {
    steps
        .iter()
        .filter(|s| {
            s.plan.target.method == CreateMethod::Add && s.plan.target.mode != crate::mapping::Mode::Update
        })
        .filter_map(|s| {
            let t = &s.plan.target;
            document_type(t.entity).map(|d| (s.plan.name.clone(), t.entity.name(), d))
        })
        .collect()
}

/// For each step of `questions` ([`automation_questions`]) whose type the portal starts
/// workflows on for every new item: (step, the note), each said once (also logged as it is
/// found). One read for the whole run (the CRM templates set to run on creation), so the run
/// can start it beside its first requests (it costs no time there) and attach the notes to the
/// summary at the end.
pub async fn automation_notes(
    questions: Vec<(String, String, String)>,
    reads: Reads,
) -> Vec<(String, String)> {
    if questions.is_empty() {
        return Vec::new();
    }
    let params = json!({
        "select": ["ID", "NAME", "DOCUMENT_TYPE", "AUTO_EXECUTE"],
        "filter": {"MODULE_ID": "crm", ">AUTO_EXECUTE": 0},
    });
    // It rides in the first write batch when one leaves soon (no request of its own).
    let wait = super::portal::RIDE_WAIT;
    let Ok(list) = reads.portal().call_riding(Method::BizprocWorkflowTemplateList, params, wait).await else {
        return Vec::new();
    };
    let on_create: Vec<(&str, &str)> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| matches!(t.get("AUTO_EXECUTE").and_then(bjson::id), Some(1 | 3)))
        .filter_map(|t| {
            Some((
                t.get("DOCUMENT_TYPE").and_then(Value::as_str)?,
                t.get("NAME").and_then(Value::as_str).unwrap_or("?"),
            ))
        })
        .collect();
    let mut notes = Vec::new();
    for (step, entity, document_type) in questions {
        let names: Vec<String> = on_create
            .iter()
            .filter(|(d, _)| d.eq_ignore_ascii_case(&document_type))
            .map(|(_, n)| format!("\"{n}\""))
            .collect();
        if names.is_empty() {
            continue;
        }
        let note = format!(
            "every {entity} this step creates starts the portal's business process{} {} (set to run on \
             creation) and its automation rules, as crm.item.add does: set method = \"import\" in [target] \
             to create them without (and keep their original dates)",
            if names.len() == 1 { "" } else { "es" },
            names.join(", ")
        );
        tracing::warn!(step = step.as_str(), "{note}");
        notes.push((step, note));
    }
    notes
}
