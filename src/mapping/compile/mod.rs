//! `MappingSpec` (as written) + the source's header -> `MappingPlan` (checked, columns resolved
//! to indices, transforms bound).
//!
//! Owns: every rule about what a mapping may say: one input per field, columns that exist,
//! types that fit the entity, paths that resolve. Collects every problem before reporting.
//! Must not read records (that is `apply`) nor reach the portal.
//!
//! Split by role: `plan` (the checked types), this file (`[source]`, the order of the checks,
//! columns by name), `target` (`[target]`, provision, duplicate rule), `fields` (`[fields]`),
//! `fm` (`[[fm]]`, `[[require_any]]`).

mod fields;
mod fm;
mod plan;
mod record;
mod target;

pub use plan::*;

use std::ops::{Range, RangeInclusive};

use super::diagnostic::{Diagnostics, suggest};
use super::entity::Entity;
use super::names;
use super::spec::{MappingFile, Number, SheetSpec};
use crate::source::{SheetSelector, SourceOptions};

/// The first entityTypeId a smart process can have (its fields stand for any smart process's).
const FIRST_SPA_TYPE_ID: u32 = 1030;

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
        // The pages' required fields of attached records (crm.timeline.comment.add: COMMENT;
        // crm.activity.add: TYPE_ID, SUBJECT, RESPONSIBLE_ID).
        let required: &[&str] = match target.entity {
            Entity::Comment => &["COMMENT"],
            Entity::Activity => &["TYPE_ID", "SUBJECT", "RESPONSIBLE_ID"],
            // crm.address.add: TYPE_ID is required (the owner comes from the parent).
            Entity::Address => &["TYPE_ID"],
            _ => &[],
        };
        self.record_fields(target.entity);
        if target.entity == Entity::Activity
            && !spec.fields.iter().any(|(n, _)| n.get_ref() == "COMMUNICATIONS")
        {
            self.notes.push(
                "COMMUNICATIONS is not mapped: a call or meeting gets its parent's first phone, an e-mail \
                 its parent's first e-mail (a deal's: its contact's), read at run time; a parent with none \
                 makes the portal refuse the row"
                    .into(),
            );
        }
        for name in required {
            if !spec.fields.iter().any(|(n, _)| n.get_ref() == name) {
                self.err(
                    0..0,
                    format!(
                        "a {} step needs a `{name}` field in [fields] (the portal refuses one without it)",
                        target.entity.name()
                    ),
                );
            }
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
}
