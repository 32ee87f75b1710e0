//! Text encoding of CSV input: byte-order marks, the `encoding` option, the UTF-8 check for
//! unlabelled files, the recognition of UTF-16 without a byte-order mark (by its NUL bytes:
//! ASCII text in UTF-16 has a NUL in every other byte, on the odd offsets for little endian,
//! the even ones for big endian), and the label suggested when the UTF-8 check fails (never a
//! single-byte encoding for UTF-16 text).
//!
//! Owns only decisions over bytes it is handed (the first ~64 KiB of the file); it does no
//! I/O and knows nothing about CSV syntax. Transcoding itself is done by `encoding_rs_io`
//! in the CSV reader.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, REPLACEMENT, UTF_8, UTF_16BE, UTF_16LE};

/// How the file's bytes become UTF-8 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoding {
    /// Read as UTF-8 and validated while streaming: a bad byte stops the read with an error
    /// naming its line (silently replacing it would corrupt data).
    Utf8,
    /// Transcoded from this encoding; malformed sequences become U+FFFD.
    Transcode(&'static Encoding),
}

/// The decoding chosen for a file and the length of the byte-order mark to skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Choice {
    pub decoding: Decoding,
    pub bom_len: usize,
    /// Set when the encoding was recognised from the content alone (UTF-16 with no BOM).
    pub guessed_utf16: bool,
}

/// The `encoding` option names no encoding `encoding_rs` knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownLabel(pub String);

/// Why the file cannot be decoded as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChoiceError {
    UnknownLabel(UnknownLabel),
    /// The content is UTF-16 (named here) but another encoding was set.
    Utf16Content {
        content: &'static str,
        label: String,
    },
}

/// UTF-16 without a byte-order mark, recognised by where its NUL bytes are: at least one
/// code unit in eight has a NUL high byte, and (nearly) all NULs sit on one side. Text in
/// another encoding has no NUL bytes at all.
pub(crate) fn utf16_without_bom(prefix: &[u8]) -> Option<&'static Encoding> {
    let units = prefix.len() / 2;
    if units < 2 {
        return None;
    }
    let (mut even, mut odd) = (0usize, 0usize);
    for pair in prefix.chunks_exact(2) {
        even += usize::from(pair[0] == 0);
        odd += usize::from(pair[1] == 0);
    }
    let (zeros, stray, encoding) = if odd >= even { (odd, even, UTF_16LE) } else { (even, odd, UTF_16BE) };
    (zeros * 8 >= units && stray * 20 <= zeros).then_some(encoding)
}

/// Chooses the decoding for a file that starts with `prefix`.
///
/// A byte-order mark wins over everything (it is the file's own statement). Otherwise:
/// no label or a UTF-8 label means validated UTF-8; `auto` asks chardetng; any other label
/// is looked up in `encoding_rs`. `complete` says whether `prefix` is the whole file.
///
/// UTF-16 without a BOM is recognised when no label (or `auto`) is set; with a label for
/// another encoding it is an error (decoding it as, say, windows-1251 would put a NUL in
/// every cell).
pub(crate) fn choose(label: Option<&str>, prefix: &[u8], complete: bool) -> Result<Choice, ChoiceError> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(prefix) {
        return Ok(Choice { decoding: decoding_for(encoding), bom_len, guessed_utf16: false });
    }
    let utf16 = utf16_without_bom(prefix);
    let encoding = match (label.map(str::trim), utf16) {
        (None | Some(""), Some(utf16)) => {
            return Ok(Choice { decoding: Decoding::Transcode(utf16), bom_len: 0, guessed_utf16: true });
        }
        (Some(label), Some(utf16)) if label.eq_ignore_ascii_case("auto") => {
            return Ok(Choice { decoding: Decoding::Transcode(utf16), bom_len: 0, guessed_utf16: true });
        }
        (None | Some(""), None) => UTF_8,
        (Some(label), _) if label.eq_ignore_ascii_case("auto") => guess(prefix, complete, true),
        (Some(label), utf16) => match Encoding::for_label(label.as_bytes()) {
            Some(encoding) if encoding != REPLACEMENT => {
                if let Some(content) = utf16.filter(|u| *u != encoding) {
                    return Err(ChoiceError::Utf16Content {
                        content: content.name(),
                        label: label.to_owned(),
                    });
                }
                encoding
            }
            _ => return Err(ChoiceError::UnknownLabel(UnknownLabel(label.to_owned()))),
        },
    };
    Ok(Choice { decoding: decoding_for(encoding), bom_len: 0, guessed_utf16: false })
}

fn decoding_for(encoding: &'static Encoding) -> Decoding {
    if encoding == UTF_8 { Decoding::Utf8 } else { Decoding::Transcode(encoding) }
}

/// chardetng's guess for `bytes`; `complete` says whether they end the file.
pub(crate) fn guess(bytes: &[u8], complete: bool, allow_utf8: bool) -> &'static Encoding {
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(bytes, complete);
    detector.guess(None, if allow_utf8 { Utf8Detection::Allow } else { Utf8Detection::Deny })
}

/// The label to suggest for bytes that are not UTF-8, in the form `encoding = "..."` accepts.
/// UTF-16 content gets a UTF-16 label, never a single-byte guess.
pub(crate) fn suggest_label(bytes: &[u8], complete: bool) -> String {
    match utf16_without_bom(bytes) {
        Some(utf16) => utf16.name().to_ascii_lowercase(),
        None => guess(bytes, complete, false).name().to_ascii_lowercase(),
    }
}

/// The first byte that is not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadUtf8 {
    /// Byte offset in the checked slice.
    pub offset: usize,
    /// 1-based line in the checked slice.
    pub line: u64,
    pub byte: u8,
}

/// Checks that `bytes` are UTF-8. When `complete` is false a sequence cut off by the end of
/// the slice is accepted (the rest of it is still in the file).
pub(crate) fn check_utf8(bytes: &[u8], complete: bool) -> Result<(), BadUtf8> {
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(()),
        Err(e) if e.error_len().is_none() && !complete => Ok(()),
        Err(e) => {
            let offset = e.valid_up_to();
            Err(BadUtf8 { offset, line: 1 + count_newlines(&bytes[..offset]), byte: bytes[offset] })
        }
    }
}

/// Number of `\n` bytes: the line count a CSV reader sees.
pub(crate) fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{KOI8_R, WINDOWS_1251, WINDOWS_1252};
    use rstest::rstest;

    fn cp1251(text: &str) -> Vec<u8> {
        WINDOWS_1251.encode(text).0.into_owned()
    }

    #[rstest]
    #[case::utf8_bom(b"\xEF\xBB\xBFa,b".as_slice(), None, Decoding::Utf8, 3)]
    #[case::utf16le_bom(b"\xFF\xFEa\0".as_slice(), None, Decoding::Transcode(UTF_16LE), 2)]
    #[case::utf16be_bom(b"\xFE\xFF\0a".as_slice(), None, Decoding::Transcode(UTF_16BE), 2)]
    #[case::bom_beats_the_label(b"\xEF\xBB\xBFa".as_slice(), Some("windows-1251"), Decoding::Utf8, 3)]
    #[case::no_label_is_utf8(b"a,b".as_slice(), None, Decoding::Utf8, 0)]
    #[case::empty_label_is_utf8(b"a,b".as_slice(), Some(""), Decoding::Utf8, 0)]
    #[case::utf8_label(b"a,b".as_slice(), Some("UTF-8"), Decoding::Utf8, 0)]
    #[case::cp1251_label(b"a,b".as_slice(), Some("windows-1251"), Decoding::Transcode(WINDOWS_1251), 0)]
    #[case::cp1251_alias(b"a,b".as_slice(), Some(" cp1251 "), Decoding::Transcode(WINDOWS_1251), 0)]
    #[case::koi8r_label(b"a,b".as_slice(), Some("koi8-r"), Decoding::Transcode(KOI8_R), 0)]
    #[case::latin1_is_1252(b"a,b".as_slice(), Some("latin1"), Decoding::Transcode(WINDOWS_1252), 0)]
    #[case::utf16le_label(b"a\0".as_slice(), Some("utf-16le"), Decoding::Transcode(UTF_16LE), 0)]
    fn choose_honours_bom_then_label(
        #[case] prefix: &[u8],
        #[case] label: Option<&str>,
        #[case] decoding: Decoding,
        #[case] bom_len: usize,
    ) {
        assert_eq!(choose(label, prefix, true), Ok(Choice { decoding, bom_len, guessed_utf16: false }));
    }

    #[rstest]
    #[case("klingon")]
    #[case("iso-2022-kr")]
    fn choose_rejects_labels_encoding_rs_cannot_decode(#[case] label: &str) {
        assert_eq!(
            choose(Some(label), b"a", true),
            Err(ChoiceError::UnknownLabel(UnknownLabel(label.to_owned())))
        );
    }

    #[test]
    fn auto_recognises_russian_windows_1251_text() {
        let bytes = cp1251("Код;Имя;Фамилия\r\n1;Иван;Петров\r\n2;Мария;Сидорова\r\n3;Ольга;Кузнецова\r\n");
        let choice = choose(Some("auto"), &bytes, true).expect("auto never fails");
        assert_eq!(choice.decoding, Decoding::Transcode(WINDOWS_1251));
    }

    #[test]
    fn auto_keeps_utf8_text_as_utf8() {
        let choice =
            choose(Some("AUTO"), "Код;Имя\n1;Иван Петров\n".as_bytes(), true).expect("auto never fails");
        assert_eq!(choice.decoding, Decoding::Utf8);
    }

    #[test]
    fn suggestion_for_cyrillic_bytes_is_windows_1251() {
        let bytes = cp1251("Фамилия;Имя;Отчество\nИванов;Иван;Иванович\nПетрова;Мария;Сергеевна\n");
        assert_eq!(suggest_label(&bytes, true), "windows-1251");
    }

    #[rstest]
    #[case::valid(b"a,b\nc,d\n".as_slice(), true, None)]
    #[case::bad_on_line_3(b"a\nb\nc\xE9d\n".as_slice(), true, Some((5, 3, 0xE9)))]
    #[case::bad_on_line_1(b"\xC0abc".as_slice(), true, Some((0, 1, 0xC0)))]
    #[case::cut_sequence_mid_file_is_fine(b"ab\xD0".as_slice(), false, None)]
    #[case::cut_sequence_at_eof_is_bad(b"ab\xD0".as_slice(), true, Some((2, 1, 0xD0)))]
    fn check_utf8_names_the_first_bad_byte(
        #[case] bytes: &[u8],
        #[case] complete: bool,
        #[case] bad: Option<(usize, u64, u8)>,
    ) {
        let expected = match bad {
            None => Ok(()),
            Some((offset, line, byte)) => Err(BadUtf8 { offset, line, byte }),
        };
        assert_eq!(check_utf8(bytes, complete), expected);
    }

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        text.encode_utf16().flat_map(|u| if big_endian { u.to_be_bytes() } else { u.to_le_bytes() }).collect()
    }

    #[rstest]
    #[case::le_ascii(utf16("Code,Name\r\n1,Ann\r\n", false), Some(UTF_16LE))]
    #[case::be_ascii(utf16("Code,Name\r\n1,Ann\r\n", true), Some(UTF_16BE))]
    #[case::le_cyrillic(utf16("Код;Имя\r\n1;Иван Петров\r\n2;Мария\r\n", false), Some(UTF_16LE))]
    #[case::be_cyrillic(utf16("Код;Имя\r\n1;Иван Петров\r\n2;Мария\r\n", true), Some(UTF_16BE))]
    #[case::utf8(b"Code,Name\n1,Ann\n".to_vec(), None)]
    #[case::a_nul_in_a_utf8_cell(b"Code,Name\n1,A\0nn\n2,Bob\n".to_vec(), None)]
    fn utf16_without_a_bom_is_recognised_by_its_nul_bytes(
        #[case] bytes: Vec<u8>,
        #[case] expected: Option<&'static Encoding>,
    ) {
        assert_eq!(utf16_without_bom(&bytes), expected);
    }

    // Regression: UTF-16 text without a BOM got a single-byte encoding suggested.
    #[rstest]
    #[case(false, "utf-16le")]
    #[case(true, "utf-16be")]
    fn utf16_content_is_never_suggested_a_single_byte_encoding(
        #[case] big_endian: bool,
        #[case] label: &str,
    ) {
        assert_eq!(suggest_label(&utf16("Фамилия;Имя\nИванов;Иван\n", big_endian), true), label);
    }

    #[test]
    fn utf16_content_with_another_label_is_an_error_and_without_one_is_read_as_utf16() {
        let bytes = utf16("Code,Name\n1,Ann\n", false);
        assert_eq!(
            choose(Some("windows-1251"), &bytes, true),
            Err(ChoiceError::Utf16Content { content: "UTF-16LE", label: "windows-1251".into() })
        );
        let choice = choose(None, &bytes, true).expect("read as UTF-16");
        assert_eq!((choice.decoding, choice.guessed_utf16), (Decoding::Transcode(UTF_16LE), true));
        assert_eq!(choose(Some("utf-16le"), &bytes, true).map(|c| c.guessed_utf16), Ok(false));
    }
}
