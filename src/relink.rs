//! Re-linkage (SPEC section 6): the ICB side's join of a tokenised cohort
//! to a usage extract, counting each person's events before and after their
//! first intervention.
//!
//! Memory is O(cohort): each person costs a 32-byte token in the index, a
//! 16-byte [`Person`] and 8 bytes of counts per event type. The usage file
//! is streamed in batches, in parallel: workers parse dates and (with a key)
//! tokenise NHS numbers in memory; one consumer applies the counts in file
//! order, so results and errors do not depend on the thread count.

use std::collections::HashMap;
use std::io::Read;

use jiff::civil::Date;

use crate::csvio::{open_input, resolve_column, Batch, ColumnSpec, CsvOptions, RecordReader};
use crate::date;
use crate::error::{shown_value, Error, Result, Source};
use crate::nhs::{canonicalise, ReasonCounts};
use crate::pipeline::{run_ordered, Pool};
use crate::progress::Progress;
use crate::token::{parse_token, Tokeniser};

/// One person in the cohort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Person {
    /// First intervention date, d.
    pub date: Date,
    /// d − N months: the first day of the pre window.
    pub pre_start: Date,
    /// d + N months: the first day after the post window.
    pub post_end: Date,
    /// Index into [`Cohort::groups`].
    pub group: u32,
}

/// Where windows fall for an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// In [d − N months, d).
    Pre,
    /// In [d, d + N months).
    Post,
    /// Before or after both windows.
    Outside,
}

impl Person {
    /// A person with windows of `months` around intervention date `d`.
    pub fn new(d: Date, months: i32, group: u32) -> Person {
        Person {
            date: d,
            pre_start: date::add_months(d, -months),
            post_end: date::add_months(d, months),
            group,
        }
    }

    /// Which window an event date falls in.
    pub fn window(&self, event: Date) -> Window {
        if event < self.pre_start || event >= self.post_end {
            Window::Outside
        } else if event < self.date {
            Window::Pre
        } else {
            Window::Post
        }
    }

    /// True when both windows lie inside the data's coverage (inclusive).
    pub fn complete_within(&self, start: Date, end: Date) -> bool {
        self.pre_start >= start && self.post_end <= date::next_day(end)
    }
}

/// Which cohort columns to use.
#[derive(Clone, Debug)]
pub struct CohortColumns {
    /// The token column.
    pub token: ColumnSpec,
    /// The intervention date column.
    pub date: ColumnSpec,
    /// Columns to group by.
    pub group_by: Vec<ColumnSpec>,
}

/// One cohort member: token and person.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// The person's token.
    pub token: [u8; 32],
    /// Their first intervention and windows.
    pub person: Person,
    /// Row of the cohort file it came from (ties go to the earlier row).
    order: u32,
}

/// The cohort: one entry per distinct token, sorted by token, with a
/// bucket index on the tokens' leading bits.
///
/// Tokens are HMAC outputs, so their leading bits are uniform: with about
/// one bucket per four people, a lookup reads one 4-byte bucket bound and
/// then scans a few adjacent entries. Memory is about 52 bytes a person
/// plus 1 to 2 for the buckets, with no hash-table slack.
pub struct Cohort {
    /// Entries sorted by token.
    pub entries: Vec<Entry>,
    buckets: Vec<u32>,
    shift: u32,
    /// Distinct group values, in order of first appearance.
    pub groups: Vec<Vec<String>>,
    /// Header names of the group-by columns.
    pub group_columns: Vec<String>,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows whose token had appeared before (the earliest date is kept).
    pub duplicate_tokens: u64,
}

fn lead(token: &[u8; 32]) -> u64 {
    u64::from_be_bytes(token[..8].try_into().expect("8 bytes"))
}

impl Cohort {
    /// Builds the index from entries (any order, duplicates allowed): each
    /// token keeps its earliest date, the earlier row winning a tie.
    fn index(mut entries: Vec<Entry>) -> (Vec<Entry>, Vec<u32>, u32, u64) {
        entries.sort_unstable_by(|a, b| {
            (a.token, a.person.date, a.order).cmp(&(b.token, b.person.date, b.order))
        });
        let before = entries.len();
        entries.dedup_by(|later, first| later.token == first.token);
        entries.shrink_to_fit();
        let duplicates = (before - entries.len()) as u64;
        let bits = (entries.len() / 4).max(1).ilog2() + 1;
        let shift = 64 - bits;
        let mut buckets = vec![0u32; (1usize << bits) + 1];
        for e in &entries {
            buckets[(lead(&e.token) >> shift) as usize + 1] += 1;
        }
        for i in 1..buckets.len() {
            buckets[i] += buckets[i - 1];
        }
        (entries, buckets, shift, duplicates)
    }

    /// Number of people.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the cohort has nobody.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The index of a token's entry.
    pub fn find(&self, token: &[u8; 32]) -> Option<u32> {
        let b = (lead(token) >> self.shift) as usize;
        let (lo, hi) = (self.buckets[b] as usize, self.buckets[b + 1] as usize);
        let slice = &self.entries[lo..hi];
        let i = if slice.len() <= 16 {
            slice.iter().position(|e| e.token == *token)?
        } else {
            slice.binary_search_by(|e| e.token.cmp(token)).ok()?
        };
        Some((lo + i) as u32)
    }

    /// The person at an index.
    pub fn person(&self, i: usize) -> &Person {
        &self.entries[i].person
    }
}

fn token_hint(cell: &[u8]) -> &'static str {
    if cell.trim_ascii().is_empty() {
        "; the cell is empty"
    } else if canonicalise(cell).is_ok() {
        "; it looks like a raw NHS number: this file has not been tokenised. Run `pseudolink tokenise` on it first, and never pass raw NHS numbers to the ICB"
    } else {
        ""
    }
}

/// Parses a date cell, with errors that name the row and column.
pub fn date_cell(cell: &[u8], file: &Source, row: u64, column: &str) -> Result<Date> {
    let d = date::parse(cell).ok_or_else(|| Error::BadDate {
        file: file.clone(),
        row,
        column: column.to_string(),
        shown: shown_value(cell),
    })?;
    if !date::plausible(d) {
        return Err(Error::DateOutOfRange {
            file: file.clone(),
            row,
            column: column.to_string(),
            date: d.to_string(),
        });
    }
    Ok(d)
}

fn open_with_header(file: &Source, csv: CsvOptions) -> Result<RecordReader<Box<dyn Read + Send>>> {
    let csv = CsvOptions {
        has_headers: true,
        ..csv
    };
    let reader = RecordReader::new(open_input(file)?, file.clone(), csv)?;
    if reader.header().is_none() {
        return Err(Error::EmptyFile {
            file: file.clone(),
            hint: "",
        });
    }
    Ok(reader)
}

fn header_name(reader: &RecordReader<Box<dyn Read + Send>>, col: usize) -> String {
    reader
        .header()
        .map(|h| h.names[col].clone())
        .unwrap_or_default()
}

/// Reads the cohort file. Each token keeps its earliest intervention date.
pub fn load_cohort(
    file: &Source,
    csv: CsvOptions,
    cols: &CohortColumns,
    months: i32,
) -> Result<Cohort> {
    let mut reader = open_with_header(file, csv)?;
    let n = reader.n_fields()?.unwrap_or(0);
    let resolve = |spec: &ColumnSpec, flag: &str, r: &RecordReader<_>| {
        resolve_column(spec, r.header(), n, file, flag)
    };
    let token_col = resolve(&cols.token, "--cohort-token-column", &reader)?;
    let date_col = resolve(&cols.date, "--cohort-date-column", &reader)?;
    let group_cols = cols
        .group_by
        .iter()
        .map(|g| resolve(g, "--group-by", &reader))
        .collect::<Result<Vec<_>>>()?;
    let date_name = header_name(&reader, date_col);
    let token_name = header_name(&reader, token_col);
    let group_columns = group_cols
        .iter()
        .map(|&c| header_name(&reader, c))
        .collect();

    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut rows_read = 0u64;
    // Reserve for the most rows the file could hold (a token row is at
    // least 77 bytes); untouched capacity costs no memory.
    let mut entries: Vec<Entry> = Vec::new();
    if let Some(len) = file
        .path()
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
    {
        entries.reserve((len / 77).min(u32::MAX as u64) as usize);
    }
    let mut group_ids: HashMap<Vec<String>, u32> = HashMap::new();
    let mut key = Vec::with_capacity(group_cols.len());
    while let Some(batch) = reader.next_batch()? {
        crate::interrupt::check()?;
        for i in 0..batch.len() {
            let row = batch.row(i);
            let cell = batch.field(i, token_col);
            let token = parse_token(cell.trim_ascii()).ok_or_else(|| Error::BadToken {
                file: file.clone(),
                row,
                column: token_name.clone(),
                hint: token_hint(&cell),
            })?;
            let d = date_cell(&batch.field(i, date_col), file, row, &date_name)?;
            key.clear();
            for &c in &group_cols {
                let v = String::from_utf8_lossy(&batch.field(i, c))
                    .trim()
                    .to_string();
                key.push(if v.is_empty() {
                    "(blank)".to_string()
                } else {
                    v
                });
            }
            let group = match group_ids.get(&key) {
                Some(&g) => g,
                None => {
                    let g = groups.len() as u32;
                    groups.push(key.clone());
                    group_ids.insert(key.clone(), g);
                    g
                }
            };
            let order = u32::try_from(rows_read).map_err(|_| {
                Error::Usage(format!(
                    "{file}: a cohort of more than 4 billion rows is not supported"
                ))
            })?;
            entries.push(Entry {
                token,
                person: Person::new(d, months, group),
                order,
            });
            rows_read += 1;
        }
    }
    let (entries, buckets, shift, duplicate_tokens) = Cohort::index(entries);
    Ok(Cohort {
        entries,
        buckets,
        shift,
        groups,
        group_columns,
        rows_read,
        duplicate_tokens,
    })
}

/// How usage rows identify people.
pub enum UsageIds<'a> {
    /// NHS numbers, tokenised in memory with this key.
    Nhs(&'a Tokeniser),
    /// Tokens made with the same key.
    Tokens,
}

/// Which usage columns to use.
#[derive(Clone, Debug)]
pub struct UsageColumns {
    /// The NHS-number or token column.
    pub id: ColumnSpec,
    /// The event date column.
    pub date: ColumnSpec,
    /// The event type column.
    pub event_type: ColumnSpec,
}

/// Per-person event counts from the usage file, before any exclusion.
pub struct Usage {
    /// Event types in sorted order.
    pub types: Vec<String>,
    /// `counts[t][p]` = [pre, post] events of type `t` for person `p`.
    pub counts: Vec<Vec<[u32; 2]>>,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows whose person is in the cohort.
    pub rows_matched: u64,
    /// Rows with a valid id not in the cohort.
    pub rows_not_in_cohort: u64,
    /// Rows with an invalid NHS number, by reason (key mode).
    pub invalid_numbers: ReasonCounts,
    /// Rows whose token cell is not 64 hex characters (token mode).
    pub invalid_tokens: u64,
    /// Matched events outside both windows.
    pub events_outside_windows: u64,
    /// Earliest and latest event date seen.
    pub date_range: Option<(Date, Date)>,
}

impl Usage {
    /// Rows whose id could not be used.
    pub fn rows_invalid(&self) -> u64 {
        self.invalid_numbers.total() + self.invalid_tokens
    }
}

const NOBODY: u32 = u32::MAX;

struct Parsed {
    batch: Batch,
    /// Person index (or NOBODY) and event date, per row.
    rows: Vec<(u32, Date)>,
    invalid_numbers: ReasonCounts,
    invalid_tokens: u64,
    not_in_cohort: u64,
    range: Option<(Date, Date)>,
}

/// The cohort index of a token's person, or [`NOBODY`] (counted as not in
/// the cohort).
fn find_person(cohort: &Cohort, token: &[u8; 32], not_in_cohort: &mut u64) -> u32 {
    match cohort.find(token) {
        Some(p) => p,
        None => {
            *not_in_cohort += 1;
            NOBODY
        }
    }
}

/// Streams the usage file and counts each cohort member's events by window.
pub fn count_usage(
    file: &Source,
    csv: CsvOptions,
    cols: &UsageColumns,
    ids: &UsageIds<'_>,
    cohort: &Cohort,
    threads: usize,
    progress: &Progress,
) -> Result<Usage> {
    let mut reader = open_with_header(file, csv)?;
    let n = reader.n_fields()?.unwrap_or(0);
    let id_flag = match ids {
        UsageIds::Nhs(_) => "--usage-nhs-column",
        UsageIds::Tokens => "--usage-token-column",
    };
    let id_col = resolve_column(&cols.id, reader.header(), n, file, id_flag)?;
    let date_col = resolve_column(&cols.date, reader.header(), n, file, "--event-date-column")?;
    let type_col = resolve_column(
        &cols.event_type,
        reader.header(),
        n,
        file,
        "--event-type-column",
    )?;
    let date_name = header_name(&reader, date_col);
    let type_name = header_name(&reader, type_col);

    let mut usage = Usage {
        types: Vec::new(),
        counts: Vec::new(),
        rows_read: 0,
        rows_matched: 0,
        rows_not_in_cohort: 0,
        invalid_numbers: ReasonCounts::default(),
        invalid_tokens: 0,
        events_outside_windows: 0,
        date_range: None,
    };
    let recycler = reader.recycler();
    let rows_pool: Pool<Vec<(u32, Date)>> = Pool::default();
    let work = |batch: Batch| -> Result<Parsed> {
        let mut out = Parsed {
            rows: rows_pool.get(),
            batch,
            invalid_numbers: ReasonCounts::default(),
            invalid_tokens: 0,
            not_in_cohort: 0,
            range: None,
        };
        out.rows.clear();
        let b = &out.batch;
        // With NHS numbers, the valid rows' numbers wait here (with their
        // row) so that their tokens can be made a group at a time.
        let mut waiting_rows = Vec::new();
        let mut waiting_numbers = Vec::new();
        for i in 0..b.len() {
            let d = date_cell(&b.field(i, date_col), file, b.row(i), &date_name)?;
            out.range = Some(match out.range {
                None => (d, d),
                Some((lo, hi)) => (lo.min(d), hi.max(d)),
            });
            let cell = b.field(i, id_col);
            let person = match ids {
                UsageIds::Nhs(_) => {
                    match canonicalise(&cell) {
                        Ok(number) => {
                            waiting_rows.push(i);
                            waiting_numbers.push(number);
                        }
                        Err(reason) => out.invalid_numbers.add(reason),
                    }
                    NOBODY
                }
                UsageIds::Tokens => match parse_token(cell.trim_ascii()) {
                    Some(t) => find_person(cohort, &t, &mut out.not_in_cohort),
                    None => {
                        out.invalid_tokens += 1;
                        NOBODY
                    }
                },
            };
            out.rows.push((person, d));
        }
        if let UsageIds::Nhs(t) = ids {
            t.each_token(&waiting_numbers, |k, token| {
                out.rows[waiting_rows[k]].0 = find_person(cohort, token, &mut out.not_in_cohort);
            });
        }
        Ok(out)
    };
    let mut type_index: Vec<(Vec<u8>, usize)> = Vec::new();
    let consume = |parsed: Result<Parsed>| -> Result<()> {
        let p = parsed?;
        let b = &p.batch;
        for (i, &(person, d)) in p.rows.iter().enumerate() {
            let ty = b.field(i, type_col);
            let ty = ty.trim_ascii();
            let t = match type_index.iter().find(|(name, _)| name.as_slice() == ty) {
                Some(&(_, t)) => t,
                None => {
                    let name = std::str::from_utf8(ty)
                        .ok()
                        .filter(|s| !s.is_empty() && s.len() <= 64)
                        .ok_or_else(|| Error::Usage(format!(
                            "{file}: row {}, column {type_name:?}: the event type is empty, too long or not UTF-8 text; every usage row needs a type such as AE or NEL",
                            b.row(i)
                        )))?;
                    usage.types.push(name.to_string());
                    usage.counts.push(vec![[0, 0]; cohort.len()]);
                    type_index.push((ty.to_vec(), usage.types.len() - 1));
                    usage.types.len() - 1
                }
            };
            if person == NOBODY {
                continue;
            }
            usage.rows_matched += 1;
            let slot = &mut usage.counts[t][person as usize];
            match cohort.person(person as usize).window(d) {
                Window::Pre => slot[0] += 1,
                Window::Post => slot[1] += 1,
                Window::Outside => usage.events_outside_windows += 1,
            }
        }
        usage.rows_read += b.len() as u64;
        usage.rows_not_in_cohort += p.not_in_cohort;
        usage.invalid_numbers.merge(&p.invalid_numbers);
        usage.invalid_tokens += p.invalid_tokens;
        if let Some((lo, hi)) = p.range {
            usage.date_range = Some(match usage.date_range {
                None => (lo, hi),
                Some((a, b)) => (a.min(lo), b.max(hi)),
            });
        }
        let Parsed {
            mut batch, rows, ..
        } = p;
        batch.clear();
        recycler.put(batch);
        rows_pool.put(rows);
        Ok(())
    };
    let produce = || {
        crate::interrupt::check()?;
        let batch = reader.next_batch()?;
        progress.update(reader.bytes_read(), reader.rows());
        Ok(batch)
    };
    run_ordered(threads, produce, work, consume)?;
    progress.finish();
    // Report event types in a stable order.
    let mut order: Vec<usize> = (0..usage.types.len()).collect();
    order.sort_by(|&a, &b| usage.types[a].cmp(&usage.types[b]));
    usage.types = order.iter().map(|&i| usage.types[i].clone()).collect();
    let mut counts = std::mem::take(&mut usage.counts);
    usage.counts = order
        .iter()
        .map(|&i| std::mem::take(&mut counts[i]))
        .collect();
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        date::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn window_boundaries() {
        let p = Person::new(d("2024-07-15"), 6, 0);
        assert_eq!(
            p.window(d("2024-01-15")),
            Window::Pre,
            "exactly d - N months is pre"
        );
        assert_eq!(p.window(d("2024-01-14")), Window::Outside);
        assert_eq!(p.window(d("2024-07-14")), Window::Pre);
        assert_eq!(p.window(d("2024-07-15")), Window::Post, "d itself is post");
        assert_eq!(p.window(d("2025-01-14")), Window::Post);
        assert_eq!(
            p.window(d("2025-01-15")),
            Window::Outside,
            "d + N months is outside"
        );
    }

    #[test]
    fn month_end_clamping_in_windows() {
        let p = Person::new(d("2024-01-31"), 1, 0);
        assert_eq!(p.post_end, d("2024-02-29"));
        assert_eq!(p.pre_start, d("2023-12-31"));
        assert_eq!(p.window(d("2024-02-28")), Window::Post);
        assert_eq!(p.window(d("2024-02-29")), Window::Outside);
        let q = Person::new(d("2024-03-31"), 1, 0);
        assert_eq!(q.pre_start, d("2024-02-29"));
        assert_eq!(q.window(d("2024-02-29")), Window::Pre);
        assert_eq!(q.window(d("2024-02-28")), Window::Outside);
    }

    #[test]
    fn coverage() {
        let p = Person::new(d("2024-07-15"), 6, 0);
        assert!(p.complete_within(d("2024-01-15"), d("2025-01-14")));
        assert!(!p.complete_within(d("2024-01-16"), d("2025-01-14")));
        assert!(!p.complete_within(d("2024-01-15"), d("2025-01-13")));
    }

    #[test]
    fn index_keeps_the_earliest_date_and_finds_every_token() {
        let mut entries = Vec::new();
        let tok = |i: u32| -> [u8; 32] {
            let mut t = [0u8; 32];
            t[..4].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
            t[31] = i as u8;
            t
        };
        for i in 0..1000u32 {
            entries.push(Entry {
                token: tok(i),
                person: Person::new(d("2024-06-01"), 6, i % 3),
                order: i,
            });
        }
        // Duplicates: a later date (ignored) and an earlier one (kept).
        entries.push(Entry {
            token: tok(5),
            person: Person::new(d("2024-09-01"), 6, 9),
            order: 1000,
        });
        entries.push(Entry {
            token: tok(7),
            person: Person::new(d("2024-01-01"), 6, 8),
            order: 1001,
        });
        let (entries, buckets, shift, dups) = Cohort::index(entries);
        let c = Cohort {
            entries,
            buckets,
            shift,
            groups: vec![],
            group_columns: vec![],
            rows_read: 1002,
            duplicate_tokens: dups,
        };
        assert_eq!(c.len(), 1000);
        assert_eq!(c.duplicate_tokens, 2);
        for i in 0..1000 {
            let at = c.find(&tok(i)).expect("present") as usize;
            assert_eq!(c.entries[at].token, tok(i));
        }
        assert_eq!(
            c.person(c.find(&tok(5)).unwrap() as usize).date,
            d("2024-06-01")
        );
        let seven = c.person(c.find(&tok(7)).unwrap() as usize);
        assert_eq!((seven.date, seven.group), (d("2024-01-01"), 8));
        assert_eq!(c.find(&[0xff; 32]), None);
    }

    #[test]
    fn token_hints() {
        assert!(token_hint(b"943 476 5919").contains("not been tokenised"));
        assert!(token_hint(b"  ").contains("empty"));
        assert_eq!(token_hint(b"abc"), "");
    }
}
