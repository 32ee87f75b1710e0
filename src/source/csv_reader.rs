//! CSV reader (placeholder until implemented).
use super::*;

pub struct CsvSource {
    headers: Vec<String>,
}

impl CsvSource {
    pub fn open(options: &SourceOptions, _bytes: BytesRead) -> Result<Self, SourceError> {
        Err(SourceError::UnknownFormat { path: options.path.clone() })
    }
}

impl Iterator for CsvSource {
    type Item = Result<Record, SourceError>;
    fn next(&mut self) -> Option<Self::Item> {
        None
    }
}

impl Source for CsvSource {
    fn headers(&self) -> &[String] {
        &self.headers
    }
}
