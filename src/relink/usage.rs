//! The usage extract (docs/SPEC.md section 6): streamed in batches, in parallel.
//! Workers parse dates and (with a key) tokenise NHS numbers in memory; one
//! consumer applies the counts in file order, so results and errors do not
//! depend on the thread count. Memory is constant in the usage file.
//!
//! Section 7's measures are kept only when asked for: with a value column,
//! each person's value sum per type and window (16 bytes a person and
//! type); with `--within`, the day of each person's first post-window event
//! of each type (2 bytes a person and type).

use jiff::civil::Date;

use super::cohort::{date_cell, header_name, open_with_header, Cohort};
use super::population::Population;
use super::values::parse_milli;
use super::windows::{Window, EARLIEST};
use crate::error::{shown_value, Error, Result, Source};
use crate::io::csv::{resolve_column, Batch, ColumnSpec, CsvOptions};
use crate::io::pipeline::{run_ordered, Pool};
use crate::io::progress::Progress;
use crate::provider::nhs::{canonicalise, ReasonCounts};
use crate::provider::token::{parse_token, Tokeniser};

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
    /// A column of values to sum per window (bed days, cost), if any.
    pub value: Option<ColumnSpec>,
    /// Also keep the day of each person's first post-window event of each
    /// type (for `--within`).
    pub first_post: bool,
}

/// No post-window event of that type.
pub const NO_POST_EVENT: u16 = u16::MAX;

/// Whose events are counted: the cohort's, and with a comparison group the
/// population's as well.
#[derive(Clone, Copy)]
pub struct People<'a> {
    /// The cohort.
    pub cohort: &'a Cohort,
    /// The population, with `--population`.
    pub population: Option<&'a Population>,
}

/// A population event, packed: the person's number (32 bits), the day
/// (days since 1900-01-01, 24 bits) and the event type (8 bits), so that
/// sorting the numbers sorts by person, then day.
pub fn pack_event(person: u32, day: u32, event_type: usize) -> u64 {
    (u64::from(person) << 32) | (u64::from(day) << 8) | event_type as u64
}

/// The parts of a packed event: person, day, type.
pub fn unpack_event(e: u64) -> (u32, u32, usize) {
    (
        (e >> 32) as u32,
        ((e >> 8) & 0xFF_FFFF) as u32,
        (e & 0xFF) as usize,
    )
}

/// Days since 1900-01-01.
pub fn day_number(d: Date) -> u32 {
    (d - EARLIEST).get_days().max(0) as u32
}

/// At most this many event types with `--population` (8 bits a type).
pub const MAX_TYPES_WITH_POPULATION: usize = 255;

/// Per-person event counts from the usage file, before any exclusion.
pub struct Usage {
    /// Event types in sorted order.
    pub types: Vec<String>,
    /// `counts[t][p]` = [pre, post] events of type `t` for person `p`.
    pub counts: Vec<Vec<[u32; 2]>>,
    /// `values[t][p]` = [pre, post] sums of the value column, in
    /// thousandths; empty vectors without a value column.
    pub values: Vec<Vec<[u64; 2]>>,
    /// `first_post[t][p]` = days from the intervention to person `p`'s first
    /// post-window event of type `t`, or [`NO_POST_EVENT`]; empty vectors
    /// unless first events were asked for.
    pub first_post: Vec<Vec<u16>>,
    /// The value column's header name, when there is one.
    pub value_column: Option<String>,
    /// The population's events ([`pack_event`]), sorted; empty without a
    /// population.
    pub events: Vec<u64>,
    /// Rows whose person is in the population.
    pub rows_in_population: u64,
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

/// One usage row as a worker reads it: cohort index (or NOBODY), event
/// date, value in thousandths (0 without a value column), population number
/// (or NOBODY) and day number (with a population).
type Row = (u32, Date, u64, u32, u32);

struct Parsed {
    batch: Batch,
    /// Person index (or NOBODY), event date, value (thousandths; 0
    /// without a value column), and population number (or NOBODY) with the
    /// day number, per row.
    rows: Vec<Row>,
    invalid_numbers: ReasonCounts,
    invalid_tokens: u64,
    not_in_cohort: u64,
    range: Option<(Date, Date)>,
}

/// The cohort index of a token's person and their population number, each
/// [`NOBODY`] when absent (a person in neither is counted as not in the
/// cohort).
fn find_people(people: People<'_>, token: &[u8; 32], not_in_cohort: &mut u64) -> (u32, u32) {
    let in_population = people
        .population
        .and_then(|p| p.find(token))
        .unwrap_or(NOBODY);
    match people.cohort.find(token) {
        Some(p) => (p, in_population),
        None => {
            *not_in_cohort += 1;
            (NOBODY, in_population)
        }
    }
}

/// Streams the usage file and counts each cohort member's events by window.
pub fn count_usage(
    file: &Source,
    csv: CsvOptions,
    cols: &UsageColumns,
    ids: &UsageIds<'_>,
    people: People<'_>,
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
    let value_col = cols
        .value
        .as_ref()
        .map(|spec| resolve_column(spec, reader.header(), n, file, "--value-column"))
        .transpose()?;
    let date_name = header_name(&reader, date_col);
    let type_name = header_name(&reader, type_col);
    let value_name = value_col.map(|c| header_name(&reader, c));
    let first_post = cols.first_post;
    let cohort = people.cohort;
    let population = people.population;

    let mut usage = Usage {
        types: Vec::new(),
        counts: Vec::new(),
        values: Vec::new(),
        first_post: Vec::new(),
        value_column: value_name.clone(),
        events: Vec::new(),
        rows_in_population: 0,
        rows_read: 0,
        rows_matched: 0,
        rows_not_in_cohort: 0,
        invalid_numbers: ReasonCounts::default(),
        invalid_tokens: 0,
        events_outside_windows: 0,
        date_range: None,
    };
    if population.is_some() {
        // Room for an event per row the file could hold (a row is at least
        // 24 bytes): capacity never touched costs no memory, and the vector
        // never moves while it grows, so the peak stays at 8 bytes an event.
        if let Some(len) = file
            .path()
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
        {
            usage.events.reserve((len / 24) as usize);
        }
    }
    let recycler = reader.recycler();
    let rows_pool: Pool<Vec<Row>> = Pool::default();
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
            let value = match (value_col, &value_name) {
                (Some(c), Some(name)) => match parse_milli(&b.field(i, c)) {
                    None => 0,
                    Some(Ok(v)) => v,
                    Some(Err(why)) => {
                        return Err(Error::BadValue {
                            file: file.clone(),
                            row: b.row(i),
                            column: name.clone(),
                            shown: shown_value(&b.field(i, c)),
                            why: why.explain(),
                        })
                    }
                },
                _ => 0,
            };
            let cell = b.field(i, id_col);
            let day = if population.is_some() {
                day_number(d)
            } else {
                0
            };
            let (person, in_population) = match ids {
                UsageIds::Nhs(_) => {
                    match canonicalise(&cell) {
                        Ok(number) => {
                            waiting_rows.push(i);
                            waiting_numbers.push(number);
                        }
                        Err(reason) => out.invalid_numbers.add(reason),
                    }
                    (NOBODY, NOBODY)
                }
                UsageIds::Tokens => match parse_token(cell.trim_ascii()) {
                    Some(t) => find_people(people, &t, &mut out.not_in_cohort),
                    None => {
                        out.invalid_tokens += 1;
                        (NOBODY, NOBODY)
                    }
                },
            };
            out.rows.push((person, d, value, in_population, day));
        }
        if let UsageIds::Nhs(t) = ids {
            t.each_token(&waiting_numbers, |k, token| {
                let (person, in_population) = find_people(people, token, &mut out.not_in_cohort);
                let row = &mut out.rows[waiting_rows[k]];
                row.0 = person;
                row.3 = in_population;
            });
        }
        Ok(out)
    };
    let mut type_index: Vec<(Vec<u8>, usize)> = Vec::new();
    let consume = |parsed: Result<Parsed>| -> Result<()> {
        let p = parsed?;
        let b = &p.batch;
        for (i, &(person, d, value, in_population, day)) in p.rows.iter().enumerate() {
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
                    if population.is_some() && usage.types.len() >= MAX_TYPES_WITH_POPULATION {
                        return Err(Error::Usage(format!(
                            "{file}: row {}: more than {MAX_TYPES_WITH_POPULATION} event types; a comparison group (--population) handles at most {MAX_TYPES_WITH_POPULATION}",
                            b.row(i)
                        )));
                    }
                    usage.types.push(name.to_string());
                    usage.counts.push(vec![[0, 0]; cohort.len()]);
                    let people_if = |on: bool| if on { cohort.len() } else { 0 };
                    usage
                        .values
                        .push(vec![[0, 0]; people_if(value_col.is_some())]);
                    usage
                        .first_post
                        .push(vec![NO_POST_EVENT; people_if(first_post)]);
                    type_index.push((ty.to_vec(), usage.types.len() - 1));
                    usage.types.len() - 1
                }
            };
            if in_population != NOBODY {
                usage.rows_in_population += 1;
                usage.events.push(pack_event(in_population, day, t));
            }
            if person == NOBODY {
                continue;
            }
            usage.rows_matched += 1;
            let p = person as usize;
            let who = cohort.person(p);
            let w = match who.window(d) {
                Window::Pre => 0,
                Window::Post => 1,
                Window::Outside => {
                    usage.events_outside_windows += 1;
                    continue;
                }
            };
            usage.counts[t][p][w] += 1;
            if value_col.is_some() {
                usage.values[t][p][w] += value;
            }
            if first_post && w == 1 {
                let slot = &mut usage.first_post[t][p];
                *slot = (*slot).min(who.days_to(d));
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
        crate::io::interrupt::check()?;
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
    fn reorder<T>(v: &mut Vec<Vec<T>>, order: &[usize]) {
        let mut old = std::mem::take(v);
        *v = order.iter().map(|&i| std::mem::take(&mut old[i])).collect();
    }
    if !usage.events.is_empty() {
        // Types were numbered as they appeared; renumber them in the
        // report's order, then sort by person and day.
        let mut new_index = vec![0usize; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        for e in usage.events.iter_mut() {
            let (person, day, t) = unpack_event(*e);
            *e = pack_event(person, day, new_index[t]);
        }
        usage.events.sort_unstable();
    }
    reorder(&mut usage.counts, &order);
    reorder(&mut usage.values, &order);
    reorder(&mut usage.first_post, &order);
    Ok(usage)
}
