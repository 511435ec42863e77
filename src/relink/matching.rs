//! The matched comparison group (docs/SPEC.md section 8).
//!
//! **Design.** Risk-set matching, exact on the `--match-on` values (the
//! strata), then nearest on prior use:
//!
//! 1. Cases are the cohort members with complete windows. Each stratum is
//!    handled on its own; its cases are taken in order of intervention
//!    date, ties in a seeded order (a hash of the case's token and
//!    `--seed`), never in file order.
//! 2. A candidate's counts are taken at the case's date: the case's date is
//!    the candidate's index date, so the candidate's windows are the case's.
//! 3. Who may be a control (the risk set at the case's date): anyone in the
//!    case's stratum who has not been referred by the case's date (a cohort
//!    member referred later may serve: leaving future referrals out would
//!    remove exactly the people heading for a peak of need), and, with
//!    `--end-date-column`, is still registered when the case's post window
//!    ends.
//! 4. Distance is the sum over event types of the absolute difference in
//!    pre-window counts. The `--controls K` nearest eligible candidates are
//!    taken. **Ties are broken afresh for each case**: by a hash of the
//!    seed, the case and the candidate, so no person is first in line for
//!    every case (a fixed order biases the estimate: the cases matched
//!    first take the tied people with past use). With `--caliper N`, nobody
//!    further than N is taken. **Controls are taken with replacement**: a
//!    person may serve several cases. Taking each once depletes the pool of
//!    frequent users that early cases draw on, so later cases with high
//!    prior use get controls who are less frail than they are (in the
//!    validation study this biased the estimate by +0.015 to +0.03 A&E
//!    events a person). The interval accounts for shared controls
//!    ([`super::estimate`]).
//! 5. A case with no control is counted as unmatched and left out of the
//!    comparison; the main report keeps them.
//!
//! **How.** A stratum's events are sorted by day, and a window of the
//! pre-window length slides over them as the case dates advance, keeping
//! each person's current pre-window counts and a bucket of people for every
//! distinct vector of counts. The nearest candidates are found bucket by
//! bucket in order of distance; people with no pre-window event at all (most
//! of the population) are drawn at random for each case (rejection
//! sampling from the case's own hash stream, then a scan from a random
//! start). Further windows give the controls' post- and prior-window
//! counts. Work is linear in the stratum's events plus, per case, the
//! number of distinct count vectors; memory is 2 bytes a person and event
//! type per window in the stratum being matched. Matching runs on one
//! thread, so results do not depend on `--threads`.
//!
//! **Balance.** For each event type, of the pre-window counts (`<type>_pre`)
//! and of the prior window before it (`<type>_prior`, [d − 2N, d − N)): the
//! standardised mean difference of the matched cases against the eligible
//! pool before matching (everyone in each case's stratum who could have
//! been its control, pooled over cases) and against their matched controls
//! (each case's controls weighted 1/k, so every case counts once).
//! Variances are population variances (divided by n). Prior-window rows
//! cover the matched cases found in the population file.
//!
//! **The estimate** is made in [`super::estimate`] from what this records:
//! each case's controls, their summed counts, and the slope of the
//! controls' post-window counts on their pre-window counts.

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
    /// The window length in months (the prior window is the N months
    /// before the pre window).
    pub months: i32,
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
    /// The controls' population numbers.
    pub ids: Vec<u32>,
}

/// One row of the balance table.
#[derive(Clone, Debug, PartialEq)]
pub struct BalanceRow {
    /// `<type>_pre` or `<type>_prior`.
    pub measure: String,
    /// Matched cases in the comparison.
    pub cases: u64,
    /// SMD of the matched cases against the eligible pool before matching.
    pub smd_before: Option<f64>,
    /// SMD of the matched cases against their controls.
    pub smd_after: Option<f64>,
}

/// The comparison group.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Per cohort entry: its controls, when it is a matched case.
    pub matched: Vec<Option<Matched>>,
    /// Per cohort entry: its own population number, when it is in the
    /// population file (a case may serve as an earlier case's control).
    pub own: Vec<Option<u32>>,
    /// Cases (cohort members with complete windows).
    pub cases: u64,
    /// Cases with no control.
    pub unmatched: u64,
    /// Control places filled (a person serving two cases counts twice).
    pub controls: u64,
    /// Controls wanted per case.
    pub wanted: usize,
    /// Per event type: the slope of the controls' post-window counts on
    /// their pre-window counts (least squares), for the bias correction.
    pub slope: Vec<f64>,
    /// The balance table: `<type>_pre` rows, then `<type>_prior` rows.
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

/// A candidate's rank for one case: a hash of the seed, the case and the
/// candidate's number, so the order of ties is drawn afresh per case.
fn rank(case: u64, person: u32) -> u64 {
    mix(case ^ mix(u64::from(person)))
}

/// Running sums for one balance measure per event type: n, Σx, Σx².
#[derive(Clone)]
struct Moments(f64, Vec<f64>, Vec<f64>);

impl Moments {
    fn new(types: usize) -> Moments {
        Moments(0.0, vec![0.0; types], vec![0.0; types])
    }
    fn part(&self, t: usize) -> (f64, f64, f64) {
        (self.0, self.1[t], self.2[t])
    }
}

/// Running sums for the balance table: matched cases, the eligible pool
/// before matching, and the controls (weighted 1/k).
struct Sums {
    cases: Moments,
    before: Moments,
    after: Moments,
}

impl Sums {
    fn new(types: usize) -> Sums {
        Sums {
            cases: Moments::new(types),
            before: Moments::new(types),
            after: Moments::new(types),
        }
    }

    /// Adds a matched case with counts `v`, the eligible pool's sums in
    /// `window` at the case's date, and its controls' counts `picked`.
    fn add(&mut self, v: &[u16], window: &Window, picked: &[&[u16]]) {
        self.before.0 += window.eligible as f64;
        self.cases.0 += 1.0;
        self.after.0 += 1.0;
        let k = picked.len() as f64;
        for (t, &x) in v.iter().enumerate() {
            let x = f64::from(x);
            self.before.1[t] += window.sum[t] as f64;
            self.before.2[t] += window.sum_sq[t] as f64;
            self.cases.1[t] += x;
            self.cases.2[t] += x * x;
            for c in picked {
                let y = f64::from(c[t]);
                self.after.1[t] += y / k;
                self.after.2[t] += y * y / k;
            }
        }
    }

    fn rows(&self, types: &[String], suffix: &str) -> Vec<BalanceRow> {
        types
            .iter()
            .enumerate()
            .map(|(t, name)| BalanceRow {
                measure: format!("{name}_{suffix}"),
                cases: self.cases.0 as u64,
                smd_before: smd(self.cases.part(t), self.before.part(t)),
                smd_after: smd(self.cases.part(t), self.after.part(t)),
            })
            .collect()
    }
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

/// One stratum's people and their counts in a window, with sums over the
/// people still eligible, and (for the pre window) a bucket of people for
/// every distinct non-zero vector of counts.
struct Window {
    types: usize,
    counts: Vec<u16>,
    buckets: Option<HashMap<Vec<u16>, Vec<u32>>>,
    slot: Vec<u32>,
    /// People left out of the sums (referred, or gone).
    excluded: Vec<bool>,
    /// People in the sums.
    eligible: u64,
    sum: Vec<u64>,
    sum_sq: Vec<u64>,
}

impl Window {
    fn new(people: usize, types: usize, bucketed: bool) -> Window {
        Window {
            types,
            counts: vec![0; people * types],
            buckets: bucketed.then(HashMap::new),
            slot: vec![0; if bucketed { people } else { 0 }],
            excluded: vec![false; people],
            eligible: people as u64,
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
        if self.buckets.is_none() || !self.active(p) {
            return;
        }
        let key = self.vector(p).to_vec();
        let buckets = self.buckets.as_mut().expect("checked");
        let members = buckets
            .get_mut(&key)
            .expect("an active person is in a bucket");
        let at = self.slot[p as usize] as usize;
        members.swap_remove(at);
        if let Some(&moved) = members.get(at) {
            self.slot[moved as usize] = at as u32;
        }
        if members.is_empty() {
            buckets.remove(&key);
        }
    }

    fn bucket(&mut self, p: u32) {
        if self.buckets.is_none() || !self.active(p) {
            return;
        }
        let key = self.vector(p).to_vec();
        let members = self
            .buckets
            .as_mut()
            .expect("checked")
            .entry(key)
            .or_default();
        self.slot[p as usize] = members.len() as u32;
        members.push(p);
    }

    /// Adds (`up`) or removes one event of type `t` for person `p`.
    fn change(&mut self, p: u32, t: usize, up: bool) {
        self.unbucket(p);
        let c = &mut self.counts[p as usize * self.types + t];
        let old = u64::from(*c);
        let new = if up {
            c.saturating_add(1)
        } else {
            c.saturating_sub(1)
        };
        *c = new;
        if !self.excluded[p as usize] {
            let new = u64::from(new);
            self.sum[t] = self.sum[t] + new - old;
            self.sum_sq[t] = self.sum_sq[t] + new * new - old * old;
        }
        self.bucket(p);
    }

    /// Takes person `p` out of the eligible pool's sums for good.
    fn exclude(&mut self, p: u32) {
        if std::mem::replace(&mut self.excluded[p as usize], true) {
            return;
        }
        self.eligible -= 1;
        for t in 0..self.types {
            let c = u64::from(self.counts[p as usize * self.types + t]);
            self.sum[t] -= c;
            self.sum_sq[t] -= c * c;
        }
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

/// A window sliding over a stratum's events as the case dates advance.
struct Slider {
    window: Window,
    add_at: usize,
    drop_at: usize,
}

impl Slider {
    fn new(people: usize, types: usize, bucketed: bool) -> Slider {
        Slider {
            window: Window::new(people, types, bucketed),
            add_at: 0,
            drop_at: 0,
        }
    }

    /// Slides the window to [from, to) (both only ever move forward).
    fn slide(&mut self, events: &[u64], from: u32, to: u32) {
        while self.add_at < events.len() && event_day(events[self.add_at]) < to {
            let e = events[self.add_at];
            self.window.change(event_person(e), event_type(e), true);
            self.add_at += 1;
        }
        while self.drop_at < self.add_at && event_day(events[self.drop_at]) < from {
            let e = events[self.drop_at];
            self.window.change(event_person(e), event_type(e), false);
            self.drop_at += 1;
        }
    }
}

/// One case's dates, as day numbers.
#[derive(Clone, Copy)]
struct Days {
    prior_start: u32,
    pre_start: u32,
    d: u32,
    post_end: u32,
}

impl Days {
    fn of(person: &super::windows::Person, months: i32) -> Days {
        let prior = super::windows::add_months(person.date, -2 * months);
        Days {
            prior_start: day_number(prior),
            pre_start: day_number(person.pre_start),
            d: day_number(person.date),
            post_end: day_number(person.post_end),
        }
    }
}

/// (distance, rank for this case, person in stratum) of a candidate.
type Candidate = (u32, u64, u32);

/// One stratum being matched: its people's events, who may serve, and the
/// prior, pre and post windows.
struct Stratum {
    opts: MatchOptions,
    /// The stratum's first population number.
    start: u32,
    /// Its events ([`stratum_events`]).
    events: Vec<u64>,
    /// Who stops being eligible, and from when: (day, person), sorted.
    /// Cohort members from their first intervention; people who leave from
    /// the day after their end date.
    referred: Vec<(u32, u32)>,
    gone: Vec<(u32, u32)>,
    /// Per person: the day they are referred, and the day they leave
    /// (`u32::MAX` for never).
    member_day: Vec<u32>,
    end_day: Vec<u32>,
    prior: Slider,
    pre: Slider,
    post: Slider,
    /// How far `referred` and `gone` have been applied to the sums.
    referred_at: usize,
    gone_at: usize,
}

impl Stratum {
    fn new(
        range: std::ops::Range<u32>,
        usage: &Usage,
        population: &Population,
        member_of: &HashMap<u32, u32>,
        opts: MatchOptions,
    ) -> Stratum {
        let (start, people) = (range.start, (range.end - range.start) as usize);
        let types = usage.types.len();
        let lo = usage
            .events
            .partition_point(|&e| (e >> 32) < u64::from(range.start));
        let hi = usage
            .events
            .partition_point(|&e| (e >> 32) < u64::from(range.end));
        let member_day: Vec<u32> = (0..people as u32)
            .map(|p| member_of.get(&(start + p)).copied().unwrap_or(u32::MAX))
            .collect();
        let end_day: Vec<u32> = (0..people as u32)
            .map(|p| population.end_day(start + p))
            .collect();
        let sorted = |days: &[u32]| {
            let mut v: Vec<(u32, u32)> = days
                .iter()
                .enumerate()
                .filter(|(_, &d)| d != u32::MAX)
                .map(|(p, &d)| (d, p as u32))
                .collect();
            v.sort_unstable();
            v
        };
        Stratum {
            opts,
            start,
            events: stratum_events(&usage.events[lo..hi], start),
            referred: sorted(&member_day),
            gone: sorted(&end_day),
            member_day,
            end_day,
            prior: Slider::new(people, types, false),
            pre: Slider::new(people, types, true),
            post: Slider::new(people, types, false),
            referred_at: 0,
            gone_at: 0,
        }
    }

    /// Moves every window to a case's dates, and takes out of the eligible
    /// pool's sums everyone referred by the case's date or gone before its
    /// post window ends.
    fn advance(&mut self, days: Days) {
        self.prior
            .slide(&self.events, days.prior_start, days.pre_start);
        self.pre.slide(&self.events, days.pre_start, days.d);
        self.post.slide(&self.events, days.d, days.post_end);
        while let Some(&(day, p)) = self.referred.get(self.referred_at) {
            if day > days.d {
                break;
            }
            self.prior.window.exclude(p);
            self.pre.window.exclude(p);
            self.referred_at += 1;
        }
        while let Some(&(day, p)) = self.gone.get(self.gone_at) {
            if day >= days.post_end {
                break;
            }
            self.prior.window.exclude(p);
            self.pre.window.exclude(p);
            self.gone_at += 1;
        }
    }

    /// In the risk set at the case's date.
    fn eligible(&self, p: u32, days: Days) -> bool {
        self.member_day[p as usize] > days.d && self.end_day[p as usize] >= days.post_end
    }

    /// The up to K nearest eligible candidates to the count vector `v`, in
    /// order of (distance, rank for this case).
    fn nearest(&mut self, v: &[u16], days: Days, case: u64) -> Vec<u32> {
        let k = self.opts.controls;
        let mut best: Vec<Candidate> = Vec::with_capacity(k + 1);
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
        let buckets = self
            .pre
            .window
            .buckets
            .as_ref()
            .expect("the pre window has buckets");
        let mut keys: Vec<(u32, &Vec<u16>)> =
            buckets.keys().map(|key| (distance(key), key)).collect();
        keys.sort_unstable();
        for (dist, key) in keys {
            if !within(dist) || full_and_nearer(&best, dist) {
                break;
            }
            for &p in &buckets[key] {
                if self.eligible(p, days) {
                    consider(&mut best, k, (dist, rank(case, self.start + p), p));
                }
            }
        }
        let zero_dist: u32 = v.iter().map(|&c| u32::from(c)).sum();
        if within(zero_dist) && !full_and_nearer(&best, zero_dist) {
            self.draw_without_use(&mut best, zero_dist, days, case);
        }
        best.iter().map(|&(_, _, p)| p).collect()
    }

    /// Offers K eligible people with no pre-window event, drawn at random
    /// for this case: by rejection from the case's hash stream, then, if
    /// that finds too few, by a scan from a random start.
    fn draw_without_use(&self, best: &mut Vec<Candidate>, dist: u32, days: Days, case: u64) {
        let (k, n) = (self.opts.controls, self.member_day.len() as u64);
        if n == 0 {
            return;
        }
        let usable = |p: u32, best: &Vec<Candidate>| {
            self.eligible(p, days) && !self.pre.window.active(p) && !best.iter().any(|b| b.2 == p)
        };
        let mut h = mix(case ^ 0x7a65_726f);
        let mut found = 0;
        for _ in 0..(32 * k + 64) {
            if found == k {
                return;
            }
            h = mix(h);
            let p = (h % n) as u32;
            if usable(p, best) {
                consider(best, k, (dist, rank(case, self.start + p), p));
                found += 1;
            }
        }
        let from = mix(h) % n;
        for off in 0..n {
            if found == k {
                return;
            }
            let p = ((from + off) % n) as u32;
            if usable(p, best) {
                consider(best, k, (dist, rank(case, self.start + p), p));
                found += 1;
            }
        }
    }
}

/// Keeps the K best candidates, in order.
fn consider(best: &mut Vec<Candidate>, k: usize, cand: Candidate) {
    if best.len() == k && cand >= *best.last().expect("full") {
        return;
    }
    let at = best.partition_point(|b| *b < cand);
    best.insert(at, cand);
    best.truncate(k);
}

/// Cohort members in the population: their first intervention's day, by
/// population number; and each entry's population number.
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

/// Least-squares sums of the controls' post-window counts (y) on their
/// pre-window counts (x), per event type.
#[derive(Clone, Default)]
struct Regression {
    n: f64,
    x: f64,
    y: f64,
    xx: f64,
    xy: f64,
}

impl Regression {
    fn add(&mut self, x: f64, y: f64) {
        self.n += 1.0;
        self.x += x;
        self.y += y;
        self.xx += x * x;
        self.xy += x * y;
    }

    /// The slope, or 1 (no correction: the plain difference-in-differences)
    /// when the controls' pre-window counts do not vary.
    fn slope(&self) -> f64 {
        let sxx = self.xx - self.x * self.x / self.n.max(1.0);
        if self.n < 2.0 || sxx <= 1e-12 {
            return 1.0;
        }
        (self.xy - self.x * self.y / self.n) / sxx
    }
}

/// What matching gathers across strata.
struct Gathered {
    pre: Sums,
    prior: Sums,
    regression: Vec<Regression>,
    unmatched: u64,
    controls: u64,
}

/// Matches one case and records what the estimate and the balance need.
fn match_case(
    st: &mut Stratum,
    i: usize,
    cohort: &Cohort,
    usage: &Usage,
    own: &[Option<u32>],
    g: &mut Gathered,
) -> Option<Matched> {
    let entry = &cohort.entries[i];
    let days = Days::of(&entry.person, st.opts.months);
    st.advance(days);
    let v: Vec<u16> = usage
        .counts
        .iter()
        .map(|c| c[i][0].min(u32::from(u16::MAX)) as u16)
        .collect();
    let case =
        mix(st.opts.seed ^ u64::from_be_bytes(entry.token[..8].try_into().expect("8 bytes")));
    let picked = st.nearest(&v, days, case);
    if picked.is_empty() {
        g.unmatched += 1;
        return None;
    }
    g.controls += picked.len() as u64;
    let pre: Vec<&[u16]> = picked.iter().map(|&p| st.pre.window.vector(p)).collect();
    g.pre.add(&v, &st.pre.window, &pre);
    let start = st.start;
    let in_stratum = own[i].filter(|&p| p >= start && ((p - start) as usize) < st.member_day.len());
    if let Some(p) = in_stratum {
        let prior: Vec<&[u16]> = picked.iter().map(|&c| st.prior.window.vector(c)).collect();
        let own_prior = st.prior.window.vector(p - start).to_vec();
        g.prior.add(&own_prior, &st.prior.window, &prior);
    }
    let types = v.len();
    let mut m = Matched {
        k: picked.len() as u32,
        pre: vec![0; types],
        post: vec![0; types],
        ids: picked.iter().map(|&p| start + p).collect(),
    };
    for &p in &picked {
        let (x, y) = (st.pre.window.vector(p), st.post.window.vector(p));
        for t in 0..types {
            m.pre[t] += u32::from(x[t]);
            m.post[t] += u32::from(y[t]);
            g.regression[t].add(f64::from(x[t]), f64::from(y[t]));
        }
    }
    Some(m)
}

/// Builds the comparison group.
pub fn match_controls(
    cohort: &Cohort,
    usage: &Usage,
    population: &Population,
    included: &[bool],
    opts: MatchOptions,
) -> Comparison {
    let types = usage.types.len();
    let mut matched: Vec<Option<Matched>> = vec![None; cohort.len()];
    let (member_of, own) = cohort_in_population(cohort, population);
    let (mut by_stratum, cases) = cases_by_stratum(cohort, included);
    let mut g = Gathered {
        pre: Sums::new(types),
        prior: Sums::new(types),
        regression: vec![Regression::default(); types],
        unmatched: 0,
        controls: 0,
    };
    for (s, stratum_cases) in by_stratum.iter_mut().enumerate() {
        if stratum_cases.is_empty() {
            continue;
        }
        let range = population.stratum(s as u32);
        let mut st = Stratum::new(range, usage, population, &member_of, opts);
        let case_rank = |i: usize| {
            mix(opts.seed
                ^ u64::from_be_bytes(cohort.entries[i].token[..8].try_into().expect("8 bytes")))
        };
        stratum_cases.sort_by_key(|&i| (cohort.entries[i].person.date, case_rank(i)));
        for &i in stratum_cases.iter() {
            matched[i] = match_case(&mut st, i, cohort, usage, &own, &mut g);
        }
    }
    let mut balance = g.pre.rows(&usage.types, "pre");
    balance.extend(g.prior.rows(&usage.types, "prior"));
    Comparison {
        matched,
        own,
        cases,
        unmatched: g.unmatched,
        controls: g.controls,
        wanted: opts.controls,
        slope: g.regression.iter().map(Regression::slope).collect(),
        balance,
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
        let mut w = Window::new(3, 2, true);
        w.change(0, 0, true);
        w.change(1, 0, true);
        w.change(1, 1, true);
        w.change(0, 0, true);
        assert_eq!(w.vector(0), [2, 0]);
        let b = w.buckets.as_ref().unwrap();
        assert_eq!(b[&vec![2u16, 0]], [0]);
        assert_eq!(b[&vec![1u16, 1]], [1]);
        assert_eq!((w.sum[0], w.sum_sq[0]), (3, 5));
        w.change(0, 0, false);
        w.change(0, 0, false);
        assert!(!w.active(0));
        assert!(!w.buckets.as_ref().unwrap().contains_key(&vec![2u16, 0]));
        assert_eq!((w.sum[0], w.sum_sq[0]), (1, 1));
        assert!(!w.active(2));
        // Excluded people leave the sums, not the counts.
        w.exclude(1);
        assert_eq!((w.eligible, w.sum[0], w.sum[1]), (2, 0, 0));
        w.change(1, 0, true);
        assert_eq!((w.sum[0], w.vector(1)[0]), (0, 2));
    }

    #[test]
    fn the_slope_of_post_on_pre() {
        // y = 0.5 x + 1 exactly.
        let mut r = Regression::default();
        for x in [0.0, 2.0, 4.0, 6.0] {
            r.add(x, 0.5 * x + 1.0);
        }
        assert!((r.slope() - 0.5).abs() < 1e-12);
        // No spread in x: no correction.
        let mut r = Regression::default();
        r.add(1.0, 3.0);
        r.add(1.0, 5.0);
        assert_eq!(r.slope(), 1.0);
    }

    #[test]
    fn ranks_are_drawn_afresh_per_case() {
        assert_ne!(rank(1, 5), rank(2, 5));
        assert_eq!(rank(1, 5), rank(1, 5));
        assert_ne!(rank(1, 5), rank(1, 6));
        // The order of ten people differs between two cases.
        let order = |case| {
            let mut v: Vec<u32> = (0..10).collect();
            v.sort_by_key(|&p| rank(case, p));
            v
        };
        assert_ne!(order(mix(1)), order(mix(2)));
    }
}
