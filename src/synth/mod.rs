//! Synthetic data for rehearsals, tests and benchmarks.
//!
//! [`generate`] writes a provider's referrals file and an ICB's usage
//! extract that look like the real thing: NHS numbers in mixed
//! presentations with a few invalid rows and duplicate referrals, four
//! cohorts, A&E (`AE`) and unplanned admission (`NEL`) events before and
//! after each intervention, events outside the windows and people outside
//! the cohort. Post-intervention event rates are lower than pre, so a
//! rehearsal shows a change to report.
//!
//! The output is fully determined by the seed (SplitMix64, implemented
//! here so that the stream never changes with a dependency's version).
//! With `test_numbers`, every NHS number is in the 999 range issued for
//! test patients, so none can belong to a real person.

use std::io::Write;

use jiff::civil::Date;

use crate::error::Result;
use crate::io::output::AtomicOutput;

pub mod population;
use crate::provider::nhs::NhsNumber;

/// The cohorts of the synthetic referrals, with their relative sizes and
/// yearly A&E and NEL rates before the intervention.
pub const COHORTS: [(&str, u32, f64, f64); 4] = [
    ("Over 55s with frailty", 40, 2.4, 1.1),
    ("Long-term conditions", 30, 1.6, 0.8),
    ("Mental health and wellbeing", 20, 1.4, 0.4),
    ("Young adults", 10, 0.9, 0.2),
];

/// Post-intervention rates as a fraction of pre-intervention rates.
pub const POST_FACTOR: f64 = 0.78;

/// A small, fast, seedable generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x005E_ED0F_D47A)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// An index into `weights`, drawn with probability proportional to
    /// its weight.
    pub fn weighted(&mut self, weights: impl Iterator<Item = u32> + Clone) -> usize {
        let total: u32 = weights.clone().sum();
        let mut pick = self.below(u64::from(total.max(1))) as u32;
        weights
            .into_iter()
            .position(|w| {
                if pick < w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .unwrap_or(0)
    }

    /// Poisson-distributed count with mean `lambda` (small lambda).
    pub fn poisson(&mut self, lambda: f64) -> u32 {
        let l = (-lambda).exp();
        let mut k = 0;
        let mut p = 1.0;
        loop {
            p *= self.unit();
            if p <= l || k > 1000 {
                return k;
            }
            k += 1;
        }
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct SynthSpec {
    /// People referred (rows in the referrals file, before duplicates and invalid rows).
    pub people: u64,
    /// Approximate number of usage events.
    pub events: u64,
    /// Seed.
    pub seed: u64,
    /// Draw only from the 999 test range.
    pub test_numbers: bool,
    /// Invalid referral rows per thousand.
    pub invalid_per_mille: u32,
    /// Months either side of the intervention the usage extract covers.
    pub months: i32,
}

/// Counts of what was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SynthCounts {
    /// Rows in the referrals file.
    pub referral_rows: u64,
    /// Of which deliberately invalid.
    pub invalid_rows: u64,
    /// Rows in the usage file.
    pub usage_rows: u64,
}

/// The first day of the usage extract.
pub fn data_start() -> Date {
    Date::constant(2022, 4, 1)
}
/// The last day of the usage extract.
pub fn data_end() -> Date {
    Date::constant(2025, 3, 31)
}
/// Interventions fall between these dates (some too near the edges to have
/// complete windows, as in real data).
fn intervention_range() -> (Date, Date) {
    (Date::constant(2022, 7, 1), Date::constant(2024, 12, 31))
}

fn random_number(rng: &mut Rng, test_numbers: bool) -> NhsNumber {
    loop {
        let prefix = if test_numbers {
            999_000_000 + rng.below(1_000_000) as u32
        } else {
            rng.below(1_000_000_000) as u32
        };
        if let Some(n) = NhsNumber::from_prefix(prefix) {
            return n;
        }
    }
}

pub(crate) fn add_days(d: Date, days: i64) -> Date {
    d.checked_add(jiff::Span::new().days(days)).unwrap_or(d)
}

pub(crate) fn days_between(a: Date, b: Date) -> i64 {
    (b - a).get_days().into()
}

/// Writes the number as `943 476 5919` (with `sep` between the groups).
fn grouped(d: &[u8; 10], sep: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(&d[0..3]);
    out.push(sep);
    out.extend_from_slice(&d[3..6]);
    out.push(sep);
    out.extend_from_slice(&d[6..10]);
}

/// Writes a valid number in one of the presentations seen in real files.
fn present(rng: &mut Rng, d: &[u8; 10], out: &mut Vec<u8>) {
    match rng.below(20) {
        0..=11 => out.extend_from_slice(d),
        12..=15 => grouped(d, b' ', out),
        16..=18 => grouped(d, b'-', out),
        _ => {
            out.push(b' ');
            out.extend_from_slice(d);
            out.push(b' ');
        }
    }
}

fn invalid_cell(kind: u64, d: &[u8; 10], out: &mut Vec<u8>) {
    match kind % 6 {
        0 => {}
        1 => out.extend_from_slice(&d[1..]), // lost leading digit
        2 => {
            out.extend_from_slice(&d[..9]);
            out.push(b'0' + (d[9] - b'0' + 1) % 10); // typo in the check digit
        }
        3 => {
            out.extend_from_slice(&d[..1]);
            out.push(b'.');
            out.extend_from_slice(&d[1..3]);
            out.extend_from_slice(b"E+09");
        }
        4 => out.extend_from_slice(b"0000000000"),
        _ => out.extend_from_slice(b"unknown"),
    }
}

pub(crate) fn write_date(out: &mut Vec<u8>, d: Date, uk: bool) {
    if uk {
        let _ = write!(out, "{:02}/{:02}/{:04}", d.day(), d.month(), d.year());
    } else {
        let _ = write!(out, "{d}");
    }
}

/// When a cohort member's event falls.
#[derive(Clone, Copy)]
enum Phase {
    /// In the window before the intervention.
    Pre,
    /// In the window from the intervention on.
    Post,
    /// Anywhere in the extract (events outside the windows).
    Anywhere,
}

/// The phases and their rates relative to the pre-intervention rate.
const PHASES: [(Phase, f64); 3] = [
    (Phase::Pre, 1.0),
    (Phase::Post, POST_FACTOR),
    (Phase::Anywhere, 0.2),
];

/// The share of a phase's possible event dates (`window` days before the
/// intervention, or from it on) that fall inside the extract `ds..=de`.
fn in_extract(date: Date, phase: Phase, window: i64, ds: Date, de: Date) -> f64 {
    let (lo, hi) = match phase {
        Phase::Pre => (add_days(date, -window), add_days(date, -1)),
        Phase::Post => (date, add_days(date, window - 1)),
        Phase::Anywhere => return 1.0,
    };
    let (lo, hi) = (lo.max(ds), hi.min(de));
    if hi < lo || window <= 0 {
        0.0
    } else {
        (days_between(lo, hi) + 1) as f64 / window as f64
    }
}

/// Seeds the length-of-stay stream apart from the main one.
pub(crate) const LOS_STREAM: u64 = 0x6c6f_735f_6461_7973;

/// A length of stay in days for an unplanned admission: a quarter leave
/// the same day (0), the rest stay 1 + Poisson(4.5) days, a mean of about
/// 4.1 days, near the average for emergency admissions in England.
pub(crate) fn length_of_stay(rng: &mut Rng) -> u32 {
    if rng.below(4) == 0 {
        0
    } else {
        1 + rng.poisson(4.5)
    }
}

struct Person {
    digits: [u8; 10],
    date: Date,
    cohort: usize,
}

/// Writes `referrals.csv` and `usage.csv` to the two outputs.
pub fn generate(
    spec: &SynthSpec,
    referrals: &mut AtomicOutput,
    usage: &mut AtomicOutput,
) -> Result<SynthCounts> {
    let mut rng = Rng::new(spec.seed);
    let mut counts = SynthCounts::default();
    let people = draw_people(spec, &mut rng);
    write_referrals(spec, &people, &mut rng, referrals, &mut counts)?;
    write_usage(spec, &people, &mut rng, usage, &mut counts)?;
    Ok(counts)
}

/// The people referred: number, first intervention, cohort.
fn draw_people(spec: &SynthSpec, rng: &mut Rng) -> Vec<Person> {
    let (first, last) = intervention_range();
    let span_days = days_between(first, last) + 1;
    (0..spec.people)
        .map(|_| {
            let n = random_number(rng, spec.test_numbers);
            let cohort = rng.weighted(COHORTS.iter().map(|c| c.1));
            let date = add_days(first, rng.below(span_days as u64) as i64);
            Person {
                digits: *n.digits(),
                date,
                cohort,
            }
        })
        .collect()
}

/// The referrals file: a row per referral (1% referred twice), numbers in
/// mixed presentations, some deliberately invalid.
fn write_referrals(
    spec: &SynthSpec,
    people: &[Person],
    rng: &mut Rng,
    referrals: &mut AtomicOutput,
    counts: &mut SynthCounts,
) -> Result<()> {
    referrals.put(b"referral_id,nhs_number,intervention_date,cohort,consent\n")?;
    let mut line = Vec::with_capacity(128);
    let mut id = 0u64;
    for p in people {
        let copies = if rng.below(100) == 0 { 2 } else { 1 };
        for copy in 0..copies {
            id += 1;
            line.clear();
            let _ = write!(line, "R{id:07},");
            let invalid = rng.below(1000) < u64::from(spec.invalid_per_mille);
            if invalid {
                invalid_cell(counts.invalid_rows, &p.digits, &mut line);
                counts.invalid_rows += 1;
            } else {
                present(rng, &p.digits, &mut line);
            }
            line.push(b',');
            let date = if copy == 0 {
                p.date
            } else {
                add_days(p.date, 30 + rng.below(60) as i64)
            };
            write_date(&mut line, date, rng.below(4) == 0);
            line.push(b',');
            line.extend_from_slice(COHORTS[p.cohort].0.as_bytes());
            line.extend_from_slice(b",Y\n");
            referrals.put(&line)?;
            counts.referral_rows += 1;
        }
    }
    Ok(())
}

/// The rate scale that makes the expected number of usage rows written
/// `spec.events`: events whose date would fall outside the extract are not
/// written, so each person's expectation counts only the share of their
/// windows inside it.
fn usage_scale(spec: &SynthSpec, people: &[Person], window_days: f64) -> f64 {
    let (ds, de) = (data_start(), data_end());
    let cohort_share = if people.is_empty() { 0.0 } else { 0.8 };
    let unscaled: f64 = people
        .iter()
        .map(|p| {
            let c = &COHORTS[p.cohort];
            let phases: f64 = PHASES
                .iter()
                .map(|&(phase, factor)| {
                    factor * in_extract(p.date, phase, window_days as i64, ds, de)
                })
                .sum();
            (c.2 + c.3) * window_days / 365.25 * phases
        })
        .sum();
    if unscaled > 0.0 {
        spec.events as f64 * cohort_share / unscaled
    } else {
        0.0
    }
}

/// The usage file: events for cohort members at their cohort's rates
/// (lower after the intervention), then events for people never referred.
fn write_usage(
    spec: &SynthSpec,
    people: &[Person],
    rng: &mut Rng,
    usage: &mut AtomicOutput,
    counts: &mut SynthCounts,
) -> Result<()> {
    usage.put(b"nhs_number,event_date,event_type,los_days\n")?;
    // Lengths of stay come from a stream of their own, so that adding them
    // left every other byte of a seed's files as it was.
    let mut los_rng = Rng::new(spec.seed ^ LOS_STREAM);
    let (ds, de) = (data_start(), data_end());
    let data_days = days_between(ds, de) + 1;
    let window_days = 30.44 * f64::from(spec.months);
    let window = window_days as i64;
    let scale = usage_scale(spec, people, window_days);
    let mut line = Vec::with_capacity(128);
    let mut put = |digits: &[u8], date, event_type: &str, los: &mut Rng| -> Result<()> {
        line.clear();
        line.extend_from_slice(digits);
        line.push(b',');
        write_date(&mut line, date, false);
        line.push(b',');
        line.extend_from_slice(event_type.as_bytes());
        line.push(b',');
        if event_type == "NEL" {
            let _ = write!(line, "{}", length_of_stay(los));
        }
        line.push(b'\n');
        usage.put(&line)?;
        counts.usage_rows += 1;
        Ok(())
    };
    for p in people {
        let c = &COHORTS[p.cohort];
        for (event_type, rate) in [("AE", c.2), ("NEL", c.3)] {
            let mean = rate * scale * window_days / 365.25;
            for (phase, factor) in PHASES {
                for _ in 0..rng.poisson(mean * factor) {
                    let date = match phase {
                        Phase::Pre => add_days(p.date, -(1 + rng.below(window as u64) as i64)),
                        Phase::Post => add_days(p.date, rng.below(window as u64) as i64),
                        Phase::Anywhere => add_days(ds, rng.below(data_days as u64) as i64),
                    };
                    if (ds..=de).contains(&date) {
                        put(&p.digits, date, event_type, &mut los_rng)?;
                    }
                }
            }
        }
    }
    let cohort_share = if people.is_empty() { 0.0 } else { 0.8 };
    let others = (spec.events as f64 * (1.0 - cohort_share)) as u64;
    for _ in 0..others {
        let n = random_number(rng, spec.test_numbers);
        let date = add_days(ds, rng.below(data_days as u64) as i64);
        let event_type = if rng.below(3) == 0 { "NEL" } else { "AE" };
        put(n.digits(), date, event_type, &mut los_rng)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `--events M` wrote about 7.5% fewer rows than M, because
    /// the expectation used other phase rates than the generator and did not
    /// allow for events falling outside the extract.
    #[test]
    fn usage_rows_come_close_to_the_events_asked_for() {
        for (people, events) in [(2_000, 20_000), (300, 2_000), (0, 500)] {
            let spec = SynthSpec {
                people,
                events,
                seed: 5,
                test_numbers: true,
                invalid_per_mille: 30,
                months: 6,
            };
            let dir = tempfile::tempdir().unwrap();
            let out =
                |name: &str| AtomicOutput::create(Some(&dir.path().join(name)), false).unwrap();
            let counts = generate(&spec, &mut out("r.csv"), &mut out("u.csv")).unwrap();
            let off = counts.usage_rows.abs_diff(events) as f64 / events as f64;
            assert!(
                off < 0.04,
                "{people} people, {events} events: {} rows",
                counts.usage_rows
            );
        }
    }

    #[test]
    fn the_share_of_a_window_inside_the_extract() {
        let (ds, de) = (data_start(), data_end());
        let mid = Date::constant(2023, 6, 1);
        assert_eq!(in_extract(mid, Phase::Pre, 182, ds, de), 1.0);
        assert_eq!(in_extract(mid, Phase::Post, 182, ds, de), 1.0);
        // 31 of 182 days before 2022-05-02 are in the extract (from 2022-04-01).
        let early = Date::constant(2022, 5, 2);
        assert_eq!(in_extract(early, Phase::Pre, 182, ds, de), 31.0 / 182.0);
        // From 2025-03-01 to the end (2025-03-31): 31 days.
        let late = Date::constant(2025, 3, 1);
        assert_eq!(in_extract(late, Phase::Post, 182, ds, de), 31.0 / 182.0);
        assert_eq!(in_extract(late, Phase::Anywhere, 182, ds, de), 1.0);
    }

    #[test]
    fn rng_is_deterministic_and_uniform_enough() {
        let mut a = Rng::new(1);
        let mut b = Rng::new(1);
        let xs: Vec<u64> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(10)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&x| x < 10));
        let mean: f64 = (0..10_000).map(|_| f64::from(a.poisson(2.0))).sum::<f64>() / 10_000.0;
        assert!((mean - 2.0).abs() < 0.1, "{mean}");
    }

    #[test]
    fn lengths_of_stay_are_plausible() {
        let mut rng = Rng::new(LOS_STREAM);
        let stays: Vec<u32> = (0..20_000).map(|_| length_of_stay(&mut rng)).collect();
        let mean = stays.iter().map(|&d| f64::from(d)).sum::<f64>() / stays.len() as f64;
        // 0.25 x 0 + 0.75 x 5.5 = 4.125.
        assert!((mean - 4.125).abs() < 0.1, "{mean}");
        let same_day = stays.iter().filter(|&&d| d == 0).count() as f64 / stays.len() as f64;
        assert!((same_day - 0.25).abs() < 0.02, "{same_day}");
    }

    #[test]
    fn test_numbers_are_in_the_test_range() {
        let mut rng = Rng::new(3);
        for _ in 0..100 {
            assert!(random_number(&mut rng, true).is_test_range());
        }
    }
}
