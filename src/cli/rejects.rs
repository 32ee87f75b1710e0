//! `b24import rejects`: pairs the journal's rejected rows with their source rows again and
//! writes them as UTF-8 CSV (the original columns plus `_row`, `_error_code` and `_error`).
//!
//! Owns: finding a step's mapping from any working directory, and pairing by the row's journal
//! key (never by line number alone). It reads the journal and the sources; it writes only the
//! `--out` files, through [`super::csv_out`] (which protects every cell from formula injection).

use std::path::{Path, PathBuf};

use super::csv_out::{per_step_path, safe_cell};

/// Options of `b24import rejects`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
The original columns are read again from each step's source (the journal keeps no row data) and
paired with the journal's rejected rows by their key, so an edited source does not move an error
onto another row. Rows without a key (or with a repeated key), and every row of a step without
`key`, are kept under their line number: if the source changed since the run, those cannot be
paired reliably and a warning says so.
A rejected row that the source no longer holds is still written, with the journal's `_row` and
empty columns. The mapping is found where the run recorded it (an absolute path), else relative
to the current directory, else relative to the journal's location.
With several steps, one file per step: rejects.csv becomes rejects.contacts.csv, ...")]
pub struct Args {
    #[command(flatten)]
    pub journal: super::journal_args::JournalArgs,
    /// CSV to write: original columns + `_row`, `_error_code`, `_error` (`-`: standard
    /// output, one step at a time).
    #[arg(long, value_name = "FILE")]
    pub out: std::path::PathBuf,
    /// Only this step.
    #[arg(long)]
    pub step: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if let Err(code) = super::output::check_or_exit("--out", Some(&args.out)) {
        return Ok(code);
    }
    let (journal_path, journal) = match args.journal.open_existing() {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let all = journal.steps()?;
    if let Some(name) = &args.step
        && !all.iter().any(|s| s.name == *name)
    {
        let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        eprintln!("error: the journal has no step `{name}`; its steps: {}", names.join(", "));
        return Ok(super::exit::USAGE);
    }
    let mut steps = Vec::new();
    for step in all {
        if args.step.as_ref().is_some_and(|s| *s != step.name) {
            continue;
        }
        let rows = journal.rejected_rows(step.id)?;
        if !rows.is_empty() {
            steps.push((step, rows));
        }
    }
    let several = steps.len() > 1;
    let to_stdout = super::output::is_stdout(&args.out);
    if several && to_stdout {
        let names: Vec<&str> = steps.iter().map(|(s, _)| s.name.as_str()).collect();
        eprintln!(
            "error: --out - writes one step's CSV, and {} steps have rejected rows ({}): add --step NAME, \
             or give a file name (one file per step)",
            names.len(),
            names.join(", ")
        );
        return Ok(super::exit::USAGE);
    }
    let mut total = 0;
    for (step, rows) in steps {
        let out = if several { per_step_path(&args.out, &step.name) } else { args.out.clone() };
        total += rows.len();
        write_step_rejects(&out, &journal, &journal_path, &step, rows)?;
        if to_stdout {
            eprintln!("{}: rejected rows written to standard output", step.name);
        } else {
            outln!("{}: rejected rows written to {}", step.name, out.display());
        }
    }
    if total == 0 && to_stdout {
        eprintln!("no rejected rows");
    } else if total == 0 {
        outln!("no rejected rows");
    }
    Ok(super::exit::OK)
}

/// Finds a step's mapping file from the path the journal recorded: as stored (absolute since
/// this version; a relative one from the current directory), then relative to the journal's
/// location (the default journal is `<mapping dir>/.b24import/<job>.sqlite`, and `--journal`
/// is often given in the directory the run started in). `Err` lists every path tried.
pub(super) fn locate_mapping(stored: &str, journal: &Path) -> Result<PathBuf, Vec<PathBuf>> {
    let stored_path = Path::new(stored);
    let mut tried = vec![stored_path.to_path_buf()];
    if stored_path.is_relative() {
        let journal_dir =
            crate::pipeline::run::absolute_path(journal).parent().map(Path::to_path_buf).unwrap_or_default();
        if journal_dir.file_name().is_some_and(|n| n == ".b24import")
            && let Some(mapping_dir) = journal_dir.parent()
        {
            // The run's directory: the mapping dir without the stored path's own directories.
            let mut run_dir = mapping_dir.to_path_buf();
            let stored_dir = stored_path.parent().unwrap_or(Path::new(""));
            let depth = stored_dir.components().count();
            if mapping_dir.ends_with(stored_dir) {
                for _ in 0..depth {
                    run_dir.pop();
                }
                tried.push(run_dir.join(stored_path));
            }
            if let Some(name) = stored_path.file_name() {
                tried.push(mapping_dir.join(name));
            }
        }
        tried.push(journal_dir.join(stored_path));
    }
    let mut seen = std::collections::HashSet::new();
    tried.retain(|p| seen.insert(p.clone()));
    match tried.iter().find(|p| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(tried),
    }
}

/// Did the step's source change since the run recorded its fingerprint? `None`: the journal
/// has no fingerprint under any name this source may have been recorded by.
fn source_change(
    journal: &crate::journal::Journal,
    stored_mapping: &str,
    mapping: &Path,
    source: &Path,
) -> anyhow::Result<Option<Option<crate::journal::SourceChanged>>> {
    use crate::journal::{Fingerprint, FingerprintCheck};
    let Ok(current) = Fingerprint::of_file(source) else { return Ok(None) };
    // The run records the source as it named it: absolute now; relative to the run's own
    // directory in journals from earlier versions.
    let mut names = vec![crate::pipeline::run::absolute_path(source), source.to_path_buf()];
    if let (Some(dir), Some(stored_dir)) = (mapping.parent(), Path::new(stored_mapping).parent())
        && let Ok(rel) = source.strip_prefix(dir)
    {
        names.push(stored_dir.join(rel));
    }
    for name in names {
        match journal.check_fingerprint(&name, &current)? {
            FingerprintCheck::New => continue,
            FingerprintCheck::Unchanged => return Ok(Some(None)),
            FingerprintCheck::Changed(c) => return Ok(Some(Some(c))),
        }
    }
    Ok(None)
}

/// A key the run gave a row by its line number: no key, or a repeat of a key (`key` is the
/// text of its `RowKey`).
fn keyed_by_line(key: &str) -> bool {
    crate::journal::keys::is_by_line(key)
}

/// Writes one step's rejected rows with their original columns, read again from the source
/// and paired by journal key.
fn write_step_rejects(
    out: &Path,
    journal: &crate::journal::Journal,
    journal_path: &Path,
    record: &crate::journal::StepRecord,
    rows: Vec<crate::journal::RowStatus>,
) -> anyhow::Result<()> {
    use std::collections::HashMap;
    let name = &record.name;
    let mut by_key: HashMap<String, crate::journal::RowStatus> =
        rows.into_iter().map(|r| (r.key.clone(), r)).collect();
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(super::output::open_out(out)?);
    let step = match locate_mapping(&record.mapping_path, journal_path) {
        Ok(path) => crate::pipeline::load_mapping(&path)
            .map_err(|d| d.to_string())
            .and_then(|m| crate::pipeline::Step::open(m).map_err(|e| e.to_string()))
            .map(|s| (path, s)),
        Err(tried) => {
            let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
            Err(format!(
                "the mapping file recorded by the run was not found; tried {} (run `rejects` from the \
                 directory `run` was started in, or pass the journal where the run left it)",
                tried.join(", ")
            ))
        }
    };
    let mut empty_row = Vec::new();
    let mut key_column = None;
    match step {
        Ok((mapping, step)) => {
            let source = step.source_path().clone();
            match source_change(journal, &record.mapping_path, &mapping, &source)? {
                // A keyless step's rows are all keyed by their line number: nothing pairs by key.
                Some(Some(change)) if step.plan.key_columns.is_empty() => eprintln!(
                    "warning: step {name}: {change}; this step has no `key`, so its rows are paired with \
                     the journal by line number: a line inserted or deleted since the run shows an error \
                     on the wrong row; check them against `_error` (a `key` in [source] pairs rows by it)"
                ),
                Some(Some(change)) => {
                    eprintln!(
                        "warning: step {name}: {change}; rows are paired with the journal by their key"
                    );
                    let by_line = by_key.keys().filter(|k| keyed_by_line(k)).count();
                    if by_line > 0 {
                        eprintln!(
                            "warning: step {name}: {by_line} rejected row(s) have no key of their own (no key, or \
                             a repeated key) and are paired by line number: they may be shown with the wrong \
                             row; check them against `_error`"
                        );
                    }
                }
                Some(None) => {}
                None => eprintln!(
                    "note: step {name}: the journal has no fingerprint of {}; cannot tell whether it changed \
                     since the run",
                    source.display()
                ),
            }
            let plan_headers = step.plan.headers.clone();
            if let [k] = step.plan.key_columns.as_slice() {
                key_column = Some(*k);
            }
            empty_row = vec![String::new(); plan_headers.len()];
            let mut header: Vec<String> = plan_headers.iter().map(|h| safe_cell(h)).collect();
            header.extend(["_row", "_error_code", "_error"].map(String::from));
            w.write_record(&header)?;
            let (_, prepared, _, _) = step.prepare();
            for item in prepared {
                let p = match item {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("warning: step {name}: stopped reading {}: {e}", source.display());
                        break;
                    }
                };
                if let Some(r) = by_key.remove(&crate::pipeline::run::journal_key(&p)) {
                    let mut cells: Vec<String> = p.record.cells.iter().map(safe_cell).collect();
                    cells.push(p.record.row.to_string());
                    cells.push(safe_cell(r.error_code.as_deref().unwrap_or("")));
                    cells.push(safe_cell(r.error_text.as_deref().unwrap_or("")));
                    w.write_record(&cells)?;
                }
                if by_key.is_empty() {
                    break;
                }
            }
        }
        Err(e) => {
            eprintln!("warning: step {name}: cannot read the source again ({e}); writing keys only");
            w.write_record(["_key", "_row", "_error_code", "_error"])?;
        }
    }
    // Rows the source no longer has (or could not be read): the journal's key, row and error.
    let mut left: Vec<_> = by_key.into_values().map(|r| (crate::journal::keys::shown(&r.key), r)).collect();
    left.sort_by(|a, b| a.0.cmp(&b.0));
    if !left.is_empty() && !empty_row.is_empty() {
        let keys: Vec<&str> = left.iter().take(5).map(|(shown, _)| shown.as_str()).collect();
        eprintln!(
            "warning: step {name}: {} rejected row(s) are no longer in the source ({}{}); written with \
             `_row` as the run saw it and empty columns",
            left.len(),
            keys.join(", "),
            if left.len() > keys.len() { ", ..." } else { "" }
        );
    }
    for (shown, r) in left {
        let mut cells = if empty_row.is_empty() { vec![safe_cell(&shown)] } else { empty_row.clone() };
        if let Some(k) = key_column
            && let Some(key) = r.row_key().source_key()
            && let Some(cell) = cells.get_mut(k)
        {
            *cell = safe_cell(key);
        }
        cells.push(r.row_ref.clone());
        cells.push(safe_cell(r.error_code.as_deref().unwrap_or("")));
        cells.push(safe_cell(r.error_text.as_deref().unwrap_or("")));
        w.write_record(&cells)?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_mapping_is_found_next_to_the_default_journal_from_another_directory() {
        // Regression: journals kept mapping paths relative to where `run` started.
        let dir = tempfile::tempdir().expect("tempdir");
        let mappings = dir.path().join("imports").join("crm");
        std::fs::create_dir_all(mappings.join(".b24import")).expect("dirs");
        std::fs::write(mappings.join("people.toml"), "").expect("mapping");
        let journal = mappings.join(".b24import").join("import.sqlite");
        let found = locate_mapping("imports/crm/people.toml", &journal).expect("found");
        assert_eq!(found, mappings.join("people.toml"));
    }

    #[test]
    fn a_relative_mapping_is_found_next_to_a_journal_given_in_the_run_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("m")).expect("dirs");
        std::fs::write(dir.path().join("m").join("deals.toml"), "").expect("mapping");
        let found = locate_mapping("m/deals.toml", &dir.path().join("j.sqlite")).expect("found");
        assert_eq!(found, dir.path().join("m").join("deals.toml"));
    }

    #[test]
    fn a_mapping_found_nowhere_lists_every_path_tried() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal = dir.path().join("mappings").join(".b24import").join("import.sqlite");
        let tried = locate_mapping("mappings/gone.toml", &journal).expect_err("missing");
        assert!(tried.len() >= 3, "{tried:?}");
        assert!(tried.contains(&std::path::PathBuf::from("mappings/gone.toml")), "{tried:?}");
    }
}
