//! CSV input and output that keeps every byte it is not asked to change.
//!
//! [`RecordReader`] splits a stream into records in batches of about
//! 256 KiB. Each record keeps its raw bytes, with the span of every field, so
//! a command can replace one field and pass the rest through byte for byte:
//! quoting, line endings (LF, CRLF or a lone CR) and non-UTF-8 bytes
//! included. It reads in bounded blocks, never the whole file.
//!
//! It is stricter than a spreadsheet: a row with a different number of
//! fields from the header, a quoted field that never closes, or text after a
//! closing quote is an error that names the row and line. (`csv`/`csv-core`
//! accept the last two silently, and expose no raw field spans, which is why
//! this module parses for itself; `csv` is still used to write CSV.)
//!
//! [`AtomicOutput`] writes to a temporary file in the destination's folder
//! and renames it into place only when the command succeeds, after an
//! `fsync`. It refuses to replace an existing file without `--force`.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use memchr::memchr;
use sha2::{Digest, Sha256};
use wide::u8x16;

use crate::error::{shown_path, Error, Result, Source};
use crate::pipeline::Pool;

/// The UTF-8 byte order mark that Excel writes at the start of "CSV UTF-8".
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

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

/// A column as named on the command line: a header name or a 1-based number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnSpec {
    /// Matched case-insensitively against the header, ignoring surrounding space.
    Name(String),
    /// 1-based column number.
    Number(usize),
}

impl std::str::FromStr for ColumnSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            match s.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(ColumnSpec::Number(n)),
                _ => Err(format!("column numbers start at 1, not {s:?}")),
            }
        } else if s.trim().is_empty() {
            Err("a column name cannot be empty".to_string())
        } else {
            Ok(ColumnSpec::Name(s.to_string()))
        }
    }
}

impl std::fmt::Display for ColumnSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnSpec::Name(n) => write!(f, "{n:?}"),
            ColumnSpec::Number(n) => write!(f, "{n}"),
        }
    }
}

/// The header row, as raw bytes and as decoded names.
#[derive(Clone, Debug)]
pub struct Header {
    /// The raw bytes of the header record, terminator included.
    pub raw: Vec<u8>,
    /// Raw spans of each field within `raw` (quotes included).
    pub spans: Vec<(usize, usize)>,
    /// Decoded names (UTF-8, unquoted).
    pub names: Vec<String>,
}

impl Header {
    /// A list of the names for error messages: `"a", "b", "c"`.
    pub fn list(&self) -> String {
        list_names(self.names.iter().map(String::as_str))
    }
}

/// Formats names as `"a", "b"` for messages, capped at 30 names.
pub fn list_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = names.collect();
    let mut s = all
        .iter()
        .take(30)
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if all.len() > 30 {
        s.push_str(&format!(" and {} more", all.len() - 30));
    }
    s
}

fn normalise_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Levenshtein distance, for "did you mean" hints on short header names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Resolves a column spec to a 0-based index against the header (or, without
/// headers, against the field count).
pub fn resolve_column(
    spec: &ColumnSpec,
    header: Option<&Header>,
    n_fields: usize,
    file: &Source,
    flag: &str,
) -> Result<usize> {
    match spec {
        ColumnSpec::Number(n) => {
            if *n > n_fields {
                Err(Error::ColumnOutOfRange {
                    file: file.clone(),
                    number: *n,
                    count: n_fields,
                })
            } else {
                Ok(n - 1)
            }
        }
        ColumnSpec::Name(wanted) => {
            let header = header.ok_or_else(|| Error::NameWithoutHeaders {
                wanted: wanted.clone(),
            })?;
            let w = wanted.trim().to_lowercase();
            if let Some(i) = header
                .names
                .iter()
                .position(|n| n.trim().to_lowercase() == w)
            {
                return Ok(i);
            }
            let nw = normalise_name(wanted);
            let close = header.names.iter().find(|n| {
                let nn = normalise_name(n);
                nn == nw || (nw.len() >= 4 && edit_distance(&nn, &nw) <= 2)
            });
            let hint = match close {
                Some(n) => format!("; did you mean {flag} {n:?}?"),
                None => String::new(),
            };
            Err(Error::MissingColumn {
                file: file.clone(),
                wanted: wanted.clone(),
                available: header.list(),
                hint,
            })
        }
    }
}

/// True when a header name looks like an NHS-number column: `nhs_number`,
/// `NHS Number`, `nhs no`, `NHSNumber`, `Patient NHS No` and the like.
pub fn looks_like_nhs_header(name: &str) -> bool {
    let n = normalise_name(name);
    let n = ["patient", "person", "client", "pt"]
        .iter()
        .find_map(|p| n.strip_prefix(p))
        .unwrap_or(&n);
    matches!(
        n,
        "nhsnumber" | "nhsno" | "nhsnum" | "nhsnbr" | "nhsnumb" | "nhs" | "nhsid"
    )
}

/// Picks the NHS-number column: the one given, or the one header that looks
/// like it. Several candidates, or none, is an error naming them.
pub fn nhs_column(
    spec: Option<&ColumnSpec>,
    header: Option<&Header>,
    n_fields: usize,
    file: &Source,
) -> Result<usize> {
    if let Some(spec) = spec {
        return resolve_column(spec, header, n_fields, file, "--column");
    }
    let header = header.ok_or(Error::NoHeadersNeedsColumn)?;
    let candidates: Vec<usize> = (0..header.names.len())
        .filter(|&i| looks_like_nhs_header(&header.names[i]))
        .collect();
    match candidates.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::NoNhsColumn {
            file: file.clone(),
            available: header.list(),
        }),
        many => Err(Error::AmbiguousNhsColumn {
            file: file.clone(),
            candidates: list_names(many.iter().map(|&i| header.names[i].as_str())),
        }),
    }
}

/// Removes the CSV quoting from a raw field: `"a ""b"""` becomes `a "b"`.
pub fn unescape(raw: &[u8]) -> Cow<'_, [u8]> {
    match raw {
        [b'"', inner @ .., b'"'] => {
            if memchr(b'"', inner).is_none() {
                Cow::Borrowed(inner)
            } else {
                let mut out = Vec::with_capacity(inner.len());
                let mut i = 0;
                while i < inner.len() {
                    out.push(inner[i]);
                    i += if inner[i] == b'"' { 2 } else { 1 };
                }
                Cow::Owned(out)
            }
        }
        _ => Cow::Borrowed(raw),
    }
}

/// Quotes a value for CSV output when it needs it.
pub fn escape(value: &[u8], delimiter: u8) -> Cow<'_, [u8]> {
    if value
        .iter()
        .any(|&b| b == delimiter || b == b'"' || b == b'\r' || b == b'\n')
    {
        let mut out = Vec::with_capacity(value.len() + 2);
        out.push(b'"');
        for &b in value {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
        Cow::Owned(out)
    } else {
        Cow::Borrowed(value)
    }
}

/// A block of complete records with their raw bytes and field spans.
#[derive(Debug, Default)]
pub struct Batch {
    /// Raw bytes; every record lies inside.
    pub data: Vec<u8>,
    /// `(start, end)` of each record in `data`, terminator included.
    pub records: Vec<(usize, usize)>,
    /// Field spans, `n_fields` per record, in `data` coordinates, quotes included.
    pub fields: Vec<(usize, usize)>,
    /// Fields per record.
    pub n_fields: usize,
    /// Data-row number of the first record (1-based; the header is not a row).
    pub first_row: u64,
}

impl Batch {
    /// Empties the batch, keeping its allocations for reuse.
    pub fn clear(&mut self) {
        self.data.clear();
        self.records.clear();
        self.fields.clear();
        self.n_fields = 0;
        self.first_row = 0;
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }
    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
    /// Data-row number of record `i`.
    pub fn row(&self, i: usize) -> u64 {
        self.first_row + i as u64
    }
    /// Raw span of field `col` of record `i`.
    pub fn span(&self, i: usize, col: usize) -> (usize, usize) {
        self.fields[i * self.n_fields + col]
    }
    /// Raw bytes of field `col` of record `i` (quotes included).
    pub fn raw_field(&self, i: usize, col: usize) -> &[u8] {
        let (s, e) = self.span(i, col);
        &self.data[s..e]
    }
    /// Decoded value of field `col` of record `i`.
    pub fn field(&self, i: usize, col: usize) -> Cow<'_, [u8]> {
        unescape(self.raw_field(i, col))
    }
    /// Raw bytes of record `i`, terminator included.
    pub fn record(&self, i: usize) -> &[u8] {
        let (s, e) = self.records[i];
        &self.data[s..e]
    }
}

enum Parsed {
    /// A record from `start` to `end`, with `lines` line breaks consumed in
    /// all, `lines_before` of them blank lines before the record.
    Record {
        start: usize,
        end: usize,
        lines_before: u64,
        lines: u64,
    },
    NeedMore,
    End,
    UnclosedQuote {
        lines_before: u64,
    },
    TextAfterQuote {
        column: usize,
        lines_before: u64,
    },
}

/// Finds the next delimiter, `\r` or `\n` in a buffer 64 bytes at a time:
/// each 64-byte chunk becomes a bit mask (four 16-byte SIMD compares, through
/// `wide`), and the fields in it are found with bit operations. Searching
/// afresh for every field cost about three times as much. A finder serves
/// one buffer while it only grows; make a new one for another buffer.
struct Finder {
    delim: u8,
    /// The chunk the mask describes, and the buffer length it was made for.
    base: usize,
    len: usize,
    mask: u64,
}

impl Finder {
    fn new(delim: u8) -> Finder {
        Finder {
            delim,
            base: usize::MAX,
            len: 0,
            mask: 0,
        }
    }

    /// The position of the first delimiter, `\r` or `\n` at or after `from`.
    fn find(&mut self, data: &[u8], mut from: usize) -> Option<usize> {
        while from < data.len() {
            let base = from & !63;
            if base != self.base || data.len() != self.len {
                self.mask = chunk_mask::<false>(&data[base..], self.delim);
                self.base = base;
                self.len = data.len();
            }
            let m = self.mask & (u64::MAX << (from - base));
            if m != 0 {
                return Some(base + m.trailing_zeros() as usize);
            }
            from = base + 64;
        }
        None
    }
}

/// Bit `i` is set when `chunk[i]` (i < 64) is the delimiter, `\r` or `\n`
/// (or, with `QUOTES`, a `"`).
fn chunk_mask<const QUOTES: bool>(chunk: &[u8], delim: u8) -> u64 {
    let hit = |b: u8| b == delim || b == b'\r' || b == b'\n' || (QUOTES && b == b'"');
    match chunk.first_chunk::<64>() {
        Some(c) => {
            let (d, cr, lf, q) = (
                u8x16::splat(delim),
                u8x16::splat(b'\r'),
                u8x16::splat(b'\n'),
                u8x16::splat(b'"'),
            );
            let mut m = 0;
            for (k, part) in c.chunks_exact(16).enumerate() {
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(part);
                let v = u8x16::new(bytes);
                let mut hits = v.simd_eq(d) | v.simd_eq(cr) | v.simd_eq(lf);
                if QUOTES {
                    hits |= v.simd_eq(q);
                }
                m |= u64::from(hits.to_bitmask()) << (16 * k);
            }
            m
        }
        None => chunk
            .iter()
            .enumerate()
            .fold(0, |m, (i, &b)| m | u64::from(hit(b)) << i),
    }
}

/// Takes the plain records from `pos` on: unquoted fields, ended by `\n` or
/// `\r\n`, `n_fields` to a record, which is what nearly every exported
/// file holds. It walks a bit mask of the delimiters, line ends and quotes
/// 64 bytes at a time, so a field costs a few instructions. It stops before
/// anything else (a quote anywhere in a record, a lone `\r`, a blank line,
/// a record with another number of fields, a record the data does not
/// finish) and leaves it to [`parse_record`], which gives the same answer
/// for every record this takes; it also stops once a record ends at or
/// past `target`. Field spans and records are appended; returns the
/// position after the last record taken and how many were taken (each
/// consumed one line break).
fn plain_records(
    data: &[u8],
    pos: usize,
    target: usize,
    delim: u8,
    n_fields: usize,
    fields: &mut Vec<(usize, usize)>,
    records: &mut Vec<(usize, usize)>,
) -> (usize, u64) {
    let (mut start, mut field_start) = (pos, pos);
    let mut first_field = fields.len();
    let mut taken = 0;
    let mut base = pos & !63;
    'chunks: while base < data.len() {
        let mut m = chunk_mask::<true>(&data[base..], delim);
        while m != 0 {
            let k = base + m.trailing_zeros() as usize;
            m &= m - 1;
            if k < field_start {
                // Before `pos`, or the `\n` of a `\r\n` already taken.
                continue;
            }
            let end = match data[k] {
                b if b == delim => {
                    fields.push((field_start, k));
                    field_start = k + 1;
                    continue;
                }
                b'\n' => k + 1,
                b'\r' if data.get(k + 1) == Some(&b'\n') => k + 2,
                _ => break 'chunks,
            };
            if k == start {
                break 'chunks; // a blank line
            }
            fields.push((field_start, k));
            if fields.len() - first_field != n_fields {
                break 'chunks;
            }
            records.push((start, end));
            taken += 1;
            (start, field_start, first_field) = (end, end, fields.len());
            if end >= target {
                return (start, taken);
            }
        }
        base += 64;
    }
    fields.truncate(first_field);
    (start, taken)
}

/// Skips the blank lines (`\n`, `\r\n` or a lone `\r`) from `i`: the
/// position after them and how many there were, or `None` when a `\r` ends
/// the buffer before the input does (it may be the first half of `\r\n`).
fn skip_blank_lines(data: &[u8], mut i: usize, eof: bool) -> Option<(usize, u64)> {
    let mut lines = 0;
    while let Some(&b) = data.get(i) {
        match b {
            b'\n' => i += 1,
            b'\r' => {
                if i + 1 == data.len() && !eof {
                    return None;
                }
                i += if data.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
            }
            _ => break,
        }
        lines += 1;
    }
    Some((i, lines))
}

/// Parses one record starting at `pos`. Field spans go into `fields`.
fn parse_record(
    data: &[u8],
    pos: usize,
    eof: bool,
    finder: &mut Finder,
    fields: &mut Vec<(usize, usize)>,
) -> Parsed {
    let delim = finder.delim;
    let len = data.len();
    let Some((mut i, mut lines)) = skip_blank_lines(data, pos, eof) else {
        return Parsed::NeedMore;
    };
    if i == len {
        return if eof { Parsed::End } else { Parsed::NeedMore };
    }
    let start = i;
    let lines_before = lines;
    let first_field = fields.len();
    loop {
        let at_end;
        if i < len && data[i] == b'"' {
            let fstart = i;
            i += 1;
            loop {
                match memchr(b'"', &data[i..]) {
                    None => {
                        fields.truncate(first_field);
                        return if eof {
                            Parsed::UnclosedQuote { lines_before }
                        } else {
                            Parsed::NeedMore
                        };
                    }
                    Some(k) => {
                        i += k + 1;
                        if i == len && !eof {
                            fields.truncate(first_field);
                            return Parsed::NeedMore;
                        }
                        if i < len && data[i] == b'"' {
                            i += 1;
                            continue;
                        }
                        break;
                    }
                }
            }
            lines += memchr::memchr_iter(b'\n', &data[fstart..i]).count() as u64;
            fields.push((fstart, i));
            if i == len {
                at_end = true;
            } else if data[i] == delim {
                i += 1;
                continue;
            } else if data[i] == b'\n' || data[i] == b'\r' {
                at_end = false;
            } else {
                let column = fields.len() - first_field;
                fields.truncate(first_field);
                return Parsed::TextAfterQuote {
                    column,
                    lines_before: lines,
                };
            }
        } else {
            match finder.find(data, i) {
                None => {
                    if !eof {
                        fields.truncate(first_field);
                        return Parsed::NeedMore;
                    }
                    fields.push((i, len));
                    i = len;
                    at_end = true;
                }
                Some(k) => {
                    fields.push((i, k));
                    i = k;
                    if data[i] == delim {
                        i += 1;
                        continue;
                    }
                    at_end = false;
                }
            }
        }
        // End of record: consume the terminator, if any.
        if !at_end {
            if data[i] == b'\n' {
                i += 1;
            } else {
                // '\r', maybe followed by '\n'.
                if i + 1 == len && !eof {
                    fields.truncate(first_field);
                    return Parsed::NeedMore;
                }
                i += if i + 1 < len && data[i + 1] == b'\n' {
                    2
                } else {
                    1
                };
            }
            lines += 1;
        }
        return Parsed::Record {
            start,
            end: i,
            lines_before,
            lines,
        };
    }
}

/// Streams records from a reader in batches.
pub struct RecordReader<R> {
    src: R,
    file: Source,
    delim: u8,
    carry: Vec<u8>,
    eof: bool,
    /// Data rows returned so far.
    rows: u64,
    /// Line number (1-based) where the next unparsed byte sits.
    line: u64,
    n_fields: Option<usize>,
    header: Option<Header>,
    had_bom: bool,
    bytes_read: u64,
    batch_bytes: usize,
    max_record: usize,
    spare: Pool<Batch>,
    /// Whether plain records take [`plain_records`] (always, but in the
    /// test that checks it against the general parser alone).
    plain_path: bool,
}

impl<R: Read> RecordReader<R> {
    /// Starts reading: strips a UTF-8 BOM and, with headers, reads the header.
    pub fn new(src: R, file: Source, opts: CsvOptions) -> Result<Self> {
        RecordReader::with_max_record(src, file, opts, MAX_RECORD_BYTES)
    }

    /// As [`RecordReader::new`], refusing records longer than `max_record`
    /// bytes (tests use small limits).
    pub fn with_max_record(
        src: R,
        file: Source,
        opts: CsvOptions,
        max_record: usize,
    ) -> Result<Self> {
        let mut r = RecordReader {
            src,
            file,
            delim: opts.delimiter,
            carry: Vec::new(),
            eof: false,
            rows: 0,
            line: 1,
            n_fields: None,
            header: None,
            had_bom: false,
            bytes_read: 0,
            batch_bytes: BATCH_BYTES,
            max_record: max_record.max(1),
            spare: Pool::default(),
            plain_path: true,
        };
        let mut data = Vec::new();
        r.fill(&mut data, 4096)?;
        if data.starts_with(BOM) {
            data.drain(..BOM.len());
            r.had_bom = true;
        }
        if opts.has_headers {
            let mut fields = Vec::new();
            if let Some((start, end, lines)) = r.first_record(&mut data, &mut fields, None)? {
                let raw = data[start..end].to_vec();
                let spans: Vec<(usize, usize)> = fields
                    .iter()
                    .map(|&(s, e)| (s - start, e - start))
                    .collect();
                let mut names = Vec::with_capacity(spans.len());
                for (c, &(s, e)) in spans.iter().enumerate() {
                    let name =
                        String::from_utf8(unescape(&raw[s..e]).into_owned()).map_err(|_| {
                            Error::HeaderNotUtf8 {
                                file: r.file.clone(),
                                column: c + 1,
                            }
                        })?;
                    names.push(name);
                }
                r.n_fields = Some(spans.len());
                r.header = Some(Header { raw, spans, names });
                r.line += lines;
                data.drain(..end);
            }
        }
        r.carry = data;
        Ok(r)
    }

    /// Parses the first record of `data`, reading more as needed:
    /// `(start, end, lines)`, or `None` for an input with no records.
    fn first_record(
        &mut self,
        data: &mut Vec<u8>,
        fields: &mut Vec<(usize, usize)>,
        row: Option<u64>,
    ) -> Result<Option<(usize, usize, u64)>> {
        let mut want = data.len().max(4096);
        let mut finder = Finder::new(self.delim);
        loop {
            match parse_record(data, 0, self.eof, &mut finder, fields) {
                Parsed::NeedMore => {
                    self.check_record_size(data, 0, row)?;
                    want = (want * 2).min(self.max_record + 1);
                    self.fill(data, want)?;
                }
                Parsed::End => return Ok(None),
                Parsed::Record {
                    start, end, lines, ..
                } => return Ok(Some((start, end, lines))),
                other => return Err(self.parse_error(other, 0)),
            }
        }
    }

    /// The header, when the input has one and it is not empty.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// The field delimiter.
    pub fn delimiter(&self) -> u8 {
        self.delim
    }

    /// True when the input started with a UTF-8 BOM (which was removed).
    pub fn had_bom(&self) -> bool {
        self.had_bom
    }

    /// Fields per record: from the header, or the first record without one.
    /// `None` until known (an input with no records at all).
    pub fn n_fields(&mut self) -> Result<Option<usize>> {
        if self.n_fields.is_none() && !self.carry.is_empty() {
            // No header: peek at the first record.
            let mut data = std::mem::take(&mut self.carry);
            let mut fields = Vec::new();
            let first = self.first_record(&mut data, &mut fields, Some(1));
            self.carry = data;
            if first?.is_some() {
                self.n_fields = Some(fields.len());
            }
        }
        Ok(self.n_fields)
    }

    /// Bytes read from the source so far (for progress reporting).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Data rows returned so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Stops with [`Error::RecordTooLong`] once the unfinished record at
    /// `pos` holds more than the limit. `row` is its data-row number, or
    /// `None` for the header.
    fn check_record_size(&self, data: &[u8], pos: usize, row: Option<u64>) -> Result<()> {
        let rest = &data[pos..];
        if rest.len() <= self.max_record {
            return Ok(());
        }
        // Blank lines before the record are skipped, so the record starts
        // after them.
        let blank = skip_blank_lines(rest, 0, true).map_or(0, |(_, n)| n);
        Err(Error::RecordTooLong {
            file: self.file.clone(),
            row,
            line: self.line + blank,
            limit_mib: self.max_record.div_ceil(1 << 20),
        })
    }

    /// Sets the target batch size (tests use small batches to exercise the
    /// boundaries).
    pub fn set_batch_bytes(&mut self, n: usize) {
        self.batch_bytes = n.max(1);
    }

    /// The pool that spent batches should be returned to (after
    /// [`Batch::clear`]) so their buffers are reused.
    pub fn recycler(&self) -> Pool<Batch> {
        self.spare.clone()
    }

    /// The file being read, as named in messages.
    pub fn source(&self) -> &Source {
        &self.file
    }

    /// Reads until `data` holds at least `want` bytes or the input ends.
    fn fill(&mut self, data: &mut Vec<u8>, want: usize) -> Result<()> {
        if self.eof || data.len() >= want {
            return Ok(());
        }
        let chunk = want - data.len();
        data.reserve(chunk);
        let old = data.len();
        // `read_to_end` reads into the spare capacity as it is (for a file
        // or standard input), where `read` needs it zeroed first, and it
        // retries interrupted reads. Fewer bytes than asked means the end.
        let result = (&mut self.src).take(chunk as u64).read_to_end(data);
        let n = data.len() - old;
        self.bytes_read += n as u64;
        match result {
            Ok(_) => {
                self.eof = n < chunk;
                Ok(())
            }
            Err(source) => Err(Error::Read {
                file: self.file.clone(),
                source,
            }),
        }
    }

    fn parse_error(&self, p: Parsed, records_in_batch: usize) -> Error {
        let row = self.rows + records_in_batch as u64 + 1;
        match p {
            Parsed::UnclosedQuote { lines_before } => Error::UnclosedQuote {
                file: self.file.clone(),
                row,
                line: self.line + lines_before,
            },
            Parsed::TextAfterQuote {
                column,
                lines_before,
            } => Error::TextAfterQuote {
                file: self.file.clone(),
                row,
                line: self.line + lines_before,
                column,
            },
            _ => unreachable!("only parse errors are passed here"),
        }
    }

    /// The next batch of records, or `None` at the end of the input.
    pub fn next_batch(&mut self) -> Result<Option<Batch>> {
        let target = self.batch_bytes;
        let mut batch = self.spare.get();
        batch.clear();
        batch.first_row = self.rows + 1;
        let Batch {
            data,
            records,
            fields,
            ..
        } = &mut batch;
        data.extend_from_slice(&self.carry);
        self.carry.clear();
        data.reserve(target.saturating_sub(data.len()));
        self.fill(data, target)?;
        let mut pos = 0;
        let mut want = target;
        let mut finder = Finder::new(self.delim);
        loop {
            if let (Some(n), true) = (self.n_fields, self.plain_path) {
                let (end, taken) = plain_records(data, pos, target, self.delim, n, fields, records);
                self.line += taken;
                pos = end;
                if pos >= target && !records.is_empty() {
                    break;
                }
            }
            let before = fields.len();
            match parse_record(data, pos, self.eof, &mut finder, fields) {
                Parsed::Record {
                    start,
                    end,
                    lines_before,
                    lines,
                } => {
                    let found = fields.len() - before;
                    let expected = *self.n_fields.get_or_insert(found);
                    if found != expected {
                        return Err(Error::RaggedRow {
                            file: self.file.clone(),
                            row: self.rows + records.len() as u64 + 1,
                            line: self.line + lines_before,
                            found,
                            expected,
                        });
                    }
                    records.push((start, end));
                    self.line += lines;
                    pos = end;
                    if pos >= target && !records.is_empty() {
                        break;
                    }
                }
                Parsed::NeedMore => {
                    if !records.is_empty() {
                        break;
                    }
                    // One record larger than the batch: read more, up to
                    // the limit (a stray quote would otherwise read the
                    // whole rest of the file into memory).
                    self.check_record_size(data, pos, Some(self.rows + 1))?;
                    want = (want.max(data.len()) * 2).min(pos + self.max_record + 1);
                    self.fill(data, want)?;
                }
                Parsed::End => {
                    pos = data.len();
                    break;
                }
                other => return Err(self.parse_error(other, records.len())),
            }
        }
        self.carry.extend_from_slice(&data[pos..]);
        data.truncate(pos);
        if records.is_empty() {
            return Ok(None);
        }
        self.rows += records.len() as u64;
        batch.n_fields = self.n_fields.unwrap_or(0);
        Ok(Some(batch))
    }
}

/// Opens an input: a file, or standard input for `-` or nothing.
pub fn open_input(file: &Source) -> Result<Box<dyn Read + Send>> {
    match file {
        Source::Path(p) => {
            let meta = std::fs::metadata(p).map_err(|source| Error::Open {
                file: file.clone(),
                source,
            })?;
            if meta.is_dir() {
                return Err(Error::Open {
                    file: file.clone(),
                    source: io::Error::other("it is a folder, not a file"),
                });
            }
            let f = File::open(p).map_err(|source| Error::Open {
                file: file.clone(),
                source,
            })?;
            Ok(Box::new(f))
        }
        _ => Ok(Box::new(io::stdin())),
    }
}

/// The folder a path lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Checks, before any work starts, that each output may be written: it does
/// not exist (or `force`), its folder exists, and no two paths (inputs or
/// outputs) are the same file.
pub fn check_outputs(inputs: &[&Source], outputs: &[&Path], force: bool) -> Result<()> {
    for (i, out) in outputs.iter().enumerate() {
        let label = Source::Path(out.to_path_buf());
        for other in &outputs[..i] {
            if same_path(out, other) {
                return Err(Error::SameFile {
                    first: Source::Path(other.to_path_buf()),
                    second: label,
                });
            }
        }
        for input in inputs {
            if let Some(p) = input.path() {
                if same_path(out, p) {
                    return Err(Error::SameFile {
                        first: (*input).clone(),
                        second: label,
                    });
                }
            }
        }
        if out.is_dir() {
            return Err(Error::Write {
                file: label,
                source: io::Error::other("it is a folder; give a file name"),
            });
        }
        if out.exists() && !force {
            return Err(Error::OutputExists { file: label });
        }
        let dir = parent_dir(out);
        if !dir.is_dir() {
            return Err(Error::Write {
                file: label,
                source: io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("the folder {} does not exist", shown_path(&dir)),
                ),
            });
        }
    }
    Ok(())
}

fn same_path(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => {
            // One may not exist yet: compare folder and name.
            let ca = std::fs::canonicalize(parent_dir(a)).ok();
            let cb = std::fs::canonicalize(parent_dir(b)).ok();
            ca.is_some() && ca == cb && a.file_name() == b.file_name()
        }
    }
}

/// SHA-256 of a stream, computed on its own thread so that hashing a large
/// output does not hold up writing it. Buffers go in by value and come back
/// for reuse.
struct HashPipe {
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    back: std::sync::mpsc::Receiver<Vec<u8>>,
    handle: Option<std::thread::JoinHandle<[u8; 32]>>,
}

impl HashPipe {
    fn new() -> HashPipe {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let (back_tx, back) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let hash = move || {
            let mut h = Sha256::new();
            for buf in rx {
                h.update(&buf);
                let _ = back_tx.try_send(buf);
            }
            h.finalize().into()
        };
        let handle = std::thread::Builder::new()
            .name("pl-sha256".into())
            .spawn(hash)
            .ok();
        HashPipe {
            tx: Some(tx),
            back,
            handle,
        }
    }

    /// Hashes `buf` (in order) and returns a spent buffer, if one is back.
    fn feed(&mut self, buf: Vec<u8>) -> Option<Vec<u8>> {
        if let Some(tx) = &self.tx {
            let _ = tx.send(buf);
        }
        self.back.try_recv().ok()
    }

    /// The digest, or `None` if the hashing thread could not run.
    fn finish(mut self) -> Option<[u8; 32]> {
        drop(self.tx.take());
        self.handle.take().and_then(|h| h.join().ok())
    }
}

/// An output that appears under its final name only when committed.
pub struct AtomicOutput {
    inner: OutputInner,
    label: Source,
    hasher: Option<HashPipe>,
}

enum OutputInner {
    Stdout(BufWriter<io::Stdout>),
    File {
        tmp: BufWriter<tempfile::NamedTempFile>,
        path: PathBuf,
        force: bool,
    },
}

impl AtomicOutput {
    /// Output to a file (written to a temporary file beside it), or standard
    /// output when `path` is `None` or `-`.
    pub fn create(path: Option<&Path>, force: bool) -> Result<AtomicOutput> {
        match path {
            Some(p) if p.as_os_str() != "-" => {
                let label = Source::Path(p.to_path_buf());
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let tmp = tempfile::Builder::new()
                    .prefix(&format!(".{name}."))
                    .suffix(".pseudolink-partial")
                    .tempfile_in(parent_dir(p))
                    .map_err(|source| Error::Write {
                        file: label.clone(),
                        source,
                    })?;
                Ok(AtomicOutput {
                    inner: OutputInner::File {
                        tmp: BufWriter::with_capacity(256 * 1024, tmp),
                        path: p.to_path_buf(),
                        force,
                    },
                    label,
                    hasher: None,
                })
            }
            _ => Ok(AtomicOutput {
                inner: OutputInner::Stdout(BufWriter::with_capacity(256 * 1024, io::stdout())),
                label: Source::Stdout,
                hasher: None,
            }),
        }
    }

    /// Also computes the SHA-256 of everything written (for the manifest).
    pub fn with_sha256(mut self) -> Self {
        self.hasher = Some(HashPipe::new());
        self
    }

    /// How the output is named in messages.
    pub fn label(&self) -> &Source {
        &self.label
    }

    /// Writes bytes, mapping failures to a typed error.
    pub fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.write_hashed(bytes).map_err(|e| self.write_error(e))
    }

    /// Writes a buffer it may keep (to hash it on another thread); returns
    /// a spent buffer for reuse when one is available.
    pub fn put_vec(&mut self, buf: Vec<u8>) -> Result<Option<Vec<u8>>> {
        self.sink()
            .write_all(&buf)
            .map_err(|e| self.write_error(e))?;
        Ok(match &mut self.hasher {
            Some(h) => h.feed(buf),
            None => Some(buf),
        })
    }

    /// Where the bytes go: standard output or the temporary file.
    fn sink(&mut self) -> &mut dyn Write {
        match &mut self.inner {
            OutputInner::Stdout(w) => w,
            OutputInner::File { tmp, .. } => tmp,
        }
    }

    /// Writes bytes and, when a digest is wanted, hashes a copy.
    fn write_hashed(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sink().write_all(bytes)?;
        if let Some(h) = &mut self.hasher {
            h.feed(bytes.to_vec());
        }
        Ok(())
    }

    fn write_error(&self, source: io::Error) -> Error {
        Error::Write {
            file: self.label.clone(),
            source,
        }
    }

    /// Flushes, syncs and renames into place. Returns the SHA-256 if asked for.
    pub fn commit(self) -> Result<Option<[u8; 32]>> {
        let label = self.label;
        let err = |source| Error::Write {
            file: label.clone(),
            source,
        };
        let digest = match self.hasher {
            None => None,
            Some(pipe) => Some(pipe.finish().ok_or_else(|| {
                err(io::Error::other(
                    "the output could not be hashed for its manifest",
                ))
            })?),
        };
        match self.inner {
            OutputInner::Stdout(mut w) => w.flush().map_err(err)?,
            OutputInner::File { tmp, path, force } => {
                let tmp = tmp.into_inner().map_err(|e| err(e.into_error()))?;
                tmp.as_file().sync_all().map_err(err)?;
                let persisted = if force {
                    tmp.persist(&path)
                } else {
                    tmp.persist_noclobber(&path)
                };
                persisted.map_err(|e| {
                    if e.error.kind() == io::ErrorKind::AlreadyExists {
                        Error::OutputExists {
                            file: label.clone(),
                        }
                    } else {
                        err(e.error)
                    }
                })?;
                if let Ok(dir) = File::open(parent_dir(&path)) {
                    let _ = dir.sync_all();
                }
            }
        }
        Ok(digest)
    }
}

impl Write for AtomicOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_hashed(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.sink().flush()
    }
}

/// Wraps a CSV writer error (always an I/O failure for us) as a typed error.
pub fn csv_write_error(file: &Source, e: csv::Error) -> Error {
    let source = match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    };
    Error::Write {
        file: file.clone(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Header, decoded rows, and the raw bytes of every record.
    type ReadAll = (Option<Header>, Vec<Vec<Vec<u8>>>, Vec<u8>);

    fn read_all(input: &[u8], opts: CsvOptions, batch: usize) -> Result<ReadAll> {
        read_all_in_steps(input, opts, batch, usize::MAX)
    }

    /// A source that hands out at most `step` bytes a read, like a pipe.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// As `read_all`, reading the input `step` bytes at a time, so that
    /// buffers grow while a record is being parsed.
    fn read_all_in_steps(
        input: &[u8],
        opts: CsvOptions,
        batch: usize,
        step: usize,
    ) -> Result<ReadAll> {
        read_all_with(input, opts, batch, step, true)
    }

    /// As `read_all_in_steps`, with or without the plain-record fast path.
    fn read_all_with(
        input: &[u8],
        opts: CsvOptions,
        batch: usize,
        step: usize,
        plain_path: bool,
    ) -> Result<ReadAll> {
        let src = Trickle { data: input, step };
        let mut r = RecordReader::new(src, Source::Stdin, opts)?;
        r.plain_path = plain_path;
        r.set_batch_bytes(batch);
        let header = r.header().cloned();
        let mut rows = Vec::new();
        let mut raw = Vec::new();
        let mut expect_row = 1;
        while let Some(b) = r.next_batch()? {
            assert_eq!(b.first_row, expect_row);
            expect_row += b.len() as u64;
            for i in 0..b.len() {
                rows.push(
                    (0..b.n_fields)
                        .map(|c| b.field(i, c).into_owned())
                        .collect(),
                );
                raw.extend_from_slice(b.record(i));
            }
        }
        Ok((header, rows, raw))
    }

    #[test]
    fn quoted_fields_crlf_and_bom() {
        let input =
            b"\xEF\xBB\xBFnhs_number,note\r\n9434765919,\"a, \"\"b\"\"\r\nc\"\r\n\"4000000632\",x";
        for batch in [1, 3, 7, 1000] {
            let (h, rows, raw) = read_all(input, CsvOptions::default(), batch).unwrap();
            let h = h.unwrap();
            assert_eq!(h.names, ["nhs_number", "note"]);
            assert_eq!(h.raw, b"nhs_number,note\r\n");
            assert_eq!(rows.len(), 2);
            assert_eq!(rows[0][1], b"a, \"b\"\r\nc");
            assert_eq!(rows[1][0], b"4000000632");
            assert_eq!(raw, &input[20..], "batch {batch}");
        }
    }

    #[test]
    fn lone_cr_and_blank_lines() {
        let (_, rows, raw) = read_all(b"a,b\r1,2\r\r\n\n3,4\n", CsvOptions::default(), 2).unwrap();
        assert_eq!(
            rows,
            vec![
                vec![b"1".to_vec(), b"2".to_vec()],
                vec![b"3".to_vec(), b"4".to_vec()]
            ]
        );
        assert_eq!(raw, b"1,2\r3,4\n");
    }

    #[test]
    fn ragged_row_names_row_and_line() {
        let err = read_all(b"a,b\n1,2\n\"x\ny\",2\n3\n", CsvOptions::default(), 4).unwrap_err();
        match err {
            Error::RaggedRow {
                row,
                line,
                found,
                expected,
                ..
            } => {
                assert_eq!((row, line, found, expected), (3, 5, 1, 2));
            }
            e => panic!("{e}"),
        }
    }

    /// A record that does not end within the limit stops the read with the
    /// row and line where it starts, instead of reading the whole file into
    /// memory; records up to the limit are fine.
    #[test]
    fn records_longer_than_the_limit_are_refused() {
        let read = |input: &[u8], headers: bool| -> Result<usize> {
            let opts = CsvOptions {
                has_headers: headers,
                ..CsvOptions::default()
            };
            let src = Trickle {
                data: input,
                step: 7,
            };
            let mut r = RecordReader::with_max_record(src, Source::Stdin, opts, 100)?;
            r.set_batch_bytes(16);
            let mut n = 0;
            while let Some(b) = r.next_batch()? {
                n += b.len();
            }
            Ok(n)
        };
        let mut input = b"a,b\n1,2\n\n3,\"oops\n".to_vec();
        input.extend(b"4,5\n".repeat(2_000)); // more than the first 4 KiB read
        match read(&input, true) {
            Err(Error::RecordTooLong {
                row: Some(2),
                line: 4,
                limit_mib: 1,
                ..
            }) => {}
            other => panic!("{:?}", other.map_err(|e| e.to_string())),
        }
        let e = read(&input, true).unwrap_err().to_string();
        assert!(e.contains("row 2 (line 4) runs past 1 MiB"), "{e}");
        // The same for the header.
        let mut input = b"a,\"b\n".to_vec();
        input.extend(b"4,5\n".repeat(2_000)); // more than the first 4 KiB read
        let e = read(&input, true).unwrap_err();
        assert!(
            matches!(
                e,
                Error::RecordTooLong {
                    row: None,
                    line: 1,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("the header (line 1)"), "{e}");
        // A long record within the limit is read.
        let long = format!("a,b\n1,\"{}\"\n2,3\n", "x".repeat(95));
        assert_eq!(read(long.as_bytes(), true).unwrap(), 2);
    }

    #[test]
    fn unclosed_quote_and_text_after_quote() {
        let err = read_all(b"a,b\n1,2\n3,\"oops\n4,5\n", CsvOptions::default(), 4).unwrap_err();
        assert!(
            matches!(
                err,
                Error::UnclosedQuote {
                    row: 2,
                    line: 3,
                    ..
                }
            ),
            "{err}"
        );
        let err = read_all(b"a,b\n1,\"x\"y\n", CsvOptions::default(), 64).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TextAfterQuote {
                    row: 1,
                    line: 2,
                    column: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn without_headers_the_first_record_is_row_1() {
        let opts = CsvOptions {
            delimiter: b',',
            has_headers: false,
        };
        let mut r = RecordReader::new(&b"\"open,1\n2,3\n"[..], Source::Stdin, opts).unwrap();
        let err = r.n_fields().unwrap_err();
        assert!(
            matches!(
                err,
                Error::UnclosedQuote {
                    row: 1,
                    line: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn empty_header_only_and_no_trailing_newline() {
        let (h, rows, _) = read_all(b"", CsvOptions::default(), 64).unwrap();
        assert!(h.is_none() && rows.is_empty());
        let (h, rows, _) = read_all(b"a,b", CsvOptions::default(), 64).unwrap();
        assert_eq!(h.unwrap().names, ["a", "b"]);
        assert!(rows.is_empty());
        let (_, rows, raw) = read_all(b"a,b\n1,", CsvOptions::default(), 64).unwrap();
        assert_eq!(rows, vec![vec![b"1".to_vec(), b"".to_vec()]]);
        assert_eq!(raw, b"1,");
    }

    #[test]
    fn no_headers_and_other_delimiters() {
        let opts = CsvOptions {
            delimiter: b';',
            has_headers: false,
        };
        let mut r = RecordReader::new(&b"1;2;3\n4;5;6\n"[..], Source::Stdin, opts).unwrap();
        assert!(r.header().is_none());
        assert_eq!(r.n_fields().unwrap(), Some(3));
        let b = r.next_batch().unwrap().unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(&*b.field(1, 2), b"6");
        let (_, rows, _) = read_all(
            b"a\tb\nx,y\tz\n",
            CsvOptions {
                delimiter: b'\t',
                has_headers: true,
            },
            64,
        )
        .unwrap();
        assert_eq!(rows[0][0], b"x,y");
    }

    #[test]
    fn huge_field_and_many_columns() {
        let mut input = b"a,b\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 1 << 20));
        input.extend_from_slice(b",1\n");
        let (_, rows, _) = read_all(&input, CsvOptions::default(), 4096).unwrap();
        assert_eq!(rows[0][0].len(), 1 << 20);
        let header: Vec<String> = (0..10_000).map(|i| format!("c{i}")).collect();
        let line = header.join(",");
        let input = format!("{line}\n{line}\n");
        let (h, rows, _) = read_all(input.as_bytes(), CsvOptions::default(), 4096).unwrap();
        assert_eq!(h.unwrap().names.len(), 10_000);
        assert_eq!(rows[0].len(), 10_000);
    }

    #[test]
    fn non_utf8_passes_through() {
        let input = b"nhs,x\n1,\xff\xfe\n";
        let (_, rows, raw) = read_all(input, CsvOptions::default(), 64).unwrap();
        assert_eq!(rows[0][1], b"\xff\xfe");
        assert_eq!(raw, b"1,\xff\xfe\n");
    }

    #[test]
    fn unescape_and_escape() {
        assert_eq!(&*unescape(b"\"a\"\"b\""), b"a\"b");
        assert_eq!(&*unescape(b"plain"), b"plain");
        assert_eq!(&*escape(b"a,b", b','), b"\"a,b\"");
        assert_eq!(&*escape(b"a\"b", b';'), b"\"a\"\"b\"");
        assert_eq!(&*escape(b"token", b','), b"token");
    }

    #[test]
    fn nhs_header_detection() {
        for yes in [
            "nhs_number",
            "NHS Number",
            "nhs no",
            "NHSNumber",
            "Patient NHS No",
            "NHS No.",
        ] {
            assert!(looks_like_nhs_header(yes), "{yes}");
        }
        for no in ["name", "nhs_number_verified", "number", "gp_practice"] {
            assert!(!looks_like_nhs_header(no), "{no}");
        }
    }

    #[test]
    fn column_resolution_and_hints() {
        let h = Header {
            raw: vec![],
            spans: vec![],
            names: vec!["id".into(), "NHS No".into(), "nhs_number".into()],
        };
        let f = Source::Stdin;
        assert_eq!(
            resolve_column(&"nhs no".parse().unwrap(), Some(&h), 3, &f, "--column").unwrap(),
            1
        );
        assert_eq!(
            resolve_column(&"3".parse().unwrap(), Some(&h), 3, &f, "--column").unwrap(),
            2
        );
        assert!(matches!(
            resolve_column(&"4".parse().unwrap(), Some(&h), 3, &f, "--column"),
            Err(Error::ColumnOutOfRange { .. })
        ));
        let e =
            resolve_column(&"NHS_No".parse().unwrap(), Some(&h), 3, &f, "--column").unwrap_err();
        assert!(
            e.to_string().contains("did you mean --column \"NHS No\"?"),
            "{e}"
        );
        let e = nhs_column(None, Some(&h), 3, &f).unwrap_err();
        assert!(matches!(e, Error::AmbiguousNhsColumn { .. }));
        assert!(e.to_string().contains("\"NHS No\", \"nhs_number\""), "{e}");
        assert!("0".parse::<ColumnSpec>().is_err());
    }

    proptest::proptest! {
        /// Any table written with `escape` and any mix of line endings reads
        /// back field for field, whatever the batch size, and the raw
        /// records concatenate back to the input.
        #[test]
        fn written_tables_read_back(
            rows in proptest::collection::vec(
                proptest::collection::vec("[a-c ,;\"\r\n\u{e9}]{0,6}", 3),
                1..12,
            ),
            endings in proptest::collection::vec(0usize..3, 12),
            delim in proptest::sample::select(vec![b',', b';', b'\t']),
            batch in 1usize..80,
            step in proptest::prop_oneof![proptest::strategy::Just(usize::MAX), 1usize..100],
        ) {
            let mut input = Vec::new();
            for (r, row) in rows.iter().enumerate() {
                for (c, field) in row.iter().enumerate() {
                    if c > 0 {
                        input.push(delim);
                    }
                    // A field that is empty in the first column of a row
                    // would make a blank line; quote it.
                    if field.is_empty() && row.len() == 1 {
                        input.extend_from_slice(b"\"\"");
                    } else {
                        input.extend_from_slice(&escape(field.as_bytes(), delim));
                    }
                }
                input.extend_from_slice([&b"\n"[..], b"\r\n", b"\r"][endings[r]]);
            }
            let opts = CsvOptions { delimiter: delim, has_headers: false };
            let (_, got, raw) = read_all_in_steps(&input, opts, batch, step).unwrap();
            let want: Vec<Vec<Vec<u8>>> = rows
                .iter()
                .map(|r| r.iter().map(|f| f.as_bytes().to_vec()).collect())
                .collect();
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert_eq!(raw, input);
        }
    }

    proptest::proptest! {
        /// The 64-byte bit-mask finder agrees with a byte-by-byte search,
        /// across chunk edges, short tails and a buffer that grows between
        /// searches.
        #[test]
        fn finder_agrees_with_a_plain_search(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'a', b'a', b',', b';', b'\r', b'\n', b'"', 0xE9]),
                0..300,
            ),
            cut in 0usize..300,
            delim in proptest::sample::select(vec![b',', b';']),
            steps in proptest::collection::vec(1usize..70, 1..40),
        ) {
            let naive = |data: &[u8], from: usize| {
                (from..data.len()).find(|&i| matches!(data[i], b'\r' | b'\n') || data[i] == delim)
            };
            let mut data = bytes[..cut.min(bytes.len())].to_vec();
            let mut finder = Finder::new(delim);
            let mut from = 0;
            for (k, step) in steps.iter().enumerate() {
                if k == steps.len() / 2 {
                    data = bytes.clone(); // the buffer grows
                }
                proptest::prop_assert_eq!(finder.find(&data, from), naive(&data, from), "from {}", from);
                from += step;
            }
        }
    }

    proptest::proptest! {
        /// Every record the plain fast path takes is exactly what the general
        /// parser makes of it (spans, ends, one line each), over inputs full
        /// of what it must refuse: quotes, lone `\r`, blank lines, ragged
        /// records, records cut off by the end of the data.
        #[test]
        fn plain_records_agree_with_the_general_parser(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"aaaa,,,;;\r\n\n\n\"".to_vec()),
                0..400,
            ),
            pos in 0usize..40,
            target in 0usize..450,
            n_fields in 1usize..4,
            delim in proptest::sample::select(vec![b',', b';']),
        ) {
            let pos = pos.min(bytes.len());
            let (mut fields, mut records) = (Vec::new(), Vec::new());
            let (end, taken) =
                plain_records(&bytes, pos, target, delim, n_fields, &mut fields, &mut records);
            proptest::prop_assert_eq!(records.len() as u64, taken);
            proptest::prop_assert_eq!(fields.len(), records.len() * n_fields);
            let mut finder = Finder::new(delim);
            let (mut want_fields, mut at) = (Vec::new(), pos);
            for &(s, e) in &records {
                match parse_record(&bytes, at, false, &mut finder, &mut want_fields) {
                    Parsed::Record { start, end, lines_before, lines } => {
                        proptest::prop_assert_eq!((start, end, lines_before, lines), (s, e, 0, 1));
                    }
                    _ => proptest::prop_assert!(false, "the general parser found no record at {}", at),
                }
                at = e;
            }
            proptest::prop_assert_eq!(fields, want_fields);
            proptest::prop_assert_eq!(end, at);
            // It stops at the target, or where a record is not plain.
            if end < target {
                let mut f = Vec::new();
                let plain_next = matches!(
                    parse_record(&bytes, end, false, &mut finder, &mut f),
                    Parsed::Record { lines_before: 0, lines: 1, .. }
                ) && f.len() == n_fields
                    && !f.is_empty()
                    && !bytes[end..].split(|&b| b == b'\n').next().unwrap_or(&[]).contains(&b'"')
                    && bytes[end..].iter().position(|&b| b == b'\r' || b == b'\n')
                        .is_some_and(|i| bytes[end + i] == b'\n' || bytes.get(end + i + 1) == Some(&b'\n'));
                proptest::prop_assert!(!plain_next, "stopped before a plain record at {}", end);
            }
        }
    }

    proptest::proptest! {
        /// The reader gives the same header, rows, raw bytes and errors
        /// (row, line and column included) with the plain-record fast path
        /// as with the general parser alone, on mostly plain files with
        /// quotes, CRs, blank lines and ragged rows mixed in.
        #[test]
        fn the_fast_path_changes_nothing_a_reader_returns(
            lines in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![
                        "a", "bb", "", "9434765919", "\"q,\"", "\"x\ny\"", "\"", "c\"d", " ",
                    ]),
                    1..4,
                ),
                0..30,
            ),
            endings in proptest::collection::vec(
                proptest::sample::select(vec!["\n", "\n", "\n", "\r\n", "\r", "\n\n"]),
                30,
            ),
            has_headers in proptest::bool::ANY,
            batch in 1usize..120,
            step in proptest::prop_oneof![proptest::strategy::Just(usize::MAX), 1usize..50],
        ) {
            let mut input = Vec::new();
            for (line, end) in lines.iter().zip(&endings) {
                input.extend_from_slice(line.join(",").as_bytes());
                input.extend_from_slice(end.as_bytes());
            }
            let opts = CsvOptions { delimiter: b',', has_headers };
            let show = |r: Result<ReadAll>| {
                r.map(|(h, rows, raw)| (h.map(|h| (h.raw, h.names)), rows, raw))
                    .map_err(|e| e.to_string())
            };
            proptest::prop_assert_eq!(
                show(read_all_with(&input, opts, batch, step, true)),
                show(read_all_with(&input, opts, batch, step, false)),
                "{:?}", String::from_utf8_lossy(&input)
            );
        }
    }

    #[test]
    fn delimiters() {
        assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
        assert_eq!(parse_delimiter(";"), Ok(b';'));
        assert!(parse_delimiter("\"").is_err());
        assert!(parse_delimiter(",,").is_err());
    }
}
