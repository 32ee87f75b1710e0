//! The kinds of row problems: one closed set, so that a stage that reacts to a kind (the run
//! keys a repeated key's row apart) cannot drift from the stage that reports it.
//!
//! Owns: [`Problem`] and its stable text (`invalid_date`, `duplicate_key`, ...), which is what
//! summaries count, `--rejects` prints in its `code` column and the journal records. The text
//! of a kind never changes once released: journals and users' scripts hold it.

use std::fmt;

/// Why one row cannot be imported as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Problem {
    // The source could not give the row whole.
    /// A row with more or fewer cells than the header.
    RaggedRow,
    /// A spreadsheet error cell (`#N/A`, `#DIV/0!`...).
    ErrorCell,
    /// A control character inside a cell.
    ControlCharacter,
    /// A formula cell whose value was never saved.
    FormulaWithoutValue,
    // A cell the field's type refuses.
    InvalidBool,
    InvalidInt,
    InvalidNumber,
    InvalidDate,
    InvalidDatetime,
    InvalidEmail,
    InvalidPhone,
    InvalidMoney,
    /// A value not in the field's `map`, with no `default`.
    UnknownValue,
    /// Several values for a single-valued field.
    TooManyValues,
    // File fields.
    FileError,
    FileOutsideBaseDir,
    FileMissing,
    FileTooLarge,
    // Row-level rules.
    /// A `required` field is empty.
    Required,
    /// Every column of a `require_any` rule is empty.
    RequireAny,
    /// The key columns are empty.
    EmptyKey,
    /// The key was seen on an earlier row of the same file.
    DuplicateKey,
    // Found out by the run, not by the mapping.
    /// A `lookup` names a row that the other step did not import.
    LookupNotFound,
    /// No portal user has the e-mail a `user = "email"` field names.
    UserNotFound,
    /// The portal could not be asked (the row is tried again on the next run).
    LookupFailed,
    /// The row alone is larger than a request may be.
    TooLarge,
    /// `mode = "update"`: the portal has no item with the row's key.
    NotFound,
    /// A `type = "enum"` label that the portal's list (items, stages, sources, categories,
    /// currencies) does not hold.
    UnknownLabel,
}

impl Problem {
    /// The stable text of the kind.
    pub const fn as_str(self) -> &'static str {
        match self {
            Problem::RaggedRow => "ragged_row",
            Problem::ErrorCell => "error_cell",
            Problem::ControlCharacter => "control_character",
            Problem::FormulaWithoutValue => "formula_without_value",
            Problem::InvalidBool => "invalid_bool",
            Problem::InvalidInt => "invalid_int",
            Problem::InvalidNumber => "invalid_number",
            Problem::InvalidDate => "invalid_date",
            Problem::InvalidDatetime => "invalid_datetime",
            Problem::InvalidEmail => "invalid_email",
            Problem::InvalidPhone => "invalid_phone",
            Problem::InvalidMoney => "invalid_money",
            Problem::UnknownValue => "unknown_value",
            Problem::TooManyValues => "too_many_values",
            Problem::FileError => "file_error",
            Problem::FileOutsideBaseDir => "file_outside_base_dir",
            Problem::FileMissing => "file_missing",
            Problem::FileTooLarge => "file_too_large",
            Problem::Required => "required",
            Problem::RequireAny => "require_any",
            Problem::EmptyKey => "empty_key",
            Problem::DuplicateKey => "duplicate_key",
            Problem::LookupNotFound => "lookup_not_found",
            Problem::UserNotFound => "user_not_found",
            Problem::LookupFailed => "lookup_failed",
            Problem::TooLarge => "too_large",
            Problem::NotFound => "not_found",
            Problem::UnknownLabel => "unknown_label",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Problem {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::Problem;

    #[test]
    fn every_kind_has_its_own_text() {
        use Problem::*;
        let all = [
            RaggedRow,
            ErrorCell,
            ControlCharacter,
            FormulaWithoutValue,
            InvalidBool,
            InvalidInt,
            InvalidNumber,
            InvalidDate,
            InvalidDatetime,
            InvalidEmail,
            InvalidPhone,
            InvalidMoney,
            UnknownValue,
            TooManyValues,
            FileError,
            FileOutsideBaseDir,
            FileMissing,
            FileTooLarge,
            Required,
            RequireAny,
            EmptyKey,
            DuplicateKey,
            LookupNotFound,
            UserNotFound,
            LookupFailed,
            TooLarge,
            NotFound,
            UnknownLabel,
        ];
        let texts: std::collections::BTreeSet<&str> = all.iter().map(|p| p.as_str()).collect();
        assert_eq!(texts.len(), all.len());
        assert!(texts.iter().all(|t| t.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    }
}
