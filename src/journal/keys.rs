//! The journal's own key formats, built and read in one place: the key a source row is kept
//! under ([`RowKey`] and its text), and the names of the meta entries the run writes for
//! `status`.
//!
//! A row is kept under its source key; a row without a key under its line number; a repeat of a
//! key seen earlier in the file under that key and its own line. These are three kinds, and no
//! source key can pass for another kind: a source key that reads like a line (`#7`) or begins
//! with the escape (`\`) is stored escaped (`\#7`). The text ([`RowKey::encode`]) is what the
//! journal stores and what the run passes around; it equals the source key itself for every key
//! that does not begin with `#` or `\`. What users are shown ([`RowKey`]'s `Display`: `C-1`,
//! `#7`, `C-1#dup@9`) is the form earlier versions stored, so `status`, `rejects` and `ids` read
//! as before; journals of those versions (schema 3 and older) are read through
//! [`RowKey::from_legacy`].
//!
//! Owns: the text of these keys. Must not: know about mappings or sources beyond a key, a line
//! number and whether the key repeats an earlier row's.

use std::fmt;

/// The key of one row of a step in the journal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowKey {
    /// The row's own source key (never empty when built by [`RowKey::of_row`]).
    Source(String),
    /// A row without a key, by its 1-based line.
    Line(u64),
    /// A row repeating the source key `key` of an earlier row, by its own line.
    Repeat { key: String, line: u64 },
}

impl RowKey {
    /// The key a source row is kept under: its source key; a repeat of a key seen earlier in
    /// the file by that key and its line; a row without a key by its line.
    pub fn of_row(source_key: &str, line: u64, repeats_an_earlier_key: bool) -> RowKey {
        if repeats_an_earlier_key {
            RowKey::Repeat { key: source_key.to_string(), line }
        } else if source_key.is_empty() {
            RowKey::Line(line)
        } else {
            RowKey::Source(source_key.to_string())
        }
    }

    /// The text the journal stores: `#7` for line 7; `#9#C-1` for the repeat of `C-1` on line
    /// 9; a source key as it is, or after a `\` when it begins with `#` or `\`. Lossless:
    /// [`RowKey::decode`] gives the key back, and two keys never share a text.
    pub fn encode(&self) -> String {
        match self {
            RowKey::Source(s) if s.starts_with(['#', '\\']) => format!("\\{s}"),
            RowKey::Source(s) => s.clone(),
            RowKey::Line(line) => format!("#{line}"),
            RowKey::Repeat { key, line } => format!("#{line}#{key}"),
        }
    }

    /// The key whose [`RowKey::encode`] is `text`. A text no key encodes to (only a hand-edited
    /// journal holds one: `#x`, `#07`) reads as that source key.
    pub fn decode(text: &str) -> RowKey {
        if let Some(escaped) = text.strip_prefix('\\') {
            return RowKey::Source(escaped.to_string());
        }
        if let Some(rest) = text.strip_prefix('#') {
            let (digits, tail) = match rest.split_once('#') {
                Some((d, t)) => (d, Some(t)),
                None => (rest, None),
            };
            if let Some(line) = canonical_number(digits) {
                return match tail {
                    None => RowKey::Line(line),
                    Some(key) => RowKey::Repeat { key: key.to_string(), line },
                };
            }
        }
        RowKey::Source(text.to_string())
    }

    /// Whether the row is kept by its line number (no key, or a repeat of a key): such a row
    /// cannot be looked up in the portal, and cannot be paired reliably with a source that
    /// changed.
    pub fn is_by_line(&self) -> bool {
        !matches!(self, RowKey::Source(_))
    }

    /// The row's own source key; `None` for a row kept by its line.
    pub fn source_key(&self) -> Option<&str> {
        match self {
            RowKey::Source(s) => Some(s),
            RowKey::Line(_) | RowKey::Repeat { .. } => None,
        }
    }

    /// The text a journal of schema 3 or older stores for this key: the form shown to users,
    /// which did not tell a source key `#7` from the row without a key on line 7.
    pub(super) fn legacy_text(&self) -> String {
        self.to_string()
    }

    /// The key a journal of schema 3 or older means by `text`, for the row last seen at
    /// `row_ref` (`contacts.csv:7`): `#7` and `C-1#dup@7` are kept by line only when the row
    /// sits on that line (or its line cannot be told); elsewhere they can only have been a
    /// source key. A source key `#7` on line 7 itself cannot be told from a row without a key
    /// there, and is read as the latter, as those versions did.
    pub fn from_legacy(text: &str, row_ref: &str) -> RowKey {
        let on_line = |line: u64| line_of(row_ref).is_none_or(|l| l == line);
        if let Some(line) = text.strip_prefix('#').and_then(canonical_number)
            && on_line(line)
        {
            return RowKey::Line(line);
        }
        if let Some((key, digits)) = text.rsplit_once("#dup@")
            && let Some(line) = canonical_number(digits)
            && on_line(line)
        {
            return RowKey::Repeat { key: key.to_string(), line };
        }
        RowKey::Source(text.to_string())
    }
}

/// As users see the key: the source key itself, `#7` for the row without a key on line 7,
/// `C-1#dup@9` for the repeat of `C-1` on line 9.
impl fmt::Display for RowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowKey::Source(s) => f.write_str(s),
            RowKey::Line(line) => write!(f, "#{line}"),
            RowKey::Repeat { key, line } => write!(f, "{key}#dup@{line}"),
        }
    }
}

/// `digits` as a number when they are its only decimal form (no sign, no leading zero).
fn canonical_number(digits: &str) -> Option<u64> {
    let n: u64 = digits.parse().ok()?;
    (digits.bytes().all(|b| b.is_ascii_digit()) && n.to_string() == digits).then_some(n)
}

/// The line at the end of a row reference (`contacts.csv:7`, `deals.xlsx:Deals!17`).
fn line_of(row_ref: &str) -> Option<u64> {
    row_ref.rsplit([':', '!']).next().and_then(canonical_number)
}

/// The journal text of a source row's key ([`RowKey::of_row`], encoded).
pub fn row_key(source_key: &str, line: u64, repeats_an_earlier_key: bool) -> String {
    RowKey::of_row(source_key, line, repeats_an_earlier_key).encode()
}

/// Whether the journal key `key` (its text) names its row by line number (no key, or a repeat
/// of a key): such a row cannot be looked up in the portal, and cannot be paired reliably with
/// a source that changed.
pub fn is_by_line(key: &str) -> bool {
    RowKey::decode(key).is_by_line()
}

/// The journal key `key` (its text) as users see it; for a row with its own key, that source
/// key, which is also what the portal holds as the item's external key.
pub fn shown(key: &str) -> String {
    RowKey::decode(key).to_string()
}

/// The journal key `key` (its text) with its source key replaced by `f`'s (`None` when `f`
/// gives none, or the row has no source key): for a row whose source key had another form in
/// earlier versions.
pub fn with_source_key(key: &str, f: impl FnOnce(&str) -> Option<String>) -> Option<String> {
    Some(
        match RowKey::decode(key) {
            RowKey::Source(s) => RowKey::Source(f(&s)?),
            RowKey::Repeat { key, line } => RowKey::Repeat { key: f(&key)?, line },
            RowKey::Line(_) => return None,
        }
        .encode(),
    )
}

/// The meta entry holding how many rows step `step` read from its source (for `status`).
pub fn source_rows_meta(step: &str) -> String {
    format!("source_rows:{step}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case::a_plain_key("C-1", 7, false, "C-1", "C-1", false)]
    #[case::no_key("", 7, false, "#7", "#7", true)]
    #[case::a_repeated_key("C-1", 9, true, "#9#C-1", "C-1#dup@9", true)]
    #[case::a_key_that_reads_like_a_line("#7", 3, false, "\\#7", "#7", false)]
    #[case::a_key_that_reads_like_a_repeat("C-1#dup@9", 2, false, "C-1#dup@9", "C-1#dup@9", false)]
    #[case::a_key_with_the_escape("\\x", 2, false, "\\\\x", "\\x", false)]
    #[case::a_repeat_of_a_key_that_reads_like_a_line("#7", 9, true, "#9##7", "#7#dup@9", true)]
    fn a_row_key_says_whether_it_names_a_line(
        #[case] source_key: &str,
        #[case] line: u64,
        #[case] repeat: bool,
        #[case] stored: &str,
        #[case] shown_as: &str,
        #[case] by_line: bool,
    ) {
        let key = row_key(source_key, line, repeat);
        assert_eq!(key, stored);
        assert_eq!(shown(&key), shown_as);
        assert_eq!(is_by_line(&key), by_line);
        assert_eq!(RowKey::decode(&key), RowKey::of_row(source_key, line, repeat));
    }

    #[test]
    fn a_source_key_is_replaced_inside_its_key() {
        let upper = |s: &str| Some(s.to_uppercase());
        assert_eq!(with_source_key(&row_key("#a", 2, false), upper), Some(row_key("#A", 2, false)));
        assert_eq!(with_source_key(&row_key("a", 9, true), upper), Some(row_key("A", 9, true)));
        assert_eq!(with_source_key(&row_key("", 7, false), upper), None);
    }

    #[test]
    fn a_source_key_like_a_line_does_not_collide_with_that_line() {
        // Regression (issue 17): the source key `#7` and the key-less row on line 7 were one
        // journal row, and so were `k#dup@9` and the repeat of `k` on line 9.
        assert_ne!(row_key("#7", 2, false), row_key("", 7, false));
        assert_ne!(row_key("k#dup@9", 2, false), row_key("k", 9, true));
    }

    #[rstest]
    #[case::a_source_key("C-1", "c.csv:2", RowKey::Source("C-1".into()))]
    #[case::a_line_on_its_line("#7", "c.csv:7", RowKey::Line(7))]
    #[case::a_line_in_a_sheet("#7", "d.xlsx:Deals!7", RowKey::Line(7))]
    #[case::a_source_key_like_a_line_elsewhere("#7", "c.csv:3", RowKey::Source("#7".into()))]
    #[case::a_repeat_on_its_line("C-1#dup@9", "c.csv:9", RowKey::Repeat { key: "C-1".into(), line: 9 })]
    #[case::a_source_key_like_a_repeat("C-1#dup@9", "c.csv:4", RowKey::Source("C-1#dup@9".into()))]
    #[case::a_line_without_a_readable_ref("#7", "?", RowKey::Line(7))]
    #[case::not_a_line("#07", "c.csv:7", RowKey::Source("#07".into()))]
    #[case::a_hash_key("#A-1", "c.csv:2", RowKey::Source("#A-1".into()))]
    fn an_old_journal_key_keeps_its_meaning(#[case] text: &str, #[case] row_ref: &str, #[case] want: RowKey) {
        let key = RowKey::from_legacy(text, row_ref);
        assert_eq!(key, want);
        assert_eq!(key.legacy_text(), text, "shown as before");
    }

    fn any_key() -> impl Strategy<Value = RowKey> {
        let text = "[#\\\\a-z0-9@|]{0,8}";
        prop_oneof![
            text.prop_map(RowKey::Source),
            any::<u64>().prop_map(RowKey::Line),
            (text, any::<u64>()).prop_map(|(key, line)| RowKey::Repeat { key, line }),
        ]
    }

    proptest! {
        #[test]
        fn the_text_of_a_key_is_lossless(a in any_key(), b in any_key()) {
            prop_assert_eq!(RowKey::decode(&a.encode()), a.clone());
            prop_assert_eq!(a == b, a.encode() == b.encode(), "{:?} / {:?}", a, b);
        }

        #[test]
        fn a_plain_source_key_is_its_own_text(s in "[^#\\\\].{0,12}") {
            prop_assert_eq!(RowKey::Source(s.clone()).encode(), s);
        }
    }
}
