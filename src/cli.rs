//! The command line: clap types, and their conversion into the checked
//! option structs of [`crate::cmd`]. Nothing here opens a file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cmd::key_id::KeyIdOptions;
use crate::cmd::keygen::KeygenOptions;
use crate::cmd::relink::{RelinkOptions, UsageId};
use crate::cmd::synth::SynthOptions;
use crate::cmd::tokenise::TokeniseOptions;
use crate::cmd::validate::ValidateOptions;
use crate::cmd::Messages;
use crate::error::{Error, Result, Source};
use crate::io::csv::{parse_delimiter, ColumnSpec, CsvOptions};
use crate::io::pipeline::default_threads;
use crate::relink::report::Disclosure;
use crate::synth::SynthSpec;

/// `--version` text: the tool and the spec it implements.
pub const VERSION_TEXT: &str = concat!(env!("CARGO_PKG_VERSION"), " (SPEC 1.2)");

const LONG_ABOUT: &str = "\
Keyed pseudonymisation of NHS numbers, and re-linkage of the tokens to \
health-service usage data.

A social prescribing provider validates its patients' NHS numbers and \
replaces each with a token, HMAC-SHA256 under a secret key shared only with \
the ICB's data team. The ICB re-links those tokens to its own A&E and \
admissions data and reports pre/post counts per cohort. Neither side's \
analysts see the other's NHS numbers.";

const AFTER_LONG_HELP: &str = "\
Examples:
  pseudolink keygen --output team.key
  pseudolink key-id --key team.key
  pseudolink validate referrals.csv --rejects rejects.csv
  pseudolink tokenise --key team.key referrals.csv --output tokens.csv --rejects rejects.csv

Exit codes: 0 ok; 1 validate found invalid numbers; 2 error; 130 interrupted (Ctrl-C or SIGTERM: nothing written).
Run `pseudolink <command> --help` for the details of each command.";

/// pseudolink: pseudonymise NHS numbers with a keyed hash, and re-link the tokens.
#[derive(Debug, Parser)]
#[command(
    name = "pseudolink",
    version = VERSION_TEXT,
    long_about = LONG_ABOUT,
    after_long_help = AFTER_LONG_HELP,
    propagate_version = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a new secret key file (32 random bytes, mode 0600).
    #[command(
        long_about = "Make a new secret key file: 32 bytes from the operating system's \
random number generator, written as hex with comment lines giving the creation \
time and key id. The file is created new with mode 0600; an existing file is \
never replaced without --force.\n\nOne key per data-sharing agreement: the provider \
and the ICB's data team hold the same key file, and nobody else.",
        after_long_help = "Examples:\n  pseudolink keygen --output team.key\n  pseudolink keygen --output team.key --force   # replace (the old key's tokens will no longer match)"
    )]
    Keygen(KeygenArgs),
    /// Print a key file's id, to read aloud and compare.
    #[command(
        name = "key-id",
        long_about = "Print the key id: 16 hex characters that identify a key without revealing \
it. Both sides of a data-sharing agreement read their key ids aloud to check they hold \
the same key before any data is sent.",
        after_long_help = "Example:\n  pseudolink key-id --key team.key"
    )]
    KeyId(KeyIdArgs),
    /// Check every NHS number in a CSV column (no key needed).
    #[command(
        long_about = "Check every NHS number in a column: format, Modulus 11 check digit, \
placeholders and spreadsheet damage. Prints a summary with counts per reason code and \
the first invalid rows, and counts valid numbers issued outside England, Wales and the \
Isle of Man (Scotland's CHI, Northern Ireland, unallocated), which stay valid. With --rejects, writes every invalid row (row, reason, value).\n\n\
Exits 1 when any number is invalid, 0 when none is.\n\nA spreadsheet (.xlsx, .xls, .ods) is read directly: \
choose a sheet with --sheet.",
        after_long_help = "Examples:\n  pseudolink validate referrals.csv\n  pseudolink validate referrals.xlsx --sheet Referrals\n  pseudolink validate referrals.csv --column \"NHS No\" --rejects to-fix.csv\n  pseudolink validate --delimiter ';' --no-headers --column 2 < export.csv"
    )]
    Validate(ValidateArgs),
    /// Replace the NHS-number column of a CSV file by keyed tokens.
    #[command(
        visible_alias = "tokenize",
        long_about = "Replace the NHS-number column by tokens: HMAC-SHA256 under the key, as \
64 lowercase hex characters. Every other column passes through byte for byte. Rows whose \
number is invalid are left out of the output and written to --rejects with a reason; \
rows read = rows tokenised + rows rejected, always.\n\nWith --output, the file is written \
to a temporary file and renamed into place only when complete, and a manifest \
(FILE.manifest.json: key id, counts, SHA-256) is written beside it. Send both to the ICB; \
keep the rejects file, which holds NHS numbers, yourself.",
        after_long_help = "Examples:\n  pseudolink tokenise --key team.key referrals.csv --output tokens.csv --rejects rejects.csv\n  pseudolink tokenise --key team.key --column \"NHS No\" referrals.csv > tokens.csv\n  cat referrals.csv | pseudolink tokenise --key team.key - --output tokens.csv"
    )]
    Tokenise(TokeniseArgs),
    /// Re-link tokens to a usage extract and report pre/post events per cohort.
    #[command(
        long_about = "Join a tokenised cohort (from the provider) to a usage extract (A&E \
attendances, unplanned admissions) and count each person's events in the N months \
before and after their first intervention. Reports per group and event type, with a \
Total row per event type, NHS small-number suppression (1-7 shown as *, other counts \
rounded to 5) and a Wilcoxon signed-rank p-value.\n\nThe usage file may hold NHS numbers \
(give --key: they are tokenised in memory and never written) or tokens made with the \
same key (--usage-token-column: no key needed). Manifests beside the files are checked, \
and files made with different keys are refused; a cohort with no manifest is refused \
unless --no-manifest is given.\n\nWith --population (the ICB's registered population) and --match-on, each \
referred person gets up to --controls matched people who were not referred by then, with the \
same matching values and the nearest prior use, and the report gains the difference-in-differences \
with its 95% interval: a fall beyond regression to the mean.",
        after_long_help = "Examples:\n  pseudolink relink --cohort tokens.csv --usage usage.csv --key team.key --output report.csv\n  pseudolink relink --cohort tokens.csv --usage usage-tokens.csv --usage-token-column token \\\n      --data-start 2022-04-01 --data-end 2025-03-31 --output report.csv --people people.csv\n  pseudolink relink --cohort discharges.csv --usage usage.csv --key team.key --within 14 --within 90 \\\n      --value-column los_days --unit-costs unit-costs.csv --costs costs.csv --service-cost 1171\n  pseudolink relink --cohort tokens.csv --usage usage.csv --key team.key --population registered.csv \\\n      --match-on age_band --match-on sex --match-on deprivation_decile --balance balance.csv\n  pseudolink relink --cohort tokens.csv --usage extract.tsv --usage-delimiter tab --key team.key --html report.html"
    )]
    Relink(Box<RelinkArgs>),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(
        long_about = "Print a completion script for your shell on standard output.",
        after_long_help = "Examples:\n  pseudolink completions bash > ~/.local/share/bash-completion/completions/pseudolink\n  pseudolink completions zsh > ~/.zfunc/_pseudolink\n  pseudolink completions powershell >> $PROFILE"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on standard output.
    #[command(
        long_about = "Print the manual page in roff format on standard output.",
        after_long_help = "Example:\n  pseudolink man > pseudolink.1 && man ./pseudolink.1"
    )]
    Man,
    /// Write synthetic referrals and usage files, to rehearse the whole flow.
    #[command(
        long_about = "Write a synthetic referrals file (NHS numbers in mixed presentations, \
intervention dates, four cohorts, a few invalid rows and duplicate referrals) and a usage \
file (A&E and unplanned admissions before and after each intervention, events outside \
the windows, people outside the cohort) into a folder. The same seed always gives the \
same files.\n\nUse it to rehearse keygen, tokenise and relink end to end before touching \
real data. With --test-numbers every NHS number is in the 999 range issued for test \
patients, so none can belong to a real person.",
        after_long_help = "Examples:\n  pseudolink synth --people 6000 --events 40000 --seed 1 --test-numbers --out rehearsal\n  pseudolink synth --people 200000 --events 2000000 --out bench-data"
    )]
    Synth(SynthArgs),
}

/// `relink` arguments.
#[derive(Debug, Args)]
pub struct RelinkArgs {
    /// The tokenised cohort file from the provider.
    #[arg(long, value_name = "FILE")]
    pub cohort: PathBuf,
    /// The usage extract (NHS numbers with --key, or tokens with --usage-token-column); `-` for standard input.
    #[arg(long, value_name = "FILE")]
    pub usage: PathBuf,
    /// The key file, to tokenise the usage file's NHS numbers in memory.
    #[arg(long, short = 'k', value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Report CSV [default: standard output].
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write a record-level file: one row per person, tokens only, no suppression.
    #[arg(long, value_name = "FILE")]
    pub people: Option<PathBuf>,
    /// Also write a self-contained HTML report with charts, for commissioners.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Cohort column holding tokens [default: the manifest's token column, else token].
    #[arg(long, value_name = "COL")]
    pub cohort_token_column: Option<ColumnSpec>,
    /// Cohort column holding the intervention date.
    #[arg(long, value_name = "COL", default_value = "intervention_date")]
    pub cohort_date_column: ColumnSpec,
    /// Cohort column(s) to group by (repeat for several).
    #[arg(long, value_name = "COL", default_values = ["cohort"])]
    pub group_by: Vec<ColumnSpec>,
    /// Usage column holding NHS numbers (needs --key) [default: nhs_number].
    #[arg(long, value_name = "COL", conflicts_with = "usage_token_column")]
    pub usage_nhs_column: Option<ColumnSpec>,
    /// Usage column holding tokens made with the same key (no key needed).
    #[arg(long, value_name = "COL")]
    pub usage_token_column: Option<ColumnSpec>,
    /// Usage column holding the event date.
    #[arg(long, value_name = "COL", default_value = "event_date")]
    pub event_date_column: ColumnSpec,
    /// Usage column holding the event type (e.g. AE, NEL).
    #[arg(long, value_name = "COL", default_value = "event_type")]
    pub event_type_column: ColumnSpec,
    /// Months in each window, before and after the first intervention.
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub months: u32,
    /// First day the usage extract covers (YYYY-MM-DD or DD/MM/YYYY) [default: earliest event].
    #[arg(long, value_name = "DATE")]
    pub data_start: Option<String>,
    /// Last day the usage extract covers, inclusive [default: latest event].
    #[arg(long, value_name = "DATE")]
    pub data_end: Option<String>,
    /// Disclosure control: hes (suppress 1-7, round to 5, secondary suppression) or none (exact: not for release).
    #[arg(long, value_name = "MODE", default_value = "hes", value_parser = ["hes", "none"])]
    pub disclosure: String,
    /// Write the disclosure log: every cell withheld (file, row, column, rule), for sign-off; it holds no values.
    #[arg(long, value_name = "FILE")]
    pub disclosure_log: Option<PathBuf>,
    /// Write the event study: events per 100 people by month, 12 before to 11 after the intervention (with --population, against the comparison group).
    #[arg(long, value_name = "FILE")]
    pub event_study: Option<PathBuf>,
    /// Names for event types and matching columns in the HTML report: a CSV of `code,name` (AE, NEL and EL are named already).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Field delimiter of both inputs: one character, or `tab`.
    #[arg(long, short = 'd', value_name = "C", default_value = ",", value_parser = parse_delimiter)]
    pub delimiter: u8,
    /// Field delimiter of the cohort file alone [default: --delimiter].
    #[arg(long, value_name = "C", value_parser = parse_delimiter)]
    pub cohort_delimiter: Option<u8>,
    /// Field delimiter of the usage file alone, e.g. `tab` for a warehouse extract [default: --delimiter].
    #[arg(long, value_name = "C", value_parser = parse_delimiter)]
    pub usage_delimiter: Option<u8>,
    /// Accept a cohort file with no manifest beside it (its key id then cannot be checked).
    #[arg(long)]
    pub no_manifest: bool,
    /// Accept a usage file in which nobody in the cohort appears (otherwise an error: the files were most likely made with different keys).
    #[arg(long)]
    pub allow_no_matches: bool,
    /// Also count people with an event within DAYS of the intervention, e.g. readmission within 14 and 90 days (repeat for several).
    #[arg(long, value_name = "DAYS")]
    pub within: Vec<u32>,
    /// Usage column of values to sum per window: bed days, length of stay, cost (decimal ≥ 0; empty is 0).
    #[arg(long, value_name = "COL")]
    pub value_column: Option<ColumnSpec>,
    /// CSV of `event_type,unit_cost` (pounds), to cost each person's events.
    #[arg(long, value_name = "FILE")]
    pub unit_costs: Option<PathBuf>,
    /// Write the costs per group (pre, post, saving per patient) to FILE; needs --unit-costs.
    #[arg(long, value_name = "FILE", requires = "unit_costs")]
    pub costs: Option<PathBuf>,
    /// The service's cost per patient in pounds, for the return per pound; needs --unit-costs.
    #[arg(long, value_name = "POUNDS", requires = "unit_costs")]
    pub service_cost: Option<String>,
    /// The ICB's registered population (one row per person), to draw a matched comparison group from.
    #[arg(long, value_name = "FILE", help_heading = "Comparison group")]
    pub population: Option<PathBuf>,
    /// Population column holding NHS numbers (needs --key) [default: nhs_number].
    #[arg(
        long,
        value_name = "COL",
        conflicts_with = "population_token_column",
        requires = "population",
        help_heading = "Comparison group"
    )]
    pub population_nhs_column: Option<ColumnSpec>,
    /// Population column holding tokens made with the same key.
    #[arg(
        long,
        value_name = "COL",
        requires = "population",
        help_heading = "Comparison group"
    )]
    pub population_token_column: Option<ColumnSpec>,
    /// Field delimiter of the population file alone [default: --delimiter].
    #[arg(long, value_name = "C", value_parser = parse_delimiter, requires = "population", help_heading = "Comparison group")]
    pub population_delimiter: Option<u8>,
    /// A column, in both the cohort and the population file, that a control must share with its case (repeat: age band, sex, deprivation decile, practice).
    #[arg(
        long,
        value_name = "NAME",
        requires = "population",
        help_heading = "Comparison group"
    )]
    pub match_on: Vec<String>,
    /// Controls wanted per case.
    #[arg(
        long,
        value_name = "K",
        default_value_t = 3,
        requires = "population",
        help_heading = "Comparison group"
    )]
    pub controls: usize,
    /// Seed for the order in which ties are broken; the same seed and input give the same controls.
    #[arg(
        long,
        value_name = "S",
        default_value_t = 1,
        requires = "population",
        help_heading = "Comparison group"
    )]
    pub seed: u64,
    /// Take no control whose pre-window counts differ from the case's by more than N events in all.
    #[arg(
        long,
        value_name = "N",
        requires = "population",
        help_heading = "Comparison group"
    )]
    pub caliper: Option<u32>,
    /// A column, in the cohort and the population file, with the date a person died or left the registered list (empty: still registered). Anyone gone before their post window ends is left out of the report and of matching.
    #[arg(long, value_name = "COL")]
    pub end_date_column: Option<ColumnSpec>,
    /// Write the balance table (standardised mean differences before and after matching).
    #[arg(
        long,
        value_name = "FILE",
        requires = "population",
        help_heading = "Comparison group"
    )]
    pub balance: Option<PathBuf>,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunArgs,
}

fn parse_date_arg(flag: &str, s: &str) -> Result<jiff::civil::Date> {
    crate::relink::windows::parse_date(s.as_bytes())
        .filter(|d| crate::relink::windows::plausible(*d))
        .ok_or_else(|| {
            Error::Usage(format!(
                "{flag} {s:?} is not a date between 1900 and 2100; use YYYY-MM-DD or DD/MM/YYYY"
            ))
        })
}

impl RelinkArgs {
    /// `--data-start` and `--data-end`, checked and in order.
    fn coverage(&self) -> Result<(Option<jiff::civil::Date>, Option<jiff::civil::Date>)> {
        let date = |flag: &str, v: &Option<String>| {
            v.as_deref().map(|s| parse_date_arg(flag, s)).transpose()
        };
        let (start, end) = (
            date("--data-start", &self.data_start)?,
            date("--data-end", &self.data_end)?,
        );
        if let (Some(a), Some(b)) = (start, end) {
            if a > b {
                return Err(Error::Usage(format!(
                    "--data-start {a} is after --data-end {b}"
                )));
            }
        }
        Ok((start, end))
    }

    /// Each `--within` is inside every post window, and given once.
    fn check_within(&self) -> Result<()> {
        let longest = 28 * self.months;
        for (k, &d) in self.within.iter().enumerate() {
            if d == 0 || d > longest {
                return Err(Error::Usage(format!(
                    "--within {d}: DAYS must be from 1 to {longest} (28 days for each of the --months {}), so that the days fall inside every post window",
                    self.months
                )));
            }
            if self.within[..k].contains(&d) {
                return Err(Error::Usage(format!(
                    "--within {d} is given twice; give each number of days once"
                )));
            }
        }
        Ok(())
    }

    /// `--service-cost` in thousandths of a pound, above 0.
    fn service_cost(&self) -> Result<Option<u64>> {
        let Some(s) = self.service_cost.as_deref() else {
            return Ok(None);
        };
        match crate::relink::values::parse_milli(s.as_bytes()) {
            Some(Ok(v)) if v > 0 => Ok(Some(v)),
            _ => Err(Error::Usage(format!(
                "--service-cost {s:?} is not an amount of pounds above 0, such as 1171 or 1171.50"
            ))),
        }
    }

    /// Checked options.
    pub fn options(self) -> Result<RelinkOptions> {
        if !(1..=120).contains(&self.months) {
            return Err(Error::Usage("--months must be between 1 and 120".into()));
        }
        let (data_start, data_end) = self.coverage()?;
        self.check_within()?;
        let service_cost = self.service_cost()?;
        if !(1..=20).contains(&self.controls) {
            return Err(Error::Usage("--controls must be from 1 to 20".into()));
        }
        let population_id =
            UsageId::from_columns(self.population_token_column, self.population_nhs_column);
        let usage_id = UsageId::from_columns(self.usage_token_column, self.usage_nhs_column);
        let disclosure = if self.disclosure == "none" {
            Disclosure::None
        } else {
            Disclosure::Hes
        };
        Ok(RelinkOptions {
            cohort: Source::Path(self.cohort),
            // `--usage -` is standard input.
            usage: Source::input(Some(&self.usage)),
            key: self.key,
            output: self.output.filter(|p| p.as_os_str() != "-"),
            people: self.people,
            html: self.html,
            cohort_token_column: self.cohort_token_column,
            cohort_date_column: self.cohort_date_column,
            group_by: self.group_by,
            usage_id,
            event_date_column: self.event_date_column,
            event_type_column: self.event_type_column,
            months: self.months as i32,
            data_start,
            data_end,
            disclosure,
            cohort_csv: CsvOptions {
                delimiter: self.cohort_delimiter.unwrap_or(self.delimiter),
                has_headers: true,
            },
            usage_csv: CsvOptions {
                delimiter: self.usage_delimiter.unwrap_or(self.delimiter),
                has_headers: true,
            },
            no_manifest: self.no_manifest,
            within: self.within,
            value_column: self.value_column,
            unit_costs: self.unit_costs.map(Source::Path),
            costs: self.costs,
            service_cost,
            population: self.population.map(Source::Path),
            population_id,
            population_csv: CsvOptions {
                delimiter: self.population_delimiter.unwrap_or(self.delimiter),
                has_headers: true,
            },
            match_on: self.match_on.into_iter().map(ColumnSpec::Name).collect(),
            matching: crate::relink::matching::MatchOptions {
                controls: self.controls,
                seed: self.seed,
                caliper: self.caliper,
                months: self.months as i32,
            },
            end_date_column: self.end_date_column,
            balance: self.balance,
            disclosure_log: self.disclosure_log,
            allow_no_matches: self.allow_no_matches,
            event_study: self.event_study,
            labels: self.labels,
            force: self.force,
            threads: self.run.threads()?,
            messages: self.run.messages(),
        })
    }
}

/// `synth` arguments.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// People referred.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub people: u64,
    /// Approximate number of usage events.
    #[arg(long, value_name = "M", default_value_t = 10_000)]
    pub events: u64,
    /// Random seed: the same seed gives the same files.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Use only NHS numbers from the 999 test range.
    #[arg(long)]
    pub test_numbers: bool,
    /// Percentage of referral rows made deliberately invalid (0 to 100).
    #[arg(long, value_name = "P", default_value_t = 3.0)]
    pub invalid_percent: f64,
    /// Also write population.csv: N registered people whose referral follows peaks of use, and usage for all of them (a rehearsal of --population).
    #[arg(long, value_name = "N")]
    pub population: Option<u64>,
    /// With --population: the true effect, the percentage of referred people's post-window events that do not happen.
    #[arg(
        long,
        value_name = "PCT",
        default_value_t = 0.0,
        requires = "population"
    )]
    pub effect: f64,
    /// Folder to write referrals.csv and usage.csv into (created if needed).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    pub force: bool,
}

impl SynthArgs {
    /// Checked options.
    pub fn options(self) -> Result<SynthOptions> {
        if !(0.0..=100.0).contains(&self.effect) {
            return Err(Error::Usage("--effect must be between 0 and 100".into()));
        }
        if let Some(n) = self.population {
            if n < self.people || n == 0 {
                return Err(Error::Usage(format!(
                    "--population {n} must be at least --people {} (the people referred come from it)",
                    self.people
                )));
            }
            if self.test_numbers && n > 900_000 {
                return Err(Error::Usage(
                    "--test-numbers gives at most 900,000 distinct numbers: use a smaller --population".into(),
                ));
            }
        }
        if !(0.0..=100.0).contains(&self.invalid_percent) {
            return Err(Error::Usage(
                "--invalid-percent must be between 0 and 100".into(),
            ));
        }
        Ok(SynthOptions {
            spec: SynthSpec {
                people: self.people,
                events: self.events,
                seed: self.seed,
                test_numbers: self.test_numbers,
                invalid_per_mille: (self.invalid_percent * 10.0).round() as u32,
                months: 6,
            },
            population: self
                .population
                .map(|n| crate::synth::population::PopulationSpec {
                    population: n,
                    referred: self.people,
                    events: self.events,
                    effect_pct: self.effect,
                    seed: self.seed,
                    test_numbers: self.test_numbers,
                }),
            out_dir: self.out,
            force: self.force,
        })
    }
}

/// Options every CSV-reading command shares.
#[derive(Debug, Args)]
pub struct CsvArgs {
    /// Field delimiter: one character, or `tab`.
    #[arg(long, short = 'd', value_name = "C", default_value = ",", value_parser = parse_delimiter)]
    pub delimiter: u8,
    /// The first row is data, not a header (then give --column as a number).
    #[arg(long)]
    pub no_headers: bool,
}

impl CsvArgs {
    fn options(&self) -> CsvOptions {
        CsvOptions {
            delimiter: self.delimiter,
            has_headers: !self.no_headers,
        }
    }
}

/// Options for how a command runs.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Worker threads [default: the number of cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Print nothing but errors and safety warnings.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl RunArgs {
    fn threads(&self) -> Result<usize> {
        match self.threads {
            Some(0) => Err(Error::Usage("--threads must be 1 or more".into())),
            Some(n) => Ok(n),
            None => Ok(default_threads()),
        }
    }
    fn messages(&self) -> Messages {
        Messages {
            quiet: self.quiet,
            silent: false,
        }
    }
}

/// `keygen` arguments.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the new key file.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}

/// `key-id` arguments.
#[derive(Debug, Args)]
pub struct KeyIdArgs {
    /// The key file.
    #[arg(long, short = 'k', value_name = "FILE")]
    pub key: PathBuf,
}

/// `validate` arguments.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Input CSV file; `-` or nothing for standard input.
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,
    /// NHS-number column: header name or 1-based number [default: detected].
    #[arg(long, short = 'c', value_name = "COL")]
    pub column: Option<ColumnSpec>,
    /// For a spreadsheet input (.xlsx, .xls, .ods): the sheet to read [default: the first].
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
    /// Write every invalid row (row, reason, value) to this file.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Replace an existing rejects file.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub csv: CsvArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunArgs,
}

/// `tokenise` arguments.
#[derive(Debug, Args)]
pub struct TokeniseArgs {
    /// The key file (from `pseudolink keygen`).
    #[arg(long, short = 'k', value_name = "FILE")]
    pub key: PathBuf,
    /// Input CSV file; `-` or nothing for standard input.
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,
    /// Output file, plus FILE.manifest.json beside it [default: standard output, no manifest].
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// NHS-number column: header name or 1-based number [default: detected].
    #[arg(long, short = 'c', value_name = "COL")]
    pub column: Option<ColumnSpec>,
    /// For a spreadsheet input (.xlsx, .xls, .ods): the sheet to read [default: the first].
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
    /// Header of the token column in the output.
    #[arg(long, value_name = "NAME", default_value = "token")]
    pub token_column: String,
    /// Write every rejected row (row, reason, value) to this file. It holds NHS numbers: keep it.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub csv: CsvArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunArgs,
}

impl KeygenArgs {
    /// Checked options.
    pub fn options(self) -> Result<KeygenOptions> {
        Ok(KeygenOptions {
            output: self.output,
            force: self.force,
        })
    }
}

impl KeyIdArgs {
    /// Checked options.
    pub fn options(self) -> Result<KeyIdOptions> {
        Ok(KeyIdOptions {
            key: self.key,
            messages: Messages::default(),
        })
    }
}

fn check_column_mode(csv: &CsvArgs, column: Option<&ColumnSpec>) -> Result<()> {
    if csv.no_headers {
        match column {
            None => return Err(Error::NoHeadersNeedsColumn),
            Some(ColumnSpec::Name(n)) => {
                return Err(Error::NameWithoutHeaders { wanted: n.clone() })
            }
            Some(ColumnSpec::Number(_)) => {}
        }
    }
    Ok(())
}

impl ValidateArgs {
    /// Checked options.
    pub fn options(self) -> Result<ValidateOptions> {
        check_column_mode(&self.csv, self.column.as_ref())?;
        Ok(ValidateOptions {
            input: Source::input(self.input.as_deref()),
            column: self.column,
            rejects: self.rejects,
            csv: self.csv.options(),
            sheet: self.sheet,
            force: self.force,
            threads: self.run.threads()?,
            messages: self.run.messages(),
        })
    }
}

impl TokeniseArgs {
    /// Checked options.
    pub fn options(self) -> Result<TokeniseOptions> {
        check_column_mode(&self.csv, self.column.as_ref())?;
        let name = self.token_column.trim();
        if name.is_empty() {
            return Err(Error::Usage("--token-column cannot be empty".into()));
        }
        Ok(TokeniseOptions {
            key: self.key,
            input: Source::input(self.input.as_deref()),
            output: self.output.filter(|p| p.as_os_str() != "-"),
            column: self.column,
            token_column: name.to_string(),
            rejects: self.rejects,
            csv: self.csv.options(),
            sheet: self.sheet,
            force: self.force,
            threads: self.run.threads()?,
            messages: self.run.messages(),
        })
    }
}

/// Writes the completion script for `shell`.
pub fn write_completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    use clap::CommandFactory;
    clap_complete::generate(shell, &mut Cli::command(), "pseudolink", out);
}

/// Writes the man page (roff).
pub fn write_man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    clap_mangen::Man::new(Cli::command()).render(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn completions_and_man_page_render() {
        let mut out = Vec::new();
        write_completions(clap_complete::Shell::Bash, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("tokenise") && text.contains("--usage-token-column"));
        let mut man = Vec::new();
        write_man(&mut man).unwrap();
        let man = String::from_utf8(man).unwrap();
        assert!(man.contains(".TH pseudolink"), "{}", &man[..200]);
        assert!(man.contains("SPEC 1.2"));
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
