//! CSV input and output that keeps every byte it is not asked to change.
//!
//! - [`reader`]: [`RecordReader`] splits a stream into records in batches of
//!   about 256 KiB, keeping each record's raw bytes and the span of every
//!   field, so a command can replace one field and pass the rest through
//!   byte for byte (quoting, line endings, non-UTF-8 bytes included).
//! - [`fast`]: the plain-record fast path the reader takes for unquoted
//!   records, and the 64-byte bit-mask field finder.
//! - [`columns`]: header names, `--column` resolution and NHS-number column
//!   detection, with "did you mean" hints.
//! - [`escape`](mod@escape): quoting for output, unquoting of raw fields.
//!
//! It is stricter than a spreadsheet: a row with a different number of
//! fields from the header, a quoted field that never closes, or text after a
//! closing quote is an error that names the row and line. (`csv`/`csv-core`
//! accept the last two silently, and expose no raw field spans, which is why
//! the reader parses for itself; the `csv` crate writes every CSV file the
//! tool makes that is not a pass-through of its input.)

pub mod columns;
pub mod escape;
pub mod fast;
pub mod reader;

pub use columns::{
    list_names, looks_like_nhs_header, nhs_column, resolve_column, ColumnSpec, Header,
};
pub use escape::{csv_write_error, escape, unescape};
pub use reader::{open_input, Batch, RecordReader};

/// The UTF-8 byte order mark that Excel writes at the start of "CSV UTF-8".
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The reader [`small_table`] returns: the text, then a final line break.
pub type SmallTableReader<'a> = csv::Reader<std::io::Chain<&'a [u8], &'static [u8]>>;

/// A small settings table read whole (unit costs, labels): the BOM
/// dropped, `#` lines as comments, and the header trimmed and lowercased.
/// A last line with no line break is given one: the csv crate reads a
/// final `# comment` without it as a one-field record.
pub fn small_table(text: &[u8]) -> Result<(SmallTableReader<'_>, Vec<String>), csv::Error> {
    use std::io::Read;
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .comment(Some(b'#'))
        .from_reader(text.chain(&b"\n"[..]));
    let header = reader
        .headers()?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    Ok((reader, header))
}

/// How many bytes the reader aims to put in one batch.
pub const BATCH_BYTES: usize = 256 * 1024;

/// The longest record accepted: far beyond any real referral or event row
/// (a spreadsheet cell holds at most 32,767 characters), so that a stray
/// quote cannot make the reader hold the rest of a large file in memory.
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// Options shared by every CSV input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// Field delimiter (a single ASCII byte, not a quote or line break).
    pub delimiter: u8,
    /// Whether the first record is a header.
    pub has_headers: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            has_headers: true,
        }
    }
}

/// Parses a `--delimiter` value: one ASCII character, or `tab` / `\t`.
pub fn parse_delimiter(s: &str) -> Result<u8, String> {
    let b = match s {
        "tab" | "\\t" | "\t" => b'\t',
        "comma" => b',',
        "semicolon" => b';',
        "pipe" => b'|',
        _ if s.len() == 1 && s.is_ascii() => s.as_bytes()[0],
        _ => {
            return Err(format!(
                "{s:?} is not a delimiter: give one ASCII character such as ',' ';' '|' or 'tab'"
            ))
        }
    };
    if matches!(b, b'"' | b'\r' | b'\n') || b.is_ascii_alphanumeric() {
        return Err(format!("{s:?} cannot be a delimiter"));
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn small_tables_end_in_a_comment_with_or_without_a_line_break() {
        for text in [
            &b"a,b\n1,2\n# source"[..],
            b"a,b\n1,2\n# source\n",
            b"\xEF\xBB\xBFA,B\r\n1,2",
        ] {
            let (mut reader, header) = super::small_table(text).unwrap();
            assert_eq!(header, ["a", "b"]);
            let rows: Vec<_> = reader.records().collect::<Result<_, _>>().unwrap();
            assert_eq!(rows.len(), 1, "{:?}", String::from_utf8_lossy(text));
        }
        // Still strict about ragged rows.
        let (mut reader, _) = super::small_table(b"a,b\n1\n").unwrap();
        assert!(reader.records().next().unwrap().is_err());
    }

    use super::*;

    #[test]
    fn delimiters() {
        assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
        assert_eq!(parse_delimiter(";"), Ok(b';'));
        assert!(parse_delimiter("\"").is_err());
        assert!(parse_delimiter(",,").is_err());
    }
}
