//! Source readers: turn a CSV or spreadsheet file into a stream of [`Record`]s.
//!
//! Owns: opening files, encoding and delimiter detection, spreadsheet cell-to-text conversion,
//! and naming every row the way the user finds it ([`RowRef`]). Does not own: what a column
//! means (that is `mapping`). Readers stream: memory stays flat whatever the file size
//! (xlsx is read cell by cell; xls and ods are read whole by calamine, a documented limit).
//!
//! **The file is what its content says** (`sniff`): the first bytes decide the reader, not
//! the extension. A workbook named `.csv`, a CSV named `.xlsx`, an `.xls` named `.xlsx` or an
//! `.ods` named `.xlsx` is read as what it really is, with a note that says so (refusing would
//! only make the user rename a file we can read). What cannot be read is refused with what the
//! file really is and what to do: a damaged or cut-short zip, a Word document, an encrypted
//! workbook, an HTML page or an XML Spreadsheet 2003 named `.xls`, binary data. UTF-16 text
//! without a byte-order mark is recognised by its NUL bytes and read as UTF-16 (with a note).
//!
//! **Nothing is swallowed:** a quoted CSV cell that never closes, or that runs on for more
//! than `MAX_QUOTED_LINES` (100) lines or `MAX_QUOTED_BYTES` (64 KiB), is a
//! [`SourceError::UnclosedQuote`] naming the line where the quote opened, and one whose inner
//! lines read as whole rows (two stray quotes) is a [`SourceError::SwallowedRows`] naming where
//! it opened and closed (unless `multiline_cells`); control characters
//! in a cell and spreadsheet formulas with no saved value are [`RowProblem`]s; a hidden first
//! sheet and merged ranges are notes ([`Source::notes`]).

mod cell;
mod counting;
mod csv_reader;
mod delimiter;
mod encoding;
mod quotes;
mod sniff;
mod spreadsheet;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use csv_reader::CsvSource;
pub use spreadsheet::SpreadsheetSource;

/// Where a row lives, printed as the user finds it: `contacts.csv:42` (the physical line in
/// the file, header = line 1) or `deals.xlsx:Deals!17` (the 1-based sheet row).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowRef {
    /// File name as shown to the user (the last path component).
    pub file: Arc<str>,
    /// Sheet name for spreadsheets; `None` for CSV.
    pub sheet: Option<Arc<str>>,
    /// 1-based line (CSV: the line where the record starts) or sheet row.
    pub line: u64,
}

impl fmt::Display for RowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sheet {
            Some(sheet) => write!(f, "{}:{}!{}", self.file, sheet, self.line),
            None => write!(f, "{}:{}", self.file, self.line),
        }
    }
}

/// One data row: its cells as text, always exactly as many as the header has columns
/// (missing cells are empty, extra cells dropped, and either is recorded in `problems`).
#[derive(Debug, Clone)]
pub struct Record {
    pub row: RowRef,
    pub cells: csv::StringRecord,
    /// Problems the reader found in this row (ragged row, spreadsheet error cell). A row with
    /// problems is still yielded so that it can be reported and written to the rejects file.
    pub problems: Vec<RowProblem>,
}

impl Record {
    /// The cell at `index`, or `""` when the row is short.
    pub fn cell(&self, index: usize) -> &str {
        self.cells.get(index).unwrap_or("")
    }
}

/// A problem the reader found in one row; the row is reported, the read goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowProblem {
    #[error("row has {found} cells, the header has {expected}")]
    Ragged { expected: usize, found: usize },
    /// A spreadsheet error cell such as `#N/A` or `#REF!`; `cell` is its address (`C17`).
    #[error("cell {cell} holds the error {value}")]
    ErrorCell { column: String, cell: String, value: String },
    /// A control character (C0 other than tab, CR and LF, or DEL) in a cell: invisible, and
    /// the portal would store it or refuse the row. `cell` is the A1 address in a spreadsheet.
    #[error(
        "{}control character U+{code_point:04X} at position {position}: remove it from the cell",
        cell.as_ref().map(|c| format!("cell {c}: ")).unwrap_or_default()
    )]
    ControlCharacter {
        column: String,
        cell: Option<String>,
        code_point: u32,
        /// 1-based position of the character in the cell.
        position: usize,
        /// The cell text with control characters escaped (`\u{0}`), at most 80 characters.
        value: String,
    },
    /// A spreadsheet formula cell that carries no saved result (files written by programs
    /// that do not calculate); reading it as blank would lose the value silently.
    #[error(
        "cell {cell} holds a formula with no saved value: open and save the file in Excel or LibreOffice"
    )]
    FormulaWithoutValue { column: String, cell: String },
}

/// The first control character of `text` (C0 other than tab, CR, LF; and DEL) with its
/// 1-based character position.
pub(crate) fn find_control_character(text: &str) -> Option<(char, usize)> {
    let is_control = |b: u8| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7F;
    // Chunks folded without an early exit, so that the compiler vectorises the scan (it runs
    // over every cell of every row).
    if !text.as_bytes().chunks(64).any(|chunk| chunk.iter().fold(false, |seen, &b| seen | is_control(b))) {
        return None;
    }
    text.chars().enumerate().find(|(_, c)| c.is_ascii() && is_control(*c as u8)).map(|(i, c)| (c, i + 1))
}

/// The problem for a control character in `text`, if it holds one.
pub(crate) fn control_character_problem(
    text: &str,
    column: &str,
    cell: Option<String>,
) -> Option<RowProblem> {
    let (c, position) = find_control_character(text)?;
    let mut value = String::new();
    for ch in text.chars().take(80) {
        if ch.is_control() && !matches!(ch, '\t' | '\n' | '\r') {
            value.push_str(&format!("\\u{{{:x}}}", ch as u32));
        } else {
            value.push(ch);
        }
    }
    Some(RowProblem::ControlCharacter {
        column: column.to_owned(),
        cell,
        code_point: c as u32,
        position,
        value,
    })
}

/// Which sheet of a workbook to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetSelector {
    Name(String),
    /// 1-based index, as a user counts tabs.
    Index(usize),
}

/// How to open a source, as the mapping's `[source]` table says (paths already resolved).
#[derive(Debug, Clone)]
pub struct SourceOptions {
    pub path: PathBuf,
    /// CSV only; `None` = detect among `,` `;` tab `|`.
    pub delimiter: Option<u8>,
    /// CSV only; an `encoding_rs` label (`windows-1251`, `koi8-r`, `utf-16le`...), or `auto`
    /// to guess with chardetng. `None` = UTF-8 (BOM-detected UTF-8/UTF-16 honoured); a file that
    /// is not valid UTF-8 is then an error naming the line of the first bad byte.
    pub encoding: Option<String>,
    /// Spreadsheets only; `None` = first sheet.
    pub sheet: Option<SheetSelector>,
    /// 1-based row that holds the column names (default 1).
    pub header_row: usize,
    /// CSV only: a quoted cell may hold lines that read as whole rows (`multiline_cells = true`
    /// in [source]); otherwise such a cell is two stray quotes ([`SourceError::SwallowedRows`]).
    pub multiline_cells: bool,
}

impl SourceOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SourceOptions {
            path: path.into(),
            delimiter: None,
            encoding: None,
            sheet: None,
            header_row: 1,
            multiline_cells: false,
        }
    }
}

/// Why a source cannot be read at all (as opposed to a bad row, which is a [`RowProblem`]).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: cannot open: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{path}: unknown file type (expected .csv, .txt, .tsv, .xlsx, .xlsm, .xlsb, .xls or .ods)")]
    UnknownFormat { path: PathBuf },
    #[error("{path}: unknown encoding `{label}` (try windows-1251, windows-1252, koi8-r, utf-16le, auto)")]
    UnknownEncoding { path: PathBuf, label: String },
    #[error(
        "{path}:{line}: not valid UTF-8 (byte 0x{byte:02X}); set the source encoding, e.g. `encoding = \"{suggestion}\"` in [source]"
    )]
    NotUtf8 { path: PathBuf, line: u64, byte: u8, suggestion: String },
    #[error("{path}: sheet {wanted} not found; the workbook has: {available}")]
    SheetNotFound { path: PathBuf, wanted: String, available: String },
    #[error("{path}: header row {row} is empty or missing")]
    NoHeader { path: PathBuf, row: usize },
    #[error("{path}: {message}")]
    Malformed { path: PathBuf, message: String },
    /// A quoted CSV cell that never closes or runs on implausibly far: everything after the
    /// quote would otherwise become one cell and the rows in it would vanish.
    #[error(
        "{path}:{line}: a quoted cell{} opens here and {why}; nothing after line {line} can be \
         trusted. Look for a stray `\"` at the start of a cell on line {line}: remove it, double it \
         (`\"\"`), or put the whole cell in quotes",
        column.as_ref().map(|c| format!(" (column `{c}`)")).unwrap_or_default()
    )]
    UnclosedQuote { path: PathBuf, line: u64, column: Option<String>, why: String },
    /// A quoted CSV cell whose inner lines read as complete rows of the header's width: two
    /// stray quotes, and the rows between them would vanish into one cell.
    #[error(
        "{path}:{opened}: a quoted cell{} opens here and closes on line {closed}, and {rows} line(s) \
         inside it read as complete rows of {width} columns: two stray `\"`, the rows between them \
         would be lost. Remove or double (`\"\"`) the quotes on lines {opened} and {closed}; if the \
         cell really holds such lines (an address block), set `multiline_cells = true` in [source]",
        column.as_ref().map(|c| format!(" (column `{c}`)")).unwrap_or_default()
    )]
    SwallowedRows { path: PathBuf, opened: u64, closed: u64, column: Option<String>, rows: u64, width: usize },
    /// The content is not what the name says and cannot be read as what it is.
    #[error("{path} is {what}: {advice}")]
    WrongContent { path: PathBuf, what: String, advice: String },
    #[error("{path}: read error: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// A stream of records with a known header.
pub trait Source: Iterator<Item = Result<Record, SourceError>> + Send {
    /// Column names from the header row, in file order (trimmed, BOM removed).
    fn headers(&self) -> &[String];

    /// What the user should know about how the file was read (a misnamed file read as what
    /// it is, a hidden first sheet skipped, merged ranges); shown with the step's summary.
    fn notes(&self) -> &[String] {
        &[]
    }
}

/// Bytes consumed so far, shared with a progress bar.
#[derive(Debug, Clone, Default)]
pub struct BytesRead(Arc<AtomicU64>);

impl BytesRead {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }
}

/// Opens `options.path` with the reader its content calls for (see the module documentation); the extension
/// must be a known one. `bytes` is advanced as the file is consumed (for progress display).
pub fn open(options: &SourceOptions, bytes: BytesRead) -> Result<Box<dyn Source>, SourceError> {
    let sniffed = sniff::sniff(&options.path)?;
    Ok(match sniffed.format {
        sniff::Format::Csv => Box::new(CsvSource::open(options, bytes)?.with_note(sniffed.note)),
        format => Box::new(SpreadsheetSource::open_as(options, format, bytes)?.with_note(sniffed.note)),
    })
}

fn extension(path: &Path) -> Option<String> {
    path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase())
}

/// The name shown in [`RowRef`]s: the file's last path component.
pub fn display_name(path: &Path) -> Arc<str> {
    path.file_name().map(|n| n.to_string_lossy()).unwrap_or_else(|| path.to_string_lossy()).into()
}
