//! The journal's own key formats, built and read in one place: the key a source row is kept
//! under, and the names of the meta entries the run writes for `status`.
//!
//! Owns: the text of these keys. Must not: know about mappings or sources beyond a key, a line
//! number and whether the key repeats an earlier row's.

/// The key a source row is kept under: its source key; `key#dup@line` for a repeat of a key
/// seen earlier in the file; `#line` for a row without a key.
pub fn row_key(source_key: &str, line: u64, repeats_an_earlier_key: bool) -> String {
    if repeats_an_earlier_key {
        format!("{source_key}#dup@{line}")
    } else if source_key.is_empty() {
        format!("#{line}")
    } else {
        source_key.to_string()
    }
}

/// Whether `key` names its row by line number (no key, or a repeat of a key): such a row cannot
/// be looked up in the portal, and cannot be paired reliably with a source that changed.
pub fn is_by_line(key: &str) -> bool {
    key.starts_with('#') || key.contains("#dup@")
}

/// The meta entry holding how many rows step `step` read from its source (for `status`).
pub fn source_rows_meta(step: &str) -> String {
    format!("source_rows:{step}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::a_plain_key("C-1", 7, false, "C-1", false)]
    #[case::no_key("", 7, false, "#7", true)]
    #[case::a_repeated_key("C-1", 9, true, "C-1#dup@9", true)]
    fn a_row_key_says_whether_it_names_a_line(
        #[case] source_key: &str,
        #[case] line: u64,
        #[case] repeat: bool,
        #[case] expected: &str,
        #[case] by_line: bool,
    ) {
        let key = row_key(source_key, line, repeat);
        assert_eq!(key, expected);
        assert_eq!(is_by_line(&key), by_line);
    }
}
