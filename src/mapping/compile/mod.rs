//! `MappingSpec` (as written) + the source's header -> `MappingPlan` (checked, columns resolved
//! to indices, transforms bound).
//!
//! Owns: every rule about what a mapping may say: one input per field, columns that exist,
//! types that fit the entity, paths that resolve. Collects every problem before reporting.

use std::collections::{BTreeMap, HashMap};
use std::ops::{Range, RangeInclusive};
use std::path::PathBuf;

use chrono::FixedOffset;
use serde_json::Value;
use toml::Spanned;

use super::diagnostic::{Diagnostics, closest, suggest};
use super::entity::{ENTITY_NAMES, Entity, FM_TYPES};
use super::spec::{
    FieldRule, FieldSpec, MappingFile, Mode, Number, OnAmbiguous, OnDuplicate, OnExisting, SheetSpec, UfType,
    ValueType,
};
use super::transform;
use super::{names, spa};
use crate::source::{SheetSelector, SourceOptions};

/// A checked mapping, ready to apply to records.
#[derive(Debug, Clone)]
pub struct MappingPlan {
    /// Step name.
    pub name: String,
    pub mapping_path: PathBuf,
    pub source: SourceOptions,
    pub headers: Vec<String>,
    /// Columns whose joined values are the row key; empty = the row number.
    pub key_columns: Vec<usize>,
    pub target: TargetPlan,
    pub fields: Vec<FieldPlan>,
    pub fm: Vec<FmPlan>,
    pub require_any: Vec<RequireAnyPlan>,
    /// Duplicate control against the portal's existing items (`on_duplicate` of [target]).
    pub duplicates: DuplicateRule,
    /// Things worth telling the user that do not stop anything (unknown portal field names,
    /// lookups resolved at run time).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct TargetPlan {
    pub entity: Entity,
    /// `originatorId` of created CRM items.
    pub origin: String,
    pub use_original_uf_names: bool,
    pub mode: Mode,
    pub on_existing: OnExisting,
    /// `smart_process = "<title>"`: the smart process is found by title in the portal. Its
    /// entityTypeId is known only online, so until [`MappingPlan::bind_smart_process`] gives it,
    /// `entity` is `Entity::Crm(`[`UNBOUND_SMART_PROCESS`]`)`: offline `validate` checks the
    /// fields as a smart process's and emits `"entityTypeId": 0`; `run` and `validate
    /// --online` bind it from the schema they read before anything else uses `entity`.
    pub smart_process: Option<String>,
    /// `[target.provision]`.
    pub provision: ProvisionPlan,
}

/// The entityTypeId of a `smart_process = "<title>"` step before the portal is read (0: no
/// entity has it, so nothing can be sent by mistake).
pub const UNBOUND_SMART_PROCESS: u32 = 0;

/// The first entityTypeId a smart process can have (its fields stand for any smart process's).
const FIRST_SPA_TYPE_ID: u32 = 1030;

/// `[target.provision]`, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisionPlan {
    /// The digital workspace (by title) that must hold the smart process.
    pub workspace: Option<String>,
    /// Flags to switch on besides those the mapped fields need (documented names only).
    pub flags: Vec<&'static str>,
}

/// `create = {...}`, checked: how `provision` creates a missing custom field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePlan {
    pub kind: UfType,
    pub label: String,
    pub multiple: bool,
    pub required: bool,
}

impl MappingPlan {
    /// Gives a `smart_process = "<title>"` step the entityTypeId the portal's schema says the
    /// title has (no-op for other steps).
    pub fn bind_smart_process(&mut self, entity_type_id: u32) {
        if self.target.smart_process.is_some() {
            self.target.entity = Entity::Crm(entity_type_id);
        }
    }

    /// Whether the step targets a smart process whose entityTypeId is not known yet.
    pub fn is_unbound(&self) -> bool {
        self.target.smart_process.is_some() && self.target.entity == Entity::Crm(UNBOUND_SMART_PROCESS)
    }
}

/// `on_duplicate`, `duplicate_by` and `on_ambiguous` of [target], checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DuplicateRule {
    pub on_duplicate: OnDuplicate,
    /// `EMAIL` / `PHONE`: the `[[fm]]` types a row is matched by.
    pub by: Vec<&'static str>,
    pub on_ambiguous: OnAmbiguous,
}

impl DuplicateRule {
    /// Whether rows to create are checked against the portal first.
    pub fn checks(&self) -> bool {
        self.on_duplicate != OnDuplicate::Create && !self.by.is_empty()
    }
}

/// One portal field and how to compute it from a record.
#[derive(Debug, Clone)]
pub struct FieldPlan {
    pub name: String,
    /// How problems name the input: the column(s), or the field for constants and templates.
    pub label: String,
    pub input: Input,
    pub kind: ValueType,
    pub required: bool,
    pub trim: bool,
    pub formats: transform::Formats,
    pub decimal_comma: bool,
    /// Exact keys, plus a lower-cased index for case-insensitive matches.
    pub map: Option<ValueMap>,
    pub default: Option<String>,
    pub split: Option<String>,
    pub multiple: bool,
    pub file: Option<FileRule>,
    pub currency: Option<String>,
    pub offset: FixedOffset,
    pub deferred: Option<Deferred>,
    /// Custom fields: how `provision` creates the field when the portal lacks it.
    pub create: Option<CreatePlan>,
    /// `type = "enum"`: labels missing from the portal's list are added by `provision`.
    pub add_missing_values: bool,
}

#[derive(Debug, Clone)]
pub enum Input {
    Column {
        index: usize,
        name: String,
    },
    /// Joined with a space; for money the second column is the currency.
    Columns(Vec<(usize, String)>),
    Const(Value),
    Template(Vec<Piece>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Column(usize),
}

#[derive(Debug, Clone)]
pub struct ValueMap {
    pub exact: BTreeMap<String, String>,
    pub folded: HashMap<String, String>,
}

impl ValueMap {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.exact.get(key).or_else(|| self.folded.get(&key.trim().to_lowercase())).map(String::as_str)
    }
}

#[derive(Debug, Clone)]
pub struct FileRule {
    /// Canonical folder that file paths must stay inside.
    pub base_dir: PathBuf,
    /// The folder as the mapping file names it (for messages).
    pub shown_as: String,
    pub max_bytes: u64,
}

/// A value that names something in the portal, resolved by the run (not by `validate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deferred {
    /// The source key of a row of another step; becomes that item's portal ID.
    Lookup(String),
    /// An e-mail; becomes that user's ID.
    UserByEmail,
    /// `type = "enum"`: a label; becomes the ID of the list item, stage, source, category or
    /// currency the portal's schema gives it.
    Label,
}

#[derive(Debug, Clone)]
pub struct FmPlan {
    pub type_id: &'static str,
    pub value_type: &'static str,
    pub column: usize,
    pub column_name: String,
    pub split: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RequireAnyPlan {
    pub columns: Vec<(usize, String)>,
    pub message: String,
}

const DEFAULT_MAX_FILE_MB: f64 = 20.0;
/// The largest `max_file_mb`: the portal takes at most 2 GB per request, and base64 makes a file
/// a third larger (`docs/portal-protocol.md` §1.2).
const MAX_FILE_MB: f64 = 1024.0;
/// The largest `header_row` (the row count of an Excel sheet).
const MAX_HEADER_ROW: i64 = 1_048_576;
/// The largest sheet position accepted (far beyond any real workbook).
const MAX_SHEETS: i64 = 10_000;

impl MappingFile {
    /// How to open this mapping's source (paths resolved against the mapping file's folder).
    /// Only problems of `[source]` itself are returned here; the file's other shape problems
    /// come out of [`MappingFile::compile`].
    pub fn source_options(&self) -> Result<SourceOptions, Diagnostics> {
        let mut diags = Diagnostics::default();
        let src = &self.spec.source;
        let Some(path) = &src.path else {
            diags.push(
                self.diag(0..0, "missing `path` in [source] (the CSV or spreadsheet, relative to this file)"),
            );
            return Err(diags);
        };
        if path.get_ref().trim().is_empty() {
            diags.push(self.diag(
                path.span(),
                "`path` is empty: give the CSV or spreadsheet file, relative to this mapping file",
            ));
            return Err(diags);
        }
        let mut options = SourceOptions::new(self.dir().join(path.get_ref()));
        if let Some(d) = &src.delimiter {
            match parse_delimiter(d.get_ref()) {
                Some(b'"' | b'\r' | b'\n') => diags.push(self.diag(
                    d.span(),
                    "the delimiter cannot be a quote or a line break: those end quoted cells and rows \
                     (e.g. \",\", \";\", \"\\t\" or \"|\")",
                )),
                Some(b) => options.delimiter = Some(b),
                None => diags.push(self.diag(
                    d.span(),
                    format!(
                        "delimiter `{}` must be one character, e.g. \",\", \";\", \"\\t\" or \"|\"",
                        d.get_ref()
                    ),
                )),
            }
        }
        if let Some(e) = &src.encoding {
            let label = e.get_ref().trim();
            if label.eq_ignore_ascii_case("auto")
                || encoding_rs::Encoding::for_label(label.as_bytes()).is_some()
            {
                options.encoding = Some(label.to_string());
            } else {
                diags.push(self.diag(
                    e.span(),
                    format!(
                        "unknown encoding `{label}` (try \"utf-8\", \"windows-1251\", \"windows-1252\", \"koi8-r\", \"utf-16le\" or \"auto\")"
                    ),
                ));
            }
        }
        if let Some(sheet) = &src.sheet {
            match sheet.get_ref() {
                SheetSpec::Name(n) => options.sheet = Some(SheetSelector::Name(n.clone())),
                SheetSpec::Index(n) => match whole_number(n, 1..=MAX_SHEETS) {
                    Some(i) => options.sheet = Some(SheetSelector::Index(i as usize)),
                    None => diags.push(self.diag(
                        sheet.span(),
                        format!(
                            "`sheet` must be a sheet name in quotes, or the sheet's position: a whole number \
                             from 1 (the first sheet) to {MAX_SHEETS}, found {}",
                            self.found(sheet.span(), n)
                        ),
                    )),
                },
            }
        }
        if let Some(h) = &src.header_row {
            match whole_number(h.get_ref(), 1..=MAX_HEADER_ROW) {
                Some(row) => options.header_row = row as usize,
                None => diags.push(self.diag(
                    h.span(),
                    format!(
                        "`header_row` must be a whole number from 1 to {MAX_HEADER_ROW} (the row that holds \
                         the column names; the first row is 1), found {}",
                        self.found(h.span(), h.get_ref())
                    ),
                )),
            }
        }
        options.multiline_cells = src.multiline_cells.unwrap_or(false);
        if diags.is_empty() { Ok(options) } else { Err(diags) }
    }

    /// Checks the mapping against the source header and builds the plan.
    pub fn compile(&self, headers: &[String]) -> Result<MappingPlan, Diagnostics> {
        let source = self.source_options();
        let mut diags = self.problems.clone();
        let source = source.unwrap_or_else(|d| {
            diags.extend(d);
            SourceOptions::new(self.dir())
        });
        let mut c = Compiler { file: self, headers, diags, notes: Vec::new() };
        let plan = c.plan(source);
        if c.diags.is_empty() {
            Ok(plan)
        } else {
            c.diags.0.sort_by_key(|d| (d.line, d.col));
            c.diags.0.dedup();
            Err(c.diags)
        }
    }
}

impl MappingFile {
    /// A number as the file writes it, for "found ..." (`70000`, `"2" (a string)`).
    fn found(&self, span: Range<usize>, n: &Number) -> String {
        let written = self.written(span);
        match n {
            Number::Other(kind) => format!("{written} ({kind})"),
            Number::Int(_) | Number::Float(_) => written.to_string(),
        }
    }
}

/// The whole number `n` when it lies in `range`.
fn whole_number(n: &Number, range: RangeInclusive<i64>) -> Option<i64> {
    match n {
        Number::Int(i) if range.contains(i) => Some(*i),
        _ => None,
    }
}

fn parse_delimiter(s: &str) -> Option<u8> {
    match s {
        "\\t" | "tab" | "TAB" => Some(b'\t'),
        _ if s.len() == 1 && s.is_ascii() => Some(s.as_bytes()[0]),
        _ => None,
    }
}

struct Compiler<'a> {
    file: &'a MappingFile,
    headers: &'a [String],
    diags: Diagnostics,
    notes: Vec<String>,
}

impl Compiler<'_> {
    fn err(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diags.push(self.file.diag(span, message));
    }

    fn plan(&mut self, source: SourceOptions) -> MappingPlan {
        let spec = &self.file.spec;
        let name = spec.name.as_ref().map(|n| n.get_ref().trim().to_string()).unwrap_or_default();
        if let Some(n) = &spec.name
            && (name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c)))
        {
            self.err(n.span(), "step name must be non-empty letters, digits, `-`, `_` or `.`");
        }
        let target = self.target();
        let key_columns = match &spec.source.key {
            Some(key) => {
                let names = key.get_ref().to_vec();
                if names.is_empty() {
                    self.err(key.span(), "key needs at least one column");
                }
                names.iter().filter_map(|n| self.column(n, key.span(), "key")).collect()
            }
            None => Vec::new(),
        };
        // A smart process by title has no entityTypeId yet; its fields are any smart process's.
        let field_entity =
            if target.smart_process.is_some() { Entity::Crm(FIRST_SPA_TYPE_ID) } else { target.entity };
        let mut fields: Vec<FieldPlan> = spec
            .fields
            .iter()
            .filter_map(|(name, field)| self.field(name.get_ref(), name.span(), field, field_entity))
            .collect();
        // Names the portal can never hold are errors; each custom field is spelled as the
        // step's `useOriginalUfNames` needs (`UF_CRM_X` and its camelCase are one field).
        if matches!(target.entity, Entity::Crm(_)) {
            for p in names::check_spec(spec) {
                self.err(p.span, p.message);
            }
            for f in &mut fields {
                f.name = names::spelling(&f.name, target.use_original_uf_names);
            }
        }
        let fm = self.fm(target.entity);
        let require_any = self.require_any();
        let duplicates = self.duplicates(&target, &fm);
        if target.entity == Entity::User
            && !spec.fields.iter().any(|(n, _)| n.get_ref() == "EMAIL")
            && !self.diags.0.iter().any(|d| d.message.contains("EMAIL"))
        {
            self.err(0..0, "a user step needs an `EMAIL` field in [fields] (users are keyed by e-mail)");
        }
        MappingPlan {
            name,
            mapping_path: self.file.path.clone(),
            source,
            headers: self.headers.to_vec(),
            key_columns,
            target,
            fields,
            fm,
            require_any,
            duplicates,
            notes: std::mem::take(&mut self.notes),
        }
    }

    fn target(&mut self) -> TargetPlan {
        let t = &self.file.spec.target;
        let given: Vec<(&str, Range<usize>)> = [
            t.entity.as_ref().map(|e| ("entity", e.span())),
            t.entity_type_id.as_ref().map(|e| ("entity_type_id", e.span())),
            t.smart_process.as_ref().map(|e| ("smart_process", e.span())),
        ]
        .into_iter()
        .flatten()
        .collect();
        if given.len() > 1 {
            let names: Vec<String> = given.iter().map(|(n, _)| format!("`{n}`")).collect();
            self.err(
                given[1].1.clone(),
                format!(
                    "set only one of `entity`, `entity_type_id` or `smart_process` in [target], not {}",
                    names.join(" and ")
                ),
            );
        }
        let mut smart_process = None;
        let entity = match (&t.entity, &t.entity_type_id, &t.smart_process) {
            _ if given.len() > 1 => Entity::Crm(0),
            (Some(e), None, None) => Entity::from_name(e.get_ref()).unwrap_or_else(|| {
                let hint = suggest(e.get_ref(), ENTITY_NAMES.iter().copied());
                self.err(
                    e.span(),
                    format!(
                        "unknown entity `{}`{hint} (one of {}, or entity_type_id = N for a smart process)",
                        e.get_ref(),
                        ENTITY_NAMES.join(", ")
                    ),
                );
                Entity::Crm(0)
            }),
            (None, Some(id), None) => match whole_number(id.get_ref(), 1..=i64::from(u32::MAX)) {
                Some(id_value) => {
                    let id_value = u32::try_from(id_value).expect("checked to fit in the range above");
                    let builtin = Entity::is_builtin_type_id(id_value);
                    if !builtin && !Entity::is_valid_spa_id(id_value) {
                        self.err(
                            id.span(),
                            format!(
                                "entity_type_id {id_value} is not a smart process id (even and >= 1030, or 128..=192)"
                            ),
                        );
                    }
                    Entity::Crm(id_value)
                }
                None => {
                    self.err(
                        id.span(),
                        format!(
                            "`entity_type_id` must be a whole number, a smart process's entityTypeId (even and \
                             >= 1030, or 128..=192), found {}",
                            self.file.found(id.span(), id.get_ref())
                        ),
                    );
                    Entity::Crm(0)
                }
            },
            (None, None, Some(title)) => {
                let name = title.get_ref().trim();
                if name.is_empty() {
                    self.err(title.span(), "`smart_process` is empty: give the smart process's title");
                } else {
                    smart_process = Some(name.to_string());
                }
                Entity::Crm(UNBOUND_SMART_PROCESS)
            }
            _ => {
                self.err(
                    0..0,
                    "missing [target] `entity = \"contact\"` (or `entity_type_id = N`, or `smart_process = \"<title>\"`)",
                );
                Entity::Crm(0)
            }
        };
        let provision = self.provision(entity, smart_process.is_some());
        let origin =
            t.origin.as_ref().map_or_else(|| "b24import".to_string(), |o| o.get_ref().trim().to_string());
        if let Some(o) = &t.origin
            && origin.is_empty()
        {
            self.err(o.span(), "origin must not be empty");
        }
        if let Some(oe) = &t.on_existing
            && entity != Entity::User
        {
            self.err(oe.span(), "on_existing applies to user steps only");
        }
        TargetPlan {
            entity,
            origin,
            use_original_uf_names: t.use_original_uf_names,
            mode: t.mode.as_ref().map(|m| *m.get_ref()).unwrap_or_default(),
            on_existing: t.on_existing.as_ref().map(|m| *m.get_ref()).unwrap_or_default(),
            smart_process,
            provision,
        }
    }

    /// `[target.provision]`: a workspace and flags make sense for smart processes only; flags
    /// must be ones the `crm.type.update` page documents.
    fn provision(&mut self, entity: Entity, by_title: bool) -> ProvisionPlan {
        let Some(p) = &self.file.spec.target.provision else { return ProvisionPlan::default() };
        let spa = by_title || matches!(entity, Entity::Crm(id) if !Entity::is_builtin_type_id(id));
        if !spa && entity != Entity::Crm(0) {
            self.err(
                p.span(),
                format!(
                    "[target.provision] applies to smart processes (smart_process = \"<title>\"), not to {}",
                    entity.name()
                ),
            );
        }
        let p = p.get_ref();
        let workspace = p.workspace.as_ref().and_then(|w| {
            let title = w.get_ref().trim();
            if title.is_empty() {
                self.err(w.span(), "`workspace` is empty: give the digital workspace's title");
            }
            (!title.is_empty()).then(|| title.to_string())
        });
        let mut flags = Vec::new();
        for f in &p.flags {
            match spa::FLAGS.iter().find(|known| **known == f.get_ref().as_str()) {
                Some(known) => {
                    if !flags.contains(known) {
                        flags.push(*known);
                    }
                }
                None => {
                    let hint = suggest(f.get_ref(), spa::FLAGS.iter().copied());
                    let hint =
                        if hint.is_empty() { format!(" (one of {})", spa::FLAGS.join(", ")) } else { hint };
                    self.err(f.span(), format!("unknown smart-process flag `{}`{hint}", f.get_ref()));
                }
            }
        }
        ProvisionPlan { workspace, flags }
    }

    /// `on_duplicate`, `duplicate_by`, `on_ambiguous`: for lead, contact and company only (the
    /// portal matches by phone and e-mail); `duplicate_by` names `[[fm]]` types the mapping
    /// has, and defaults to the PHONE/EMAIL types it has.
    fn duplicates(&mut self, target: &TargetPlan, fm: &[FmPlan]) -> DuplicateRule {
        let t = &self.file.spec.target;
        let on_duplicate = t.on_duplicate.as_ref().map(|m| *m.get_ref()).unwrap_or_default();
        let on_ambiguous = t.on_ambiguous.as_ref().map(|m| *m.get_ref()).unwrap_or_default();
        let set = [
            ("on_duplicate", t.on_duplicate.as_ref().map(Spanned::span)),
            ("duplicate_by", t.duplicate_by.as_ref().map(Spanned::span)),
            ("on_ambiguous", t.on_ambiguous.as_ref().map(Spanned::span)),
        ];
        if !target.entity.has_multifields() {
            if target.entity != Entity::Crm(0) {
                for (key, span) in set.iter().filter_map(|(k, s)| Some((k, s.clone()?))) {
                    self.err(
                        span,
                        format!(
                            "{key} applies to lead, contact and company steps only (the portal matches \
                             duplicates by phone and e-mail); remove it from this {} step",
                            target.entity.name()
                        ),
                    );
                }
            }
            return DuplicateRule::default();
        }
        let mut have: Vec<&'static str> = Vec::new();
        for f in fm {
            if matches!(f.type_id, "EMAIL" | "PHONE") && !have.contains(&f.type_id) {
                have.push(f.type_id);
            }
        }
        let mut by = Vec::new();
        match &t.duplicate_by {
            None => by.clone_from(&have),
            Some(list) if list.get_ref().is_empty() => {
                self.err(list.span(), "duplicate_by needs at least one of \"EMAIL\", \"PHONE\"");
            }
            Some(list) => {
                for v in list.get_ref() {
                    let upper = v.get_ref().trim().to_uppercase();
                    let Some(kind) = ["EMAIL", "PHONE"].into_iter().find(|k| *k == upper) else {
                        let hint = suggest(v.get_ref(), ["EMAIL", "PHONE"]);
                        self.err(
                            v.span(),
                            format!(
                                "unknown duplicate_by `{}`{hint} (EMAIL or PHONE: the portal matches \
                                 duplicates by communication only)",
                                v.get_ref()
                            ),
                        );
                        continue;
                    };
                    if !have.contains(&kind) {
                        self.err(
                            v.span(),
                            format!(
                                "duplicate_by names {kind}, but the mapping has no [[fm]] of type {kind}; \
                                 add one or remove {kind} from duplicate_by"
                            ),
                        );
                    } else if !by.contains(&kind) {
                        by.push(kind);
                    }
                }
            }
        }
        if on_duplicate != OnDuplicate::Create
            && have.is_empty()
            && let Some(span) = set[0].1.clone()
        {
            self.err(
                span,
                "on_duplicate needs a PHONE or EMAIL [[fm]] column to match by; add one, or remove on_duplicate",
            );
        }
        if on_duplicate == OnDuplicate::Create && (set[1].1.is_some() || set[2].1.is_some()) {
            self.notes.push(
                "duplicate_by and on_ambiguous have no effect while on_duplicate = \"create\" (no check is made)"
                    .into(),
            );
        } else if on_duplicate != OnDuplicate::Create && target.mode == Mode::Update {
            self.notes
                .push("on_duplicate has no effect in mode = \"update\" (it never creates items)".into());
        }
        DuplicateRule { on_duplicate, by, on_ambiguous }
    }

    /// Resolves a column name to its index, or reports it with the closest header names.
    fn column(&mut self, name: &str, span: Range<usize>, what: &str) -> Option<usize> {
        if let Some(i) = self.headers.iter().position(|h| h == name) {
            let count = self.headers.iter().filter(|h| *h == name).count();
            let note =
                format!("column \"{name}\" appears {count} times in the header; the first one is used");
            if count > 1 && !self.notes.contains(&note) {
                self.notes.push(note);
            }
            return Some(i);
        }
        let hint = suggest(name, self.headers.iter().map(String::as_str));
        let list = if self.headers.len() <= 12 {
            format!(
                " (the header has: {})",
                self.headers.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ")
            )
        } else {
            String::new()
        };
        self.err(span, format!("{what}: column \"{name}\" is not in the source header{hint}{list}"));
        None
    }

    fn field(
        &mut self,
        name: &str,
        span: Range<usize>,
        field: &FieldSpec,
        entity: Entity,
    ) -> Option<FieldPlan> {
        self.check_field_name(name, span.clone(), entity);
        let shorthand;
        let rule = match field {
            FieldSpec::Column(col) => {
                shorthand = FieldRule { column: Some(col.clone()), ..FieldRule::default() };
                &shorthand
            }
            FieldSpec::Rule(rule) => rule,
        };
        let what = format!("field `{name}`");
        let inputs =
            [rule.column.is_some(), rule.columns.is_some(), rule.value.is_some(), rule.template.is_some()];
        let input = match inputs.iter().filter(|x| **x).count() {
            0 => {
                self.err(span, format!("{what}: needs one of `column`, `columns`, `value` or `template`"));
                return None;
            }
            1 => {
                if let Some(c) = &rule.column {
                    self.column(c.get_ref(), c.span(), &what)
                        .map(|index| Input::Column { index, name: c.get_ref().clone() })
                } else if let Some(cs) = &rule.columns {
                    let resolved: Vec<_> = cs
                        .get_ref()
                        .iter()
                        .filter_map(|c| self.column(c, cs.span(), &what).map(|i| (i, c.clone())))
                        .collect();
                    if cs.get_ref().is_empty() {
                        self.err(cs.span(), format!("{what}: `columns` is empty"));
                    }
                    (resolved.len() == cs.get_ref().len()).then_some(Input::Columns(resolved))
                } else if let Some(v) = &rule.value {
                    match serde_json::to_value(v) {
                        Ok(v) => Some(Input::Const(v)),
                        Err(e) => {
                            self.err(span.clone(), format!("{what}: value cannot be sent: {e}"));
                            None
                        }
                    }
                } else {
                    let t = rule.template.as_ref().expect("counted one input: template");
                    self.template(t, &what).map(Input::Template)
                }
            }
            _ => {
                self.err(
                    span,
                    format!("{what}: give only one of `column`, `columns`, `value` or `template`"),
                );
                return None;
            }
        };
        let kind = rule.kind.as_ref().map(|k| *k.get_ref()).or_else(|| entity.known_type(name)).unwrap_or(
            if entity == Entity::User && matches!(name, "PERSONAL_PHOTO") {
                ValueType::File
            } else {
                ValueType::String
            },
        );
        // Fields the portal takes as arrays of IDs.
        let implied_multiple =
            matches!(name, "UF_DEPARTMENT" | "SONET_GROUP_ID" | "contactIds" | "observers" | "companyIds");
        let multiple = rule.multiple || implied_multiple;
        let split = rule.split.clone().or_else(|| implied_multiple.then(|| ",".to_string()));
        if let Some(s) = &rule.split
            && s.is_empty()
        {
            self.err(span.clone(), format!("{what}: `split` must not be empty"));
        }
        if kind == ValueType::Money && matches!(&input, Some(Input::Columns(c)) if c.len() > 2) {
            self.err(span.clone(), format!("{what}: money takes `columns = [amount, currency]`"));
        }
        let offset = match &rule.utc_offset {
            Some(o) => transform::parse_offset(o.get_ref()).unwrap_or_else(|| {
                self.err(o.span(), format!("{what}: utc_offset `{}` is not like \"+03:00\"", o.get_ref()));
                FixedOffset::east_opt(0).expect("zero offset")
            }),
            None => FixedOffset::east_opt(0).expect("zero offset"),
        };
        let written: Vec<String> = rule.formats.iter().map(|f| f.get_ref().clone()).collect();
        let formats = transform::Formats::new(&written).unwrap_or_else(|bad| {
            let at = rule.formats.iter().find(|f| *f.get_ref() == bad).map_or(span.clone(), |f| f.span());
            self.err(at, format!("{what}: `{bad}` is not a valid chrono format"));
            transform::Formats::default()
        });
        if !rule.formats.is_empty() && !matches!(kind, ValueType::Date | ValueType::Datetime) {
            self.err(span.clone(), format!("{what}: `formats` applies to type \"date\" or \"datetime\""));
        } else if !formats.written.is_empty() {
            for f in &rule.formats {
                if let Err(why) = transform::check_date_format(f.get_ref(), kind == ValueType::Datetime) {
                    self.err(f.span(), format!("{what}: format `{}` {why}", f.get_ref()));
                }
            }
        }
        if let Some(cur) = &rule.currency
            && (cur.len() != 3 || !cur.chars().all(|c| c.is_ascii_alphabetic()))
        {
            self.err(span.clone(), format!("{what}: currency `{cur}` is not a 3-letter code"));
        }
        let max_mb = match &rule.max_file_mb {
            Some(mb) => {
                let value = match mb.get_ref() {
                    Number::Int(i) => Some(*i as f64),
                    Number::Float(f) => Some(*f),
                    Number::Other(_) => None,
                };
                match value.filter(|v| *v > 0.0 && *v <= MAX_FILE_MB) {
                    Some(v) => v,
                    None => {
                        self.err(
                            mb.span(),
                            format!(
                                "{what}: `max_file_mb` must be a number of MiB greater than 0 and at most \
                                 {MAX_FILE_MB} (the portal takes at most 2 GB per request), found {}",
                                self.file.found(mb.span(), mb.get_ref())
                            ),
                        );
                        DEFAULT_MAX_FILE_MB
                    }
                }
            }
            None => DEFAULT_MAX_FILE_MB,
        };
        let file = if kind == ValueType::File {
            let base = rule
                .base_dir
                .as_ref()
                .map_or_else(|| self.file.dir().to_path_buf(), |b| self.file.dir().join(b.get_ref()));
            match base.canonicalize() {
                Ok(base_dir) => Some(FileRule {
                    base_dir,
                    shown_as: rule.base_dir.as_ref().map_or_else(|| ".".to_string(), |b| b.get_ref().clone()),
                    max_bytes: (max_mb * 1024.0 * 1024.0) as u64,
                }),
                Err(e) => {
                    let at = rule.base_dir.as_ref().map_or(span.clone(), |b| b.span());
                    self.err(at, format!("{what}: base_dir {} cannot be used: {e}", base.display()));
                    None
                }
            }
        } else {
            if rule.base_dir.is_some() || rule.max_file_mb.is_some() {
                self.err(span.clone(), format!("{what}: `base_dir`/`max_file_mb` apply to type \"file\""));
            }
            None
        };
        let deferred = match (&rule.lookup, &rule.user) {
            (Some(step), None) if step.get_ref().trim().is_empty() => {
                self.err(
                    step.span(),
                    format!("{what}: `lookup` names no step (e.g. lookup = \"companies\")"),
                );
                None
            }
            (Some(step), None) => Some(Deferred::Lookup(step.get_ref().clone())),
            (None, Some(u)) if u.get_ref() == "email" => {
                self.notes.push(format!("field `{name}`: user IDs are found by e-mail at run time"));
                Some(Deferred::UserByEmail)
            }
            (None, Some(u)) => {
                self.err(
                    u.span(),
                    format!("{what}: `user` supports only \"email\" (a user found by e-mail)"),
                );
                None
            }
            (Some(l), Some(_)) => {
                self.err(l.span(), format!("{what}: give `lookup` or `user`, not both"));
                None
            }
            (None, None) => None,
        };
        let deferred = match (deferred, kind) {
            (None, ValueType::Enum) => Some(Deferred::Label),
            (Some(_), ValueType::Enum) => {
                self.err(
                    span.clone(),
                    format!("{what}: type = \"enum\" already looks the value up; drop `lookup`/`user`"),
                );
                None
            }
            (d, _) => d,
        };
        let add_missing_values = match &rule.add_missing_values {
            Some(a) if *a.get_ref() && kind != ValueType::Enum => {
                self.err(
                    a.span(),
                    format!("{what}: `add_missing_values` applies to type = \"enum\" (a list of labels)"),
                );
                false
            }
            Some(a) => *a.get_ref(),
            None => false,
        };
        let create = rule.create.as_ref().and_then(|c| self.create(name, &what, c, multiple));
        let map = rule.map.as_ref().map(|m| ValueMap {
            exact: m.clone(),
            folded: m.iter().map(|(k, v)| (k.trim().to_lowercase(), v.clone())).collect(),
        });
        let input = input?;
        let label = match &input {
            Input::Column { name, .. } => name.clone(),
            Input::Columns(cols) => cols.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(" + "),
            Input::Const(_) | Input::Template(_) => name.to_string(),
        };
        let plan = FieldPlan {
            name: name.to_string(),
            label,
            input,
            kind,
            required: rule.required,
            trim: rule.trim.unwrap_or(true),
            formats,
            decimal_comma: rule.decimal_comma,
            map,
            default: rule.default.clone(),
            split,
            multiple,
            file,
            currency: rule.currency.clone(),
            offset,
            deferred,
            create,
            add_missing_values,
        };
        self.check_constants(&plan, rule, span);
        Some(plan)
    }

    /// `create = { type, label, multiple?, required? }`: only on custom fields; a type and a label
    /// are needed; `multiple` must agree with the rule's (the portal cannot change it later).
    fn create(
        &mut self,
        name: &str,
        what: &str,
        c: &Spanned<super::spec::CreateSpec>,
        multiple: bool,
    ) -> Option<CreatePlan> {
        if !Entity::is_custom_field(name) {
            self.err(
                c.span(),
                format!(
                    "{what}: `create` applies to custom fields (UF_CRM_... or ufCrm...); standard fields exist already"
                ),
            );
            return None;
        }
        let spec = c.get_ref();
        let kinds = "string, integer, double, boolean, date, datetime, enumeration, url, money or file";
        let Some(kind) = spec.kind.as_ref().map(|k| *k.get_ref()) else {
            self.err(c.span(), format!("{what}: `create` needs `type` ({kinds})"));
            return None;
        };
        let label = spec.label.as_ref().map(|l| l.get_ref().trim().to_string()).unwrap_or_default();
        if label.is_empty() {
            let at = spec.label.as_ref().map_or(c.span(), |l| l.span());
            self.err(at, format!("{what}: `create` needs a `label` (the field's name in the portal)"));
            return None;
        }
        if kind == UfType::Boolean && spec.multiple {
            self.err(c.span(), format!("{what}: a boolean custom field cannot be multiple"));
            return None;
        }
        if spec.multiple != multiple {
            self.err(
                c.span(),
                format!(
                    "{what}: `create` says multiple = {} but the rule sends {}; make them agree (the portal cannot \
                     change `multiple` once the field exists)",
                    spec.multiple,
                    if multiple { "an array (multiple = true)" } else { "one value" }
                ),
            );
        }
        Some(CreatePlan { kind, label, multiple: spec.multiple, required: spec.required })
    }

    /// A `map` value or a `default` the field's type refuses would reject every row that uses
    /// it: report it here, once.
    fn check_constants(&mut self, plan: &FieldPlan, rule: &FieldRule, span: Range<usize>) {
        if plan.deferred.is_some() || plan.kind == ValueType::File {
            return;
        }
        let kind = serde_json::to_value(plan.kind).ok().and_then(|v| v.as_str().map(str::to_string));
        let kind = kind.unwrap_or_default();
        let what = format!("field `{}`", plan.name);
        if let Some(d) = &rule.default
            && let Err(e) = super::apply::convert(plan, d)
        {
            self.err(
                span.clone(),
                format!(
                    "{what}: default `{d}` is not a valid {kind}: {}; every row that needs the default would be rejected",
                    e.message
                ),
            );
        }
        for (from, to) in rule.map.iter().flatten() {
            if let Err(e) = super::apply::convert(plan, to) {
                self.err(
                    span.clone(),
                    format!(
                        "{what}: map value `{to}` (for \"{from}\") is not a valid {kind}: {}; every row with \"{from}\" would be rejected",
                        e.message
                    ),
                );
            }
        }
    }

    /// Catches field names the portal would silently ignore.
    fn check_field_name(&mut self, name: &str, span: Range<usize>, entity: Entity) {
        if Entity::is_custom_field(name) || entity.known_type(name).is_some() || entity == Entity::Crm(0) {
            return;
        }
        if name == "fm" {
            self.err(span, "multifields are written as [[fm]] tables, not as a field");
            return;
        }
        let names: Vec<&str> = entity.known_fields().map(|(n, _)| *n).collect();
        if let Some(exact) = names.iter().find(|n| n.eq_ignore_ascii_case(name)) {
            self.err(
                span,
                format!("unknown field `{name}`, did you mean `{exact}`? (field names are case-sensitive)"),
            );
        } else {
            let hint = closest(name, names.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            // A smart process by title is checked as any smart process (no id to show yet).
            let what = if entity == Entity::Crm(FIRST_SPA_TYPE_ID)
                && self.file.spec.target.smart_process.is_some()
            {
                "smart process".to_string()
            } else {
                entity.name()
            };
            self.notes.push(format!(
                "field `{name}` is not a standard {what} field{hint}; the portal ignores unknown fields"
            ));
        }
    }

    /// `{Column}` placeholders and literal text; `{{` and `}}` are literal braces. A brace that
    /// opens or closes nothing is an error pointing at the brace itself.
    fn template(&mut self, t: &Spanned<String>, what: &str) -> Option<Vec<Piece>> {
        let text = t.get_ref().as_str();
        let at = self.string_positions(t);
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut ok = true;
        let mut i = 0;
        while let Some(c) = text[i..].chars().next() {
            let next = text[i + c.len_utf8()..].chars().next();
            match c {
                '{' | '}' if next == Some(c) => {
                    literal.push(c);
                    i += 2;
                }
                '{' => {
                    let rest = &text[i + 1..];
                    let Some(end) = rest.find(['{', '}']) else {
                        self.err(
                            at(i),
                            format!(
                                "{what}: template has a `{{` that is never closed (close it with `}}`, or write `{{{{` for a literal brace)"
                            ),
                        );
                        ok = false;
                        break;
                    };
                    if rest[end..].starts_with('{') {
                        self.err(
                            at(i),
                            format!(
                                "{what}: template has a `{{` that is not closed before the next `{{` (close it with `}}`, or write `{{{{` for a literal brace)"
                            ),
                        );
                        ok = false;
                        i += 1 + end;
                        continue;
                    }
                    let name = &rest[..end];
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    if name.trim().is_empty() {
                        self.err(
                            at(i),
                            format!("{what}: template has an empty placeholder `{{{name}}}`: put a column name inside, e.g. `{{First name}}`"),
                        );
                        ok = false;
                    } else {
                        match self.column(name, at(i), what) {
                            Some(index) => pieces.push(Piece::Column(index)),
                            None => ok = false,
                        }
                    }
                    i += 1 + end + 1;
                }
                '}' => {
                    self.err(
                        at(i),
                        format!(
                            "{what}: template has a `}}` that closes nothing (write `}}}}` for a literal brace)"
                        ),
                    );
                    ok = false;
                    i += 1;
                }
                other => {
                    literal.push(other);
                    i += other.len_utf8();
                }
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        ok.then_some(pieces)
    }

    /// Maps a byte offset inside a string value to its span in the file. Exact when the string
    /// is written without escapes (`"..."`, `'...'`, `"""..."""`); otherwise the whole string.
    fn string_positions(&self, s: &Spanned<String>) -> impl Fn(usize) -> Range<usize> + use<> {
        let span = s.span();
        let raw = self.file.text.get(span.clone()).unwrap_or_default();
        let value = s.get_ref();
        let quote = [3, 1]
            .into_iter()
            .find(|q| raw.len() == value.len() + 2 * q && raw.get(*q..raw.len() - q) == Some(value.as_str()));
        move |i| match quote {
            Some(q) => span.start + q + i..span.start + q + i + 1,
            None => span.clone(),
        }
    }

    fn fm(&mut self, entity: Entity) -> Vec<FmPlan> {
        let spec = &self.file.spec;
        if !spec.fm.is_empty() && !entity.has_multifields() && entity != Entity::Crm(0) {
            let span = spec.fm[0].span();
            self.err(
                span,
                format!("{} has no multifields ([[fm]] is for lead, contact and company)", entity.name()),
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        for fm in &spec.fm {
            let f = fm.get_ref();
            let Some(kind) = &f.kind else {
                self.err(fm.span(), "[[fm]] needs `type` (PHONE, EMAIL, WEB, IM or LINK)");
                continue;
            };
            let Some(&(type_id, value_types)) =
                FM_TYPES.iter().find(|(t, _)| t.eq_ignore_ascii_case(kind.get_ref()))
            else {
                let hint = suggest(kind.get_ref(), FM_TYPES.iter().map(|(t, _)| *t));
                self.err(
                    kind.span(),
                    format!("unknown fm type `{}`{hint} (PHONE, EMAIL, WEB, IM, LINK)", kind.get_ref()),
                );
                continue;
            };
            let wanted = f.value_type.as_ref().map_or("WORK", |v| v.get_ref().as_str());
            let Some(&value_type) = value_types.iter().find(|v| v.eq_ignore_ascii_case(wanted)) else {
                let value_type = wanted.to_uppercase();
                let at = f.value_type.as_ref().map_or(fm.span(), |v| v.span());
                self.err(
                    at,
                    format!(
                        "value_type `{value_type}` is not valid for {type_id} (one of {})",
                        value_types.join(", ")
                    ),
                );
                continue;
            };
            let Some(col) = &f.column else {
                self.err(fm.span(), "[[fm]] needs `column`");
                continue;
            };
            if let Some(split) = &f.split
                && split.get_ref().is_empty()
            {
                self.err(split.span(), "[[fm]]: `split` must not be empty (e.g. \",\" or \";\")");
                continue;
            }
            if let Some(index) = self.column(col.get_ref(), col.span(), "[[fm]]") {
                out.push(FmPlan {
                    type_id,
                    value_type,
                    column: index,
                    column_name: col.get_ref().clone(),
                    split: f.split.as_ref().map(|s| s.get_ref().clone()),
                });
            }
        }
        out
    }

    fn require_any(&mut self) -> Vec<RequireAnyPlan> {
        let mut out = Vec::new();
        for rule in &self.file.spec.require_any {
            let Some(cols) = &rule.get_ref().columns else {
                self.err(rule.span(), "[[require_any]] needs `columns = [\"...\", ...]`");
                continue;
            };
            if cols.get_ref().is_empty() {
                self.err(
                    cols.span(),
                    "[[require_any]]: `columns` is empty; list the columns of which one must be filled",
                );
                continue;
            }
            let columns: Vec<_> = cols
                .get_ref()
                .iter()
                .filter_map(|c| self.column(c, cols.span(), "[[require_any]]").map(|i| (i, c.clone())))
                .collect();
            if columns.len() != cols.get_ref().len() || columns.is_empty() {
                continue;
            }
            let message = rule.get_ref().message.clone().unwrap_or_else(|| {
                format!("all of {} are empty; at least one is needed", cols.get_ref().join(", "))
            });
            out.push(RequireAnyPlan { columns, message });
        }
        out
    }
}
