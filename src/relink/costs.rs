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
use std::path::Path;

use crate::error::{shown_value, Error, Result, Source};
use crate::relink::disclosure::{round5, shown_count, shown_derived, small, Disclosure};
use crate::relink::report::Report;
use crate::relink::stats::{format_4g, wilcoxon_p};
use crate::relink::table::{aligned, pct_change, two, write_table};
use crate::relink::usage::Usage;
use crate::relink::values::{format_milli, parse_milli};

/// Unit costs by event type, in thousandths of a pound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitCosts(pub BTreeMap<String, u64>);

/// The largest unit-cost file read.
const MAX_UNIT_COSTS_FILE: u64 = 1024 * 1024;

impl UnitCosts {
    /// Reads a `event_type,unit_cost` CSV. Every problem names the file,
    /// and where there is one, the row and column.
    pub fn load(path: &Path) -> Result<UnitCosts> {
        let file = Source::Path(path.to_path_buf());
        let meta = std::fs::metadata(path).map_err(|source| Error::Open {
            file: file.clone(),
            source,
        })?;
        if !meta.is_file() || meta.len() > MAX_UNIT_COSTS_FILE {
            return Err(Error::UnitCosts {
                file,
                problem: "is not a unit-cost file (not a regular file, or over 1 MiB)".into(),
            });
        }
        let text = std::fs::read(path).map_err(|source| Error::Read {
            file: file.clone(),
            source,
        })?;
        UnitCosts::parse(&text, &file)
    }

    /// Parses the text of a unit-cost file.
    pub fn parse(text: &[u8], file: &Source) -> Result<UnitCosts> {
        let bad = |problem: String| Error::UnitCosts {
            file: file.clone(),
            problem,
        };
        let text = text.strip_prefix(crate::io::csv::BOM).unwrap_or(text);
        // Lines starting with `#` are comments: where the costs come from.
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .comment(Some(b'#'))
            .from_reader(text);
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| bad(format!("cannot be read as CSV: {e}")))?
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
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

/// Figures of one cost row as released: costs in thousandths of a pound
/// (`None` where withheld), and patients as shown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostFigures {
    /// Pre-window cost, whole pounds in thousandths, or `None` for `*`.
    pub pre: Option<i128>,
    /// Post-window cost, likewise.
    pub post: Option<i128>,
    /// Patients as shown, or `None` for `*`.
    pub patients: Option<u64>,
    /// Saving per patient in pounds, or `None` for `*`.
    pub saving_per_patient: Option<f64>,
}

/// Whole pounds, from thousandths, rounded half away from zero.
fn whole_pounds(milli: i128) -> i128 {
    let r = (milli.abs() + 500) / 1000 * 1000;
    if milli < 0 {
        -r
    } else {
        r
    }
}

impl CostRow {
    /// The cost of the events as released: exact counts with `none`, shown
    /// (rounded) counts with `hes`, `None` when any count is `*`.
    fn cost(&self, events: &[u64], unit: &[u64], disclosure: Disclosure) -> Option<i128> {
        let mut total = 0i128;
        for (&e, &u) in events.iter().zip(unit) {
            let shown = match disclosure {
                Disclosure::None => e,
                Disclosure::Hes if small(e) => return None,
                Disclosure::Hes => round5(e),
            };
            total += i128::from(shown) * i128::from(u);
        }
        Some(whole_pounds(total))
    }

    /// The released figures under `disclosure`.
    pub fn figures(&self, unit: &[u64], disclosure: Disclosure) -> CostFigures {
        let pre = self.cost(&self.pre, unit, disclosure);
        let post = self.cost(&self.post, unit, disclosure);
        let patients = match disclosure {
            Disclosure::None => Some(self.patients),
            Disclosure::Hes if small(self.patients) => None,
            Disclosure::Hes => Some(round5(self.patients)),
        };
        let saving_per_patient = match (pre, post, patients) {
            (Some(a), Some(b), Some(n)) if n > 0 => Some((a - b) as f64 / 1000.0 / n as f64),
            _ => None,
        };
        CostFigures {
            pre,
            post,
            patients,
            saving_per_patient,
        }
    }

    /// The cells after the group columns.
    pub fn cells(
        &self,
        unit: &[u64],
        service_cost: Option<u64>,
        disclosure: Disclosure,
    ) -> Vec<String> {
        let f = self.figures(unit, disclosure);
        let money = |v: Option<i128>| v.map_or("*".into(), |m| format_milli(m, 0));
        let change = match (f.pre, f.post) {
            (Some(a), Some(b)) => pct_change(a as f64, b as f64).map(two).unwrap_or_default(),
            _ => "*".into(),
        };
        let saving = match (f.pre, f.post, f.patients) {
            (Some(_), Some(_), Some(0)) => String::new(),
            _ => f.saving_per_patient.map_or("*".into(), two),
        };
        let mut rests_on = vec![self.patients];
        rests_on.extend(&self.pre);
        rests_on.extend(&self.post);
        let mut cells = vec![
            shown_count(self.patients, disclosure),
            money(f.pre),
            money(f.post),
            change,
            saving.clone(),
            shown_derived(disclosure, &rests_on, self.p_value, &format_4g),
        ];
        if let Some(service) = service_cost {
            cells.push(format_milli(i128::from(service), 2));
            cells.push(match (f.saving_per_patient, saving.as_str()) {
                (Some(s), _) => two(s / (service as f64 / 1000.0)),
                (None, "") => String::new(),
                (None, _) => "*".into(),
            });
        }
        cells
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
            rows.push(CostRow {
                group: chunk[0].group.clone(),
                patients: chunk[0].patients,
                pre: chunk.iter().map(|r| r.pre).collect(),
                post: chunk.iter().map(|r| r.post).collect(),
                p_value: wilcoxon_p(&diffs),
            });
        }
        CostReport {
            group_columns: report.group_columns.clone(),
            rows,
            unit,
            service_cost,
        }
    }

    /// The header row.
    pub fn header(&self) -> Vec<String> {
        let n = if self.service_cost.is_some() { 8 } else { 6 };
        self.group_columns
            .iter()
            .cloned()
            .chain(COST_COLUMNS[..n].iter().map(|s| s.to_string()))
            .collect()
    }

    /// Every row as released cells.
    pub fn cells(&self, disclosure: Disclosure) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|r| {
                r.group
                    .iter()
                    .cloned()
                    .chain(r.cells(&self.unit, self.service_cost, disclosure))
                    .collect()
            })
            .collect()
    }

    /// A readable, aligned table of the released costs.
    pub fn table(&self, disclosure: Disclosure) -> String {
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
        let mut lines = vec![header];
        lines.extend(self.cells(disclosure));
        aligned(&lines, self.group_columns.len())
    }

    /// Writes the costs CSV.
    pub fn write_csv<W: std::io::Write>(&self, w: W, disclosure: Disclosure) -> csv::Result<W> {
        write_table(w, &self.header(), &self.cells(disclosure))
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

    fn row(patients: u64, pre: &[u64], post: &[u64]) -> CostRow {
        CostRow {
            group: vec!["g".into()],
            patients,
            pre: pre.to_vec(),
            post: post.to_vec(),
            p_value: Some(0.0123),
        }
    }

    /// Worked by hand: AE £114, NEL £1,758.50.
    #[test]
    fn costs_from_exact_and_from_shown_counts() {
        let unit = [114_000, 1_758_500];
        let r = row(52, &[33, 12], &[21, 9]);
        // Exact: pre 33 × 114 + 12 × 1758.5 = 3762 + 21102 = 24864;
        // post 21 × 114 + 9 × 1758.5 = 2394 + 15826.5 = 18220.5 → 18221.
        let c = r.cells(&unit, Some(1_171_000), Disclosure::None);
        assert_eq!(c[..3], ["52", "24864", "18221"]);
        // change: 100 × (18221 − 24864) / 24864 = −26.717...
        assert_eq!(c[3], "-26.72");
        // saving: (24864 − 18221) / 52 = 127.75
        assert_eq!(c[4], "127.75");
        assert_eq!(c[5], "0.0123");
        assert_eq!(c[6], "1171.00");
        // 127.75 / 1171 = 0.1091
        assert_eq!(c[7], "0.11");
        // hes: counts as shown: 33→35, 12→10, 21→20, 9→10, 52→50.
        // pre 35 × 114 + 10 × 1758.5 = 3990 + 17585 = 21575;
        // post 20 × 114 + 10 × 1758.5 = 2280 + 17585 = 19865.
        let c = r.cells(&unit, Some(1_171_000), Disclosure::Hes);
        assert_eq!(c[..3], ["50", "21575", "19865"]);
        // change from shown costs: 100 × (19865 − 21575) / 21575 = −7.926
        assert_eq!(c[3], "-7.93");
        // saving from shown costs and patients: 1710 / 50 = 34.20
        assert_eq!(c[4], "34.20");
        // 34.20 / 1171 = 0.0292
        assert_eq!(c[7], "0.03");
    }

    #[test]
    fn a_small_count_withholds_what_rests_on_it() {
        let unit = [114_000, 1_758_500];
        // NEL post = 5: post cost, change, saving and return are withheld;
        // pre cost is still shown; so is the p-value's withholding.
        let c = row(52, &[33, 12], &[21, 5]).cells(&unit, Some(1_171_000), Disclosure::Hes);
        assert_eq!(c[..6], ["50", "21575", "*", "*", "*", "*"]);
        assert_eq!(c[7], "*");
        // Five patients: counts of 8 and more, but the patients count is
        // withheld, so are the saving per patient and the p-value.
        let c = row(5, &[40, 10], &[30, 10]).cells(&unit, None, Disclosure::Hes);
        assert_eq!(c[0], "*");
        assert_eq!(c[4], "*");
        assert_eq!(c[5], "*");
        assert_eq!(c.len(), 6);
        // Nothing before: change is empty, not a division by zero.
        let c = row(20, &[0, 0], &[10, 0]).cells(&unit, None, Disclosure::None);
        assert_eq!(c[1..4], ["0", "1140", ""]);
    }
}
