//! Spreadsheet reader (placeholder until implemented).
use super::*;

pub struct SpreadsheetSource {
    headers: Vec<String>,
}

impl SpreadsheetSource {
    pub fn open(options: &SourceOptions, _bytes: BytesRead) -> Result<Self, SourceError> {
        Err(SourceError::UnknownFormat { path: options.path.clone() })
    }
}

impl Iterator for SpreadsheetSource {
    type Item = Result<Record, SourceError>;
    fn next(&mut self) -> Option<Self::Item> {
        None
    }
}

impl Source for SpreadsheetSource {
    fn headers(&self) -> &[String] {
        &self.headers
    }
}
