//! `--sample N` / `--sample P%` (issue 21): which rows of each step a sample run takes, so that
//! the sample is a consistent slice of the job.
//!
//! Owns: the choice. The rows of a step whose lookups name no step of this sample ("roots")
//! are ranked by a hash of their key (SHA-256 of the journal key's text): the N first (or
//! round(P % of them)) are taken, so the same source gives the same rows on every try,
//! whatever the journal holds. A row that looks up a step of the sample is taken exactly when
//! every key it looks up in those steps was taken there (its parents fall inside the sample);
//! its own count does not limit it; a parent (`parent = { step, column }`) counts as a lookup.
//! Where the issue is silent, decided here: a row of a later
//! step whose lookup cells are all empty is a root of that step (ranked and counted like the
//! rows of a step without lookups), and a lookup of a step that is not part of this run does
//! not constrain the row (that step's rows are not sampled now). Must not: send, journal, or
//! decide anything about a row beyond "in the sample or not".

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::job::journal_key;
use super::prepare::Prepared;
use super::steps::{OpenError, open_steps};
use crate::mapping::Pending;

/// How large a sample is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SampleSize {
    /// N rows of each step (its roots).
    Rows(u64),
    /// This percentage of each step's roots, rounded.
    Percent(f64),
}

impl std::str::FromStr for SampleSize {
    type Err = String;

    /// `10` or `10%` (a percentage above 0 and at most 100).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            return match p.trim().parse::<f64>() {
                Ok(p) if p > 0.0 && p <= 100.0 => Ok(SampleSize::Percent(p)),
                _ => Err(format!("`{s}`: a percentage above 0 and at most 100, e.g. 10%")),
            };
        }
        match s.parse::<u64>() {
            Ok(n) if n > 0 => Ok(SampleSize::Rows(n)),
            _ => Err(format!("`{s}`: a number of rows (at least 1) or a percentage, e.g. 100 or 10%")),
        }
    }
}

impl std::fmt::Display for SampleSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SampleSize::Rows(n) => write!(f, "{n}"),
            SampleSize::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl SampleSize {
    /// How many of `roots` rows are taken.
    fn of(self, roots: usize) -> usize {
        match self {
            SampleSize::Rows(n) => (n as usize).min(roots),
            SampleSize::Percent(p) => ((roots as f64) * p / 100.0).round() as usize,
        }
    }
}

/// The rows a sample takes, per step: journal keys (for the run) and source keys (for the
/// lookups of later steps).
#[derive(Debug, Clone, Default)]
pub struct Sample {
    taken: HashMap<String, StepSample>,
}

#[derive(Debug, Clone, Default)]
struct StepSample {
    journal_keys: HashSet<String>,
    source_keys: HashSet<String>,
}

impl Sample {
    /// Whether the row `journal_key` of `step` is in the sample.
    pub fn takes(&self, step: &str, journal_key: &str) -> bool {
        self.taken.get(step).is_some_and(|s| s.journal_keys.contains(journal_key))
    }

    /// The journal keys `step` takes.
    pub fn keys_of(&self, step: &str) -> Vec<&str> {
        let mut keys: Vec<&str> = self
            .taken
            .get(step)
            .map(|s| s.journal_keys.iter().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        keys
    }

    /// Rows `step` takes.
    pub fn count(&self, step: &str) -> usize {
        self.taken.get(step).map_or(0, |s| s.journal_keys.len())
    }

    /// Chooses the sample of steps given as `(name, rows)` in run order.
    pub fn choose<I>(size: SampleSize, steps: impl IntoIterator<Item = (String, I)>) -> Sample
    where
        I: IntoIterator<Item = Prepared>,
    {
        let mut sample = Sample::default();
        for (name, rows) in steps {
            let mut roots: Vec<([u8; 32], String, String)> = Vec::new();
            let mut chosen = StepSample::default();
            for p in rows {
                let jkey = journal_key(&p);
                let parents: Vec<(&str, &str)> = match &p.outcome {
                    Ok(draft) => draft
                        .pending()
                        .iter()
                        .flat_map(|f| f.values.iter())
                        .filter_map(|v| match v {
                            // A parent (comments, activities, records, product rows) is a
                            // lookup too: all the rows of a sampled parent go (a product-row set
                            // is never cut), none of one outside the sample.
                            Pending::Lookup { step, key } | Pending::Parent { step, key }
                                if sample.taken.contains_key(step) =>
                            {
                                Some((step.as_str(), key.as_str()))
                            }
                            _ => None,
                        })
                        .collect(),
                    Err(_) => Vec::new(),
                };
                if parents.is_empty() {
                    roots.push((rank(&jkey), jkey, p.key.clone()));
                } else if parents.iter().all(|(s, k)| sample.taken[*s].source_keys.contains(*k)) {
                    chosen.journal_keys.insert(jkey);
                    chosen.source_keys.insert(p.key.clone());
                }
            }
            roots.sort();
            let n = size.of(roots.len());
            for (_, jkey, key) in roots.into_iter().take(n) {
                chosen.journal_keys.insert(jkey);
                chosen.source_keys.insert(key);
            }
            sample.taken.insert(name, chosen);
        }
        sample
    }

    /// Opens the mappings' sources afresh and chooses the sample (a first pass over every
    /// source; the run then reads them again).
    pub fn of_mappings(size: SampleSize, mappings: &[PathBuf]) -> Result<Sample, OpenError> {
        let steps = open_steps(mappings)?;
        let named = steps.into_iter().map(|s| {
            let name = s.plan.name.clone();
            let (_, rows, _, _) = s.prepare();
            (name, rows.map_while(Result::ok))
        });
        Ok(Sample::choose(size, named))
    }
}

/// A row's place in its step's sample: the hash of its key, nothing else (not the journal,
/// not the line), so that the same source gives the same rows on every try.
fn rank(journal_key: &str) -> [u8; 32] {
    Sha256::digest(journal_key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_is_rows_or_a_percentage() {
        assert_eq!("10".parse::<SampleSize>(), Ok(SampleSize::Rows(10)));
        assert_eq!("10%".parse::<SampleSize>(), Ok(SampleSize::Percent(10.0)));
        assert!("0".parse::<SampleSize>().is_err());
        assert!("150%".parse::<SampleSize>().is_err());
        assert!("ten".parse::<SampleSize>().is_err());
        assert_eq!(SampleSize::Percent(10.0).of(25), 3);
        assert_eq!(SampleSize::Rows(10).of(4), 4);
    }
}
