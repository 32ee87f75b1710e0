//! The steps of one job: opening them in order, and the checks between their mappings (unique
//! step names, `lookup` fields that name a step that exists, no lookup cycles, no lookup into
//! a step that runs later).
//!
//! Owns: the rules that no single mapping file can check on its own. `validate` and `run`
//! both call [`check_job`] so that they refuse the same jobs (exit 2), each problem with the
//! `path:line:col` of the name or lookup concerned. The checks are pure: they read the loaded
//! mapping files only (the run passes in the step names its journal knows). [`open_steps`]
//! (loading the mappings, then opening their sources) is the one I/O here, shared by
//! `validate` and `run`; [`check_order`] is the run's check that no step needs IDs from a
//! step that runs after it. The reads `validate --online` adds (the e-mails and labels the rows
//! use, users by e-mail) and the run's own resolution rules it checks rows with are here too.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;

use std::sync::Arc;

use super::job::RunError;
use super::prepare::{Step, StepError, load_mapping};
use crate::mapping::diagnostic::closest;
use crate::mapping::spec::FieldSpec;
use crate::mapping::{Deferred, MappingPlan};
use crate::mapping::{Diagnostic, Diagnostics, MappingFile};
use crate::schema::{Gap, PortalSchema, SchemaError, UsedLabels, compare};
use crate::source::SourceError;
use crate::transport::{Transport, TransportError};

/// Most lookup cycles reported (each is one diagnostic).
const MAX_CYCLES: usize = 10;

/// One `lookup = "<step>"` field of a mapping.
struct Lookup<'a> {
    field: &'a str,
    target: &'a str,
    span: Range<usize>,
}

/// Every problem between `files` (the mappings given, in order).
///
/// `elsewhere` holds the step names known outside these mappings (the journal's steps, for a
/// run). With `None` (offline `validate`, no journal), a lookup to a step that is not given is
/// allowed, since its IDs may come from an earlier run, unless its name is a likely typo of a
/// given step. With `Some`, a lookup must name a given step or one of `elsewhere`.
pub fn check_job(files: &[&MappingFile], elsewhere: Option<&[String]>) -> Diagnostics {
    let mut diags = Diagnostics::default();
    // Step name -> index of the first file that has it.
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, file) in files.iter().enumerate() {
        let (Some(name), Some(spanned)) = (file.step_name(), file.spec.name.as_ref()) else { continue };
        if name.is_empty() {
            continue;
        }
        match first.get(name) {
            Some(&j) => {
                let other = files[j];
                let at = other.spec.name.as_ref().map_or(0..0, |n| n.span());
                let there = Diagnostic::at(&other.path, &other.text, at, "");
                diags.push(file.diag(
                    spanned.span(),
                    format!(
                        "step name `{name}` is also the name of {}:{}:{}; step names must be unique in a job \
                         (the journal keeps each step's rows under its name): rename one of them",
                        there.path.display(),
                        there.line,
                        there.col
                    ),
                ));
            }
            None => {
                first.insert(name, i);
            }
        }
    }
    let given: Vec<&str> = files.iter().filter_map(|f| f.step_name()).filter(|n| !n.is_empty()).collect();
    let lookups: Vec<Vec<Lookup<'_>>> = files.iter().map(|f| lookups(f)).collect();
    for (file, found) in files.iter().zip(&lookups) {
        for l in found {
            if given.contains(&l.target) || elsewhere.is_some_and(|e| e.iter().any(|s| s == l.target)) {
                continue;
            }
            let candidates = given.iter().copied().chain(elsewhere.into_iter().flatten().map(String::as_str));
            let steps = step_list(&given, elsewhere);
            let message = match closest(l.target.trim(), candidates) {
                Some(best) => format!(
                    "field `{}`: lookup step `{}` is not a step of this job, did you mean `{best}`? ({steps})",
                    l.field, l.target
                ),
                None if elsewhere.is_some() => format!(
                    "field `{}`: lookup step `{}` is not a step of this job ({steps}): give its mapping \
                     before this one, or correct the name",
                    l.field, l.target
                ),
                None => continue,
            };
            diags.push(file.diag(l.span.clone(), message));
        }
    }
    for cycle in cycles(files, &first, &lookups).into_iter().take(MAX_CYCLES) {
        diags.push(cycle);
    }
    diags
}

/// `steps given: a, b; in the journal: c` for messages.
fn step_list(given: &[&str], elsewhere: Option<&[String]>) -> String {
    let quoted = |names: &mut dyn Iterator<Item = &str>| {
        let v: Vec<String> = names.map(|n| format!("`{n}`")).collect();
        if v.is_empty() { "none".to_string() } else { v.join(", ") }
    };
    let mut out = format!("steps given: {}", quoted(&mut given.iter().copied()));
    if let Some(e) = elsewhere {
        out.push_str(&format!("; steps in the journal: {}", quoted(&mut e.iter().map(String::as_str))));
    }
    out
}

/// The `lookup` fields of one mapping, as written.
fn lookups(file: &MappingFile) -> Vec<Lookup<'_>> {
    file.spec
        .fields
        .iter()
        .filter_map(|(name, spec)| match spec {
            FieldSpec::Rule(rule) => rule.lookup.as_ref().map(|l| Lookup {
                field: name.get_ref().as_str(),
                target: l.get_ref().as_str(),
                span: l.span(),
            }),
            FieldSpec::Column(_) => None,
        })
        .collect()
}

/// One step of a lookup chain: (file index, index of the lookup taken in that file).
type Hop = (usize, usize);

/// Every lookup cycle among the given steps, once each (a step that looks itself up is a
/// cycle of one), pointing at the first lookup of the cycle.
fn cycles(
    files: &[&MappingFile],
    first: &HashMap<&str, usize>,
    lookups: &[Vec<Lookup<'_>>],
) -> Vec<Diagnostic> {
    // Lookups between given files, per file: (to, lookup index).
    let edges: Vec<Vec<(usize, usize)>> = lookups
        .iter()
        .map(|ls| ls.iter().enumerate().filter_map(|(k, l)| first.get(l.target).map(|&to| (to, k))).collect())
        .collect();
    let mut found: Vec<Vec<Hop>> = Vec::new();
    // Simple cycles whose smallest file index is `start` (so each is found once). Jobs have a
    // handful of steps, so a plain depth-first search is enough.
    for (start, file) in files.iter().enumerate() {
        if first.get(file.step_name().unwrap_or_default()) != Some(&start) {
            continue;
        }
        search(start, start, &edges, &mut vec![start], &mut Vec::new(), &mut found);
    }
    found.iter().map(|cycle| describe(files, lookups, cycle)).collect()
}

fn search(
    start: usize,
    at: usize,
    edges: &[Vec<(usize, usize)>],
    path: &mut Vec<usize>,
    chain: &mut Vec<Hop>,
    found: &mut Vec<Vec<Hop>>,
) {
    for &(to, k) in &edges[at] {
        if found.len() >= MAX_CYCLES {
            return;
        }
        chain.push((at, k));
        if to == start {
            found.push(chain.clone());
        } else if to > start && !path.contains(&to) {
            path.push(to);
            search(start, to, edges, path, chain, found);
            path.pop();
        }
        chain.pop();
    }
}

/// `lookup cycle: contacts -> deals -> contacts (...)`, at the cycle's first lookup.
fn describe(files: &[&MappingFile], lookups: &[Vec<Lookup<'_>>], cycle: &[Hop]) -> Diagnostic {
    let name = |i: usize| files[i].step_name().unwrap_or_default();
    let (head, k) = cycle[0];
    let first = &lookups[head][k];
    if cycle.len() == 1 {
        return files[head].diag(
            first.span.clone(),
            format!(
                "field `{field}`: step `{step}` looks itself up, a lookup cycle ({step} -> {step}); a step's \
                 IDs are not known while it runs: import that field in a second step with mode = \"update\"",
                field = first.field,
                step = name(head)
            ),
        );
    }
    let mut chain: Vec<&str> = cycle.iter().map(|(i, _)| name(*i)).collect();
    chain.push(name(head));
    let via: Vec<String> =
        cycle.iter().map(|(i, k)| format!("`{}` field `{}`", name(*i), lookups[*i][*k].field)).collect();
    files[head].diag(
        first.span.clone(),
        format!(
            "lookup cycle: {} ({}); each step needs the other's IDs first, so neither can run: \
             drop one of these lookups, or import it in a later step with mode = \"update\"",
            chain.join(" -> "),
            via.join(", ")
        ),
    )
}

/// Why the steps of a job cannot be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Problems in the mapping files or between them, every one found.
    Mapping(Diagnostics),
    /// A source could not be opened; `diagnostics` holds the problems found before it and
    /// between the mappings (a caller may show them with the error, or only the error).
    Source { error: SourceError, diagnostics: Diagnostics },
}

/// Loads every mapping file, checks them against each other ([`check_job`], no journal) and
/// opens their sources, in the order given. Every mapping is checked before any source is
/// opened, so all shape problems show at once.
pub fn open_steps(paths: &[PathBuf]) -> Result<Vec<Step>, OpenError> {
    let mut files = Vec::new();
    let mut diags = Diagnostics::default();
    for path in paths {
        match load_mapping(path) {
            Ok(f) => files.push(f),
            Err(d) => diags.extend(d),
        }
    }
    let between = check_job(&files.iter().collect::<Vec<_>>(), None);
    let mut steps = Vec::new();
    if diags.is_empty() {
        for file in files {
            let problems = file.problems.clone();
            match Step::open(file) {
                Ok(s) => steps.push(s),
                Err(StepError::Mapping(d)) => diags.extend(d),
                Err(StepError::Source(error)) => {
                    diags.extend(problems);
                    diags.extend(between);
                    return Err(OpenError::Source { error, diagnostics: diags });
                }
            }
        }
    }
    diags.extend(between);
    if diags.is_empty() { Ok(steps) } else { Err(OpenError::Mapping(diags)) }
}

/// A step whose lookups need a step that runs after it would reject every such row: refuse
/// the order up front, every such field at its `path:line:col`, and say which file to put first.
pub fn check_order(steps: &[Step]) -> Diagnostics {
    let mut diags = Diagnostics::default();
    for (i, step) in steps.iter().enumerate() {
        for field in &step.plan.fields {
            let needed = match &field.deferred {
                Some(crate::mapping::Deferred::Lookup(target)) => {
                    steps[i + 1..].iter().find(|s| s.plan.name == *target)
                }
                Some(crate::mapping::Deferred::UserByEmail) => {
                    steps[i + 1..].iter().find(|s| s.plan.target.entity == crate::mapping::Entity::User)
                }
                Some(crate::mapping::Deferred::Label | crate::mapping::Deferred::Product(_)) | None => None,
            };
            if let Some(target) = needed {
                let span = step.file.spec.fields.iter().find(|(n, _)| *n.get_ref() == field.name).map_or(
                    0..0,
                    |(n, spec)| match spec {
                        crate::mapping::spec::FieldSpec::Rule(r) => {
                            r.lookup.as_ref().or(r.user.as_ref()).map_or(n.span(), |l| l.span())
                        }
                        crate::mapping::spec::FieldSpec::Column(_) => n.span(),
                    },
                );
                diags.push(step.file.diag(
                    span,
                    format!(
                        "step `{}` (field `{}`) needs IDs from step `{}`, which runs after it: give {} before {}",
                        step.plan.name,
                        field.name,
                        target.plan.name,
                        target.file.path.display(),
                        step.file.path.display()
                    ),
                ));
            }
        }
    }
    diags
}

/// A lookup into a step that is neither given nor `known` (the steps the journal holds) would
/// reject every row that uses it: the run refuses it before anything is sent.
pub fn check_lookups_known(steps: &[Step], known: &[String]) -> Diagnostics {
    let files: Vec<&MappingFile> = steps.iter().map(|s| &s.file).collect();
    check_job(&files, Some(known))
}

/// What the portal lacks for each step, found before anything is written (`run`,
/// `validate --online`, `provision`).
#[derive(Debug)]
pub struct Preflight {
    /// The schema read once; the run resolves every label from it.
    pub schema: Arc<PortalSchema>,
    /// Per step, in order: its name and its gaps.
    pub steps: Vec<(String, Vec<Gap>)>,
}

impl Preflight {
    /// Gaps `b24import provision` would fix: a run must not start while any is left.
    pub fn for_provision(&self) -> impl Iterator<Item = (&str, &Gap)> {
        self.steps
            .iter()
            .flat_map(|(s, gaps)| gaps.iter().map(move |g| (s.as_str(), g)))
            .filter(|(_, g)| g.provision_fixes())
    }
}

/// Why the pre-flight could not finish.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("{0}")]
    Schema(#[from] SchemaError),
    #[error("{0}")]
    Source(#[from] SourceError),
}

/// Whether a step uses anything the portal's schema decides (issue 10's keys): a smart process
/// by title or by an `entity_type_id` that is not built in (one the portal may not have: every
/// row would be refused), `[target.provision]`, `type = "enum"`, `create`. Steps without any
/// are run as before, with no schema read.
pub fn needs_schema(plan: &MappingPlan) -> bool {
    plan.target.smart_process.is_some()
        || matches!(plan.target.entity, crate::mapping::Entity::Crm(id) if !crate::mapping::Entity::is_builtin_type_id(id))
        || plan.target.provision.workspace.is_some()
        || !plan.target.provision.flags.is_empty()
        || plan.fields.iter().any(|f| f.create.is_some() || f.deferred == Some(Deferred::Label))
}

/// Reads the portal's schema for `steps`, binds each `smart_process = "<title>"` step to the
/// entityTypeId the portal gives it, and compares every step with it. The labels the rows use
/// are collected by reading the source once more: for every step with an enum field when
/// `all_labels` (`validate --online`, `provision`), else only for steps with
/// `add_missing_values` (what a run must refuse to start without).
pub async fn preflight(
    steps: &mut [Step],
    transport: &Transport,
    all_labels: bool,
) -> Result<Preflight, PreflightError> {
    preflight_with(steps, transport, all_labels, &mut HashMap::new()).await
}

/// [`preflight`] with the labels each step's rows use kept in `used` (by step name) across
/// calls: a source is read for its labels once, however often the portal is read again
/// (`provision` reads it after each round of writes).
pub async fn preflight_with(
    steps: &mut [Step],
    transport: &Transport,
    all_labels: bool,
    used: &mut HashMap<String, UsedLabels>,
) -> Result<Preflight, PreflightError> {
    let plans: Vec<&MappingPlan> = steps.iter().map(|s| &s.plan).collect();
    let schema = PortalSchema::read(transport, &plans).await?;
    let mut out = Vec::new();
    for step in steps.iter_mut() {
        if let Some(etid) = schema.entity_type_id(&step.plan) {
            step.plan.bind_smart_process(etid);
        }
        let wants = step
            .plan
            .fields
            .iter()
            .any(|f| f.deferred == Some(Deferred::Label) && (all_labels || f.add_missing_values));
        if !used.contains_key(&step.plan.name) {
            let labels = if wants { used_labels(&step.plan)? } else { UsedLabels::default() };
            used.insert(step.plan.name.clone(), labels);
        }
        let labels = &used[&step.plan.name];
        out.push((step.plan.name.clone(), compare(&step.plan, &schema, labels)));
    }
    Ok(Preflight { schema: Arc::new(schema), steps: out })
}

/// The run's pre-flight: when a step needs the schema ([`needs_schema`]), reads it, binds the
/// smart processes found by title, and refuses to start (exit 2) on every gap
/// `validate --online` stops on ([`Gap::is_blocking`]: what `b24import provision` would do, and
/// every schema-level mistake), naming each thing. An unknown label rejects only its rows; a
/// refused read the steps do not need is a note. The inner `Err`: the portal could
/// not be used at all (exit 3, as for any request).
pub(super) async fn run_preflight(
    steps: &mut [Step],
    transport: &Transport,
) -> Result<Result<Option<Arc<PortalSchema>>, TransportError>, RunError> {
    if !steps.iter().any(|s| needs_schema(&s.plan)) {
        return Ok(Ok(None));
    }
    let pre = match preflight(steps, transport, false).await {
        Ok(p) => p,
        Err(PreflightError::Schema(SchemaError::Transport(e))) => return Ok(Err(e)),
        Err(PreflightError::Schema(e)) => return Err(RunError::Schema(e)),
        Err(PreflightError::Source(e)) => return Err(RunError::Source(e)),
    };
    // Every gap `validate --online` stops on stops the run too, before anything is written.
    let blocking: Vec<(&str, &Gap)> = pre
        .steps
        .iter()
        .flat_map(|(s, gaps)| gaps.iter().map(move |g| (s.as_str(), g)))
        .filter(|(_, g)| g.is_blocking())
        .collect();
    if !blocking.is_empty() {
        let todo: Vec<String> = blocking.iter().map(|(step, gap)| format!("step `{step}`: {gap}")).collect();
        let next = if blocking.iter().any(|(_, g)| g.provision_fixes()) {
            "run `b24import provision` with the same mappings first (`--dry-run` shows what it would do)"
        } else {
            "fix what is named above (`b24import validate --online` explains each)"
        };
        return Err(RunError::NotProvisioned(format!(
            "the portal is not ready for these mappings; nothing was written:\n  {}\n{next}",
            todo.join("\n  ")
        )));
    }
    Ok(Ok(Some(pre.schema)))
}

/// The distinct e-mails the `user = "email"` fields of a step's rows name (its source read
/// once more), for `validate --online` to look them up in a few requests.
pub fn used_emails(plan: &MappingPlan) -> Result<std::collections::BTreeSet<String>, SourceError> {
    let mut out = std::collections::BTreeSet::new();
    if !plan.fields.iter().any(|f| f.deferred == Some(Deferred::UserByEmail)) {
        return Ok(out);
    }
    for record in crate::source::open(&plan.source, crate::source::BytesRead::default())? {
        if let Ok(row) = plan.apply(&record?) {
            for p in row.pending.iter().flat_map(|f| &f.values) {
                if let crate::mapping::Pending::User { email } = p {
                    out.insert(email.clone());
                }
            }
        }
    }
    Ok(out)
}

/// The import steps' pre-flight, shared with `validate --online` (`dry_run`: without the
/// permission probe, which calls a writing method).
pub use super::import_check::{automation_notes, automation_questions, check_imports};

/// How the run resolves a row's labels and users without a request, for `validate --online`
/// to check rows by the run's own rules (one copy, in `pipeline::resolve`).
pub use super::resolve::{Rejection, label_book, label_value, row_category, user_value};

/// Portal users by e-mail (`user.get`, 50 e-mails a request), read-only: e-mail -> user ID.
/// The inner `Err` says the lookup failed (nothing may be concluded from it).
pub async fn find_users(
    transport: &Transport,
    emails: &[String],
) -> Result<Result<HashMap<String, u64>, String>, TransportError> {
    let reads = crate::portal::Reads::new(Arc::new(transport.clone()));
    match super::portal::Portal::new(&reads).find_users(emails).await {
        Ok(found) => Ok(found),
        Err(super::stop::Stop::Portal(e)) => Err(e),
        Err(_) => Ok(Err("the lookup was interrupted".into())),
    }
}

/// The distinct labels the rows of a step use (its source read once, rows that fail mapping
/// skipped: they are rejected anyway).
pub fn used_labels(plan: &MappingPlan) -> Result<UsedLabels, SourceError> {
    let mut used = UsedLabels::default();
    for record in crate::source::open(&plan.source, crate::source::BytesRead::default())? {
        if let Ok(row) = plan.apply(&record?) {
            used.add(&row);
        }
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn file(name: &str, lookups: &[(&str, &str)]) -> MappingFile {
        let mut text = format!("name = \"{name}\"\n[fields]\n");
        for (field, target) in lookups {
            text.push_str(&format!("{field} = {{ column = \"C\", lookup = \"{target}\" }}\n"));
        }
        crate::mapping::spec::parse(Path::new(&format!("{name}.toml")), text).expect("parses")
    }

    fn check(files: &[MappingFile], elsewhere: Option<&[String]>) -> Vec<String> {
        let refs: Vec<&MappingFile> = files.iter().collect();
        check_job(&refs, elsewhere).0.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn a_job_whose_lookups_name_given_steps_passes() {
        let files = [file("companies", &[]), file("contacts", &[("companyId", "companies")])];
        assert_eq!(check(&files, None), Vec::<String>::new());
        assert_eq!(check(&files, Some(&[])), Vec::<String>::new());
    }

    #[test]
    fn a_step_not_given_is_allowed_offline_and_must_be_in_the_journal_for_a_run() {
        let files = [file("contacts", &[("companyId", "companies")])];
        assert_eq!(check(&files, None), Vec::<String>::new());
        assert_eq!(check(&files, Some(&["companies".to_string()])), Vec::<String>::new());
        let got = check(&files, Some(&["users".to_string()]));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("steps given: `contacts`; steps in the journal: `users`"), "{got:?}");
    }

    #[test]
    fn cycles_of_three_are_found_once() {
        let files = [file("a", &[("x", "b")]), file("b", &[("y", "c")]), file("c", &[("z", "a")])];
        let got = check(&files, None);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("a.toml:3:"), "{got:?}");
        assert!(got[0].contains("lookup cycle: a -> b -> c -> a"), "{got:?}");
    }
}
