//! Source files written by the tests that need them (no committed binaries): minimal xlsx,
//! ods and docx archives from hand-written XML, a mapping beside them, and `validate` run as a
//! user runs it.
#![allow(dead_code)] // each test file uses its own subset

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

/// One sheet of a hand-made workbook.
pub struct XSheet<'a> {
    pub name: &'a str,
    /// Inner XML of `<sheetData>`.
    pub data: String,
    /// `hidden`, `veryHidden`, or `None` for a visible sheet.
    pub state: Option<&'a str>,
    /// XML after `</sheetData>` (e.g. `<mergeCells>`).
    pub tail: String,
}

impl<'a> XSheet<'a> {
    pub fn new(name: &'a str, data: String) -> Self {
        XSheet { name, data, state: None, tail: String::new() }
    }
}

fn zip_bytes(entries: &[(&str, String)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, text) in entries {
        zip.start_file(*name, options).expect("zip entry");
        zip.write_all(text.as_bytes()).expect("zip write");
    }
    zip.finish().expect("finish zip").into_inner()
}

/// A minimal xlsx workbook.
pub fn xlsx(sheets: &[XSheet<'_>]) -> Vec<u8> {
    let mut overrides = String::new();
    let mut sheet_list = String::new();
    let mut rels = String::new();
    let mut entries = Vec::new();
    for (i, sheet) in sheets.iter().enumerate() {
        let n = i + 1;
        overrides.push_str(&format!(
            r#"<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#
        ));
        let state = sheet.state.map(|s| format!(r#" state="{s}""#)).unwrap_or_default();
        sheet_list.push_str(&format!(r#"<sheet name="{}" sheetId="{n}"{state} r:id="rId{n}"/>"#, sheet.name));
        rels.push_str(&format!(
            r#"<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{n}.xml"/>"#
        ));
        entries.push((
            format!("xl/worksheets/sheet{n}.xml"),
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{}</sheetData>{}</worksheet>"#,
                sheet.data, sheet.tail
            ),
        ));
    }
    let mut all = vec![
        (
            "[Content_Types].xml".to_string(),
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>{overrides}</Types>"#
            ),
        ),
        (
            "_rels/.rels".to_string(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_string(),
        ),
        (
            "xl/workbook.xml".to_string(),
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{sheet_list}</sheets></workbook>"#
            ),
        ),
        (
            "xl/_rels/workbook.xml.rels".to_string(),
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#
            ),
        ),
    ];
    all.extend(entries);
    let borrowed: Vec<(&str, String)> = all.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    zip_bytes(&borrowed)
}

/// An inline-string cell.
pub fn s(cell: &str, text: &str) -> String {
    format!(r#"<c r="{cell}" t="inlineStr"><is><t>{text}</t></is></c>"#)
}

pub fn row(r: u32, cells: &[String]) -> String {
    format!(r#"<row r="{r}">{}</row>"#, cells.concat())
}

/// The one-sheet workbook most tests need: `Code`, `Name` and the given data rows.
pub fn simple_xlsx(rows: &[(&str, &str)]) -> Vec<u8> {
    let mut data = row(1, &[s("A1", "Code"), s("B1", "Name")]);
    for (i, (code, name)) in rows.iter().enumerate() {
        let r = i as u32 + 2;
        data.push_str(&row(r, &[s(&format!("A{r}"), code), s(&format!("B{r}"), name)]));
    }
    xlsx(&[XSheet::new("Sheet1", data)])
}

/// A minimal OpenDocument spreadsheet of one sheet; `rows` are rows of string cells.
pub fn ods(rows: &[&[&str]]) -> Vec<u8> {
    let mut table = String::new();
    for cells in rows {
        table.push_str("<table:table-row>");
        for c in *cells {
            table.push_str(&format!(
                r#"<table:table-cell office:value-type="string"><text:p>{c}</text:p></table:table-cell>"#
            ));
        }
        table.push_str("</table:table-row>");
    }
    ods_table(&table)
}

/// A minimal OpenDocument spreadsheet whose one sheet holds `table` (`<table:table-row>`s).
pub fn ods_table(table: &str) -> Vec<u8> {
    zip_bytes(&[
        ("mimetype", "application/vnd.oasis.opendocument.spreadsheet".to_string()),
        (
            "META-INF/manifest.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#.to_string(),
        ),
        (
            "content.xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Sheet1">{table}</table:table></office:spreadsheet></office:body></office:document-content>"#
            ),
        ),
    ])
}

/// A zip that is a Word document.
pub fn docx() -> Vec<u8> {
    zip_bytes(&[
        ("[Content_Types].xml", "<Types/>".to_string()),
        ("word/document.xml", "<document/>".to_string()),
    ])
}

/// Writes `mapping.toml` beside a source named `source` (company titles from `Name`, keyed by
/// `Code`), with `extra` added to `[source]`.
pub fn write_mapping(dir: &Path, source: &str, extra: &str) -> std::path::PathBuf {
    let mapping = dir.join("mapping.toml");
    std::fs::write(
        &mapping,
        format!(
            "name = \"companies\"\n[source]\npath = \"{source}\"\nkey = \"Code\"\n{extra}\n[target]\nentity = \"company\"\n[fields]\ntitle = \"Name\"\n"
        ),
    )
    .expect("mapping");
    mapping
}

/// `b24import validate <mapping>`.
pub fn validate(mapping: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_b24import")).arg("validate").arg(mapping).output().expect("binary runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `bytes` as `dir/name`, a mapping for it, and validates it: (exit code, stdout, stderr).
pub fn validate_file(name: &str, bytes: &[u8], extra: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join(name), bytes).expect("source");
    let out = validate(&write_mapping(dir.path(), name, extra));
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}
