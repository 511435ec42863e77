//! `pseudolink relink`: join a tokenised cohort to a usage extract and
//! report pre/post event counts per group, with disclosure control.

use std::path::{Path, PathBuf};

use jiff::civil::Date;

use super::{load_key, Messages};
use crate::error::{shown_path, Error, Result, Source};
use crate::io::csv::{csv_write_error, ColumnSpec, CsvOptions};
use crate::io::output::{check_outputs, AtomicOutput};
use crate::io::progress::{input_size, Progress};
use crate::provider::key::KeyId;
use crate::provider::manifest::Manifest;
use crate::provider::token::Tokeniser;
use crate::relink::cohort::{load_cohort, Cohort, CohortColumns};
use crate::relink::costs::{CostReport, UnitCosts};
use crate::relink::matching::{match_controls, write_balance, MatchOptions};
use crate::relink::population::{load_population, PopulationColumns};
use crate::relink::report::{build, members, Disclosure};
use crate::relink::usage::{count_usage, People, Usage, UsageColumns, UsageIds};
use crate::relink::values::format_milli;
use crate::relink::Outcome;
use crate::relink::PopulationSummary;

/// How the usage (or population) file identifies people.
#[derive(Clone, Debug)]
pub enum UsageId {
    /// A column of NHS numbers (needs the key).
    Nhs(ColumnSpec),
    /// A column of tokens made with the same key.
    Token(ColumnSpec),
}

impl UsageId {
    /// From `--…-token-column` and `--…-nhs-column`: a token column wins;
    /// otherwise NHS numbers, in `nhs_number` by default.
    pub fn from_columns(token: Option<ColumnSpec>, nhs: Option<ColumnSpec>) -> UsageId {
        match (token, nhs) {
            (Some(t), _) => UsageId::Token(t),
            (None, Some(n)) => UsageId::Nhs(n),
            (None, None) => UsageId::Nhs(ColumnSpec::Name("nhs_number".into())),
        }
    }

    /// The column and how to read it: NHS numbers need the key's
    /// tokeniser. `which` names the file and its flag, e.g. `usage`.
    fn reader<'t>(
        &self,
        tokeniser: Option<&'t Tokeniser>,
        which: &str,
    ) -> Result<(ColumnSpec, UsageIds<'t>)> {
        match (self, tokeniser) {
            (UsageId::Nhs(c), Some(t)) => Ok((c.clone(), UsageIds::Nhs(t))),
            (UsageId::Token(c), _) => Ok((c.clone(), UsageIds::Tokens)),
            (UsageId::Nhs(_), None) => Err(Error::Usage(format!(
                "the {which} file's NHS numbers must be tokenised with the key: give --key FILE, or, if the {which} file is already tokenised, --{which}-token-column COL"
            ))),
        }
    }
}

/// Checked options for `relink`.
#[derive(Clone, Debug)]
pub struct RelinkOptions {
    /// The tokenised cohort.
    pub cohort: PathBuf,
    /// The usage extract.
    pub usage: PathBuf,
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
    /// `--within` days, in the order given.
    pub within: Vec<u32>,
    /// The usage column of values to sum (bed days, cost).
    pub value_column: Option<ColumnSpec>,
    /// Unit costs per event type.
    pub unit_costs: Option<PathBuf>,
    /// The costs CSV.
    pub costs: Option<PathBuf>,
    /// The service's cost per patient, in thousandths of a pound.
    pub service_cost: Option<u64>,
    /// The ICB's registered population, for a matched comparison group.
    pub population: Option<PathBuf>,
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
    /// Replace existing outputs.
    pub force: bool,
    /// Worker threads.
    pub threads: usize,
    /// Messages setting.
    pub messages: Messages,
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
    // The file should be the one the manifest describes.
    if let Ok(digest) = crate::provider::manifest::sha256_file(file) {
        if digest != m.sha256 {
            msg.alert(format!(
                "warning: {} does not match the SHA-256 in its manifest: it has been changed since it was tokenised",
                shown_path(file)
            ));
        }
    }
    Ok(Some(m))
}

/// Runs `relink`.
pub fn run(opts: &RelinkOptions) -> Result<Outcome> {
    let msg = opts.messages;
    let cohort_src = Source::Path(opts.cohort.clone());
    // The usage extract may come from standard input (`--usage -`), e.g.
    // piped straight from a warehouse query.
    let usage_src = Source::input(Some(opts.usage.as_path()));
    let outputs: Vec<&Path> = [
        opts.output.as_deref(),
        opts.people.as_deref(),
        opts.html.as_deref(),
        opts.costs.as_deref(),
        opts.balance.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let population_src = opts.population.as_ref().map(|p| Source::Path(p.clone()));
    let mut inputs = vec![&cohort_src, &usage_src];
    inputs.extend(population_src.as_ref());
    check_outputs(&inputs, &outputs, opts.force)?;
    if opts.cohort == opts.usage {
        return Err(Error::SameFile {
            first: cohort_src,
            second: usage_src,
        });
    }

    // Unit costs are read first: a bad file stops the run before the work.
    let unit_costs = opts
        .unit_costs
        .as_deref()
        .map(|p| UnitCosts::load(p).map(|u| (Source::Path(p.to_path_buf()), u)))
        .transpose()?;

    // Key ids: the cohort's manifest, the usage file's manifest, the key.
    let mut seen: Option<(String, KeyId)> = None;
    let cohort_manifest =
        check_manifest(&opts.cohort, "the cohort file's manifest", &mut seen, msg)?;
    if cohort_manifest.is_none() {
        let manifest = shown_path(&crate::provider::manifest::path_for(&opts.cohort));
        if !opts.no_manifest {
            return Err(Error::NoManifest {
                file: cohort_src,
                manifest,
            });
        }
        msg.warn(format!(
            "warning: no manifest beside {} ({manifest}), so its key id cannot be checked (--no-manifest)",
            shown_path(&opts.cohort),
        ));
    }
    if let (UsageId::Token(_), Some(path)) = (&opts.usage_id, usage_src.path()) {
        check_manifest(path, "the usage file's manifest", &mut seen, msg)?;
    }
    if let (UsageId::Token(_), Some(path)) = (&opts.population_id, &opts.population) {
        check_manifest(path, "the population file's manifest", &mut seen, msg)?;
    }
    let tokeniser = match &opts.key {
        Some(path) => {
            let key = load_key(path, msg)?;
            agree(
                &mut seen,
                format!("the key file {}", shown_path(path)),
                key.id(),
            )?;
            Some(Tokeniser::new(&key)?)
        }
        None => None,
    };

    let token_column = opts.cohort_token_column.clone().unwrap_or_else(|| {
        ColumnSpec::Name(
            cohort_manifest
                .as_ref()
                .map(|m| m.token_column.clone())
                .unwrap_or_else(|| "token".into()),
        )
    });
    let cohort = load_cohort(
        &cohort_src,
        opts.cohort_csv,
        &CohortColumns {
            token: token_column,
            date: opts.cohort_date_column.clone(),
            group_by: opts.group_by.clone(),
            match_on: opts.match_on.clone(),
        },
        opts.months,
    )?;
    if cohort.is_empty() {
        return Err(Error::NothingToReport(format!(
            "{}: the cohort has no rows, so there is nobody to report on",
            shown_path(&opts.cohort)
        )));
    }

    let (id_col, ids) = opts.usage_id.reader(tokeniser.as_ref(), "usage")?;
    let population = match &population_src {
        None => None,
        Some(src) => {
            let (id, ids) = opts
                .population_id
                .reader(tokeniser.as_ref(), "population")?;
            let p = load_population(
                src,
                opts.population_csv,
                &PopulationColumns {
                    id,
                    match_on: cohort.match_columns.clone(),
                },
                &ids,
                &cohort.strata,
            )?;
            if p.is_empty() {
                return Err(Error::NothingToReport(format!(
                    "{src}: nobody in the population shares the --match-on values of anyone in the cohort ({} rows read), so no controls can be found; check that both files hold the same values (for example the same age bands)",
                    p.rows_read
                )));
            }
            Some(p)
        }
    };
    let usage = count_usage(
        &usage_src,
        opts.usage_csv,
        &UsageColumns {
            id: id_col,
            date: opts.event_date_column.clone(),
            event_type: opts.event_type_column.clone(),
            value: opts.value_column.clone(),
            first_post: !opts.within.is_empty(),
        },
        &ids,
        People {
            cohort: &cohort,
            population: population.as_ref(),
        },
        opts.threads,
        &Progress::new("relink", input_size(&usage_src), msg.quiet),
    )?;
    if usage.rows_read == 0 {
        return Err(Error::NothingToReport(format!(
            "{usage_src}: the usage file has no data rows, so there are no events to count"
        )));
    }

    let inferred = opts.data_start.is_none() || opts.data_end.is_none();
    let (lo, hi) = usage
        .date_range
        .expect("rows were read, so dates were seen");
    let start = opts.data_start.unwrap_or(lo);
    let end = opts.data_end.unwrap_or(hi);
    if inferred {
        msg.warn(format!(
            "warning: the usage data's coverage was inferred from its earliest and latest events ({start} to {end}); give --data-start and --data-end if the extract covers a different span"
        ));
    }
    let included: Vec<bool> = cohort
        .entries
        .iter()
        .map(|e| e.person.complete_within(start, end))
        .collect();
    let n_included = included.iter().filter(|&&b| b).count() as u64;
    let excluded = cohort.len() as u64 - n_included;
    if n_included == 0 {
        return Err(Error::NothingToReport(format!(
            "all {} people in the cohort have incomplete windows: with --months {} their windows reach outside the data's coverage ({start} to {end}). Give --data-start/--data-end if the extract covers more, or use fewer --months",
            cohort.len(),
            opts.months
        )));
    }
    let members = members(&cohort, &included);
    let comparison = population
        .as_ref()
        .map(|p| match_controls(&cohort, &usage, p, &included, opts.matching));
    let report = build(&cohort, &usage, &members, &opts.within, comparison.as_ref());
    let costs = match &unit_costs {
        Some((file, u)) => {
            let unit = u.for_types(&usage.types, file)?;
            Some(CostReport::build(
                &report,
                &members,
                &usage,
                unit,
                opts.service_cost,
            ))
        }
        None => None,
    };
    let mut outcome = Outcome {
        report,
        costs,
        comparison,
        population: population.map(|p| PopulationSummary {
            rows_read: p.rows_read,
            people: p.len() as u64,
            duplicate_tokens: p.duplicate_tokens,
            unusable_ids: p.invalid_numbers.total() + p.invalid_tokens,
            outside_strata: p.outside_strata,
        }),
        key_id: seen.map(|(_, id)| id),
        coverage: (start, end, inferred),
        excluded_incomplete_window: excluded,
        included: n_included,
        cohort,
        usage,
        written: Vec::new(),
    };

    // Write: people file, HTML, then the report CSV.
    if let Some(p) = &opts.people {
        let mut out = AtomicOutput::create(Some(p), opts.force)?;
        write_people(&mut out, &outcome.cohort, &outcome.usage, &included)
            .map_err(|e| csv_write_error(&Source::Path(p.clone()), e))?;
        out.commit()?;
        outcome.written.push(p.clone());
    }
    if let Some(p) = &opts.html {
        let page = crate::relink::html::render(&outcome, opts.months, opts.disclosure);
        let mut out = AtomicOutput::create(Some(p), opts.force)?;
        out.put(page.as_bytes())?;
        out.commit()?;
        outcome.written.push(p.clone());
    }
    if let (Some(p), Some(c)) = (&opts.balance, &outcome.comparison) {
        let mut out = AtomicOutput::create(Some(p), opts.force)?;
        let label = out.label().clone();
        out = write_balance(out, c, opts.disclosure).map_err(|e| csv_write_error(&label, e))?;
        out.commit()?;
        outcome.written.push(p.clone());
    }
    if let (Some(p), Some(costs)) = (&opts.costs, &outcome.costs) {
        let mut out = AtomicOutput::create(Some(p), opts.force)?;
        let label = out.label().clone();
        out = costs
            .write_csv(out, opts.disclosure)
            .map_err(|e| csv_write_error(&label, e))?;
        out.commit()?;
        outcome.written.push(p.clone());
    }
    let mut out = AtomicOutput::create(opts.output.as_deref(), opts.force)?;
    let label = out.label().clone();
    out = outcome
        .report
        .write_csv(out, opts.disclosure)
        .map_err(|e| csv_write_error(&label, e))?;
    out.commit()?;
    outcome.written.extend(opts.output.clone());
    Ok(outcome)
}

/// The people file: token, group columns, intervention date, then
/// `<type>_pre`, `<type>_post` per event type, for everyone in the report,
/// sorted by token (so the row order says nothing about referral order).
fn write_people(
    out: &mut AtomicOutput,
    cohort: &Cohort,
    usage: &Usage,
    included: &[bool],
) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut header: Vec<String> = vec!["token".into()];
    header.extend(cohort.group_columns.iter().cloned());
    header.push("intervention_date".into());
    for t in &usage.types {
        header.push(format!("{t}_pre"));
        header.push(format!("{t}_post"));
    }
    if usage.value_column.is_some() {
        for t in &usage.types {
            header.push(format!("{t}_pre_value"));
            header.push(format!("{t}_post_value"));
        }
    }
    w.write_record(&header)?;
    let mut hex = [0u8; 64];
    for (i, entry) in cohort.entries.iter().enumerate() {
        if !included[i] {
            continue;
        }
        let p = &entry.person;
        crate::provider::token::hex_into(&entry.token, &mut hex);
        let mut rec: Vec<String> = vec![String::from_utf8_lossy(&hex).into_owned()];
        rec.extend(cohort.groups[p.group as usize].iter().cloned());
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
