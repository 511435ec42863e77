//! Disclosure control (docs/SPEC.md section 6): how counts are protected
//! before anything leaves the program.
//!
//! Under `hes`, [`Protect`] takes every count a run publishes, the sums that
//! tie them together (groups add up to `Total`; people whose use fell,
//! stayed and rose add up to the row's people) and the rows that stand or
//! fall with one count (a group's row with its `patients`), and decides
//! which are shown rounded to 5 and which are withheld:
//!
//! 1. **Primary**: a count from 1 to 7 is withheld; 0 stays 0; every other
//!    count is rounded to the nearest 5.
//! 2. **Small groups**: when a row's key count is withheld, every count of
//!    the row is withheld, zeros included.
//! 3. **Secondary**: in every sum, a lone withheld part is joined by the
//!    smallest visible non-zero part; then an adversary's interval
//!    arithmetic is run over every sum (each shown count is known to ±2,
//!    each primary one to 1–7, each secondary one to at least 8), and while
//!    it can narrow a primary cell to fewer than 3 of the values 1–7, or pin
//!    any other count to one value, the smallest visible part of a sum
//!    through that cell is withheld as well.
//!
//! Everything derived (means, percentages, costs) is computed later from
//! the **shown** counts, so it can never pin a count more tightly than its
//! rounding does.

/// How counts are protected before release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    /// NHS small-number suppression: 1–7 as `*`, others to the nearest 5,
    /// with secondary suppression.
    Hes,
    /// Exact values: not fit for release.
    None,
}

/// Why a cell is withheld; the disclosure log names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// A count from 1 to 7.
    Primary,
    /// Withheld so that another withheld count cannot be worked out.
    Secondary,
    /// In a row whose people (or matched cases) are withheld.
    SmallGroup,
    /// A test on too few people who changed.
    TestWithheld,
    /// An estimate on too few matched cases.
    EstimateWithheld,
}

impl Rule {
    /// Every rule, in the log's order.
    pub const ALL: [Rule; 5] = [
        Rule::Primary,
        Rule::Secondary,
        Rule::SmallGroup,
        Rule::TestWithheld,
        Rule::EstimateWithheld,
    ];

    /// The rule's name in the disclosure log.
    pub fn code(self) -> &'static str {
        match self {
            Rule::Primary => "primary",
            Rule::Secondary => "secondary",
            Rule::SmallGroup => "small_group",
            Rule::TestWithheld => "test_withheld",
            Rule::EstimateWithheld => "estimate_withheld",
        }
    }
}

/// A count as released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// Shown: exact under `none`, rounded to 5 under `hes`.
    Count(u64),
    /// Withheld (`*`).
    Withheld(Rule),
}

impl Shown {
    /// The shown value, if shown.
    pub fn value(self) -> Option<u64> {
        match self {
            Shown::Count(c) => Some(c),
            Shown::Withheld(_) => None,
        }
    }
}

/// A count of 1 to 7: suppressed under `hes`.
pub fn small(c: u64) -> bool {
    (1..=7).contains(&c)
}

/// To the nearest 5 (0 stays 0).
pub fn round5(c: u64) -> u64 {
    (c + 2) / 5 * 5
}

/// A lone count as released under primary suppression only: exact, or `*`
/// for 1–7 and the nearest 5 otherwise. For counts that no other published
/// count adds up with.
pub fn shown_count(c: u64, disclosure: Disclosure) -> String {
    match primary(c, disclosure) {
        Shown::Count(v) => v.to_string(),
        Shown::Withheld(_) => "*".into(),
    }
}

/// Primary suppression of one count.
pub fn primary(c: u64, disclosure: Disclosure) -> Shown {
    match disclosure {
        Disclosure::None => Shown::Count(c),
        Disclosure::Hes if small(c) => Shown::Withheld(Rule::Primary),
        Disclosure::Hes => Shown::Count(round5(c)),
    }
}

/// A p-value may be shown when at least 10 people changed and neither the
/// number whose use fell nor the number whose use rose is 1 to 7
/// (section 6, rule 5); under `none` always.
pub fn test_allowed(decreased: u64, increased: u64, disclosure: Disclosure) -> bool {
    disclosure == Disclosure::None
        || (decreased + increased >= 10 && !small(decreased) && !small(increased))
}

/// The fewest matched cases an estimate (SMD, difference-in-differences)
/// rests on under `hes`.
pub const MIN_CASES_FOR_ESTIMATE: u64 = 8;

/// True when a label (a group, event type or match value) looks like an
/// identifier: an NHS number in any layout section 1 accepts that passes
/// Modulus 11, or a token (64 hex characters).
pub fn looks_like_identifier(label: &str) -> bool {
    let t = label.trim();
    (t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        || crate::provider::nhs::canonicalise(t.as_bytes()).is_ok()
}

/// A number with no upper bound, for interval arithmetic.
const UNBOUNDED: i64 = 1 << 40;

/// Counts to be released together, the sums that tie them, and the rows
/// that are withheld with a key count.
#[derive(Clone, Debug, Default)]
pub struct Protect {
    exact: Vec<u64>,
    shown: Vec<Shown>,
    /// (total, parts): the parts add up to the total.
    sums: Vec<(usize, Vec<usize>)>,
    /// (key, dependants): when the key is withheld, so are the dependants.
    rows: Vec<(usize, Vec<usize>)>,
}

impl Protect {
    /// Adds a count; returns its number.
    pub fn add(&mut self, exact: u64) -> usize {
        self.exact.push(exact);
        self.shown.push(Shown::Count(exact));
        self.exact.len() - 1
    }

    /// Declares that `parts` add up to `total`.
    pub fn sum(&mut self, total: usize, parts: Vec<usize>) {
        self.sums.push((total, parts));
    }

    /// Declares that `dependants` are withheld whenever `key` is.
    pub fn row(&mut self, key: usize, dependants: Vec<usize>) {
        self.rows.push((key, dependants));
    }

    /// A count as released (after [`Protect::solve`]).
    pub fn shown(&self, v: usize) -> Shown {
        self.shown[v]
    }

    /// Applies the rules; under `none` every count stays exact.
    pub fn solve(&mut self, disclosure: Disclosure) {
        if disclosure == Disclosure::None {
            return;
        }
        for v in 0..self.exact.len() {
            self.shown[v] = primary(self.exact[v], disclosure);
        }
        // Each pass withholds at least one more count, or stops.
        loop {
            self.hide_rows();
            if self.lone_parts() {
                continue;
            }
            match self.narrowed() {
                Some(v) if self.widen(v, false) || self.widen(v, true) => continue,
                _ => break,
            }
        }
    }

    fn withheld(&self, v: usize) -> bool {
        matches!(self.shown[v], Shown::Withheld(_))
    }

    /// Rule 2: the rows of withheld key counts. Every count of such a row
    /// is withheld as `small_group`, even one already withheld as 1 to 7,
    /// so that neither the table nor the log says which of its counts were
    /// small, zero or large.
    fn hide_rows(&mut self) {
        for k in 0..self.rows.len() {
            if self.withheld(self.rows[k].0) {
                for i in 0..self.rows[k].1.len() {
                    let d = self.rows[k].1[i];
                    if d != self.rows[k].0 && !self.is_key_withheld(d) {
                        self.shown[d] = Shown::Withheld(Rule::SmallGroup);
                    }
                }
            }
        }
    }

    /// A withheld key count of some row (its own rule stands).
    fn is_key_withheld(&self, v: usize) -> bool {
        self.withheld(v) && self.rows.iter().any(|(key, _)| *key == v)
    }

    /// The smallest visible non-zero count among `parts`, but `not`.
    fn smallest_visible(&self, parts: &[usize], not: usize) -> Option<usize> {
        parts
            .iter()
            .copied()
            .filter(|&p| p != not && !self.withheld(p) && self.exact[p] > 0)
            .min_by_key(|&p| (self.exact[p], p))
    }

    /// Rule 3's first part: a sum whose one withheld part is a count from 1
    /// to 7, with a visible total, gets a second. True when something was
    /// withheld.
    fn lone_parts(&mut self) -> bool {
        let mut changed = false;
        for k in 0..self.sums.len() {
            let (total, parts) = &self.sums[k];
            if self.withheld(*total) {
                continue;
            }
            let hidden: Vec<usize> = parts
                .iter()
                .copied()
                .filter(|&p| self.withheld(p))
                .collect();
            if hidden.len() == 1 && self.shown[hidden[0]] == Shown::Withheld(Rule::Primary) {
                let next = self.smallest_visible(parts, hidden[0]);
                let pick = next.unwrap_or(*total);
                if !self.withheld(pick) && self.exact[pick] > 0 {
                    self.shown[pick] = Shown::Withheld(Rule::Secondary);
                    changed = true;
                }
            }
        }
        changed
    }

    /// What an adversary knows of each count before using the sums.
    fn bounds(&self) -> Vec<(i64, i64)> {
        self.shown
            .iter()
            .enumerate()
            .map(|(v, s)| match *s {
                Shown::Count(0) => (0, 0),
                Shown::Count(c) => (c as i64 - 2, c as i64 + 2),
                Shown::Withheld(Rule::Primary) => (1, 7),
                // A secondary count is at least 8, unless a zero had to be
                // withheld (the last resort of `widen`).
                Shown::Withheld(Rule::Secondary) if self.exact[v] >= 8 => (8, UNBOUNDED),
                Shown::Withheld(_) => (0, UNBOUNDED),
            })
            .collect()
    }

    /// Interval arithmetic over every sum to a fixed point: what an
    /// adversary can deduce of each count.
    pub fn deduce(&self) -> Vec<(i64, i64)> {
        let mut b = self.bounds();
        for _ in 0..1000 {
            let mut changed = false;
            for (total, parts) in &self.sums {
                let lo_sum: i64 = parts.iter().map(|&p| b[p].0).sum();
                let hi_sum: i64 = parts.iter().map(|&p| b[p].1.min(UNBOUNDED)).sum();
                let t = b[*total];
                let nt = (t.0.max(lo_sum), t.1.min(hi_sum));
                changed |= nt != t;
                b[*total] = nt;
                for &p in parts {
                    let (lo, hi) = b[p];
                    let others_hi = hi_sum - hi.min(UNBOUNDED);
                    let others_lo = lo_sum - lo;
                    let n = (lo.max(nt.0 - others_hi), hi.min(nt.1 - others_lo));
                    changed |= n != b[p];
                    b[p] = n;
                }
            }
            if !changed || b.iter().any(|&(lo, hi)| lo > hi) {
                break;
            }
        }
        b
    }

    /// A count the adversary narrows more than its rule allows, if any.
    fn narrowed(&self) -> Option<usize> {
        let b = self.deduce();
        (0..self.exact.len()).find(|&v| {
            let (lo, hi) = b[v];
            match self.shown[v] {
                Shown::Count(0) => false,
                Shown::Withheld(Rule::Primary) => hi.min(7) - lo.max(1) + 1 < 3,
                // A count every group shares with a Total of 0 is 0: that
                // says nothing about a small number.
                _ => lo >= hi && hi > 0,
            }
        })
    }

    /// Withholds one more count near `v`: in the nearest sum (through
    /// withheld counts) that still has a visible non-zero count, its
    /// smallest visible part, or else its total. False when nothing is left
    /// to withhold.
    /// With `zeros`, a shown zero may be withheld too (the last resort: a
    /// run of withheld small counts beside shown zeros says how many are at
    /// least 1).
    fn widen(&mut self, v: usize, zeros: bool) -> bool {
        let mut by_var: Vec<Vec<usize>> = vec![Vec::new(); self.exact.len()];
        for (k, (total, parts)) in self.sums.iter().enumerate() {
            by_var[*total].push(k);
            for &p in parts {
                by_var[p].push(k);
            }
        }
        let mut seen_var = vec![false; self.exact.len()];
        let mut seen_sum = vec![false; self.sums.len()];
        let mut queue = std::collections::VecDeque::from([v]);
        seen_var[v] = true;
        while let Some(x) = queue.pop_front() {
            for &k in &by_var[x] {
                if std::mem::replace(&mut seen_sum[k], true) {
                    continue;
                }
                let (total, parts) = &self.sums[k];
                let total_ok = !self.withheld(*total) && self.exact[*total] > 0;
                let zero = parts.iter().copied().find(|&p| zeros && !self.withheld(p));
                let pick = self
                    .smallest_visible(parts, usize::MAX)
                    .or(total_ok.then_some(*total))
                    .or(zero);
                if let Some(p) = pick {
                    self.shown[p] = Shown::Withheld(Rule::Secondary);
                    return true;
                }
                for &m in parts.iter().chain(std::iter::once(total)) {
                    if !std::mem::replace(&mut seen_var[m], true) {
                        queue.push_back(m);
                    }
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Groups `parts` adding up to a total; returns (protect, parts, total).
    fn column(parts: &[u64]) -> (Protect, Vec<usize>, usize) {
        let mut p = Protect::default();
        let vars: Vec<usize> = parts.iter().map(|&c| p.add(c)).collect();
        let total = p.add(parts.iter().sum());
        p.sum(total, vars.clone());
        (p, vars, total)
    }

    #[test]
    fn rounding_and_primary_suppression() {
        assert_eq!(round5(8), 10);
        assert_eq!(round5(12), 10);
        assert_eq!(round5(13), 15);
        assert_eq!(round5(1247), 1245);
        assert_eq!(primary(0, Disclosure::Hes), Shown::Count(0));
        assert_eq!(primary(7, Disclosure::Hes), Shown::Withheld(Rule::Primary));
        assert_eq!(primary(8, Disclosure::Hes), Shown::Count(10));
        assert_eq!(primary(7, Disclosure::None), Shown::Count(7));
    }

    #[test]
    fn a_lone_small_cell_takes_the_next_smallest_with_it() {
        let (mut p, v, total) = column(&[3, 40, 12, 100]);
        p.solve(Disclosure::Hes);
        assert_eq!(p.shown(v[0]), Shown::Withheld(Rule::Primary));
        assert_eq!(p.shown(v[2]), Shown::Withheld(Rule::Secondary));
        assert_eq!(p.shown(v[1]), Shown::Count(40));
        assert_eq!(p.shown(total), Shown::Count(155));
    }

    #[test]
    fn rounding_that_would_narrow_a_cell_is_caught() {
        // 6 and 7 are withheld; 8 is shown as 10 and the total 21 as 20.
        // The two withheld cells then add to 11-14 with each at most 7, so
        // each is 4-7: still 4 values. Shrink the visible cell's room and
        // the adversary gets closer; the engine must always leave 3.
        for a in 1..=7u64 {
            for b in 1..=7u64 {
                for c in [0u64, 8, 9, 10, 11, 12, 13, 20, 23] {
                    let (mut p, v, _) = column(&[a, b, c]);
                    p.solve(Disclosure::Hes);
                    let d = p.deduce();
                    for &x in &v[..2] {
                        let (lo, hi) = d[x];
                        assert!(hi.min(7) - lo.max(1) + 1 >= 3, "{a} {b} {c}: {lo}..{hi}");
                    }
                }
            }
        }
    }

    #[test]
    fn rows_fall_with_their_key() {
        let mut p = Protect::default();
        let patients = p.add(3);
        let zero = p.add(0);
        let events = p.add(40);
        p.row(patients, vec![zero, events]);
        p.solve(Disclosure::Hes);
        assert_eq!(p.shown(zero), Shown::Withheld(Rule::SmallGroup));
        assert_eq!(p.shown(events), Shown::Withheld(Rule::SmallGroup));
    }

    #[test]
    fn none_keeps_everything_exact() {
        let (mut p, v, _) = column(&[3, 40]);
        p.solve(Disclosure::None);
        assert_eq!(p.shown(v[0]), Shown::Count(3));
    }

    #[test]
    fn identifiers_are_recognised_in_any_layout() {
        for id in ["9434765919", "943 476 5919", "943-476-5919"] {
            assert!(looks_like_identifier(id), "{id}");
        }
        assert!(looks_like_identifier(&"ab".repeat(32)));
        for label in ["Over 55s", "AE", "9434765918", "2024-01-01", "40-54"] {
            assert!(!looks_like_identifier(label), "{label}");
        }
    }

    #[test]
    fn tests_need_ten_changers_and_no_small_side() {
        assert!(!test_allowed(9, 0, Disclosure::Hes));
        assert!(test_allowed(10, 0, Disclosure::Hes));
        assert!(!test_allowed(20, 3, Disclosure::Hes));
        assert!(test_allowed(20, 8, Disclosure::Hes));
        assert!(test_allowed(1, 0, Disclosure::None));
    }
}
