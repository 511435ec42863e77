//! The event study (docs/SPEC.md section 9): events by month around the
//! intervention, from 12 months before to 11 after, for the referred and,
//! with `--population`, for their matched controls.
//!
//! Month m of a person referred on day d is [d + m months, d + m + 1
//! months). A person counts in month m only when the usage data covers that
//! whole month. A matched case's controls count with weight 1/k, so that
//! each case's controls together count as one person: `controls` is the
//! number of matched cases whose controls are counted, and
//! `control_events` their controls' events so weighted, to the nearest
//! whole event. This is the picture of regression to the mean: the cases'
//! peak before referral, and whether the controls follow it down.

use jiff::civil::Date;

use super::cohort::Cohort;
use super::matching::Comparison;
use super::usage::{unpack_event, Usage, EVENT_STUDY_MONTHS};
use super::windows::{add_months, month_offset, next_day, EARLIEST};

/// One group, event type and month, exact.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Group values (`Total` for the total rows).
    pub group: Vec<String>,
    /// Event type.
    pub event_type: String,
    /// Month relative to the intervention, −12 to 11.
    pub month: i32,
    /// Referred people covered that month.
    pub cases: u64,
    /// Their events.
    pub case_events: u64,
    /// With `--population`: matched cases covered that month, and their
    /// controls' events weighted 1/k, to the nearest event.
    pub comparison: Option<(u64, u64)>,
}

/// The event study.
#[derive(Clone, Debug, PartialEq)]
pub struct EventStudy {
    /// Names of the group columns.
    pub group_columns: Vec<String>,
    /// Rows: group by group (Total last), type by type, month by month.
    pub rows: Vec<Row>,
    /// Whether the comparison columns are there.
    pub has_comparison: bool,
}

/// Each matched case's controls' events by type and month, weighted 1/k.
fn control_months(cohort: &Cohort, usage: &Usage, c: &Comparison) -> Vec<Option<Vec<[f64; 24]>>> {
    let types = usage.types.len();
    let events_of = |person: u32| {
        let lo = usage
            .events
            .partition_point(|&e| (e >> 32) < u64::from(person));
        let hi = usage
            .events
            .partition_point(|&e| (e >> 32) <= u64::from(person));
        &usage.events[lo..hi]
    };
    c.matched
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let m = m.as_ref()?;
            let d = cohort.entries[i].person.date;
            let mut out = vec![[0.0; 24]; types];
            for &id in &m.ids {
                for &e in events_of(id) {
                    let (_, day, t) = unpack_event(e);
                    let date = EARLIEST
                        .checked_add(jiff::Span::new().days(i64::from(day)))
                        .expect("day numbers are within range");
                    let k = month_offset(d, date);
                    if EVENT_STUDY_MONTHS.contains(&k) {
                        out[t][(k + 12) as usize] += 1.0 / f64::from(m.k);
                    }
                }
            }
            Some(out)
        })
        .collect()
}

/// Builds the event study over `members` (the report's groups), with the
/// usage data covering `start` to `end`.
pub fn build(
    cohort: &Cohort,
    usage: &Usage,
    members: &[(Vec<String>, Vec<usize>)],
    comparison: Option<&Comparison>,
    (start, end): (Date, Date),
) -> EventStudy {
    let controls = comparison.map(|c| control_months(cohort, usage, c));
    let covered = |i: usize, m: i32| {
        let d = cohort.entries[i].person.date;
        add_months(d, m) >= start && add_months(d, m + 1) <= next_day(end)
    };
    let mut rows = Vec::new();
    for (group, people) in members {
        for (t, name) in usage.types.iter().enumerate() {
            for m in EVENT_STUDY_MONTHS {
                let at = (m + 12) as usize;
                let mut row = Row {
                    group: group.clone(),
                    event_type: name.clone(),
                    month: m,
                    cases: 0,
                    case_events: 0,
                    comparison: None,
                };
                let mut weighted = 0.0;
                let mut matched = 0u64;
                for &i in people.iter().filter(|&&i| covered(i, m)) {
                    row.cases += 1;
                    row.case_events += u64::from(usage.by_month[t][i][at]);
                    if let Some(Some(c)) = controls.as_ref().map(|c| &c[i]) {
                        matched += 1;
                        weighted += c[t][at];
                    }
                }
                if controls.is_some() {
                    row.comparison = Some((matched, weighted.round() as u64));
                }
                rows.push(row);
            }
        }
    }
    EventStudy {
        group_columns: cohort.group_columns.clone(),
        rows,
        has_comparison: comparison.is_some(),
    }
}

impl EventStudy {
    /// The header row.
    pub fn header(&self) -> Vec<String> {
        let mut h = self.group_columns.clone();
        h.extend(
            [
                "event_type",
                "month",
                "cases",
                "case_events",
                "case_rate_per_100",
            ]
            .map(String::from),
        );
        if self.has_comparison {
            h.extend(["controls", "control_events", "control_rate_per_100"].map(String::from));
        }
        h
    }
}
