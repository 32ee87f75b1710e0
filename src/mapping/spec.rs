//! The mapping file as written: serde structs (`deny_unknown_fields` everywhere) and the loader
//! that reads a TOML file into them while collecting *every* problem with its position.
//!
//! Owns: the file's shape and spans. Does not own: meaning (columns, types, entity rules are
//! checked in `compile`). Each table and each `[fields]` entry is deserialized on its own, key
//! by key, so that one mistake does not hide the next.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::{Diagnostic, Diagnostics};

/// A whole mapping file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MappingSpec {
    /// Step name: the journal key, and the name other steps use in `lookup = "<step>"`.
    pub name: Option<Spanned<String>>,
    pub source: SourceSpec,
    pub target: TargetSpec,
    /// Portal field name -> rule. Filled by the loader entry by entry (see [`FieldSpec`]).
    #[serde(skip)]
    pub fields: Vec<(Spanned<String>, FieldSpec)>,
    /// Multifields (`fm`): phones, e-mails, web sites, messengers.
    #[serde(skip)]
    pub fm: Vec<Spanned<FmSpec>>,
    /// Rows where all of a set of columns are empty are invalid.
    #[serde(skip)]
    pub require_any: Vec<Spanned<RequireAnySpec>>,
}

/// `[source]`: which file and how to read it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceSpec {
    /// Relative to the mapping file.
    pub path: Option<Spanned<String>>,
    pub delimiter: Option<Spanned<String>>,
    pub encoding: Option<Spanned<String>>,
    pub sheet: Option<Spanned<SheetSpec>>,
    pub header_row: Option<Spanned<Number>>,
    /// Column (or columns) whose values identify a row; default: the row number.
    pub key: Option<Spanned<OneOrMany>>,
    /// CSV only: quoted cells whose lines look like whole rows are real (long address blocks);
    /// default `false`: such a cell is taken for two stray quotes and stops the read.
    pub multiline_cells: Option<bool>,
}

/// `sheet = "Deals"` or `sheet = 2`; anything else is kept as a [`Number`] so that `compile`
/// can say what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub enum SheetSpec {
    Index(Number),
    Name(String),
}

impl<'de> Deserialize<'de> for SheetSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match toml::Value::deserialize(d)? {
            toml::Value::String(name) => SheetSpec::Name(name),
            other => SheetSpec::Index(Number::from(other)),
        })
    }
}

/// A number as written. Kept loose here: `compile` checks its range and says in words what it
/// must be, echoing the text as the file has it (never a Rust type name such as `u32`).
#[derive(Debug, Clone, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
    /// Not a number at all; the TOML type it has (`a string`, `a boolean`, ...).
    Other(&'static str),
}

impl From<toml::Value> for Number {
    fn from(v: toml::Value) -> Self {
        match v {
            toml::Value::Integer(i) => Number::Int(i),
            toml::Value::Float(f) => Number::Float(f),
            toml::Value::String(_) => Number::Other("a string"),
            toml::Value::Boolean(_) => Number::Other("a boolean"),
            toml::Value::Datetime(_) => Number::Other("a date"),
            toml::Value::Array(_) => Number::Other("an array"),
            toml::Value::Table(_) => Number::Other("a table"),
        }
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        toml::Value::deserialize(d).map(Number::from)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// `[target]`: where rows go.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetSpec {
    /// `lead|deal|contact|company|quote|invoice|user`.
    pub entity: Option<Spanned<String>>,
    /// A smart process by its entityTypeId (instead of `entity`).
    pub entity_type_id: Option<Spanned<Number>>,
    /// A smart process by its title (instead of `entity` / `entity_type_id`); its entityTypeId
    /// is known only online (see `compile::TargetPlan::smart_process`).
    pub smart_process: Option<Spanned<String>>,
    /// `[target.provision]`: what `b24import provision` makes sure exists besides the fields.
    pub provision: Option<Spanned<ProvisionSpec>>,
    /// `originatorId` written on created items (default `b24import`).
    pub origin: Option<Spanned<String>>,
    pub use_original_uf_names: bool,
    /// `create` (default), `upsert` or `update`: what a re-run does with known keys.
    pub mode: Option<Spanned<Mode>>,
    /// Users only: what to do when the e-mail already exists (`use` it, default, or `reject`).
    pub on_existing: Option<Spanned<OnExisting>>,
    /// CRM items: how new items are created: `add` (default, `crm.item.add`) or `import`
    /// (`crm.item.batchImport`: original dates and authors kept, no automation).
    pub method: Option<Spanned<CreateMethod>>,
    /// Lead, contact, company: what to do with a row to create whose phone or e-mail the
    /// portal already holds (`create`, default, `skip`, `merge`, `update`).
    pub on_duplicate: Option<Spanned<OnDuplicate>>,
    /// The `[[fm]]` types that identify the item (`["EMAIL", "PHONE"]`; default: both the
    /// mapping has).
    pub duplicate_by: Option<Spanned<Vec<Spanned<String>>>>,
    /// Several existing items match: `reject` (default), `first` (the lowest ID), `skip`.
    pub on_ambiguous: Option<Spanned<OnAmbiguous>>,
    /// Attached records (`comment`, `activity`): the step and the column that name each row's
    /// parent item (`parent = { step = "deals", column = "Deal" }`).
    pub parent: Option<Spanned<ParentSpec>>,
    /// Requisites (issue 20): the name of the requisite preset (`crm.requisite.preset.list`),
    /// e.g. `preset = "Organization"`; the run sends its ID as `PRESET_ID`.
    pub preset: Option<Spanned<String>>,
}

/// `parent = { step, column }` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParentSpec {
    /// The parent's step (any CRM step of this job).
    pub step: Spanned<String>,
    /// The column holding the parent row's key (as that step keys its rows).
    pub column: Spanned<String>,
}

/// `[target.provision]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvisionSpec {
    /// Smart processes: the title of the digital workspace that holds the type.
    pub workspace: Option<Spanned<String>>,
    /// Smart processes: `is*Enabled` flags to switch on besides those the mapped fields need.
    pub flags: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Create,
    Upsert,
    Update,
}

/// `method`: the method that creates a CRM step's new items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CreateMethod {
    /// `crm.item.add`: created now, by the credential's user; the portal's automation runs.
    #[default]
    Add,
    /// `crm.item.batchImport`: `createdTime`/`updatedTime`/`movedTime` and
    /// `createdBy`/`updatedBy`/`movedBy` kept, no automation rules or workflows run, no
    /// duplicate check; items must arrive oldest first.
    Import,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnExisting {
    #[default]
    Use,
    Reject,
}

/// `on_duplicate`: what a row to create does when one existing item has its phone or e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDuplicate {
    /// Created anyway (no check: today's behaviour).
    #[default]
    Create,
    /// Not sent: recorded as the existing item.
    Skip,
    /// Fills only the fields empty in the portal, adds missing phones/e-mails.
    Merge,
    /// Writes every mapped field, adds missing phones/e-mails.
    Update,
}

/// `on_ambiguous`: what a row does when several existing items match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnAmbiguous {
    /// Rejected, the error listing the IDs.
    #[default]
    Reject,
    /// The match with the lowest ID is used.
    First,
    /// Not sent, not recorded (checked again by the next run).
    Skip,
}

/// One `[fields]` entry: `name = "Column"` (shorthand) or a full rule.
#[derive(Debug, Clone)]
pub enum FieldSpec {
    Column(Spanned<String>),
    Rule(Box<FieldRule>),
}

/// The full form of a `[fields]` entry. Exactly one input: `column`, `columns`, `value` or
/// `template`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldRule {
    pub column: Option<Spanned<String>>,
    pub columns: Option<Spanned<Vec<String>>>,
    /// A constant, written as is (string, number, boolean or array).
    pub value: Option<toml::Value>,
    /// Text with `{Column}` placeholders (`{{` and `}}` for literal braces).
    pub template: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub kind: Option<Spanned<ValueType>>,
    pub required: bool,
    /// Trim surrounding white space from cells (default true).
    pub trim: Option<bool>,
    /// chrono formats for `date` / `datetime`, tried in order (ISO is always accepted).
    pub formats: Vec<Spanned<String>>,
    /// `1 500,50` means 1500.50.
    pub decimal_comma: bool,
    /// Cell text -> value; an unmapped non-empty value is a row error unless `default` is set.
    pub map: Option<BTreeMap<String, String>>,
    /// Used when the cell is empty, or its value is missing from `map`.
    pub default: Option<String>,
    /// Split one cell into several values.
    pub split: Option<String>,
    /// Send an array (one element per `split` part, or a single element).
    pub multiple: bool,
    /// Files: folder the cell's paths are relative to (relative to the mapping file).
    pub base_dir: Option<Spanned<String>>,
    /// Files: the largest file accepted, in MiB (default 20).
    pub max_file_mb: Option<Spanned<Number>>,
    /// Money: currency used when the cell has none.
    pub currency: Option<String>,
    /// Datetime: offset given to values that have none (default `+00:00`).
    pub utc_offset: Option<Spanned<String>>,
    /// The value is a source key of another step; replaced by that item's portal ID at run time.
    /// Checked across the mappings of a job in `pipeline::steps`.
    pub lookup: Option<Spanned<String>>,
    /// `user = "email"`: the value is an e-mail; replaced by that user's ID at run time.
    pub user: Option<Spanned<String>>,
    /// `product = "xmlId" | "name"` (a product row's `productId`, issue 20): the value names a
    /// catalogue product; replaced by its ID at run time.
    pub product: Option<Spanned<String>>,
    /// Custom fields: how `b24import provision` creates the field when the portal lacks it.
    pub create: Option<Spanned<CreateSpec>>,
    /// `type = "enum"` only: labels the portal's list lacks are added by `provision` instead of
    /// rejecting the rows that use them.
    pub add_missing_values: Option<Spanned<bool>>,
}

/// `create = { type, label, multiple?, required? }` on a custom field rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CreateSpec {
    #[serde(rename = "type")]
    pub kind: Option<Spanned<UfType>>,
    pub label: Option<Spanned<String>>,
    pub multiple: bool,
    pub required: bool,
}

/// The custom field types `create` can make (the portal's `USER_TYPE_ID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UfType {
    String,
    Integer,
    Double,
    Boolean,
    Date,
    Datetime,
    Enumeration,
    Url,
    Money,
    File,
}

impl UfType {
    /// The portal's `USER_TYPE_ID`.
    pub fn as_str(self) -> &'static str {
        match self {
            UfType::String => "string",
            UfType::Integer => "integer",
            UfType::Double => "double",
            UfType::Boolean => "boolean",
            UfType::Date => "date",
            UfType::Datetime => "datetime",
            UfType::Enumeration => "enumeration",
            UfType::Url => "url",
            UfType::Money => "money",
            UfType::File => "file",
        }
    }
}

/// Value types a field can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    String,
    Int,
    Number,
    Bool,
    Date,
    Datetime,
    Money,
    File,
    Email,
    Phone,
    /// The cell holds a label (a list item, stage, source, category or currency); the run sends
    /// the ID the portal wants, looked up in the schema it read.
    Enum,
}

/// One `[[fm]]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FmSpec {
    /// `PHONE | EMAIL | WEB | IM | LINK`.
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    /// e.g. `WORK`, `MOBILE`, `HOME` (default `WORK`).
    pub value_type: Option<Spanned<String>>,
    pub column: Option<Spanned<String>>,
    pub split: Option<Spanned<String>>,
}

/// One `[[require_any]]` table: at least one of `columns` must be non-empty.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequireAnySpec {
    pub columns: Option<Spanned<Vec<String>>>,
    /// Shown for rows that break the rule.
    pub message: Option<String>,
}

/// A loaded mapping file: the spec plus what is needed to point into it.
#[derive(Debug)]
pub struct MappingFile {
    pub path: PathBuf,
    pub text: String,
    pub spec: MappingSpec,
    /// Shape problems found while loading; `compile` reports them together with its own, so
    /// that every problem of the file is shown at once.
    pub problems: Diagnostics,
}

impl MappingFile {
    /// The folder relative paths in the file are resolved against.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// A diagnostic pointing at `span` in this file.
    pub fn diag(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(&self.path, &self.text, span, message)
    }

    /// The text of `span` as the file has it (a value echoed in a message).
    pub fn written(&self, span: Range<usize>) -> &str {
        self.text.get(span).unwrap_or_default().trim()
    }

    /// The step name as `compile` uses it (trimmed); `None` when the file has none.
    pub fn step_name(&self) -> Option<&str> {
        self.spec.name.as_ref().map(|n| n.get_ref().trim())
    }
}

/// Reads and parses a mapping file, collecting every shape problem.
pub fn load(path: &Path) -> Result<MappingFile, Diagnostics> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        Diagnostics::one(Diagnostic::whole_file(path, format!("cannot read mapping file: {err}")))
    })?;
    parse(path, text)
}

/// Parses mapping text (`path` is used for messages and relative paths only). A TOML syntax
/// error is returned at once; shape problems are kept in [`MappingFile::problems`].
pub fn parse(path: &Path, text: String) -> Result<MappingFile, Diagnostics> {
    let mut diags = Diagnostics::default();
    let spec = {
        let doc = match DeTable::parse(&text) {
            Ok(doc) => doc,
            Err(err) => {
                let span = err.span().unwrap_or(0..0);
                diags.push(Diagnostic::at(
                    path,
                    &text,
                    span,
                    format!("TOML syntax: {}", err.message().trim()),
                ));
                return Err(diags);
            }
        };
        let mut loader = Loader { path, text: &text, diags: &mut diags };
        loader.document(doc.get_ref())
    };
    Ok(MappingFile { path: path.to_path_buf(), text, spec, problems: diags })
}

const TOP_KEYS: &[&str] = &["name", "source", "target", "fields", "fm", "require_any"];

struct Loader<'a> {
    path: &'a Path,
    text: &'a str,
    diags: &'a mut Diagnostics,
}

impl Loader<'_> {
    fn document(&mut self, doc: &DeTable<'_>) -> MappingSpec {
        let mut spec = MappingSpec::default();
        for (key, value) in doc.iter() {
            let name: &str = key.get_ref();
            match name {
                "name" => spec.name = self.value(value),
                "source" => spec.source = self.table(value).unwrap_or_default(),
                "target" => spec.target = self.table(value).unwrap_or_default(),
                "fields" => spec.fields = self.fields(value),
                "fm" => spec.fm = self.array_of_tables(value, "fm"),
                "require_any" => spec.require_any = self.array_of_tables(value, "require_any"),
                other => {
                    let hint = super::diagnostic::suggest(other, TOP_KEYS.iter().copied());
                    self.push(key.span(), format!("unknown key `{other}`{hint}"));
                }
            }
        }
        if spec.name.is_none() {
            self.push(0..0, "missing `name = \"...\"` (the step name)");
        }
        spec
    }

    fn push(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diags.push(Diagnostic::at(self.path, self.text, span, message));
    }

    fn push_de(&mut self, err: toml::de::Error, fallback: Range<usize>) {
        let span = err.span().unwrap_or(fallback);
        let message = super::diagnostic::rewrite_serde_message(err.message());
        self.push(span, message);
    }

    fn value<T: DeserializeOwned>(&mut self, value: &Spanned<DeValue<'_>>) -> Option<T> {
        match T::deserialize(value.clone().into_deserializer()) {
            Ok(v) => Some(v),
            Err(err) => {
                self.push_de(err, value.span());
                None
            }
        }
    }

    /// Deserializes a table key by key (so every bad key is reported), then the good keys as a
    /// whole.
    fn table<T: DeserializeOwned>(&mut self, value: &Spanned<DeValue<'_>>) -> Option<T> {
        let DeValue::Table(table) = value.get_ref() else {
            self.push(value.span(), format!("expected a table, found {}", value.get_ref().type_str()));
            return None;
        };
        let mut good = DeTable::new();
        for (k, v) in table.iter() {
            let mut one = DeTable::new();
            one.insert(k.clone(), v.clone());
            let single = Spanned::new(value.span(), DeValue::Table(one));
            match T::deserialize(single.into_deserializer()) {
                Ok(_) => {
                    good.insert(k.clone(), v.clone());
                }
                Err(err) => self.push_de(err, k.span()),
            }
        }
        self.value(&Spanned::new(value.span(), DeValue::Table(good)))
    }

    fn fields(&mut self, value: &Spanned<DeValue<'_>>) -> Vec<(Spanned<String>, FieldSpec)> {
        let DeValue::Table(table) = value.get_ref() else {
            self.push(value.span(), "`fields` must be a table: `[fields]`");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in table.iter() {
            let name = Spanned::new(k.span(), k.get_ref().to_string());
            let spec = match v.get_ref() {
                DeValue::String(s) => Some(FieldSpec::Column(Spanned::new(v.span(), s.to_string()))),
                DeValue::Table(_) => self.table::<FieldRule>(v).map(|r| FieldSpec::Rule(Box::new(r))),
                other => {
                    self.push(
                        v.span(),
                        format!(
                            "field `{}`: expected a column name or a table like {{ column = \"...\" }}, found {}",
                            k.get_ref(),
                            other.type_str()
                        ),
                    );
                    None
                }
            };
            if let Some(spec) = spec {
                out.push((name, spec));
            }
        }
        out
    }

    fn array_of_tables<T: DeserializeOwned>(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        what: &str,
    ) -> Vec<Spanned<T>> {
        let DeValue::Array(items) = value.get_ref() else {
            self.push(value.span(), format!("`{what}` must be an array of tables: `[[{what}]]`"));
            return Vec::new();
        };
        items.iter().filter_map(|item| self.table::<T>(item).map(|t| Spanned::new(item.span(), t))).collect()
    }
}
