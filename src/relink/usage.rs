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
use super::ids::UsageIds;
use super::population::Population;
use super::values::parse_milli;
use super::windows::{Window, EARLIEST};
use crate::error::{shown_value, Error, Result, Source};
use crate::io::csv::{resolve_column, Batch, ColumnSpec, CsvOptions, RecordReader};
use crate::io::pipeline::{run_ordered, Pool};
use crate::io::progress::Progress;
use crate::provider::nhs::{canonicalise, ReasonCounts};
use crate::provider::token::parse_token;

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
    /// Also count each person's events by month around the intervention
    /// (for `--event-study`).
    pub by_month: bool,
}

/// Months of the event study: offsets −12 to 11 from the intervention.
pub const EVENT_STUDY_MONTHS: std::ops::Range<i32> = -12..12;

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

/// At most this many distinct event types in a usage file: more means the
/// column is not a type (an identifier, a date or a free-text field).
pub const MAX_TYPES: usize = 1000;

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
    /// `by_month[t][p][m + 12]` = person `p`'s events of type `t` in month
    /// m of [`EVENT_STUDY_MONTHS`]; empty vectors unless asked for.
    pub by_month: Vec<Vec<[u16; 24]>>,
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
    /// Cohort members with at least one usage row.
    pub people_matched: u64,
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

/// The usage file's columns, resolved against its header.
struct Resolved {
    id: usize,
    date: usize,
    event_type: usize,
    value: Option<usize>,
    date_name: String,
    type_name: String,
    value_name: Option<String>,
}

fn resolve(
    reader: &mut RecordReader<Box<dyn std::io::Read + Send>>,
    file: &Source,
    cols: &UsageColumns,
    ids: &UsageIds<'_>,
) -> Result<Resolved> {
    let n = reader.n_fields()?.unwrap_or(0);
    let h = reader.header();
    let id = resolve_column(&cols.id, h, n, file, &ids.flag("usage"))?;
    let date = resolve_column(&cols.date, h, n, file, "--event-date-column")?;
    let event_type = resolve_column(&cols.event_type, h, n, file, "--event-type-column")?;
    let value = cols
        .value
        .as_ref()
        .map(|spec| resolve_column(spec, h, n, file, "--value-column"))
        .transpose()?;
    Ok(Resolved {
        id,
        date,
        event_type,
        value,
        date_name: header_name(reader, date),
        type_name: header_name(reader, event_type),
        value_name: value.map(|c| header_name(reader, c)),
    })
}

/// What a worker needs to parse a batch.
struct Parser<'a> {
    file: &'a Source,
    cols: &'a Resolved,
    ids: &'a UsageIds<'a>,
    people: People<'a>,
    rows_pool: &'a Pool<Vec<Row>>,
}

impl Parser<'_> {
    /// A row's value cell in thousandths (0 when empty or with no value
    /// column).
    fn value(&self, b: &Batch, i: usize) -> Result<u64> {
        let (Some(c), Some(name)) = (self.cols.value, &self.cols.value_name) else {
            return Ok(0);
        };
        match parse_milli(&b.field(i, c)) {
            None => Ok(0),
            Some(Ok(v)) => Ok(v),
            Some(Err(why)) => Err(Error::BadValue {
                file: self.file.clone(),
                row: b.row(i),
                column: name.clone(),
                shown: shown_value(&b.field(i, c)),
                why: why.explain(),
            }),
        }
    }

    /// Parses a batch: dates, values, and each row's person. With NHS
    /// numbers, the valid rows' numbers are tokenised a group at a time.
    fn parse(&self, batch: Batch) -> Result<Parsed> {
        let mut out = Parsed {
            rows: self.rows_pool.get(),
            batch,
            invalid_numbers: ReasonCounts::default(),
            invalid_tokens: 0,
            not_in_cohort: 0,
            range: None,
        };
        out.rows.clear();
        let b = &out.batch;
        let (mut waiting_rows, mut waiting_numbers) = (Vec::new(), Vec::new());
        for i in 0..b.len() {
            let d = date_cell(
                &b.field(i, self.cols.date),
                self.file,
                b.row(i),
                &self.cols.date_name,
            )?;
            out.range = Some(out.range.map_or((d, d), |(lo, hi)| (lo.min(d), hi.max(d))));
            let value = self.value(b, i)?;
            let cell = b.field(i, self.cols.id);
            let day = if self.people.population.is_some() {
                day_number(d)
            } else {
                0
            };
            let (person, in_population) = match self.ids {
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
                    Some(t) => find_people(self.people, &t, &mut out.not_in_cohort),
                    None => {
                        out.invalid_tokens += 1;
                        (NOBODY, NOBODY)
                    }
                },
            };
            out.rows.push((person, d, value, in_population, day));
        }
        if let UsageIds::Nhs(t) = self.ids {
            t.each_token(&waiting_numbers, |k, token| {
                let (person, in_population) =
                    find_people(self.people, token, &mut out.not_in_cohort);
                let row = &mut out.rows[waiting_rows[k]];
                row.0 = person;
                row.3 = in_population;
            });
        }
        Ok(out)
    }
}

/// The consumer's state: the counts so far and the event types seen.
struct Counter<'a> {
    usage: Usage,
    type_index: std::collections::HashMap<Vec<u8>, usize>,
    file: &'a Source,
    cols: &'a Resolved,
    people: People<'a>,
    first_post: bool,
    by_month: bool,
    /// Cohort members seen in the usage file so far.
    seen: Vec<bool>,
}

impl Counter<'_> {
    /// The number of an event type, adding it when new.
    fn type_of(&mut self, ty: &[u8], row: u64) -> Result<usize> {
        if let Some(&t) = self.type_index.get(ty) {
            return Ok(t);
        }
        let (file, type_name) = (self.file, &self.cols.type_name);
        let name = std::str::from_utf8(ty)
            .ok()
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .ok_or_else(|| Error::Usage(format!(
                "{file}: row {row}, column {type_name:?}: the event type is empty, too long or not UTF-8 text; every usage row needs a type such as AE or NEL"
            )))?;
        super::cohort::refuse_identifiers(
            &[name.to_string()],
            std::slice::from_ref(type_name),
            file,
            "--event-type-column",
        )?;
        let usage = &mut self.usage;
        if usage.types.len() >= MAX_TYPES {
            return Err(Error::Usage(format!(
                "{file}: row {row}, column {type_name:?}: more than {MAX_TYPES} distinct event types, so this is not a column of types such as AE and NEL\n  hint: name the right column with --event-type-column"
            )));
        }
        if self.people.population.is_some() && usage.types.len() >= MAX_TYPES_WITH_POPULATION {
            return Err(Error::Usage(format!(
                "{file}: row {row}: more than {MAX_TYPES_WITH_POPULATION} event types; a comparison group (--population) handles at most {MAX_TYPES_WITH_POPULATION}"
            )));
        }
        let n = self.people.cohort.len();
        usage.types.push(name.to_string());
        usage.counts.push(vec![[0, 0]; n]);
        let people_if = |on: bool| if on { n } else { 0 };
        usage
            .values
            .push(vec![[0, 0]; people_if(self.cols.value.is_some())]);
        usage
            .first_post
            .push(vec![NO_POST_EVENT; people_if(self.first_post)]);
        usage.by_month.push(vec![[0; 24]; people_if(self.by_month)]);
        self.type_index.insert(ty.to_vec(), usage.types.len() - 1);
        Ok(usage.types.len() - 1)
    }

    /// Counts one row of type `t`.
    fn count(&mut self, t: usize, &(person, d, value, in_population, day): &Row) {
        let usage = &mut self.usage;
        if in_population != NOBODY {
            usage.rows_in_population += 1;
            usage.events.push(pack_event(in_population, day, t));
        }
        if person == NOBODY {
            return;
        }
        usage.rows_matched += 1;
        let p = person as usize;
        if !std::mem::replace(&mut self.seen[p], true) {
            usage.people_matched += 1;
        }
        let who = self.people.cohort.person(p);
        if self.by_month {
            let m = super::windows::month_offset(who.date, d);
            if EVENT_STUDY_MONTHS.contains(&m) {
                let slot = &mut usage.by_month[t][p][(m + 12) as usize];
                *slot = slot.saturating_add(1);
            }
        }
        let w = match who.window(d) {
            Window::Pre => 0,
            Window::Post => 1,
            Window::Outside => {
                usage.events_outside_windows += 1;
                return;
            }
        };
        usage.counts[t][p][w] += 1;
        if self.cols.value.is_some() {
            usage.values[t][p][w] += value;
        }
        if self.first_post && w == 1 {
            let slot = &mut usage.first_post[t][p];
            *slot = (*slot).min(who.days_to(d));
        }
    }

    /// Counts a parsed batch, in file order, and adds up its tallies.
    fn apply(&mut self, p: &Parsed) -> Result<()> {
        let b = &p.batch;
        for (i, row) in p.rows.iter().enumerate() {
            let ty = b.field(i, self.cols.event_type);
            let t = self.type_of(ty.trim_ascii(), b.row(i))?;
            self.count(t, row);
        }
        let usage = &mut self.usage;
        usage.rows_read += b.len() as u64;
        usage.rows_not_in_cohort += p.not_in_cohort;
        usage.invalid_numbers.merge(&p.invalid_numbers);
        usage.invalid_tokens += p.invalid_tokens;
        if let Some((lo, hi)) = p.range {
            usage.date_range = Some(
                usage
                    .date_range
                    .map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))),
            );
        }
        Ok(())
    }
}

impl Usage {
    fn empty(value_column: Option<String>) -> Usage {
        Usage {
            types: Vec::new(),
            counts: Vec::new(),
            values: Vec::new(),
            first_post: Vec::new(),
            by_month: Vec::new(),
            value_column,
            events: Vec::new(),
            rows_in_population: 0,
            rows_read: 0,
            rows_matched: 0,
            people_matched: 0,
            rows_not_in_cohort: 0,
            invalid_numbers: ReasonCounts::default(),
            invalid_tokens: 0,
            events_outside_windows: 0,
            date_range: None,
        }
    }

    /// Puts event types in sorted order (types were numbered as they
    /// appeared), renumbering the population's events to match and sorting
    /// them by person and day.
    fn sort_types(&mut self) {
        let mut order: Vec<usize> = (0..self.types.len()).collect();
        order.sort_by(|&a, &b| self.types[a].cmp(&self.types[b]));
        self.types = order.iter().map(|&i| self.types[i].clone()).collect();
        fn reorder<T>(v: &mut Vec<Vec<T>>, order: &[usize]) {
            let mut old = std::mem::take(v);
            *v = order.iter().map(|&i| std::mem::take(&mut old[i])).collect();
        }
        if !self.events.is_empty() {
            let mut new_index = vec![0usize; order.len()];
            for (new, &old) in order.iter().enumerate() {
                new_index[old] = new;
            }
            for e in self.events.iter_mut() {
                let (person, day, t) = unpack_event(*e);
                *e = pack_event(person, day, new_index[t]);
            }
            self.events.sort_unstable();
        }
        reorder(&mut self.counts, &order);
        reorder(&mut self.values, &order);
        reorder(&mut self.first_post, &order);
        reorder(&mut self.by_month, &order);
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
    let resolved = resolve(&mut reader, file, cols, ids)?;
    let mut usage = Usage::empty(resolved.value_name.clone());
    if people.population.is_some() {
        // Room for an event per row the file could hold (a row is at least
        // 24 bytes): capacity never touched costs no memory, and the vector
        // never moves while it grows, so the peak stays at 8 bytes an event.
        if let Some(len) = file.path().and_then(|p| std::fs::metadata(p).ok()) {
            usage.events.reserve((len.len() / 24) as usize);
        }
    }
    let recycler = reader.recycler();
    let rows_pool: Pool<Vec<Row>> = Pool::default();
    let parser = Parser {
        file,
        cols: &resolved,
        ids,
        people,
        rows_pool: &rows_pool,
    };
    let mut counter = Counter {
        usage,
        type_index: std::collections::HashMap::new(),
        file,
        cols: &resolved,
        people,
        first_post: cols.first_post,
        by_month: cols.by_month,
        seen: vec![false; people.cohort.len()],
    };
    let consume = |parsed: Result<Parsed>| -> Result<()> {
        let p = parsed?;
        counter.apply(&p)?;
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
    run_ordered(threads, produce, |b| parser.parse(b), consume)?;
    progress.finish();
    let mut usage = counter.usage;
    usage.sort_types();
    Ok(usage)
}
