//! The ICB's registered population (docs/SPEC.md section 8): the people a
//! matched comparison group is drawn from.
//!
//! Only people in a stratum (a tuple of `--match-on` values) that some
//! cohort member has are kept: nobody else can be a control. They are
//! numbered stratum by stratum, so that a stratum's people, and later
//! their events, are one contiguous range. Within a stratum the numbering
//! follows the token, a keyed and so unpredictable order. Memory is about
//! 40 bytes a person kept (a 32-byte token, a 4-byte number and the bucket
//! index).

use super::cohort::{end_day_cell, header_name, label, open_with_header, Strata, TokenIndex};
use super::ids::UsageIds;
use crate::error::{Error, Result, Source};
use crate::io::csv::{resolve_column, ColumnSpec, CsvOptions};
use crate::provider::nhs::{canonicalise, ReasonCounts};
use crate::provider::token::parse_token;

/// One person kept: their token and number.
#[derive(Clone, Copy, Debug)]
struct Entry {
    token: [u8; 32],
    id: u32,
}

/// The population, indexed by token.
pub struct Population {
    entries: Vec<Entry>,
    index: TokenIndex,
    /// People of stratum `s` are numbered `stratum_start[s]` up to
    /// `stratum_start[s + 1]`.
    pub stratum_start: Vec<u32>,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows whose person had appeared before (the first row is kept).
    pub duplicate_tokens: u64,
    /// Rows with an invalid NHS number, by reason (key mode).
    pub invalid_numbers: ReasonCounts,
    /// Rows whose token cell is not 64 hex characters (token mode).
    pub invalid_tokens: u64,
    /// Rows in a stratum no cohort member has.
    pub outside_strata: u64,
    /// Per person number: the day (section 8's day numbers) they died or
    /// left the list, `u32::MAX` for none; empty without
    /// `--end-date-column`.
    pub end_days: Vec<u32>,
}

/// Which population columns to use.
#[derive(Clone, Debug)]
pub struct PopulationColumns {
    /// The NHS-number or token column.
    pub id: ColumnSpec,
    /// The `--match-on` columns, by the names the cohort has them under.
    pub match_on: Vec<String>,
    /// The `--end-date-column`: when a person died or left the list.
    pub end_date: Option<ColumnSpec>,
}

impl Population {
    /// People kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nobody was kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The number of a token's person.
    pub fn find(&self, token: &[u8; 32]) -> Option<u32> {
        let at = self.index.find(&self.entries, token, |e| &e.token)?;
        Some(self.entries[at as usize].id)
    }

    /// The day person `p` died or left the list, `u32::MAX` for none.
    pub fn end_day(&self, p: u32) -> u32 {
        self.end_days.get(p as usize).copied().unwrap_or(u32::MAX)
    }

    /// The people of stratum `s`, as a range of numbers.
    pub fn stratum(&self, s: u32) -> std::ops::Range<u32> {
        self.stratum_start[s as usize]..self.stratum_start[s as usize + 1]
    }
}

/// The id, `--match-on` and end-date columns, and the end date's name.
fn resolve(
    reader: &mut crate::io::csv::RecordReader<Box<dyn std::io::Read + Send>>,
    file: &Source,
    cols: &PopulationColumns,
    ids: &UsageIds<'_>,
) -> Result<(usize, Vec<usize>, Option<usize>, String)> {
    let n = reader.n_fields()?.unwrap_or(0);
    let h = reader.header();
    let id = resolve_column(&cols.id, h, n, file, &ids.flag("population"))?;
    let matches = cols
        .match_on
        .iter()
        .map(|name| resolve_column(&ColumnSpec::Name(name.clone()), h, n, file, "--match-on"))
        .collect::<Result<Vec<_>>>()?;
    let end = cols
        .end_date
        .as_ref()
        .map(|c| resolve_column(c, h, n, file, "--end-date-column"))
        .transpose()?;
    let end_name = end.map(|c| header_name(reader, c)).unwrap_or_default();
    Ok((id, matches, end, end_name))
}

/// Reads the population file. Rows whose person appeared before are
/// counted and left out; rows with an unusable id are counted by reason.
pub fn load_population(
    file: &Source,
    csv: CsvOptions,
    cols: &PopulationColumns,
    ids: &UsageIds<'_>,
    strata: &Strata,
) -> Result<Population> {
    let mut reader = open_with_header(file, csv)?;
    let (id_col, match_cols, end_col, end_name) = resolve(&mut reader, file, cols, ids)?;

    let mut rows_read = 0u64;
    let mut invalid_numbers = ReasonCounts::default();
    let mut invalid_tokens = 0u64;
    let mut outside_strata = 0u64;
    // (token, stratum, row, end day) for every usable row in a cohort stratum.
    let mut kept: Vec<Kept> = Vec::new();
    let mut key: Vec<String> = Vec::with_capacity(match_cols.len());
    let mut waiting = Vec::new();
    while let Some(batch) = reader.next_batch()? {
        crate::io::interrupt::check()?;
        waiting.clear();
        let mut numbers = Vec::new();
        for i in 0..batch.len() {
            let row = u32::try_from(rows_read + i as u64).map_err(|_| {
                Error::Usage(format!(
                    "{file}: a population of more than 4 billion rows is not supported"
                ))
            })?;
            key.clear();
            for &c in &match_cols {
                key.push(label(&batch.field(i, c)));
            }
            let Some(stratum) = strata.get(&key) else {
                outside_strata += 1;
                continue;
            };
            let end = match end_col {
                Some(c) => end_day_cell(&batch.field(i, c), file, batch.row(i), &end_name)?,
                None => u32::MAX,
            };
            let cell = batch.field(i, id_col);
            match ids {
                UsageIds::Nhs(_) => match canonicalise(&cell) {
                    Ok(number) => {
                        waiting.push((stratum, row, end));
                        numbers.push(number);
                    }
                    Err(reason) => invalid_numbers.add(reason),
                },
                UsageIds::Tokens => match parse_token(cell.trim_ascii()) {
                    Some(t) => kept.push((t, stratum, row, end)),
                    None => invalid_tokens += 1,
                },
            }
        }
        if let UsageIds::Nhs(t) = ids {
            t.each_token(&numbers, |k, token| {
                let (stratum, row, end) = waiting[k];
                kept.push((*token, stratum, row, end));
            });
        }
        rows_read += batch.len() as u64;
    }
    Ok(index(
        kept,
        strata.len(),
        rows_read,
        invalid_numbers,
        invalid_tokens,
        outside_strata,
    ))
}

/// A usable population row: token, stratum, row, end day.
type Kept = ([u8; 32], u32, u32, u32);

/// Sorts, removes repeats (the first row wins) and numbers the people
/// stratum by stratum.
fn index(
    mut kept: Vec<Kept>,
    n_strata: usize,
    rows_read: u64,
    invalid_numbers: ReasonCounts,
    invalid_tokens: u64,
    outside_strata: u64,
) -> Population {
    kept.sort_unstable_by_key(|k| (k.0, k.2));
    let before = kept.len();
    kept.dedup_by(|later, first| later.0 == first.0);
    let duplicate_tokens = (before - kept.len()) as u64;
    let mut stratum_start = vec![0u32; n_strata + 1];
    for &(_, s, _, _) in &kept {
        stratum_start[s as usize + 1] += 1;
    }
    for s in 1..stratum_start.len() {
        stratum_start[s] += stratum_start[s - 1];
    }
    let mut next = stratum_start.clone();
    let any_end = kept.iter().any(|k| k.3 != u32::MAX);
    let mut end_days = vec![u32::MAX; if any_end { kept.len() } else { 0 }];
    let entries: Vec<Entry> = kept
        .iter()
        .map(|&(token, s, _, end)| {
            let id = next[s as usize];
            next[s as usize] += 1;
            if any_end {
                end_days[id as usize] = end;
            }
            Entry { token, id }
        })
        .collect();
    drop(kept);
    let index = TokenIndex::build(entries.iter().map(|e| &e.token), entries.len());
    Population {
        entries,
        index,
        stratum_start,
        rows_read,
        duplicate_tokens,
        invalid_numbers,
        invalid_tokens,
        outside_strata,
        end_days,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(i: u32) -> [u8; 32] {
        let mut t = [0u8; 32];
        t[..4].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
        t[31] = i as u8;
        t
    }

    #[test]
    fn people_are_numbered_stratum_by_stratum_and_found() {
        // 30 people over three strata, one repeated (its first row kept).
        let mut kept: Vec<Kept> = (0..30).map(|i| (tok(i), i % 3, i, u32::MAX)).collect();
        kept.push((tok(4), 2, 99, u32::MAX));
        let p = index(kept, 3, 31, ReasonCounts::default(), 0, 0);
        assert_eq!(p.len(), 30);
        assert_eq!(p.duplicate_tokens, 1);
        assert_eq!(p.stratum_start, [0, 10, 20, 30]);
        for i in 0..30 {
            let id = p.find(&tok(i)).unwrap();
            assert!(p.stratum(i % 3).contains(&id), "{i} -> {id}");
        }
        // Numbers are distinct.
        let mut ids: Vec<u32> = (0..30).map(|i| p.find(&tok(i)).unwrap()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 30);
        assert_eq!(p.find(&tok(1000)), None);
    }
}
