//! Spreadsheet cell values as the text the mapping understands.
//!
//! Owns the conversion rules: strings as they are; whole-number floats without `.0` and
//! never in exponent form (a phone stored as a number stays `79161234567`); other floats in
//! their shortest round-trip form; booleans `true`/`false`; date cells as ISO `2026-03-14`
//! or `2026-03-14T09:30:00`; times `09:30:00`; durations `36:15:00`; error cells as no text
//! plus their error (`#N/A`). Also A1 cell addresses. Does no I/O; writes into a caller's
//! buffer so that no cell allocates.

use std::fmt::Write;

use calamine::{CellErrorType, Data, DataRef, ExcelDateTime};

/// A borrowed view of a calamine cell, whichever reader produced it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CellValue<'a> {
    Empty,
    Text(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    DateTime(ExcelDateTime),
    /// ISO 8601 date, time or date-time (OpenDocument).
    DateTimeIso(&'a str),
    /// ISO 8601 duration (OpenDocument), e.g. `PT36H15M0S`.
    DurationIso(&'a str),
    Error(&'a CellErrorType),
}

impl<'a> From<&'a Data> for CellValue<'a> {
    fn from(data: &'a Data) -> Self {
        match data {
            Data::Empty => CellValue::Empty,
            Data::String(s) => CellValue::Text(s),
            Data::Int(i) => CellValue::Int(*i),
            Data::Float(f) => CellValue::Float(*f),
            Data::Bool(b) => CellValue::Bool(*b),
            Data::DateTime(d) => CellValue::DateTime(*d),
            Data::DateTimeIso(s) => CellValue::DateTimeIso(s),
            Data::DurationIso(s) => CellValue::DurationIso(s),
            Data::Error(e) => CellValue::Error(e),
        }
    }
}

impl<'a> From<&'a DataRef<'_>> for CellValue<'a> {
    fn from(data: &'a DataRef<'_>) -> Self {
        match data {
            DataRef::Empty => CellValue::Empty,
            DataRef::String(s) => CellValue::Text(s),
            DataRef::SharedString(s) => CellValue::Text(s),
            DataRef::Int(i) => CellValue::Int(*i),
            DataRef::Float(f) => CellValue::Float(*f),
            DataRef::Bool(b) => CellValue::Bool(*b),
            DataRef::DateTime(d) => CellValue::DateTime(*d),
            DataRef::DateTimeIso(s) => CellValue::DateTimeIso(s),
            DataRef::DurationIso(s) => CellValue::DurationIso(s),
            DataRef::Error(e) => CellValue::Error(e),
        }
    }
}

const MS_PER_DAY: f64 = 86_400_000.0;

/// Appends the cell's text to `out`. Returns the error text (`#N/A`) for an error cell,
/// which appends nothing.
pub(crate) fn write_cell(value: CellValue<'_>, out: &mut String) -> Option<String> {
    // Writing into a String cannot fail; the results of write! are ignored on purpose.
    match value {
        CellValue::Empty => {}
        CellValue::Text(s) => out.push_str(s),
        CellValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        CellValue::Float(f) => write_float(f, out),
        CellValue::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        CellValue::DateTime(dt) => write_datetime(dt, out),
        CellValue::DateTimeIso(s) => write_iso_datetime(s, out),
        CellValue::DurationIso(s) => write_iso_duration(s, out),
        CellValue::Error(e) => return Some(e.to_string()),
    }
    None
}

/// Whole numbers print without `.0`; Rust's `Display` for `f64` is the shortest text that
/// reads back to the same value and never uses an exponent.
fn write_float(f: f64, out: &mut String) {
    if f == 0.0 {
        out.push('0'); // also for -0.0
    } else {
        let _ = write!(out, "{f}");
    }
}

fn write_datetime(dt: ExcelDateTime, out: &mut String) {
    let serial = dt.as_f64();
    if dt.is_duration() {
        write_hms((serial * MS_PER_DAY).round() as i64, out);
    } else if (0.0..1.0).contains(&serial) {
        // A time of day with no date (Excel shows 1900-01-00).
        write_hms((serial * MS_PER_DAY).round() as i64, out);
    } else {
        let (year, month, day, hour, minute, second, milli) = dt.to_ymd_hms_milli();
        let _ = write!(out, "{year:04}-{month:02}-{day:02}");
        if (hour, minute, second, milli) != (0, 0, 0, 0) {
            let _ = write!(out, "T{hour:02}:{minute:02}:{second:02}");
            if milli != 0 {
                let _ = write!(out, ".{milli:03}");
            }
        }
    }
}

/// `H:MM:SS` (hours may exceed 24), with `.mmm` when there are milliseconds.
fn write_hms(total_ms: i64, out: &mut String) {
    if total_ms < 0 {
        out.push('-');
    }
    let ms = total_ms.unsigned_abs();
    let (hours, minutes, seconds, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let _ = write!(out, "{hours:02}:{minutes:02}:{seconds:02}");
    if milli != 0 {
        let _ = write!(out, ".{milli:03}");
    }
}

/// OpenDocument dates: a date-time at midnight is shown as the date alone.
fn write_iso_datetime(s: &str, out: &mut String) {
    match s.split_once('T') {
        Some((date, time)) if time.trim_start_matches(['0', ':', '.']).is_empty() => out.push_str(date),
        _ => out.push_str(s),
    }
}

/// OpenDocument durations `PT36H15M0S` become `36:15:00`; other forms are kept as written.
fn write_iso_duration(s: &str, out: &mut String) {
    match parse_iso_duration_ms(s) {
        Some(ms) => write_hms(ms, out),
        None => out.push_str(s),
    }
}

fn parse_iso_duration_ms(s: &str) -> Option<i64> {
    let (negative, rest) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut rest = rest.strip_prefix("PT")?;
    let mut total = 0.0;
    while !rest.is_empty() {
        let unit_at = rest.find(|c: char| c.is_ascii_alphabetic())?;
        let number: f64 = rest[..unit_at].parse().ok()?;
        let factor = match rest.as_bytes()[unit_at] {
            b'H' => 3_600_000.0,
            b'M' => 60_000.0,
            b'S' => 1000.0,
            _ => return None,
        };
        total += number * factor;
        rest = &rest[unit_at + 1..];
    }
    let ms = total.round() as i64;
    Some(if negative { -ms } else { ms })
}

/// Column letters as Excel shows them: 0 -> `A`, 25 -> `Z`, 26 -> `AA`.
pub(crate) fn column_letters(col: u32) -> String {
    let mut letters = Vec::new();
    let mut n = u64::from(col) + 1;
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(b'A' + rem);
        n = (n - 1) / 26;
    }
    letters.iter().rev().map(|&b| b as char).collect()
}

/// The A1 address of a 0-based (row, column) position: (16, 2) -> `C17`.
pub(crate) fn cell_address(row: u32, col: u32) -> String {
    format!("{}{}", column_letters(col), u64::from(row) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::ExcelDateTimeType;
    use rstest::rstest;

    fn text(value: CellValue<'_>) -> String {
        let mut out = String::new();
        assert_eq!(write_cell(value, &mut out), None);
        out
    }

    fn date(serial: f64) -> CellValue<'static> {
        CellValue::DateTime(ExcelDateTime::new(serial, ExcelDateTimeType::DateTime, false))
    }

    fn duration(days: f64) -> CellValue<'static> {
        CellValue::DateTime(ExcelDateTime::new(days, ExcelDateTimeType::TimeDelta, false))
    }

    #[rstest]
    #[case::phone_stays_whole(CellValue::Float(79161234567.0), "79161234567")]
    #[case::whole_float(CellValue::Float(42.0), "42")]
    #[case::negative_whole(CellValue::Float(-3.0), "-3")]
    #[case::negative_zero(CellValue::Float(-0.0), "0")]
    #[case::fraction(CellValue::Float(1250000.5), "1250000.5")]
    #[case::shortest_round_trip(CellValue::Float(0.1), "0.1")]
    #[case::no_exponent_large(CellValue::Float(1e21), "1000000000000000000000")]
    #[case::no_exponent_small(CellValue::Float(1.5e-7), "0.00000015")]
    #[case::int(CellValue::Int(-17), "-17")]
    #[case::bool_true(CellValue::Bool(true), "true")]
    #[case::bool_false(CellValue::Bool(false), "false")]
    #[case::text_as_is(CellValue::Text("  Acme, Inc. "), "  Acme, Inc. ")]
    #[case::empty(CellValue::Empty, "")]
    fn numbers_and_text_become_plain_text(#[case] value: CellValue<'static>, #[case] expected: &str) {
        assert_eq!(text(value), expected);
    }

    #[rstest]
    #[case::date_only(46095.0, "2026-03-14")]
    #[case::date_and_time(46095.395833333336, "2026-03-14T09:30:00")]
    #[case::seconds(46095.5000115741, "2026-03-14T12:00:01")]
    #[case::time_only(0.75, "18:00:00")]
    #[case::leap_day(45351.0, "2024-02-29")]
    #[case::old_date(1.0, "1900-01-01")]
    fn date_cells_become_iso_text(#[case] serial: f64, #[case] expected: &str) {
        assert_eq!(text(date(serial)), expected);
    }

    #[rstest]
    #[case::over_a_day(1.5104166666666667, "36:15:00")]
    #[case::minutes(0.0006944444444444445, "00:01:00")]
    #[case::negative(-0.5, "-12:00:00")]
    fn duration_cells_become_hours_minutes_seconds(#[case] days: f64, #[case] expected: &str) {
        assert_eq!(text(duration(days)), expected);
    }

    #[rstest]
    #[case::midnight_is_a_date(CellValue::DateTimeIso("2026-03-14T00:00:00"), "2026-03-14")]
    #[case::date_only(CellValue::DateTimeIso("2026-03-14"), "2026-03-14")]
    #[case::with_time(CellValue::DateTimeIso("2026-03-14T09:30:00"), "2026-03-14T09:30:00")]
    #[case::duration(CellValue::DurationIso("PT36H15M00S"), "36:15:00")]
    #[case::fractional_seconds(CellValue::DurationIso("PT0H0M1.5S"), "00:00:01.500")]
    #[case::unparsed_duration_kept(CellValue::DurationIso("P1DT2H"), "P1DT2H")]
    fn opendocument_iso_values_are_normalised(#[case] value: CellValue<'static>, #[case] expected: &str) {
        assert_eq!(text(value), expected);
    }

    #[rstest]
    #[case(CellErrorType::NA, "#N/A")]
    #[case(CellErrorType::Ref, "#REF!")]
    #[case(CellErrorType::Div0, "#DIV/0!")]
    #[case(CellErrorType::Value, "#VALUE!")]
    fn error_cells_give_no_text_and_their_error(#[case] error: CellErrorType, #[case] expected: &str) {
        let mut out = String::from("kept");
        assert_eq!(write_cell(CellValue::Error(&error), &mut out), Some(expected.to_owned()));
        assert_eq!(out, "kept");
    }

    #[rstest]
    #[case(0, 0, "A1")]
    #[case(16, 2, "C17")]
    #[case(0, 25, "Z1")]
    #[case(9, 26, "AA10")]
    #[case(0, 701, "ZZ1")]
    #[case(0, 702, "AAA1")]
    #[case(1_048_575, 16_383, "XFD1048576")]
    fn addresses_are_a1_style(#[case] row: u32, #[case] col: u32, #[case] expected: &str) {
        assert_eq!(cell_address(row, col), expected);
    }
}
