//! `validate --online`: the portal reads (schema and gaps, users by e-mail, the read-only dry
//! run that counts duplicates) and the per-row check of labels and users by the run's own
//! rules (`pipeline::steps::{row_category, label_value, user_value}`: one copy, shared with
//! the run).
//!
//! Owns: what `--online` adds to a step's check, and its exit codes (2 usage, 3 portal, 130
//! interrupted). Must not write to the portal or the journal, and must not word a label or
//! user rejection itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::Args;
use crate::cli::exit;
use crate::mapping::{MappingPlan, Pending, Problem as Kind, RowIssue};
use crate::payload::Draft;
use crate::pipeline::{self, Step};
use crate::schema::{Gap, LabelBook, PortalSchema, SchemaError};

/// What `--online` read, for checking each step's rows.
pub(super) struct Online {
    pub(super) schema: Arc<PortalSchema>,
    pub(super) gaps: Vec<Vec<Gap>>,
    /// E-mail -> user ID, for every e-mail the rows name; `Err`: the lookup failed.
    pub(super) users: Result<HashMap<String, u64>, String>,
    /// Import steps the portal would refuse whole (`method = "import"`), as `run` says it.
    pub(super) import_refusal: Option<String>,
    /// The catalogue products, read once when a product-rows step names products (issue 20).
    pub(super) catalogue: Option<Result<pipeline::catalogue::Catalogue, String>>,
}

/// One step's share of [`Online`].
pub(super) struct OnlineStep<'a> {
    pub(super) book: Option<LabelBook>,
    pub(super) users: &'a Result<HashMap<String, u64>, String>,
    /// The catalogue products (read when a step names products); `Err`: the read failed.
    pub(super) catalogue: Option<&'a Result<pipeline::catalogue::Catalogue, String>>,
}

/// `--online` with `on_duplicate` in a mapping: what the run would find, from a dry run of
/// every step (read-only: `crm.duplicate.findbycomm` and the items it names; the default
/// journal, when it exists, is only read, so rows it knows are not counted, as in `run`).
/// One entry per step: its figures (`None` without a check), and whether ambiguous rows are
/// rejected. `Err` is the exit code.
pub(super) type DuplicateCounts = Vec<(Option<pipeline::DuplicateFigures>, bool)>;

pub(super) fn duplicate_counts(args: &Args) -> Result<DuplicateCounts, u8> {
    let steps = pipeline::open_steps(&args.mappings).map_err(|_| exit::USAGE)?;
    let rejects: Vec<bool> =
        steps.iter().map(|s| s.plan.duplicates.on_ambiguous == crate::mapping::OnAmbiguous::Reject).collect();
    if steps.iter().all(|s| s.plan.duplicates.on_duplicate == crate::mapping::OnDuplicate::Create) {
        return Ok(rejects.into_iter().map(|r| (None, r)).collect());
    }
    drop(steps);
    let first = args.mappings.first().map(PathBuf::as_path).unwrap_or(Path::new("."));
    let journal = pipeline::run::default_journal(first, "import");
    let pace = crate::cli::run::pace_job("validate --online", first);
    let transport = args
        .portal
        .transport_for_job(&crate::cli::run::default_token_file(&args.mappings), pace)
        .map_err(|e| {
            eprintln!("error: {e:#}");
            exit::USAGE
        })?;
    let rate = args.portal.rate();
    let opts = pipeline::RunOptions {
        dry_run: true,
        args_summary: "validate --online".into(),
        ..pipeline::RunOptions::new(args.mappings.clone(), journal, "import")
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        exit::USAGE
    })?;
    let rate = pipeline::PlanRate { per_second: rate.per_second, burst: rate.burst };
    let outcome =
        runtime.block_on(crate::cli::run::until_stopped(crate::cli::run::run_with(&opts, &transport, rate)));
    runtime.shutdown_timeout(Duration::from_millis(100));
    match outcome {
        None => Err(interrupted()),
        Some(Ok(report)) if report.interrupted => Err(interrupted()),
        Some(Ok(report)) => Ok(report
            .steps
            .into_iter()
            .zip(rejects)
            .map(|(s, r)| ((s.duplicates.rows_checked > 0).then_some(s.duplicates), r))
            .collect()),
        Some(Err(e)) => {
            eprintln!("error: the duplicate check could not be made: {e}");
            Err(exit::PORTAL)
        }
    }
}

/// Ctrl-C or SIGTERM stopped `--online`'s reads (at once, mid-request too): exit 130.
fn interrupted() -> u8 {
    eprintln!("interrupted: validate --online stopped before its reads were done; nothing was written");
    exit::INTERRUPTED
}

/// `--online`: reads the portal's schema (binding smart processes by title), compares every
/// step with it, and looks up the e-mails the rows name. `Err` is the exit code.
pub(super) fn read_online(args: &Args, steps: &mut [Step]) -> Result<Online, u8> {
    let first = args.mappings.first().map(PathBuf::as_path).unwrap_or(Path::new("."));
    let pace = crate::cli::run::pace_job("validate --online", first);
    let transport =
        match args.portal.transport_for_job(&crate::cli::run::default_token_file(&args.mappings), pace) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Err(exit::USAGE);
            }
        };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Err(exit::USAGE);
        }
    };
    let result = runtime.block_on(crate::cli::run::until_stopped(async {
        let pre = pipeline::steps::preflight(steps, &transport, true).await?;
        // Import steps: the administrator and the portal's newest item, as `run` checks them
        // (the "import" permission only `run` can ask: its probe calls a writing method).
        let journal = steps.first().map(|s| pipeline::run::default_journal(&s.file.path, "import"));
        let journal = journal.and_then(|p| crate::journal::Journal::open_read_only(&p).ok());
        let reads = crate::portal::Reads::new(Arc::new(transport.clone()));
        let names_products = steps.iter().any(|s| {
            s.plan.fields.iter().any(|f| matches!(f.deferred, Some(crate::mapping::Deferred::Product(_))))
        });
        let catalogue = if names_products {
            Some(pipeline::catalogue::Catalogue::read_for_validate(&reads).await)
        } else {
            None
        };
        let import_refusal = pipeline::steps::check_imports(steps, journal.as_ref(), &reads, true)
            .await
            .err()
            .map(|e| e.to_string());
        // The workflows the portal starts on every item an add step creates: a note of the step.
        let questions = pipeline::steps::automation_questions(steps);
        for (name, note) in pipeline::steps::automation_notes(questions, reads.clone()).await {
            if let Some(step) = steps.iter_mut().find(|s| s.plan.name == name) {
                step.plan.notes.push(note);
            }
        }
        // Requisite steps: every preset named in the portal (issue 20), as `run` binds them.
        let preset_refusal = pipeline::record::bind_presets(steps, &reads).await.err().map(|e| e.to_string());
        let import_refusal = import_refusal.or(preset_refusal);
        let mut emails = std::collections::BTreeSet::new();
        for step in steps.iter() {
            emails.extend(pipeline::steps::used_emails(&step.plan)?);
        }
        let emails: Vec<String> = emails.into_iter().collect();
        let users = if emails.is_empty() {
            Ok(HashMap::new())
        } else {
            pipeline::steps::find_users(&transport, &emails).await.map_err(SchemaError::Transport)?
        };
        Ok::<_, pipeline::steps::PreflightError>(Online {
            schema: pre.schema,
            gaps: pre.steps.into_iter().map(|(_, g)| g).collect(),
            users,
            import_refusal,
            catalogue,
        })
    }));
    runtime.shutdown_timeout(Duration::from_millis(100));
    let Some(result) = result else { return Err(interrupted()) };
    if let Ok(Online { import_refusal: Some(why), .. }) = &result {
        eprintln!("error: {why}");
        return Err(exit::USAGE);
    }
    result.map_err(|e| {
        eprintln!("error: {e}");
        match e {
            pipeline::steps::PreflightError::Source(_) => exit::USAGE,
            pipeline::steps::PreflightError::Schema(_) => exit::PORTAL,
        }
    })
}

/// `--online`: the row's problems only the portal can show: labels not in its lists, users
/// not found by e-mail. Judged by the run's own rules (`pipeline::steps::{row_category,
/// label_value, user_value}`), so a row passed here resolves in the run with the same texts;
/// unlike the run, every problem of the row is listed, not only the first.
pub(super) fn online_issues(plan: &MappingPlan, draft: &Draft, online: &mut OnlineStep<'_>) -> Vec<RowIssue> {
    use pipeline::steps::{label_value, row_category, user_value};
    let mut issues = Vec::new();
    let column = |field: &str| plan.fields.iter().find(|f| f.name == field).map(|f| f.label.clone());
    let category = match row_category(online.book.as_mut(), draft) {
        Ok(c) => c,
        Err((code, message)) => {
            issues.push(RowIssue { column: column("categoryId"), value: None, code, message });
            return issues;
        }
    };
    for p in draft.pending().iter().flat_map(|f| &f.values) {
        match p {
            Pending::Label { field, label } => {
                // No book: the smart process is missing, a schema gap that already says so.
                if let Some(book) = online.book.as_mut()
                    && let Err((code, message)) = label_value(book, field, label, category)
                {
                    issues.push(RowIssue {
                        column: column(field),
                        value: Some(label.clone()),
                        code,
                        message,
                    });
                }
            }
            Pending::User { email } => {
                let found = match online.users {
                    Ok(found) => Ok(found.get(email).copied()),
                    Err(e) => Err(e.as_str()),
                };
                if let Err((code, message)) = user_value(email, found) {
                    // A failed lookup is not the cell's fault: no column.
                    let column = (code != Kind::LookupFailed)
                        .then(|| {
                            plan.fields
                                .iter()
                                .find(|f| f.deferred == Some(crate::mapping::Deferred::UserByEmail))
                                .map(|f| f.label.clone())
                        })
                        .flatten();
                    issues.push(RowIssue { column, value: Some(email.clone()), code, message });
                }
            }
            Pending::Product { by, value } => match online.catalogue {
                Some(Ok(c)) => {
                    if let Err((code, message)) = c.find(*by, value) {
                        issues.push(RowIssue {
                            column: column("productId"),
                            value: Some(value.clone()),
                            code,
                            message,
                        });
                    }
                }
                Some(Err(e)) => issues.push(RowIssue {
                    column: None,
                    value: Some(value.clone()),
                    code: Kind::LookupFailed,
                    message: format!("could not read the catalogue products: {e}"),
                }),
                None => {}
            },
            Pending::Lookup { .. } | Pending::Parent { .. } => {}
        }
    }
    issues
}
