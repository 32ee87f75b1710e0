//! The spreadsheet reader: one sheet of an `.xlsx`, `.xlsm`, `.xlsb`, `.xls` or `.ods`
//! workbook as [`Record`]s, through calamine.
//!
//! Owns: choosing the sheet (by name or 1-based index, default the first *visible* worksheet,
//! with a note naming a hidden first sheet and the sheet read), finding the header
//! row, laying every later row out by the header's columns (a sheet need not start at A1),
//! turning cells into text ([`super::cell`]), reporting error cells as
//! [`RowProblem::ErrorCell`], and skipping rows whose cells are all blank. Row references are
//! the 1-based sheet rows Excel shows (`deals.xlsx:Deals!17`).
//!
//! Cells that cannot be trusted are never silent blanks: a formula with no saved value is a
//! [`RowProblem::FormulaWithoutValue`] (xlsx/xlsm and ods; xls and xlsb always store the result
//! with the formula), a control character is a [`RowProblem::ControlCharacter`], and merged
//! ranges at or below the header (xlsx/xlsm and xls; calamine reads none from xlsb and ods) are
//! a note listing them, since only the top-left cell of a merged range holds the value. Finding
//! the merged ranges of an xlsx reads the sheet's XML once more before the rows (they are
//! stored after the cells).
//!
//! Reading runs on a dedicated thread that sends records over a bounded channel (the bound is
//! the back-pressure); the source is the receiving end, and dropping it stops the thread.
//! `.xlsx`/`.xlsm`/`.xlsb` are streamed cell by cell, so memory stays flat. **Limit:** `.xls`
//! and `.ods` have no streaming reader in calamine, so their sheet is loaded whole first.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use calamine::{
    Data, DataRef, Dimensions, Ods, Range, Reader, Sheet, SheetType, SheetVisible, Xls, Xlsb, Xlsx,
};

use super::cell::{CellValue, cell_address, column_letters, write_cell};
use super::counting::CountingReader;
use super::sniff::{self, Format};
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
    notes: Vec<String>,
}

type FileReader = BufReader<CountingReader<File>>;

impl SpreadsheetSource {
    /// Opens the workbook as `format` (decided by `sniff`).
    pub(crate) fn open_as(
        options: &SourceOptions,
        format: Format,
        bytes: BytesRead,
    ) -> Result<Self, SourceError> {
        let path = options.path.clone();
        let file = File::open(&path).map_err(|source| SourceError::Open { path: path.clone(), source })?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
        let counting = CountingReader::new(file, bytes.clone(), len);
        let progress = Progress { bytes, reported: counting.reported(), len };
        let reader = BufReader::new(counting);
        let header_row = options.header_row.max(1);
        let (tx, rx) = sync_channel(CHANNEL_ROWS);
        let malformed = |e: &dyn fmt::Display| SourceError::Malformed {
            path: path.clone(),
            message: format!(
                "the workbook cannot be read ({e}): open it in Excel or LibreOffice and save it again"
            ),
        };
        let mut notes = Vec::new();

        match format {
            Format::Xlsx => {
                let mut workbook: Xlsx<FileReader> = Xlsx::new(reader).map_err(|e| malformed(&e))?;
                let sheet =
                    select_sheet(&path, workbook.sheets_metadata(), options.sheet.as_ref(), &mut notes)?;
                // Stored after the cells: one more pass over the sheet's XML.
                let merged = workbook.merge_cells_by_sheet_name(&sheet).unwrap_or_default();
                notes.extend(merged_note(&sheet, &merged, header_row));
                let mut rows = RowAssembler::new(&path, &sheet, header_row, tx);
                spawn_reader(&path, move || {
                    match workbook.worksheet_cells_reader(&sheet) {
                        Ok(mut cells) => rows.drain(|| {
                            cells
                                .next_cell_with_formula_metadata()
                                .map(|cell| cell.map(|c| (c.pos, c.value, c.formula.is_some())))
                        }),
                        Err(e) => rows.fail(&e),
                    }
                    progress.finish();
                })?;
            }
            Format::Xlsb => {
                let mut workbook: Xlsb<FileReader> = Xlsb::new(reader).map_err(|e| malformed(&e))?;
                let sheet =
                    select_sheet(&path, workbook.sheets_metadata(), options.sheet.as_ref(), &mut notes)?;
                let mut rows = RowAssembler::new(&path, &sheet, header_row, tx);
                spawn_reader(&path, move || {
                    match workbook.worksheet_cells_reader(&sheet) {
                        Ok(mut cells) => rows.drain(|| {
                            cells
                                .next_cell()
                                .map(|cell| cell.map(|c| (c.get_position(), c.get_value().clone(), false)))
                        }),
                        Err(e) => rows.fail(&e),
                    }
                    progress.finish();
                })?;
            }
            Format::Xls => {
                let workbook: Xls<FileReader> =
                    Xls::new(reader).map_err(|e| sniff::explain_ole(&path, &e.to_string()))?;
                let sheet =
                    select_sheet(&path, workbook.sheets_metadata(), options.sheet.as_ref(), &mut notes)?;
                let merged = workbook.merge_cells_by_sheet_name(&sheet).unwrap_or_default();
                notes.extend(merged_note(&sheet, &merged, header_row));
                spawn_range_reader(workbook, &path, sheet, false, header_row, tx, progress)?;
            }
            Format::Ods => {
                let workbook: Ods<FileReader> = Ods::new(reader).map_err(|e| malformed(&e))?;
                let sheet =
                    select_sheet(&path, workbook.sheets_metadata(), options.sheet.as_ref(), &mut notes)?;
                spawn_range_reader(workbook, &path, sheet, true, header_row, tx, progress)?;
            }
            Format::Csv => return Err(SourceError::UnknownFormat { path }),
        }

        match rx.recv() {
            Ok(Message::Header(headers)) => {
                Ok(SpreadsheetSource { headers, rows: rx, path, done: false, notes })
            }
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

impl SpreadsheetSource {
    /// Adds the note of a file read as what its content says (see `sniff`).
    pub(crate) fn with_note(mut self, note: Option<String>) -> Self {
        self.notes.extend(note);
        self
    }
}

impl Source for SpreadsheetSource {
    fn headers(&self) -> &[String] {
        &self.headers
    }

    fn notes(&self) -> &[String] {
        &self.notes
    }
}

/// How many merged ranges a note lists by name.
const MERGED_LISTED: usize = 5;

/// The note for merged ranges that reach the header row or the rows below it.
fn merged_note(sheet: &str, merged: &[Dimensions], header_row: usize) -> Option<String> {
    let header_index = u32::try_from(header_row.saturating_sub(1)).unwrap_or(u32::MAX);
    let mut relevant: Vec<&Dimensions> = merged.iter().filter(|d| d.end.0 >= header_index).collect();
    if relevant.is_empty() {
        return None;
    }
    relevant.sort();
    let mut listed: Vec<String> = relevant
        .iter()
        .take(MERGED_LISTED)
        .map(|d| format!("{}:{}", cell_address(d.start.0, d.start.1), cell_address(d.end.0, d.end.1)))
        .collect();
    if relevant.len() > MERGED_LISTED {
        listed.push(format!("and {} more", relevant.len() - MERGED_LISTED));
    }
    Some(format!(
        "sheet `{sheet}` has merged cells ({}): only the top-left cell of a merged range holds the value, \
         the others read as blank; unmerge them and fill the values in if every row needs them",
        listed.join(", ")
    ))
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
/// `formulas`: also load the formulas, to find those with no saved value.
fn spawn_range_reader<R, RS>(
    mut workbook: R,
    path: &Path,
    sheet: String,
    formulas: bool,
    header_row: usize,
    tx: SyncSender<Message>,
    progress: Progress,
) -> Result<(), SourceError>
where
    R: Reader<RS> + Send + 'static,
    R::Error: fmt::Display,
    RS: Read + Seek,
{
    let mut rows = RowAssembler::new(path, &sheet, header_row, tx);
    spawn_reader(path, move || match workbook.worksheet_range(&sheet) {
        Ok(range) => {
            let missing = if formulas {
                match workbook.worksheet_formula(&sheet) {
                    Ok(formulas) => formulas_without_value(&range, &formulas),
                    Err(e) => return rows.fail(&e),
                }
            } else {
                Vec::new()
            };
            progress.finish();
            rows.drain_range(&range, &missing);
        }
        Err(e) => rows.fail(&e),
    })
}

/// Absolute positions (row-major order) of formula cells whose value is empty.
fn formulas_without_value(values: &Range<Data>, formulas: &Range<String>) -> Vec<(u32, u32)> {
    let (row0, col0) = formulas.start().unwrap_or((0, 0));
    let mut missing: Vec<(u32, u32)> = formulas
        .used_cells()
        .filter(|(_, _, f)| !f.is_empty())
        .map(|(r, c, _)| (row0 + r as u32, col0 + c as u32))
        .filter(|&pos| matches!(values.get_value(pos), None | Some(Data::Empty)))
        .collect();
    missing.sort_unstable();
    missing
}

/// The sheet to read: by exact name, else by name ignoring case; by 1-based index; or the
/// first visible worksheet (with a note when that is not the first sheet).
fn select_sheet(
    path: &Path,
    sheets: &[Sheet],
    wanted: Option<&SheetSelector>,
    notes: &mut Vec<String>,
) -> Result<String, SourceError> {
    let names: Vec<String> = sheets.iter().map(|s| s.name.clone()).collect();
    if wanted.is_none()
        && let Some(first) = sheets.first()
        && (first.visible != SheetVisible::Visible || first.typ != SheetType::WorkSheet)
        && let Some(visible) =
            sheets.iter().find(|s| s.visible == SheetVisible::Visible && s.typ == SheetType::WorkSheet)
    {
        let skipped: Vec<String> =
            sheets.iter().take_while(|s| s.name != visible.name).map(|s| format!("`{}`", s.name)).collect();
        notes.push(format!(
            "the first sheet {} is hidden or not a worksheet; read `{}`, the first visible sheet \
             (set `sheet` in [source] to read another)",
            skipped.join(", "),
            visible.name
        ));
        return Ok(visible.name.clone());
    }
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
    /// Columns of the current row's formula cells that have no saved value.
    no_value: Vec<u32>,
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
            no_value: Vec::new(),
            slots: Vec::new(),
            stopped: false,
        }
    }

    /// Feeds every cell of a streaming cell reader (position, value, whether it holds a
    /// formula), then finishes.
    fn drain<'a, E: fmt::Display>(
        &mut self,
        mut next: impl FnMut() -> Result<Option<((u32, u32), DataRef<'a>, bool)>, E>,
    ) {
        while !self.stopped {
            match next() {
                Ok(Some(((row, col), value, formula))) => {
                    if formula && value == DataRef::Empty {
                        self.push_no_value(row, col);
                    } else {
                        self.push(row, col, CellValue::from(&value));
                    }
                }
                Ok(None) => break,
                Err(e) => return self.fail(&e),
            }
        }
        self.finish();
    }

    /// Feeds every used cell of a loaded range (positions made absolute) and the formula
    /// cells with no value (`missing`, row-major) in sheet order, then finishes.
    fn drain_range(&mut self, range: &Range<Data>, missing: &[(u32, u32)]) {
        let (row0, col0) = range.start().unwrap_or((0, 0));
        let mut missing = missing.iter().copied().peekable();
        for (row, col, value) in range.used_cells() {
            if self.stopped {
                return;
            }
            // Range dimensions come from u32 positions, so the offsets fit.
            let (row, col) = (row0 + row as u32, col0 + col as u32);
            while let Some((r, c)) = missing.next_if(|&pos| pos < (row, col)) {
                self.push_no_value(r, c);
            }
            self.push(row, col, CellValue::from(value));
        }
        for (r, c) in missing {
            self.push_no_value(r, c);
        }
        self.finish();
    }

    /// A formula cell with no saved value.
    fn push_no_value(&mut self, row: u32, col: u32) {
        if row < self.header_index {
            return;
        }
        if self.row != Some(row) {
            self.flush();
            self.row = Some(row);
        }
        self.no_value.push(col);
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
        let blank = self.errors.is_empty()
            && self.no_value.is_empty()
            && self.spans.iter().all(|s| self.text[s.start..s.end].trim().is_empty());
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
        self.no_value.clear();
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
        let column_name = |col: u32| {
            col.checked_sub(layout.first_col)
                .and_then(|i| layout.names.get(i as usize))
                .filter(|name| !name.is_empty())
                .cloned()
                .unwrap_or_else(|| format!("column {}", column_letters(col)))
        };
        for (col, value) in self.errors.drain(..) {
            problems.push(RowProblem::ErrorCell {
                column: column_name(col),
                cell: cell_address(row, col),
                value,
            });
        }
        for col in self.no_value.drain(..) {
            problems.push(RowProblem::FormulaWithoutValue {
                column: column_name(col),
                cell: cell_address(row, col),
            });
        }
        // Names and addresses are built only for a row that holds a control character.
        let controls = if find_control_character(&self.text).is_some() { self.slots.as_slice() } else { &[] };
        for span in controls.iter().flatten() {
            let text = &self.text[span.start..span.end];
            problems.extend(control_character_problem(
                text,
                &column_name(span.col),
                Some(cell_address(row, span.col)),
            ));
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
        let message = format!(
            "sheet `{}` cannot be read, the workbook looks damaged ({error}): open it in Excel or \
             LibreOffice and save it again",
            self.sheet
        );
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
