//! What a source file really is, from its first bytes rather than its name.
//!
//! Owns the decision table below. Does not read rows. The extension must still be one of the
//! known ones (`.csv .txt .tsv .xlsx .xlsm .xlsb .xls .ods`); within them, content wins:
//!
//! | content                                   | read as            | said to the user        |
//! |-------------------------------------------|--------------------|-------------------------|
//! | zip holding `xl/workbook.xml`             | xlsx               | note if not named so    |
//! | zip holding `xl/workbook.bin`             | xlsb               | note if not named so    |
//! | zip whose `mimetype` is an ODF spreadsheet| ods                | note if not named so    |
//! | zip that cannot be opened (cut short)     | refused            | damaged, copy it again  |
//! | other zip (docx, odt, an archive)         | refused            | what it is              |
//! | OLE compound file (`D0 CF 11 E0`)         | xls                | note if not named so    |
//! | HTML page / XML (e.g. XML Spreadsheet 2003)| refused           | save it as .xlsx        |
//! | text (no NUL, or UTF-16 NUL pattern)      | CSV                | note if not named so    |
//! | anything else named as a workbook         | refused            | neither workbook nor text |
//!
//! Reading a misnamed file as what it is (with a note) was chosen over refusing it: the content
//! is unambiguous, and refusing would only make the user rename a file we can read. A file
//! named `.csv` whose content is not recognised goes to the CSV reader, whose encoding check
//! says what is wrong.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::encoding;
use super::{SourceError, display_name, extension};

/// The readers a file can go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Csv,
    Xlsx,
    Xlsb,
    Xls,
    Ods,
}

impl Format {
    fn from_extension(ext: &str) -> Option<Format> {
        Some(match ext {
            "csv" | "txt" | "tsv" => Format::Csv,
            "xlsx" | "xlsm" => Format::Xlsx,
            "xlsb" => Format::Xlsb,
            "xls" => Format::Xls,
            "ods" => Format::Ods,
            _ => return None,
        })
    }

    /// What the content is, in words.
    fn describe(self) -> &'static str {
        match self {
            Format::Csv => "CSV text",
            Format::Xlsx => "an Excel workbook (xlsx)",
            Format::Xlsb => "an Excel binary workbook (xlsb)",
            Format::Xls => "an Excel 97-2003 workbook (xls)",
            Format::Ods => "an OpenDocument spreadsheet (ods)",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Xlsb => "xlsb",
            Format::Xls => "xls",
            Format::Ods => "ods",
        }
    }
}

/// The reader to use and, when the name says otherwise, the note that tells the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sniffed {
    pub format: Format,
    pub note: Option<String>,
}

const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
/// How much of the file is looked at for text vs binary.
const HEAD_LEN: u64 = 4096;

/// Decides how `path` is read; see the module documentation.
pub(crate) fn sniff(path: &Path) -> Result<Sniffed, SourceError> {
    let named = extension(path)
        .as_deref()
        .and_then(Format::from_extension)
        .ok_or_else(|| SourceError::UnknownFormat { path: path.to_path_buf() })?;
    let mut file =
        File::open(path).map_err(|source| SourceError::Open { path: path.to_path_buf(), source })?;
    let mut head = Vec::new();
    (&mut file)
        .take(HEAD_LEN)
        .read_to_end(&mut head)
        .map_err(|source| SourceError::Io { path: path.to_path_buf(), source })?;
    let refuse = |what: &str, advice: &str| SourceError::WrongContent {
        path: path.to_path_buf(),
        what: what.to_owned(),
        advice: advice.to_owned(),
    };
    let format = if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        zip_format(path, file)?
    } else if head.starts_with(OLE_MAGIC) {
        Format::Xls
    } else if head.is_empty() {
        if named != Format::Csv {
            return Err(refuse("empty (0 bytes)", "export or copy the workbook again"));
        }
        Format::Csv
    } else if let Some(markup) = markup(&head) {
        return Err(refuse(
            markup,
            "open it in Excel or LibreOffice and save it as .xlsx (or export it as CSV), then point `path` at that file",
        ));
    } else if looks_like_text(&head) || named == Format::Csv {
        Format::Csv
    } else {
        return Err(refuse(
            "neither a workbook (xlsx, xlsb, xls, ods) nor text",
            "check that `path` names the right file, or export it again",
        ));
    };
    let note = (format != named).then(|| {
        let name = display_name(path);
        let stem = path.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default();
        format!(
            "{name} is {}, not {}: read as {}; rename it to {stem}.{} to match",
            format.describe(),
            named.describe(),
            format.extension(),
            format.extension()
        )
    });
    Ok(Sniffed { format, note })
}

/// Which workbook a zip archive holds, or the error that says what it is instead.
fn zip_format(path: &Path, file: File) -> Result<Format, SourceError> {
    let refuse = |what: &str, advice: &str| SourceError::WrongContent {
        path: path.to_path_buf(),
        what: what.to_owned(),
        advice: advice.to_owned(),
    };
    let Ok(mut archive) = zip::ZipArchive::new(BufReader::new(file)) else {
        return Err(refuse(
            "a damaged or incomplete zip archive (workbooks are zip archives)",
            "it was probably cut short while copying or downloading: copy or export it again, or open it in Excel or LibreOffice to repair it and save it",
        ));
    };
    let has = |name: &str| archive.index_for_name(name).is_some();
    if has("xl/workbook.xml") {
        return Ok(Format::Xlsx);
    }
    if has("xl/workbook.bin") {
        return Ok(Format::Xlsb);
    }
    let mut mimetype = String::new();
    if let Ok(entry) = archive.by_name("mimetype") {
        // A read error leaves the type unknown, which is refused below.
        let _ = entry.take(200).read_to_string(&mut mimetype);
    }
    let mimetype = mimetype.trim();
    if mimetype == "application/vnd.oasis.opendocument.spreadsheet" {
        return Ok(Format::Ods);
    }
    let what = if archive.index_for_name("word/document.xml").is_some() {
        "a Word document (docx), not a spreadsheet".to_owned()
    } else if archive.index_for_name("ppt/presentation.xml").is_some() {
        "a PowerPoint presentation (pptx), not a spreadsheet".to_owned()
    } else if let Some(kind) = mimetype.strip_prefix("application/vnd.oasis.opendocument.") {
        format!("an OpenDocument {kind} file, not a spreadsheet")
    } else {
        "a zip archive with no workbook inside".to_owned()
    };
    Err(refuse(&what, "point `path` at the spreadsheet itself (unpack the archive first if it holds one)"))
}

/// An HTML page or an XML document: "web" exports that carry an `.xls` name.
fn markup(head: &[u8]) -> Option<&'static str> {
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = text.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(text.len());
    let text = String::from_utf8_lossy(&text[start..]).to_ascii_lowercase();
    if text.starts_with("<?xml") {
        Some(if text.contains("urn:schemas-microsoft-com:office:spreadsheet") {
            "an XML Spreadsheet 2003 file, which cannot be read"
        } else {
            "an XML document, not a spreadsheet"
        })
    } else if ["<!doctype html", "<html", "<table", "<head", "<body"].iter().any(|t| text.starts_with(t)) {
        Some("a web page (HTML), not a spreadsheet")
    } else {
        None
    }
}

/// Text: no NUL byte, or UTF-16 (with a BOM or the NUL pattern of one without).
fn looks_like_text(head: &[u8]) -> bool {
    !head.contains(&0)
        || head.starts_with(b"\xFF\xFE")
        || head.starts_with(b"\xFE\xFF")
        || encoding::utf16_without_bom(head).is_some()
}

/// Why an OLE compound file is not an Excel 97-2003 workbook, found by the stream names in
/// its directory (read when calamine cannot open it as one).
pub(crate) fn explain_ole(path: &Path, detail: &str) -> SourceError {
    let utf16 = |s: &str| s.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>();
    let found = |needle: &[u8]| -> bool {
        let Ok(file) = File::open(path) else { return false };
        // Directory entries are small and usually near the start or the end; the whole file is
        // scanned in chunks (overlapping by the needle length) to be sure.
        let mut reader = BufReader::new(file);
        let mut window: Vec<u8> = Vec::new();
        let mut chunk = vec![0; 64 * 1024];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    window.extend_from_slice(&chunk[..n]);
                    if window.windows(needle.len()).any(|w| w == needle) {
                        return true;
                    }
                    let keep = window.len().saturating_sub(needle.len());
                    window.drain(..keep);
                }
            }
        }
    };
    let (what, advice) = if found(&utf16("EncryptedPackage"))
        || detail.to_ascii_lowercase().contains("password")
    {
        (
            "a password-protected (encrypted) workbook",
            "open it in Excel, remove the password (File > Info > Protect Workbook > Encrypt with Password) and save it",
        )
    } else if found(&utf16("WordDocument")) {
        ("a Word 97-2003 document (doc), not a spreadsheet", "point `path` at the spreadsheet itself")
    } else {
        (
            "an OLE compound file that holds no readable Excel workbook",
            "open it in Excel or LibreOffice and save it as .xlsx, then point `path` at that file",
        )
    };
    SourceError::WrongContent { path: path.to_path_buf(), what: what.to_owned(), advice: advice.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_recognised_after_a_bom_and_whitespace() {
        assert_eq!(markup(b"\xEF\xBB\xBF  <HTML><body>"), Some("a web page (HTML), not a spreadsheet"));
        assert!(
            markup(
                b"<?xml version=\"1.0\"?><Workbook xmlns=\"urn:schemas-microsoft-com:office:spreadsheet\">"
            )
            .is_some_and(|w| w.contains("XML Spreadsheet 2003"))
        );
        assert_eq!(markup(b"Code,Name\n<1>,x\n"), None);
    }

    #[test]
    fn text_is_utf8_without_nul_or_utf16_of_either_order() {
        assert!(looks_like_text(b"a,b\n1,2\n"));
        let le: Vec<u8> = "Code,Name\n1,Ann\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = "Code,Name\n1,Ann\n".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert!(looks_like_text(&le) && looks_like_text(&be));
        assert!(!looks_like_text(b"\x00\x01\x02\x03binary\x00\x00\xFF"));
    }
}
