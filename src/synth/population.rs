//! `synth --population N`: a registered population whose referrals follow
//! peaks of need, with a known true effect, to test the comparison group.
//!
//! Each person has an age band, sex, deprivation decile and practice, and a
//! frailty drawn from an exponential distribution (higher in older bands).
//! Month by month over the extract (April 2022 to March 2025), their A&E
//! (`AE`) and unplanned admission (`NEL`) events are Poisson at their
//! frailty's rate, six times that in a month of crisis (4% of months).
//! Referral is possible on the first day of each month from October 2022
//! to September 2024, so that both windows are complete, with a chance that
//! grows with the person's events in the six months before: exactly the
//! pre-window that matching compares. So a naive before-and-after fall
//! appears even with no effect at all (regression to the mean).
//!
//! Some people die or leave the registered list during the extract, more
//! in older bands (deaths of about 0.1% a year at 18–39 to 7% at 75+, and
//! 3% a year moving away at any age): their events stop at the end of
//! that month, which is written as `left_on` in the population and
//! referral files, for `relink --end-date-column left_on`. Nobody is
//! referred after they left. The end months come from a random stream of
//! their own.
//!
//! `--effect PCT` removes each post-window event of a referred person with
//! probability PCT/100. The events before removal are the person's
//! counterfactual, so the true effect per referred person is known exactly:
//! the mean of (actual − counterfactual) post-window events, by type.

use std::io::Write;

use jiff::civil::Date;

use super::{
    add_days, data_end, data_start, days_between, length_of_stay, write_date, Rng, LOS_STREAM,
};
use crate::error::Result;
use crate::io::output::AtomicOutput;
use crate::provider::nhs::NhsNumber;
use crate::relink::windows::add_months;

/// What to generate.
#[derive(Clone, Debug)]
pub struct PopulationSpec {
    /// People in the population.
    pub population: u64,
    /// People to refer (approximately).
    pub referred: u64,
    /// Usage events over the population (approximately).
    pub events: u64,
    /// The true effect: the percentage of referred people's post-window
    /// events that do not happen.
    pub effect_pct: f64,
    /// Random seed.
    pub seed: u64,
    /// Use only numbers from the 999 test range (at most 900,000 people).
    pub test_numbers: bool,
}

/// What the simulation knows that the analysis must find.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Truth {
    /// People referred.
    pub referred: u64,
    /// Per event type (`AE`, `NEL`): the referred people's post-window
    /// events without the effect, and with it.
    pub post_events: Vec<(&'static str, u64, u64)>,
    /// Rows written: population, referrals, usage.
    pub rows: (u64, u64, u64),
}

impl Truth {
    /// The true effect per referred person on an event type: mean actual
    /// minus counterfactual post-window events.
    pub fn per_person(&self, event_type: &str) -> Option<f64> {
        let &(_, counterfactual, actual) = self.post_events.iter().find(|e| e.0 == event_type)?;
        (self.referred > 0).then(|| (actual as f64 - counterfactual as f64) / self.referred as f64)
    }
}

const AGE_BANDS: [(&str, u32, f64); 5] = [
    ("18-39", 35, 0.6),
    ("40-54", 25, 0.8),
    ("55-64", 15, 1.0),
    ("65-74", 13, 1.4),
    ("75+", 12, 2.0),
];
/// Yearly chance of dying, by age band, and of moving off the list.
const DEATHS: [f64; 5] = [0.001, 0.003, 0.008, 0.02, 0.07];
const MOVING: f64 = 0.03;
/// The random stream of end months.
const END_STREAM: u64 = 0x656e_645f_6d6f_6e74;
const TYPES: [(&str, f64); 2] = [("AE", 0.7), ("NEL", 0.3)];
const MONTHS: usize = 36;
/// Referral months: October 2022 (month 6) to September 2024 (month 29).
const FIRST_REFERRAL: usize = 6;
const LAST_REFERRAL: usize = 29;
const CRISIS: f64 = 0.04;
const CRISIS_RATE: f64 = 6.0;
/// A referral chance of `k × (BASELINE + events in the last six months)`.
const BASELINE: f64 = 0.2;

/// The `i`-th person's number: distinct for every `i` (a multiplier prime
/// to the range's size walks it without repeats), from England's 400
/// million range, or the 999 test range.
fn number(i: u64, seed: u64, test: bool) -> Option<NhsNumber> {
    let (base, span, mult) = if test {
        (999_000_000u64, 1_000_000u64, 435_761u64)
    } else {
        (400_000_000, 100_000_000, 2_654_435_761)
    };
    let offset = seed % span;
    let p = base + ((i + offset) % span) * mult % span;
    NhsNumber::from_prefix(p as u32)
}

/// One person's draws: attributes, and events per month and type.
struct Person {
    age: usize,
    sex: &'static str,
    decile: u64,
    practice: u64,
    counts: [[u32; 2]; MONTHS],
    /// The month they died or left, if they did.
    end: Option<usize>,
}

fn draw(seed: u64, i: u64, rate: [f64; 2]) -> Person {
    let mut rng = Rng::new(seed ^ i.wrapping_mul(0xA24B_AED4_963E_E407));
    let age = rng.weighted(AGE_BANDS.iter().map(|a| a.1));
    let sex = if rng.below(2) == 0 { "F" } else { "M" };
    let decile = 1 + rng.below(10);
    let practice = 1 + rng.below(40);
    let frailty = -(1.0 - rng.unit()).ln() * AGE_BANDS[age].2;
    let mut counts = [[0u32; 2]; MONTHS];
    for month in counts.iter_mut() {
        let crisis = if rng.unit() < CRISIS {
            CRISIS_RATE
        } else {
            1.0
        };
        for (t, c) in month.iter_mut().enumerate() {
            *c = rng.poisson(frailty * rate[t] * crisis);
        }
    }
    // Death or leaving, from a stream of its own: no event after it.
    let mut end_rng = Rng::new(seed ^ END_STREAM ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let monthly = 1.0 - (1.0 - DEATHS[age] - MOVING).powf(1.0 / 12.0);
    let end = (0..MONTHS).find(|_| end_rng.unit() < monthly);
    if let Some(e) = end {
        for month in counts.iter_mut().skip(e + 1) {
            *month = [0, 0];
        }
    }
    Person {
        age,
        sex,
        decile,
        practice,
        counts,
        end,
    }
}

fn recent(p: &Person, m: usize) -> u32 {
    p.counts[m - 6..m].iter().map(|c| c[0] + c[1]).sum()
}

/// Writes `population.csv`, `referrals.csv` and `usage.csv`.
pub fn generate(
    spec: &PopulationSpec,
    population: &mut AtomicOutput,
    referrals: &mut AtomicOutput,
    usage: &mut AtomicOutput,
) -> Result<Truth> {
    let rate = rates(spec);
    let k = referral_scale(spec, rate);
    write_all(spec, rate, k, population, referrals, usage)
}

/// Rates per person-month for a frailty of 1, so that the events come to
/// about `spec.events`: mean frailty is the age mix's multiplier.
fn rates(spec: &PopulationSpec) -> [f64; 2] {
    let weight: u32 = AGE_BANDS.iter().map(|a| a.1).sum();
    let mean_frailty: f64 =
        AGE_BANDS.iter().map(|a| f64::from(a.1) * a.2).sum::<f64>() / f64::from(weight);
    let per_month = spec.events as f64
        / (spec.population.max(1) as f64
            * MONTHS as f64
            * mean_frailty
            * (1.0 + CRISIS * (CRISIS_RATE - 1.0)));
    [per_month * TYPES[0].1, per_month * TYPES[1].1]
}

/// Pass 1: the referral chance's scale, so that about `spec.referred`
/// people are referred.
fn referral_scale(spec: &PopulationSpec, rate: [f64; 2]) -> f64 {
    let mut score = 0.0;
    let mut i = 0u64;
    let mut kept = 0u64;
    while kept < spec.population {
        if number(i, spec.seed, spec.test_numbers).is_some() {
            let p = draw(spec.seed, i, rate);
            for m in FIRST_REFERRAL..=LAST_REFERRAL.min(p.end.unwrap_or(MONTHS)) {
                score += BASELINE + f64::from(recent(&p, m));
            }
            kept += 1;
        }
        i += 1;
    }
    if score > 0.0 {
        spec.referred as f64 / score
    } else {
        0.0
    }
}

/// Pass 2: writes the population, the referrals and the usage, and keeps
/// the truth.
fn write_all(
    spec: &PopulationSpec,
    rate: [f64; 2],
    k: f64,
    population: &mut AtomicOutput,
    referrals: &mut AtomicOutput,
    usage: &mut AtomicOutput,
) -> Result<Truth> {
    population.put(b"nhs_number,age_band,sex,deprivation_decile,practice,left_on\n")?;
    referrals.put(
        b"nhs_number,intervention_date,cohort,age_band,sex,deprivation_decile,practice,left_on\n",
    )?;
    usage.put(b"nhs_number,event_date,event_type,los_days\n")?;
    let months: Vec<Date> = (0..=MONTHS as i32)
        .map(|m| add_months(data_start(), m))
        .collect();
    debug_assert!(months[MONTHS] == crate::relink::windows::next_day(data_end()));
    let mut w = Writer {
        spec,
        k,
        months,
        refer_rng: Rng::new(spec.seed ^ 0x7265_6665_7272_6564),
        effect_rng: Rng::new(spec.seed ^ 0x6566_6665_6374),
        day_rng: Rng::new(spec.seed ^ 0x6461_7973),
        los_rng: Rng::new(spec.seed ^ LOS_STREAM),
        truth: Truth {
            post_events: TYPES.iter().map(|t| (t.0, 0, 0)).collect(),
            ..Truth::default()
        },
        line: Vec::with_capacity(128),
    };
    let (mut i, mut kept) = (0u64, 0u64);
    while kept < spec.population {
        let Some(n) = number(i, spec.seed, spec.test_numbers) else {
            i += 1;
            continue;
        };
        let p = draw(spec.seed, i, rate);
        i += 1;
        kept += 1;
        w.person(n.digits(), &p, population, referrals, usage)?;
    }
    Ok(w.truth)
}

/// Pass 2's state: the random streams (each its own, so that adding one
/// left the others' draws as they were), the truth and a line buffer.
struct Writer<'a> {
    spec: &'a PopulationSpec,
    k: f64,
    months: Vec<Date>,
    refer_rng: Rng,
    effect_rng: Rng,
    day_rng: Rng,
    los_rng: Rng,
    truth: Truth,
    line: Vec<u8>,
}

impl Writer<'_> {
    /// One person: their population row, their referral if any, and their
    /// events (less those the effect removes after referral).
    fn person(
        &mut self,
        digits: &[u8; 10],
        p: &Person,
        population: &mut AtomicOutput,
        referrals: &mut AtomicOutput,
        usage: &mut AtomicOutput,
    ) -> Result<()> {
        // The last day of the month they left, or empty.
        let left_on = p
            .end
            .map(|e| crate::relink::windows::add_months(data_start(), e as i32 + 1))
            .map(|d| add_days(d, -1).to_string())
            .unwrap_or_default();
        let attributes = format!(
            "{},{},{},P{:02},{left_on}",
            AGE_BANDS[p.age].0, p.sex, p.decile, p.practice
        );
        self.line.clear();
        self.line.extend_from_slice(digits);
        let _ = writeln!(self.line, ",{attributes}");
        population.put(&self.line)?;
        self.truth.rows.0 += 1;
        let referred_at = (FIRST_REFERRAL..=LAST_REFERRAL.min(p.end.unwrap_or(MONTHS)))
            .find(|&m| self.refer_rng.unit() < self.k * (BASELINE + f64::from(recent(p, m))));
        // The truth covers those still registered when their post window
        // ends, as the analysis does.
        let counted = referred_at.filter(|&m| p.end.is_none_or(|e| e >= m + 6));
        if counted.is_some() {
            self.truth.referred += 1;
        }
        if let Some(m) = referred_at {
            self.line.clear();
            self.line.extend_from_slice(digits);
            self.line.push(b',');
            write_date(&mut self.line, self.months[m], false);
            let _ = writeln!(self.line, ",Social prescribing,{attributes}");
            referrals.put(&self.line)?;
            self.truth.rows.1 += 1;
        }
        for (m, month) in p.counts.iter().enumerate() {
            let post = referred_at.is_some_and(|r| (r..r + 6).contains(&m));
            self.month(digits, m, month, post, post && counted.is_some(), usage)?;
        }
        Ok(())
    }

    /// One person's events in month `m`.
    fn month(
        &mut self,
        digits: &[u8; 10],
        m: usize,
        month: &[u32; 2],
        post: bool,
        counted: bool,
        usage: &mut AtomicOutput,
    ) -> Result<()> {
        let days = days_between(self.months[m], self.months[m + 1]) as u64;
        for (t, &count) in month.iter().enumerate() {
            let (name, _) = TYPES[t];
            for _ in 0..count {
                let kept = !post || self.effect_rng.unit() * 100.0 >= self.spec.effect_pct;
                if counted {
                    self.truth.post_events[t].1 += 1;
                    self.truth.post_events[t].2 += u64::from(kept);
                }
                let date = add_days(self.months[m], self.day_rng.below(days) as i64);
                if !kept {
                    continue;
                }
                self.line.clear();
                self.line.extend_from_slice(digits);
                self.line.push(b',');
                write_date(&mut self.line, date, false);
                let _ = write!(self.line, ",{name},");
                if name == "NEL" {
                    let _ = write!(self.line, "{}", length_of_stay(&mut self.los_rng));
                }
                self.line.push(b'\n');
                usage.put(&self.line)?;
                self.truth.rows.2 += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_distinct_and_valid() {
        for test in [false, true] {
            let mut seen = std::collections::HashSet::new();
            let mut valid = 0;
            for i in 0..20_000 {
                if let Some(n) = number(i, 7, test) {
                    assert!(seen.insert(*n.digits()), "repeat at {i}");
                    assert_eq!(n.is_test_range(), test);
                    valid += 1;
                }
            }
            assert!(valid > 17_000, "{valid}");
        }
    }

    #[test]
    fn the_truth_is_the_mean_of_what_was_removed() {
        let t = Truth {
            referred: 4,
            post_events: vec![("AE", 10, 6), ("NEL", 4, 4)],
            rows: (0, 0, 0),
        };
        assert_eq!(t.per_person("AE"), Some(-1.0));
        assert_eq!(t.per_person("NEL"), Some(0.0));
        assert_eq!(t.per_person("OP"), None);
    }
}
