//! CSV sources end to end: the committed samples, and files of every supported encoding,
//! line ending and shape written into a temp dir.

use crate::common;

use common::{cells, open_with, read_all, sample};
use std::path::{Path, PathBuf};

use b24import::source::{self, BytesRead, RowProblem, SourceError, SourceOptions};
use encoding_rs::{KOI8_R, WINDOWS_1251};

struct TempCsv {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn write_temp(name: &str, bytes: &[u8]) -> TempCsv {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write fixture");
    TempCsv { _dir: dir, path }
}

fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

const CONTACT_HEADERS: [&str; 15] = [
    "Code",
    "First name",
    "Last name",
    "Birthday",
    "Phones",
    "E-mail",
    "Kind",
    "Open",
    "Company code",
    "Tags",
    "Contract file",
    "Amount",
    "Currency",
    "Notes",
    "Source",
];

#[test]
fn companies_sample_reads_every_row_at_its_line() {
    let source = open_with(&sample("companies.csv"), |_| {}).expect("sample opens");
    assert_eq!(
        source.headers(),
        [
            "Code",
            "Company",
            "Industry",
            "Phone",
            "E-mail",
            "Website",
            "Revenue",
            "Employees",
            "Founded",
            "Notes"
        ]
    );
    let rows = read_all(source);
    assert_eq!(rows.len(), 26);
    assert_eq!(rows[0].row.to_string(), "companies.csv:2");
    assert_eq!(cells(&rows[0])[..3], ["CO-001", "Acme Logistics", "OTHER"]);
    assert!(rows.iter().all(|r| r.problems.is_empty() && r.cells.len() == 10));
    // The note of CO-018 spans two lines, so the next record starts one line later.
    let multiline = rows.iter().position(|r| r.cell(0) == "CO-018").expect("CO-018 present");
    assert_eq!(rows[multiline].cell(9), "Multi-line\nnote: contracts renewed yearly");
    assert_eq!(rows[multiline + 1].row.line, rows[multiline].row.line + 2);
}

#[test]
fn contacts_sample_in_windows_1251_decodes_names_quotes_and_ragged_rows() {
    let source = open_with(&sample("contacts_cp1251.csv"), |o| o.encoding = Some("windows-1251".into()))
        .expect("opens");
    assert_eq!(source.headers(), CONTACT_HEADERS);
    let rows = read_all(source);
    assert_eq!(rows.len(), 29);
    assert_eq!(rows[0].row.to_string(), "contacts_cp1251.csv:2");
    assert_eq!(
        cells(&rows[0])[..5],
        ["C-1001", "Иван", "Иванов", "14.03.1985", "8 (916) 123-45-67, +7 495 111-22-33"]
    );
    assert_eq!(rows[0].cell(11), "1 500,50");

    let ragged = rows.iter().find(|r| r.cell(0) == "C-1011").expect("ragged row present");
    assert_eq!(ragged.problems, [RowProblem::Ragged { expected: 15, found: 12 }]);
    assert_eq!(ragged.cells.len(), 15);
    assert_eq!(ragged.cell(11), "500,00");
    assert_eq!(ragged.cell(14), "");

    let multiline = rows.iter().position(|r| r.cell(0) == "C-1012").expect("C-1012 present");
    assert_eq!(rows[multiline].cell(13), "Договор на 2026 год;\nпродление в марте; звонить утром");
    assert_eq!(rows[multiline + 1].row.line, rows[multiline].row.line + 2);
    assert_eq!(rows.iter().filter(|r| !r.problems.is_empty()).count(), 1);
}

#[test]
fn contacts_sample_is_recognised_with_auto_encoding() {
    let source =
        open_with(&sample("contacts_cp1251.csv"), |o| o.encoding = Some("auto".into())).expect("opens");
    assert_eq!(source.headers(), CONTACT_HEADERS);
    let rows = read_all(source);
    assert_eq!(rows[1].cell(1), "Мария");
}

#[test]
fn windows_1251_without_an_encoding_is_an_error_naming_the_line_and_a_label() {
    let error = match open_with(&sample("contacts_cp1251.csv"), |_| {}) {
        Err(e) => e,
        Ok(_) => panic!("a windows-1251 file must not open as UTF-8"),
    };
    match &error {
        SourceError::NotUtf8 { line, suggestion, .. } => {
            assert_eq!(*line, 2, "the first Cyrillic letter is on line 2");
            assert_eq!(suggestion, "windows-1251");
        }
        other => panic!("expected NotUtf8, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("contacts_cp1251.csv:2"), "{message}");
    assert!(message.contains("encoding = \"windows-1251\""), "{message}");
}

#[test]
fn a_bad_byte_after_the_first_64_kib_stops_the_stream_at_its_line() {
    let mut content = String::from("id,name\n");
    for i in 0..5000 {
        content.push_str(&format!("{i},plain ascii name number {i}\n"));
    }
    let mut bytes = content.into_bytes();
    assert!(bytes.len() > 64 * 1024);
    bytes.extend(b"5000,\"quoted\nname \xC7\xE0\xF0\"\n5001,after\n");
    let file = write_temp("late.csv", &bytes);

    let mut source = open_with(&file.path, |_| {}).expect("the first 64 KiB are fine");
    let good = source.by_ref().take(5000).filter(Result::is_ok).count();
    assert_eq!(good, 5000);
    match source.next() {
        Some(Err(SourceError::NotUtf8 { line, byte, .. })) => {
            // The record starts on line 5002; the bad byte is on its second line.
            assert_eq!((line, byte), (5003, 0xC7));
        }
        other => panic!("expected NotUtf8, got {other:?}"),
    }
    assert!(source.next().is_none(), "the stream ends after a source error");
}

#[test]
fn koi8_r_files_read_with_their_label() {
    let text = "Фамилия|Имя\nИванов|Иван\nПетрова|Мария\n";
    let file = write_temp("koi8.csv", &KOI8_R.encode(text).0);
    let source = open_with(&file.path, |o| o.encoding = Some("KOI8-R".into())).expect("opens");
    assert_eq!(source.headers(), ["Фамилия", "Имя"]);
    let rows = read_all(source);
    assert_eq!(cells(&rows[1]), ["Петрова", "Мария"]);
}

#[test]
fn utf16le_with_a_bom_is_detected_without_a_label() {
    let file = write_temp("u16.csv", &utf16le_with_bom("Code\tName\r\n1\tЁжик\r\n2\t\"Tab\there\"\r\n"));
    let source = open_with(&file.path, |_| {}).expect("opens");
    assert_eq!(source.headers(), ["Code", "Name"]);
    let rows = read_all(source);
    assert_eq!(cells(&rows[0]), ["1", "Ёжик"]);
    assert_eq!(cells(&rows[1]), ["2", "Tab\there"]);
    assert_eq!(rows[1].row.line, 3);
}

#[test]
fn a_utf8_bom_is_not_part_of_the_first_column_name() {
    let file = write_temp("bom.csv", "\u{feff}Email;Name\nanna@x.ru;Анна\n".as_bytes());
    let source = open_with(&file.path, |_| {}).expect("opens");
    assert_eq!(source.headers(), ["Email", "Name"]);
    assert_eq!(cells(&read_all(source)[0]), ["anna@x.ru", "Анна"]);
}

#[test]
fn crlf_quotes_escapes_and_blank_lines_keep_physical_line_numbers() {
    let content = "a,b,c\r\n\
                   1,\"say \"\"hi\"\"\",x\r\n\
                   \r\n\
                   2,\"two\r\nlines, one cell\",y\r\n\
                   ,,\r\n\
                   3,z,\"\"\r\n";
    let file = write_temp("crlf.csv", content.as_bytes());
    let rows = read_all(open_with(&file.path, |_| {}).expect("opens"));
    let got: Vec<(u64, Vec<&str>)> = rows.iter().map(|r| (r.row.line, cells(r))).collect();
    assert_eq!(
        got,
        [
            (2, vec!["1", "say \"hi\"", "x"]),
            (4, vec!["2", "two\r\nlines, one cell", "y"]),
            (7, vec!["3", "z", ""]),
        ]
    );
}

#[test]
fn ragged_rows_are_padded_or_truncated_and_flagged() {
    let content = "a,b,c\n1,2\n1,2,3,4\n1,2,3,,\n1\n";
    let file = write_temp("ragged.csv", content.as_bytes());
    let rows = read_all(open_with(&file.path, |_| {}).expect("opens"));
    let got: Vec<(Vec<&str>, Vec<RowProblem>)> =
        rows.iter().map(|r| (cells(r), r.problems.clone())).collect();
    assert_eq!(
        got,
        [
            (vec!["1", "2", ""], vec![RowProblem::Ragged { expected: 3, found: 2 }]),
            (vec!["1", "2", "3"], vec![RowProblem::Ragged { expected: 3, found: 4 }]),
            // Trailing empty cells lose nothing: not a problem.
            (vec!["1", "2", "3"], vec![]),
            (vec!["1", "", ""], vec![RowProblem::Ragged { expected: 3, found: 1 }]),
        ]
    );
}

#[test]
fn header_row_two_skips_a_title_line() {
    let content = "Exported 2026-03-14 from Legacy CRM\nCode;Name\nC-1;Анна\n";
    let file = write_temp("titled.csv", content.as_bytes());
    let source = open_with(&file.path, |o| o.header_row = 2).expect("opens");
    assert_eq!(source.headers(), ["Code", "Name"]);
    let rows = read_all(source);
    assert_eq!((rows[0].row.line, cells(&rows[0])), (3, vec!["C-1", "Анна"]));
}

#[test]
fn a_given_delimiter_overrides_detection() {
    let content = "a;b;c,d\n1;2;3,4\n";
    let file = write_temp("given.csv", content.as_bytes());
    let detected = open_with(&file.path, |_| {}).expect("opens");
    assert_eq!(detected.headers(), ["a", "b", "c,d"]);
    let given = open_with(&file.path, |o| o.delimiter = Some(b',')).expect("opens");
    assert_eq!(given.headers(), ["a;b;c", "d"]);
}

#[test]
fn header_names_are_trimmed() {
    let file = write_temp("spaces.csv", b" Code ,\tName\t\n1,x\n");
    let source = open_with(&file.path, |o| o.delimiter = Some(b',')).expect("opens");
    assert_eq!(source.headers(), ["Code", "Name"]);
}

#[test]
fn an_unknown_encoding_label_is_an_error() {
    let file = write_temp("x.csv", b"a,b\n");
    match open_with(&file.path, |o| o.encoding = Some("cp-9999".into())) {
        Err(SourceError::UnknownEncoding { label, .. }) => assert_eq!(label, "cp-9999"),
        Err(other) => panic!("expected UnknownEncoding, got {other:?}"),
        Ok(_) => panic!("expected UnknownEncoding"),
    }
}

#[test]
fn an_empty_file_has_no_header() {
    let file = write_temp("empty.csv", b"\r\n\r\n");
    match open_with(&file.path, |_| {}) {
        Err(SourceError::NoHeader { row, .. }) => assert_eq!(row, 1),
        Err(other) => panic!("expected NoHeader, got {other:?}"),
        Ok(_) => panic!("expected NoHeader"),
    }
}

#[test]
fn a_missing_file_is_an_open_error() {
    let result = open_with(Path::new("/nonexistent/dir/contacts.csv"), |_| {});
    assert!(matches!(result, Err(SourceError::Open { .. })));
}

#[test]
fn bytes_read_reaches_the_file_size() {
    let bytes = BytesRead::default();
    let path = sample("contacts_cp1251.csv");
    let mut options = SourceOptions::new(&path);
    options.encoding = Some("cp1251".into());
    let source = source::open(&options, bytes.clone()).expect("opens");
    assert_eq!(source.count(), 29);
    assert_eq!(bytes.get(), std::fs::metadata(&path).expect("sample exists").len());
}

#[test]
fn users_sample_reads_with_quoted_department_lists() {
    let rows = read_all(open_with(&sample("users.csv"), |_| {}).expect("opens"));
    assert_eq!(rows.len(), 12);
    assert_eq!(rows[2].cell(3), "1,5");
    assert!(rows.iter().all(|r| r.problems.is_empty()));
}

#[test]
fn windows_1251_file_written_here_matches_its_utf8_text() {
    // Guards the sample generator and the decoder against each other on every letter.
    let alphabet = "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюя№";
    let file = write_temp("abc.csv", &WINDOWS_1251.encode(&format!("text\n{alphabet}\n")).0);
    let rows = read_all(open_with(&file.path, |o| o.encoding = Some("windows-1251".into())).expect("opens"));
    assert_eq!(rows[0].cell(0), alphabet);
}
