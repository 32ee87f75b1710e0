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
        row.push(safe_cell(&describe(issues)));
        self.out.write_record(&row).context("cannot write the rejects file")
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        self.out.flush().context("cannot write the rejects file")
    }
}

/// All of a row's problems in one cell: `Birthday "31.02.1990": not a valid date; ...`.
pub fn describe(issues: &[RowIssue]) -> String {
    issues
        .iter()
        .map(|i| {
            let mut s = String::new();
            if let Some(c) = &i.column {
                s.push_str(c);
            }
            if let Some(v) = &i.value {
                s.push_str(&format!(" \"{v}\""));
            }
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&i.message);
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
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
