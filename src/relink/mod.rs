//! The ICB side (docs/SPEC.md sections 6 to 8): join a tokenised cohort to a usage
//! extract and report each person's use before and after their first
//! intervention, per group, with disclosure control.
//!
//! - [`windows`]: dates, month arithmetic, pre and post windows.
//! - [`cohort`]: the tokenised cohort, indexed by token.
//! - [`usage`]: the usage extract, streamed and counted per person and window.
//! - [`report`]: report rows and NHS small-number suppression.
//! - [`costs`]: unit costs, the costs report and the return per pound.
//! - [`values`]: decimal values (bed days, pounds) held exactly.
//! - [`stats`]: the Wilcoxon signed-rank test.
//! - [`html`]: the self-contained HTML report.
//!
//! - [`stages`]: the run as named stages, which `cmd::relink` calls in order.
//! - [`ids`], [`disclosure`], [`table`]: the layer the others share.

pub mod cohort;
pub mod costs;
pub mod disclosure;
pub mod estimate;
pub mod event_study;
pub mod html;
pub mod ids;
pub mod labels;
pub mod matching;
pub mod population;
pub mod release;
pub mod report;
pub mod stages;
pub mod stats;
pub mod table;
pub mod usage;
pub mod values;
pub mod windows;

use std::path::PathBuf;

use jiff::civil::Date;

use crate::provider::key::KeyId;
use cohort::Cohort;
use costs::CostReport;
use report::Report;
use usage::Usage;

/// What a relink run found.
pub struct Outcome {
    /// Names for codes in the HTML report.
    pub labels: labels::Labels,
    /// Safety warnings (printed even with `--quiet`).
    pub warnings: Vec<String>,
    /// Everything released, after disclosure control.
    pub release: release::Release,
    /// The event study, with `--event-study` (exact).
    pub event_study: Option<event_study::EventStudy>,
    /// The report (exact values; disclosure is applied in `release`).
    pub report: Report,
    /// The costs, with `--unit-costs`.
    pub costs: Option<CostReport>,
    /// The comparison group, with `--population`.
    pub comparison: Option<matching::Comparison>,
    /// What the population file held, with `--population`.
    pub population: Option<PopulationSummary>,
    /// The cohort as read.
    pub cohort: Cohort,
    /// The usage counts.
    pub usage: Usage,
    /// Coverage used, and whether it was inferred from the data.
    pub coverage: (Date, Date, bool),
    /// People left out for incomplete windows.
    pub excluded_incomplete_window: u64,
    /// People left out because they died or left the list before their
    /// post window ends (`--end-date-column`).
    pub left_before_window_end: u64,
    /// People in the report.
    pub included: u64,
    /// Per cohort entry: whether they are in the report.
    pub included_flags: Vec<bool>,
    /// The key id the files were made with, when known.
    pub key_id: Option<KeyId>,
    /// Files written.
    pub written: Vec<PathBuf>,
}

/// What the population file held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PopulationSummary {
    /// Data rows read.
    pub rows_read: u64,
    /// People kept (in a stratum some cohort member has).
    pub people: u64,
    /// Rows whose person appeared before.
    pub duplicate_tokens: u64,
    /// Rows with an unusable NHS number or token.
    pub unusable_ids: u64,
    /// Rows in a stratum no cohort member has.
    pub outside_strata: u64,
}

impl PopulationSummary {
    /// What a population file held.
    pub fn of(p: &population::Population) -> PopulationSummary {
        PopulationSummary {
            rows_read: p.rows_read,
            people: p.len() as u64,
            duplicate_tokens: p.duplicate_tokens,
            unusable_ids: p.invalid_numbers.total() + p.invalid_tokens,
            outside_strata: p.outside_strata,
        }
    }
}

impl Outcome {
    /// A plain-words summary for the terminal.
    pub fn summary(&self, months: i32) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let c = &self.cohort;
        let u = &self.usage;
        if let Some(id) = &self.key_id {
            let _ = writeln!(s, "key id: {id}");
        }
        let _ = writeln!(
            s,
            "cohort: {}, {} ({}; the earliest intervention is kept)",
            crate::cmd::count(c.rows_read, "row", "rows"),
            crate::cmd::count(c.len() as u64, "person", "people"),
            crate::cmd::count(c.duplicate_tokens, "repeat referral", "repeat referrals")
        );
        let (start, end, inferred) = self.coverage;
        let _ = writeln!(
            s,
            "coverage: {start} to {end}{}; windows: {months} months before and after the first intervention",
            if inferred { " (inferred from the data)" } else { "" }
        );
        let _ = writeln!(
            s,
            "people reported: {}; excluded_incomplete_window: {}; left_before_window_end: {}",
            self.included, self.excluded_incomplete_window, self.left_before_window_end
        );
        let _ = writeln!(
            s,
            "usage: {} rows; {} matched the cohort ({} outside both windows); {} not in the cohort; {} unusable ids",
            u.rows_read,
            u.rows_matched,
            u.events_outside_windows,
            u.rows_not_in_cohort,
            u.rows_invalid()
        );
        for (reason, n) in u.invalid_numbers.iter().filter(|(_, n)| *n > 0) {
            let _ = writeln!(s, "  invalid NHS numbers, {:<22} {n}", reason.code());
        }
        if u.invalid_tokens > 0 {
            let _ = writeln!(s, "  cells that are not tokens: {}", u.invalid_tokens);
        }
        if let (Some(p), Some(c)) = (&self.population, &self.comparison) {
            let _ = writeln!(
                s,
                "population: {} rows, {} people in the cohort's strata ({} in no cohort member's stratum, {} repeated, {} unusable ids); {} usage rows are theirs",
                p.rows_read, p.people, p.outside_strata, p.duplicate_tokens, p.unusable_ids, u.rows_in_population
            );
            let _ = writeln!(
                s,
                "comparison: {} cases, {} matched with {} controls (up to {} each); unmatched: {} (no control in their stratum{}; they stay in the report, not in the comparison)",
                c.cases,
                c.cases - c.unmatched,
                c.controls,
                c.wanted,
                c.unmatched,
                if c.unmatched > 0 { " within reach" } else { "" }
            );
        }
        s
    }
}
