//! The re-link report: per-group pre/post tables with disclosure control
//! (docs/SPEC.md section 6), as CSV, as a terminal table, and the record-level
//! people file.

use std::fmt::Write as _;

use crate::relink::stats::{format_4g, wilcoxon_p};
use crate::relink::{Cohort, Usage};

/// How counts are protected before release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    /// NHS small-number suppression: 1–7 as `*`, others to the nearest 5.
    Hes,
    /// Exact values: not fit for release.
    None,
}

/// The columns after the group columns, in order.
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
}

fn small(c: u64) -> bool {
    (1..=7).contains(&c)
}

fn round5(c: u64) -> u64 {
    (c + 2) / 5 * 5
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
        (self.pre > 0).then(|| 100.0 * (self.post as f64 - self.pre as f64) / self.pre as f64)
    }

    /// The cells after the group columns, as released under `disclosure`.
    pub fn cells(&self, disclosure: Disclosure) -> Vec<String> {
        let hes = disclosure == Disclosure::Hes;
        let count = |c: u64| -> String {
            if !hes {
                c.to_string()
            } else if small(c) {
                "*".into()
            } else {
                round5(c).to_string()
            }
        };
        let derived = |inputs: &[u64], v: Option<f64>, fmt: &dyn Fn(f64) -> String| -> String {
            if hes && inputs.iter().any(|&c| small(c)) {
                "*".into()
            } else {
                v.map(fmt).unwrap_or_default()
            }
        };
        let two = |x: f64| format!("{x:.2}");
        vec![
            self.event_type.clone(),
            count(self.patients),
            count(self.pre),
            count(self.post),
            derived(&[self.pre, self.patients], self.pre_per_patient(), &two),
            derived(&[self.post, self.patients], self.post_per_patient(), &two),
            derived(&[self.pre, self.post], self.change_pct(), &two),
            count(self.with_pre),
            count(self.with_post),
            derived(
                &[self.patients, self.pre, self.post],
                self.p_value,
                &format_4g,
            ),
        ]
    }
}

/// The report: rows per group and event type, then the totals.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Names of the group columns.
    pub group_columns: Vec<String>,
    /// All rows, totals last.
    pub rows: Vec<Row>,
}

fn row_for(group: Vec<String>, event_type: &str, members: &[usize], counts: &[[u32; 2]]) -> Row {
    let mut row = Row {
        group,
        event_type: event_type.to_string(),
        patients: members.len() as u64,
        pre: 0,
        post: 0,
        with_pre: 0,
        with_post: 0,
        p_value: None,
    };
    let mut diffs = Vec::with_capacity(members.len());
    for &p in members {
        let [pre, post] = counts[p];
        row.pre += u64::from(pre);
        row.post += u64::from(post);
        row.with_pre += u64::from(pre > 0);
        row.with_post += u64::from(post > 0);
        diffs.push(i64::from(post) - i64::from(pre));
    }
    row.p_value = wilcoxon_p(&diffs);
    row
}

/// Builds the report over the people in `included` (indices into the
/// cohort's people).
pub fn build(cohort: &Cohort, usage: &Usage, included: &[bool]) -> Report {
    let mut by_group: Vec<Vec<usize>> = vec![Vec::new(); cohort.groups.len()];
    let mut everyone = Vec::new();
    for (i, e) in cohort.entries.iter().enumerate() {
        let p = &e.person;
        if included[i] {
            by_group[p.group as usize].push(i);
            everyone.push(i);
        }
    }
    let mut order: Vec<usize> = (0..cohort.groups.len()).collect();
    order.sort_by(|&a, &b| cohort.groups[a].cmp(&cohort.groups[b]));
    let mut rows = Vec::new();
    for &g in &order {
        for (t, name) in usage.types.iter().enumerate() {
            rows.push(row_for(
                cohort.groups[g].clone(),
                name,
                &by_group[g],
                &usage.counts[t],
            ));
        }
    }
    let total = vec!["Total".to_string(); cohort.group_columns.len()];
    for (t, name) in usage.types.iter().enumerate() {
        rows.push(row_for(total.clone(), name, &everyone, &usage.counts[t]));
    }
    Report {
        group_columns: cohort.group_columns.clone(),
        rows,
    }
}

impl Report {
    /// The header row.
    pub fn header(&self) -> Vec<String> {
        self.group_columns
            .iter()
            .cloned()
            .chain(COLUMNS.iter().map(|s| s.to_string()))
            .collect()
    }

    /// Every row as released cells.
    pub fn cells(&self, disclosure: Disclosure) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|r| r.group.iter().cloned().chain(r.cells(disclosure)).collect())
            .collect()
    }

    /// Writes the CSV report.
    pub fn write_csv<W: std::io::Write>(&self, w: W, disclosure: Disclosure) -> csv::Result<W> {
        let mut out = csv::Writer::from_writer(w);
        out.write_record(self.header())?;
        for r in self.cells(disclosure) {
            out.write_record(r)?;
        }
        out.into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))
    }

    /// A readable, aligned table of the released values.
    pub fn table(&self, disclosure: Disclosure) -> String {
        let keep = [0usize, 1, 2, 3, 6, 9]; // event_type, patients, pre, post, change, p
        let mut header: Vec<String> = self.group_columns.clone();
        header.extend(["event", "patients", "pre", "post", "change %", "p"].map(String::from));
        let mut lines = vec![header];
        for r in &self.rows {
            let cells = r.cells(disclosure);
            let mut line = r.group.clone();
            line.extend(keep.iter().map(|&i| cells[i].clone()));
            lines.push(line);
        }
        let cols = lines[0].len();
        let width: Vec<usize> = (0..cols)
            .map(|c| {
                lines
                    .iter()
                    .map(|l| l[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let groups = self.group_columns.len();
        let mut s = String::new();
        for (n, l) in lines.iter().enumerate() {
            for (c, cell) in l.iter().enumerate() {
                let pad = width[c] - cell.chars().count();
                if c <= groups {
                    let _ = write!(s, "{cell}{}", " ".repeat(pad));
                } else {
                    let _ = write!(s, "{}{cell}", " ".repeat(pad));
                }
                s.push_str(if c + 1 < cols { "  " } else { "\n" });
            }
            if n == 0 {
                let total: usize = width.iter().sum::<usize>() + 2 * (cols - 1);
                s.push_str(&"-".repeat(total));
                s.push('\n');
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(patients: u64, pre: u64, post: u64, with_pre: u64, with_post: u64) -> Row {
        Row {
            group: vec!["g".into()],
            event_type: "AE".into(),
            patients,
            pre,
            post,
            with_pre,
            with_post,
            p_value: Some(0.012345),
        }
    }

    #[test]
    fn the_evaluations_headline_number() {
        let r = row(2000, 1633, 1247, 900, 800);
        let c = r.cells(Disclosure::None);
        assert_eq!(c[6], "-23.64");
        let c = r.cells(Disclosure::Hes);
        assert_eq!(c[1..4], ["2000", "1635", "1245"]);
        // Derived values come from the unrounded counts.
        assert_eq!(c[4], "0.82");
        assert_eq!(c[5], "0.62");
        assert_eq!(c[6], "-23.64");
        assert_eq!(c[9], "0.01235");
    }

    #[test]
    fn hes_rounding_and_suppression() {
        assert_eq!(round5(8), 10);
        assert_eq!(round5(12), 10);
        assert_eq!(round5(13), 15);
        assert_eq!(round5(1247), 1245);
        assert_eq!(round5(1248), 1250);
        let c = row(40, 7, 0, 5, 0).cells(Disclosure::Hes);
        assert_eq!(c[1..4], ["40", "*", "0"]);
        assert_eq!(c[4], "*", "pre_per_patient built on 7");
        assert_eq!(c[5], "0.00", "post_per_patient from 0 and 40");
        assert_eq!(c[6], "*", "change_pct built on 7");
        assert_eq!(c[7..9], ["*", "0"]);
        assert_eq!(c[9], "*", "p_value built on a count of 7");
        let c = row(8, 8, 9, 8, 8).cells(Disclosure::Hes);
        assert_eq!(c[1..4], ["10", "10", "10"]);
        assert_eq!(c[6], "12.50");
        let c = row(5, 20, 20, 5, 5).cells(Disclosure::Hes);
        assert_eq!(c[1], "*");
        assert_eq!(c[4], "*");
        assert_eq!(c[9], "*");
    }

    #[test]
    fn change_is_empty_without_pre_events() {
        let c = row(10, 0, 9, 0, 9).cells(Disclosure::None);
        assert_eq!(c[6], "");
        let mut r = row(10, 0, 0, 0, 0);
        r.p_value = None;
        assert_eq!(r.cells(Disclosure::Hes)[9], "");
    }
}
