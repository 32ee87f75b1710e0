//! Payloads: pure functions from a [`MappedRow`] to the exact JSON a portal method receives,
//! and the encoding of one command into a `batch` `cmd` string.
//!
//! Owns: the parameter shapes of `crm.item.add`, `crm.item.batchImport` (one item a command:
//! `{entityTypeId, data: [fields]}`), `crm.item.update` and `user.add`
//! (`docs/portal-protocol.md` §3.2, §3.5, §4.1), where a command's field object is
//! ([`fields_of`]), and how a created item carries its
//! source key (`originatorId` + `originId`, or `xmlId` for invoices and smart processes).
//! Must not: do I/O or async work, decide which rows are sent (the pipeline's) or how they are
//! packed into requests (the portal's dispatcher).

pub mod batch;
pub mod products;
pub mod record;

use serde_json::{Map, Value, json};

use crate::mapping::{CreateMethod, Entity, FmValue, KeyField, MappedRow, PendingField, TargetPlan};

/// The fields only `crm.item.batchImport` keeps (`crm.item.add` sets them itself): the import
/// overview's table (`api-reference/crm/universal/import/index.md`).
pub const HISTORY_FIELDS: [&str; 6] =
    ["createdTime", "updatedTime", "movedTime", "createdBy", "updatedBy", "movedBy"];

// One REST call: method and its parameters (a JSON object). A row's command is a
// `bitrix::Call`; the methods are `bitrix::Method`'s (re-exported here, where the row writes
// are built).
pub use crate::bitrix::{Call as Command, Method};

/// A command that may still lack the values only the run can know (portal IDs behind
/// `lookup` and `user` fields). It cannot be sent: [`Draft::complete`] makes the [`Command`].
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    command: Command,
    pending: Vec<PendingField>,
}

impl Draft {
    /// The method the command will call.
    pub fn method(&self) -> Method {
        self.command.method
    }

    /// The fields still to be found, in mapping order.
    pub fn pending(&self) -> &[PendingField] {
        &self.pending
    }

    /// A field the row itself already gives (not a pending one): e.g. the `categoryId` a
    /// stage label is looked up within.
    pub fn field(&self, name: &str) -> Option<&Value> {
        fields_of(&self.command)?.get(name)
    }

    /// The command, with `values[i]` as the value of `pending()[i]`.
    pub fn complete(self, values: Vec<Value>) -> Command {
        let mut command = self.command;
        if let Some(fields) = fields_of_mut(&mut command) {
            for (field, value) in self.pending.into_iter().zip(values) {
                fields.insert(field.name, value);
            }
        }
        command
    }

    /// The parameters as `validate --emit` shows them: pending values as their markers
    /// (`{"$lookup": "<step>", "key": "<key>"}`, `{"$user": "<e-mail>"}`).
    pub fn emit_params(&self) -> Value {
        if self.pending.is_empty() {
            return wire_form(&self.command).params.clone();
        }
        let markers = self.pending.iter().map(|f| f.value(f.values.iter().map(|p| p.marker()).collect()));
        wire_form(&self.clone().complete(markers.collect())).params.clone()
    }
}

/// The object a row's command carries its fields in: `fields` for `crm.item.add`/`.update`,
/// the one element of `data` for `crm.item.batchImport`, the parameters themselves for
/// `user.*`; `None` for any other method.
pub fn fields_of(command: &Command) -> Option<&Map<String, Value>> {
    let params = match command.method {
        Method::UserAdd | Method::UserUpdate => &command.params,
        Method::CrmItemAdd | Method::CrmItemUpdate => command.params.get("fields")?,
        Method::CrmItemBatchImport => command.params.get("data")?.get(0)?,
        Method::CrmTimelineCommentAdd
        | Method::CrmTimelineCommentUpdate
        | Method::CrmActivityAdd
        | Method::CrmActivityUpdate => command.params.get("fields")?,
        m if record::carries_fields(m) => command.params.get("fields")?,
        // A product row before it is grouped (`products`); a parent's set has no `fields`.
        Method::CrmItemProductrowSet => command.params.get("fields")?,
        _ => return None,
    };
    params.as_object()
}

/// Items per `crm.item.batchImport` command (its table: `MAX_IMPORT_BATCH_SIZE_EXCEEDED` above).
pub const MAX_IMPORT_ITEMS: usize = 20;

/// How many items an import command carries (0 for any other command).
pub fn import_items(cmd: &Command) -> usize {
    if cmd.method != Method::CrmItemBatchImport {
        return 0;
    }
    cmd.params.get("data").and_then(Value::as_array).map_or(0, Vec::len)
}

/// Several one-item import commands of one type as one command (their items in order).
/// `None` when they are not all one-item imports of the same type and settings.
pub fn import_group(cmds: &[&Command]) -> Option<Command> {
    let first = cmds.first()?;
    let same = |c: &Command| {
        import_items(c) == 1
            && c.params.get("entityTypeId") == first.params.get("entityTypeId")
            && c.params.get("useOriginalUfNames") == first.params.get("useOriginalUfNames")
    };
    if !cmds.iter().all(|c| same(c)) {
        return None;
    }
    let mut merged = (*first).clone();
    let data: Vec<Value> = cmds.iter().filter_map(|c| c.params["data"].get(0).cloned()).collect();
    merged.params["data"] = Value::Array(data);
    Some(merged)
}

/// Item `i` of an import command, as a command of its own.
pub fn import_member(cmd: &Command, i: usize) -> Command {
    let mut one = cmd.clone();
    let item = cmd.params.get("data").and_then(|d| d.get(i)).cloned().unwrap_or(Value::Null);
    one.params["data"] = Value::Array(vec![item]);
    one
}

/// The field of an attached record that holds its parent's ID: `ENTITY_ID` (a comment),
/// `OWNER_ID` (an activity); none for items and users.
pub fn parent_field(entity: Entity) -> &'static str {
    match entity {
        Entity::Comment => "ENTITY_ID",
        Entity::Activity => "OWNER_ID",
        // Their add pages: the owner company/contact, the requisite (bank detail, address).
        Entity::Requisite | Entity::BankDetail | Entity::Address => "ENTITY_ID",
        // A product row: its owner (`crm.item.productrow.set`'s `ownerId`).
        Entity::ProductRows => products::OWNER_ID,
        Entity::Crm(_) | Entity::User => "",
    }
}

/// A comment's `ENTITY_TYPE` for a parent of this entity: `deal`, `lead`, `contact`,
/// `company`, `quote`, `smart_invoice`, or `dynamic_<entityTypeId>` for a smart process (the
/// `crm.timeline.comment.add` page).
pub fn comment_owner_type(parent: Entity) -> String {
    use crate::mapping::entity::{COMPANY, CONTACT, DEAL, INVOICE, LEAD, QUOTE};
    match parent {
        Entity::Crm(LEAD) => "lead".into(),
        Entity::Crm(DEAL) => "deal".into(),
        Entity::Crm(CONTACT) => "contact".into(),
        Entity::Crm(COMPANY) => "company".into(),
        Entity::Crm(QUOTE) => "quote".into(),
        Entity::Crm(INVOICE) => "smart_invoice".into(),
        Entity::Crm(id) => format!("dynamic_{id}"),
        _ => String::new(),
    }
}

/// The activity type ids of the system activities that need `COMMUNICATIONS` (the
/// `crm.activity.add` page): meeting, call, e-mail.
pub const ACTIVITY_MEETING: u64 = 1;
pub const ACTIVITY_CALL: u64 = 2;
pub const ACTIVITY_EMAIL: u64 = 4;

/// An activity command's `TYPE_ID`.
pub fn activity_type(fields: &Map<String, Value>) -> Option<u64> {
    fields.get("TYPE_ID").and_then(crate::bitrix::json::id)
}

/// [`fields_of`], to change.
fn fields_of_mut(command: &mut Command) -> Option<&mut Map<String, Value>> {
    let params = match command.method {
        Method::UserAdd | Method::UserUpdate => &mut command.params,
        Method::CrmItemAdd | Method::CrmItemUpdate => command.params.get_mut("fields")?,
        Method::CrmItemBatchImport => command.params.get_mut("data")?.get_mut(0)?,
        Method::CrmTimelineCommentAdd
        | Method::CrmTimelineCommentUpdate
        | Method::CrmActivityAdd
        | Method::CrmActivityUpdate => command.params.get_mut("fields")?,
        m if record::carries_fields(m) => command.params.get_mut("fields")?,
        Method::CrmItemProductrowSet => command.params.get_mut("fields")?,
        _ => return None,
    };
    params.as_object_mut()
}

/// The command that creates `row` in the portal, still to be completed with the row's
/// pending values.
pub fn add_command(target: &TargetPlan, row: MappedRow) -> Draft {
    let MappedRow { key, fields, fm, pending, .. } = row;
    Draft { command: add_of(target, key, fields, fm), pending }
}

fn add_of(target: &TargetPlan, key: String, mut fields: Map<String, Value>, fm: Vec<FmValue>) -> Command {
    match target.entity {
        Entity::Requisite | Entity::BankDetail | Entity::Address => {
            record::add_of(target, &key, fields).expect("a record kind")
        }
        Entity::ProductRows => products::row_of(target.parent.as_ref().and_then(|p| p.entity), fields),
        Entity::User => Command { method: Method::UserAdd, params: Value::Object(fields) },
        Entity::Comment => {
            let parent = target.parent.as_ref().and_then(|p| p.entity);
            fields.insert(
                "ENTITY_TYPE".into(),
                Value::String(parent.map(comment_owner_type).unwrap_or_default()),
            );
            Command {
                method: Method::CrmTimelineCommentAdd,
                params: object([("fields", Value::Object(fields))]),
            }
        }
        Entity::Activity => {
            if let Some(Entity::Crm(etid)) = target.parent.as_ref().and_then(|p| p.entity) {
                fields.insert("OWNER_TYPE_ID".into(), Value::from(etid));
            }
            fields.insert("ORIGINATOR_ID".into(), Value::String(target.origin.clone()));
            fields.insert("ORIGIN_ID".into(), Value::String(key));
            // Importing a past e-mail never sends it (the add page: an outgoing e-mail added as
            // completed is sent): it is added not completed, and completed afterwards.
            if activity_type(&fields) == Some(ACTIVITY_EMAIL)
                && fields.get("COMPLETED").is_some_and(|c| c == "Y")
            {
                fields.insert("COMPLETED".into(), Value::String("N".into()));
                fields.insert(COMPLETE_AFTER.into(), Value::Bool(true));
            }
            Command { method: Method::CrmActivityAdd, params: object([("fields", Value::Object(fields))]) }
        }
        Entity::Crm(entity_type_id) => {
            match target.entity.key_field() {
                KeyField::Origin => {
                    fields.insert("originatorId".into(), Value::String(target.origin.clone()));
                    fields.insert("originId".into(), Value::String(key));
                }
                KeyField::XmlId => {
                    fields.insert("xmlId".into(), Value::String(xml_id(&target.origin, &key)));
                }
                KeyField::Email | KeyField::Activity | KeyField::RecordXmlId | KeyField::None => {}
            }
            if !fm.is_empty() {
                let fm: Vec<Value> = fm
                    .into_iter()
                    .map(|v| {
                        object([
                            ("typeId", Value::String(v.type_id.into())),
                            ("valueType", Value::String(v.value_type.into())),
                            ("value", Value::String(v.value)),
                        ])
                    })
                    .collect();
                fields.insert("fm".into(), Value::Array(fm));
            }
            if target.method == CreateMethod::Import {
                // One item a command, so that each row keeps its own fate in the send loop.
                return Command {
                    method: Method::CrmItemBatchImport,
                    params: object([
                        ("entityTypeId", Value::from(entity_type_id)),
                        ("data", Value::Array(vec![Value::Object(fields)])),
                        ("useOriginalUfNames", Value::String(yn(target.use_original_uf_names).into())),
                    ]),
                };
            }
            Command {
                method: Method::CrmItemAdd,
                params: object([
                    ("entityTypeId", Value::from(entity_type_id)),
                    ("fields", Value::Object(fields)),
                    ("useOriginalUfNames", Value::String(yn(target.use_original_uf_names).into())),
                ]),
            }
        }
    }
}

/// Builds a JSON object without going through serde (moves the values, copies nothing).
fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    // Plain inserts: `collect` sorts and bulk-builds, which costs more for a few keys.
    let mut map = Map::new();
    for (k, v) in entries {
        map.insert(k.to_string(), v);
    }
    Value::Object(map)
}

/// The marker an e-mail activity's add carries when it is to be completed once added
/// ([`completion_of`]); never sent (the send loop takes it off before the command leaves).
pub const COMPLETE_AFTER: &str = "$completeAfterAdd";

/// The `crm.activity.update` that marks the e-mail activity `id` completed, when `add` (its
/// add command) carries [`COMPLETE_AFTER`].
pub fn completion_of(add: &Command, id: u64) -> Option<Command> {
    let wanted = add.method == Method::CrmActivityAdd
        && fields_of(add).is_some_and(|f| f.get(COMPLETE_AFTER) == Some(&Value::Bool(true)));
    wanted.then(|| Command {
        method: Method::CrmActivityUpdate,
        params: json!({"id": id, "fields": {"COMPLETED": "Y"}}),
    })
}

/// `cmd` as it is sent: without the markers only b24import reads ([`COMPLETE_AFTER`]).
pub fn wire_form(cmd: &Command) -> std::borrow::Cow<'_, Command> {
    if fields_of(cmd).is_some_and(|f| f.contains_key(COMPLETE_AFTER)) {
        let mut out = cmd.clone();
        if let Some(f) = fields_of_mut(&mut out) {
            f.remove(COMPLETE_AFTER);
        }
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(cmd)
    }
}

/// The command that changes `fields` of the existing item `id` (send only what changed).
pub fn update_command(target: &TargetPlan, id: u64, fields: Map<String, Value>) -> Command {
    match target.entity {
        Entity::Requisite | Entity::BankDetail | Entity::Address => {
            record::update_of(target.entity, id, fields).expect("a record kind")
        }
        // Never updated: a parent's set replaces its rows (`pipeline::products`).
        Entity::ProductRows => products::set_of("", id, vec![fields]),
        Entity::Activity => Command {
            method: Method::CrmActivityUpdate,
            params: object([("id", Value::from(id)), ("fields", Value::Object(fields))]),
        },
        Entity::Comment => Command {
            method: Method::CrmTimelineCommentUpdate,
            params: object([("id", Value::from(id)), ("fields", Value::Object(fields))]),
        },
        Entity::User => {
            let mut params = fields;
            params.insert("ID".into(), json!(id));
            Command { method: Method::UserUpdate, params: Value::Object(params) }
        }
        Entity::Crm(entity_type_id) => Command {
            method: Method::CrmItemUpdate,
            params: object([
                ("entityTypeId", Value::from(entity_type_id)),
                ("id", Value::from(id)),
                ("fields", Value::Object(fields)),
                ("useOriginalUfNames", Value::String(yn(target.use_original_uf_names).into())),
            ]),
        },
    }
}

/// The `xmlId` written on invoices and smart-process items: `origin:key`.
pub fn xml_id(origin: &str, key: &str) -> String {
    format!("{origin}:{key}")
}

fn yn(b: bool) -> &'static str {
    if b { "Y" } else { "N" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{FmValue, Mode, OnExisting, Pending};
    use crate::source::RowRef;

    fn target(entity: Entity) -> TargetPlan {
        TargetPlan {
            entity,
            origin: "legacy".into(),
            use_original_uf_names: false,
            mode: Mode::Create,
            on_existing: OnExisting::Use,
            method: CreateMethod::Add,
            smart_process: None,
            provision: Default::default(),
            parent: None,
            preset: None,
        }
    }

    fn row() -> MappedRow {
        let mut fields = Map::new();
        fields.insert("name".into(), json!("Иван"));
        MappedRow {
            row: RowRef { file: "c.csv".into(), sheet: None, line: 2 },
            key: "C-1".into(),
            fields,
            fm: vec![FmValue { type_id: "PHONE", value_type: "WORK", value: "+7999".into() }],
            pending: Vec::new(),
        }
    }

    #[test]
    fn contact_add_carries_origin_key_and_fm_array() {
        let cmd = add_command(&target(Entity::Crm(3)), row()).complete(Vec::new());
        assert_eq!(cmd.method, Method::CrmItemAdd);
        assert_eq!(
            cmd.params,
            json!({"entityTypeId": 3, "useOriginalUfNames": "N", "fields": {
                "name": "Иван", "originatorId": "legacy", "originId": "C-1",
                "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+7999"}]}})
        );
    }

    #[test]
    fn smart_process_add_carries_xml_id() {
        let mut r = row();
        r.fm.clear();
        let cmd = add_command(&target(Entity::Crm(1032)), r).complete(Vec::new());
        assert_eq!(cmd.params["fields"]["xmlId"], json!("legacy:C-1"));
        assert!(cmd.params["fields"].get("originId").is_none());
    }

    #[test]
    fn user_add_is_the_flat_field_object() {
        let mut r = row();
        r.fm.clear();
        r.fields = Map::from_iter([("EMAIL".to_string(), json!("a@b.ru"))]);
        let cmd = add_command(&target(Entity::User), r).complete(Vec::new());
        assert_eq!(cmd.method, Method::UserAdd);
        assert_eq!(cmd.params, json!({"EMAIL": "a@b.ru"}));
    }

    fn pending_row() -> MappedRow {
        let mut r = row();
        r.fm.clear();
        r.pending = vec![
            PendingField {
                name: "companyId".into(),
                multiple: false,
                values: vec![Pending::Lookup { step: "companies".into(), key: "CO-1".into() }],
            },
            PendingField {
                name: "observers".into(),
                multiple: true,
                values: vec![
                    Pending::User { email: "a@b.ru".into() },
                    Pending::User { email: "c@d.ru".into() },
                ],
            },
        ];
        r
    }

    #[test]
    fn pending_fields_are_completed_into_the_fields_object_in_order() {
        let draft = add_command(&target(Entity::Crm(3)), pending_row());
        assert_eq!(draft.pending().len(), 2);
        let values = draft.pending().iter().map(|f| f.value(vec![json!(7); f.values.len()])).collect();
        let cmd = draft.complete(values);
        assert_eq!(cmd.params["fields"]["companyId"], json!(7));
        assert_eq!(cmd.params["fields"]["observers"], json!([7, 7]));
        assert_eq!(cmd.params["fields"]["name"], json!("Иван"));
    }

    #[test]
    fn a_users_pending_field_is_completed_at_the_top_level() {
        let mut r = pending_row();
        r.pending.truncate(1);
        let cmd = add_command(&target(Entity::User), r).complete(vec![json!(5)]);
        assert_eq!(cmd.params["companyId"], json!(5));
    }

    #[test]
    fn emit_shows_pending_values_as_their_documented_markers() {
        let draft = add_command(&target(Entity::Crm(3)), pending_row());
        let params = draft.emit_params();
        assert_eq!(params["fields"]["companyId"], json!({"$lookup": "companies", "key": "CO-1"}));
        assert_eq!(params["fields"]["observers"], json!([{"$user": "a@b.ru"}, {"$user": "c@d.ru"}]));
    }

    #[test]
    fn an_import_step_sends_one_item_a_batch_import_command_with_its_key_and_lookups_filled() {
        let mut t = target(Entity::Crm(2));
        t.method = CreateMethod::Import;
        let mut r = pending_row();
        r.fields.insert("createdTime".into(), json!("2019-03-01T10:00:00+03:00"));
        let draft = add_command(&t, r);
        assert_eq!(draft.field("createdTime"), Some(&json!("2019-03-01T10:00:00+03:00")));
        let values = draft.pending().iter().map(|f| f.value(vec![json!(7); f.values.len()])).collect();
        let cmd = draft.complete(values);
        assert_eq!(cmd.method, Method::CrmItemBatchImport);
        assert_eq!(cmd.method.as_str(), "crm.item.batchImport");
        assert_eq!(cmd.params["entityTypeId"], json!(2));
        let item = &cmd.params["data"][0];
        assert_eq!(item["originId"], json!("C-1"));
        assert_eq!(item["companyId"], json!(7));
        assert_eq!(fields_of(&cmd).map(|f| f.len()), item.as_object().map(|o| o.len()));
        assert!(cmd.params.get("fields").is_none());
    }

    #[test]
    fn update_sends_id_and_only_given_fields() {
        let cmd =
            update_command(&target(Entity::Crm(2)), 17, Map::from_iter([("title".to_string(), json!("X"))]));
        assert_eq!(
            cmd.params,
            json!({"entityTypeId": 2, "id": 17, "fields": {"title": "X"}, "useOriginalUfNames": "N"})
        );
    }

    #[test]
    fn an_email_activity_is_never_added_completed_and_is_completed_after_its_add() {
        use crate::mapping::ParentPlan;
        let mut t = target(Entity::Activity);
        t.parent = Some(ParentPlan {
            step: "contacts".into(),
            column: 0,
            label: "C".into(),
            entity: Some(Entity::Crm(3)),
        });
        let row = |type_id: &str, completed: &str| MappedRow {
            row: RowRef { file: "a.csv".into(), line: 2, sheet: None },
            key: "A1".into(),
            fields: serde_json::from_value(
                json!({"TYPE_ID": type_id, "COMPLETED": completed, "SUBJECT": "s"}),
            )
            .unwrap(),
            fm: Vec::new(),
            pending: Vec::new(),
        };
        let email = add_command(&t, row("4", "Y")).complete(Vec::new());
        let wire = wire_form(&email);
        assert_eq!(wire.params["fields"]["COMPLETED"], "N");
        assert!(wire.params["fields"].get(COMPLETE_AFTER).is_none(), "the marker is never sent");
        assert_eq!(wire.params["fields"]["OWNER_TYPE_ID"], 3);
        assert_eq!(wire.params["fields"]["ORIGIN_ID"], "A1");
        let completion = completion_of(&email, 9).expect("completed afterwards");
        assert_eq!(completion.method, Method::CrmActivityUpdate);
        assert_eq!(completion.params, json!({"id": 9, "fields": {"COMPLETED": "Y"}}));
        // A call keeps its own COMPLETED and owes nothing.
        let call = add_command(&t, row("2", "Y")).complete(Vec::new());
        assert_eq!(call.params["fields"]["COMPLETED"], "Y");
        assert!(completion_of(&call, 9).is_none());
    }
}
