//! `relink` as a pipeline of named stages (docs/architecture.md draws it).
//! [`crate::cmd::relink::run`] calls them in order:
//!
//! 1. [`check_paths`]: outputs are new (or `--force`) and none is an input.
//! 2. [`check_keys`]: the manifests' and the key's ids agree.
//! 3. [`read_cohort`]: the tokenised cohort, one entry per person.
//! 4. [`read_population`]: with `--population`, the people controls come from.
//! 5. [`count_events`]: the usage file, counted per person and window.
//! 6. [`settle_coverage`]: the data's span, and who has complete windows.
//! 7. [`build_outcome`]: matching, the report and the costs, exact.
//! 8. [`write_outputs`]: every output, as released under disclosure control
//!    ([`write_files`] alone when the caller keeps the tables in memory).

use std::path::{Path, PathBuf};

use jiff::civil::Date;

use super::cohort::{load_cohort, Cohort, CohortColumns};
use super::costs::{CostReport, UnitCosts};
use super::disclosure::Disclosure;
use super::ids::UsageId;
use super::matching::{match_controls, MatchOptions};
use super::population::{load_population, Population, PopulationColumns};
use super::release::{ProseCounts, Release};
use super::report::{build, members};
use super::usage::{count_usage, People, Usage, UsageColumns};
use super::values::format_milli;
use super::{Outcome, PopulationSummary};
use crate::cmd::{load_key, Messages};
use crate::error::{shown_path, Error, Result, Source};
use crate::io::csv::{csv_write_error, ColumnSpec, CsvOptions};
use crate::io::output::{check_outputs, AtomicOutput, Transaction};
use crate::io::progress::{input_size, Progress};
use crate::provider::key::{Key, KeyId};
use crate::provider::manifest::Manifest;
use crate::provider::token::Tokeniser;

/// Checked options for `relink`.
#[derive(Clone, Debug)]
pub struct RelinkOptions {
    /// The tokenised cohort.
    pub cohort: Source,
    /// The usage extract.
    pub usage: Source,
    /// The key, when the usage file has NHS numbers.
    pub key: Option<PathBuf>,
    /// Report CSV; standard output when `None`.
    pub output: Option<PathBuf>,
    /// Record-level people file.
    pub people: Option<PathBuf>,
    /// Self-contained HTML report.
    pub html: Option<PathBuf>,
    /// Cohort token column; from the cohort's manifest, else `token`.
    pub cohort_token_column: Option<ColumnSpec>,
    /// Cohort intervention date column.
    pub cohort_date_column: ColumnSpec,
    /// Group-by columns.
    pub group_by: Vec<ColumnSpec>,
    /// Usage id column.
    pub usage_id: UsageId,
    /// Event date column.
    pub event_date_column: ColumnSpec,
    /// Event type column.
    pub event_type_column: ColumnSpec,
    /// Window length in months.
    pub months: i32,
    /// First day of the usage data's coverage.
    pub data_start: Option<Date>,
    /// Last day of the usage data's coverage.
    pub data_end: Option<Date>,
    /// Disclosure control.
    pub disclosure: Disclosure,
    /// CSV dialect of the cohort file.
    pub cohort_csv: CsvOptions,
    /// CSV dialect of the usage file.
    pub usage_csv: CsvOptions,
    /// Accept a cohort file without a manifest.
    pub no_manifest: bool,
    /// Accept a usage file in which nobody in the cohort appears.
    pub allow_no_matches: bool,
    /// `--within` days, in the order given.
    pub within: Vec<u32>,
    /// The usage column of values to sum (bed days, cost).
    pub value_column: Option<ColumnSpec>,
    /// Unit costs per event type.
    pub unit_costs: Option<Source>,
    /// The costs CSV.
    pub costs: Option<PathBuf>,
    /// The service's cost per patient, in thousandths of a pound.
    pub service_cost: Option<u64>,
    /// The ICB's registered population, for a matched comparison group.
    pub population: Option<Source>,
    /// How the population file identifies people.
    pub population_id: UsageId,
    /// CSV dialect of the population file.
    pub population_csv: CsvOptions,
    /// Columns a control shares with its case.
    pub match_on: Vec<ColumnSpec>,
    /// Matching: controls per case, seed, caliper.
    pub matching: MatchOptions,
    /// The balance table.
    pub balance: Option<PathBuf>,
    /// The disclosure log: every cell withheld, and why.
    pub disclosure_log: Option<PathBuf>,
    /// The event study: events by month around the intervention.
    pub event_study: Option<PathBuf>,
    /// Names for event types and columns in the HTML (`code,name`).
    pub labels: Option<PathBuf>,
    /// The cohort's and population's column of the date a person died or
    /// left the list.
    pub end_date_column: Option<ColumnSpec>,
    /// Replace existing outputs.
    pub force: bool,
    /// Worker threads.
    pub threads: usize,
    /// Messages setting.
    pub messages: Messages,
}

/// The input files of a run, as named in messages.
pub struct Inputs {
    /// The cohort file.
    pub cohort: Source,
    /// The usage file (may be standard input).
    pub usage: Source,
    /// The population file, with `--population`.
    pub population: Option<Source>,
}

/// Checks, before any work, that every output may be written and that no
/// output is an input or another output.
pub fn check_paths(opts: &RelinkOptions) -> Result<Inputs> {
    let cohort = opts.cohort.clone();
    // The usage extract may come from standard input (`--usage -`), e.g.
    // piped straight from a warehouse query.
    let usage = opts.usage.clone();
    let population = opts.population.clone();
    let outputs: Vec<&Path> = [
        opts.output.as_deref(),
        opts.people.as_deref(),
        opts.html.as_deref(),
        opts.costs.as_deref(),
        opts.balance.as_deref(),
        opts.disclosure_log.as_deref(),
        opts.event_study.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    // Every file read: the data, the key, the unit costs, and the
    // manifests beside the data.
    let mut read: Vec<Source> = [opts.key.as_ref(), opts.labels.as_ref()]
        .into_iter()
        .flatten()
        .map(|p| Source::Path(p.clone()))
        .collect();
    read.extend(opts.unit_costs.iter().cloned());
    for data in [Some(&cohort), Some(&usage), population.as_ref()]
        .into_iter()
        .flatten()
    {
        if let Some(p) = data.path() {
            read.push(Source::Path(crate::provider::manifest::path_for(p)));
        }
    }
    let mut inputs = vec![&cohort, &usage];
    inputs.extend(population.as_ref());
    inputs.extend(read.iter());
    check_outputs(&inputs, &outputs, opts.force)?;
    if opts.cohort == opts.usage {
        return Err(Error::SameFile {
            first: cohort,
            second: usage,
        });
    }
    Ok(Inputs {
        cohort,
        usage,
        population,
    })
}

/// Reads the unit-cost file, so that a bad one stops the run before the work.
pub fn read_unit_costs(opts: &RelinkOptions) -> Result<Option<(Source, UnitCosts)>> {
    opts.unit_costs
        .as_ref()
        .map(|file| UnitCosts::load(file).map(|u| (file.clone(), u)))
        .transpose()
}

/// What the key check found: the tokeniser (with `--key`), the key id all
/// files agree on, and the cohort's manifest.
pub struct Keys {
    /// The key's tokeniser, when a key was given.
    pub tokeniser: Option<Tokeniser>,
    /// The first key id seen, and where.
    pub key_id: Option<KeyId>,
    /// The cohort file's manifest, when there is one.
    pub cohort_manifest: Option<Manifest>,
}

/// Records the first key id seen, and refuses any later one that differs,
/// naming both.
fn agree(seen: &mut Option<(String, KeyId)>, what: String, id: KeyId) -> Result<()> {
    match seen {
        Some((first_what, first_id)) if *first_id != id => Err(Error::KeyIdMismatch {
            first_what: first_what.clone(),
            first_id: first_id.to_string(),
            second_what: what,
            second_id: id.to_string(),
        }),
        Some(_) => Ok(()),
        None => {
            *seen = Some((what, id));
            Ok(())
        }
    }
}

/// Reads the manifest beside `file`, if any, and checks its key id against
/// those seen so far.
fn check_manifest(
    file: &Path,
    what: &str,
    seen: &mut Option<(String, KeyId)>,
    msg: Messages,
) -> Result<Option<Manifest>> {
    let Some((path, m)) = Manifest::read_beside(file)? else {
        return Ok(None);
    };
    let id = m.key_id().expect("checked when read");
    agree(seen, format!("{what} ({})", shown_path(&path)), id)?;
    // The file must be the one the manifest describes: a manifest beside
    // another file (a second run's, say) vouches for the wrong key.
    let _ = msg;
    if let Ok(digest) = crate::provider::manifest::sha256_file(file) {
        if digest != m.sha256 {
            return Err(Error::ManifestDigest {
                file: Source::Path(file.to_path_buf()),
                manifest: shown_path(&path),
            });
        }
    }
    Ok(Some(m))
}

/// Checks that the cohort's, the usage file's and the population's
/// manifests and the key all carry one key id, and loads the key.
pub fn check_keys(opts: &RelinkOptions, inputs: &Inputs, preloaded: Option<&Key>) -> Result<Keys> {
    let msg = opts.messages;
    let mut seen: Option<(String, KeyId)> = None;
    // A table in memory has no manifest beside it: its caller checks the
    // key id (the Python package's `cohort_key_id`).
    let cohort_manifest = match inputs.cohort.path() {
        Some(path) => check_manifest(path, "the cohort file's manifest", &mut seen, msg)?,
        None => None,
    };
    if let (None, Some(path)) = (&cohort_manifest, inputs.cohort.path()) {
        let manifest = shown_path(&crate::provider::manifest::path_for(path));
        if !opts.no_manifest {
            return Err(Error::NoManifest {
                file: inputs.cohort.clone(),
                manifest,
            });
        }
        msg.warn(format!(
            "warning: no manifest beside {} ({manifest}), so its key id cannot be checked (--no-manifest)",
            inputs.cohort,
        ));
    }
    if let (UsageId::Token(_), Some(path)) = (&opts.usage_id, inputs.usage.path()) {
        check_manifest(path, "the usage file's manifest", &mut seen, msg)?;
    }
    let population = inputs.population.as_ref().and_then(Source::path);
    if let (UsageId::Token(_), Some(path)) = (&opts.population_id, population) {
        check_manifest(path, "the population file's manifest", &mut seen, msg)?;
    }
    let tokeniser = match (preloaded, &opts.key) {
        // A key already in memory (the Python package's `Key`): never
        // read again from a path.
        (Some(key), _) => {
            agree(&mut seen, "the key given".into(), key.id())?;
            Some(Tokeniser::new(key)?)
        }
        (None, Some(path)) => {
            let key = load_key(path, msg)?;
            let what = format!("the key file {}", shown_path(path));
            agree(&mut seen, what, key.id())?;
            Some(Tokeniser::new(&key)?)
        }
        (None, None) => None,
    };
    Ok(Keys {
        tokeniser,
        key_id: seen.map(|(_, id)| id),
        cohort_manifest,
    })
}

/// Reads the tokenised cohort: one entry per person, with their first
/// intervention, group and stratum.
pub fn read_cohort(opts: &RelinkOptions, inputs: &Inputs, keys: &Keys) -> Result<Cohort> {
    let token_column = opts.cohort_token_column.clone().unwrap_or_else(|| {
        ColumnSpec::Name(
            keys.cohort_manifest
                .as_ref()
                .map(|m| m.token_column.clone())
                .unwrap_or_else(|| "token".into()),
        )
    });
    let columns = CohortColumns {
        token: token_column,
        date: opts.cohort_date_column.clone(),
        group_by: opts.group_by.clone(),
        match_on: opts.match_on.clone(),
        end_date: opts.end_date_column.clone(),
    };
    let cohort = load_cohort(&inputs.cohort, opts.cohort_csv, &columns, opts.months)?;
    if cohort.is_empty() {
        return Err(Error::NothingToReport(format!(
            "{}: the cohort has no rows, so there is nobody to report on",
            inputs.cohort
        )));
    }
    Ok(cohort)
}

/// With `--population`, reads the people controls may come from: those in
/// a stratum some cohort member has.
pub fn read_population(
    opts: &RelinkOptions,
    inputs: &Inputs,
    keys: &Keys,
    cohort: &Cohort,
) -> Result<Option<Population>> {
    let Some(src) = &inputs.population else {
        return Ok(None);
    };
    let (id, ids) = opts
        .population_id
        .reader(keys.tokeniser.as_ref(), "population")?;
    let columns = PopulationColumns {
        id,
        match_on: cohort.match_columns.clone(),
        end_date: opts.end_date_column.clone(),
    };
    let p = load_population(src, opts.population_csv, &columns, &ids, &cohort.strata)?;
    if p.is_empty() {
        return Err(Error::NothingToReport(format!(
            "{src}: nobody in the population shares the --match-on values of anyone in the cohort ({} rows read), so no controls can be found; check that both files hold the same values (for example the same age bands)",
            p.rows_read
        )));
    }
    Ok(Some(p))
}

/// Streams the usage file and counts each person's events by window (and
/// the population's events, for matching).
pub fn count_events(
    opts: &RelinkOptions,
    inputs: &Inputs,
    keys: &Keys,
    cohort: &Cohort,
    population: Option<&Population>,
) -> Result<Usage> {
    let (id, ids) = opts.usage_id.reader(keys.tokeniser.as_ref(), "usage")?;
    let columns = UsageColumns {
        id,
        date: opts.event_date_column.clone(),
        event_type: opts.event_type_column.clone(),
        value: opts.value_column.clone(),
        first_post: !opts.within.is_empty(),
        by_month: opts.event_study.is_some(),
    };
    let progress = Progress::new("relink", input_size(&inputs.usage), opts.messages.quiet);
    let people = People { cohort, population };
    let usage = count_usage(
        &inputs.usage,
        opts.usage_csv,
        &columns,
        &ids,
        people,
        opts.threads,
        &progress,
    )?;
    if usage.rows_read == 0 {
        return Err(Error::NothingToReport(format!(
            "{}: the usage file has no data rows, so there are no events to count",
            inputs.usage
        )));
    }
    check_matches(opts, &usage)?;
    Ok(usage)
}

/// Below this share of the cohort found in the usage file, a warning says
/// the files may have been made under different keys.
pub const LOW_MATCH_SHARE: f64 = 0.05;

/// Nobody in the cohort found in the usage file is an error (unless
/// `--allow-no-matches`): tokens under another key never match, and a
/// report of zeros would pass for a real one. (A share under
/// [`LOW_MATCH_SHARE`] is warned about by `safety_warnings`.)
fn check_matches(opts: &RelinkOptions, usage: &Usage) -> Result<()> {
    if usage.people_matched == 0 && !opts.allow_no_matches {
        return Err(Error::NoMatches {
            rows: usage.rows_read,
        });
    }
    Ok(())
}

/// The run's safety warnings, printed on stderr even with `--quiet` and
/// kept in the [`Outcome`] (the Python package raises them as warnings):
/// exact output, a record-level people file, and a low match share.
fn safety_warnings(opts: &RelinkOptions, cohort: &Cohort, usage: &Usage) -> Vec<String> {
    let mut w = Vec::new();
    if opts.disclosure == Disclosure::None {
        w.push("warning: --disclosure none: the report shows exact small numbers and is NOT fit for release outside the ICB's analysts".to_string());
    }
    if let Some(p) = &opts.people {
        w.push(format!(
            "warning: {} holds one row per person (record-level): it is for the ICB's own analysts, never for release",
            shown_path(p)
        ));
    }
    let share = usage.people_matched as f64 / cohort.len().max(1) as f64;
    if share < LOW_MATCH_SHARE {
        w.push(format!(
            "warning: only {:.1}% of the cohort appear in the usage file (under {:.0}%): check that both files were made with the same key, and that the extract covers the cohort",
            100.0 * share,
            100.0 * LOW_MATCH_SHARE
        ));
    }
    for line in &w {
        opts.messages.alert(line);
    }
    w
}

/// The span the usage data covers, and who has both windows inside it.
pub struct Coverage {
    /// First day covered.
    pub start: Date,
    /// Last day covered.
    pub end: Date,
    /// Whether the span was inferred from the events.
    pub inferred: bool,
    /// Per cohort entry: both windows lie inside the span, and they did
    /// not die or leave the list before their post window ends.
    pub included: Vec<bool>,
    /// People with complete windows who died or left the list before
    /// their post window ends.
    pub left_before_window_end: u64,
}

impl Coverage {
    /// People with complete windows.
    pub fn n_included(&self) -> u64 {
        self.included.iter().filter(|&&b| b).count() as u64
    }
}

/// Settles the data's coverage (given, or inferred from the events with a
/// warning) and who has complete windows; nobody is an error.
pub fn settle_coverage(opts: &RelinkOptions, cohort: &Cohort, usage: &Usage) -> Result<Coverage> {
    let inferred = opts.data_start.is_none() || opts.data_end.is_none();
    let (lo, hi) = usage
        .date_range
        .expect("rows were read, so dates were seen");
    let start = opts.data_start.unwrap_or(lo);
    let end = opts.data_end.unwrap_or(hi);
    if inferred {
        opts.messages.warn(format!(
            "warning: the usage data's coverage was inferred from its earliest and latest events ({start} to {end}); give --data-start and --data-end if the extract covers a different span"
        ));
    }
    let mut left_before_window_end = 0;
    let included: Vec<bool> = cohort
        .entries
        .iter()
        .map(|e| {
            let complete = e.person.complete_within(start, end);
            let left = e.end_day < super::usage::day_number(e.person.post_end);
            left_before_window_end += u64::from(complete && left);
            complete && !left
        })
        .collect();
    let coverage = Coverage {
        start,
        end,
        inferred,
        included,
        left_before_window_end,
    };
    if coverage.n_included() == 0 {
        return Err(Error::NothingToReport(format!(
            "all {} people in the cohort have incomplete windows: with --months {} their windows reach outside the data's coverage ({start} to {end}). Give --data-start/--data-end if the extract covers more, or use fewer --months",
            cohort.len(),
            opts.months
        )));
    }
    Ok(coverage)
}

/// Everything read and counted, ready for [`build_outcome`].
pub struct Counted {
    /// The cohort.
    pub cohort: Cohort,
    /// The population, with `--population`.
    pub population: Option<Population>,
    /// The usage counts.
    pub usage: Usage,
    /// The coverage and who is included.
    pub coverage: Coverage,
    /// The key id the files agree on.
    pub key_id: Option<KeyId>,
}

/// Matches controls, then builds the report and the costs, all exact.
pub fn build_outcome(
    opts: &RelinkOptions,
    counted: Counted,
    unit_costs: Option<(Source, UnitCosts)>,
) -> Result<Outcome> {
    let Counted {
        cohort,
        population,
        usage,
        coverage,
        key_id,
    } = counted;
    let included = &coverage.included;
    let members = members(&cohort, included);
    let comparison = population
        .as_ref()
        .map(|p| match_controls(&cohort, &usage, p, included, opts.matching));
    let report = build(&cohort, &usage, &members, &opts.within, comparison.as_ref());
    let costs = match &unit_costs {
        Some((file, u)) => {
            let unit = u.for_types(&usage.types, file)?;
            let service = opts.service_cost;
            let c = comparison.as_ref();
            Some(CostReport::build(
                &report, &members, &usage, unit, service, c,
            ))
        }
        None => None,
    };
    let n_included = coverage.n_included();
    let prose = ProseCounts {
        excluded: cohort.len() as u64 - n_included,
        repeat_referrals: cohort.duplicate_tokens,
        usage_rows: usage.rows_read,
        usage_matched: usage.rows_matched,
        usage_unusable: usage.rows_invalid(),
    };
    let event_study = opts.event_study.as_ref().map(|_| {
        let span = (coverage.start, coverage.end);
        super::event_study::build(&cohort, &usage, &members, comparison.as_ref(), span)
    });
    let release = Release::new(
        &report,
        costs.as_ref(),
        comparison.as_ref(),
        event_study.as_ref().map(|e| (e, opts.months)),
        &prose,
        opts.disclosure,
    );
    let warnings = safety_warnings(opts, &cohort, &usage);
    let labels = match &opts.labels {
        Some(p) => super::labels::Labels::load(p)?,
        None => super::labels::Labels::default(),
    };
    Ok(Outcome {
        labels,
        warnings,
        release,
        event_study,
        report,
        costs,
        comparison,
        population: population.as_ref().map(PopulationSummary::of),
        key_id,
        coverage: (coverage.start, coverage.end, coverage.inferred),
        excluded_incomplete_window: cohort.len() as u64
            - n_included
            - coverage.left_before_window_end,
        left_before_window_end: coverage.left_before_window_end,
        included: n_included,
        included_flags: coverage.included,
        cohort,
        usage,
        written: Vec::new(),
    })
}

/// The outputs of a run, written to temporary files and renamed into
/// place together at the end.
struct Writing {
    force: bool,
    commit: Transaction,
    written: Vec<PathBuf>,
}

impl Writing {
    /// Writes one output to its temporary file and stages it.
    fn one(
        &mut self,
        path: &Path,
        fill: impl FnOnce(AtomicOutput) -> csv::Result<AtomicOutput>,
    ) -> Result<()> {
        let out = AtomicOutput::create(Some(path), self.force)?;
        let label = out.label().clone();
        let out = fill(out).map_err(|e| csv_write_error(&label, e))?;
        self.commit.add(out)?;
        self.written.push(path.to_path_buf());
        Ok(())
    }
}

/// Writes the people file, the HTML, the balance, the costs, the event
/// study, the disclosure log and the report (standard output when no `--output`),
/// each from the one [`Release`].
pub fn write_outputs(opts: &RelinkOptions, outcome: &mut Outcome) -> Result<()> {
    write_files(opts, outcome)?;
    if opts.output.is_none() {
        // Standard output goes last, once every file is in place.
        let out = AtomicOutput::create(None, opts.force)?;
        let out = outcome
            .release
            .report
            .write_csv(out)
            .map_err(|e| csv_write_error(&Source::Stdout, e))?;
        out.commit()?;
    }
    Ok(())
}

/// Writes every output that `opts` names a file for, together (all or
/// none): never standard output. The Python package calls this alone and
/// takes the report's tables from the [`Release`] in memory.
pub fn write_files(opts: &RelinkOptions, outcome: &mut Outcome) -> Result<()> {
    let release = &outcome.release;
    let mut w = Writing {
        force: opts.force,
        commit: Transaction::default(),
        written: Vec::new(),
    };
    if let Some(p) = &opts.people {
        w.one(p, |mut out| {
            write_people(&mut out, outcome)?;
            Ok(out)
        })?;
    }
    if let Some(p) = &opts.html {
        let page = super::html::render(outcome, opts.months);
        w.one(p, |mut out| {
            std::io::Write::write_all(&mut out, page.as_bytes())?;
            Ok(out)
        })?;
    }
    let tables = [
        (&opts.balance, &release.balance),
        (&opts.costs, &release.costs),
        (&opts.event_study, &release.event_study),
    ];
    for (path, table) in tables {
        if let (Some(p), Some(t)) = (path, table) {
            w.one(p, |out| t.write_csv(out))?;
        }
    }
    if let Some(p) = &opts.disclosure_log {
        w.one(p, |out| release.write_log(out))?;
    }
    if let Some(p) = &opts.output {
        w.one(p, |out| release.report.write_csv(out))?;
    }
    w.commit.commit()?;
    outcome.written = w.written;
    Ok(())
}

/// The people file: token, group columns, intervention date, then
/// `<type>_pre`, `<type>_post` per event type, for everyone in the report,
/// sorted by token (so the row order says nothing about referral order).
fn write_people<W: std::io::Write>(out: W, outcome: &Outcome) -> csv::Result<()> {
    let (cohort, usage) = (&outcome.cohort, &outcome.usage);
    let mut w = csv::Writer::from_writer(out);
    let safe = |s: &str| super::table::formula_safe(s).into_owned();
    let mut header: Vec<String> = vec!["token".into()];
    header.extend(cohort.group_columns.iter().map(|c| safe(c)));
    header.push("intervention_date".into());
    for t in &usage.types {
        header.push(safe(&format!("{t}_pre")));
        header.push(safe(&format!("{t}_post")));
    }
    if usage.value_column.is_some() {
        for t in &usage.types {
            header.push(safe(&format!("{t}_pre_value")));
            header.push(safe(&format!("{t}_post_value")));
        }
    }
    w.write_record(&header)?;
    let mut hex = [0u8; 64];
    for (i, entry) in cohort.entries.iter().enumerate() {
        if !outcome.included_flags[i] {
            continue;
        }
        let p = &entry.person;
        crate::provider::token::hex_into(&entry.token, &mut hex);
        let mut rec: Vec<String> = vec![String::from_utf8_lossy(&hex).into_owned()];
        rec.extend(cohort.groups[p.group as usize].iter().map(|g| safe(g)));
        rec.push(p.date.to_string());
        for counts in &usage.counts {
            rec.push(counts[i][0].to_string());
            rec.push(counts[i][1].to_string());
        }
        if usage.value_column.is_some() {
            for values in &usage.values {
                rec.push(format_milli(i128::from(values[i][0]), 3));
                rec.push(format_milli(i128::from(values[i][1]), 3));
            }
        }
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}
