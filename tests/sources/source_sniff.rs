//! The file is what its content says: misnamed files are read as what they are (with a note),
//! files that cannot be read are named for what they are, through `b24import validate`.

use crate::source_fixtures;

use source_fixtures::{docx, ods, simple_xlsx, validate_file};

const CSV: &str = "Code,Name\n1,Acme\n2,Beta\n";

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    text.encode_utf16().flat_map(|u| if big_endian { u.to_be_bytes() } else { u.to_le_bytes() }).collect()
}

// Regression: a workbook named .csv was read as garbage text (or a UTF-8 error).
#[test]
fn an_xlsx_named_csv_is_read_as_a_workbook_with_a_note() {
    let (code, out, err) = validate_file("contacts.csv", &simple_xlsx(&[("1", "Acme"), ("2", "Beta")]), "");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("2 read, 2 valid"), "{out}");
    assert!(
        out.contains(
            "contacts.csv is an Excel workbook (xlsx), not CSV text: read as xlsx; rename it to contacts.xlsx"
        ),
        "{out}"
    );
}

#[test]
fn an_xlsx_named_xls_is_read_as_a_workbook_with_a_note() {
    let (code, out, err) = validate_file("book.xls", &simple_xlsx(&[("1", "Acme")]), "");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("1 read, 1 valid"), "{out}");
    assert!(
        out.contains("book.xls is an Excel workbook (xlsx), not an Excel 97-2003 workbook (xls)"),
        "{out}"
    );
}

#[test]
fn a_csv_named_xlsx_is_read_as_csv_with_a_note() {
    let (code, out, err) = validate_file("book.xlsx", CSV.as_bytes(), "");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("2 read, 2 valid"), "{out}");
    assert!(out.contains("book.xlsx is CSV text, not an Excel workbook (xlsx): read as csv"), "{out}");
}

#[test]
fn an_ods_named_xlsx_is_read_as_opendocument_with_a_note() {
    let (code, out, err) = validate_file("book.xlsx", &ods(&[&["Code", "Name"], &["1", "Acme"]]), "");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("1 read, 1 valid"), "{out}");
    assert!(out.contains("book.xlsx is an OpenDocument spreadsheet (ods)"), "{out}");
}

#[test]
fn an_ole_file_named_xlsx_goes_to_the_xls_reader_and_is_named_not_an_ole_error() {
    let mut bytes = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
    bytes.resize(2048, 0);
    let (code, out, err) = validate_file("book.xlsx", &bytes, "");
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("book.xlsx is an OLE compound file that holds no readable Excel workbook"), "{err}");
    assert!(err.contains("save it as .xlsx"), "{err}");
}

#[test]
fn an_encrypted_workbook_is_named_as_password_protected() {
    let mut bytes = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
    bytes.resize(1024, 0);
    bytes.extend("EncryptedPackage".encode_utf16().flat_map(u16::to_le_bytes));
    bytes.resize(4096, 0);
    let (code, out, err) = validate_file("secret.xlsx", &bytes, "");
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("secret.xlsx is a password-protected (encrypted) workbook"), "{err}");
    assert!(err.contains("remove the password"), "{err}");
}

// Regression: a truncated workbook showed a raw zip error ("Could not find EOCD").
#[test]
fn a_truncated_xlsx_is_a_damaged_archive_not_a_zip_error() {
    let bytes = simple_xlsx(&[("1", "Acme")]);
    let (code, out, err) = validate_file("book.xlsx", &bytes[..bytes.len() * 2 / 3], "");
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("book.xlsx is a damaged or incomplete zip archive"), "{err}");
    assert!(err.contains("copy or export it again"), "{err}");
    assert!(!err.to_lowercase().contains("eocd"), "{err}");
}

#[test]
fn a_truncated_xlsx_named_csv_is_also_a_damaged_archive() {
    let bytes = simple_xlsx(&[("1", "Acme")]);
    let (code, _, err) = validate_file("book.csv", &bytes[..100], "");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("book.csv is a damaged or incomplete zip archive"), "{err}");
    assert!(!err.contains("encoding"), "no encoding advice for a zip: {err}");
}

#[test]
fn a_word_document_named_xlsx_is_named_as_such() {
    let (code, _, err) = validate_file("book.xlsx", &docx(), "");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("book.xlsx is a Word document (docx), not a spreadsheet"), "{err}");
}

#[test]
fn an_html_page_named_xls_says_to_save_it_as_xlsx() {
    let page = "<!DOCTYPE html><html><body><table><tr><td>Code</td></tr></table></body></html>";
    let (code, _, err) = validate_file("report.xls", page.as_bytes(), "");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("report.xls is a web page (HTML), not a spreadsheet"), "{err}");
    assert!(err.contains("save it as .xlsx"), "{err}");
}

#[test]
fn an_xml_spreadsheet_2003_named_xls_says_to_save_it_as_xlsx() {
    let xml =
        r#"<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"></Workbook>"#;
    let (code, _, err) = validate_file("report.xls", xml.as_bytes(), "");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("report.xls is an XML Spreadsheet 2003 file"), "{err}");
}

#[test]
fn binary_data_named_xlsx_is_neither_workbook_nor_text() {
    let (code, _, err) = validate_file("book.xlsx", b"\x00\x01\x02\x03\xFF\xFE\x00\x00junk\x00", "");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("book.xlsx is neither a workbook (xlsx, xlsb, xls, ods) nor text"), "{err}");
}

// Regression: UTF-16 without a BOM read as UTF-8 put a NUL between every two characters.
#[test]
fn utf16le_without_a_bom_is_read_as_utf16_with_a_note() {
    let (code, out, err) = validate_file("a.csv", &utf16("Code,Name\r\n1,Иван\r\n2,Ann\r\n", false), "");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("2 read, 2 valid"), "{out}");
    assert!(out.contains("a.csv has no byte-order mark but is UTF-16LE text"), "{out}");
}

#[test]
fn utf16be_without_a_bom_is_read_as_utf16_with_a_note() {
    let (code, out, err) = validate_file("a.csv", &utf16("Code;Name\n1;Иван\n2;Ann\n", true), "");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("2 read, 2 valid"), "{out}");
    assert!(out.contains("a.csv has no byte-order mark but is UTF-16BE text"), "{out}");
}

// Regression: UTF-16 content could be told to use a single-byte encoding.
#[test]
fn utf16_without_a_bom_and_a_single_byte_encoding_set_is_told_to_use_utf16() {
    let bytes = utf16("Code,Name\n1,Иван\n", false);
    let (code, _, err) = validate_file("a.csv", &bytes, "encoding = \"windows-1251\"");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("a.csv is UTF-16LE text without a byte-order mark"), "{err}");
    assert!(err.contains("set `encoding = \"utf-16le\"`"), "{err}");
    assert!(!err.contains("encoding = \"windows-1251\"` in"), "{err}");
}
