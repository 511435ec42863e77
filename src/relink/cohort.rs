//! The cohort (docs/SPEC.md section 6): one entry per distinct token with its first
//! intervention date and group, indexed for lookup by token.
//!
//! Memory is O(cohort): each person costs a 32-byte token in the index, a
//! 16-byte [`Person`] and 8 bytes of counts per event type (in
//! [`super::usage`]).

use std::collections::HashMap;
use std::io::Read;

use jiff::civil::Date;

use super::disclosure::looks_like_identifier;
use super::windows::{parse_date, plausible, Person};
use crate::error::{shown_value, Error, Result, Source};
use crate::io::csv::{open_input, resolve_column, ColumnSpec, CsvOptions, RecordReader};
use crate::provider::nhs::canonicalise;
use crate::provider::token::parse_token;

/// Which cohort columns to use.
#[derive(Clone, Debug)]
pub struct CohortColumns {
    /// The token column.
    pub token: ColumnSpec,
    /// The intervention date column.
    pub date: ColumnSpec,
    /// Columns to group by.
    pub group_by: Vec<ColumnSpec>,
    /// Columns a control must share with its case (`--match-on`), by name.
    pub match_on: Vec<ColumnSpec>,
    /// The date a person died or left the list (`--end-date-column`).
    pub end_date: Option<ColumnSpec>,
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
    /// The person's stratum of `--match-on` values (0 without matching).
    pub stratum: u32,
    /// The day they died or left the list (`u32::MAX`: still registered).
    pub end_day: u32,
}

/// Distinct tuples of `--match-on` values, numbered in order of first
/// appearance: the strata inside which controls are found.
#[derive(Clone, Debug, Default)]
pub struct Strata {
    ids: HashMap<Vec<String>, u32>,
    /// The values of each stratum.
    pub values: Vec<Vec<String>>,
}

impl Strata {
    /// The id of a tuple of values, adding it when new.
    pub fn intern(&mut self, key: &[String]) -> u32 {
        if let Some(&s) = self.ids.get(key) {
            return s;
        }
        let s = self.values.len() as u32;
        self.values.push(key.to_vec());
        self.ids.insert(key.to_vec(), s);
        s
    }

    /// The id of a tuple of values already seen.
    pub fn get(&self, key: &[String]) -> Option<u32> {
        self.ids.get(key).copied()
    }

    /// How many strata there are.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A cell's text as a group or stratum value: trimmed, `(blank)` when empty.
pub fn label(cell: &[u8]) -> String {
    let v = String::from_utf8_lossy(cell).trim().to_string();
    if v.is_empty() {
        "(blank)".to_string()
    } else {
        v
    }
}

/// A bucket index on tokens' leading bits, over a slice sorted by token.
///
/// Tokens are HMAC outputs, so their leading bits are uniform: with about
/// one bucket per four tokens, a lookup reads one 4-byte bucket bound and
/// then scans a few adjacent entries.
#[derive(Clone, Debug, Default)]
pub struct TokenIndex {
    bounds: Vec<u32>,
    shift: u32,
}

impl TokenIndex {
    /// Builds the index over `n` tokens given in sorted order.
    pub fn build<'a>(tokens: impl Iterator<Item = &'a [u8; 32]>, n: usize) -> TokenIndex {
        let bits = (n / 4).max(1).ilog2() + 1;
        let shift = 64 - bits;
        let mut bounds = vec![0u32; (1usize << bits) + 1];
        for t in tokens {
            bounds[(lead(t) >> shift) as usize + 1] += 1;
        }
        for i in 1..bounds.len() {
            bounds[i] += bounds[i - 1];
        }
        TokenIndex { bounds, shift }
    }

    /// The position of `token` in `items` (sorted by token, as built).
    pub fn find<T>(
        &self,
        items: &[T],
        token: &[u8; 32],
        key: impl Fn(&T) -> &[u8; 32],
    ) -> Option<u32> {
        let b = (lead(token) >> self.shift) as usize;
        let (lo, hi) = (self.bounds[b] as usize, self.bounds[b + 1] as usize);
        let slice = &items[lo..hi];
        let i = if slice.len() <= 16 {
            slice.iter().position(|e| key(e) == token)?
        } else {
            slice.binary_search_by(|e| key(e).cmp(token)).ok()?
        };
        Some((lo + i) as u32)
    }
}

/// The cohort: one entry per distinct token, sorted by token, with a
/// [`TokenIndex`]. Memory is about 56 bytes a person plus 1 to 2 for the
/// buckets, with no hash-table slack.
pub struct Cohort {
    /// Entries sorted by token.
    pub entries: Vec<Entry>,
    index: TokenIndex,
    /// The strata of `--match-on` values (empty without matching).
    pub strata: Strata,
    /// Header names of the `--match-on` columns.
    pub match_columns: Vec<String>,
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
    fn index(mut entries: Vec<Entry>) -> (Vec<Entry>, TokenIndex, u64) {
        entries.sort_unstable_by(|a, b| {
            (a.token, a.person.date, a.order).cmp(&(b.token, b.person.date, b.order))
        });
        let before = entries.len();
        entries.dedup_by(|later, first| later.token == first.token);
        entries.shrink_to_fit();
        let duplicates = (before - entries.len()) as u64;
        let index = TokenIndex::build(entries.iter().map(|e| &e.token), entries.len());
        (entries, index, duplicates)
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
        self.index.find(&self.entries, token, |e| &e.token)
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
    let d = parse_date(cell).ok_or_else(|| Error::BadDate {
        file: file.clone(),
        row,
        column: column.to_string(),
        shown: shown_value(cell),
    })?;
    if !plausible(d) {
        return Err(Error::DateOutOfRange {
            file: file.clone(),
            row,
            column: column.to_string(),
            date: d.to_string(),
        });
    }
    Ok(d)
}

/// An `--end-date-column` cell as a day number (days since 1900-01-01):
/// `u32::MAX` when empty (still registered), an error naming the row and
/// column when not a date.
pub fn end_day_cell(cell: &[u8], file: &Source, row: u64, column: &str) -> Result<u32> {
    if cell.trim_ascii().is_empty() {
        return Ok(u32::MAX);
    }
    date_cell(cell, file, row, column).map(super::usage::day_number)
}

pub(super) fn open_with_header(
    file: &Source,
    csv: CsvOptions,
) -> Result<RecordReader<Box<dyn Read + Send>>> {
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

pub(super) fn header_name(reader: &RecordReader<Box<dyn Read + Send>>, col: usize) -> String {
    reader
        .header()
        .map(|h| h.names[col].clone())
        .unwrap_or_default()
}

/// Refuses label values that look like identifiers, naming the column
/// (never the value): section 6, rule 6.
pub fn refuse_identifiers(
    values: &[String],
    columns: &[String],
    file: &Source,
    flag: &'static str,
) -> Result<()> {
    match values.iter().position(|v| looks_like_identifier(v)) {
        Some(k) => Err(Error::IdentifierLabel {
            file: file.clone(),
            column: columns[k].clone(),
            flag,
        }),
        None => Ok(()),
    }
}

/// The cohort file's columns, resolved against its header, with the names
/// messages use.
struct Resolved {
    token: usize,
    date: usize,
    groups: Vec<usize>,
    matches: Vec<usize>,
    end: Option<usize>,
    token_name: String,
    date_name: String,
    end_name: String,
    group_columns: Vec<String>,
    match_columns: Vec<String>,
}

fn resolve_cohort(
    reader: &mut RecordReader<Box<dyn Read + Send>>,
    file: &Source,
    cols: &CohortColumns,
) -> Result<Resolved> {
    let n = reader.n_fields()?.unwrap_or(0);
    let h = reader.header();
    let one = |spec: &ColumnSpec, flag: &str| resolve_column(spec, h, n, file, flag);
    let many = |specs: &[ColumnSpec], flag: &str| -> Result<Vec<usize>> {
        specs.iter().map(|c| one(c, flag)).collect()
    };
    let token = one(&cols.token, "--cohort-token-column")?;
    let date = one(&cols.date, "--cohort-date-column")?;
    let groups = many(&cols.group_by, "--group-by")?;
    let matches = many(&cols.match_on, "--match-on")?;
    let end = cols
        .end_date
        .as_ref()
        .map(|c| one(c, "--end-date-column"))
        .transpose()?;
    let names = |cs: &[usize]| cs.iter().map(|&c| header_name(reader, c)).collect();
    Ok(Resolved {
        token,
        date,
        token_name: header_name(reader, token),
        date_name: header_name(reader, date),
        end_name: end.map(|c| header_name(reader, c)).unwrap_or_default(),
        group_columns: names(&groups),
        match_columns: names(&matches),
        groups,
        matches,
        end,
    })
}

/// The cohort as it is read: entries, groups and strata so far.
struct Building<'a> {
    file: &'a Source,
    cols: Resolved,
    months: i32,
    entries: Vec<Entry>,
    strata: Strata,
    groups: Vec<Vec<String>>,
    group_ids: HashMap<Vec<String>, u32>,
    rows_read: u64,
}

impl Building<'_> {
    /// The group of a row's group values, adding it when new (and refusing
    /// identifiers as labels, section 6 rule 6).
    fn group(&mut self, key: Vec<String>) -> Result<u32> {
        if let Some(&g) = self.group_ids.get(&key) {
            return Ok(g);
        }
        refuse_identifiers(&key, &self.cols.group_columns, self.file, "--group-by")?;
        let g = self.groups.len() as u32;
        self.groups.push(key.clone());
        self.group_ids.insert(key, g);
        Ok(g)
    }

    /// The stratum of a row's `--match-on` values, adding it when new.
    fn stratum(&mut self, key: &[String]) -> Result<u32> {
        // Without --match-on everyone shares the one empty stratum.
        let known = self.strata.len();
        let s = self.strata.intern(key);
        if self.strata.len() > known {
            refuse_identifiers(key, &self.cols.match_columns, self.file, "--match-on")?;
        }
        Ok(s)
    }

    /// Reads one row into an entry.
    fn row(&mut self, batch: &crate::io::csv::Batch, i: usize) -> Result<()> {
        let (file, row) = (self.file, batch.row(i));
        let cell = batch.field(i, self.cols.token);
        let token = parse_token(cell.trim_ascii()).ok_or_else(|| Error::BadToken {
            file: file.clone(),
            row,
            column: self.cols.token_name.clone(),
            hint: token_hint(&cell),
        })?;
        let d = date_cell(
            &batch.field(i, self.cols.date),
            file,
            row,
            &self.cols.date_name,
        )?;
        let labels = |cs: &[usize]| -> Vec<String> {
            cs.iter().map(|&c| label(&batch.field(i, c))).collect()
        };
        let group = self.group(labels(&self.cols.groups))?;
        let stratum = self.stratum(&labels(&self.cols.matches))?;
        let order = u32::try_from(self.rows_read).map_err(|_| {
            Error::Usage(format!(
                "{file}: a cohort of more than 4 billion rows is not supported"
            ))
        })?;
        let end_day = match self.cols.end {
            Some(c) => end_day_cell(&batch.field(i, c), file, row, &self.cols.end_name)?,
            None => u32::MAX,
        };
        self.entries.push(Entry {
            token,
            person: Person::new(d, self.months, group),
            order,
            stratum,
            end_day,
        });
        self.rows_read += 1;
        Ok(())
    }
}

/// Reads the cohort file. Each token keeps its earliest intervention date.
pub fn load_cohort(
    file: &Source,
    csv: CsvOptions,
    cols: &CohortColumns,
    months: i32,
) -> Result<Cohort> {
    let mut reader = open_with_header(file, csv)?;
    let resolved = resolve_cohort(&mut reader, file, cols)?;
    let mut b = Building {
        file,
        cols: resolved,
        months,
        entries: Vec::new(),
        strata: Strata::default(),
        groups: Vec::new(),
        group_ids: HashMap::new(),
        rows_read: 0,
    };
    // Reserve for the most rows the file could hold (a token row is at
    // least 77 bytes); untouched capacity costs no memory.
    if let Some(len) = file
        .path()
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
    {
        b.entries.reserve((len / 77).min(u32::MAX as u64) as usize);
    }
    while let Some(batch) = reader.next_batch()? {
        crate::io::interrupt::check()?;
        for i in 0..batch.len() {
            b.row(&batch, i)?;
        }
    }
    let (entries, index, duplicate_tokens) = Cohort::index(b.entries);
    Ok(Cohort {
        entries,
        index,
        strata: b.strata,
        match_columns: b.cols.match_columns,
        groups: b.groups,
        group_columns: b.cols.group_columns,
        rows_read: b.rows_read,
        duplicate_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        parse_date(s.as_bytes()).unwrap()
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
                stratum: 0,
                end_day: u32::MAX,
            });
        }
        // Duplicates: a later date (ignored) and an earlier one (kept).
        entries.push(Entry {
            token: tok(5),
            person: Person::new(d("2024-09-01"), 6, 9),
            order: 1000,
            stratum: 0,
            end_day: u32::MAX,
        });
        entries.push(Entry {
            token: tok(7),
            person: Person::new(d("2024-01-01"), 6, 8),
            order: 1001,
            stratum: 0,
            end_day: u32::MAX,
        });
        let (entries, index, dups) = Cohort::index(entries);
        let c = Cohort {
            entries,
            index,
            strata: Strata::default(),
            match_columns: vec![],
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
