//! What a relink run releases (docs/SPEC.md section 6): the report, costs
//! and balance tables as cells, after disclosure control, and the counts the
//! HTML's sentences use. The CSV files, the terminal tables, the HTML page
//! and the disclosure log are all made from one [`Release`], so they can
//! never disagree, and nothing derived is computed from an unpublished
//! count.

use super::costs::CostReport;
use super::disclosure::{
    primary, test_allowed, Disclosure, Protect, Rule, Shown, MIN_CASES_FOR_ESTIMATE,
};
use super::estimate::MIN_CASES_FOR_INTERVAL;
use super::event_study::EventStudy;
use super::matching::Comparison;
use super::report::{ComparisonFigures, Report, Row, ValueFigures};
use super::stats::format_4g;
use super::table::{formula_safe, pct_change, two, write_table};
use super::values::format_milli;

/// One released cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// A label: a group value, an event type or a measure.
    Label(String),
    /// A number as shown.
    Value(String),
    /// Withheld, shown as `*`.
    Withheld(Rule),
    /// Not defined (e.g. a change from 0), shown empty.
    Empty,
}

impl Cell {
    /// The cell's text in a file.
    pub fn text(&self) -> &str {
        match self {
            Cell::Label(s) | Cell::Value(s) => s,
            Cell::Withheld(_) => "*",
            Cell::Empty => "",
        }
    }

    fn count(s: Shown) -> Cell {
        match s {
            Shown::Count(c) => Cell::Value(c.to_string()),
            Shown::Withheld(r) => Cell::Withheld(r),
        }
    }

    /// A value derived from released counts: withheld (with the first
    /// withheld input's rule) when any input is, else `f` of the shown
    /// values, empty when `f` is undefined.
    fn derived(inputs: &[Shown], f: impl FnOnce(&[f64]) -> Option<String>) -> Cell {
        let mut shown = Vec::with_capacity(inputs.len());
        for s in inputs {
            match s {
                Shown::Count(c) => shown.push(*c as f64),
                Shown::Withheld(r) => return Cell::Withheld(*r),
            }
        }
        f(&shown).map_or(Cell::Empty, Cell::Value)
    }
}

/// A released table.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// The file it is written to, as the disclosure log names it.
    pub file: &'static str,
    /// Column names.
    pub header: Vec<String>,
    /// How many leading columns are labels.
    pub labels: usize,
    /// The cells.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// The position of a column.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The rows as text.
    pub fn strings(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|r| r.iter().map(|c| c.text().to_string()).collect())
            .collect()
    }

    /// Writes the table as CSV: labels and the header formula-safe
    /// ([`formula_safe`]), numbers as they are.
    pub fn write_csv<W: std::io::Write>(&self, w: W) -> csv::Result<W> {
        let header: Vec<String> = self
            .header
            .iter()
            .map(|h| formula_safe(h).into_owned())
            .collect();
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|c| match c {
                        Cell::Label(s) => formula_safe(s).into_owned(),
                        other => other.text().to_string(),
                    })
                    .collect()
            })
            .collect();
        write_table(w, &header, &rows)
    }

    /// Every withheld cell: (row labels, column, rule).
    pub fn withheld(&self) -> Vec<(String, String, Rule)> {
        let mut out = Vec::new();
        for row in &self.rows {
            let labels: Vec<&str> = row[..self.labels].iter().map(Cell::text).collect();
            for (c, cell) in row.iter().enumerate() {
                if let Cell::Withheld(rule) = cell {
                    out.push((labels.join(" / "), self.header[c].clone(), *rule));
                }
            }
        }
        out
    }
}

/// Counts the HTML states in sentences, each released on its own (none of
/// them adds up with another published count).
#[derive(Clone, Debug, PartialEq)]
pub struct Prose {
    /// People left out for incomplete windows.
    pub excluded: Shown,
    /// Repeat referrals (later rows of a token already seen).
    pub repeat_referrals: Shown,
    /// Usage rows read.
    pub usage_rows: Shown,
    /// Usage rows of referred people.
    pub usage_matched: Shown,
    /// Usage rows whose identifier could not be used.
    pub usage_unusable: Shown,
}

/// The exact counts behind [`Prose`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)] // as in Prose
pub struct ProseCounts {
    pub excluded: u64,
    pub repeat_referrals: u64,
    pub usage_rows: u64,
    pub usage_matched: u64,
    pub usage_unusable: u64,
}

/// Everything a run releases.
#[derive(Clone, Debug, PartialEq)]
pub struct Release {
    /// The disclosure control applied.
    pub disclosure: Disclosure,
    /// The report.
    pub report: Table,
    /// The costs, with `--unit-costs`.
    pub costs: Option<Table>,
    /// The balance, with `--population`.
    pub balance: Option<Table>,
    /// The event study, with `--event-study`.
    pub event_study: Option<Table>,
    /// The counts in the HTML's sentences.
    pub prose: Prose,
}

/// The numbers of one row's counts in [`Protect`].
struct RowVars {
    pre: usize,
    post: usize,
    with_pre: usize,
    with_post: usize,
    changed: [usize; 3],
    within: Vec<usize>,
    /// Matched cases' pre and post events, controls' pre and post events.
    comparison: Option<[usize; 4]>,
}

/// The numbers of one group's counts: shared by its rows of every type.
struct GroupVars {
    patients: usize,
    /// Matched cases and controls, with `--population`.
    matched: Option<[usize; 2]>,
    rows: Vec<RowVars>,
}

/// Registers every count of the report, the sums between them and the rows
/// they stand or fall with.
fn register(report: &Report, p: &mut Protect) -> Vec<GroupVars> {
    let types = report.types.len().max(1);
    let groups: Vec<GroupVars> = report
        .rows
        .chunks(types)
        .map(|chunk| {
            let first = &chunk[0];
            let patients = p.add(first.patients);
            let matched = first
                .comparison
                .as_ref()
                .map(|c| [p.add(c.cases), p.add(c.controls)]);
            let rows = chunk.iter().map(|r| row_vars(r, p)).collect();
            GroupVars {
                patients,
                matched,
                rows,
            }
        })
        .collect();
    let (total, parts) = groups.split_last().expect("the Total row is always there");
    let column = |p: &mut Protect, f: &dyn Fn(&GroupVars) -> Option<usize>| {
        if let Some(t) = f(total) {
            p.sum(t, parts.iter().filter_map(f).collect());
        }
    };
    column(p, &|g| Some(g.patients));
    column(p, &|g| g.matched.map(|m| m[0]));
    column(p, &|g| g.matched.map(|m| m[1]));
    for t in 0..types {
        let n = total.rows[t].all().len();
        for k in 0..n {
            column(p, &|g| Some(g.rows[t].all()[k]));
        }
    }
    for g in &groups {
        let mut everything = vec![];
        for r in &g.rows {
            p.sum(g.patients, r.changed.to_vec());
            everything.extend(r.all());
        }
        if let Some([cases, controls]) = g.matched {
            let mut theirs = vec![controls];
            theirs.extend(
                g.rows
                    .iter()
                    .flat_map(|r| r.comparison.into_iter().flatten()),
            );
            p.row(cases, theirs);
            everything.extend([cases, controls]);
        }
        p.row(g.patients, everything);
    }
    groups
}

fn row_vars(r: &Row, p: &mut Protect) -> RowVars {
    RowVars {
        pre: p.add(r.pre),
        post: p.add(r.post),
        with_pre: p.add(r.with_pre),
        with_post: p.add(r.with_post),
        changed: r.changed.map(|c| p.add(c)),
        within: r.within.iter().map(|&c| p.add(c)).collect(),
        comparison: r
            .comparison
            .as_ref()
            .map(|c| [c.case_pre, c.case_post, c.control_pre, c.control_post].map(|x| p.add(x))),
    }
}

impl RowVars {
    /// Every count of the row, in a fixed order.
    fn all(&self) -> Vec<usize> {
        let mut v = vec![self.pre, self.post, self.with_pre, self.with_post];
        v.extend(self.changed);
        v.extend(&self.within);
        v.extend(self.comparison.into_iter().flatten());
        v
    }
}

/// The numbers of one event-study row's counts: cases, case events, and
/// with a comparison, matched cases and their controls' weighted events.
struct StudyVars {
    cases: usize,
    events: usize,
    comparison: Option<[usize; 2]>,
}

/// Registers the event study's counts: within the report's windows a
/// month's cases are the group's `patients` (and matched cases) and its
/// events add up to `pre_events` or `post_events`; every count column adds
/// up over the groups to `Total`; a group hidden in the report is hidden
/// here too.
fn register_study(
    es: &EventStudy,
    months: i32,
    groups: &[GroupVars],
    p: &mut Protect,
) -> Vec<StudyVars> {
    let types = es.rows.len() / groups.len().max(1) / 24;
    let mut vars = Vec::with_capacity(es.rows.len());
    for (k, r) in es.rows.iter().enumerate() {
        let g = &groups[k / (types * 24)];
        let in_window = (-months..months).contains(&r.month);
        let cases = if in_window {
            g.patients
        } else {
            p.add(r.cases)
        };
        let comparison = r.comparison.map(|(matched, events)| {
            let m = match (in_window, g.matched) {
                (true, Some([m, _])) => m,
                _ => p.add(matched),
            };
            [m, p.add(events)]
        });
        vars.push(StudyVars {
            cases,
            events: p.add(r.case_events),
            comparison,
        });
    }
    let per_group = types * 24;
    let (parts, total) = vars.split_at(vars.len() - per_group);
    for (j, t) in total.iter().enumerate() {
        let column = |f: &dyn Fn(&StudyVars) -> Option<usize>| -> Option<(usize, Vec<usize>)> {
            let parts: Vec<usize> = parts.chunks(per_group).filter_map(|c| f(&c[j])).collect();
            f(t).map(|total| (total, parts))
        };
        for (total, parts) in [
            column(&|v| Some(v.cases)),
            column(&|v| Some(v.events)),
            column(&|v| v.comparison.map(|c| c[0])),
            column(&|v| v.comparison.map(|c| c[1])),
        ]
        .into_iter()
        .flatten()
        {
            p.sum(total, parts);
        }
    }
    for (gi, g) in groups.iter().enumerate() {
        let mine = &vars[gi * per_group..(gi + 1) * per_group];
        // The months of the windows add up to the window's events (when
        // the windows lie inside the study's 24 months).
        for t in (0..types).filter(|_| months <= 12) {
            let months_of = |range: std::ops::Range<i32>| -> Vec<usize> {
                range
                    .map(|m| mine[t * 24 + (m + 12) as usize].events)
                    .collect()
            };
            p.sum(g.rows[t].pre, months_of(-months..0));
            p.sum(g.rows[t].post, months_of(0..months));
        }
        let mut everything = Vec::new();
        for v in mine {
            let mut row = vec![v.events];
            row.extend(v.comparison.into_iter().flatten());
            p.row(v.cases, row.clone());
            if let Some([m, e]) = v.comparison {
                p.row(m, vec![e]);
            }
            everything.push(v.cases);
            everything.extend(row);
        }
        p.row(g.patients, everything);
    }
    vars
}

/// The event study's cells for one row: rates from the shown counts.
fn study_cells(r: &super::event_study::Row, v: &StudyVars, p: &Protect) -> Vec<Cell> {
    let mut cells: Vec<Cell> = r.group.iter().map(|l| Cell::Label(l.clone())).collect();
    cells.push(Cell::Label(r.event_type.clone()));
    // A number, though it names the row: never formula-escaped.
    cells.push(Cell::Value(r.month.to_string()));
    let (cases, events) = (p.shown(v.cases), p.shown(v.events));
    cells.extend([
        Cell::count(cases),
        Cell::count(events),
        Cell::derived(&[events, cases], percent),
    ]);
    if let Some([m, e]) = v.comparison {
        let (m, e) = (p.shown(m), p.shown(e));
        cells.extend([
            Cell::count(m),
            Cell::count(e),
            Cell::derived(&[e, m], percent),
        ]);
    }
    cells
}

/// `a / b` with two decimals, undefined when `b` is 0.
fn ratio(x: &[f64]) -> Option<String> {
    (x[1] != 0.0).then(|| two(x[0] / x[1]))
}

/// 100 × `a / b` with two decimals, undefined when `b` is 0.
fn percent(x: &[f64]) -> Option<String> {
    (x[1] != 0.0).then(|| two(100.0 * x[0] / x[1]))
}

/// The percentage change from `x[0]` to `x[1]`.
fn change(x: &[f64]) -> Option<String> {
    pct_change(x[0], x[1]).map(two)
}

/// A test's p-value: withheld with its inputs' rule, or when too few people
/// changed (section 6, rule 5).
fn test_cell(inputs: &[Shown], changed: [u64; 3], p: Option<f64>, disclosure: Disclosure) -> Cell {
    if let Some(Shown::Withheld(r)) = inputs.iter().find(|s| s.value().is_none()) {
        return Cell::Withheld(*r);
    }
    if !test_allowed(changed[0], changed[2], disclosure) {
        return Cell::Withheld(Rule::TestWithheld);
    }
    p.map_or(Cell::Empty, |v| Cell::Value(format_4g(v)))
}

/// The report's cells for one row.
fn report_cells(row: &Row, g: &GroupVars, v: &RowVars, p: &Protect, d: Disclosure) -> Vec<Cell> {
    let s = |x: usize| p.shown(x);
    let patients = s(g.patients);
    let (pre, post) = (s(v.pre), s(v.post));
    let mut cells: Vec<Cell> = row.group.iter().map(|l| Cell::Label(l.clone())).collect();
    cells.push(Cell::Label(row.event_type.clone()));
    cells.extend([
        Cell::count(patients),
        Cell::count(pre),
        Cell::count(post),
        Cell::derived(&[pre, patients], ratio),
        Cell::derived(&[post, patients], ratio),
        Cell::derived(&[pre, post], change),
        Cell::count(s(v.with_pre)),
        Cell::count(s(v.with_post)),
        test_cell(
            &[patients, s(v.changed[0]), s(v.changed[2])],
            row.changed,
            row.p_value,
            d,
        ),
    ]);
    cells.extend(v.changed.iter().map(|&c| Cell::count(s(c))));
    for &w in &v.within {
        cells.push(Cell::count(s(w)));
        cells.push(Cell::derived(&[s(w), patients], percent));
    }
    if let Some(val) = &row.value {
        cells.extend(value_cells(val, patients, pre, post, d));
    }
    if let (Some(c), Some(matched), Some(counts)) = (&row.comparison, g.matched, v.comparison) {
        cells.extend(comparison_cells(c, matched, counts, p, d));
    }
    cells
}

/// The value columns of one row (bed days, pounds): a sum is shown where
/// its event count is, rounded to 5 units under hes; its change is
/// computed from the shown sums.
fn value_cells(
    val: &ValueFigures,
    patients: Shown,
    pre: Shown,
    post: Shown,
    d: Disclosure,
) -> [Cell; 4] {
    let shown_milli = |milli: u64, events: Shown| match events {
        Shown::Withheld(r) => Err(r),
        Shown::Count(_) => Ok(match d {
            Disclosure::None => u128::from(milli),
            Disclosure::Hes => (u128::from(milli) + 2_500) / 5_000 * 5_000,
        }),
    };
    let (a, b) = (shown_milli(val.pre, pre), shown_milli(val.post, post));
    let cell = |x: &Result<u128, Rule>| match x {
        Ok(m) => Cell::Value(format_milli(*m as i128, 1)),
        Err(r) => Cell::Withheld(*r),
    };
    let (pre_v, post_v) = (cell(&a), cell(&b));
    let value_change = match (a, b) {
        (Ok(a), Ok(b)) => change(&[a as f64, b as f64]).map_or(Cell::Empty, Cell::Value),
        (Err(r), _) | (_, Err(r)) => Cell::Withheld(r),
    };
    let test = test_cell(&[patients, pre, post], val.changed, val.p_value, d);
    [pre_v, post_v, value_change, test]
}

/// The comparison columns of one row: the matched cases' and controls'
/// counts and rates, then the estimates (8 matched cases under hes,
/// intervals 10 always).
fn comparison_cells(
    c: &ComparisonFigures,
    [cases, controls]: [usize; 2],
    [cpre, cpost, kpre, kpost]: [usize; 4],
    p: &Protect,
    d: Disclosure,
) -> Vec<Cell> {
    let s = |x: usize| p.shown(x);
    let (cases, controls) = (s(cases), s(controls));
    let (kpre, kpost) = (s(kpre), s(kpost));
    let mut cells = vec![
        Cell::count(cases),
        Cell::derived(&[s(cpre), cases], ratio),
        Cell::derived(&[s(cpost), cases], ratio),
        Cell::count(controls),
        Cell::count(kpre),
        Cell::count(kpost),
        Cell::derived(&[kpre, controls], ratio),
        Cell::derived(&[kpost, controls], ratio),
    ];
    let estimate = |x: Option<f64>, min: u64, decimals: usize| match cases {
        Shown::Withheld(r) => Cell::Withheld(r),
        _ if d == Disclosure::Hes && c.cases < min => Cell::Withheld(Rule::EstimateWithheld),
        _ => x.map_or(Cell::Empty, |v| Cell::Value(format!("{v:.decimals$}"))),
    };
    let interval = MIN_CASES_FOR_INTERVAL as u64;
    cells.push(estimate(c.did, MIN_CASES_FOR_ESTIMATE, 2));
    cells.push(estimate(c.ci.map(|ci| ci.0), interval, 2));
    cells.push(estimate(c.ci.map(|ci| ci.1), interval, 2));
    cells.push(estimate(Some(c.slope), MIN_CASES_FOR_ESTIMATE, 3));
    cells
}

/// The costs' cells for one group: costs from the report's shown counts.
fn cost_cells(
    costs: &CostReport,
    k: usize,
    g: &GroupVars,
    p: &Protect,
    d: Disclosure,
) -> Vec<Cell> {
    let row = &costs.rows[k];
    let patients = p.shown(g.patients);
    let cost = |events: &dyn Fn(&RowVars) -> usize| -> Result<i128, Rule> {
        let mut total = 0i128;
        for (v, &unit) in g.rows.iter().zip(&costs.unit) {
            match p.shown(events(v)) {
                Shown::Count(c) => total += i128::from(c) * i128::from(unit),
                Shown::Withheld(r) => return Err(r),
            }
        }
        Ok(super::costs::whole_pounds(total))
    };
    let (pre, post) = (cost(&|v| v.pre), cost(&|v| v.post));
    let money = |c: &Result<i128, Rule>| match c {
        Ok(m) => Cell::Value(format_milli(*m, 0)),
        Err(r) => Cell::Withheld(*r),
    };
    let pounds = |c: &Result<i128, Rule>| c.map(|m| m as f64 / 1000.0);
    let saving = match (pounds(&pre), pounds(&post), patients) {
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Shown::Withheld(r)) => Err(r),
        (Ok(a), Ok(b), Shown::Count(n)) => Ok((n > 0).then(|| (a - b) / n as f64)),
    };
    let mut cells: Vec<Cell> = row.group.iter().map(|l| Cell::Label(l.clone())).collect();
    cells.extend([
        Cell::count(patients),
        money(&pre),
        money(&post),
        match (pounds(&pre), pounds(&post)) {
            (Ok(a), Ok(b)) => change(&[a, b]).map_or(Cell::Empty, Cell::Value),
            (Err(r), _) | (_, Err(r)) => Cell::Withheld(r),
        },
        match saving {
            Ok(s) => s.map_or(Cell::Empty, |s| Cell::Value(two(s))),
            Err(r) => Cell::Withheld(r),
        },
        test_cell(&[patients], row.changed, row.p_value, d),
    ]);
    if let Some(service) = costs.service_cost {
        cells.push(Cell::Value(format_milli(i128::from(service), 2)));
        cells.push(match saving {
            Ok(Some(s)) => Cell::Value(two(s / (service as f64 / 1000.0))),
            Ok(None) => Cell::Empty,
            Err(r) => Cell::Withheld(r),
        });
    }
    if let Some((n, net)) = row.net {
        // Estimates as in the report: on the group's matched cases, 8 for
        // the estimate and 10 for its interval.
        let shown = g.matched.map(|m| p.shown(m[0]));
        let estimate = |x: Option<f64>, min: u64| match shown {
            Some(Shown::Withheld(r)) => Cell::Withheld(r),
            _ if d == Disclosure::Hes && n < min => Cell::Withheld(Rule::EstimateWithheld),
            _ => x.map_or(Cell::Empty, |v| Cell::Value(two(v))),
        };
        let interval = MIN_CASES_FOR_INTERVAL as u64;
        cells.push(estimate(net.map(|e| e.mean), MIN_CASES_FOR_ESTIMATE));
        cells.push(estimate(net.and_then(|e| e.ci).map(|c| c.0), interval));
        cells.push(estimate(net.and_then(|e| e.ci).map(|c| c.1), interval));
        if let Some(service) = costs.service_cost {
            let per_pound = net.map(|e| -e.mean / (service as f64 / 1000.0));
            cells.push(estimate(per_pound, MIN_CASES_FOR_ESTIMATE));
        }
    }
    cells
}

/// The balance table: SMDs withheld when the matched cases are too few.
fn balance_table(c: &Comparison, cases: Shown, d: Disclosure) -> Table {
    let three = |x: Option<f64>| match cases {
        Shown::Withheld(r) => Cell::Withheld(r),
        _ if d == Disclosure::Hes && c.matched_cases() < MIN_CASES_FOR_ESTIMATE => {
            Cell::Withheld(Rule::EstimateWithheld)
        }
        _ => x.map_or(Cell::Empty, |v| Cell::Value(format!("{v:.3}"))),
    };
    Table {
        file: "balance",
        header: ["measure", "cases", "smd_before", "smd_after"]
            .map(String::from)
            .to_vec(),
        labels: 1,
        rows: c
            .balance
            .iter()
            .map(|b| {
                vec![
                    Cell::Label(b.measure.clone()),
                    Cell::count(cases),
                    three(b.smd_before),
                    three(b.smd_after),
                ]
            })
            .collect(),
    }
}

impl Release {
    /// Applies disclosure control to the report, the costs and the
    /// comparison, with the HTML's sentence counts.
    pub fn new(
        report: &Report,
        costs: Option<&CostReport>,
        comparison: Option<&Comparison>,
        study: Option<(&EventStudy, i32)>,
        prose: &ProseCounts,
        disclosure: Disclosure,
    ) -> Release {
        let mut p = Protect::default();
        let groups = register(report, &mut p);
        let study_vars = study.map(|(es, months)| register_study(es, months, &groups, &mut p));
        p.solve(disclosure);
        let types = report.types.len().max(1);
        let rows = report
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let g = &groups[i / types];
                report_cells(r, g, &g.rows[i % types], &p, disclosure)
            })
            .collect();
        let report_table = Table {
            file: "report",
            header: report.header(),
            labels: report.group_columns.len() + 1,
            rows,
        };
        let costs = costs.map(|c| Table {
            file: "costs",
            header: c.header(),
            labels: c.group_columns.len(),
            rows: groups
                .iter()
                .enumerate()
                .map(|(k, g)| cost_cells(c, k, g, &p, disclosure))
                .collect(),
        });
        let total_cases = groups.last().and_then(|g| g.matched).map(|m| p.shown(m[0]));
        let balance = comparison
            .zip(total_cases)
            .map(|(c, cases)| balance_table(c, cases, disclosure));
        let event_study = study.zip(study_vars).map(|((es, _), vars)| Table {
            file: "event_study",
            header: es.header(),
            labels: es.group_columns.len() + 2,
            rows: es
                .rows
                .iter()
                .zip(&vars)
                .map(|(r, v)| study_cells(r, v, &p))
                .collect(),
        });
        let lone = |c: u64| primary(c, disclosure);
        Release {
            disclosure,
            report: report_table,
            costs,
            balance,
            event_study,
            prose: Prose {
                excluded: lone(prose.excluded),
                repeat_referrals: lone(prose.repeat_referrals),
                usage_rows: lone(prose.usage_rows),
                usage_matched: lone(prose.usage_matched),
                usage_unusable: lone(prose.usage_unusable),
            },
        }
    }

    /// The tables released, in the order of the log.
    pub fn tables(&self) -> Vec<&Table> {
        let mut t = vec![&self.report];
        t.extend(self.costs.as_ref());
        t.extend(self.balance.as_ref());
        t.extend(self.event_study.as_ref());
        t
    }

    /// The disclosure log: every withheld cell, as (file, row labels,
    /// column, rule). The HTML shows these same tables, so its cells are
    /// covered by the report's, costs' and balance's entries; its sentences'
    /// own counts are listed under `html`.
    pub fn log(&self) -> Vec<[String; 4]> {
        let mut out = Vec::new();
        for t in self.tables() {
            for (row, column, rule) in t.withheld() {
                out.push([t.file.to_string(), row, column, rule.code().to_string()]);
            }
        }
        let p = &self.prose;
        for (what, s) in [
            ("people left out (incomplete windows)", p.excluded),
            ("repeat referrals", p.repeat_referrals),
            ("usage rows read", p.usage_rows),
            ("usage rows of referred people", p.usage_matched),
            ("usage rows with unusable identifiers", p.usage_unusable),
        ] {
            if let Shown::Withheld(rule) = s {
                out.push([
                    "html".into(),
                    what.into(),
                    "sentence".into(),
                    rule.code().into(),
                ]);
            }
        }
        out
    }

    /// How many cells each rule withheld, in [`Rule::ALL`] order.
    pub fn tally(&self) -> [u64; 5] {
        let mut n = [0u64; 5];
        for entry in self.log() {
            if let Some(k) = Rule::ALL.iter().position(|r| r.code() == entry[3]) {
                n[k] += 1;
            }
        }
        n
    }

    /// Writes the disclosure log as CSV (formula-safe).
    pub fn write_log<W: std::io::Write>(&self, w: W) -> csv::Result<W> {
        let rows: Vec<Vec<String>> = self
            .log()
            .into_iter()
            .map(|r| r.iter().map(|c| formula_safe(c).into_owned()).collect())
            .collect();
        write_table(w, &["file", "row", "column", "rule"], &rows)
    }

    /// A line for the terminal: how many cells each rule withheld.
    pub fn summary(&self) -> String {
        let n = self.tally();
        let total: u64 = n.iter().sum();
        let parts: Vec<String> = Rule::ALL
            .iter()
            .zip(n)
            .map(|(r, k)| format!("{} {k}", r.code()))
            .collect();
        format!(
            "disclosure ({}): {total} cell{} withheld ({})",
            match self.disclosure {
                Disclosure::Hes => "hes",
                Disclosure::None => "none",
            },
            if total == 1 { "" } else { "s" },
            parts.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relink::costs::CostRow;

    fn row(group: &str, patients: u64, pre: u64, post: u64, changed: [u64; 3]) -> Row {
        Row {
            group: vec![group.into()],
            event_type: "AE".into(),
            patients,
            pre,
            post,
            with_pre: patients.min(pre),
            with_post: patients.min(post),
            p_value: Some(0.012345),
            changed,
            within: vec![],
            value: None,
            comparison: None,
        }
    }

    /// A report of one group and its Total (the same people).
    fn one_group(r: Row) -> Report {
        let mut total = r.clone();
        total.group = vec!["Total".into()];
        Report {
            group_columns: vec!["cohort".into()],
            rows: vec![r, total],
            within_days: vec![],
            has_value: false,
            has_comparison: false,
            types: vec!["AE".into()],
        }
    }

    fn cells(report: &Report, d: Disclosure) -> Vec<String> {
        let r = Release::new(report, None, None, None, &ProseCounts::default(), d);
        r.report.strings()[0].clone()
    }

    /// The West Kent evaluation's headline: over-55s' A&E attendances
    /// 1,633 before and 1,247 after, a fall of 23.64%, reproduced exactly
    /// under `none`; under `hes` the change is computed from the shown
    /// 1,635 and 1,245 (-23.85%), so it cannot be turned back into the
    /// exact counts.
    #[test]
    fn the_evaluations_headline_number() {
        let report = one_group(row("Over 55s", 2000, 1633, 1247, [900, 300, 800]));
        let c = cells(&report, Disclosure::None);
        assert_eq!(c[2..5], ["2000", "1633", "1247"]);
        assert_eq!(c[7], "-23.64");
        assert_eq!(c[10], "0.01235");
        let c = cells(&report, Disclosure::Hes);
        assert_eq!(c[2..5], ["2000", "1635", "1245"]);
        assert_eq!(c[5], "0.82", "1635 / 2000");
        assert_eq!(c[6], "0.62", "1245 / 2000");
        assert_eq!(c[7], "-23.85", "from the shown counts");
        assert_eq!(c[10], "0.01235", "1,700 changed: the test is shown");
    }

    #[test]
    fn small_counts_and_what_rests_on_them() {
        // 7 pre events: * and everything built on it; 0 stays 0.
        let report = one_group(row("g", 40, 7, 0, [7, 33, 0]));
        let c = cells(&report, Disclosure::Hes);
        assert_eq!(c[2..5], ["40", "*", "0"]);
        assert_eq!(c[5], "*", "pre_per_patient built on 7");
        assert_eq!(c[6], "0.00", "0 / 40");
        assert_eq!(c[7], "*", "change_pct built on 7");
        assert_eq!(c[10], "*", "a test with 7 changers");
        assert_eq!(
            c[11..14],
            ["*", "*", "0"],
            "a lone * takes the next with it"
        );
        // Five patients: the whole row is hidden, zeros included.
        let report = one_group(row("g", 5, 20, 0, [5, 0, 0]));
        let c = cells(&report, Disclosure::Hes);
        assert!(c[2..].iter().all(|x| x == "*"), "{c:?}");
        // Nothing before: the change is undefined, shown empty.
        let report = one_group(row("g", 10, 0, 9, [0, 2, 8]));
        assert_eq!(cells(&report, Disclosure::None)[7], "");
    }

    /// Costs worked by hand: AE £114, NEL £1,758.50; 52 people, AE 33 and
    /// 21, NEL 12 and 9. Exact: pre 33 × 114 + 12 × 1758.5 = 24,864, post
    /// 21 × 114 + 9 × 1758.5 = 18,220.5 → 18,221; saving 6,643 / 52 =
    /// 127.75; return 127.75 / 1171 = 0.11. Under hes from the shown counts
    /// 35, 10, 20, 10 and 50 people: pre 3,990 + 17,585 = 21,575, post
    /// 2,280 + 17,585 = 19,865; change -7.93%; saving 1,710 / 50 = 34.20.
    #[test]
    fn costs_from_exact_and_from_shown_counts() {
        let mk = |t: &str, pre, post| {
            let mut r = row("g", 52, pre, post, [30, 12, 10]);
            r.event_type = t.into();
            r
        };
        let g = [mk("AE", 33, 21), mk("NEL", 12, 9)];
        let mut total = g.clone();
        for r in &mut total {
            r.group = vec!["Total".into()];
        }
        let report = Report {
            group_columns: vec!["cohort".into()],
            rows: g.iter().chain(&total).cloned().collect(),
            within_days: vec![],
            has_value: false,
            has_comparison: false,
            types: vec!["AE".into(), "NEL".into()],
        };
        let cost_row = |group: &str| CostRow {
            group: vec![group.into()],
            patients: 52,
            pre: vec![33, 12],
            post: vec![21, 9],
            p_value: Some(0.0123),
            changed: [30, 12, 10],
            net: None,
        };
        let costs = CostReport {
            group_columns: vec!["cohort".into()],
            rows: vec![cost_row("g"), cost_row("Total")],
            unit: vec![114_000, 1_758_500],
            service_cost: Some(1_171_000),
            has_comparison: false,
        };
        let released = |d| {
            let r = Release::new(
                &report,
                Some(&costs),
                None,
                None,
                &ProseCounts::default(),
                d,
            );
            r.costs.unwrap().strings()[0].clone()
        };
        let c = released(Disclosure::None);
        assert_eq!(
            c[1..],
            ["52", "24864", "18221", "-26.72", "127.75", "0.0123", "1171.00", "0.11"]
        );
        let c = released(Disclosure::Hes);
        assert_eq!(
            c[1..],
            ["50", "21575", "19865", "-7.93", "34.20", "0.0123", "1171.00", "0.03"]
        );
    }
}
