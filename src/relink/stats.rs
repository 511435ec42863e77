//! Statistics for the re-link report: the Wilcoxon signed-rank test.
//!
//! [`wilcoxon_p`] is the two-sided test on paired differences exactly as
//! SPEC section 6 asks, matching
//! `scipy.stats.wilcoxon(d, zero_method="wilcox", correction=False,
//! method="approx")`: zero differences dropped, average ranks for ties, the
//! normal approximation with the tie correction and no continuity
//! correction. The normal tail uses `libm::erfc`.

/// Two-sided p-value of the Wilcoxon signed-rank test on `diffs`, or `None`
/// when fewer than two differences are non-zero.
pub fn wilcoxon_p(diffs: &[i64]) -> Option<f64> {
    let mut abs: Vec<(u64, bool)> = diffs
        .iter()
        .filter(|&&d| d != 0)
        .map(|&d| (d.unsigned_abs(), d > 0))
        .collect();
    let n = abs.len();
    if n < 2 {
        return None;
    }
    abs.sort_unstable_by_key(|&(a, _)| a);
    let (mut r_plus, mut r_minus) = (0.0f64, 0.0f64);
    let mut tie_term = 0.0f64;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j < n && abs[j].0 == abs[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j share their average.
        let avg = (i + 1 + j) as f64 / 2.0;
        let t = (j - i) as f64;
        tie_term += t * t * t - t;
        for item in &abs[i..j] {
            if item.1 {
                r_plus += avg;
            } else {
                r_minus += avg;
            }
        }
        i = j;
    }
    let nf = n as f64;
    let t = r_plus.min(r_minus);
    let mean = nf * (nf + 1.0) / 4.0;
    let var = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - tie_term / 48.0;
    if var <= 0.0 {
        return Some(1.0);
    }
    let z = (t - mean) / var.sqrt();
    // Two-sided: 2 * P(Z > |z|) = erfc(|z| / sqrt 2).
    Some(libm::erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0))
}

/// Formats like C's and Python's `%.4g`: four significant figures, trailing
/// zeros removed, scientific notation below 1e-4.
pub fn format_4g(x: f64) -> String {
    if x == 0.0 {
        return "0".to_string();
    }
    if !x.is_finite() {
        return String::new();
    }
    let exp = x.abs().log10().floor() as i32;
    // Round first: 0.099996 becomes 0.1, whose exponent differs.
    let sci = format!("{:.3e}", x);
    let (mantissa, e) = sci.split_once('e').unwrap_or((&sci, "0"));
    let e: i32 = e.parse().unwrap_or(exp);
    if !(-4..4).contains(&e) {
        let m = strip_zeros(mantissa);
        let sign = if e < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", e.abs());
    }
    let decimals = (3 - e).max(0) as usize;
    strip_zeros(&format!("{:.*}", decimals, x))
}

fn strip_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values from SciPy 1.x, computed independently with
    /// `scipy.stats.wilcoxon(d, zero_method="wilcox", correction=False,
    /// method="approx").pvalue`.
    #[test]
    fn matches_scipy() {
        let cases: [(&[i64], f64); 6] = [
            (&[1, -2, 3, -4, 5, 6, 7, -8, 9, 10], 0.1688069535565081),
            (&[0, 0, 1, 1, -1, 2, 2, -3, 0, 4, 4, 4], 0.08335618153643236),
            (
                &[-1, -1, -1, -2, -1, 0, 1, -3, -1, -1, -2, 0, 0, -1],
                0.008106886774657521,
            ),
            (&[1, 2], 0.17971249487899976),
            (&[-1, -1, -1, -1, -1, -1, -1, -1], 0.0046777349810472576),
            (&[3, -3, 2, -2, 1, -1], 1.0),
        ];
        for (d, want) in cases {
            let got = wilcoxon_p(d).unwrap();
            assert!((got - want).abs() < 1e-12, "{d:?}: {got} vs {want}");
        }
    }

    #[test]
    fn too_few_differences() {
        assert_eq!(wilcoxon_p(&[]), None);
        assert_eq!(wilcoxon_p(&[0, 0, 5]), None);
        assert!(wilcoxon_p(&[0, 5, -1]).is_some());
    }

    #[test]
    fn four_significant_figures_like_python() {
        // Python: f"{x:.4g}"
        assert_eq!(format_4g(0.1688069535565081), "0.1688");
        assert_eq!(format_4g(0.08335618153643236), "0.08336");
        assert_eq!(format_4g(0.008106886774657521), "0.008107");
        assert_eq!(format_4g(0.0046777349810472576), "0.004678");
        assert_eq!(format_4g(1.0), "1");
        assert_eq!(format_4g(0.5), "0.5");
        assert_eq!(format_4g(1.234567e-5), "1.235e-05");
        assert_eq!(format_4g(0.00012345), "0.0001234");
        assert_eq!(format_4g(0.099996), "0.1");
        assert_eq!(format_4g(3.0e-12), "3e-12");
    }
}
