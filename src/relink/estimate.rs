//! The comparison group's estimate (docs/SPEC.md section 8): a
//! bias-corrected matching estimator and its Student t interval.
//!
//! **Per matched case** i with controls j = 1..k, for one event type:
//!
//! ```text
//! d_i = (post_i − β · pre_i) − (mean_j post_j − β · mean_j pre_j)
//! ```
//!
//! where β is the slope of the controls' post-window counts on their
//! pre-window counts (least squares over every control). When a case's
//! controls match its pre-window count exactly, d_i is the plain
//! difference-in-differences (post − pre) − (control post − control pre).
//! When they do not, the plain version would subtract the whole pre-window
//! gap, though after a peak only the part β carries forward; this is the
//! regression (bias) adjustment of Abadie and Imbens (2011), with the
//! outcome regressed on the matching variable among the controls.
//!
//! **The estimate** is the mean of d_i over the row's matched cases.
//! **Its interval** is mean ± t(0.975, G − 1) × SE, where the standard
//! error is cluster-robust: a person who is a control for one case and a
//! case later (allowed: section 8) ties the two cases' differences, so the
//! cases linked through shared people form a cluster, and
//! SE² = G / (G − 1) · Σ_g (Σ_{i∈g} (d_i − mean))² / n², with G clusters.
//! When no one is shared, G = n and this is the usual s² / n with n − 1
//! degrees of freedom. No interval is given on fewer than
//! [`MIN_CASES_FOR_INTERVAL`] matched cases. β is treated as known (it is
//! estimated from every control, many more than any row's cases).

use statrs::distribution::{ContinuousCDF, StudentsT};

/// The fewest matched cases an interval is given for.
pub const MIN_CASES_FOR_INTERVAL: usize = 10;

/// An estimate and its 95% interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The mean of the per-case differences.
    pub mean: f64,
    /// The 95% interval, with at least [`MIN_CASES_FOR_INTERVAL`] cases and
    /// two clusters.
    pub ci: Option<(f64, f64)>,
}

/// One matched case's bias-corrected difference for one event type: its
/// own counts, its controls' summed counts, how many controls, and β.
pub fn corrected(case: [u32; 2], controls: [u32; 2], k: u32, slope: f64) -> f64 {
    let k = f64::from(k);
    let (pre, post) = (f64::from(case[0]), f64::from(case[1]));
    let (cpre, cpost) = (f64::from(controls[0]) / k, f64::from(controls[1]) / k);
    (post - slope * pre) - (cpost - slope * cpre)
}

/// The 97.5th percentile of Student's t with `df` degrees of freedom.
pub fn t_975(df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64)
        .map(|t| t.inverse_cdf(0.975))
        .unwrap_or(f64::NAN)
}

/// The mean of `diffs` with its cluster-robust Student t interval;
/// `cluster[i]` names case i's cluster. `None` with no cases.
pub fn estimate(diffs: &[f64], cluster: &[usize]) -> Option<Estimate> {
    let n = diffs.len();
    if n == 0 {
        return None;
    }
    let mean = diffs.iter().sum::<f64>() / n as f64;
    let mut sums: std::collections::HashMap<usize, f64> = std::collections::HashMap::new();
    for (d, &g) in diffs.iter().zip(cluster) {
        *sums.entry(g).or_default() += d - mean;
    }
    let g = sums.len();
    let ci = (n >= MIN_CASES_FOR_INTERVAL && g >= 2).then(|| {
        let ss: f64 = sums.values().map(|s| s * s).sum();
        let var = g as f64 / (g as f64 - 1.0) * ss / (n as f64 * n as f64);
        let half = t_975(g - 1) * var.sqrt();
        (mean - half, mean + half)
    });
    Some(Estimate { mean, ci })
}

/// Clusters of cases linked through shared people: `people[i]` are the
/// population numbers in case i's matched set (the case's own, if any, and
/// its controls'). Returns a cluster number per case.
pub fn clusters(people: &[Vec<u32>]) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..people.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut first: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    for (i, set) in people.iter().enumerate() {
        for &p in set {
            match first.get(&p) {
                Some(&j) => {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    parent[a] = b;
                }
                None => {
                    first.insert(p, i);
                }
            }
        }
    }
    (0..people.len()).map(|i| root(&mut parent, i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scipy.stats.t.ppf(0.975, df) for df = 1, 2, 9, 29, 1000.
    #[test]
    fn t_quantiles_match_scipy() {
        for (df, want) in [
            (1, 12.706_204_736_174_694),
            (2, 4.302_652_729_749_462),
            (9, 2.262_157_162_798_205),
            (29, 2.045_229_642_132_703),
            (1000, 1.962_339_080_826_408_3),
        ] {
            assert!((t_975(df) - want).abs() < 1e-9, "{df}: {}", t_975(df));
        }
    }

    /// Ten independent cases, by hand: differences -3..=6 have mean 1.5,
    /// sample variance 9.1667 (Σ(d − 1.5)² = 82.5, / 9), SE = sqrt(0.91667)
    /// = 0.95743, half-width 2.26216 × 0.95743 = 2.16585 (scipy:
    /// `t.ppf(0.975, 9) * d.std(ddof=1) / sqrt(10)`).
    #[test]
    fn independent_cases_give_the_usual_t_interval() {
        let d: Vec<f64> = (-3..=6).map(f64::from).collect();
        let e = estimate(&d, &(0..10).collect::<Vec<_>>()).unwrap();
        assert!((e.mean - 1.5).abs() < 1e-12);
        let (lo, hi) = e.ci.unwrap();
        assert!((hi - 1.5 - 2.165_850_589_668_169).abs() < 1e-9, "{hi}");
        assert!((1.5 - lo - 2.165_850_589_668_169).abs() < 1e-9, "{lo}");
        // Nine cases: a mean, no interval.
        let e = estimate(&d[..9], &(0..9).collect::<Vec<_>>()).unwrap();
        assert_eq!(e.ci, None);
        assert_eq!(estimate(&[], &[]), None);
    }

    /// Two cases in one cluster count as one unit: with the ten cases
    /// above paired into five clusters, Σ_g S_g² over the pairs
    /// (-3,-2), (-1,0), ... gives the clustered variance.
    #[test]
    fn shared_people_widen_the_interval() {
        let d: Vec<f64> = (-3..=6).map(f64::from).collect();
        let cl: Vec<usize> = (0..10).map(|i| i / 2).collect();
        let e = estimate(&d, &cl).unwrap();
        // Pair sums of (d - 1.5): -8, -4, 0, 4, 8 -> squares 64 + 16 + 0
        // + 16 + 64 = 160; variance 5/4 x 160 / 100 = 2.0, against the
        // independent 0.9167, and 4 degrees of freedom against 9.
        let var = 5.0 / 4.0 * 160.0 / 100.0;
        let half = t_975(4) * f64::sqrt(var);
        let (lo, hi) = e.ci.unwrap();
        assert!((hi - lo - 2.0 * half).abs() < 1e-9);
        let plain = estimate(&d, &(0..10).collect::<Vec<_>>())
            .unwrap()
            .ci
            .unwrap();
        assert!(hi - lo > plain.1 - plain.0);
    }

    #[test]
    fn clusters_follow_shared_people() {
        // Case 0 {1, 2}, case 1 {3}, case 2 {2, 4}, case 3 {4}, case 4 {9}.
        let c = clusters(&[vec![1, 2], vec![3], vec![2, 4], vec![4], vec![9]]);
        assert_eq!(c[0], c[2]);
        assert_eq!(c[2], c[3]);
        assert_ne!(c[0], c[1]);
        assert_ne!(c[1], c[4]);
    }

    /// Exact matches give the plain DiD whatever β; an inexact match is
    /// corrected by the part of the gap β carries forward.
    #[test]
    fn the_correction_by_hand() {
        // Case 4 -> 1; two controls with 4 + 4 pre, 3 + 1 post.
        assert_eq!(corrected([4, 1], [8, 4], 2, 0.3), (1.0 - 4.0) - (2.0 - 4.0));
        // Controls with 2 + 2 pre (gap 2), 1 + 1 post: plain DiD would be
        // (1 - 4) - (1 - 2) = -2; with beta 0.25, (1 - 1) - (1 - 0.5) = -0.5.
        assert_eq!(corrected([4, 1], [4, 2], 2, 0.25), -0.5);
        assert_eq!(corrected([4, 1], [4, 2], 2, 1.0), -2.0);
    }
}
