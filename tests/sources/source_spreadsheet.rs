//! Spreadsheet sources end to end: the committed `deals.xlsx`, and small workbooks written
//! here (hand-made SpreadsheetML zipped with the `zip` crate) for the edge cases.

use crate::common;

use common::{cells, open_with, read_all, sample};
use std::io::Write;
use std::path::PathBuf;

use b24import::source::{self, BytesRead, RowProblem, SheetSelector, Source, SourceError, SourceOptions};

fn expect_error(result: Result<Box<dyn Source>, SourceError>) -> SourceError {
    match result {
        Err(e) => e,
        Ok(_) => panic!("expected the source to fail"),
    }
}

/// A workbook written into a temp dir; each sheet is (name, inner XML of `<sheetData>`).
struct TempXlsx {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn write_xlsx(sheets: &[(&str, &str)]) -> TempXlsx {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("book.xlsx");
    let file = std::fs::File::create(&path).expect("create workbook");
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut put = |name: &str, text: &str| {
        zip.start_file(name, options).expect("zip entry");
        zip.write_all(text.as_bytes()).expect("zip write");
    };
    let mut overrides = String::new();
    let mut sheet_list = String::new();
    let mut rels = String::new();
    for (i, (name, _)) in sheets.iter().enumerate() {
        let n = i + 1;
        overrides.push_str(&format!(
            r#"<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#
        ));
        sheet_list.push_str(&format!(r#"<sheet name="{name}" sheetId="{n}" r:id="rId{n}"/>"#));
        rels.push_str(&format!(
            r#"<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{n}.xml"/>"#
        ));
    }
    put(
        "[Content_Types].xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>{overrides}</Types>"#
        ),
    );
    put(
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
    );
    put(
        "xl/workbook.xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{sheet_list}</sheets></workbook>"#
        ),
    );
    put(
        "xl/_rels/workbook.xml.rels",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#
        ),
    );
    // Style 1: a date (numFmt 14); style 2: a duration ([h]:mm:ss, numFmt 46).
    put(
        "xl/styles.xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts count="1"><font/></fonts><fills count="1"><fill/></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/><xf numFmtId="46" applyNumberFormat="1"/></cellXfs></styleSheet>"#,
    );
    for (i, (_, data)) in sheets.iter().enumerate() {
        put(
            &format!("xl/worksheets/sheet{}.xml", i + 1),
            &format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{data}</sheetData></worksheet>"#
            ),
        );
    }
    zip.finish().expect("finish zip");
    TempXlsx { _dir: dir, path }
}

/// An inline-string cell.
fn s(cell: &str, text: &str) -> String {
    format!(r#"<c r="{cell}" t="inlineStr"><is><t>{text}</t></is></c>"#)
}

/// A number cell, optionally styled.
fn n(cell: &str, value: &str, style: u8) -> String {
    format!(r#"<c r="{cell}" s="{style}"><v>{value}</v></c>"#)
}

fn row(r: u32, cells: &[String]) -> String {
    format!(r#"<row r="{r}">{}</row>"#, cells.concat())
}

const DEAL_HEADERS: [&str; 10] = [
    "Deal ID",
    "Title",
    "Stage",
    "Amount",
    "Currency",
    "Close date",
    "Contact code",
    "Company code",
    "Owner e-mail",
    "Probability",
];

#[test]
fn deals_sample_reads_the_first_sheet_with_dates_numbers_and_error_cells() {
    let source = open_with(&sample("deals.xlsx"), |_| {}).expect("sample opens");
    assert_eq!(source.headers(), DEAL_HEADERS);
    let rows = read_all(source);
    assert_eq!(rows.len(), 20, "the empty row in the middle is skipped");
    assert_eq!(rows[0].row.to_string(), "deals.xlsx:Deals!2");
    assert_eq!(
        cells(&rows[0]),
        [
            "D-2001",
            "CRM rollout, phase 1",
            "NEW",
            "150000.5",
            "RUB",
            "2026-03-14",
            "C-1001",
            "CO-025",
            "anna@x.ru",
            "20"
        ]
    );
    assert_eq!(rows[2].cell(5), "2026-02-27T09:30:00");

    let na = &rows[4];
    assert_eq!((na.cell(0), na.cell(7)), ("D-2005", ""));
    assert_eq!(
        na.problems,
        [RowProblem::ErrorCell { column: "Company code".into(), cell: "H6".into(), value: "#N/A".into() }]
    );

    // Row 10 is empty (formatted cells only): the next deal keeps its own sheet row.
    let after_gap = rows.iter().find(|r| r.cell(0) == "D-2009").expect("D-2009 present");
    assert_eq!(after_gap.row.to_string(), "deals.xlsx:Deals!11");
    let untitled = rows.iter().find(|r| r.cell(0) == "D-2010").expect("D-2010 present");
    assert_eq!(untitled.cell(1), "");
    assert_eq!(rows[19].cell(3), "1250000", "a whole-number float has no .0");
    assert_eq!(rows.iter().filter(|r| !r.problems.is_empty()).count(), 1);
}

#[test]
fn a_sheet_is_chosen_by_name_ignoring_case_or_by_index() {
    for selector in
        [SheetSelector::Name("Notes".into()), SheetSelector::Name("notes".into()), SheetSelector::Index(2)]
    {
        let source = open_with(&sample("deals.xlsx"), |o| o.sheet = Some(selector.clone())).expect("opens");
        assert_eq!(source.headers(), ["Note"], "{selector:?}");
        let rows = read_all(source);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].row.to_string(), "deals.xlsx:Notes!2");
    }
}

#[test]
fn an_unknown_sheet_lists_the_sheets_there_are() {
    let error = expect_error(open_with(&sample("deals.xlsx"), |o| {
        o.sheet = Some(SheetSelector::Name("Dels".into()))
    }));
    assert!(matches!(error, SourceError::SheetNotFound { .. }));
    let message = error.to_string();
    assert!(message.contains("`Dels`") && message.contains("1 `Deals`, 2 `Notes`"), "{message}");

    let error = expect_error(open_with(&sample("deals.xlsx"), |o| o.sheet = Some(SheetSelector::Index(3))));
    assert!(matches!(error, SourceError::SheetNotFound { .. }), "{error}");
}

#[test]
fn header_row_two_and_a_table_that_does_not_start_at_a1() {
    let book = write_xlsx(&[(
        "Export",
        &[
            row(1, &[s("A1", "Exported from Legacy CRM")]),
            row(2, &[s("C2", " Phone "), s("D2", "Name"), s("E2", "Paid")]),
            row(3, &[n("C3", "79161234567", 0), s("D3", "Анна"), r#"<c r="E3" t="b"><v>1</v></c>"#.into()]),
            row(5, &[n("C5", "8.5", 0), r#"<c r="E5" t="b"><v>0</v></c>"#.into()]),
        ]
        .concat(),
    )]);
    let source = open_with(&book.path, |o| o.header_row = 2).expect("opens");
    assert_eq!(source.headers(), ["Phone", "Name", "Paid"]);
    let rows = read_all(source);
    let got: Vec<(String, Vec<&str>)> = rows.iter().map(|r| (r.row.to_string(), cells(r))).collect();
    assert_eq!(
        got,
        [
            ("book.xlsx:Export!3".to_owned(), vec!["79161234567", "Анна", "true"]),
            ("book.xlsx:Export!5".to_owned(), vec!["8.5", "", "false"]),
        ]
    );
}

#[test]
fn dates_times_and_durations_become_iso_text() {
    let book = write_xlsx(&[(
        "S",
        &[
            row(1, &[s("A1", "Date"), s("B1", "When"), s("C1", "Took")]),
            row(
                2,
                &[n("A2", "46095", 1), n("B2", "46095.395833333336", 1), n("C2", "1.5104166666666667", 2)],
            ),
        ]
        .concat(),
    )]);
    let rows = read_all(open_with(&book.path, |_| {}).expect("opens"));
    assert_eq!(cells(&rows[0]), ["2026-03-14", "2026-03-14T09:30:00", "36:15:00"]);
}

#[test]
fn error_cells_are_row_problems_naming_the_cell_and_cells_outside_the_header_are_ragged() {
    let book = write_xlsx(&[(
        "S",
        &[
            row(1, &[s("A1", "Code"), s("B1", "Total")]),
            row(2, &[s("A2", "X"), r##"<c r="B2" t="e"><f>1/0</f><v>#DIV/0!</v></c>"##.into()]),
            row(3, &[s("A3", "Y"), n("B3", "1", 0), s("D3", "stray")]),
            row(4, &[r##"<c r="A4" t="e"><v>#REF!</v></c>"##.into()]),
        ]
        .concat(),
    )]);
    let rows = read_all(open_with(&book.path, |_| {}).expect("opens"));
    assert_eq!(cells(&rows[0]), ["X", ""]);
    assert_eq!(
        rows[0].problems,
        [RowProblem::ErrorCell { column: "Total".into(), cell: "B2".into(), value: "#DIV/0!".into() }]
    );
    assert_eq!(cells(&rows[1]), ["Y", "1"]);
    assert_eq!(rows[1].problems, [RowProblem::Ragged { expected: 2, found: 4 }]);
    // A row holding only an error cell is not empty: it is reported.
    assert_eq!(
        rows[2].problems,
        [RowProblem::ErrorCell { column: "Code".into(), cell: "A4".into(), value: "#REF!".into() }]
    );
}

#[test]
fn an_empty_header_row_is_an_error() {
    let book = write_xlsx(&[("S", &[row(2, &[s("A2", "late header")])].concat())]);
    let error = expect_error(open_with(&book.path, |_| {}));
    assert!(matches!(error, SourceError::NoHeader { row: 1, .. }), "{error}");
    let empty = write_xlsx(&[("S", "")]);
    let error = expect_error(open_with(&empty.path, |_| {}));
    assert!(matches!(error, SourceError::NoHeader { row: 1, .. }), "{error}");
}

#[test]
fn dropping_the_source_early_stops_the_reading_thread() {
    let mut data = row(1, &[s("A1", "N")]);
    for r in 2..5000 {
        data.push_str(&row(r, &[n(&format!("A{r}"), &r.to_string(), 0)]));
    }
    let book = write_xlsx(&[("Big", &data)]);
    let mut source = open_with(&book.path, |_| {}).expect("opens");
    let first: Vec<String> = source.by_ref().take(3).map(|r| r.expect("row").cell(0).to_owned()).collect();
    assert_eq!(first, ["2", "3", "4"]);
    drop(source); // must not hang: the thread sees the closed channel and stops
    let all = read_all(open_with(&book.path, |_| {}).expect("opens"));
    assert_eq!(all.len(), 4998);
    assert_eq!(all[4997].row.line, 4999);
}

#[test]
fn bytes_read_reaches_the_workbook_size() {
    let bytes = BytesRead::default();
    let path = sample("deals.xlsx");
    let source = source::open(&SourceOptions::new(&path), bytes.clone()).expect("opens");
    assert_eq!(source.count(), 20);
    assert_eq!(bytes.get(), std::fs::metadata(&path).expect("sample exists").len());
}

// Changed by issue 8 ("the file is what its content says"): CSV text named .xlsx used to be
// refused as a malformed workbook; it is now read as CSV, with a note saying so.
#[test]
fn a_file_that_is_not_a_workbook_is_read_as_what_it_is_or_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fake.xlsx");
    std::fs::write(&path, b"Code,Name\n1,x\n").expect("write");
    let source = open_with(&path, |_| {}).expect("CSV text is read as CSV");
    assert_eq!(source.notes().len(), 1, "{:?}", source.notes());
    assert!(source.notes()[0].contains("fake.xlsx is CSV text"), "{:?}", source.notes());
    assert_eq!(read_all(source).len(), 1);
    std::fs::write(&path, b"\x00\x01\x02binary\x00").expect("write");
    let error = expect_error(open_with(&path, |_| {}));
    assert!(matches!(error, SourceError::WrongContent { .. }), "{error}");
}
