//! `b24import provision`: bringing the portal to what the mappings need, the writing side of
//! the schema stage.
//!
//! Owns: the rounds of reading and writing ([`provision`]), the pure plan ([`plan`]: gaps ->
//! actions, merged across steps) and the writes ([`apply`]: one documented request per action,
//! through the transport like every request). Reads go through [`crate::pipeline::steps::preflight`]
//! (the schema stage); this stage must not decide what a gap is, only how to close it. It never
//! deletes, never switches a flag off and never changes an existing list item.
//!
//! A round: read the schema and compare ([`preflight`]), plan, write. Whatever depends on an
//! object created in that round (a new smart process's fields, workspace, stages; stages of a
//! new pipeline) is planned in the next round from a fresh read, with the real IDs. Provision
//! stops when a read finds nothing left to write (the portal is ready: a second call makes no
//! write request), when nothing new can be sent (what is left was refused: each refusal is
//! reported once, with its method, and not sent again), or after [`MAX_ROUNDS`]. `--dry-run`
//! plans the first round and sends nothing. A title that names several smart processes or
//! workspaces stops provision before any write ([`Report::ambiguous`]): it never picks one.
//!
//! | file | one job |
//! |---|---|
//! | `plan` | [`plan::plan`]: per step, what exists, what to create or change, what waits |
//! | `apply` | [`apply::request`] (an action's method and parameters), [`apply::send`] |
//!
//! Provision (not a dry run) holds the portal's host-level lock from its first read to its
//! last write (`crate::host_state`, `locks/provision-<portal>.lock`): a second provision
//! started meanwhile waits, then reads what the first made.

pub mod apply;
pub mod plan;

use std::collections::{HashMap, HashSet};

pub use apply::Outcome;
pub use plan::{Action, Plan, StepInput, StepPlan};

use crate::bitrix::Method;
use crate::host_state::{self, HostLock};
use crate::pipeline::Step;
use crate::pipeline::steps::{PreflightError, preflight_with};
use crate::schema::{Gap, Refusal, SchemaError};
use crate::source::SourceError;
use crate::transport::Transport;

/// Rounds of writes at most: the smart process; its workspace, fields, values and pipelines;
/// the stages of new pipelines; one more read to check.
pub const MAX_ROUNDS: usize = 4;

/// Why provision could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A source could not be read to collect the labels its rows use (exit 2).
    #[error("{0}")]
    Source(#[from] SourceError),
    /// The host-level provision lock could not be taken (exit 2).
    #[error("{0}")]
    Lock(#[from] crate::host_state::HostLockError),
}

/// One line of a step's report: a write, and what came of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// `creates` or `changes`.
    pub verb: &'static str,
    pub text: String,
    pub outcome: Outcome,
}

/// What provision found and did for one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepReport {
    pub name: String,
    /// What the step needed that the portal had before provision started.
    pub exists: Vec<String>,
    /// Every write, in order, with its outcome.
    pub lines: Vec<Line>,
    /// What still has to be done after the last round (refused, or waiting for something
    /// refused; in a dry run: what waits for the planned writes).
    pub remaining: Vec<String>,
    /// Gaps provision does not fix (`validate --online` explains them).
    pub left: Vec<String>,
}

/// The outcome of `provision`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub dry_run: bool,
    pub steps: Vec<StepReport>,
    /// Reads the portal refused (rights, scope), once per method.
    pub unread: Vec<Refusal>,
    /// Write requests sent.
    pub writes: u64,
    /// Why provision gave up on the portal (unreachable, credentials refused, an answer of
    /// unknown outcome), if it did: what the report shows was done before.
    pub gave_up: Option<String>,
    /// Titles naming several smart processes or workspaces: provision stopped before writing
    /// (which one is meant cannot be known; exit 2).
    pub ambiguous: Vec<String>,
}

impl Report {
    /// Writes the portal refused, once per (method, code).
    pub fn refusals(&self) -> Vec<&Refusal> {
        let mut out: Vec<&Refusal> = Vec::new();
        for s in &self.steps {
            for l in &s.lines {
                if let Outcome::Refused(r) = &l.outcome
                    && !out.iter().any(|o| o.method == r.method && o.code == r.code)
                {
                    out.push(r);
                }
            }
        }
        out
    }
}

/// Brings the portal to what `steps` need (see the module docs); `dry_run` sends no write.
pub async fn provision(
    steps: &mut [Step],
    transport: &Transport,
    dry_run: bool,
) -> Result<Report, ProvisionError> {
    let address = transport.portal_address();
    let _lock = match dry_run {
        true => None,
        false => Some(
            HostLock::acquire(&host_state::lock_path("provision", &address, None), || {
                tracing::warn!(portal = %address, "another provision of this portal is running: waiting for it");
            })
            .await?,
        ),
    };
    let mut report = Report { dry_run, ..Default::default() };
    let mut refused: Vec<(Method, String, Refusal)> = Vec::new();
    // The rows' labels do not change between rounds: each source is read for them once.
    let mut used = HashMap::new();
    for round in 0..MAX_ROUNDS {
        let pre = match preflight_with(steps, transport, true, &mut used).await {
            Ok(p) => p,
            Err(PreflightError::Source(e)) => return Err(ProvisionError::Source(e)),
            Err(PreflightError::Schema(SchemaError::Refused { method, code, description })) => {
                push_unread(&mut report, Refusal { method, code, description });
                return Ok(report);
            }
            Err(PreflightError::Schema(e)) => {
                report.gave_up = Some(e.to_string());
                return Ok(report);
            }
        };
        // Two smart processes (or workspaces) with one title: never pick one, never add a third.
        let ambiguous: Vec<String> = pre
            .steps
            .iter()
            .flat_map(|(name, gaps)| {
                gaps.iter()
                    .filter(|g| matches!(g, Gap::AmbiguousTitle { .. }))
                    .map(move |g| format!("step `{name}`: {g}"))
            })
            .collect();
        if !ambiguous.is_empty() {
            report.ambiguous = ambiguous;
            return Ok(report);
        }
        let inputs: Vec<StepInput<'_>> = steps
            .iter()
            .zip(&pre.steps)
            .map(|(s, (name, gaps))| StepInput { name, plan: &s.plan, gaps })
            .collect();
        let plan = plan::plan(&inputs, &pre.schema);
        if round == 0 {
            report.steps = plan
                .steps
                .iter()
                .map(|s| StepReport { name: s.name.clone(), exists: s.exists.clone(), ..Default::default() })
                .collect();
        }
        for r in &plan.unread {
            push_unread(&mut report, r.clone());
        }
        for (sr, sp) in report.steps.iter_mut().zip(&plan.steps) {
            sr.left = sp.left.clone();
            sr.remaining.clear();
        }
        if dry_run {
            for (sr, sp) in report.steps.iter_mut().zip(&plan.steps) {
                for &i in &sp.actions {
                    let a = &plan.actions[i];
                    sr.lines.push(Line { verb: a.verb(), text: a.describe(), outcome: Outcome::Planned });
                }
                sr.remaining = sp.later.clone();
            }
            return Ok(report);
        }
        // Send what was not refused before; the rest is what remains.
        let mut outcomes: Vec<Option<Outcome>> = vec![None; plan.actions.len()];
        let mut sent_any = false;
        let mut seen = HashSet::new();
        for (i, action) in plan.actions.iter().enumerate() {
            let (method, params) = apply::request(action);
            let key = (method, params.to_string());
            if !seen.insert(key.clone()) {
                continue;
            }
            if let Some((_, _, r)) = refused.iter().find(|(m, p, _)| *m == key.0 && *p == key.1) {
                outcomes[i] = Some(Outcome::RefusedBefore(r.clone()));
                continue;
            }
            report.writes += 1;
            sent_any = true;
            match apply::send(transport, action).await {
                Ok(o) => {
                    if let Outcome::Refused(r) = &o {
                        refused.push((key.0, key.1, r.clone()));
                    }
                    outcomes[i] = Some(o);
                }
                Err(e) => {
                    report.gave_up = Some(e.to_string());
                    record(&mut report, &plan, &outcomes);
                    return Ok(report);
                }
            }
        }
        record(&mut report, &plan, &outcomes);
        if !sent_any {
            // Nothing new could be sent: what the plan still holds remains.
            for (sr, sp) in report.steps.iter_mut().zip(&plan.steps) {
                for &i in &sp.actions {
                    sr.remaining.push(format!("{} {}", plan.actions[i].verb(), plan.actions[i].describe()));
                }
                sr.remaining.extend(sp.later.iter().cloned());
            }
            return Ok(report);
        }
        if round + 1 == MAX_ROUNDS {
            for (sr, sp) in report.steps.iter_mut().zip(&plan.steps) {
                sr.remaining.extend(sp.later.iter().cloned());
            }
        }
    }
    Ok(report)
}

fn push_unread(report: &mut Report, r: Refusal) {
    if !report.unread.iter().any(|u| u.method == r.method && u.code == r.code) {
        report.unread.push(r);
    }
}

/// Adds the round's sent writes to each step that needs them.
fn record(report: &mut Report, plan: &Plan, outcomes: &[Option<Outcome>]) {
    for (sr, sp) in report.steps.iter_mut().zip(&plan.steps) {
        for &i in &sp.actions {
            if let Some(Some(o)) = outcomes.get(i)
                && !matches!(o, Outcome::RefusedBefore(_))
            {
                let a = &plan.actions[i];
                sr.lines.push(Line { verb: a.verb(), text: a.describe(), outcome: o.clone() });
            }
        }
    }
}
