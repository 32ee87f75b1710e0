//! Reading the schema: the few requests that fill a [`PortalSchema`] for the steps of a run.
//!
//! Owns: which read methods are asked for which steps, packing them into `batch` requests
//! (a first batch with every list's first page and every step whose entityTypeId is known; a
//! second with the remaining pages and the smart processes found by title), and paging lists
//! of more than 50 rows by their `total`, and reading each smart-process list field's items with
//! `userfieldconfig.get` (`userfieldconfig.list` returns no `enum`). Every request goes through
//! the run's one read rule ([`Reads::batch`]). A refused read is kept in [`PortalSchema::unread`]
//! (reported per method, e.g. for lack of rights), never taken for an empty list. Must not
//! write anything.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::SchemaError;
use super::model::{
    Category, Currency, CustomField, EntitySchema, PortalField, PortalSchema, Refusal, SmartProcess, Status,
    Workspace, rows,
};
use crate::bitrix::Method;
use crate::bitrix::entity::{self, FieldOwner};
use crate::mapping::{Deferred, Entity, MappingPlan};
use crate::payload::Command;
use crate::portal::Reads;
use crate::portal::reads::{BatchRead, CALLS_PER_REQUEST};
use crate::transport::{Transport, TransportError};

/// Rows per page of the portal's list methods.
const PAGE: u64 = 50;

/// What one read is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Types,
    Workspaces,
    Statuses,
    Currencies,
    Fields(u32),
    Categories(u32),
    Custom(u32),
    /// `userfieldconfig.get` of one list field (entity type, field id): its items with their
    /// `xmlId` (`userfieldconfig.list` returns no `enum`).
    CustomItems(u32, u64),
}

#[derive(Debug, Clone)]
struct Req {
    method: Method,
    params: Map<String, Value>,
    what: What,
    start: u64,
}

impl Req {
    fn new(method: Method, params: Value, what: What) -> Req {
        let params = match params {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Req { method, params, what, start: 0 }
    }

    fn page(&self, start: u64) -> Req {
        let mut next = self.clone();
        next.start = start;
        next.params.insert("start".into(), json!(start));
        next
    }
}

impl PortalSchema {
    /// Reads what `plans` need, in as few requests as the portal allows: usually two `batch`
    /// calls whatever the number of steps. A transport failure (unreachable, credentials
    /// refused) is an error; a read the portal refuses is recorded in `unread`.
    pub async fn read(transport: &Transport, plans: &[&MappingPlan]) -> Result<PortalSchema, SchemaError> {
        PortalSchema::read_with(&Reads::new(Arc::new(transport.clone())), plans).await
    }

    /// [`PortalSchema::read`] under a run's read rule ([`Reads`]): the operating budget, the byte
    /// budget and the 413 rule apply as to every read; a read the portal did not run is asked
    /// again, and one still unanswered after about a minute fails the read.
    pub async fn read_with(reads: &Reads, plans: &[&MappingPlan]) -> Result<PortalSchema, SchemaError> {
        let mut schema = PortalSchema::default();
        let crm: Vec<&MappingPlan> =
            plans.iter().copied().filter(|p| matches!(p.target.entity, Entity::Crm(_))).collect();
        if crm.is_empty() {
            return Ok(schema);
        }
        let any_spa = crm.iter().any(|p| is_spa(p));
        let any_enum = crm.iter().any(|p| p.fields.iter().any(|f| f.deferred == Some(Deferred::Label)));
        let mut queue = VecDeque::new();
        if any_spa {
            queue.push_back(Req::new(Method::CrmTypeList, json!({"start": 0}), What::Types));
            queue.push_back(Req::new(
                Method::CrmAutomatedSolutionList,
                json!({"start": 0}),
                What::Workspaces,
            ));
        }
        if any_enum {
            queue.push_back(Req::new(Method::CrmStatusList, json!({"start": 0}), What::Statuses));
            queue.push_back(Req::new(Method::CrmCurrencyList, json!({}), What::Currencies));
        }
        // Entities whose entityTypeId is known now; smart processes by title wait for the types.
        let mut known: BTreeSet<u32> = BTreeSet::new();
        for p in &crm {
            if let (None, Entity::Crm(id)) = (&p.target.smart_process, p.target.entity) {
                known.insert(id);
            }
        }
        for &etid in &known {
            entity_reads(&mut queue, etid, !Entity::is_builtin_type_id(etid));
        }
        let mut later_done = !any_spa;
        loop {
            if queue.is_empty() {
                if later_done {
                    break;
                }
                later_done = true;
                // The types are read: smart processes by title, and every smart process's
                // custom fields (`CRM_{type id}`).
                let mut spa_ids = BTreeSet::new();
                for p in &crm {
                    if let Some(etid) = schema.entity_type_id(p)
                        && !Entity::is_builtin_type_id(etid)
                    {
                        if p.target.smart_process.is_some() && !known.contains(&etid) {
                            entity_reads(&mut queue, etid, true);
                            known.insert(etid);
                        }
                        spa_ids.insert(etid);
                    }
                }
                for etid in spa_ids {
                    if let Some(t) = schema.smart_process_by_type(etid) {
                        let entity_id = entity::smart_process_config_id(t.id);
                        queue.push_back(Req::new(
                            Method::UserfieldconfigList,
                            json!({"moduleId": "crm", "filter": {"entityId": entity_id}, "start": 0}),
                            What::Custom(etid),
                        ));
                    }
                }
                continue;
            }
            let take = queue.len().min(CALLS_PER_REQUEST);
            let round: Vec<Req> = queue.drain(..take).collect();
            let commands: Vec<Command> = round
                .iter()
                .map(|req| Command { method: req.method, params: Value::Object(req.params.clone()) })
                .collect();
            let answers = match reads.batch(&commands).await {
                Ok((Ok(answers), _)) => answers,
                Ok((Err(reason), _)) => {
                    return Err(SchemaError::Transport(TransportError::Ambiguous {
                        method: Method::Batch.to_string(),
                        reason,
                    }));
                }
                Err(e) => return Err(SchemaError::Transport(e)),
            };
            for (answer, req) in answers.into_iter().zip(round) {
                match answer {
                    BatchRead::Done(value, total) => {
                        let got = absorb(&mut schema, req.what, &value);
                        if let (What::Custom(etid), Method::UserfieldconfigList) = (req.what, req.method) {
                            queue.extend(item_reads(&schema, etid, &value));
                        }
                        if req.start == 0
                            && let Some(total) = total
                        {
                            let mut start = got.max(PAGE);
                            while start < total {
                                queue.push_back(req.page(start));
                                start += PAGE;
                            }
                        }
                    }
                    BatchRead::Refused { code, description } => {
                        tracing::warn!(
                            method = req.method.as_str(),
                            code,
                            description,
                            "schema read refused"
                        );
                        let refusal = Refusal { method: req.method.to_string(), code, description };
                        if !schema.unread.contains(&refusal) {
                            schema.unread.push(refusal);
                        }
                    }
                }
            }
        }
        Ok(schema)
    }
}

/// The `userfieldconfig.get` reads of the list fields one `userfieldconfig.list` page names
/// (its rows carry no `enum`; the items' `xmlId` comes from `get`).
fn item_reads(schema: &PortalSchema, etid: u32, page: &Value) -> Vec<Req> {
    let ids: Vec<u64> = rows(page, "fields")
        .iter()
        .filter_map(CustomField::from_row)
        .filter(|c| c.user_type == "enumeration" && c.items.is_empty())
        .map(|c| c.id)
        .collect();
    let known = schema.entities.get(&etid).map(|e| e.custom.as_slice()).unwrap_or_default();
    ids.into_iter()
        .filter(|id| known.iter().any(|c| c.id == *id))
        .map(|id| {
            Req::new(
                Method::UserfieldconfigGet,
                json!({"moduleId": "crm", "id": id}),
                What::CustomItems(etid, id),
            )
        })
        .collect()
}

/// A step on a smart process (by title, or by an entityTypeId that is not built in).
fn is_spa(p: &MappingPlan) -> bool {
    p.target.smart_process.is_some()
        || !p.target.provision.flags.is_empty()
        || p.target.provision.workspace.is_some()
        || matches!(p.target.entity, Entity::Crm(id) if !Entity::is_builtin_type_id(id))
}

/// The reads of one entity type: its fields, its categories (lead and quote have none), and
/// its custom fields (smart processes: later, once their type id is known).
fn entity_reads(queue: &mut VecDeque<Req>, etid: u32, spa: bool) {
    queue.push_back(Req::new(
        Method::CrmItemFields,
        json!({"entityTypeId": etid, "useOriginalUfNames": "N"}),
        What::Fields(etid),
    ));
    if entity::has_categories(etid) {
        queue.push_back(Req::new(
            Method::CrmCategoryList,
            json!({"entityTypeId": etid, "start": 0}),
            What::Categories(etid),
        ));
    }
    if spa {
        return;
    }
    // Built-in types only here: their owner needs no smart process's id.
    match FieldOwner::of(etid, || None) {
        Some(FieldOwner::Crm(e)) => {
            queue.push_back(Req::new(Method::CrmUserfieldList(e), json!({}), What::Custom(etid)))
        }
        Some(FieldOwner::Config(entity_id)) => queue.push_back(Req::new(
            Method::UserfieldconfigList,
            json!({"moduleId": "crm", "filter": {"entityId": entity_id}, "start": 0}),
            What::Custom(etid),
        )),
        None => {}
    }
}

/// Adds one answer to the schema; returns how many rows it held (for paging).
fn absorb(schema: &mut PortalSchema, what: What, value: &Value) -> u64 {
    fn entity(schema: &mut PortalSchema, etid: u32) -> &mut EntitySchema {
        schema
            .entities
            .entry(etid)
            .or_insert_with(|| EntitySchema { entity_type_id: etid, ..Default::default() })
    }
    let count = |rows: &[Value]| rows.len() as u64;
    match what {
        What::Types => {
            let r = rows(value, "types");
            schema.smart_processes.extend(r.iter().filter_map(SmartProcess::from_row));
            count(r)
        }
        What::Workspaces => {
            let r = rows(value, "automatedSolutions");
            schema.workspaces.extend(r.iter().filter_map(Workspace::from_row));
            count(r)
        }
        What::Statuses => {
            let r = rows(value, "statuses");
            schema.statuses.extend(r.iter().filter_map(Status::from_row));
            count(r)
        }
        What::Currencies => {
            let r = rows(value, "currencies");
            schema.currencies.extend(r.iter().filter_map(Currency::from_row));
            count(r)
        }
        What::Fields(etid) => {
            let fields: Vec<PortalField> = value
                .get("fields")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(name, d)| PortalField::from_description(name, d))
                .collect();
            let e = entity(schema, etid);
            e.fields.extend(fields.into_iter().map(|f| (f.name.clone(), f)));
            0
        }
        What::Categories(etid) => {
            let r = rows(value, "categories");
            entity(schema, etid).categories.extend(r.iter().filter_map(Category::from_row));
            count(r)
        }
        What::Custom(etid) => {
            let r = rows(value, "fields");
            entity(schema, etid).custom.extend(r.iter().filter_map(CustomField::from_row));
            count(r)
        }
        What::CustomItems(etid, id) => {
            if let Some(got) = value.get("field").and_then(CustomField::from_row)
                && let Some(c) = entity(schema, etid).custom.iter_mut().find(|c| c.id == id)
            {
                c.items = got.items;
            }
            0
        }
    }
}
