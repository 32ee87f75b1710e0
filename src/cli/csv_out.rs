//! Rejected rows as UTF-8 CSV, shared by `validate --rejects` and `b24import rejects` (and the
//! cell protection `ids` uses): the original columns plus `_row` and `_error`, one file per step
//! when there are several.
//!
//! Owns: formula-injection protection of every cell and the per-step file name. It knows no
//! command; the commands decide what to write and where.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::mapping::RowIssue;
use crate::source::Record;

/// A `validate --rejects` file: the source's columns, then `_row` and `_error`.
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

/// `rejects.csv` + `contacts` -> `rejects.contacts.csv`.
pub fn per_step_path(path: &Path, step: &str) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "rejects".into());
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{step}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{step}"),
    };
    path.with_file_name(name)
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

    #[test]
    fn a_second_step_gets_its_name_before_the_extension() {
        assert_eq!(
            per_step_path(Path::new("out/rejects.csv"), "contacts"),
            Path::new("out/rejects.contacts.csv")
        );
        assert_eq!(per_step_path(Path::new("rejects"), "deals"), Path::new("rejects.deals"));
    }
}
