//! The portal's history beyond the items (issues 19 and 21): timeline comments
//! (`crm.timeline.comment.*`), activities (`crm.activity.*`), the counters a migration test
//! asserts (automation runs, e-mails sent), and what the credential may do with
//! `crm.item.import` / `crm.item.batchImport` ([`HistoryConfig`], the field
//! `SandboxConfig::history`).
//!
//! Owns the data and the counters; the rules of each method are in `methods::timeline`,
//! `methods::activity` and `methods::import`. It does no validation and no I/O. Not persisted
//! by `--state` (comments and activities live in memory only; `persist.rs` is not reshaped).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the credential may do with the import methods (the `crm.item.import` page: "any user
/// with 'import' access permission for the CRM object"; the date and author fields need an
/// administrator). By default the credential may import and is an administrator, as the
/// sandbox's webhook user (the built-in administrator) is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryConfig {
    /// The credential lacks the "import" permission: both import methods answer HTTP 400
    /// `ACCESS_DENIED` "Access denied" (their tables), before any item is looked at.
    pub import_denied: bool,
    /// The credential is not an administrator: an imported item that carries `createdTime`,
    /// `updatedTime`, `movedTime`, `createdBy`, `updatedBy` or `movedBy` is refused with
    /// `CRM_FIELD_ERROR_VALUE_NOT_VALID` naming that field (the pages' tables: "for system
    /// fields of type `createdTime`, if the request is not made by an administrator").
    pub not_admin: bool,
    /// The portal's business process templates (`bizproc.workflow.template.list`, methods
    /// `bizproc`): those with `AUTO_EXECUTE` 1 or 3 start on every item `crm.item.add` creates.
    /// None by default.
    pub workflows: Vec<WorkflowTemplate>,
}

/// One business process template, as `bizproc.workflow.template.list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowTemplate {
    pub id: u64,
    /// `crm`, `lists`, `disk`.
    pub module_id: String,
    /// `CCrmDocumentDeal`, ... (the page's table).
    pub entity: String,
    /// `DEAL`, `LEAD`, `DYNAMIC_1032`, ...
    pub document_type: String,
    /// 0 none, 1 on creation, 2 on modification, 3 both.
    pub auto_execute: u8,
    pub name: String,
}

impl WorkflowTemplate {
    /// A CRM template `id` that starts on every new item of `document_type` (`DEAL`,
    /// `DYNAMIC_1032`...), with the `ENTITY` the page gives that type.
    pub fn on_create(id: u64, document_type: &str) -> WorkflowTemplate {
        let document_type = document_type.trim().to_ascii_uppercase();
        let entity = match document_type.as_str() {
            "LEAD" => "CCrmDocumentLead",
            "CONTACT" => "CCrmDocumentContact",
            "COMPANY" => "CCrmDocumentCompany",
            "DEAL" => "CCrmDocumentDeal",
            "QUOTE" => "Bitrix\\Crm\\Integration\\BizProc\\Document\\Quote",
            "SMART_INVOICE" => "Bitrix\\Crm\\Integration\\BizProc\\Document\\SmartInvoice",
            _ => "Bitrix\\Crm\\Integration\\BizProc\\Document\\Dynamic",
        };
        WorkflowTemplate {
            id,
            module_id: "crm".into(),
            entity: entity.into(),
            document_type,
            auto_execute: 1,
            name: format!("Welcome sequence {id}"),
        }
    }
}

/// A timeline comment (`crm.timeline.comment.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// Its ID.
    pub id: u64,
    /// The owner's entity type id (`deal` = 2, `dynamic_1046` = 1046, ...).
    pub owner_type_id: u64,
    /// The owner's `ENTITY_TYPE` as the API shows it (`deal`, `dynamic_1046`).
    pub entity_type: String,
    /// The owner's id.
    pub owner_id: u64,
    /// `CREATED`: set by the portal's clock, read-only.
    pub created: String,
    /// `AUTHOR_ID`.
    pub author_id: u64,
    /// `COMMENT`.
    pub comment: String,
    /// `FILES` as `crm.timeline.comment.get` shows them (`{"1": {...}}`).
    pub files: Map<String, Value>,
}

/// An activity (`crm.activity.*`): its fields by upper-case name, as the API shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// Its ID.
    pub id: u64,
    /// `OWNER_TYPE_ID`.
    pub owner_type_id: u64,
    /// `OWNER_ID`.
    pub owner_id: u64,
    /// Every other field, as `crm.activity.get` answers them (strings, as on the page).
    pub fields: Map<String, Value>,
    /// `COMMUNICATIONS` (listed only when `select` names them).
    pub communications: Vec<Value>,
}

/// Counters of `GET /_sandbox/state` (`StateSnapshot::history`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryCounts {
    /// Items whose creation ran the portal's automation rules: one per item `crm.item.add`
    /// created (its page: adding runs automation rules and workflows); `crm.item.import` and
    /// `crm.item.batchImport` never count (the import overview: "the import will not trigger
    /// it").
    pub automation_runs: u64,
    /// E-mails the portal sent: an e-mail activity (`TYPE_ID` 4) added outgoing
    /// (`DIRECTION` 2) and completed (`COMPLETED` Y). Marking it completed later with
    /// `crm.activity.update` sends nothing (the `crm.activity.add` page).
    pub emails_sent: u64,
    /// Timeline comments held.
    pub comments: u64,
    /// Activities held.
    pub activities: u64,
}

/// Comments, activities and the counters.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Comments by id.
    pub comments: BTreeMap<u64, Comment>,
    /// Activities by id.
    pub activities: BTreeMap<u64, Activity>,
    /// Last comment id given.
    pub last_comment: u64,
    /// Last activity id given.
    pub last_activity: u64,
    /// Last attached file id given.
    pub last_file: u64,
    /// See [`HistoryCounts::automation_runs`].
    pub automation_runs: u64,
    /// See [`HistoryCounts::emails_sent`].
    pub emails_sent: u64,
}

impl History {
    /// The snapshot's counters.
    pub fn counts(&self) -> HistoryCounts {
        HistoryCounts {
            automation_runs: self.automation_runs,
            emails_sent: self.emails_sent,
            comments: self.comments.len() as u64,
            activities: self.activities.len() as u64,
        }
    }

    /// Removes what belongs to a deleted item: its comments and its activities, as a portal
    /// does (deleting an item deletes its timeline and the activities bound to it; an activity
    /// here has one binding, its owner). Returns (comments, activities) removed.
    pub fn remove_owner(&mut self, owner_type_id: u64, owner_id: u64) -> (usize, usize) {
        let before = (self.comments.len(), self.activities.len());
        self.comments.retain(|_, c| !(c.owner_type_id == owner_type_id && c.owner_id == owner_id));
        self.activities.retain(|_, a| !(a.owner_type_id == owner_type_id && a.owner_id == owner_id));
        (before.0 - self.comments.len(), before.1 - self.activities.len())
    }
}
