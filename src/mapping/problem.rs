//! The kinds of row problems: one closed set, so that a stage that reacts to a kind (the run
//! keys a repeated key's row apart) cannot drift from the stage that reports it.
//!
//! Owns: [`Problem`] and its stable text (`invalid_date`, `duplicate_key`, ...), which is what
//! summaries count, `--rejects` prints in its `code` column and the journal records. The text
//! of a kind never changes once released: journals and users' scripts hold it.

use std::fmt;

/// Declares [`Problem`] with each kind's stable text, once: the enum, [`Problem::as_str`] and
/// [`Problem::ALL`] cannot drift apart.
macro_rules! problems {
    ($($(#[$doc:meta])* $kind:ident => $text:literal,)*) => {
        /// Why one row cannot be imported as it is.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Problem {
            $($(#[$doc])* $kind,)*
        }

        impl Problem {
            /// Every kind, in declaration order.
            pub const ALL: &[Problem] = &[$(Problem::$kind),*];

            /// The stable text of the kind.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Problem::$kind => $text,)*
                }
            }
        }
    };
}

problems! {
    // The source could not give the row whole.
    /// A row with more or fewer cells than the header.
    RaggedRow => "ragged_row",
    /// A spreadsheet error cell (`#N/A`, `#DIV/0!`...).
    ErrorCell => "error_cell",
    /// A control character inside a cell.
    ControlCharacter => "control_character",
    /// A formula cell whose value was never saved.
    FormulaWithoutValue => "formula_without_value",
    // A cell the field's type refuses.
    InvalidBool => "invalid_bool",
    InvalidInt => "invalid_int",
    InvalidNumber => "invalid_number",
    InvalidDate => "invalid_date",
    InvalidDatetime => "invalid_datetime",
    InvalidEmail => "invalid_email",
    InvalidPhone => "invalid_phone",
    InvalidMoney => "invalid_money",
    /// A value not in the field's `map`, with no `default`.
    UnknownValue => "unknown_value",
    /// Several values for a single-valued field.
    TooManyValues => "too_many_values",
    // File fields.
    FileError => "file_error",
    FileOutsideBaseDir => "file_outside_base_dir",
    FileMissing => "file_missing",
    FileTooLarge => "file_too_large",
    // Row-level rules.
    /// A `required` field is empty.
    Required => "required",
    /// Every column of a `require_any` rule is empty.
    RequireAny => "require_any",
    /// The key columns are empty.
    EmptyKey => "empty_key",
    /// The key was seen on an earlier row of the same file.
    DuplicateKey => "duplicate_key",
    /// An attached record's parent column is empty.
    EmptyParent => "empty_parent",
    // Found out by the run, not by the mapping.
    /// A `lookup` names a row that the other step did not import.
    LookupNotFound => "lookup_not_found",
    /// No portal user has the e-mail a `user = "email"` field names.
    UserNotFound => "user_not_found",
    /// An attached record whose parent row is not done (not imported yet, rejected, or its
    /// outcome unknown): the row waits, `pending`, and is tried again on the next run.
    ParentPending => "parent_pending",
    /// The portal could not be asked (the row is tried again on the next run).
    LookupFailed => "lookup_failed",
    /// The row alone is larger than a request may be.
    TooLarge => "too_large",
    /// `mode = "update"`: the portal has no item with the row's key.
    NotFound => "not_found",
    /// A `type = "enum"` label that the portal's list (items, stages, sources, categories,
    /// currencies) does not hold.
    UnknownLabel => "unknown_label",
    /// `on_duplicate = "merge"` / `"update"`: an earlier row of the source matches the same
    /// item and decides its fields.
    DuplicateInSource => "duplicate_in_source",
    /// A requisite, bank detail or address row that changes what the portal keeps for good
    /// (a requisite's owner or preset, a bank detail's requisite, an address's type or
    /// requisite: issue 20).
    Immutable => "immutable_field_changed",
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
        let all = Problem::ALL;
        let texts: std::collections::BTreeSet<&str> = all.iter().map(|p| p.as_str()).collect();
        assert_eq!(texts.len(), all.len());
        assert!(texts.iter().all(|t| t.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    }
}
