//! Writing rejected rows as UTF-8 CSV: the original columns plus `_row` and `_error`,
//! with every cell protected against spreadsheet formula injection.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::Context as _;

use crate::mapping::RowIssue;
use crate::source::Record;

pub struct RejectsWriter {
    out: csv::Writer<BufWriter<File>>,
}

impl RejectsWriter {
    pub fn create(path: &Path, headers: &[String]) -> anyhow::Result<Self> {
        let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = csv::WriterBuilder::new().flexible(true).from_writer(BufWriter::new(file));
        let mut header: Vec<String> = headers.iter().map(|h| safe_cell(h)).collect();
        header.push("_row".into());
        header.push("_error".into());
        out.write_record(&header).context("cannot write the rejects file")?;
        Ok(RejectsWriter { out })
    }

    pub fn write(&mut self, record: &Record, issues: &[RowIssue]) -> anyhow::Result<()> {
        let mut row: Vec<String> = record.cells.iter().map(safe_cell).collect();
        row.push(record.row.to_string());
        row.push(safe_cell(&crate::mapping::describe(issues)));
        self.out.write_record(&row).context("cannot write the rejects file")
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        self.out.flush().context("cannot write the rejects file")
    }
}

/// A cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a
/// leading `'`, so it is shown as text.
pub fn safe_cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")")]
    #[case("+7 916", "'+7 916")]
    #[case("-1", "'-1")]
    #[case("@SUM(A1)", "'@SUM(A1)")]
    #[case("Иван", "Иван")]
    #[case("", "")]
    fn formula_like_cells_are_neutralised(#[case] input: &str, #[case] want: &str) {
        assert_eq!(safe_cell(input), want);
    }
}

/// Options of `b24import rejects`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
The original columns are read again from each step's source (the journal keeps no row data);
a row whose source can no longer be read is written with `_key` only. With several steps, one
file per step: rejects.csv becomes rejects.contacts.csv, rejects.deals.csv, ...")]
pub struct Args {
    #[command(flatten)]
    pub journal: super::run::JournalArgs,
    /// CSV to write: original columns + `_row`, `_error_code`, `_error`.
    #[arg(long, value_name = "FILE")]
    pub out: std::path::PathBuf,
    /// Only this step.
    #[arg(long)]
    pub step: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let (_, journal) = match args.journal.open_existing() {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let mut steps = Vec::new();
    for step in journal.steps()? {
        if args.step.as_ref().is_some_and(|s| *s != step.name) {
            continue;
        }
        let rows = journal.rejected_rows(step.id)?;
        if !rows.is_empty() {
            steps.push((step, rows));
        }
    }
    let several = steps.len() > 1;
    let mut total = 0;
    for (step, rows) in steps {
        let out =
            if several { super::validate::per_step_path(&args.out, &step.name) } else { args.out.clone() };
        total += rows.len();
        write_step_rejects(&out, Path::new(&step.mapping_path), rows)?;
        println!("{}: rejected rows written to {}", step.name, out.display());
    }
    if total == 0 {
        println!("no rejected rows");
    }
    Ok(super::exit::OK)
}

/// Writes one step's rejected rows with their original columns, read again from the source.
fn write_step_rejects(
    out: &Path,
    mapping: &Path,
    rows: Vec<crate::journal::RowStatus>,
) -> anyhow::Result<()> {
    use std::collections::HashMap;
    let mut by_ref: HashMap<String, crate::journal::RowStatus> =
        rows.into_iter().map(|r| (r.row_ref.clone(), r)).collect();
    let file = File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(BufWriter::new(file));
    let step = crate::pipeline::load_mapping(mapping)
        .map_err(|d| d.to_string())
        .and_then(|m| crate::pipeline::Step::open(m).map_err(|e| e.to_string()));
    match step {
        Ok(step) => {
            let mut header: Vec<String> = step.plan.headers.iter().map(|h| safe_cell(h)).collect();
            header.extend(["_row", "_error_code", "_error"].map(String::from));
            w.write_record(&header)?;
            for record in step.source.flatten() {
                if let Some(r) = by_ref.remove(&record.row.to_string()) {
                    let mut cells: Vec<String> = record.cells.iter().map(safe_cell).collect();
                    cells.push(r.row_ref.clone());
                    cells.push(safe_cell(r.error_code.as_deref().unwrap_or("")));
                    cells.push(safe_cell(r.error_text.as_deref().unwrap_or("")));
                    w.write_record(&cells)?;
                }
            }
        }
        Err(e) => {
            eprintln!(
                "warning: cannot read the source of {} again ({e}); writing keys only",
                mapping.display()
            );
            w.write_record(["_key", "_row", "_error_code", "_error"])?;
        }
    }
    // Rows the source no longer has (or could not be read): key and error only.
    let mut left: Vec<_> = by_ref.into_values().collect();
    left.sort_by(|a, b| a.key.cmp(&b.key));
    for r in left {
        w.write_record([
            safe_cell(&r.key),
            r.row_ref.clone(),
            safe_cell(r.error_code.as_deref().unwrap_or("")),
            safe_cell(r.error_text.as_deref().unwrap_or("")),
        ])?;
    }
    w.flush()?;
    Ok(())
}
