//! Value transforms: pure functions from cell text to the portal's value formats.
//!
//! Owns: what counts as a valid number, date, boolean, e-mail, phone or money value, and the
//! canonical text each becomes (`docs/portal-protocol.md` §3.3). Must never panic on any input
//! (a property test feeds arbitrary strings to every function here).

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};

pub use super::problem::Problem;

/// Why a cell could not be converted; `code` is stable (summaries count by it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: Problem,
    pub message: String,
}

impl Invalid {
    pub fn new(code: Problem, message: impl Into<String>) -> Self {
        Invalid { code, message: message.into() }
    }
}

/// `yes/no/true/false/1/0/Y/N/да/нет/on/off` (any case) -> `Y` / `N`.
pub fn to_bool(s: &str) -> Result<&'static str, Invalid> {
    const YES: &[&str] = &["y", "yes", "true", "1", "да", "д", "on", "x", "+"];
    const NO: &[&str] = &["n", "no", "false", "0", "нет", "н", "off", "-"];
    let s = s.trim();
    let matches = |words: &[&str]| {
        words.iter().any(|w| if s.is_ascii() { s.eq_ignore_ascii_case(w) } else { s.to_lowercase() == *w })
    };
    if matches(YES) {
        Ok("Y")
    } else if matches(NO) {
        Ok("N")
    } else {
        Err(Invalid::new(Problem::InvalidBool, "not a yes/no value (yes/no, true/false, 1/0, Y/N, да/нет)"))
    }
}

/// Date or date-time formats (chrono syntax), parsed once when the mapping is compiled.
#[derive(Debug, Clone, Default)]
pub struct Formats {
    /// As written, for messages.
    pub written: Vec<String>,
    items: Vec<Vec<Item<'static>>>,
}

impl Formats {
    /// Compiles `formats`; an invalid one is returned as the error.
    pub fn new(formats: &[String]) -> Result<Formats, String> {
        let items = formats
            .iter()
            .map(|f| StrftimeItems::new(f).parse_to_owned().map_err(|_| f.clone()))
            .collect::<Result<_, _>>()?;
        Ok(Formats { written: formats.to_vec(), items })
    }

    fn parse<'a>(&'a self, s: &'a str) -> impl Iterator<Item = Parsed> + 'a {
        self.items.iter().filter_map(move |items| {
            let mut parsed = Parsed::new();
            chrono::format::parse(&mut parsed, s, items.iter()).ok().map(|_| parsed)
        })
    }
}

/// Why a `formats` entry can never turn a cell into a date, if it cannot: it has no `%`
/// specifier at all (`"DD.MM.YYYY"`), or what it reads lacks a year, a month or a day
/// (`"%H:%M"`, `"%d.%m"`). Checked the way chrono will use it: a known date-time is written
/// with the format and read back, as [`to_date`] (`datetime == false`) or [`to_datetime`]
/// reads it (a date alone is midnight, a timestamp `%s` is a date-time, a time alone is
/// nothing).
pub fn check_date_format(format: &str, datetime: bool) -> Result<(), String> {
    use std::fmt::Write as _;
    if !format.contains('%') {
        let hint = strftime_for(format)
            .map_or_else(|| " (e.g. \"%d.%m.%Y\")".to_string(), |f| format!(": did you mean \"{f}\"?"));
        return Err(format!("has no % specifier, so it matches no date; formats use chrono's syntax{hint}"));
    }
    let items = StrftimeItems::new(format).parse().map_err(|_| "is not a valid chrono format".to_string())?;
    let known = NaiveDate::from_ymd_opt(2026, 3, 14)
        .and_then(|d| d.and_hms_opt(9, 30, 45))
        .and_then(|dt| dt.and_local_timezone(FixedOffset::east_opt(3 * 3600)?).single())
        .ok_or_else(|| "cannot be checked".to_string())?;
    let mut text = String::new();
    if write!(text, "{}", known.format_with_items(items.iter())).is_err() {
        return Err("cannot be written or read by chrono".to_string());
    }
    let mut parsed = Parsed::new();
    let read_back = chrono::format::parse(&mut parsed, &text, items.iter()).is_ok();
    let date = parsed.to_naive_date().ok().or_else(|| {
        datetime.then(|| parsed.to_naive_datetime_with_offset(3 * 3600).ok().map(|dt| dt.date())).flatten()
    });
    match date {
        Some(d) if read_back && d == known.date_naive() => Ok(()),
        _ if !read_back => Err(format!(
            "cannot read back what it writes (`{text}`), so it matches no date; check the specifiers"
        )),
        _ => Err("cannot yield a date: it needs a year, a month and a day (e.g. \"%d.%m.%Y\", or \"%Y %j\")"
            .to_string()),
    }
}

/// `DD.MM.YYYY` -> `%d.%m.%Y`: the chrono spelling of a spreadsheet-style pattern, when every
/// letter in it is one we know.
fn strftime_for(pattern: &str) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut after_hour = false;
    let mut any = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|x| **x == c).count();
        let spec = match (c, run) {
            ('Y' | 'y', 4) => "%Y",
            ('Y' | 'y', 2) => "%y",
            ('D' | 'd', 1 | 2) => "%d",
            ('M', 1 | 2) if !after_hour => "%m",
            ('m', 1 | 2) if !after_hour => "%m",
            ('M' | 'm', 1 | 2) => "%M",
            ('H' | 'h', 1 | 2) => "%H",
            ('S' | 's', 1 | 2) => "%S",
            _ => return None,
        };
        after_hour |= spec == "%H";
        any = true;
        out.push_str(spec);
        i += run;
    }
    any.then_some(out)
}

/// Removes grouping characters people type inside numbers: spaces, no-break and thin spaces,
/// apostrophes (`1'500`).
fn strip_grouping(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}' | '\'' | '_')).collect()
}

/// An integer; grouping spaces allowed, a whole-number decimal (`12.0`) accepted.
pub fn to_int(s: &str) -> Result<i64, Invalid> {
    let cleaned = strip_grouping(s.trim());
    if let Ok(v) = cleaned.parse::<i64>() {
        return Ok(v);
    }
    if let Some(whole) = cleaned.strip_suffix(".0").or_else(|| cleaned.strip_suffix(",0"))
        && let Ok(v) = whole.parse::<i64>()
    {
        return Ok(v);
    }
    Err(Invalid::new(Problem::InvalidInt, "not a whole number"))
}

/// A decimal number as canonical text (`1500.50`): grouping spaces allowed; with
/// `decimal_comma`, `,` is the decimal mark and `.` a grouping mark; without it, `,` is accepted
/// only as a thousands separator in groups of three (`1,500.50`).
pub fn to_number(s: &str, decimal_comma: bool) -> Result<String, Invalid> {
    let cleaned = strip_grouping(s.trim());
    let canonical = if decimal_comma {
        let no_dots = if cleaned.contains(',') { cleaned.replace('.', "") } else { cleaned.clone() };
        no_dots.replacen(',', ".", 1)
    } else if cleaned.contains(',') {
        let int_part = cleaned.split('.').next().unwrap_or("");
        let groups: Vec<&str> = int_part.trim_start_matches(['-', '+']).split(',').collect();
        let grouped = groups.len() > 1
            && (1..=3).contains(&groups[0].len())
            && groups[1..].iter().all(|g| g.len() == 3);
        if !grouped {
            return Err(Invalid::new(
                Problem::InvalidNumber,
                "not a number (a decimal comma? set `decimal_comma = true`)",
            ));
        }
        cleaned.replace(',', "")
    } else {
        cleaned
    };
    let valid = !canonical.is_empty()
        && canonical.parse::<f64>().is_ok_and(f64::is_finite)
        && canonical.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'));
    if valid {
        Ok(canonical.trim_start_matches('+').to_string())
    } else {
        Err(Invalid::new(Problem::InvalidNumber, "not a number"))
    }
}

/// Parses a date with `formats` tried in order, then ISO `2026-03-14`, then an ISO date-time
/// whose date part is taken (spreadsheet date-time cells).
pub fn to_date(s: &str, formats: &Formats) -> Result<NaiveDate, Invalid> {
    let s = s.trim();
    if let Some(d) = formats.parse(s).find_map(|p| p.to_naive_date().ok()) {
        return Ok(d);
    }
    if let Ok(d) = s.parse::<NaiveDate>() {
        return Ok(d);
    }
    if let Ok(dt) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
        return Ok(dt.date());
    }
    Err(Invalid::new(
        Problem::InvalidDate,
        format!("not a valid date (formats: {})", format_list(formats, "%Y-%m-%d")),
    ))
}

/// Parses a date-time and renders it as `YYYY-MM-DDThh:mm:ss±hh:mm`. Values with their own
/// offset keep it; others get `offset`. A date alone means midnight.
pub fn to_datetime(s: &str, formats: &Formats, offset: FixedOffset) -> Result<String, Invalid> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(dt.format("%Y-%m-%dT%H:%M:%S%:z").to_string());
    }
    let naive = formats
        .parse(s)
        .find_map(|p| {
            p.to_naive_datetime_with_offset(0)
                .ok()
                .or_else(|| p.to_naive_date().ok().map(|d| d.and_time(NaiveTime::MIN)))
        })
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok())
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok())
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").ok())
        .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| d.and_time(NaiveTime::MIN)));
    match naive.and_then(|n| n.and_local_timezone(offset).single()) {
        Some(dt) => Ok(dt.format("%Y-%m-%dT%H:%M:%S%:z").to_string()),
        None => Err(Invalid::new(
            Problem::InvalidDatetime,
            format!("not a valid date-time (formats: {})", format_list(formats, "%Y-%m-%dT%H:%M:%S")),
        )),
    }
}

fn format_list(formats: &Formats, iso: &str) -> String {
    if formats.written.is_empty() { iso.to_string() } else { formats.written.join(", ") }
}

/// Parses `+03:00`, `-05:30`, `Z`, `UTC`.
pub fn parse_offset(s: &str) -> Option<FixedOffset> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if h > 23 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Trims, lower-cases and checks an e-mail address.
pub fn to_email(s: &str) -> Result<String, Invalid> {
    // NFC first: `é` written as `e` + a combining accent (macOS, some exports) is one letter.
    let email = unicode_normalization::UnicodeNormalization::nfc(s.trim().trim_start_matches("mailto:"))
        .collect::<String>()
        .to_lowercase();
    let bad = || Invalid::new(Problem::InvalidEmail, "not a valid e-mail address");
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let domain_ok = domain.contains('.')
        && domain.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && domain.rsplit('.').next().is_some_and(|tld| tld.chars().count() >= 2);
    if local_ok && domain_ok { Ok(email) } else { Err(bad()) }
}

/// Keeps a leading `+` and the digits: `8 (916) 123-45-67` -> `89161234567`. An extension
/// (`ext.`, `доб.`, `x`, `#`) is dropped. Fewer than 5 digits is an error.
pub fn to_phone(s: &str) -> Result<String, Invalid> {
    let trimmed = s.trim();
    let lower: std::borrow::Cow<'_, str> = if trimmed.chars().any(|c| c.is_alphabetic() || c == '#') {
        trimmed.to_lowercase().into()
    } else {
        trimmed.into()
    };
    let main = if lower.chars().any(|c| c.is_alphabetic() || c == '#') {
        ["ext", "доб", "#", "x", "вн"]
            .iter()
            .filter_map(|marker| lower.find(marker))
            .min()
            .map_or(&*lower, |i| &lower[..i])
    } else {
        &*lower
    };
    let mut out = String::with_capacity(main.len());
    if main.trim_start().starts_with('+') {
        out.push('+');
    }
    out.extend(main.chars().filter(char::is_ascii_digit));
    let digits = out.trim_start_matches('+').len();
    if digits < 5 {
        return Err(Invalid::new(
            Problem::InvalidPhone,
            format!("a phone needs at least 5 digits, found {digits}"),
        ));
    }
    if digits > 20 {
        return Err(Invalid::new(Problem::InvalidPhone, format!("too many digits for a phone ({digits})")));
    }
    Ok(out)
}

/// Money as the portal wants it: `amount|CUR` (`300|USD`). `s` may hold `300`, `300 USD`,
/// `USD 300` or `300|USD`; `currency` is used when it holds no code.
pub fn to_money(s: &str, currency: Option<&str>, decimal_comma: bool) -> Result<String, Invalid> {
    let s = s.trim();
    let (amount, code) = if let Some((a, c)) = s.split_once('|') {
        (a.trim().to_string(), Some(c.trim().to_string()))
    } else {
        let letters: String = s.chars().filter(|c| c.is_ascii_alphabetic()).collect();
        let amount: String = s.chars().filter(|c| !c.is_ascii_alphabetic()).collect();
        (amount.trim().to_string(), (!letters.is_empty()).then_some(letters))
    };
    let amount = to_number(&amount, decimal_comma)
        .map_err(|e| Invalid::new(Problem::InvalidMoney, format!("money amount: {}", e.message)))?;
    let code = code.or_else(|| currency.map(str::to_string)).map(|c| c.to_uppercase());
    match code {
        Some(c) if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()) => Ok(format!("{amount}|{c}")),
        Some(c) => Err(Invalid::new(Problem::InvalidMoney, format!("`{c}` is not a 3-letter currency code"))),
        None => Ok(amount),
    }
}

/// Splits a cell on `sep`, trimming parts and dropping empty ones.
pub fn split_parts<'a>(s: &'a str, sep: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    s.split(sep).map(str::trim).filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case("yes", "Y")]
    #[case(" Да ", "Y")]
    #[case("TRUE", "Y")]
    #[case("1", "Y")]
    #[case("n", "N")]
    #[case("нет", "N")]
    #[case("false", "N")]
    #[case("0", "N")]
    fn bools_become_y_or_n(#[case] input: &str, #[case] want: &str) {
        assert_eq!(to_bool(input), Ok(want));
    }

    #[rstest]
    #[case("maybe")]
    #[case("")]
    #[case("2")]
    fn non_bools_are_rejected(#[case] input: &str) {
        assert_eq!(to_bool(input).unwrap_err().code, "invalid_bool");
    }

    #[rstest]
    #[case("42", 42)]
    #[case(" 1 500 ", 1500)]
    #[case("-7", -7)]
    #[case("12.0", 12)]
    fn ints_accept_grouping_and_whole_decimals(#[case] input: &str, #[case] want: i64) {
        assert_eq!(to_int(input), Ok(want));
    }

    #[rstest]
    #[case("12.5")]
    #[case("abc")]
    #[case("")]
    fn non_ints_are_rejected(#[case] input: &str) {
        assert!(to_int(input).is_err());
    }

    #[rstest]
    #[case("1 500,50", true, "1500.50")]
    #[case("1.500,50", true, "1500.50")]
    #[case("12", true, "12")]
    #[case("3.25", true, "3.25")]
    #[case("1,500.50", false, "1500.50")]
    #[case("1250000.50", false, "1250000.50")]
    #[case("+5", false, "5")]
    #[case("-0.5", false, "-0.5")]
    fn numbers_become_canonical_text(#[case] input: &str, #[case] comma: bool, #[case] want: &str) {
        assert_eq!(to_number(input, comma).as_deref(), Ok(want));
    }

    #[rstest]
    #[case("1,5", false)]
    #[case("12abc", false)]
    #[case("1e400", false)]
    #[case("NaN", false)]
    #[case("", true)]
    fn non_numbers_are_rejected(#[case] input: &str, #[case] comma: bool) {
        assert_eq!(to_number(input, comma).unwrap_err().code, "invalid_number");
    }

    #[rstest]
    #[case("14.03.2026", "2026-03-14")]
    #[case("2026-03-14", "2026-03-14")]
    #[case("2026-03-14T09:30:00", "2026-03-14")]
    #[case("29.02.2024", "2024-02-29")]
    fn dates_parse_with_formats_and_iso(#[case] input: &str, #[case] want: &str) {
        let formats = Formats::new(&["%d.%m.%Y".to_string()]).expect("valid");
        assert_eq!(to_date(input, &formats).map(|d| d.to_string()).as_deref(), Ok(want));
    }

    #[rstest]
    #[case("31.02.1990")]
    #[case("29.02.2023")]
    #[case("1990/02/01")]
    #[case("")]
    fn impossible_dates_are_rejected(#[case] input: &str) {
        let formats = Formats::new(&["%d.%m.%Y".to_string()]).expect("valid");
        let err = to_date(input, &formats).unwrap_err();
        assert_eq!(err.code, "invalid_date");
        assert!(err.message.contains("%d.%m.%Y"), "{}", err.message);
    }

    #[rstest]
    #[case("14.03.2026 09:30", "2026-03-14T09:30:00+03:00")]
    #[case("2026-03-14T09:30:00", "2026-03-14T09:30:00+03:00")]
    #[case("2026-03-14T09:30:00+05:00", "2026-03-14T09:30:00+05:00")]
    #[case("2026-03-14", "2026-03-14T00:00:00+03:00")]
    fn datetimes_get_an_offset(#[case] input: &str, #[case] want: &str) {
        let formats = Formats::new(&["%d.%m.%Y %H:%M".to_string()]).expect("valid");
        let offset = parse_offset("+03:00").expect("valid offset");
        assert_eq!(to_datetime(input, &formats, offset).as_deref(), Ok(want));
    }

    #[rstest]
    #[case(" Ivan.Petrov@Example.COM ", "ivan.petrov@example.com")]
    #[case("a+tag@mail.ru", "a+tag@mail.ru")]
    #[case("mailto:x@y.io", "x@y.io")]
    #[case("пользователь@пример.рф", "пользователь@пример.рф")]
    #[case("CAFE\u{301}@X.ru", "caf\u{e9}@x.ru")]
    fn emails_are_cleaned(#[case] input: &str, #[case] want: &str) {
        assert_eq!(to_email(input).as_deref(), Ok(want));
    }

    #[rstest]
    #[case("sales@@acme")]
    #[case("no-at-sign.ru")]
    #[case("a@b")]
    #[case("a b@c.ru")]
    #[case("@c.ru")]
    #[case("a@.ru")]
    #[case("a..b@c.ru")]
    fn malformed_emails_are_rejected(#[case] input: &str) {
        assert_eq!(to_email(input).unwrap_err().code, "invalid_email");
    }

    #[rstest]
    #[case("8 (916) 123-45-67", "89161234567")]
    #[case("+7 495 111-22-33", "+74951112233")]
    #[case("+7 (495) 111-22-33 доб. 123", "+74951112233")]
    #[case("8-800-555-35-35 ext 7", "88005553535")]
    fn phones_keep_plus_and_digits(#[case] input: &str, #[case] want: &str) {
        assert_eq!(to_phone(input).as_deref(), Ok(want));
    }

    #[rstest]
    #[case("123")]
    #[case("phone")]
    #[case("")]
    fn short_phones_are_rejected(#[case] input: &str) {
        assert_eq!(to_phone(input).unwrap_err().code, "invalid_phone");
    }

    #[rstest]
    #[case("300", Some("USD"), false, "300|USD")]
    #[case("300 eur", None, false, "300|EUR")]
    #[case("300|RUB", Some("USD"), false, "300|RUB")]
    #[case("1 500,50", Some("RUB"), true, "1500.50|RUB")]
    #[case("42", None, false, "42")]
    fn money_is_amount_pipe_currency(
        #[case] input: &str,
        #[case] cur: Option<&str>,
        #[case] comma: bool,
        #[case] want: &str,
    ) {
        assert_eq!(to_money(input, cur, comma).as_deref(), Ok(want));
    }

    #[rstest]
    #[case("abc|USD")]
    #[case("10 DOLLARS")]
    fn bad_money_is_rejected(#[case] input: &str) {
        assert_eq!(to_money(input, None, false).unwrap_err().code, "invalid_money");
    }

    #[test]
    fn split_drops_empty_parts() {
        assert_eq!(split_parts(" a, ,b ,", ",").collect::<Vec<_>>(), vec!["a", "b"]);
    }

    #[rstest]
    #[case("%d.%m.%Y")]
    #[case("%Y-%m-%d %H:%M")]
    #[case("%d/%m/%y")]
    #[case("%Y %j")]
    #[case("%e %B %Y")]
    fn formats_that_yield_a_date_pass(#[case] format: &str) {
        assert_eq!(check_date_format(format, false), Ok(()));
        assert_eq!(check_date_format(format, true), Ok(()));
    }

    #[test]
    fn a_timestamp_is_a_date_time_but_not_a_date() {
        let formats = Formats::new(&["%s".to_string()]).expect("valid");
        let offset = parse_offset("+00:00").expect("valid offset");
        assert!(to_date("1773480645", &formats).is_err());
        assert!(to_datetime("1773480645", &formats, offset).is_ok());
        assert!(check_date_format("%s", false).is_err());
        assert_eq!(check_date_format("%s", true), Ok(()));
    }

    #[rstest]
    #[case("DD.MM.YYYY", "did you mean \"%d.%m.%Y\"?")]
    #[case("YYYY-MM-DD HH:mm:ss", "did you mean \"%Y-%m-%d %H:%M:%S\"?")]
    #[case("dd month", "e.g. \"%d.%m.%Y\"")]
    #[case("%H:%M", "cannot yield a date")]
    #[case("%d.%m", "cannot yield a date")]
    #[case("%m %Y", "cannot yield a date")]
    #[case("%Q", "not a valid chrono format")]
    fn formats_that_cannot_yield_a_date_say_why(#[case] format: &str, #[case] want: &str) {
        let err = check_date_format(format, false).expect_err("refused");
        assert_eq!(check_date_format(format, true).expect_err("refused"), err);
        assert!(err.contains(want), "{format}: {err}");
    }

    proptest! {
        #[test]
        fn checking_any_format_never_panics(s in "[%a-zA-Z:./ -]{0,12}") {
            let _ = check_date_format(&s, false);
            let _ = check_date_format(&s, true);
        }

        #[test]
        fn no_transform_panics_on_any_cell(s in "\\PC{0,40}", comma: bool) {
            let formats = Formats::new(&["%d.%m.%Y".to_string(), "%Y %j".to_string()]).expect("valid");
            let offset = parse_offset("+03:00").expect("valid offset");
            let _ = to_bool(&s);
            let _ = to_int(&s);
            let _ = to_number(&s, comma);
            let _ = to_date(&s, &formats);
            let _ = to_datetime(&s, &formats, offset);
            let _ = to_email(&s);
            let _ = to_phone(&s);
            let _ = to_money(&s, Some("USD"), comma);
            let _ = parse_offset(&s);
            let _ = split_parts(&s, ",").count();
        }
    }
}
