//! Disclosure control (docs/SPEC.md section 6): how counts and what is
//! derived from them are protected before anything leaves the program.

use crate::relink::values::format_milli;

/// How counts are protected before release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    /// NHS small-number suppression: 1–7 as `*`, others to the nearest 5.
    Hes,
    /// Exact values: not fit for release.
    None,
}

/// A count of 1 to 7: suppressed under `hes`.
pub fn small(c: u64) -> bool {
    (1..=7).contains(&c)
}

/// To the nearest 5 (0 stays 0).
pub fn round5(c: u64) -> u64 {
    (c + 2) / 5 * 5
}

/// A count as released: exact, or `*` for 1–7 and the nearest 5 otherwise.
pub fn shown_count(c: u64, disclosure: Disclosure) -> String {
    match disclosure {
        Disclosure::None => c.to_string(),
        Disclosure::Hes if small(c) => "*".into(),
        Disclosure::Hes => round5(c).to_string(),
    }
}

/// A derived value as released: `*` under `hes` when any count it rests on
/// is 1–7, otherwise the exact value formatted (empty when undefined).
pub fn shown_derived(
    disclosure: Disclosure,
    rests_on: &[u64],
    v: Option<f64>,
    fmt: &dyn Fn(f64) -> String,
) -> String {
    if disclosure == Disclosure::Hes && rests_on.iter().any(|&c| small(c)) {
        "*".into()
    } else {
        v.map(fmt).unwrap_or_default()
    }
}

/// A value sum (thousandths) as released with one decimal: `*` when the
/// event count it goes with is 1–7, otherwise (under `hes`) rounded to the
/// nearest 5.
pub fn shown_value_sum(milli: u64, events: u64, disclosure: Disclosure) -> String {
    match disclosure {
        Disclosure::None => format_milli(i128::from(milli), 1),
        Disclosure::Hes if small(events) => "*".into(),
        Disclosure::Hes => {
            // Nearest 5 units = nearest 5,000 thousandths, half up.
            let r = (u128::from(milli) + 2_500) / 5_000 * 5_000;
            format_milli(r as i128, 1)
        }
    }
}
