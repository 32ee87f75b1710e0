//! The REST methods: one file per family, all with the same shape
//! `fn(&mut Call) -> MethodResult`. `batch` is not here: it needs the limits and lives in the
//! server pipeline (`methods::batch` only parses and encodes).
//!
//! Owns request validation and the portal's answers, exactly as §3–6 of `docs/portal-protocol.md` say.
//! Does no I/O, no sleeping and no locking: the caller holds the state.

pub(crate) mod batch;
pub(crate) mod currency;
pub(crate) mod department;
pub(crate) mod dictionary;
pub(crate) mod duplicate;
pub(crate) mod filter;
pub(crate) mod item;
pub(crate) mod legacy;
pub(crate) mod list_check;
// The whole record (issue 20): product rows, products, requisites, bank details, addresses.
pub(crate) mod record;
pub(crate) mod rights;
pub(crate) mod types;
pub(crate) mod user;
pub(crate) mod userfield;
pub(crate) mod userfieldconfig;
// Issue 19 (history) and 21 (deletes): import, timeline comments, activities.
pub(crate) mod activity;
pub(crate) mod import;
pub(crate) mod timeline;
// Issue 19: bizproc.workflow.template.list.
pub(crate) mod bizproc;

use serde_json::{Map, Value};

use super::schema::SchemaFile;
use super::state::State;

/// One method call: the state, its parameters, who calls, and when.
pub(crate) struct Call<'a> {
    /// The method name (lower-case).
    pub method: &'a str,
    /// The portal state (locked by the caller).
    pub state: &'a mut State,
    /// Parameters as a JSON object (JSON body, or PHP-style query/form parsed to JSON).
    pub params: &'a Value,
    /// The acting user (the webhook's user or the OAuth token's user).
    pub user_id: u64,
    /// Unix time of the call.
    pub now_unix: f64,
    /// The schema overrides, for SPA types created at run time.
    pub schema_file: Option<&'a SchemaFile>,
    /// The caller only needs the result as JSON text (`Output::raw`), not as a value.
    pub raw_ok: bool,
    /// Methods the credential lacks rights for (`SandboxConfig::denied_methods`).
    pub denied: &'a std::collections::BTreeSet<String>,
    /// `SandboxConfig::phone_default_country` (phone matching of `crm.duplicate.findbycomm`).
    pub phone_country: Option<&'a str>,
    /// `SandboxConfig::items`: stage-dependent required fields, dangling references.
    pub rules: &'a crate::strict::ItemRules,
    /// `SandboxConfig::setup` (the workgroups `user.add` checks).
    pub setup: &'a crate::setup::SetupConfig,
    /// The caller's credential and scopes (`crate::access`, checked before the method).
    pub access: crate::access::Access<'a>,
    /// The plan's limits now (`crate::plan`; the methods that create check them).
    pub plan: &'a crate::plan::PlanLimits,
    /// `SandboxConfig::history` (issue 19: the import methods' permissions).
    pub history: &'a crate::history::HistoryConfig,
}

/// A successful answer: `result`, plus the top-level `total`/`next` of list methods.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Output {
    pub result: Value,
    /// The result already written as JSON text (then `result` is null); only when `raw_ok`.
    pub raw: Option<String>,
    pub total: Option<u64>,
    pub next: Option<u64>,
}

impl Output {
    pub fn new(result: Value) -> Self {
        Output { result, raw: None, total: None, next: None }
    }

    pub fn raw(json: String) -> Self {
        Output { result: Value::Null, raw: Some(json), total: None, next: None }
    }

    pub fn list(result: Value, total: u64, next: Option<u64>) -> Self {
        Output { result, raw: None, total: Some(total), next }
    }
}

/// An error answer: HTTP status, `error`, `error_description`, and the `argument` some
/// methods add (`user.add`'s `ERROR_ARGUMENT` answers: the page's example carries
/// `"argument": ""`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MethodError {
    pub status: u16,
    pub code: String,
    pub description: String,
    pub argument: Option<String>,
}

impl MethodError {
    pub fn new(status: u16, code: &str, description: impl Into<String>) -> Self {
        MethodError { status, code: code.to_string(), description: description.into(), argument: None }
    }

    /// The same error carrying `argument` (the parameter the portal names, often empty).
    pub fn with_argument(mut self, argument: impl Into<String>) -> Self {
        self.argument = Some(argument.into());
        self
    }

    /// The JSON body of the error: `{"error", "error_description"}`, plus `argument` when the
    /// method gives one. The outer answer and a `batch` command's `result_error` entry alike.
    pub fn body(&self) -> Value {
        let mut body = serde_json::json!({"error": self.code, "error_description": self.description});
        if let Some(a) = &self.argument {
            body["argument"] = Value::String(a.clone());
        }
        body
    }

    pub fn bad(code: &str, description: impl Into<String>) -> Self {
        Self::new(400, code, description)
    }
}

pub(crate) type MethodResult = Result<Output, MethodError>;

type Handler = fn(&mut Call) -> MethodResult;

/// Every method the sandbox knows (lower-case), `batch` included. The handler first refuses a
/// method the credential lacks rights for, with the access-denied error its page documents
/// ([`rights::access_denied`]).
pub(crate) fn lookup(method: &str) -> Option<Handler> {
    route(method).map(|_| guarded as Handler)
}

fn guarded(c: &mut Call) -> MethodResult {
    crate::access::check(c.method, c.access, c.params)?;
    if c.denied.contains(c.method) {
        return Err(rights::access_denied(c.method));
    }
    let handler = route(c.method).expect("lookup() checked the method");
    handler(c)
}

fn route(method: &str) -> Option<Handler> {
    Some(match method {
        "crm.item.add" => item::add,
        "crm.item.update" => item::update,
        "crm.item.get" => item::get,
        "crm.item.list" => list_check::item_list,
        "crm.item.delete" => item::delete,
        "crm.item.fields" => item::fields,
        "user.add" => user::add,
        "user.update" => user::update,
        "user.get" => user::get,
        "user.fields" => user::fields,
        "user.current" => user::current,
        "profile" => user::profile,
        "crm.type.add" => types::type_add,
        "crm.type.update" => types::type_update,
        "crm.type.get" => types::type_get,
        "crm.type.getbyentitytypeid" => types::type_get_by_entity_type_id,
        "crm.type.list" => list_check::type_list,
        "crm.type.delete" => types::type_delete,
        "crm.automatedsolution.add" => types::solution_add,
        "crm.automatedsolution.list" => list_check::solution_list,
        "crm.automatedsolution.get" => types::solution_get,
        "crm.automatedsolution.update" => types::solution_update,
        "crm.status.list" => dictionary::status_list,
        "crm.status.add" => dictionary::status_add,
        "crm.category.list" => dictionary::category_list,
        "crm.category.add" => dictionary::category_add,
        "crm.lead.userfield.list"
        | "crm.deal.userfield.list"
        | "crm.contact.userfield.list"
        | "crm.company.userfield.list" => userfield::crm_list,
        "crm.lead.userfield.add"
        | "crm.deal.userfield.add"
        | "crm.contact.userfield.add"
        | "crm.company.userfield.add" => userfield::crm_add,
        "crm.lead.userfield.update"
        | "crm.deal.userfield.update"
        | "crm.contact.userfield.update"
        | "crm.company.userfield.update" => userfield::crm_update,
        "crm.lead.userfield.get"
        | "crm.deal.userfield.get"
        | "crm.contact.userfield.get"
        | "crm.company.userfield.get" => userfield::crm_get,
        "userfieldconfig.add" => userfieldconfig::config_add,
        "userfieldconfig.list" => userfieldconfig::config_list,
        "userfieldconfig.get" => userfieldconfig::config_get,
        "userfieldconfig.update" => userfieldconfig::config_update,
        "crm.lead.list" | "crm.deal.list" | "crm.contact.list" | "crm.company.list" => legacy::list,
        "crm.duplicate.findbycomm" => duplicate::find_by_comm,
        "crm.currency.list" => currency::list,
        // The whole record (issue 20, `record/`): product rows, catalogue products, requisites
        // with presets and bank details, addresses.
        "crm.item.productrow.set" => record::productrow::set,
        "crm.item.productrow.add" => record::productrow::add,
        "crm.item.productrow.update" => record::productrow::update,
        "crm.item.productrow.get" => record::productrow::get,
        "crm.item.productrow.list" => record::productrow::list,
        "crm.item.productrow.delete" => record::productrow::delete,
        "crm.item.productrow.fields" => record::productrow::fields,
        "crm.product.list" => record::product::list,
        "crm.requisite.add" => record::requisite::add,
        "crm.requisite.update" => record::requisite::update,
        "crm.requisite.get" => record::requisite::get,
        "crm.requisite.list" => record::requisite::list,
        "crm.requisite.delete" => record::requisite::delete,
        "crm.requisite.fields" => record::requisite::fields,
        "crm.requisite.preset.list" => record::requisite::preset_list,
        "crm.requisite.preset.get" => record::requisite::preset_get,
        "crm.requisite.bankdetail.add" => record::bankdetail::add,
        "crm.requisite.bankdetail.update" => record::bankdetail::update,
        "crm.requisite.bankdetail.get" => record::bankdetail::get,
        "crm.requisite.bankdetail.list" => record::bankdetail::list,
        "crm.requisite.bankdetail.delete" => record::bankdetail::delete,
        "crm.requisite.bankdetail.fields" => record::bankdetail::fields,
        "crm.address.add" => record::address::add,
        "crm.address.update" => record::address::update,
        "crm.address.list" => record::address::list,
        "crm.address.delete" => record::address::delete,
        "crm.address.fields" => record::address::fields,
        // Issue 19 (history) and 21 (deletes).
        "crm.item.import" => import::import,
        "crm.item.batchimport" => import::batch_import,
        "crm.timeline.comment.add" => timeline::add,
        "crm.timeline.comment.update" => timeline::update,
        "crm.timeline.comment.get" => timeline::get,
        "crm.timeline.comment.list" => timeline::list,
        "crm.timeline.comment.delete" => timeline::delete,
        "crm.timeline.comment.fields" => timeline::fields_of,
        "crm.activity.add" => activity::add,
        "crm.activity.update" => activity::update,
        "crm.activity.get" => activity::get,
        "crm.activity.list" => activity::list,
        "crm.activity.delete" => activity::delete,
        "crm.activity.fields" => activity::fields_of,
        // Issue 19: the workflows a portal starts on new items.
        "bizproc.workflow.template.list" => bizproc::template_list,
        "server.time" => server_time,
        "department.get" => department::get,
        "app.info" => department::app_info,
        "batch" => batch_placeholder,
        _ => return None,
    })
}

/// `crm.contact.userfield.add` -> 3 (the entity a per-entity UF method works on).
pub(crate) fn userfield_entity(method: &str) -> Option<u64> {
    Some(match method.split('.').nth(1)? {
        "lead" => 1,
        "deal" => 2,
        "contact" => 3,
        "company" => 4,
        _ => return None,
    })
}

fn server_time(c: &mut Call) -> MethodResult {
    Ok(Output::new(Value::String(super::clock::iso(c.now_unix))))
}

fn batch_placeholder(_: &mut Call) -> MethodResult {
    // `batch` is run by the server pipeline; reaching this means a nested batch.
    Err(MethodError::new(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage"))
}

/// A parameter by name: exact first, then case-insensitively.
pub(crate) fn param<'v>(params: &'v Value, name: &str) -> Option<&'v Value> {
    let obj = params.as_object()?;
    obj.get(name).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// An unsigned integer from a number or a numeric string.
pub(crate) fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => {
            n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
        }
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A signed integer from a number or a numeric string.
pub(crate) fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Text of a scalar (`None` for arrays, objects and null).
pub(crate) fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "Y".into() } else { "N".into() }),
        _ => None,
    }
}

/// Y/N flags as PHP reads them (`Y`, `1`, `true`).
pub(crate) fn is_yes(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => matches!(s.to_ascii_uppercase().as_str(), "Y" | "1" | "TRUE"),
        _ => false,
    }
}

/// The elements of a PHP array given as a JSON list or object (`None` for scalars).
pub(crate) fn php_array(v: &Value) -> Option<Vec<&Value>> {
    match v {
        Value::Array(a) => Some(a.iter().collect()),
        Value::Object(o) => Some(o.values().collect()),
        _ => None,
    }
}

/// The `start` parameter: (offset, count the total).
pub(crate) fn start_param(params: &Value) -> (usize, bool) {
    match param(params, "start").and_then(as_i64) {
        Some(-1) => (0, false),
        Some(n) if n > 0 => (n as usize, true),
        _ => (0, true),
    }
}

/// Pages a full list: (page, total, next).
pub(crate) fn page<T: Clone>(all: &[T], start: usize, count: bool) -> (Vec<T>, u64, Option<u64>) {
    let page: Vec<T> = all.iter().skip(start).take(50).cloned().collect();
    let total = if count { all.len() as u64 } else { 0 };
    let next = (count && start + 50 < all.len()).then_some((start + 50) as u64);
    (page, total, next)
}

/// An object from a JSON value (empty for anything else).
pub(crate) fn object(v: Option<&Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    }
}
