//! The provider-side pass over an NHS-number column, shared by `validate`
//! and `tokenise`.
//!
//! [`Scanner`] turns one [`Batch`] into a [`BatchResult`]: the output bytes
//! (with the NHS-number field replaced by its token, everything else copied
//! byte for byte), the rejected rows and the counts. Batches are independent,
//! so they can be processed in parallel and merged in order by [`Tally`].

use std::borrow::Cow;
use std::collections::BTreeMap;

use std::io::Read;

use crate::error::{Error, Result, Source};
use crate::io::csv::{
    csv_write_error, nhs_column, open_input, unescape, Batch, ColumnSpec, CsvOptions, RecordReader,
};
use crate::io::output::AtomicOutput;
use crate::io::pipeline::{run_ordered, Pool};
use crate::io::progress::Progress;
use crate::provider::nhs::{canonicalise, NhsNumber, Reason, ReasonCounts};
use crate::provider::ranges::{Range, RangeCounts};
use crate::provider::seen::SeenNumbers;
use crate::provider::token::{hex_into, Tokeniser, TOKEN_HEX_LEN};

/// How many invalid rows a summary lists by number.
pub const FIRST_INVALID: usize = 10;

/// One rejected row. The value is the raw cell: it goes only to the
/// provider's own rejects file.
pub struct Reject {
    /// Data-row number.
    pub row: u64,
    /// Why it was rejected.
    pub reason: Reason,
    /// The cell as it was (unquoted).
    pub value: Vec<u8>,
}

/// What one batch produced.
pub struct BatchResult {
    /// Output bytes: the batch's valid records with tokens in place.
    pub out: Vec<u8>,
    /// Rejected rows, in order.
    pub rejects: Vec<Reject>,
    /// Prefixes of valid numbers, for duplicate counting.
    pub prefixes: Vec<u32>,
    /// Counts for this batch.
    pub tally: Tally,
}

/// Counts over the rows scanned so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Data rows read.
    pub rows_read: u64,
    /// Rows with a valid number.
    pub rows_valid: u64,
    /// Rejected rows by reason.
    pub by_reason: ReasonCounts,
    /// Valid numbers in the 999 test range.
    pub test_range: u64,
    /// Valid numbers outside England, Wales and the Isle of Man, by range.
    pub outside: RangeCounts,
    /// The first few invalid rows, in order.
    pub first_invalid: Vec<(u64, Reason)>,
}

impl Tally {
    /// Rows rejected.
    pub fn rows_rejected(&self) -> u64 {
        self.by_reason.total()
    }

    /// Adds a later batch's counts.
    pub fn merge(&mut self, other: &Tally) {
        self.rows_read += other.rows_read;
        self.rows_valid += other.rows_valid;
        self.by_reason.merge(&other.by_reason);
        self.test_range += other.test_range;
        self.outside.merge(&other.outside);
        let room = FIRST_INVALID.saturating_sub(self.first_invalid.len());
        self.first_invalid
            .extend(other.first_invalid.iter().take(room).copied());
    }

    /// Rejected counts by reason code, zero counts left out.
    pub fn rejected_by_reason(&self) -> BTreeMap<String, u64> {
        self.by_reason
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| (r.code().to_string(), n))
            .collect()
    }
}

/// The complete result of a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Counts over all rows.
    pub tally: Tally,
    /// Valid rows whose number appeared on an earlier row.
    pub duplicate_numbers: u64,
}

impl Summary {
    /// A plain-text summary: counts, reasons and the first invalid rows.
    pub fn render(&self, valid_word: &str) -> String {
        use std::fmt::Write as _;
        let t = &self.tally;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "rows read: {}  {valid_word}: {}  rejected: {}",
            t.rows_read,
            t.rows_valid,
            t.rows_rejected()
        );
        for (reason, n) in t.by_reason.iter().filter(|(_, n)| *n > 0) {
            let _ = writeln!(s, "  {:<22} {:>9}  {}", reason.code(), n, reason.explain());
        }
        // Many repeats mean an extract of events (a row per event), where
        // they are normal; a few mean repeated referrals.
        if t.rows_valid > 0 && self.duplicate_numbers * 5 > t.rows_valid {
            let people = t.rows_valid - self.duplicate_numbers;
            let _ = writeln!(
                s,
                "{} for {}: {:.1} rows per person on average (normal for an extract of events)  test-range numbers (999...): {}",
                crate::cmd::count(t.rows_valid, "row", "rows"),
                crate::cmd::count(people, "person", "people"),
                t.rows_valid as f64 / people.max(1) as f64,
                t.test_range
            );
        } else {
            let _ = writeln!(
                s,
                "repeated numbers: {}  test-range numbers (999...): {}",
                self.duplicate_numbers, t.test_range
            );
        }
        if t.outside.total() > 0 {
            let _ = writeln!(
                s,
                "warning: {} outside the ranges issued in England, Wales and the Isle of Man (kept and counted as valid):",
                crate::cmd::count(
                    t.outside.total(),
                    "valid number is",
                    "valid numbers are"
                )
            );
            for (range, n) in t.outside.iter().filter(|(_, n)| *n > 0) {
                let _ = writeln!(s, "  {:<22} {:>9}  {}", range.code(), n, range.explain());
            }
        }
        if !t.first_invalid.is_empty() {
            let rows: Vec<String> = t
                .first_invalid
                .iter()
                .map(|(row, r)| format!("{row} ({})", r.code()))
                .collect();
            let more = if t.rows_rejected() > t.first_invalid.len() as u64 {
                ", ..."
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "first invalid rows (row 1 is the first row after the header): {}{more}",
                rows.join(", ")
            );
        }
        s
    }
}

/// Scans batches: validates one column and, with a tokeniser, builds output.
pub struct Scanner<'a> {
    /// 0-based index of the NHS-number column.
    pub column: usize,
    /// `Some` for `tokenise`: replace the column by the token.
    pub tokeniser: Option<&'a Tokeniser>,
}

impl Scanner<'_> {
    /// Processes one batch, building output in `out` (an empty, possibly
    /// recycled buffer).
    pub fn scan(&self, batch: &Batch, mut out: Vec<u8>) -> BatchResult {
        let n = batch.len();
        out.clear();
        let mut rejects = Vec::new();
        let mut prefixes = Vec::with_capacity(n);
        let mut tally = Tally {
            rows_read: n as u64,
            ..Tally::default()
        };
        // Valid rows (batch indexes) and their numbers, for the tokens.
        let wanted = if self.tokeniser.is_some() { n } else { 0 };
        let mut valid_rows = Vec::with_capacity(wanted);
        let mut valid_numbers = Vec::with_capacity(wanted);
        for i in 0..n {
            let (fs, fe) = batch.span(i, self.column);
            let raw = &batch.data[fs..fe];
            let cell: Cow<'_, [u8]> = if raw.first() == Some(&b'"') {
                unescape(raw)
            } else {
                Cow::Borrowed(raw)
            };
            match canonicalise(&cell) {
                Ok(number) => {
                    tally.rows_valid += 1;
                    let prefix = number.prefix();
                    match Range::of_prefix(prefix) {
                        Range::EnglandWales => {}
                        Range::Test => tally.test_range += 1,
                        other => tally.outside.add(other),
                    }
                    prefixes.push(prefix);
                    if self.tokeniser.is_some() {
                        valid_rows.push(i);
                        valid_numbers.push(number);
                    }
                }
                Err(reason) => {
                    tally.by_reason.add(reason);
                    let row = batch.row(i);
                    if tally.first_invalid.len() < FIRST_INVALID {
                        tally.first_invalid.push((row, reason));
                    }
                    rejects.push(Reject {
                        row,
                        reason,
                        value: cell.into_owned(),
                    });
                }
            }
        }
        if let Some(t) = self.tokeniser {
            write_tokenised(t, batch, self.column, &valid_rows, &valid_numbers, &mut out);
        }
        BatchResult {
            out,
            rejects,
            prefixes,
            tally,
        }
    }
}

/// Writes the valid rows of a batch (`rows`, with their `numbers`), in
/// order, with the NHS-number field replaced by its token.
fn write_tokenised(
    t: &Tokeniser,
    batch: &Batch,
    column: usize,
    rows: &[usize],
    numbers: &[NhsNumber],
    out: &mut Vec<u8>,
) {
    out.reserve(batch.data.len() + rows.len() * TOKEN_HEX_LEN);
    let mut hex = [0u8; TOKEN_HEX_LEN];
    t.each_token(numbers, |k, token| {
        hex_into(token, &mut hex);
        let i = rows[k];
        let (rs, re) = batch.records[i];
        let (fs, fe) = batch.span(i, column);
        out.extend_from_slice(&batch.data[rs..fs]);
        out.extend_from_slice(&hex);
        out.extend_from_slice(&batch.data[fe..re]);
    });
}

/// Opens an input for scanning and finds the NHS-number column. An input
/// with no rows at all is an error; a header with no data rows is not.
pub fn open(
    input: &Source,
    csv: CsvOptions,
    column: Option<&ColumnSpec>,
    sheet: Option<&str>,
) -> Result<(RecordReader<Box<dyn Read + Send>>, usize)> {
    let spreadsheet = input.path().filter(|p| crate::io::xlsx::is_spreadsheet(p));
    let (source, csv): (Box<dyn Read + Send>, CsvOptions) = match spreadsheet {
        Some(path) => (
            Box::new(std::io::Cursor::new(crate::io::xlsx::sheet_to_csv(
                path, sheet,
            )?)),
            CsvOptions {
                delimiter: b',',
                ..csv
            },
        ),
        None => {
            if sheet.is_some() {
                return Err(Error::Usage(format!(
                    "--sheet is for spreadsheets (.xlsx, .xls, .ods), and {input} is not one"
                )));
            }
            (open_input(input)?, csv)
        }
    };
    let mut reader = RecordReader::new(source, input.clone(), csv)?;
    let n_fields = match reader.n_fields()? {
        Some(n) => n,
        None => {
            return Err(Error::EmptyFile {
                file: input.clone(),
                hint: if csv.has_headers { "" } else { " or data" },
            })
        }
    };
    let column = nhs_column(column, reader.header(), n_fields, input)?;
    Ok((reader, column))
}

/// Reads every batch, scans it (on `threads` workers) and hands each result
/// to `sink` in order. The sink may take `out` (leaving a buffer to reuse,
/// or an empty one). Returns the merged summary.
pub fn run<R: Read + Send>(
    mut reader: RecordReader<R>,
    scanner: &Scanner<'_>,
    threads: usize,
    progress: &Progress,
    mut sink: impl FnMut(&mut BatchResult) -> Result<()>,
) -> Result<Summary> {
    let mut merger = Merger::default();
    let batches = reader.recycler();
    let buffers: Pool<Vec<u8>> = Pool::default();
    run_ordered(
        threads,
        || {
            crate::io::interrupt::check()?;
            let batch = reader.next_batch()?;
            progress.update(reader.bytes_read(), reader.rows());
            Ok(batch)
        },
        |mut batch| {
            let result = scanner.scan(&batch, buffers.get());
            batch.clear();
            batches.put(batch);
            result
        },
        |mut result| {
            merger.add(&result)?;
            sink(&mut result)?;
            let mut out = result.out;
            out.clear();
            buffers.put(out);
            Ok(())
        },
    )?;
    progress.finish();
    merger.finish()
}

/// The rejects file: `row,reason,raw_value`, one line per rejected row.
/// The values are the provider's own cells, byte for byte (they are for
/// fixing), so they are not escaped for spreadsheets; the header says so.
pub struct RejectsWriter {
    inner: csv::Writer<AtomicOutput>,
    label: Source,
}

impl RejectsWriter {
    /// A rejects file at `path` (written atomically, like every output), or
    /// none when no path was given.
    pub fn create(path: Option<&std::path::Path>, force: bool) -> Result<Option<RejectsWriter>> {
        path.map(|p| RejectsWriter::new(AtomicOutput::create(Some(p), force)?))
            .transpose()
    }

    /// Starts a rejects file and writes its header.
    pub fn new(out: AtomicOutput) -> Result<RejectsWriter> {
        let label = out.label().clone();
        let mut inner = csv::WriterBuilder::new().from_writer(out);
        inner
            .write_record(["row", "reason", "raw_value (unescaped: may hold formulas)"])
            .map_err(|e| csv_write_error(&label, e))?;
        Ok(RejectsWriter { inner, label })
    }

    /// Writes rejected rows.
    pub fn write(&mut self, rejects: &[Reject]) -> Result<()> {
        for r in rejects {
            let row = r.row.to_string();
            self.inner
                .write_record([row.as_bytes(), r.reason.code().as_bytes(), &r.value[..]])
                .map_err(|e| csv_write_error(&self.label, e))?;
        }
        Ok(())
    }

    /// Flushes and hands back the output for committing.
    pub fn finish(self) -> Result<AtomicOutput> {
        let label = self.label;
        self.inner.into_inner().map_err(|e| Error::Write {
            file: label,
            source: std::io::Error::new(e.error().kind(), e.error().to_string()),
        })
    }
}

/// Merges batch results in order: counts, duplicates, rejects.
#[derive(Default)]
pub struct Merger {
    /// Counts so far.
    pub tally: Tally,
    seen: SeenNumbers,
}

impl Merger {
    /// Folds in one batch's counts and numbers.
    pub fn add(&mut self, r: &BatchResult) -> Result<()> {
        self.tally.merge(&r.tally);
        self.seen.insert_all(&r.prefixes).map_err(spill_error)?;
        Ok(())
    }

    /// The final summary.
    pub fn finish(self) -> Result<Summary> {
        Ok(Summary {
            duplicate_numbers: self.seen.duplicates().map_err(spill_error)?,
            tally: self.tally,
        })
    }
}

/// A failure of the temporary file used to count duplicates in very large
/// inputs.
fn spill_error(source: std::io::Error) -> Error {
    Error::Write {
        file: Source::Path(std::env::temp_dir().join("(duplicate counter)")),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::csv::{CsvOptions, RecordReader};
    use crate::provider::key::Key;

    fn batch(input: &str) -> Batch {
        let mut r =
            RecordReader::new(input.as_bytes(), Source::Stdin, CsvOptions::default()).unwrap();
        r.next_batch().unwrap().unwrap()
    }

    #[test]
    fn replaces_only_the_column_and_counts_everything() {
        let key = Key::parse(b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
            .ok()
            .unwrap();
        let t = Tokeniser::new(&key).ok().unwrap();
        let b = batch(
            "id,nhs,note\r\n1,\"943 476 5919\",\"a,b\"\r\n2,123,x\r\n3,9434765919,\"q\"\"\"\r\n",
        );
        let r = Scanner {
            column: 1,
            tokeniser: Some(&t),
        }
        .scan(&b, Vec::new());
        let dd = "dd5c602eeb31d60c7c0d662c897231dda00e13cdf945b14cad185a4a7125826c";
        assert_eq!(
            String::from_utf8(r.out).unwrap(),
            format!("1,{dd},\"a,b\"\r\n3,{dd},\"q\"\"\"\r\n")
        );
        assert_eq!(r.tally.rows_read, 3);
        assert_eq!(r.tally.rows_valid, 2);
        assert_eq!(r.tally.by_reason.get(Reason::WrongLength), 1);
        assert_eq!(r.tally.first_invalid, vec![(2, Reason::WrongLength)]);
        assert_eq!(r.rejects.len(), 1);
        assert_eq!(r.rejects[0].value, b"123");
        let mut m = Merger::default();
        m.add(&BatchResult {
            out: vec![],
            rejects: vec![],
            prefixes: r.prefixes,
            tally: r.tally,
        })
        .unwrap();
        let s = m.finish().unwrap();
        assert_eq!(s.duplicate_numbers, 1);
        assert_eq!(
            s.tally.rows_read,
            s.tally.rows_valid + s.tally.rows_rejected()
        );
    }

    #[test]
    fn merge_keeps_the_first_invalid_rows_in_order() {
        let mut a = Tally::default();
        for i in 0..8 {
            a.first_invalid.push((i, Reason::Empty));
        }
        let mut b = Tally::default();
        for i in 8..12 {
            b.first_invalid.push((i, Reason::Empty));
        }
        a.merge(&b);
        assert_eq!(a.first_invalid.len(), FIRST_INVALID);
        assert_eq!(a.first_invalid.last(), Some(&(9, Reason::Empty)));
    }
}
