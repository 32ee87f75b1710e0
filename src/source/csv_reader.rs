//! The CSV reader: a streamed file of any encoding and delimiter as [`Record`]s.
//!
//! Owns: reading the first 64 KiB to choose the encoding ([`super::encoding`]) and the
//! delimiter ([`super::delimiter`]), then parsing the rest as it streams with `csv_core`
//! (quoted multi-line cells, `""` escapes, CR, LF and CRLF endings), giving every record the
//! physical line where it starts, padding or truncating ragged rows to the header width
//! (a [`RowProblem::Ragged`]), flagging control characters in cells
//! ([`RowProblem::ControlCharacter`]), and skipping rows whose cells are all blank.
//!
//! **Quotes that never close.** A quoted cell runs until its closing quote, across lines; a
//! stray `"` at the start of a cell would turn the rest of the file into one cell. So a quoted
//! cell that reaches the end of the file unclosed, or that spans more than
//! [`MAX_QUOTED_LINES`] line breaks or [`MAX_QUOTED_BYTES`] bytes, stops the read with a
//! [`SourceError::UnclosedQuote`] naming the line (and column) where the quote opened. The
//! bounds are far above real multi-line notes and far below what a stray quote swallows.
//! Two stray quotes a few dozen lines apart close the cell within those bounds, so a quoted
//! cell whose inner lines (begun and ended inside it, without a quote) have the header's width
//! is [`SourceError::SwallowedRows`], naming where it opened and closed, unless
//! `multiline_cells` says such cells are real.
//! Must not: hold more than one record and the read buffers in memory, or guess what a
//! column means.
//!
//! `csv_core` is used directly rather than `csv::Reader` because the latter reports the
//! position where the previous record *ended*, which is off by the blank lines and the LF of
//! a CRLF in between; here blank lines are skipped (and counted) before each record starts.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};

use csv_core::ReadRecordResult;
use encoding_rs_io::DecodeReaderBytesBuilder;

use super::counting::CountingReader;
use super::encoding::{self, Decoding};
use super::*;

/// How much of the file is examined up front for the encoding and the delimiter.
const PREFIX_LEN: usize = 64 * 1024;
/// Read buffer between the (decoded) file and the parser.
const BUFFER_LEN: usize = 64 * 1024;
pub use super::quotes::{MAX_QUOTED_BYTES, MAX_QUOTED_LINES};
use super::quotes::{OpenQuote, QuoteTracker, Swallowed};

/// A CSV file read record by record; see the module documentation.
pub struct CsvSource {
    headers: Vec<String>,
    path: PathBuf,
    file: Arc<str>,
    /// The decoded (UTF-8) byte stream.
    input: BufReader<Box<dyn Read + Send>>,
    parser: csv_core::Reader,
    /// Unescaped bytes of the current record's fields, back to back.
    fields: Vec<u8>,
    /// End offset of each field of the current record in `fields`.
    ends: Vec<usize>,
    /// Line breaks consumed outside records (blank lines, the LF of CRLF); the parser counts
    /// the others.
    skipped_newlines: u64,
    /// Set after the end of the file or a source error: the stream is over.
    done: bool,
    /// Quote state of the record being parsed, shadowing the parser's.
    quotes: QuoteTracker,
    delimiter: u8,
    /// `multiline_cells = true`: quoted cells may hold lines that read as whole rows.
    multiline_cells: bool,
    notes: Vec<String>,
}

/// The shape of the raw record just read into `fields`/`ends`.
#[derive(Debug, Clone, Copy)]
struct RawRecord {
    /// 1-based physical line where the record starts.
    line: u64,
    field_count: usize,
    byte_len: usize,
}

impl CsvSource {
    /// Opens the file, chooses encoding and delimiter, and reads the header row.
    ///
    /// Fails before yielding anything when the file cannot be opened, the encoding label is
    /// unknown, the first 64 KiB are not UTF-8 and no encoding is set, or there is no header.
    pub fn open(options: &SourceOptions, bytes: BytesRead) -> Result<Self, SourceError> {
        let path = options.path.clone();
        let file = File::open(&path).map_err(|source| SourceError::Open { path: path.clone(), source })?;
        let mut raw = CountingReader::new(file, bytes, u64::MAX);
        let prefix = read_prefix(&mut raw, PREFIX_LEN)
            .map_err(|source| SourceError::Io { path: path.clone(), source })?;
        let complete = prefix.len() < PREFIX_LEN;

        let choice = encoding::choose(options.encoding.as_deref(), &prefix, complete).map_err(|e| match e {
            encoding::ChoiceError::UnknownLabel(label) => {
                SourceError::UnknownEncoding { path: path.clone(), label: label.0 }
            }
            encoding::ChoiceError::Utf16Content { content, label } => SourceError::WrongContent {
                path: path.clone(),
                what: format!("{content} text without a byte-order mark (every other byte is NUL)"),
                advice: format!(
                    "`encoding = \"{label}\"` cannot read it: set `encoding = \"{}\"` in [source], or remove the setting",
                    content.to_ascii_lowercase()
                ),
            },
        })?;
        let mut notes = Vec::new();
        if choice.guessed_utf16
            && let Decoding::Transcode(enc) = choice.decoding
        {
            notes.push(format!(
                "{} has no byte-order mark but is {} text (every other byte is NUL): read as {}",
                display_name(&path),
                enc.name(),
                enc.name().to_ascii_lowercase()
            ));
        }
        let body = &prefix[choice.bom_len..];
        let sample: Cow<'_, [u8]> = match choice.decoding {
            Decoding::Utf8 => {
                encoding::check_utf8(body, complete).map_err(|bad| SourceError::NotUtf8 {
                    path: path.clone(),
                    line: bad.line,
                    byte: bad.byte,
                    suggestion: encoding::suggest_label(body, complete),
                })?;
                Cow::Borrowed(body)
            }
            Decoding::Transcode(enc) => {
                Cow::Owned(enc.decode_without_bom_handling(body).0.into_owned().into_bytes())
            }
        };
        let delimiter = options
            .delimiter
            .unwrap_or_else(|| delimiter::detect(&sample, complete, options.header_row.saturating_sub(1)));
        // Old Mac exports end lines with CR alone; the parser reads them but counts only LF.
        let cr_only = !sample.contains(&b'\n') && sample.contains(&b'\r');
        drop(sample);
        tracing::debug!(
            path = %path.display(),
            delimiter = %(delimiter as char).escape_default(),
            decoding = ?choice.decoding,
            "opened CSV source"
        );

        let mut head = Cursor::new(prefix);
        head.set_position(choice.bom_len as u64);
        let stream = head.chain(raw);
        let mut input: Box<dyn Read + Send> = match choice.decoding {
            Decoding::Utf8 => Box::new(stream),
            Decoding::Transcode(enc) => Box::new(
                DecodeReaderBytesBuilder::new().encoding(Some(enc)).bom_sniffing(false).build(stream),
            ),
        };
        if cr_only {
            input = Box::new(CrToLf(input));
        }
        let mut source = CsvSource {
            headers: Vec::new(),
            file: display_name(&path),
            path,
            input: BufReader::with_capacity(BUFFER_LEN, input),
            parser: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            fields: vec![0; 4096],
            ends: vec![0; 64],
            skipped_newlines: 0,
            done: false,
            quotes: QuoteTracker::default(),
            delimiter,
            multiline_cells: options.multiline_cells,
            notes,
        };
        source.headers = source.read_headers(options.header_row)?;
        Ok(source)
    }

    /// Adds the note of a file read as what its content says (see `sniff`).
    pub(crate) fn with_note(mut self, note: Option<String>) -> Self {
        self.notes.extend(note);
        self
    }

    /// Reads records up to the one starting on or after line `header_row`; its cells,
    /// trimmed and without a BOM, are the column names.
    fn read_headers(&mut self, header_row: usize) -> Result<Vec<String>, SourceError> {
        let path = self.path.clone();
        let no_header = || SourceError::NoHeader { path, row: header_row };
        let raw = loop {
            match self.read_raw()? {
                None => return Err(no_header()),
                Some(raw) if raw.line >= header_row as u64 => break raw,
                Some(_) => {}
            }
        };
        if self.is_blank(raw) {
            return Err(no_header());
        }
        let mut names = Vec::with_capacity(raw.field_count);
        let mut start = 0;
        for &end in &self.ends[..raw.field_count] {
            let text = self.field_text(raw, start, end)?;
            names.push(text.trim_start_matches('\u{feff}').trim().to_owned());
            start = end;
        }
        Ok(names)
    }

    /// Parses the next non-blank physical record into `fields`/`ends`; a quoted cell that
    /// never closes (or runs on too far) is an error.
    fn read_raw(&mut self) -> Result<Option<RawRecord>, SourceError> {
        // Skip line breaks before the record so that its start line is exact.
        loop {
            let buf = self
                .input
                .fill_buf()
                .map_err(|source| SourceError::Io { path: self.path.clone(), source })?;
            let n = buf.iter().position(|&b| b != b'\n' && b != b'\r').unwrap_or(buf.len());
            self.skipped_newlines += encoding::count_newlines(&buf[..n]);
            let exhausted = n == buf.len();
            let at_eof = buf.is_empty();
            self.input.consume(n);
            if !exhausted || at_eof {
                break;
            }
        }
        // The parser counts lines from 1.
        let line = self.parser.line() + self.skipped_newlines;
        let (mut out_len, mut end_len) = (0, 0);
        // Reading the header (no width yet) or with `multiline_cells`, inner lines are not checked.
        self.quotes = QuoteTracker::new(if self.multiline_cells { 0 } else { self.headers.len() });
        loop {
            let input = self
                .input
                .fill_buf()
                .map_err(|source| SourceError::Io { path: self.path.clone(), source })?;
            let (result, n_in, n_out, n_end) =
                self.parser.read_record(input, &mut self.fields[out_len..], &mut self.ends[end_len..]);
            let overrun = self.quotes.feed(&input[..n_in], self.delimiter);
            self.input.consume(n_in);
            if result == ReadRecordResult::Record {
                self.quotes.end_record();
            }
            if let Some(swallowed) = self.quotes.swallowed {
                return Err(self.swallowed_rows(line, swallowed));
            }
            if let Some(open) = overrun {
                // The quoted cell follows the fields the parser has finished.
                let field = end_len + n_end;
                return Err(self.unclosed_quote(
                    line,
                    open,
                    field,
                    &format!(
                        "runs on for more than {MAX_QUOTED_LINES} lines or {} KiB",
                        MAX_QUOTED_BYTES / 1024
                    ),
                ));
            }
            out_len += n_out;
            end_len += n_end;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let len = self.fields.len() * 2;
                    self.fields.resize(len, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len() * 2;
                    self.ends.resize(len, 0);
                }
                ReadRecordResult::Record => {
                    // The parser ends a record inside quotes only at the end of the file.
                    if let Some(open) = self.quotes.open_quote() {
                        // The unclosed cell is the record's last.
                        let field = end_len.saturating_sub(1);
                        return Err(self.unclosed_quote(
                            line,
                            open,
                            field,
                            "never closes (it runs to the end of the file)",
                        ));
                    }
                    return Ok(Some(RawRecord { line, field_count: end_len, byte_len: out_len }));
                }
                ReadRecordResult::End => return Ok(None),
            }
        }
    }

    fn swallowed_rows(&self, line: u64, s: Swallowed) -> SourceError {
        SourceError::SwallowedRows {
            path: self.path.clone(),
            opened: line + s.open.line_offset,
            closed: line + s.close_offset,
            column: self.headers.get(s.field).filter(|name| !name.is_empty()).cloned(),
            rows: s.rows,
            width: self.headers.len(),
        }
    }

    fn unclosed_quote(&self, line: u64, open: OpenQuote, field: usize, why: &str) -> SourceError {
        SourceError::UnclosedQuote {
            path: self.path.clone(),
            line: line + open.line_offset,
            column: self.headers.get(field).filter(|name| !name.is_empty()).cloned(),
            why: why.to_owned(),
        }
    }

    /// True when every cell of the record is empty or whitespace.
    fn is_blank(&self, raw: RawRecord) -> bool {
        self.fields[..raw.byte_len].iter().all(u8::is_ascii_whitespace)
    }

    /// The field `fields[start..end]` as text, or the error naming the line of its first
    /// byte that is not UTF-8.
    fn field_text(&self, raw: RawRecord, start: usize, end: usize) -> Result<&str, SourceError> {
        std::str::from_utf8(&self.fields[start..end]).map_err(|e| self.not_utf8(raw, start + e.valid_up_to()))
    }

    /// The error for the record's first byte that is not UTF-8, field by field.
    fn record_utf8_error(&self, raw: RawRecord) -> SourceError {
        let mut start = 0;
        for &end in &self.ends[..raw.field_count] {
            if let Err(e) = self.field_text(raw, start, end) {
                return e;
            }
            start = end;
        }
        // Only reached if every field is valid on its own; then the whole buffer is too.
        let offset = std::str::from_utf8(&self.fields[..raw.byte_len]).err().map_or(0, |e| e.valid_up_to());
        self.not_utf8(raw, offset)
    }

    fn not_utf8(&self, raw: RawRecord, offset: usize) -> SourceError {
        let record = &self.fields[..raw.byte_len];
        SourceError::NotUtf8 {
            path: self.path.clone(),
            line: raw.line + encoding::count_newlines(&record[..offset]),
            byte: record.get(offset).copied().unwrap_or(0),
            suggestion: encoding::suggest_label(record, true),
        }
    }

    /// Builds the record in `fields`/`ends` at exactly the header's width.
    fn build_record(&self, raw: RawRecord) -> Result<Record, SourceError> {
        // One validation for the whole record (the fast path), then slicing per field.
        let text =
            std::str::from_utf8(&self.fields[..raw.byte_len]).map_err(|_| self.record_utf8_error(raw))?;
        let width = self.headers.len();
        let used = raw.field_count.min(width);
        let used_bytes = if used == 0 { 0 } else { self.ends[used - 1] };
        let mut cells = csv::StringRecord::with_capacity(used_bytes, width);
        let mut start = 0;
        for &end in &self.ends[..used] {
            // A field boundary inside a character means a field is not UTF-8 on its own.
            cells.push_field(text.get(start..end).ok_or_else(|| self.record_utf8_error(raw))?);
            start = end;
        }
        for _ in used..width {
            cells.push_field("");
        }
        let mut problems = Vec::new();
        if find_control_character(text).is_some() {
            for (i, cell) in cells.iter().enumerate() {
                let column = match self.headers[i].as_str() {
                    "" => format!("column {}", i + 1),
                    name => name.to_owned(),
                };
                problems.extend(control_character_problem(cell, &column, None));
            }
        }
        if raw.field_count < width {
            problems.push(RowProblem::Ragged { expected: width, found: raw.field_count });
        } else if raw.field_count > width {
            // Extra cells are dropped; only worth reporting when they hold something
            // (many exports end every line with a delimiter).
            if !self.fields[used_bytes..raw.byte_len].iter().all(u8::is_ascii_whitespace) {
                problems.push(RowProblem::Ragged { expected: width, found: raw.field_count });
            }
        }
        Ok(Record { row: RowRef { file: self.file.clone(), sheet: None, line: raw.line }, cells, problems })
    }
}

impl Iterator for CsvSource {
    type Item = Result<Record, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let result = match self.read_raw() {
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Ok(Some(raw)) if self.is_blank(raw) => continue,
                Ok(Some(raw)) => self.build_record(raw),
                Err(e) => Err(e),
            };
            // A source error ends the stream: nothing after it can be trusted.
            self.done = result.is_err();
            return Some(result);
        }
    }
}

impl Source for CsvSource {
    fn headers(&self) -> &[String] {
        &self.headers
    }

    fn notes(&self) -> &[String] {
        &self.notes
    }
}

/// Turns every CR into LF (applied to decoded text, for files whose lines end in CR alone),
/// so that line numbers count them.
struct CrToLf<R>(R);

impl<R: Read> Read for CrToLf<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        buf[..n].iter_mut().filter(|b| **b == b'\r').for_each(|b| *b = b'\n');
        Ok(n)
    }
}

/// Reads up to `len` bytes (fewer only at the end of the file).
fn read_prefix(reader: &mut impl Read, len: usize) -> std::io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(len);
    reader.take(len as u64).read_to_end(&mut prefix)?;
    Ok(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::io::Write;

    fn open_bytes(
        content: &[u8],
        configure: impl FnOnce(&mut SourceOptions),
    ) -> Result<CsvSource, SourceError> {
        let mut file = tempfile::Builder::new().suffix(".csv").tempfile().expect("temp file");
        file.write_all(content).expect("write temp file");
        let mut options = SourceOptions::new(file.path());
        configure(&mut options);
        // The file is open by then; dropping the guard afterwards is fine on Unix.
        let source = CsvSource::open(&options, BytesRead::default());
        drop(file);
        source
    }

    fn rows(source: CsvSource) -> Vec<(u64, Vec<String>)> {
        source
            .map(|r| {
                let r = r.expect("row reads");
                (r.row.line, r.cells.iter().map(str::to_owned).collect())
            })
            .collect()
    }

    #[rstest]
    #[case::lf("a,b\n1,2\n\n\n3,4\n\"x\ny\",z\n5,6", vec![2, 5, 6, 8])]
    #[case::crlf("a,b\r\n1,2\r\n\r\n\r\n3,4\r\n\"x\r\ny\",z\r\n5,6\r\n", vec![2, 5, 6, 8])]
    #[case::cr_only("a,b\r1,2\r\r3,\"x\ry\"\r4,5", vec![2, 4, 6])]
    #[case::blank_cells_row_skipped("a,b\n1,2\n,\n  ,\t\n3,4\n", vec![2, 5])]
    fn records_carry_the_line_where_they_start(#[case] content: &str, #[case] lines: Vec<u64>) {
        let source = open_bytes(content.as_bytes(), |_| {}).expect("opens");
        let got: Vec<u64> = rows(source).into_iter().map(|(line, _)| line).collect();
        assert_eq!(got, lines);
    }

    // Regression: a field boundary inside a character (`\xD0` `,` `\x9F` reads as "П" once
    // the delimiter is gone) must be an error, not a panic when slicing.
    #[test]
    fn a_character_split_by_a_delimiter_is_not_utf8() {
        let mut content = b"a,b\n".to_vec();
        while content.len() <= PREFIX_LEN {
            content.extend_from_slice(b"plain,row\n");
        }
        let lines = content.iter().filter(|&&b| b == b'\n').count() as u64;
        content.extend_from_slice(b"\xD0,\x9F\n");
        let source = open_bytes(&content, |_| {}).expect("the prefix is fine");
        match source.last() {
            Some(Err(SourceError::NotUtf8 { line, byte, .. })) => assert_eq!((line, byte), (lines + 1, 0xD0)),
            other => panic!("expected NotUtf8, got {other:?}"),
        }
    }

    #[rstest]
    #[case::closed_at_eof_without_newline("a,b\n1,\"x\ny\"", true)]
    #[case::escaped_quotes("a,b\n1,\"say \"\"hi\"\"\"\n", true)]
    #[case::quote_mid_field_is_literal("a,b\n1,12\" pipe\n2,3\n", true)]
    #[case::text_after_closing_quote("a,b\n1,\"Big\" client\n", true)]
    #[case::unclosed_at_eof("a,b\n1,\"x\n2,y\n", false)]
    #[case::unclosed_after_an_escaped_quote("a,b\n1,\"x\"\"\n", false)]
    fn a_quote_that_reaches_the_end_of_the_file_unclosed_is_an_error(
        #[case] content: &str,
        #[case] ok: bool,
    ) {
        let source = open_bytes(content.as_bytes(), |_| {}).expect("opens");
        let results: Vec<_> = source.collect();
        assert_eq!(results.iter().all(Result::is_ok), ok, "{results:?}");
    }

    #[test]
    fn an_unclosed_quote_names_the_line_and_column_where_it_opened() {
        let mut content = String::from("Code,Name,Notes\n1,Ann,fine\n2,Bob,\"multi\nline\"\n");
        content.push_str("3,Cy,\"stray quote\n");
        for i in 4..300 {
            content.push_str(&format!("{i},x,y\n"));
        }
        let source = open_bytes(content.as_bytes(), |_| {}).expect("opens");
        let results: Vec<_> = source.collect();
        assert_eq!(results.len(), 3, "two rows, then the error");
        match &results[2] {
            Err(SourceError::UnclosedQuote { line, column, .. }) => {
                assert_eq!((*line, column.as_deref()), (5, Some("Notes")));
            }
            other => panic!("expected UnclosedQuote, got {other:?}"),
        }
    }

    #[test]
    fn a_quoted_cell_of_100_lines_reads_and_of_101_does_not() {
        let cell = |lines: usize| vec!["x"; lines + 1].join("\n");
        let ok = format!("a,b\n1,\"{}\"\n2,3\n", cell(100));
        assert_eq!(rows(open_bytes(ok.as_bytes(), |_| {}).expect("opens")).len(), 2);
        let bad = format!("a,b\n1,\"{}\"\n2,3\n", cell(101));
        let last = open_bytes(bad.as_bytes(), |_| {}).expect("opens").last();
        assert!(matches!(last, Some(Err(SourceError::UnclosedQuote { line: 2, .. }))), "{last:?}");
    }

    #[test]
    fn control_characters_are_row_problems_naming_the_column_and_position() {
        let source = open_bytes(b"Code,Name\n1,A\x00nn\n2,Bob\tTab\n3,Del\x7f\n", |_| {}).expect("opens");
        let problems: Vec<Vec<RowProblem>> = source.map(|r| r.expect("reads").problems).collect();
        assert_eq!(problems[0].len(), 1);
        assert_eq!(
            problems[0][0].to_string(),
            "control character U+0000 at position 2: remove it from the cell"
        );
        assert!(matches!(&problems[0][0], RowProblem::ControlCharacter { column, value, .. }
            if column == "Name" && value == "A\\u{0}nn"));
        assert!(problems[1].is_empty(), "a tab is fine");
        assert!(matches!(
            &problems[2][0],
            RowProblem::ControlCharacter { code_point: 0x7F, position: 4, .. }
        ));
    }

    #[test]
    fn large_records_grow_the_buffers() {
        let big = "x".repeat(10_000);
        let many = vec!["y"; 300].join(",");
        let content = format!("a,b\n{big},\"{big}\"\n{many}\n");
        let source = open_bytes(content.as_bytes(), |_| {}).expect("opens");
        let got = rows(source);
        assert_eq!(got[0].1, vec![big.clone(), big]);
        assert_eq!(got[1].1, vec!["y", "y"]);
    }
}
