//! Costs and the return on the service's cost (docs/SPEC.md section 7):
//! `--unit-costs FILE`, `--costs FILE` and `--service-cost POUNDS`.
//!
//! A cost is the sum over event types of unit cost × events. Under `hes`
//! disclosure the events are taken **as shown** (rounded to 5), so that a
//! cost can never be divided back into an exact count, and a cost is `*`
//! when any count it is built on is shown as `*`. `change_pct`,
//! `saving_per_patient` and `return_per_pound` follow from the shown costs
//! (and the shown number of patients). The p-value is the Wilcoxon test on
//! each person's post − pre cost, computed exactly and withheld when any
//! count it rests on is 1–7. Money is held in thousandths of a pound, so
//! every sum is exact.
//!
//! The unit-cost file is `event_type,unit_cost` with a row per type; lines
//! starting with `#` are comments (say where the costs come from).
//! `examples/unit-costs.csv` is one, with its sources.

use std::collections::BTreeMap;

use crate::error::{shown_value, Error, Result, Source};
use crate::relink::estimate::{clusters, corrected, estimate, Estimate};
use crate::relink::matching::Comparison;
use crate::relink::release::Table;
use crate::relink::report::matched_set;
use crate::relink::report::Report;
use crate::relink::stats::wilcoxon_p;
use crate::relink::table::aligned;
use crate::relink::usage::Usage;
use crate::relink::values::parse_milli;

/// Unit costs by event type, in thousandths of a pound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitCosts(pub BTreeMap<String, u64>);

/// The largest unit-cost file read.
const MAX_UNIT_COSTS_FILE: u64 = 1024 * 1024;

impl UnitCosts {
    /// Reads a `event_type,unit_cost` CSV. Every problem names the file,
    /// and where there is one, the row and column.
    pub fn load(file: &Source) -> Result<UnitCosts> {
        let text = crate::io::read_small_input(file, MAX_UNIT_COSTS_FILE).map_err(|e| {
            e.unwrap_or_else(|| Error::UnitCosts {
                file: file.clone(),
                problem: "is not a unit-cost file (not a regular file, or over 1 MiB)".into(),
            })
        })?;
        UnitCosts::parse(&text, file)
    }

    /// Parses the text of a unit-cost file.
    pub fn parse(text: &[u8], file: &Source) -> Result<UnitCosts> {
        let bad = |problem: String| Error::UnitCosts {
            file: file.clone(),
            problem,
        };
        // Lines starting with `#` are comments: where the costs come from.
        let (mut reader, header) = crate::io::csv::small_table(text)
            .map_err(|e| bad(format!("cannot be read as CSV: {e}")))?;
        if header != ["event_type", "unit_cost"] {
            return Err(bad(format!(
                "has header {:?}; it must be exactly `event_type,unit_cost` (one row per event type, cost in pounds)",
                header.join(",")
            )));
        }
        let mut costs = BTreeMap::new();
        let mut first_row: BTreeMap<String, u64> = BTreeMap::new();
        for (i, record) in reader.records().enumerate() {
            let row = i as u64 + 1;
            let record = record.map_err(|e| bad(format!("row {row}: {e}")))?;
            let event_type = record[0].trim().to_string();
            if event_type.is_empty() {
                return Err(bad(format!("row {row}: the event type is empty")));
            }
            let cell = record[1].as_bytes();
            let cost = match parse_milli(cell) {
                Some(Ok(v)) => v,
                None => {
                    return Err(bad(format!(
                        "row {row}, column \"unit_cost\": the unit cost of {event_type:?} is empty"
                    )))
                }
                Some(Err(why)) => {
                    return Err(Error::BadValue {
                        file: file.clone(),
                        row,
                        column: "unit_cost".into(),
                        shown: shown_value(cell),
                        why: why.explain(),
                    })
                }
            };
            if let Some(first) = first_row.get(&event_type) {
                return Err(bad(format!(
                    "rows {first} and {row} both give a unit cost for {event_type:?}; keep one"
                )));
            }
            first_row.insert(event_type.clone(), row);
            costs.insert(event_type, cost);
        }
        if costs.is_empty() {
            return Err(bad("has no unit costs under its header".into()));
        }
        Ok(UnitCosts(costs))
    }

    /// The unit cost of each of `types`, in order; an error names every
    /// type that has none.
    pub fn for_types(&self, types: &[String], file: &Source) -> Result<Vec<u64>> {
        let missing: Vec<&str> = types
            .iter()
            .filter(|t| !self.0.contains_key(*t))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(Error::UnitCosts {
                file: file.clone(),
                problem: format!(
                    "has no unit cost for the event type{} {}, which the usage file holds; add a row for each",
                    if missing.len() == 1 { "" } else { "s" },
                    crate::io::csv::list_names(missing.into_iter())
                ),
            });
        }
        Ok(types.iter().map(|t| self.0[t]).collect())
    }
}

/// One group's costs, with exact event counts per type.
#[derive(Clone, Debug, PartialEq)]
pub struct CostRow {
    /// Group values (`Total` for the total row).
    pub group: Vec<String>,
    /// People in the group.
    pub patients: u64,
    /// Pre-window events per type, in the report's type order.
    pub pre: Vec<u64>,
    /// Post-window events per type.
    pub post: Vec<u64>,
    /// Wilcoxon p-value on each person's post − pre cost.
    pub p_value: Option<f64>,
    /// People whose post − pre cost is < 0, = 0 and > 0.
    pub changed: [u64; 3],
    /// With a comparison group: the matched cases, and the mean over them
    /// of their cost change net of their controls' (bias-corrected, in
    /// pounds) with its interval.
    pub net: Option<(u64, Option<Estimate>)>,
}

/// The costs report: a row per group, then `Total`.
#[derive(Clone, Debug, PartialEq)]
pub struct CostReport {
    /// Names of the group columns.
    pub group_columns: Vec<String>,
    /// Rows, total last.
    pub rows: Vec<CostRow>,
    /// Unit costs in the report's type order, thousandths of a pound.
    pub unit: Vec<u64>,
    /// The service's cost per patient, thousandths of a pound.
    pub service_cost: Option<u64>,
    /// Whether the comparison columns are there.
    pub has_comparison: bool,
}

/// The columns after the group columns; the last two only with a service
/// cost.
pub const COST_COLUMNS: [&str; 8] = [
    "patients",
    "pre_cost",
    "post_cost",
    "change_pct",
    "saving_per_patient",
    "p_value",
    "service_cost_per_patient",
    "return_per_pound",
];

/// The costs net of the comparison group (section 8), after the others.
pub const NET_COLUMNS: [&str; 3] = [
    "did_cost_per_patient",
    "did_cost_ci_low",
    "did_cost_ci_high",
];

/// Over a group's matched cases: each one's cost change net of its
/// controls', Σ over types of unit cost × the bias-corrected difference
/// ([`corrected`]), in pounds; their mean and interval.
fn net_of_comparison(
    people: &[usize],
    usage: &Usage,
    unit: &[u64],
    c: &Comparison,
) -> (u64, Option<Estimate>) {
    let mut diffs = Vec::new();
    let mut sets = Vec::new();
    for &p in people {
        let Some(m) = &c.matched[p] else { continue };
        let net: f64 = (0..usage.types.len())
            .map(|t| {
                let slope = c.slope.get(t).copied().unwrap_or(1.0);
                let d = corrected(usage.counts[t][p], [m.pre[t], m.post[t]], m.k, slope);
                d * unit[t] as f64 / 1000.0
            })
            .sum();
        diffs.push(net);
        sets.push(matched_set(c, p));
    }
    (diffs.len() as u64, estimate(&diffs, &clusters(&sets)))
}

/// Whole pounds, from thousandths, rounded half away from zero.
pub fn whole_pounds(milli: i128) -> i128 {
    let r = (milli.abs() + 500) / 1000 * 1000;
    if milli < 0 {
        -r
    } else {
        r
    }
}

impl CostReport {
    /// Builds the costs of each of the report's groups (its rows come a
    /// group at a time, one per event type, in `usage.types` order), with
    /// each group's p-value from its people's post − pre costs.
    pub fn build(
        report: &Report,
        members: &[(Vec<String>, Vec<usize>)],
        usage: &Usage,
        unit: Vec<u64>,
        service_cost: Option<u64>,
        comparison: Option<&Comparison>,
    ) -> CostReport {
        let types = usage.types.len().max(1);
        let mut rows: Vec<CostRow> = Vec::new();
        for (chunk, (_, people)) in report.rows.chunks(types).zip(members) {
            let diffs: Vec<i64> = people
                .iter()
                .map(|&p| {
                    usage
                        .counts
                        .iter()
                        .zip(&unit)
                        .map(|(c, &u)| (i64::from(c[p][1]) - i64::from(c[p][0])) * u as i64)
                        .sum()
                })
                .collect();
            let mut changed = [0u64; 3];
            for d in &diffs {
                changed[(d.cmp(&0) as i8 + 1) as usize] += 1;
            }
            rows.push(CostRow {
                group: chunk[0].group.clone(),
                patients: chunk[0].patients,
                pre: chunk.iter().map(|r| r.pre).collect(),
                post: chunk.iter().map(|r| r.post).collect(),
                p_value: wilcoxon_p(&diffs),
                changed,
                net: comparison.map(|c| net_of_comparison(people, usage, &unit, c)),
            });
        }
        CostReport {
            group_columns: report.group_columns.clone(),
            rows,
            unit,
            service_cost,
            has_comparison: comparison.is_some(),
        }
    }

    /// The header row.
    pub fn header(&self) -> Vec<String> {
        let n = if self.service_cost.is_some() { 8 } else { 6 };
        let mut h: Vec<String> = self
            .group_columns
            .iter()
            .cloned()
            .chain(COST_COLUMNS[..n].iter().map(|s| s.to_string()))
            .collect();
        if self.has_comparison {
            h.extend(NET_COLUMNS.map(String::from));
            if self.service_cost.is_some() {
                h.push("net_return_per_pound".into());
            }
        }
        h
    }

    /// A readable, aligned table of the released costs.
    pub fn table(&self, released: &Table) -> String {
        let mut header = self.group_columns.clone();
        header.extend(
            [
                "patients",
                "pre cost £",
                "post cost £",
                "change %",
                "saved/patient £",
                "p",
            ]
            .map(String::from),
        );
        if self.service_cost.is_some() {
            header.extend(["service £/patient", "return per £"].map(String::from));
        }
        if self.has_comparison {
            header.extend(["net £/patient", "low", "high"].map(String::from));
            if self.service_cost.is_some() {
                header.push("net return per £".into());
            }
        }
        let mut lines = vec![header];
        lines.extend(released.strings());
        aligned(&lines, self.group_columns.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> Source {
        Source::Path("unit-costs.csv".into())
    }

    #[test]
    fn unit_cost_files() {
        let u = UnitCosts::parse(
            b"\xEF\xBB\xBF# source: a comment\nevent_type,unit_cost\nAE,114\n# another\nNEL,1758.50\n",
            &src(),
        )
        .unwrap();
        assert_eq!(u.0["AE"], 114_000);
        assert_eq!(u.0["NEL"], 1_758_500);
        assert_eq!(
            u.for_types(&["AE".into(), "NEL".into()], &src()).unwrap(),
            [114_000, 1_758_500]
        );
        let e = u
            .for_types(&["AE".into(), "OP".into(), "ZZ".into()], &src())
            .unwrap_err()
            .to_string();
        assert!(e.contains("event types \"OP\", \"ZZ\""), "{e}");

        let err = |t: &str| {
            UnitCosts::parse(t.as_bytes(), &src())
                .unwrap_err()
                .to_string()
        };
        assert!(err("type,cost\nAE,1\n").contains("event_type,unit_cost"));
        assert!(err("event_type,unit_cost\nAE,1\nNEL,2\nAE,3\n")
            .contains("rows 1 and 3 both give a unit cost for \"AE\""));
        assert!(err("event_type,unit_cost\nAE,-5\n")
            .contains("row 1, column \"unit_cost\": \"-5\" is negative"));
        assert!(err("event_type,unit_cost\nAE,NaN\n").contains("not a plain decimal"));
        assert!(err("event_type,unit_cost\nAE,\n").contains("unit cost of \"AE\" is empty"));
        assert!(err("event_type,unit_cost\n").contains("no unit costs"));
        assert!(err("event_type,unit_cost\nAE,1,2\n").contains("row"));
    }
}
