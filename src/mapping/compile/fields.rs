//! `[fields]` checked: one input per field (column, constant, template, value map, file,
//! lookup, user, enum label), its type and transforms bound, `create = {...}` for `provision`,
//! and the notes about field names the portal does not know.
//!
//! Owns: every rule about one field of `[fields]`. Must not check `[target]` or `[[fm]]`, and
//! must not read the source (only its header, through [`Compiler::column`]).

use std::ops::Range;

use chrono::FixedOffset;
use toml::Spanned;

use super::*;
use crate::mapping::diagnostic::closest;
use crate::mapping::entity::Entity;
use crate::mapping::spec::{FieldRule, FieldSpec, Number, UfType, ValueType};
use crate::mapping::transform;

impl Compiler<'_> {
    pub(super) fn field(
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
        let deferred = match (&rule.product, deferred) {
            (None, d) => d,
            (Some(p), Some(_)) => {
                self.err(p.span(), format!("{what}: give one of `lookup`, `user` or `product`"));
                None
            }
            (Some(p), None) => {
                let product_rows =
                    self.file.spec.target.entity.as_ref().and_then(|e| Entity::from_name(e.get_ref()))
                        == Some(Entity::ProductRows);
                match crate::mapping::products::ProductBy::from_name(p.get_ref()) {
                    _ if !product_rows || name != "productId" => {
                        self.err(
                            p.span(),
                            format!("{what}: `product` applies to `productId` of a product_rows step"),
                        );
                        None
                    }
                    Some(by) => Some(Deferred::Product(by)),
                    None => {
                        self.err(
                            p.span(),
                            format!(
                                "{what}: `product` is \"xmlId\" or \"name\" (how the cell names a catalogue product)"
                            ),
                        );
                        None
                    }
                }
            }
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
        c: &Spanned<crate::mapping::spec::CreateSpec>,
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
            && let Err(e) = crate::mapping::apply::convert(plan, d)
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
            if let Err(e) = crate::mapping::apply::convert(plan, to) {
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
}
