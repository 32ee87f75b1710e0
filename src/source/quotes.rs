//! The quote state of the CSV record being parsed, shadowing `csv_core`'s so that a quoted
//! cell that goes wrong can be named: one that runs on too far ([`MAX_QUOTED_LINES`],
//! [`MAX_QUOTED_BYTES`]), one still open at the end of the file, and one that closed after
//! taking in lines that read as whole rows of the header's width (two stray quotes).
//!
//! Owns only the byte rules (the same as `csv_core` with its defaults) and the counts; the
//! reader (`csv_reader`) turns a verdict into a [`super::SourceError`] with the file and line.
//! Must not: allocate per byte or look at more than the bytes it is fed.

/// A quoted cell holding more line breaks than this is taken for a stray quote.
pub const MAX_QUOTED_LINES: u64 = 100;
/// A quoted cell longer than this (bytes of UTF-8) is taken for a stray quote.
pub const MAX_QUOTED_BYTES: u64 = 64 * 1024;

/// Where a quoted cell opened, relative to the start of its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OpenQuote {
    /// Line breaks between the record's first line and the opening quote.
    pub(super) line_offset: u64,
}

/// The quote state of the record being parsed, following the rules `csv_core` applies with
/// its defaults (a quote opens a cell only at its start; `""` inside is a literal quote; text
/// after a closing quote continues the cell unquoted), so that an unclosed quote can be named.
/// Which cell it is comes from the parser's own field count (see `read_raw`).
#[derive(Debug, Default)]
pub(super) struct QuoteTracker {
    state: QuoteState,
    /// Line breaks seen in this record so far.
    newlines: u64,
    open: Option<OpenQuote>,
    /// Line breaks and bytes inside the current quoted cell.
    quoted_lines: u64,
    quoted_bytes: u64,
    /// The header's width; 0 = quoted cells are not checked for whole rows inside them
    /// (reading the header, or `multiline_cells = true`).
    width: usize,
    /// Delimiters outside quotes so far in this record: the index of the current cell.
    field: usize,
    /// The current quoted cell: the cell it is, its inner lines that read as whole rows,
    /// and the line being followed (it began inside the cell; its delimiters; a `""` in it).
    open_field: usize,
    row_lines: u64,
    line_inside: bool,
    line_delimiters: usize,
    line_quote: bool,
    /// Set when a quoted cell closed after taking in lines that read as whole rows.
    pub(super) swallowed: Option<Swallowed>,
}

/// A quoted cell that took in whole rows: where it opened and closed, and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Swallowed {
    pub(super) open: OpenQuote,
    /// Line breaks between the record's first line and the closing quote.
    pub(super) close_offset: u64,
    pub(super) field: usize,
    pub(super) rows: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum QuoteState {
    #[default]
    StartField,
    InField,
    InQuotes,
    /// A quote inside quotes: the end of the quoted part, or the first half of `""`.
    QuoteInQuotes,
}

impl QuoteTracker {
    /// Follows `bytes` (the input the parser consumed for this record); returns where the
    /// quote opened once the quoted cell exceeds [`MAX_QUOTED_LINES`] or [`MAX_QUOTED_BYTES`].
    pub(super) fn feed(&mut self, bytes: &[u8], delimiter: u8) -> Option<OpenQuote> {
        // This runs over every byte of the file, so it jumps with memchr to the only bytes that
        // can change the state: outside quotes the next `"` (it opens a cell only right after a
        // delimiter or at the record's start; elsewhere it is a literal quote), inside quotes
        // the next `"` or line break.
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                QuoteState::StartField | QuoteState::InField => {
                    let rest = &bytes[i..];
                    let Some(at) = memchr::memchr(b'"', rest) else {
                        self.state = Self::after_unquoted(self.state, rest, delimiter);
                        if self.width > 0 {
                            self.field += memchr::memchr_iter(delimiter, rest).count();
                        }
                        return None;
                    };
                    let before = Self::after_unquoted(self.state, &rest[..at], delimiter);
                    if self.width > 0 {
                        self.field += memchr::memchr_iter(delimiter, &rest[..at]).count();
                    }
                    i += at + 1;
                    if before == QuoteState::StartField {
                        self.state = QuoteState::InQuotes;
                        self.open = Some(OpenQuote { line_offset: self.newlines });
                        self.quoted_lines = 0;
                        self.quoted_bytes = 0;
                        self.open_field = self.field;
                        self.row_lines = 0;
                        self.line_inside = false;
                        self.line_delimiters = 0;
                        self.line_quote = false;
                    } else {
                        self.state = QuoteState::InField;
                    }
                }
                QuoteState::InQuotes => {
                    let rest = &bytes[i..];
                    // Delimiters matter inside quotes only to tell inner lines that are whole rows.
                    let next = if self.width > 0 {
                        memchr::memchr3(b'"', b'\n', delimiter, rest)
                    } else {
                        memchr::memchr2(b'"', b'\n', rest)
                    };
                    let Some(at) = next else {
                        self.quoted_bytes += rest.len() as u64;
                        return self.overrun();
                    };
                    self.quoted_bytes += at as u64;
                    i += at + 1;
                    if rest[at] == b'"' {
                        self.state = QuoteState::QuoteInQuotes;
                    } else if rest[at] == b'\n' {
                        self.quoted_bytes += 1;
                        self.newlines += 1;
                        self.quoted_lines += 1;
                        self.end_inner_line();
                    } else {
                        self.quoted_bytes += 1;
                        self.line_delimiters += 1;
                    }
                    if let Some(open) = self.overrun() {
                        return Some(open);
                    }
                }
                QuoteState::QuoteInQuotes => {
                    let b = bytes[i];
                    i += 1;
                    if b != b'"' {
                        self.close_cell();
                    }
                    self.state = if b == b'"' {
                        self.quoted_bytes += 1; // `""`: a literal quote, still inside
                        self.line_quote = true;
                        QuoteState::InQuotes
                    } else if b == delimiter {
                        self.field += 1;
                        QuoteState::StartField
                    } else {
                        QuoteState::InField
                    };
                }
            }
        }
        None
    }

    /// A tracker for one record of a file whose header has `width` columns (0: no check of
    /// inner lines, see [`QuoteTracker::width`]).
    pub(super) fn new(width: usize) -> QuoteTracker {
        QuoteTracker { width, ..QuoteTracker::default() }
    }

    /// A line break inside a quoted cell: the line it ends counts as a whole row when it began
    /// inside the cell, holds no quote, and has the header's width.
    fn end_inner_line(&mut self) {
        if self.width > 1 && self.line_inside && !self.line_quote && self.line_delimiters + 1 == self.width {
            self.row_lines += 1;
        }
        self.line_inside = true;
        self.line_delimiters = 0;
        self.line_quote = false;
    }

    /// The quoted cell closed (its quote was followed by something else than `"`, or by the
    /// end of the record): remembers it when it took in whole rows.
    fn close_cell(&mut self) {
        if self.row_lines > 0
            && self.swallowed.is_none()
            && let Some(open) = self.open
        {
            self.swallowed = Some(Swallowed {
                open,
                close_offset: self.newlines,
                field: self.open_field,
                rows: self.row_lines,
            });
        }
        self.row_lines = 0;
    }

    /// The cell of a record that ends right after a closing quote (the end of the file).
    pub(super) fn end_record(&mut self) {
        if self.state == QuoteState::QuoteInQuotes {
            self.close_cell();
        }
    }

    /// The state after unquoted `bytes` (no `"` among them) that follow `state`: at the start
    /// of a cell when they end with a delimiter (or are empty after one).
    fn after_unquoted(state: QuoteState, bytes: &[u8], delimiter: u8) -> QuoteState {
        match bytes.last() {
            None => state,
            Some(&b) if b == delimiter => QuoteState::StartField,
            Some(_) => QuoteState::InField,
        }
    }

    /// Where the quote opened, once the quoted cell is longer than a real cell can be.
    fn overrun(&self) -> Option<OpenQuote> {
        if self.quoted_lines > MAX_QUOTED_LINES || self.quoted_bytes > MAX_QUOTED_BYTES {
            self.open
        } else {
            None
        }
    }

    /// Where the quote opened if the record ends inside it.
    pub(super) fn open_quote(&self) -> Option<OpenQuote> {
        if self.state == QuoteState::InQuotes { self.open } else { None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quote state after `bytes`, fed at once and in pieces of `piece` bytes.
    fn track(bytes: &[u8], piece: usize) -> (Option<OpenQuote>, Option<OpenQuote>, QuoteState) {
        let mut t = QuoteTracker::default();
        let mut overrun = None;
        for chunk in bytes.chunks(piece.max(1)) {
            overrun = t.feed(chunk, b',');
            if overrun.is_some() {
                break; // the reader stops here
            }
        }
        (overrun, t.open_quote(), t.state)
    }

    /// The quote rules byte by byte, as plainly as they can be written: the oracle for `feed`.
    fn reference(bytes: &[u8]) -> (Option<OpenQuote>, QuoteState) {
        let (mut state, mut newlines, mut open, mut lines, mut len) = (QuoteState::StartField, 0, None, 0, 0);
        for &b in bytes {
            state = match (state, b) {
                (QuoteState::InQuotes, b'"') => QuoteState::QuoteInQuotes,
                (QuoteState::InQuotes, b) => {
                    len += 1;
                    if b == b'\n' {
                        newlines += 1;
                        lines += 1;
                    }
                    if lines > MAX_QUOTED_LINES || len > MAX_QUOTED_BYTES {
                        return (open, QuoteState::InQuotes);
                    }
                    QuoteState::InQuotes
                }
                (QuoteState::QuoteInQuotes, b'"') => {
                    len += 1;
                    QuoteState::InQuotes
                }
                (QuoteState::StartField, b'"') => {
                    open = Some(OpenQuote { line_offset: newlines });
                    (lines, len) = (0, 0);
                    QuoteState::InQuotes
                }
                (_, b',') => QuoteState::StartField,
                _ => QuoteState::InField,
            };
        }
        (open.filter(|_| state == QuoteState::InQuotes), state)
    }

    proptest::proptest! {
        // Pins the memchr fast path against the plain byte-by-byte rules.
        #[test]
        fn the_fast_quote_tracker_agrees_with_the_plain_rules(
            text in "[a\",\n]{0,300}|\"[a\n]{120,250}",
        ) {
            let (overrun, open, state) = track(text.as_bytes(), usize::MAX);
            let (expected_open, expected_state) = reference(text.as_bytes());
            proptest::prop_assert_eq!(overrun.or(open), expected_open);
            proptest::prop_assert_eq!(state, expected_state);
        }

        // Pins the memchr fast path: where the parser's input is cut never changes the verdict.
        #[test]
        fn the_quote_state_does_not_depend_on_how_the_input_is_cut(
            text in "[a\",\n]{0,300}|\"[a\n]{120,250}",
            piece in 1usize..40,
        ) {
            proptest::prop_assert_eq!(track(text.as_bytes(), piece), track(text.as_bytes(), usize::MAX));
        }
    }

    /// What a tracker for a 3-column header found in `bytes`, fed in pieces of `piece` bytes.
    fn swallowed(bytes: &[u8], piece: usize) -> Option<Swallowed> {
        let mut t = QuoteTracker::new(3);
        for chunk in bytes.chunks(piece.max(1)) {
            t.feed(chunk, b',');
        }
        t.end_record();
        t.swallowed
    }

    #[test]
    fn a_quoted_cell_whose_inner_lines_are_whole_rows_is_named_from_open_to_close() {
        let text = b"1,a,\"x\n2,b,c\n3,d,e\n4,f,g\" pipe\n";
        let open = OpenQuote { line_offset: 0 };
        assert_eq!(swallowed(text, usize::MAX), Some(Swallowed { open, close_offset: 3, field: 2, rows: 2 }));
        // A note of lines without the header's width, or with a `""`, is a real cell.
        assert_eq!(swallowed(b"1,a,\"x\ny\nz, w, v, u\nq\"\n", usize::MAX), None);
        assert_eq!(swallowed(b"1,a,\"x\n2,\"\"b\"\",c\nq\"\n", usize::MAX), None);
    }

    proptest::proptest! {
        // Pins the row-line count: where the parser's input is cut never changes it.
        #[test]
        fn whole_rows_inside_quotes_do_not_depend_on_how_the_input_is_cut(
            text in "[a\",\n]{0,300}",
            piece in 1usize..40,
        ) {
            proptest::prop_assert_eq!(swallowed(text.as_bytes(), piece), swallowed(text.as_bytes(), usize::MAX));
        }
    }
}
