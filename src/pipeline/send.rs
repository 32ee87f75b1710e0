//! A step's journal side of the send loop: what each row's fate becomes in the journal and
//! the report.
//!
//! Owns: the exactly-once bracket of a step's requests ([`Landing`], the step's [`Bracket`]): a
//! request's rows go `sent` in one transaction before it leaves and to their outcomes in one
//! transaction after its answer lands: done with an ID (and the field hashes for later
//! upserts), rejected (a user that already exists becomes that user, when the step says so),
//! not run or split -> pending (sent again by the dispatcher), unknown -> reconciled, too large
//! alone -> rejected `too_large` naming the largest field. Must not decide which rows to send
//! (that is `admit`), nor when a request leaves or goes again (that is the
//! [`Dispatcher`](crate::portal::Dispatcher)).

use serde_json::Value;

use super::core::{Core, Item, Ready, Unknowns};

/// Times a follow-up whose outcome is unknown is sent again in one run (it is idempotent).
const MAX_FOLLOWUP_TRIES: u32 = 5;
use super::stop::Stop;
use crate::journal::keys::shown;
use crate::journal::{FieldHashes, Outcome, Transition};
use crate::mapping::OnExisting;
use crate::payload::Command;
use crate::portal::dispatch::Fate;
use crate::portal::{Bracket, Dispatcher, Landed};

/// A step's bracket of the send loop: its [`Core`] (journal, report) and the rows whose outcome
/// became unknown, filled as answers land.
pub(super) struct Landing<'s, 'a> {
    pub(super) core: &'s mut Core<'a>,
    pub(super) unknowns: &'s mut Unknowns,
}

impl Landing<'_, '_> {
    /// Hands `ready` rows to the dispatcher (requests leave as they fill). A dry run never
    /// writes to the portal (nothing reaches here: it only counts).
    pub(super) async fn send(
        &mut self,
        sender: &mut Dispatcher<Item>,
        ready: Vec<Ready>,
    ) -> Result<(), Stop> {
        if !self.core.writing() {
            return Ok(());
        }
        for r in ready {
            sender
                .push(self, Item { key: r.key, fields: r.fields, followup: false, group: Vec::new() }, r.cmd)
                .await?;
        }
        self.send_followups(sender).await
    }

    /// Sends the follow-ups the answers so far made (and those their answers make).
    pub(super) async fn send_followups(&mut self, sender: &mut Dispatcher<Item>) -> Result<(), Stop> {
        while !self.core.followups.is_empty() {
            for r in std::mem::take(&mut self.core.followups) {
                sender
                    .push(
                        self,
                        Item { key: r.key, fields: r.fields, followup: true, group: Vec::new() },
                        r.cmd,
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Sends `ready` and everything the dispatcher holds, and lands every answer (what did not
    /// run goes again, bounded).
    pub(super) async fn send_all(
        &mut self,
        sender: &mut Dispatcher<Item>,
        ready: Vec<Ready>,
    ) -> Result<(), Stop> {
        self.send(sender, ready).await?;
        self.finish_all(sender).await
    }

    /// Lands everything the dispatcher holds, and the follow-ups the answers make.
    pub(super) async fn finish_all(&mut self, sender: &mut Dispatcher<Item>) -> Result<(), Stop> {
        loop {
            sender.finish(self).await?;
            if self.core.followups.is_empty() || sender.paused() {
                return Ok(());
            }
            self.send_followups(sender).await?;
        }
    }
}

impl Bracket<Item> for Landing<'_, '_> {
    type Stop = Stop;

    fn sent(&mut self, items: &[&Item]) -> Result<(), Stop> {
        let keys: Vec<&str> = items
            .iter()
            .filter(|i| !i.followup)
            .flat_map(|i| std::iter::once(i.key.as_str()).chain(i.group.iter().map(|(k, _)| k.as_str())))
            .collect();
        self.core.ledger.mark_sent(&keys)?;
        Ok(())
    }

    async fn landed(&mut self, rows: Vec<Landed<'_, Item>>) -> Result<(), Stop> {
        let mut outcomes: Vec<(&str, Outcome)> = Vec::with_capacity(rows.len());
        let mut stored: Vec<(&str, &FieldHashes)> = Vec::new();
        let mut split = 0;
        for Landed { item, cmd, fate } in rows {
            if item.followup {
                self.followup_landed(item, cmd, fate)?;
                continue;
            }
            // An import command of several rows: each row with its own item of the command and
            // its own fate (the command's whole fate when it did not run or is unknown).
            let members: Vec<(&str, &Option<FieldHashes>, std::borrow::Cow<'_, Command>, Fate)> =
                if item.group.is_empty() {
                    vec![(item.key.as_str(), &item.fields, std::borrow::Cow::Borrowed(cmd), fate)]
                } else {
                    let firsts = std::iter::once((item.key.as_str(), &item.fields));
                    let all = firsts.chain(item.group.iter().map(|(k, f)| (k.as_str(), f)));
                    let fates: Vec<Fate> = match fate {
                        Fate::Group(parts) => parts,
                        whole => vec![whole; item.group.len() + 1],
                    };
                    all.zip(fates)
                        .enumerate()
                        .map(|(i, ((k, f), fate))| {
                            (k, f, std::borrow::Cow::Owned(crate::payload::import_member(cmd, i)), fate)
                        })
                        .collect()
                };
            for (key, fields, cmd, fate) in members {
                let cmd: &Command = &cmd;
                let Some(outcome) = self.outcome_of(key, fields, cmd, fate, &mut stored, &mut split).await?
                else {
                    continue;
                };
                if let Outcome::Rejected { .. } = outcome {
                    self.core.report.rejected += 1;
                }
                outcomes.push((key, outcome));
            }
        }
        if split > 0 {
            tracing::debug!(rows = split, "a request too large goes again in smaller parts");
        }
        // Outcomes and the field hashes of done rows: one transaction for the whole answer.
        let mut changes: Vec<(&str, Transition<'_>)> =
            outcomes.iter().map(|(k, o)| (*k, o.transition())).collect();
        changes.extend(stored.iter().map(|(k, fields)| (*k, Transition::Confirmed { fields })));
        self.core.ledger.apply(&changes)?;
        // Rows recorded unknown just now are looked up while the step still sends (issue 23).
        if let Some(early) = self.unknowns.early.as_mut() {
            early.start(self.core);
        }
        Ok(())
    }

    fn abandons(stop: &Stop) -> bool {
        // The journal cannot record: the requests are left to finish, their rows stay `sent`.
        matches!(stop, Stop::Journal(_))
    }
}

impl Landing<'_, '_> {
    /// What one row's fate becomes in the journal (`None`: nothing is recorded, the row stays
    /// `sent`); a done row's field hashes go to `stored`, a split one counts in `split`.
    async fn outcome_of<'k>(
        &mut self,
        key: &'k str,
        fields: &'k Option<FieldHashes>,
        cmd: &Command,
        fate: Fate,
        stored: &mut Vec<(&'k str, &'k FieldHashes)>,
        split: &mut usize,
    ) -> Result<Option<Outcome>, Stop> {
        let item_key = key;
        let outcome = {
            match fate {
                Fate::Done { id, update } => {
                    self.core.owe_followup(key, cmd, id);
                    if update {
                        self.core.report.updated += 1;
                    } else {
                        self.core.report.created += 1;
                    }
                    if let Some(f) = fields {
                        stored.push((key, f));
                    }
                    Outcome::Done { id, existing: update }
                }
                Fate::Refused { code, description } => self.failed(key, cmd, &code, &description).await?,
                Fate::NotRun | Fate::Stopped => Outcome::Retry,
                Fate::Split => {
                    *split += 1;
                    Outcome::Retry
                }
                Fate::GaveUp => {
                    self.core
                        .report
                        .notes
                        .push(format!("row {} was refused by limits too often; left pending", shown(key)));
                    Outcome::Retry
                }
                Fate::Unknown { reason } => {
                    self.unknowns.insert(item_key, cmd, fields, &reason);
                    Outcome::Unknown { reason }
                }
                Fate::TooLarge { bytes } => Outcome::Rejected {
                    code: crate::mapping::Problem::TooLarge.as_str().into(),
                    text: self.too_large_text(cmd, bytes),
                },
                // Abandoned on the wire: the row stays `sent`, looked up on the next run.
                Fate::Abandoned => return Ok(None),
                // Only an import command of several rows has a group fate; its rows got theirs.
                Fate::Group(_) => return Ok(None),
            }
        };
        Ok(Some(outcome))
    }

    /// Counts one more try of the row's follow-up; the tries so far.
    fn followup_try(&mut self, key: &str) -> u32 {
        let n = self.core.followup_tries.entry(key.to_string()).or_insert(0);
        *n += 1;
        *n
    }

    /// The answer to a follow-up: done -> the row's field hashes confirmed without the marker
    /// (nothing more is owed); one that did not run goes again (the dispatcher's); refused or
    /// unknown -> sent again (it is idempotent), a few times, then a note: the next run owes it
    /// again.
    fn followup_landed(&mut self, item: &Item, cmd: &Command, fate: Fate) -> Result<(), Stop> {
        let what = match fate {
            Fate::Done { .. } => {
                if let Some(fields) = &item.fields {
                    self.core.ledger.apply(&[(item.key.as_str(), Transition::Confirmed { fields })])?;
                }
                return Ok(());
            }
            Fate::NotRun | Fate::Split | Fate::Abandoned | Fate::Group(_) => return Ok(()),
            Fate::Unknown { .. } | Fate::Stopped if self.followup_try(&item.key) < MAX_FOLLOWUP_TRIES => {
                let again = Ready { key: item.key.clone(), cmd: cmd.clone(), fields: item.fields.clone() };
                self.core.followups.push(again);
                return Ok(());
            }
            Fate::Refused { code, description } => format!("refused ({code}: {description})"),
            Fate::Unknown { reason } => format!("its outcome is unknown ({reason})"),
            Fate::GaveUp | Fate::Stopped | Fate::TooLarge { .. } => "it was not sent".to_string(),
        };
        let done = if cmd.method == crate::payload::Method::CrmAddressUpdate {
            "the address exists, but updating it"
        } else {
            "the activity was added, but marking it completed"
        };
        self.core
            .report
            .notes
            .push(format!("row {}: {done} {what}; the next run tries again", shown(&item.key)));
        Ok(())
    }

    /// Why a row is `too_large`: the request's size and the field that made it large.
    pub(super) fn too_large_text(&self, cmd: &Command, bytes: usize) -> String {
        let biggest = crate::payload::fields_of(cmd)
            .and_then(|m| m.iter().map(|(k, v)| (k, v.to_string().len())).max_by_key(|(_, n)| *n));
        let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
        let mut text = format!(
            "the request for this row is {:.1} MiB ({bytes} bytes), more than the portal accepts \
             (HTTP 413 Request Entity Too Large)",
            mib(bytes)
        );
        if let Some((name, size)) = biggest {
            text.push_str(&format!("; the largest field is `{name}` ({:.1} MiB", mib(size)));
            if let Some(f) = self.core.plan.fields.iter().find(|f| &f.name == name) {
                text.push_str(&format!(", from `{}`", f.label));
            }
            text.push(')');
        }
        text.push_str(
            "; make the file smaller, or raise the request size limit of the portal's web server \
             (nginx client_max_body_size)",
        );
        text
    }

    /// A command the portal refused: rejected, unless it is a user that already exists and
    /// the step says to use existing users.
    pub(super) async fn failed(
        &mut self,
        key: &str,
        cmd: &Command,
        code: &str,
        description: &str,
    ) -> Result<Outcome, Stop> {
        // Adding an address that exists is an update (issue 20): the row is that address (its
        // requisite's ID), its fields confirmed only once the update lands (a run stopped in
        // between owes it again: `rows`).
        if crate::payload::record::is_address_exists(cmd, description)
            && let Some(update) = crate::payload::record::address_update_of(cmd)
            && let Some(id) = crate::payload::record::created_id(&update, &Value::Bool(true)).flatten()
        {
            self.core.owe_address_update(key, update);
            self.core.report.existing += 1;
            return Ok(Outcome::Done { id, existing: true });
        }
        if cmd.method == crate::payload::Method::UserAdd
            && self.core.plan.target.on_existing == OnExisting::Use
            && description.to_lowercase().contains("already exists")
            && let Some(email) = cmd.params.get("EMAIL").and_then(Value::as_str)
            && let Ok(found) = self.core.portal().find_users(&[email.to_lowercase()]).await?
            && let Some(id) = found.get(&email.to_lowercase()).copied()
        {
            self.core.report.existing += 1;
            return Ok(Outcome::Done { id, existing: true });
        }
        Ok(Outcome::Rejected { code: code.to_string(), text: description.to_string() })
    }
}
