//! A reader wrapper that reports how many bytes of the file have been read, for progress.
//!
//! Owns only the counting; it never changes the bytes. The count is approximate by design
//! (read-ahead buffers are counted when filled, not when parsed).

use std::io::{self, Read, Seek, SeekFrom};

use super::BytesRead;

/// Adds every byte read from `inner` to a shared [`BytesRead`], never more than `limit` in
/// total (a zip reader seeks and re-reads, so without the cap a progress bar could pass
/// 100%).
pub(crate) struct CountingReader<R> {
    inner: R,
    bytes: BytesRead,
    /// What this reader alone has reported (`bytes` may be shared with other sources).
    reported: BytesRead,
    /// Bytes still allowed to be reported.
    budget: u64,
}

impl<R> CountingReader<R> {
    pub(crate) fn new(inner: R, bytes: BytesRead, limit: u64) -> Self {
        CountingReader { inner, bytes, reported: BytesRead::default(), budget: limit }
    }

    /// A handle on what this reader has reported so far, to top the count up to the file
    /// size when a reader finishes without reading every byte.
    pub(crate) fn reported(&self) -> BytesRead {
        self.reported.clone()
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let counted = (n as u64).min(self.budget);
        if counted > 0 {
            self.budget -= counted;
            self.bytes.add(counted);
            self.reported.add(counted);
        }
        Ok(n)
    }
}

impl<R: Seek> Seek for CountingReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn counts_bytes_read_up_to_the_limit() {
        let bytes = BytesRead::default();
        let mut reader = CountingReader::new(Cursor::new(vec![7u8; 100]), bytes.clone(), 150);
        let mut sink = Vec::new();
        reader.read_to_end(&mut sink).expect("in-memory read");
        assert_eq!(bytes.get(), 100);
        reader.seek(SeekFrom::Start(0)).expect("in-memory seek");
        sink.clear();
        reader.read_to_end(&mut sink).expect("in-memory read");
        assert_eq!(bytes.get(), 150);
    }
}
