//! The user's files as they come: CSV of every encoding, line ending and quoting, workbooks
//! (xlsx, ods) and misnamed files, read as what they are; untrustworthy cells become row errors
//! or notes, never silent blanks. Mostly through `b24import validate`, as the user runs it.

#[path = "../common/mod.rs"]
mod common;
#[path = "../source_fixtures/mod.rs"]
mod source_fixtures;

mod source_cells;
mod source_csv;
mod source_quotes;
mod source_sniff;
mod source_spreadsheet;
