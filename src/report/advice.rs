//! What to do about a reason rows were rejected for: one sentence per error code, for the
//! page's reason groups.
//!
//! Owns: the advice table. The CLI prints one piece of advice for every rejected row ("fix
//! them in the source and run again", with `b24import rejects` to get them): that sentence is
//! [`GENERIC`], and the table only says more where the code tells where to look. Must not
//! decide anything about rows.

use crate::mapping::Problem;

/// The advice `run` prints for rejected rows, used where a code has nothing more specific.
pub const GENERIC: &str = "fix them in the source and run again (b24import rejects --out rejects.csv writes \
                           them with their columns)";

/// The advice for rows rejected with `code`.
pub fn for_code(code: &str) -> &'static str {
    if let Some(kind) = Problem::ALL.iter().find(|p| p.as_str() == code) {
        return for_problem(*kind);
    }
    match code {
        "CRM_FIELD_ERROR_VALUE_NOT_VALID" => {
            "the portal refuses the value: check it against the portal's list (stage, source, currency, \
             list item) or the ID it points at, fix the source or the mapping's `map`, and run again"
        }
        "CRM_FIELD_ERROR_REQUIRED" => {
            "the portal requires the field (also per stage): fill the column in the source or give the \
             field a `default` in the mapping, and run again"
        }
        "ERROR_NO_GROUP" => {
            "an extranet user needs a workgroup the portal has: create it (or fix the group ID), and run again"
        }
        "duplicate_ambiguous" => {
            "the row matches several existing items: merge them in the portal, or set on_ambiguous in the \
             mapping, and run again"
        }
        _ => GENERIC,
    }
}

fn for_problem(kind: Problem) -> &'static str {
    use Problem::*;
    match kind {
        RaggedRow => {
            "the row has more or fewer cells than the header: check quotes and delimiters on that line"
        }
        ErrorCell | FormulaWithoutValue => {
            "the spreadsheet cell holds an error or an unsaved formula: recalculate and save the workbook"
        }
        ControlCharacter => "remove the control character from the cell",
        InvalidBool | InvalidInt | InvalidNumber | InvalidDate | InvalidDatetime | InvalidEmail
        | InvalidPhone | InvalidMoney => {
            "correct the value in the source, or set the column's `format` in the mapping if the whole \
             column is written another way"
        }
        UnknownValue | UnknownLabel => {
            "add the value to the field's `map` (or a `default`), or add it to the portal's list \
             (b24import provision adds list values), and run again"
        }
        TooManyValues => "keep one value in the cell, or map the column to a multiple field",
        FileError | FileMissing | FileOutsideBaseDir | FileTooLarge => {
            "check the file the cell names: it must exist under the mapping's base directory and fit a request"
        }
        Required | RequireAny => "fill the required column in the source, or give the field a `default`",
        EmptyKey => "give the row a key: the key columns are empty",
        EmptyParent => "fill the parent column: the row must name the item it belongs to",
        ParentPending => {
            "the row's parent is not imported yet (or was rejected): fix the parent row, and run again; \
             the row waits and is sent once its parent is there"
        }
        DuplicateKey => "the key repeats an earlier row: make keys unique, or remove the repeated row",
        LookupNotFound => {
            "the row points at a row the other step did not import: fix that row first, run the steps in \
             order, and run again"
        }
        UserNotFound => {
            "no portal user has that e-mail: invite the user first (a users step), or fix the e-mail"
        }
        LookupFailed => "the portal could not be asked: run again (the row is tried again)",
        TooLarge => "the row alone is larger than a request may be: shorten its values or files",
        NotFound => "mode = \"update\" found no item with the row's key: import it with mode = \"upsert\"",
        DuplicateInSource => {
            "an earlier row of the source matches the same item: merge the rows in the source"
        }
        Immutable => {
            "the portal never moves a requisite, bank detail or address to another owner, preset or type: \
             keep the row as it was, or delete the record in the portal to import it anew"
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_mapping_problem_and_unknown_codes_get_advice() {
        for p in crate::mapping::Problem::ALL {
            assert!(!super::for_code(p.as_str()).is_empty());
        }
        assert_eq!(super::for_code("SOMETHING_ELSE"), super::GENERIC);
    }
}
