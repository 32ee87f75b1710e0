//! Diagnostics for mapping files: `path:line:col: message`, with "did you mean" suggestions.
//!
//! Owns: turning byte spans into line/column, and near-miss suggestions. Every problem in a
//! mapping file is collected into [`Diagnostics`] and reported at once.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a mapping file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at byte `span` of `text`.
    pub fn at(path: &Path, text: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let (line, col) = line_col(text, span.start);
        Diagnostic { path: path.to_path_buf(), line, col, message: message.into() }
    }

    pub fn whole_file(path: &Path, message: impl Into<String>) -> Self {
        Diagnostic { path: path.to_path_buf(), line: 0, col: 0, message: message.into() }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.path.display(), self.line, self.col, self.message)
        }
    }
}

/// Every problem found in one or more mapping files.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn one(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of byte `offset`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// `", did you mean `x`?"` when a candidate is close to `wanted`, else `""`.
pub fn suggest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match closest(wanted, candidates) {
        Some(best) => format!(", did you mean `{best}`?"),
        None => String::new(),
    }
}

/// The candidate closest to `wanted`, if it is close enough to be a likely typo.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    let mut best: Option<(&str, f64)> = None;
    for candidate in candidates {
        let lower = candidate.to_lowercase();
        let score = if lower == wanted_lower {
            2.0
        } else if lower.contains(&wanted_lower) && wanted_lower.len() >= 3 {
            0.9
        } else {
            strsim::jaro_winkler(&wanted_lower, &lower)
        };
        if score >= 0.8 && best.is_none_or(|(_, s)| score > s) {
            best = Some((candidate, score));
        }
    }
    best.map(|(c, _)| c)
}

/// Makes serde's messages speak the mapping's language and adds a suggestion:
/// "unknown field `colum`, expected one of `column`, ..." -> "unknown key `colum`, did you mean `column`?".
pub fn rewrite_serde_message(message: &str) -> String {
    let message = message.trim();
    for (prefix, noun) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some(end) = rest.find('`')
        {
            let wanted = &rest[..end];
            let expected: Vec<&str> = rest[end + 1..].split('`').skip(1).step_by(2).collect();
            let hint = suggest(wanted, expected.iter().copied());
            let list = expected.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ");
            return if hint.is_empty() {
                format!("unknown {noun} `{wanted}` (expected one of {list})")
            } else {
                format!("unknown {noun} `{wanted}`{hint}")
            };
        }
    }
    // Serde names Rust types (`expected u32`); the mapping's language has numbers.
    let mut message = message.replace("invalid type: ", "wrong type: ").replace("invalid value: ", "");
    for (rust, words) in [
        ("usize", "a whole number"),
        ("u64", "a whole number"),
        ("u32", "a whole number"),
        ("u16", "a whole number"),
        ("u8", "a whole number"),
        ("i64", "a whole number"),
        ("i32", "a whole number"),
        ("f64", "a number"),
        ("f32", "a number"),
    ] {
        message = message.replace(&format!("expected {rust}"), &format!("expected {words}"));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("abc", 0, (1, 1))]
    #[case("abc\ndef", 5, (2, 2))]
    #[case("я\nюx", 5, (2, 2))]
    fn line_col_counts_lines_and_characters(
        #[case] text: &str,
        #[case] offset: usize,
        #[case] want: (usize, usize),
    ) {
        assert_eq!(line_col(text, offset), want);
    }

    #[rstest]
    #[case("lastname", &["lastName", "name"], Some("lastName"))]
    #[case("colum", &["column", "columns", "value"], Some("column"))]
    #[case("zzz", &["column", "value"], None)]
    fn closest_finds_likely_typos(
        #[case] wanted: &str,
        #[case] candidates: &[&str],
        #[case] want: Option<&str>,
    ) {
        assert_eq!(closest(wanted, candidates.iter().copied()), want);
    }

    #[test]
    fn serde_never_shows_a_rust_type_name() {
        let msg = rewrite_serde_message("invalid value: integer `70000`, expected u16");
        assert_eq!(msg, "integer `70000`, expected a whole number");
    }

    #[test]
    fn serde_unknown_field_message_becomes_a_suggestion() {
        let msg = rewrite_serde_message("unknown field `colum`, expected one of `column`, `columns`");
        assert_eq!(msg, "unknown key `colum`, did you mean `column`?");
    }
}
