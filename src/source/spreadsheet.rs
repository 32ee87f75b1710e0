//! The spreadsheet reader: one sheet of an `.xlsx`, `.xlsm`, `.xlsb`, `.xls` or `.ods`
//! workbook as [`Record`]s, through calamine.
//!
//! Owns: choosing the sheet (by name or 1-based index, default the first), finding the header
//! row, laying every later row out by the header's columns (a sheet need not start at A1),
//! turning cells into text ([`super::cell`]), reporting error cells as
//! [`RowProblem::ErrorCell`], and skipping rows whose cells are all blank. Row references are
//! the 1-based sheet rows Excel shows (`deals.xlsx:Deals!17`).
//!
//! Reading runs on a dedicated thread that sends records over a bounded channel (the bound is
//! the back-pressure); the source is the receiving end, and dropping it stops the thread.
//! `.xlsx`/`.xlsm`/`.xlsb` are streamed cell by cell, so memory stays flat. **Limit:** `.xls`
//! and `.ods` have no streaming reader in calamine, so their sheet is loaded whole first.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use calamine::{Cell, Data, DataRef, Ods, Range, Reader, Xls, Xlsb, Xlsx};

use super::cell::{CellValue, cell_address, column_letters, write_cell};
use super::counting::CountingReader;
use super::*;

/// Records buffered between the reading thread and the consumer.
const CHANNEL_ROWS: usize = 512;

/// What the reading thread sends: first the header (or the failure), then rows.
enum Message {
    Header(Vec<String>),
    Row(Record),
    Failed(SourceError),
}

/// One sheet of a workbook read row by row; see the module documentation.
pub struct SpreadsheetSource {
    headers: Vec<String>,
    rows: Receiver<Message>,
    path: PathBuf,
    done: bool,
}

type FileReader = BufReader<CountingReader<File>>;

impl SpreadsheetSource {
    /// Opens the workbook, selects the sheet, starts the reading thread and waits for the
    /// header row.
    pub fn open(options: &SourceOptions, bytes: BytesRead) -> Result<Self, SourceError> {
        let path = options.path.clone();
        let file = File::open(&path).map_err(|source| SourceError::Open { path: path.clone(), source })?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
        let counting = CountingReader::new(file, bytes.clone(), len);
        let progress = Progress { bytes, reported: counting.reported(), len };
        let reader = BufReader::new(counting);
        let header_row = options.header_row.max(1);
        let (tx, rx) = sync_channel(CHANNEL_ROWS);
        let malformed =
            |e: &dyn fmt::Display| SourceError::Malformed { path: path.clone(), message: e.to_string() };

        // Xlsx and Xlsb both stream cells, but through inherent methods of no shared trait.
        macro_rules! stream_cells {
            ($kind:ident) => {{
                let mut workbook: $kind<FileReader> = $kind::new(reader).map_err(|e| malformed(&e))?;
                let sheet = select_sheet(&path, &workbook.sheet_names(), options.sheet.as_ref())?;
                let mut rows = RowAssembler::new(&path, &sheet, header_row, tx);
                spawn_reader(&path, move || {
                    match workbook.worksheet_cells_reader(&sheet) {
                        Ok(mut cells) => rows.drain(|| cells.next_cell()),
                        Err(e) => rows.fail(&e),
                    }
                    progress.finish();
                })?;
            }};
        }
        match extension(&path).as_deref() {
            Some("xlsx" | "xlsm") => stream_cells!(Xlsx),
            Some("xlsb") => stream_cells!(Xlsb),
            Some("xls") => {
                let workbook: Xls<FileReader> = Xls::new(reader).map_err(|e| malformed(&e))?;
                spawn_range_reader(workbook, &path, options, header_row, tx, progress)?;
            }
            Some("ods") => {
                let workbook: Ods<FileReader> = Ods::new(reader).map_err(|e| malformed(&e))?;
                spawn_range_reader(workbook, &path, options, header_row, tx, progress)?;
            }
            _ => return Err(SourceError::UnknownFormat { path }),
        }

        match rx.recv() {
            Ok(Message::Header(headers)) => Ok(SpreadsheetSource { headers, rows: rx, path, done: false }),
            Ok(Message::Failed(e)) => Err(e),
            Ok(Message::Row(_)) | Err(_) => Err(stopped(&path)),
        }
    }
}

impl Iterator for SpreadsheetSource {
    type Item = Result<Record, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.rows.recv() {
            Ok(Message::Row(record)) => return Some(Ok(record)),
            // The sender is dropped after the last row.
            Err(_) => None,
            Ok(Message::Failed(e)) => Some(Err(e)),
            Ok(Message::Header(_)) => Some(Err(stopped(&self.path))),
        };
        self.done = true;
        item
    }
}

impl Source for SpreadsheetSource {
    fn headers(&self) -> &[String] {
        &self.headers
    }
}

/// Progress of a workbook read: bytes are counted as calamine reads the file, and topped up
/// to the file size at the end (a zip is not read front to back, nor wholly).
struct Progress {
    bytes: BytesRead,
    reported: BytesRead,
    len: u64,
}

impl Progress {
    fn finish(&self) {
        self.bytes.add(self.len.saturating_sub(self.reported.get()));
    }
}

fn stopped(path: &Path) -> SourceError {
    SourceError::Malformed {
        path: path.to_path_buf(),
        message: "the sheet reader stopped unexpectedly".into(),
    }
}

fn spawn_reader(path: &Path, work: impl FnOnce() + Send + 'static) -> Result<(), SourceError> {
    std::thread::Builder::new()
        .name("b24import-sheet".into())
        .spawn(work)
        .map(drop)
        .map_err(|source| SourceError::Io { path: path.to_path_buf(), source })
}

/// `.xls`/`.ods`: calamine loads the whole sheet as a [`Range`], on the reading thread.
fn spawn_range_reader<R, RS>(
    mut workbook: R,
    path: &Path,
    options: &SourceOptions,
    header_row: usize,
    tx: SyncSender<Message>,
    progress: Progress,
) -> Result<(), SourceError>
where
    R: Reader<RS> + Send + 'static,
    R::Error: fmt::Display,
    RS: Read + Seek,
{
    let sheet = select_sheet(path, &workbook.sheet_names(), options.sheet.as_ref())?;
    let mut rows = RowAssembler::new(path, &sheet, header_row, tx);
    spawn_reader(path, move || match workbook.worksheet_range(&sheet) {
        Ok(range) => {
            progress.finish();
            rows.drain_range(&range);
        }
        Err(e) => rows.fail(&e),
    })
}

/// The sheet to read: by exact name, else by name ignoring case; by 1-based index; or the
/// first sheet.
fn select_sheet(
    path: &Path,
    names: &[String],
    wanted: Option<&SheetSelector>,
) -> Result<String, SourceError> {
    let found = match wanted {
        None => names.first(),
        Some(SheetSelector::Name(name)) => names
            .iter()
            .find(|n| *n == name)
            .or_else(|| names.iter().find(|n| n.trim().eq_ignore_ascii_case(name.trim()))),
        Some(SheetSelector::Index(index)) => index.checked_sub(1).and_then(|i| names.get(i)),
    };
    found.cloned().ok_or_else(|| SourceError::SheetNotFound {
        path: path.to_path_buf(),
        wanted: match wanted {
            None => "1 (the first)".to_owned(),
            Some(SheetSelector::Name(name)) => format!("`{name}`"),
            Some(SheetSelector::Index(index)) => index.to_string(),
        },
        available: if names.is_empty() {
            "no sheets".to_owned()
        } else {
            names.iter().enumerate().map(|(i, n)| format!("{} `{n}`", i + 1)).collect::<Vec<_>>().join(", ")
        },
    })
}

/// The header's columns: where they start on the sheet and their names.
struct Layout {
    first_col: u32,
    names: Vec<String>,
}

/// The text of one cell of the row being gathered, as a span of `RowAssembler::text`.
#[derive(Clone, Copy)]
struct Span {
    col: u32,
    start: usize,
    end: usize,
}

/// Gathers cells (in sheet order: row by row, left to right) into records and sends them.
struct RowAssembler {
    path: PathBuf,
    file: Arc<str>,
    sheet: Arc<str>,
    /// 0-based sheet row of the header.
    header_index: u32,
    tx: SyncSender<Message>,
    layout: Option<Layout>,
    /// 0-based sheet row being gathered.
    row: Option<u32>,
    /// Text of the current row's cells, back to back (one buffer, no per-cell Strings).
    text: String,
    spans: Vec<Span>,
    /// Error cells of the current row: column and error text.
    errors: Vec<(u32, String)>,
    /// Per header column: the span holding its text (reused for every row).
    slots: Vec<Option<Span>>,
    /// The consumer is gone or a failure was sent: stop reading.
    stopped: bool,
}

impl RowAssembler {
    fn new(path: &Path, sheet: &str, header_row: usize, tx: SyncSender<Message>) -> Self {
        RowAssembler {
            path: path.to_path_buf(),
            file: display_name(path),
            sheet: sheet.into(),
            header_index: u32::try_from(header_row - 1).unwrap_or(u32::MAX),
            tx,
            layout: None,
            row: None,
            text: String::new(),
            spans: Vec::new(),
            errors: Vec::new(),
            slots: Vec::new(),
            stopped: false,
        }
    }

    /// Feeds every cell of a streaming cell reader, then finishes.
    fn drain<'a, E: fmt::Display>(&mut self, mut next: impl FnMut() -> Result<Option<Cell<DataRef<'a>>>, E>) {
        while !self.stopped {
            match next() {
                Ok(Some(cell)) => {
                    let (row, col) = cell.get_position();
                    self.push(row, col, CellValue::from(cell.get_value()));
                }
                Ok(None) => break,
                Err(e) => return self.fail(&e),
            }
        }
        self.finish();
    }

    /// Feeds every used cell of a loaded range (positions made absolute), then finishes.
    fn drain_range(&mut self, range: &Range<Data>) {
        let (row0, col0) = range.start().unwrap_or((0, 0));
        for (row, col, value) in range.used_cells() {
            if self.stopped {
                return;
            }
            // Range dimensions come from u32 positions, so the offsets fit.
            let (row, col) = (row0 + row as u32, col0 + col as u32);
            self.push(row, col, CellValue::from(value));
        }
        self.finish();
    }

    fn push(&mut self, row: u32, col: u32, value: CellValue<'_>) {
        if row < self.header_index {
            return;
        }
        if self.row != Some(row) {
            self.flush();
            self.row = Some(row);
        }
        let start = self.text.len();
        match write_cell(value, &mut self.text) {
            Some(error) => self.errors.push((col, error)),
            None if self.text.len() > start => self.spans.push(Span { col, start, end: self.text.len() }),
            None => {}
        }
    }

    /// Sends the gathered row (the header, a record, or nothing for a blank row).
    fn flush(&mut self) {
        let Some(row) = self.row.take() else { return };
        let blank =
            self.errors.is_empty() && self.spans.iter().all(|s| self.text[s.start..s.end].trim().is_empty());
        if self.layout.is_none() {
            if row != self.header_index || blank {
                // The header row is missing or holds nothing.
                self.send_no_header();
            } else {
                self.take_header();
            }
        } else if !blank {
            let record = self.build_record(row);
            self.send(Message::Row(record));
        }
        self.text.clear();
        self.spans.clear();
        self.errors.clear();
    }

    fn take_header(&mut self) {
        let used: Vec<Span> =
            self.spans.iter().copied().filter(|s| !self.text[s.start..s.end].trim().is_empty()).collect();
        let first_col = used.iter().map(|s| s.col).min().unwrap_or(0);
        let last_col = used.iter().map(|s| s.col).max().unwrap_or(0);
        let mut names = vec![String::new(); (last_col - first_col) as usize + 1];
        for span in used {
            names[(span.col - first_col) as usize] =
                self.text[span.start..span.end].trim_start_matches('\u{feff}').trim().to_owned();
        }
        self.slots = vec![None; names.len()];
        self.send(Message::Header(names.clone()));
        self.layout = Some(Layout { first_col, names });
    }

    fn build_record(&mut self, row: u32) -> Record {
        let layout = self.layout.as_ref().expect("build_record runs only after the header row");
        let width = layout.names.len();
        self.slots.iter_mut().for_each(|slot| *slot = None);
        // Columns outside the header that hold something: (leftmost, rightmost).
        let mut outside: Option<(u32, u32)> = None;
        for span in &self.spans {
            match span.col.checked_sub(layout.first_col).map(|i| i as usize).filter(|&i| i < width) {
                Some(i) => self.slots[i] = Some(*span),
                None if self.text[span.start..span.end].trim().is_empty() => {}
                None => {
                    let (lo, hi) = outside.unwrap_or((span.col, span.col));
                    outside = Some((lo.min(span.col), hi.max(span.col)));
                }
            }
        }
        let mut cells = csv::StringRecord::with_capacity(self.text.len(), width);
        for slot in &self.slots {
            cells.push_field(slot.map_or("", |s| &self.text[s.start..s.end]));
        }
        let mut problems = Vec::new();
        if let Some((lo, hi)) = outside {
            let last_col = layout.first_col + width as u32 - 1;
            let found = (hi.max(last_col) - lo.min(layout.first_col)) as usize + 1;
            problems.push(RowProblem::Ragged { expected: width, found });
        }
        for (col, value) in self.errors.drain(..) {
            let column = col
                .checked_sub(layout.first_col)
                .and_then(|i| layout.names.get(i as usize))
                .filter(|name| !name.is_empty())
                .cloned()
                .unwrap_or_else(|| format!("column {}", column_letters(col)));
            problems.push(RowProblem::ErrorCell { column, cell: cell_address(row, col), value });
        }
        Record {
            row: RowRef {
                file: self.file.clone(),
                sheet: Some(self.sheet.clone()),
                line: u64::from(row) + 1,
            },
            cells,
            problems,
        }
    }

    fn finish(&mut self) {
        self.flush();
        if self.layout.is_none() && !self.stopped {
            self.send_no_header();
        }
    }

    fn send_no_header(&mut self) {
        let row = self.header_index as usize + 1;
        self.send(Message::Failed(SourceError::NoHeader { path: self.path.clone(), row }));
        self.stopped = true;
    }

    fn fail(&mut self, error: &dyn fmt::Display) {
        let message = format!("sheet `{}`: {error}", self.sheet);
        self.send(Message::Failed(SourceError::Malformed { path: self.path.clone(), message }));
        self.stopped = true;
    }

    fn send(&mut self, message: Message) {
        if !self.stopped && self.tx.send(message).is_err() {
            // The source was dropped: nobody wants the rest.
            self.stopped = true;
        }
    }
}
