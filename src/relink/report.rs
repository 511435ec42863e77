//! The re-link report's exact figures: per group and event type, the counts
//! of docs/SPEC.md sections 6 to 8, and the terminal table.
//!
//! Every [`Row`] holds exact values; disclosure control is applied once, in
//! [`super::release`], and the CSV, the terminal table and the HTML page
//! all show the same released cells.

use crate::relink::cohort::Cohort;
pub use crate::relink::disclosure::Disclosure;
use crate::relink::estimate::{clusters, corrected, estimate};
use crate::relink::matching::Comparison;
use crate::relink::release::Table;
use crate::relink::stats::wilcoxon_p;
use crate::relink::table::{aligned, pct_change};
use crate::relink::usage::{Usage, NO_POST_EVENT};

/// Section 6's columns after the group columns, in order; section 7's
/// follow (see [`Report::header`]).
pub const COLUMNS: [&str; 10] = [
    "event_type",
    "patients",
    "pre_events",
    "post_events",
    "pre_per_patient",
    "post_per_patient",
    "change_pct",
    "patients_with_pre_event",
    "patients_with_post_event",
    "p_value",
];

/// One row of the report, with exact (unrounded) values.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Group values (`Total` for the total rows).
    pub group: Vec<String>,
    /// Event type.
    pub event_type: String,
    /// People with complete windows in the group.
    pub patients: u64,
    /// Events in the pre windows.
    pub pre: u64,
    /// Events in the post windows.
    pub post: u64,
    /// People with at least one pre event.
    pub with_pre: u64,
    /// People with at least one post event.
    pub with_post: u64,
    /// Wilcoxon signed-rank p-value, when defined.
    pub p_value: Option<f64>,
    /// People whose post − pre count is < 0, = 0 and > 0.
    pub changed: [u64; 3],
    /// People with an event in [d, d + DAYS days), for each `--within`.
    pub within: Vec<u64>,
    /// The value column's figures, when there is one.
    pub value: Option<ValueFigures>,
    /// The comparison group's figures, with `--population`.
    pub comparison: Option<ComparisonFigures>,
}

/// A row's matched cases and their controls (section 8).
#[derive(Clone, Debug, PartialEq)]
pub struct ComparisonFigures {
    /// Matched cases in the row.
    pub cases: u64,
    /// The matched cases' pre-window events.
    pub case_pre: u64,
    /// The matched cases' post-window events.
    pub case_post: u64,
    /// Controls (people matched).
    pub controls: u64,
    /// The controls' pre-window events.
    pub control_pre: u64,
    /// The controls' post-window events.
    pub control_post: u64,
    /// The slope β of the bias correction for this event type.
    pub slope: f64,
    /// The mean over matched cases of the bias-corrected difference
    /// ([`crate::relink::estimate::corrected`]).
    pub did: Option<f64>,
    /// Its 95% interval (cluster-robust Student t), with at least 10
    /// matched cases.
    pub ci: Option<(f64, f64)>,
}

impl ComparisonFigures {
    /// Sums and the estimate over `members`, for event type `t`.
    pub fn over(members: &[usize], counts: &[[u32; 2]], comparison: &Comparison, t: usize) -> Self {
        let slope = comparison.slope.get(t).copied().unwrap_or(1.0);
        let mut f = ComparisonFigures {
            cases: 0,
            case_pre: 0,
            case_post: 0,
            controls: 0,
            control_pre: 0,
            control_post: 0,
            slope,
            did: None,
            ci: None,
        };
        let mut diffs = Vec::new();
        let mut people = Vec::new();
        for &p in members {
            let Some(m) = &comparison.matched[p] else {
                continue;
            };
            let [pre, post] = counts[p];
            f.cases += 1;
            f.case_pre += u64::from(pre);
            f.case_post += u64::from(post);
            f.controls += u64::from(m.k);
            f.control_pre += u64::from(m.pre[t]);
            f.control_post += u64::from(m.post[t]);
            diffs.push(corrected([pre, post], [m.pre[t], m.post[t]], m.k, slope));
            people.push(matched_set(comparison, p));
        }
        if let Some(e) = estimate(&diffs, &clusters(&people)) {
            f.did = Some(e.mean);
            f.ci = e.ci;
        }
        f
    }
}

/// The people of a matched case's set: the case (when in the population)
/// and its controls, by population number.
pub fn matched_set(comparison: &Comparison, p: usize) -> Vec<u32> {
    let mut set: Vec<u32> = comparison.own[p].into_iter().collect();
    if let Some(m) = &comparison.matched[p] {
        set.extend(&m.ids);
    }
    set
}

/// Sums of the value column over a row's people (section 7).
#[derive(Clone, Debug, PartialEq)]
pub struct ValueFigures {
    /// Pre-window sum, in thousandths.
    pub pre: u64,
    /// Post-window sum, in thousandths.
    pub post: u64,
    /// Wilcoxon p-value on each person's post − pre value.
    pub p_value: Option<f64>,
    /// People whose post − pre value is < 0, = 0 and > 0.
    pub changed: [u64; 3],
}

impl Row {
    /// Pre events per patient, exact.
    pub fn pre_per_patient(&self) -> Option<f64> {
        (self.patients > 0).then(|| self.pre as f64 / self.patients as f64)
    }
    /// Post events per patient, exact.
    pub fn post_per_patient(&self) -> Option<f64> {
        (self.patients > 0).then(|| self.post as f64 / self.patients as f64)
    }
    /// 100 × (post − pre) / pre, exact; `None` when pre = 0.
    pub fn change_pct(&self) -> Option<f64> {
        pct_change(self.pre as f64, self.post as f64)
    }
}

/// The report: rows per group and event type, then the totals.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Names of the group columns.
    pub group_columns: Vec<String>,
    /// All rows, totals last.
    pub rows: Vec<Row>,
    /// The `--within` days, in the order given.
    pub within_days: Vec<u32>,
    /// Whether the value columns are there.
    pub has_value: bool,
    /// Whether the comparison columns are there.
    pub has_comparison: bool,
    /// The event types, in the order of each group's rows.
    pub types: Vec<String>,
}

/// The comparison columns (section 8), last in every row.
pub const COMPARISON_COLUMNS: [&str; 12] = [
    "matched_cases",
    "case_pre_per_patient_matched",
    "case_post_per_patient_matched",
    "controls",
    "control_pre_events",
    "control_post_events",
    "control_pre_per_patient",
    "control_post_per_patient",
    "did_per_patient",
    "did_ci_low",
    "did_ci_high",
    "adjustment_slope",
];

/// One event type's per-person data, for the people of one row.
struct TypeData<'a> {
    t: usize,
    counts: &'a [[u32; 2]],
    values: &'a [[u64; 2]],
    first_post: &'a [u16],
    comparison: Option<&'a Comparison>,
}

fn row_for(
    group: Vec<String>,
    event_type: &str,
    members: &[usize],
    data: &TypeData<'_>,
    within_days: &[u32],
) -> Row {
    let mut row = Row {
        group,
        event_type: event_type.to_string(),
        patients: members.len() as u64,
        pre: 0,
        post: 0,
        with_pre: 0,
        with_post: 0,
        p_value: None,
        changed: [0; 3],
        within: vec![0; within_days.len()],
        value: None,
        comparison: data
            .comparison
            .map(|c| ComparisonFigures::over(members, data.counts, c, data.t)),
    };
    let mut diffs = Vec::with_capacity(members.len());
    for &p in members {
        let [pre, post] = data.counts[p];
        row.pre += u64::from(pre);
        row.post += u64::from(post);
        row.with_pre += u64::from(pre > 0);
        row.with_post += u64::from(post > 0);
        row.changed[(post.cmp(&pre) as i8 + 1) as usize] += 1;
        diffs.push(i64::from(post) - i64::from(pre));
        if let Some(&first) = data.first_post.get(p) {
            for (n, &days) in row.within.iter_mut().zip(within_days) {
                *n += u64::from(first != NO_POST_EVENT && u32::from(first) < days);
            }
        }
    }
    row.p_value = wilcoxon_p(&diffs);
    if !data.values.is_empty() {
        let mut v = ValueFigures {
            pre: 0,
            post: 0,
            p_value: None,
            changed: [0; 3],
        };
        diffs.clear();
        for &p in members {
            let [pre, post] = data.values[p];
            v.pre += pre;
            v.post += post;
            v.changed[(post.cmp(&pre) as i8 + 1) as usize] += 1;
            diffs.push(post as i64 - pre as i64);
        }
        v.p_value = wilcoxon_p(&diffs);
        row.value = Some(v);
    }
    row
}

/// The report's groups in order, each with the indices of its people in
/// `included`, then `Total` with everyone: the rows of every table.
pub fn members(cohort: &Cohort, included: &[bool]) -> Vec<(Vec<String>, Vec<usize>)> {
    let mut by_group: Vec<Vec<usize>> = vec![Vec::new(); cohort.groups.len()];
    let mut everyone = Vec::new();
    for (i, e) in cohort.entries.iter().enumerate() {
        if included[i] {
            by_group[e.person.group as usize].push(i);
            everyone.push(i);
        }
    }
    let mut order: Vec<usize> = (0..cohort.groups.len()).collect();
    order.sort_by(|&a, &b| cohort.groups[a].cmp(&cohort.groups[b]));
    let mut out: Vec<(Vec<String>, Vec<usize>)> = order
        .into_iter()
        .map(|g| (cohort.groups[g].clone(), std::mem::take(&mut by_group[g])))
        .collect();
    out.push((
        vec!["Total".to_string(); cohort.group_columns.len()],
        everyone,
    ));
    out
}

/// Builds the report over `members` (from [`members`]), with a pair of
/// `--within` columns for each of `within_days` (which needs
/// `usage.first_post`).
pub fn build(
    cohort: &Cohort,
    usage: &Usage,
    members: &[(Vec<String>, Vec<usize>)],
    within_days: &[u32],
    comparison: Option<&Comparison>,
) -> Report {
    let data = |t: usize| TypeData {
        t,
        counts: &usage.counts[t],
        values: &usage.values[t],
        first_post: &usage.first_post[t],
        comparison,
    };
    let mut rows = Vec::new();
    for (group, people) in members {
        for (t, name) in usage.types.iter().enumerate() {
            rows.push(row_for(group.clone(), name, people, &data(t), within_days));
        }
    }
    Report {
        group_columns: cohort.group_columns.clone(),
        rows,
        within_days: within_days.to_vec(),
        has_value: usage.value_column.is_some(),
        has_comparison: comparison.is_some(),
        types: usage.types.clone(),
    }
}

impl Report {
    /// The header row: the group columns, section 6's columns, then
    /// section 7's.
    pub fn header(&self) -> Vec<String> {
        let mut h: Vec<String> = self.group_columns.clone();
        h.extend(COLUMNS.iter().map(|s| s.to_string()));
        h.extend(
            [
                "patients_decreased",
                "patients_unchanged",
                "patients_increased",
            ]
            .map(String::from),
        );
        for d in &self.within_days {
            h.push(format!("patients_within_{d}d"));
            h.push(format!("pct_within_{d}d"));
        }
        if self.has_value {
            h.extend(
                [
                    "pre_value",
                    "post_value",
                    "value_change_pct",
                    "value_p_value",
                ]
                .map(String::from),
            );
        }
        if self.has_comparison {
            h.extend(COMPARISON_COLUMNS.map(String::from));
        }
        h
    }

    /// A readable, aligned table of the released report.
    pub fn table(&self, released: &Table) -> String {
        // The columns shown, by name, with their short terminal headings.
        let mut shown: Vec<(String, String)> = [
            ("event_type", "event"),
            ("patients", "patients"),
            ("pre_events", "pre"),
            ("post_events", "post"),
            ("change_pct", "change %"),
            ("p_value", "p"),
            ("patients_decreased", "fell"),
            ("patients_unchanged", "same"),
            ("patients_increased", "rose"),
        ]
        .map(|(c, h)| (c.to_string(), h.to_string()))
        .to_vec();
        for d in &self.within_days {
            shown.push((format!("pct_within_{d}d"), format!("% in {d}d")));
        }
        shown.extend(
            [
                ("pre_value", "pre value"),
                ("post_value", "post value"),
                ("value_change_pct", "value %"),
                ("controls", "controls"),
                ("control_pre_per_patient", "ctrl pre/pt"),
                ("control_post_per_patient", "ctrl post/pt"),
                ("did_per_patient", "DiD/pt"),
                ("did_ci_low", "CI low"),
                ("did_ci_high", "CI high"),
            ]
            .map(|(c, h)| (c.to_string(), h.to_string())),
        );
        // Where each is among a row's cells (after the group columns); a
        // column this report does not have is left out.
        let names = &self.header()[self.group_columns.len()..];
        let (keep, headings): (Vec<usize>, Vec<String>) = shown
            .into_iter()
            .filter_map(|(c, h)| names.iter().position(|n| *n == c).map(|i| (i, h)))
            .unzip();
        let mut header: Vec<String> = self.group_columns.clone();
        header.extend(headings);
        let mut lines = vec![header];
        let groups = self.group_columns.len();
        for cells in released.strings() {
            let mut line = cells[..groups].to_vec();
            line.extend(keep.iter().map(|&i| cells[groups + i].clone()));
            lines.push(line);
        }
        aligned(&lines, self.group_columns.len() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The difference-in-differences and its interval, worked by hand.
    /// Cases (pre, post): (3, 1), (2, 2), (4, 1), and a fourth unmatched.
    /// Their controls: 2 with 6 pre and 4 post events, 1 with 2 and 3, 3
    /// with 9 and 6. With β = 1 (the plain DiD), per case: (1 - 3) - (2 -
    /// 3) = -1, (2 - 2) - (3 - 2) = -1, (1 - 4) - (2 - 3) = -2; mean -4/3.
    /// With β = 0.5: (1 - 1.5) - (2 - 1.5) = -1, (2 - 1) - (3 - 1) = -1,
    /// (1 - 2) - (2 - 1.5) = -1.5; mean -7/6. Three cases: no interval
    /// (intervals need 10; see estimate.rs for the interval by hand).
    #[test]
    fn the_estimate_by_hand() {
        use crate::relink::matching::{Comparison, Matched};
        let m = |k: u32, pre: u32, post: u32, first: u32| {
            Some(Matched {
                k,
                pre: vec![pre],
                post: vec![post],
                ids: (first..first + k).collect(),
            })
        };
        let mut comparison = Comparison {
            matched: vec![m(2, 6, 4, 10), m(1, 2, 3, 20), m(3, 9, 6, 30), None],
            own: vec![None; 4],
            cases: 4,
            unmatched: 1,
            controls: 6,
            wanted: 3,
            slope: vec![1.0],
            balance: vec![],
        };
        let counts = [[3, 1], [2, 2], [4, 1], [7, 0]];
        let f = ComparisonFigures::over(&[0, 1, 2, 3], &counts, &comparison, 0);
        assert_eq!(
            (
                f.cases,
                f.case_pre,
                f.case_post,
                f.controls,
                f.control_pre,
                f.control_post
            ),
            (3, 9, 4, 6, 17, 13)
        );
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(f.did.unwrap(), -4.0 / 3.0), "{:?}", f.did);
        assert_eq!(f.ci, None, "three cases");
        comparison.slope = vec![0.5];
        let f = ComparisonFigures::over(&[0, 1, 2, 3], &counts, &comparison, 0);
        assert!(close(f.did.unwrap(), -7.0 / 6.0), "{:?}", f.did);
        // Nobody matched: no estimate.
        let none = ComparisonFigures::over(&[3], &counts, &comparison, 0);
        assert_eq!((none.did, none.ci, none.controls), (None, None, 0));
    }
}
