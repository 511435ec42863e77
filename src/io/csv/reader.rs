//! The record reader: batches of complete records with their raw bytes and
//! field spans, read in bounded blocks (never the whole file), with the
//! row, line and column of every parse error.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read};

use memchr::memchr;

use super::columns::Header;
use super::escape::unescape;
use super::fast::{plain_records, Finder};
use super::{CsvOptions, BATCH_BYTES, BOM, MAX_RECORD_BYTES};
use crate::error::{Error, Result, Source};
use crate::io::pipeline::Pool;

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

pub(super) enum Parsed {
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

/// The end of the quoted field whose opening quote is at `i` (just past
/// its closing quote; `""` inside is an escaped quote). `Err(true)`: the
/// input ends inside the quotes; `Err(false)`: more input is needed to
/// tell.
#[inline]
fn quoted_field_end(data: &[u8], mut i: usize, eof: bool) -> Result<usize, bool> {
    let len = data.len();
    i += 1;
    loop {
        let Some(k) = memchr(b'"', &data[i..]) else {
            return Err(eof);
        };
        i += k + 1;
        if i == len && !eof {
            return Err(false);
        }
        if i < len && data[i] == b'"' {
            i += 1;
            continue;
        }
        return Ok(i);
    }
}

/// The position after the record terminator at `i` (`\n`, `\r\n` or a
/// lone `\r`), or `None` when a `\r` ends the buffer before the input does.
#[inline]
fn after_terminator(data: &[u8], i: usize, eof: bool) -> Option<usize> {
    if data[i] == b'\n' {
        return Some(i + 1);
    }
    if i + 1 == data.len() && !eof {
        return None;
    }
    Some(if data.get(i + 1) == Some(&b'\n') {
        i + 2
    } else {
        i + 1
    })
}

/// Parses one record starting at `pos`. Field spans go into `fields`.
pub(super) fn parse_record(
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
            i = match quoted_field_end(data, i, eof) {
                Ok(end) => end,
                Err(unclosed) => {
                    fields.truncate(first_field);
                    return if unclosed {
                        Parsed::UnclosedQuote { lines_before }
                    } else {
                        Parsed::NeedMore
                    };
                }
            };
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
            let Some(next) = after_terminator(data, i, eof) else {
                fields.truncate(first_field);
                return Parsed::NeedMore;
            };
            i = next;
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

/// Opens an input: a file, standard input for `-` or nothing, or a table
/// in memory.
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
        Source::Memory(m) => Ok((m.open)()),
        Source::Stdin | Source::Stdout => Ok(Box::new(io::stdin())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::csv::escape::escape;

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
}
