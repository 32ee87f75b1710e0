//! Delimiter detection for CSV files whose mapping does not name one.
//!
//! Owns the guess among `,` `;` tab `|` from a sample of the file's first lines (already
//! decoded to an ASCII-compatible encoding). Does no I/O and never fails: a file where no
//! candidate splits the header is read as one column with `,`.

/// The delimiters tried, in order of preference when the evidence is equal.
pub(crate) const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

/// At most this many records of the sample are examined.
const MAX_RECORDS: usize = 200;

/// Guesses the delimiter from `sample`, the start of the file.
///
/// The header record (the first record after `skip_records` title records) decides which
/// candidates are possible: it must split into more than one column. Among those, the
/// winner is the one whose per-record column count matches the header's in most sampled
/// records (ragged rows and commas inside unquoted values only lower a score); ties go to
/// the candidate with more columns, then to the order of [`CANDIDATES`]. Quotes are honoured
/// the way the CSV parser honours them (only at the start of a field). `complete` says
/// whether the sample is the whole file; if not, its last, possibly cut, record is ignored.
pub(crate) fn detect(sample: &[u8], complete: bool, skip_records: usize) -> u8 {
    let mut best: Option<(usize, usize, u8)> = None; // (matching records, header count, delimiter)
    for &delimiter in &CANDIDATES {
        let counts = delimiter_counts(sample, delimiter, complete);
        let mut counts = counts.iter().skip(skip_records);
        let Some(&header) = counts.next() else { continue };
        if header == 0 {
            continue;
        }
        let matching = counts.filter(|&&c| c == header).count();
        let better = match best {
            None => true,
            Some((m, h, _)) => (matching, header) > (m, h),
        };
        if better {
            best = Some((matching, header, delimiter));
        }
    }
    best.map_or(b',', |(_, _, delimiter)| delimiter)
}

/// For each non-blank record of the sample: how many times `delimiter` occurs outside quotes.
fn delimiter_counts(sample: &[u8], delimiter: u8, complete: bool) -> Vec<usize> {
    let mut counts = Vec::new();
    let mut count = 0;
    let mut blank = true;
    let mut in_quotes = false;
    let mut field_start = true;
    let mut bytes = sample.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if in_quotes {
            if b == b'"' {
                if bytes.peek() == Some(&b'"') {
                    bytes.next();
                } else {
                    in_quotes = false;
                }
            }
            continue;
        }
        match b {
            b'\n' | b'\r' => {
                if !blank {
                    counts.push(count);
                    if counts.len() == MAX_RECORDS {
                        return counts;
                    }
                }
                count = 0;
                blank = true;
                field_start = true;
            }
            b'"' if field_start => {
                in_quotes = true;
                blank = false;
                field_start = false;
            }
            _ if b == delimiter => {
                count += 1;
                blank = false;
                field_start = true;
            }
            _ => {
                if !b.is_ascii_whitespace() {
                    blank = false;
                }
                field_start = false;
            }
        }
    }
    if complete && !blank {
        counts.push(count);
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::comma("Code,Company,Phone\nCO-1,Acme,123\nCO-2,Beta,456\n", b',')]
    #[case::semicolon("Code;Name;Amount\n1;Ivan;1,5\n2;Olga;2,75\n", b';')]
    #[case::tab("a\tb\tc\n1\t2\t3\n", b'\t')]
    #[case::pipe("a|b\n1|2\n3|4\n", b'|')]
    #[case::commas_inside_quotes_do_not_count("a;b\n\"x, y, z\";2\n\"p, q\";3\n", b';')]
    #[case::quoted_multiline_cell("a;b;c\n1;\"line one, more\nline two; still\";3\n4;5;6\n", b';')]
    #[case::ragged_row_does_not_flip_it("a;b;c\n1;2;3\n4;5\n6;7;8\n", b';')]
    #[case::decimal_commas_in_every_row("Code;Amount\n1;1,5\n2;2,5\n3;3,5\n", b';')]
    #[case::single_column_defaults_to_comma("Name\nIvan\nOlga\n", b',')]
    #[case::empty_sample_defaults_to_comma("", b',')]
    #[case::crlf_and_blank_lines("a|b|c\r\n\r\n1|2|3\r\n4|5|6\r\n", b'|')]
    #[case::stray_quote_mid_field_is_literal("a,b,c\n12\" pipe,2,3\n4,5,6\n", b',')]
    fn detects_the_delimiter(#[case] sample: &str, #[case] expected: u8) {
        assert_eq!(detect(sample.as_bytes(), true, 0) as char, expected as char);
    }

    #[test]
    fn title_lines_before_the_header_row_are_skipped() {
        let sample = "Export of 2026-03-14\na;b;c\n1;2;3\n";
        assert_eq!(detect(sample.as_bytes(), true, 1), b';');
    }

    #[test]
    fn a_cut_last_record_is_ignored_when_the_sample_is_partial() {
        // The cut record "4" would disagree with the header if it were counted.
        let sample = "a;b\n1;2\n3;4\n4";
        assert_eq!(delimiter_counts(sample.as_bytes(), b';', false), vec![1, 1, 1]);
        assert_eq!(delimiter_counts(sample.as_bytes(), b';', true), vec![1, 1, 1, 0]);
    }
}
