//! The matched comparison group (docs/SPEC.md section 8).
//!
//! **Design.** Matching is exact on the `--match-on` values (the strata),
//! then nearest on prior use:
//!
//! 1. Cases are the cohort members with complete windows. Each stratum is
//!    handled on its own; its cases are taken in order of intervention
//!    date, ties in a seeded order (a hash of the case's token and
//!    `--seed`), never in file order.
//! 2. A candidate's pre-window counts are taken at the case's date: the
//!    case's date is the candidate's index date, so the candidate's windows
//!    are the case's, and complete whenever the case's are.
//! 3. Distance is the sum over event types of the absolute difference in
//!    pre-window counts. The `--controls K` nearest candidates are taken;
//!    ties in distance go to the lower seeded rank (a hash of the
//!    candidate's number and the seed). With `--caliper N`, nobody further
//!    than N is taken. Each control is used once.
//! 4. Who may be a control: anyone in the population in the case's
//!    stratum who has not been used, except cohort members whose own first
//!    intervention falls before the case's post window ends. A cohort
//!    member referred later serves as a control for earlier cases: leaving
//!    every future referral out would remove exactly the people heading for
//!    a peak of need, and bias the comparison.
//! 5. A case with no control is counted as unmatched and left out of the
//!    comparison; the main report keeps them.
//!
//! **How.** A stratum's events are sorted by day, and a window of the
//! pre-window length slides over them as the case dates advance, keeping
//! each person's current pre-window counts and a bucket of people for every
//! distinct vector of counts. The nearest candidates are found bucket by
//! bucket in order of distance; people with no pre-window event at all (most
//! of the population) are drawn in seeded order from the stratum. A second
//! window then gives the controls' post-window counts. Work is linear in the
//! stratum's events plus, per case, the number of distinct count vectors;
//! memory is 2 bytes a person and event type in the stratum being matched.
//! Matching runs on one thread, so results do not depend on `--threads`.
//!
//! **Balance.** For each event type's pre-window count, the standardised
//! mean difference of the matched cases against the population before
//! matching (everyone in each case's stratum at the case's date but the
//! case, pooled over cases) and against their matched controls (each
//! case's controls weighted 1/k, so every case counts once). Variances are
//! population variances (divided by n).

use std::collections::HashMap;

use super::cohort::Cohort;
use super::population::Population;
use super::usage::{day_number, Usage};

/// How to match.
#[derive(Clone, Copy, Debug)]
pub struct MatchOptions {
    /// Controls wanted per case.
    pub controls: usize,
    /// Seed for the order of ties.
    pub seed: u64,
    /// The largest distance accepted, if any.
    pub caliper: Option<u32>,
}

/// One case's controls, summed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matched {
    /// Controls found (at least 1).
    pub k: u32,
    /// Per event type: the controls' pre-window events, summed.
    pub pre: Vec<u32>,
    /// Per event type: the controls' post-window events, summed.
    pub post: Vec<u32>,
}

/// One row of the balance table.
#[derive(Clone, Debug, PartialEq)]
pub struct BalanceRow {
    /// `<type>_pre`.
    pub measure: String,
    /// Matched cases.
    pub cases: u64,
    /// SMD of the matched cases against the population before matching.
    pub smd_before: Option<f64>,
    /// SMD of the matched cases against their controls.
    pub smd_after: Option<f64>,
}

/// The comparison group.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Per cohort entry: its controls, when it is a matched case.
    pub matched: Vec<Option<Matched>>,
    /// Cases (cohort members with complete windows).
    pub cases: u64,
    /// Cases with no control.
    pub unmatched: u64,
    /// Controls used.
    pub controls: u64,
    /// Controls wanted per case.
    pub wanted: usize,
    /// The balance table, one row per event type.
    pub balance: Vec<BalanceRow>,
}

impl Comparison {
    /// Cases with at least one control.
    pub fn matched_cases(&self) -> u64 {
        self.cases - self.unmatched
    }
}

/// A well-mixed 64-bit hash (splitmix64's finaliser).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seeded rank of a population number.
fn rank(seed: u64, person: u32) -> u64 {
    mix(mix(seed) ^ u64::from(person))
}

/// Running sums for the balance table, per event type.
#[derive(Clone, Default)]
struct Sums {
    /// Matched cases: n, Σx, Σx².
    cases: (f64, Vec<f64>, Vec<f64>),
    /// Population before matching: n, Σx, Σx².
    before: (f64, Vec<f64>, Vec<f64>),
    /// Controls, weighted 1/k: Σw, Σwx, Σwx².
    after: (f64, Vec<f64>, Vec<f64>),
}

fn smd(a: (f64, f64, f64), b: (f64, f64, f64)) -> Option<f64> {
    let (na, sa, qa) = a;
    let (nb, sb, qb) = b;
    if na <= 0.0 || nb <= 0.0 {
        return None;
    }
    let (ma, mb) = (sa / na, sb / nb);
    let va = (qa / na - ma * ma).max(0.0);
    let vb = (qb / nb - mb * mb).max(0.0);
    if va == 0.0 && vb == 0.0 {
        return None;
    }
    Some((ma - mb) / ((va + vb) / 2.0).sqrt())
}

/// One stratum's people and their current counts, with a bucket of people
/// for every distinct non-zero vector of counts.
struct Window {
    types: usize,
    counts: Vec<u16>,
    buckets: HashMap<Vec<u16>, Vec<u32>>,
    slot: Vec<u32>,
    sum: Vec<u64>,
    sum_sq: Vec<u64>,
}

impl Window {
    fn new(people: usize, types: usize) -> Window {
        Window {
            types,
            counts: vec![0; people * types],
            buckets: HashMap::new(),
            slot: vec![0; people],
            sum: vec![0; types],
            sum_sq: vec![0; types],
        }
    }

    fn vector(&self, p: u32) -> &[u16] {
        let at = p as usize * self.types;
        &self.counts[at..at + self.types]
    }

    fn active(&self, p: u32) -> bool {
        self.vector(p).iter().any(|&c| c > 0)
    }

    fn unbucket(&mut self, p: u32) {
        if !self.active(p) {
            return;
        }
        let key = self.vector(p).to_vec();
        let members = self
            .buckets
            .get_mut(&key)
            .expect("an active person is in a bucket");
        let at = self.slot[p as usize] as usize;
        members.swap_remove(at);
        if let Some(&moved) = members.get(at) {
            self.slot[moved as usize] = at as u32;
        }
        if members.is_empty() {
            self.buckets.remove(&key);
        }
    }

    fn bucket(&mut self, p: u32) {
        if !self.active(p) {
            return;
        }
        let members = self.buckets.entry(self.vector(p).to_vec()).or_default();
        self.slot[p as usize] = members.len() as u32;
        members.push(p);
    }

    /// Adds (`up`) or removes one event of type `t` for person `p`.
    fn change(&mut self, p: u32, t: usize, up: bool) {
        self.unbucket(p);
        let c = &mut self.counts[p as usize * self.types + t];
        let old = u64::from(*c);
        if up {
            *c = c.saturating_add(1);
            self.sum[t] += 1;
            self.sum_sq[t] += 2 * old + 1;
        } else {
            *c -= 1;
            self.sum[t] -= 1;
            self.sum_sq[t] -= 2 * old - 1;
        }
        self.bucket(p);
    }
}

/// A stratum's events as `day << 40 | type << 32 | person in stratum`,
/// sorted: the order the windows slide in.
fn stratum_events(events: &[u64], start: u32) -> Vec<u64> {
    let mut out: Vec<u64> = events
        .iter()
        .map(|&e| {
            let (person, day, t) = super::usage::unpack_event(e);
            (u64::from(day) << 40) | ((t as u64) << 32) | u64::from(person - start)
        })
        .collect();
    out.sort_unstable();
    out
}

fn event_day(e: u64) -> u32 {
    (e >> 40) as u32
}

fn event_type(e: u64) -> usize {
    ((e >> 32) & 0xFF) as usize
}

fn event_person(e: u64) -> u32 {
    e as u32
}

/// The cases (cohort members with complete windows) of each stratum, and
/// how many there are.
fn cases_by_stratum(cohort: &Cohort, included: &[bool]) -> (Vec<Vec<usize>>, u64) {
    let mut by_stratum: Vec<Vec<usize>> = vec![Vec::new(); cohort.strata.len().max(1)];
    let mut cases = 0u64;
    for (i, e) in cohort.entries.iter().enumerate() {
        if included[i] {
            by_stratum[e.stratum as usize].push(i);
            cases += 1;
        }
    }
    (by_stratum, cases)
}

/// One stratum being matched: its people's events, who has been used, who
/// may serve, and the sliding pre window.
struct Stratum<'a> {
    opts: MatchOptions,
    /// The stratum's first population number.
    start: u32,
    /// Its events ([`stratum_events`]).
    events: Vec<u64>,
    /// The day each cohort member in it stops being eligible (`u32::MAX`
    /// for everyone else).
    member_day: Vec<u32>,
    used: Vec<bool>,
    /// Everyone in seeded order, for drawing people with no prior use.
    zero_order: Vec<u32>,
    /// Everyone before this in `zero_order` is gone for good.
    front: usize,
    window: Window,
    add_at: usize,
    drop_at: usize,
    usage: &'a Usage,
}

/// (distance, seeded rank, person in stratum) of a candidate.
type Candidate = (u32, u64, u32);

impl<'a> Stratum<'a> {
    fn new(
        range: std::ops::Range<u32>,
        usage: &'a Usage,
        member_of: &HashMap<u32, u32>,
        opts: MatchOptions,
    ) -> Stratum<'a> {
        let (start, people) = (range.start, (range.end - range.start) as usize);
        let lo = usage
            .events
            .partition_point(|&e| (e >> 32) < u64::from(range.start));
        let hi = usage
            .events
            .partition_point(|&e| (e >> 32) < u64::from(range.end));
        let member_day = (0..people as u32)
            .map(|p| member_of.get(&(start + p)).copied().unwrap_or(u32::MAX))
            .collect();
        let mut zero_order: Vec<u32> = (0..people as u32).collect();
        zero_order.sort_by_key(|&p| rank(opts.seed, start + p));
        Stratum {
            opts,
            start,
            events: stratum_events(&usage.events[lo..hi], start),
            member_day,
            used: vec![false; people],
            zero_order,
            front: 0,
            window: Window::new(people, usage.types.len()),
            add_at: 0,
            drop_at: 0,
            usage,
        }
    }

    /// Slides the pre window to [pre_start, d).
    fn slide_to(&mut self, d: u32, pre_start: u32) {
        let events = &self.events;
        while self.add_at < events.len() && event_day(events[self.add_at]) < d {
            let e = events[self.add_at];
            self.window.change(event_person(e), event_type(e), true);
            self.add_at += 1;
        }
        while self.drop_at < self.add_at && event_day(events[self.drop_at]) < pre_start {
            let e = events[self.drop_at];
            self.window.change(event_person(e), event_type(e), false);
            self.drop_at += 1;
        }
    }

    fn eligible(&self, p: u32, post_end: u32) -> bool {
        !self.used[p as usize] && self.member_day[p as usize] >= post_end
    }

    /// The up to K nearest eligible candidates to the count vector `v`,
    /// from the buckets of people with prior use and then from those with
    /// none, in order of (distance, seeded rank).
    fn nearest(&mut self, v: &[u16], post_end: u32) -> Vec<u32> {
        let (k, seed, start) = (self.opts.controls, self.opts.seed, self.start);
        let mut best: Vec<Candidate> = Vec::with_capacity(k + 1);
        let consider = |best: &mut Vec<Candidate>, cand: Candidate| {
            if best.len() == k && cand >= *best.last().expect("full") {
                return;
            }
            let at = best.partition_point(|b| *b < cand);
            best.insert(at, cand);
            best.truncate(k);
        };
        let distance = |key: &[u16]| -> u32 {
            key.iter()
                .zip(v)
                .map(|(&a, &b)| u32::from(a.abs_diff(b)))
                .sum()
        };
        let within = |dist: u32| self.opts.caliper.is_none_or(|c| dist <= c);
        let full_and_nearer = |best: &Vec<Candidate>, dist: u32| {
            best.len() == k && dist > best.last().expect("full").0
        };
        let mut keys: Vec<(u32, &Vec<u16>)> = self
            .window
            .buckets
            .keys()
            .map(|key| (distance(key), key))
            .collect();
        keys.sort_unstable();
        for (dist, key) in keys {
            if !within(dist) || full_and_nearer(&best, dist) {
                break;
            }
            for &p in &self.window.buckets[key] {
                if self.eligible(p, post_end) {
                    consider(&mut best, (dist, rank(seed, start + p), p));
                }
            }
        }
        let zero_dist: u32 = v.iter().map(|&c| u32::from(c)).sum();
        if within(zero_dist) && !full_and_nearer(&best, zero_dist) {
            let mut found = 0;
            let mut at = self.front;
            while at < self.zero_order.len() && found < k {
                let p = self.zero_order[at];
                let gone = self.used[p as usize] || self.member_day[p as usize] < post_end;
                if gone && at == self.front {
                    // Used, or a cohort member already referred by this
                    // case's post window, so by every later case's too.
                    self.front += 1;
                } else if !gone && !self.window.active(p) {
                    consider(&mut best, (zero_dist, rank(seed, start + p), p));
                    found += 1;
                }
                at += 1;
            }
        }
        let picked: Vec<u32> = best.iter().map(|&(_, _, p)| p).collect();
        for &p in &picked {
            self.used[p as usize] = true;
        }
        picked
    }

    /// The controls' post-window counts, summed into each matched case's
    /// [`Matched`], sliding a second window over the same events.
    fn add_post_counts(
        &self,
        cohort: &Cohort,
        cases: &[usize],
        chosen: &[Vec<u32>],
        matched: &mut [Option<Matched>],
    ) {
        let types = self.usage.types.len();
        let events = &self.events;
        let mut post = vec![0u16; self.used.len() * types];
        let (mut add_at, mut drop_at) = (0usize, 0usize);
        for (&i, picked) in cases.iter().zip(chosen) {
            let person = &cohort.entries[i].person;
            let (d, post_end) = (day_number(person.date), day_number(person.post_end));
            while add_at < events.len() && event_day(events[add_at]) < post_end {
                let e = events[add_at];
                let c = &mut post[event_person(e) as usize * types + event_type(e)];
                *c = c.saturating_add(1);
                add_at += 1;
            }
            while drop_at < add_at && event_day(events[drop_at]) < d {
                let e = events[drop_at];
                post[event_person(e) as usize * types + event_type(e)] -= 1;
                drop_at += 1;
            }
            if let Some(m) = matched[i].as_mut() {
                for &p in picked {
                    for t in 0..types {
                        m.post[t] += u32::from(post[p as usize * types + t]);
                    }
                }
            }
        }
    }
}

impl Sums {
    fn new(types: usize) -> Sums {
        let zeros = || (0.0, vec![0.0; types], vec![0.0; types]);
        Sums {
            cases: zeros(),
            before: zeros(),
            after: zeros(),
        }
    }

    /// Adds a matched case with pre-window counts `v` and its controls
    /// `picked`; the stratum at the case's date holds `n` people other
    /// than the case, whose counts sum to `window.sum` less the case's own
    /// when `case_in_stratum`. Returns the controls' summed pre counts.
    fn add_case(
        &mut self,
        v: &[u16],
        picked: &[u32],
        window: &Window,
        n: f64,
        case_in_stratum: bool,
    ) -> Vec<u32> {
        self.before.0 += n;
        self.cases.0 += 1.0;
        self.after.0 += 1.0;
        let k = picked.len() as f64;
        let mut pre = vec![0u32; v.len()];
        for (t, &count) in v.iter().enumerate() {
            let x = f64::from(count);
            let (mut s1, mut s2) = (window.sum[t] as f64, window.sum_sq[t] as f64);
            if case_in_stratum {
                s1 -= x;
                s2 -= x * x;
            }
            self.before.1[t] += s1;
            self.before.2[t] += s2;
            self.cases.1[t] += x;
            self.cases.2[t] += x * x;
            let mut squares = 0u64;
            for &p in picked {
                let c = u32::from(window.vector(p)[t]);
                pre[t] += c;
                squares += u64::from(c) * u64::from(c);
            }
            self.after.1[t] += f64::from(pre[t]) / k;
            self.after.2[t] += squares as f64 / k;
        }
        pre
    }

    /// The balance table, one row per event type.
    fn balance(&self, types: &[String]) -> Vec<BalanceRow> {
        let part = |s: &(f64, Vec<f64>, Vec<f64>), t: usize| (s.0, s.1[t], s.2[t]);
        types
            .iter()
            .enumerate()
            .map(|(t, name)| BalanceRow {
                measure: format!("{name}_pre"),
                cases: self.cases.0 as u64,
                smd_before: smd(part(&self.cases, t), part(&self.before, t)),
                smd_after: smd(part(&self.cases, t), part(&self.after, t)),
            })
            .collect()
    }
}

/// Cohort members in the population: their population number and the day
/// of their first intervention, by number; and each entry's number.
fn cohort_in_population(
    cohort: &Cohort,
    population: &Population,
) -> (HashMap<u32, u32>, Vec<Option<u32>>) {
    let mut member_of: HashMap<u32, u32> = HashMap::new();
    let mut own: Vec<Option<u32>> = vec![None; cohort.len()];
    for (i, e) in cohort.entries.iter().enumerate() {
        if let Some(p) = population.find(&e.token) {
            member_of.insert(p, day_number(e.person.date));
            own[i] = Some(p);
        }
    }
    (member_of, own)
}

/// Builds the comparison group.
pub fn match_controls(
    cohort: &Cohort,
    usage: &Usage,
    population: &Population,
    included: &[bool],
    opts: MatchOptions,
) -> Comparison {
    let mut matched: Vec<Option<Matched>> = vec![None; cohort.len()];
    let (member_of, own) = cohort_in_population(cohort, population);
    let (mut by_stratum, cases) = cases_by_stratum(cohort, included);
    let mut sums = Sums::new(usage.types.len());
    let (mut unmatched, mut controls_used) = (0u64, 0u64);
    for (s, stratum_cases) in by_stratum.iter_mut().enumerate() {
        if stratum_cases.is_empty() {
            continue;
        }
        let range = population.stratum(s as u32);
        let mut st = Stratum::new(range.clone(), usage, &member_of, opts);
        let case_rank = |i: usize| {
            mix(opts.seed
                ^ u64::from_be_bytes(cohort.entries[i].token[..8].try_into().expect("8 bytes")))
        };
        stratum_cases.sort_by_key(|&i| (cohort.entries[i].person.date, case_rank(i)));
        let mut chosen: Vec<Vec<u32>> = Vec::with_capacity(stratum_cases.len());
        for &i in stratum_cases.iter() {
            let person = &cohort.entries[i].person;
            st.slide_to(day_number(person.date), day_number(person.pre_start));
            let v: Vec<u16> = usage
                .counts
                .iter()
                .map(|c| c[i][0].min(u32::from(u16::MAX)) as u16)
                .collect();
            let picked = st.nearest(&v, day_number(person.post_end));
            if picked.is_empty() {
                unmatched += 1;
            } else {
                controls_used += picked.len() as u64;
                // Balance before matching: the stratum at this date, but the case.
                let case_in_stratum = own[i].is_some_and(|p| range.contains(&p));
                let n = st.used.len() as f64 - f64::from(u8::from(case_in_stratum));
                let pre = sums.add_case(&v, &picked, &st.window, n, case_in_stratum);
                let k = picked.len() as u32;
                let post = vec![0; v.len()];
                matched[i] = Some(Matched { k, pre, post });
            }
            chosen.push(picked);
        }
        st.add_post_counts(cohort, stratum_cases, &chosen, &mut matched);
    }
    Comparison {
        matched,
        cases,
        unmatched,
        controls: controls_used,
        wanted: opts.controls,
        balance: sums.balance(&usage.types),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smd_by_hand() {
        // Cases 1, 2, 3 (mean 2, var 2/3); controls 0, 0, 3 (mean 1, var 2).
        // SMD = (2 - 1) / sqrt((2/3 + 2) / 2) = 1 / sqrt(4/3) = 0.8660.
        let a = (3.0, 6.0, 14.0);
        let b = (3.0, 3.0, 9.0);
        let got = smd(a, b).unwrap();
        assert!((got - 0.866_025_4).abs() < 1e-6, "{got}");
        assert_eq!(
            smd((2.0, 2.0, 2.0), (5.0, 5.0, 5.0)),
            None,
            "both variances 0"
        );
        assert_eq!(smd((0.0, 0.0, 0.0), b), None);
    }

    #[test]
    fn the_window_keeps_buckets_and_sums() {
        let mut w = Window::new(3, 2);
        w.change(0, 0, true);
        w.change(1, 0, true);
        w.change(1, 1, true);
        w.change(0, 0, true);
        assert_eq!(w.vector(0), [2, 0]);
        assert_eq!(w.buckets[&vec![2u16, 0]], [0]);
        assert_eq!(w.buckets[&vec![1u16, 1]], [1]);
        assert_eq!((w.sum[0], w.sum_sq[0]), (3, 5));
        w.change(0, 0, false);
        w.change(0, 0, false);
        assert!(!w.active(0));
        assert!(!w.buckets.contains_key(&vec![2u16, 0]));
        assert_eq!((w.sum[0], w.sum_sq[0]), (1, 1));
        assert!(!w.active(2));
    }

    #[test]
    fn ranks_depend_on_the_seed() {
        assert_ne!(rank(1, 5), rank(2, 5));
        assert_eq!(rank(1, 5), rank(1, 5));
        assert_ne!(rank(1, 5), rank(1, 6));
    }
}
