//! Decimal values held exactly, in thousandths: a usage file's
//! `--value-column` (bed days, length of stay, cost), unit costs and the
//! service cost (docs/SPEC.md section 7).
//!
//! Values are summed per person and window and compared person by person
//! (the Wilcoxon test ranks the differences and needs exact ties), so they
//! are parsed as integers of thousandths rather than as floats: `2.5` is
//! 2,500 and `0.1 + 0.2` is exactly `0.3`. A fourth decimal or more is
//! rounded to the nearest thousandth, half away from zero.

/// Why a cell is not a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadValue {
    /// Starts with a minus sign.
    Negative,
    /// Not a plain decimal (text, `NaN`, `1e3`, a thousands separator).
    NotANumber,
    /// More than a trillion.
    TooLarge,
}

impl BadValue {
    /// Plain words for an error message.
    pub fn explain(self) -> &'static str {
        match self {
            BadValue::Negative => "is negative; values must be 0 or more",
            BadValue::NotANumber => {
                "is not a plain decimal number such as 3 or 2.5 (no text, no NaN, no exponent, no thousands separator)"
            }
            BadValue::TooLarge => "is larger than 1,000,000,000,000",
        }
    }
}

/// The largest whole part accepted.
const MAX_WHOLE: u64 = 1_000_000_000_000;

/// Parses a decimal ≥ 0 into thousandths. White space around it is
/// ignored; an empty cell is `None` (the caller decides what that means).
pub fn parse_milli(cell: &[u8]) -> Option<Result<u64, BadValue>> {
    let s = cell.trim_ascii();
    if s.is_empty() {
        return None;
    }
    Some(parse_nonempty(s))
}

fn parse_nonempty(s: &[u8]) -> Result<u64, BadValue> {
    let s = s.strip_prefix(b"+").unwrap_or(s);
    if s.first() == Some(&b'-') {
        // "-0" is zero written oddly, but a minus sign in a count of bed
        // days or pounds is a sign of a wrong column: refuse it all the same.
        return Err(BadValue::Negative);
    }
    let (whole, frac) = match s.iter().position(|&b| b == b'.') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &b""[..]),
    };
    let digits = |p: &[u8]| p.iter().all(u8::is_ascii_digit);
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return Err(BadValue::NotANumber);
    }
    let whole_digits = whole.iter().skip_while(|&&b| b == b'0').count();
    if whole_digits > 13 {
        return Err(BadValue::TooLarge);
    }
    let w = whole
        .iter()
        .fold(0u64, |a, &d| a * 10 + u64::from(d - b'0'));
    if w > MAX_WHOLE {
        return Err(BadValue::TooLarge);
    }
    let mut milli = 0u64;
    for k in 0..3 {
        milli = milli * 10 + frac.get(k).map_or(0, |&d| u64::from(d - b'0'));
    }
    // Round on the fourth decimal, half away from zero.
    if frac.get(3).is_some_and(|&d| d >= b'5') {
        milli += 1;
    }
    Ok(w * 1000 + milli)
}

/// Thousandths as a decimal with `places` places (at most 3), rounded half
/// away from zero: `format_milli(2_345, 1)` is `2.3`, `(2_350, 1)` `2.4`.
pub fn format_milli(v: i128, places: u32) -> String {
    let places = places.min(3);
    let unit = 10i128.pow(3 - places);
    let rounded = (v.abs() + unit / 2) / unit;
    let sign = if v < 0 && rounded != 0 { "-" } else { "" };
    if places == 0 {
        return format!("{sign}{rounded}");
    }
    let scale = 10i128.pow(places);
    format!(
        "{sign}{}.{:0width$}",
        rounded / scale,
        rounded % scale,
        width = places as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<Result<u64, BadValue>> {
        parse_milli(s.as_bytes())
    }

    #[test]
    fn plain_decimals() {
        assert_eq!(p("3"), Some(Ok(3_000)));
        assert_eq!(p(" 2.5 "), Some(Ok(2_500)));
        assert_eq!(p(".5"), Some(Ok(500)));
        assert_eq!(p("7."), Some(Ok(7_000)));
        assert_eq!(p("+1.25"), Some(Ok(1_250)));
        assert_eq!(p("0"), Some(Ok(0)));
        assert_eq!(p("00012.000"), Some(Ok(12_000)));
        assert_eq!(p("1171.00"), Some(Ok(1_171_000)));
        assert_eq!(p(""), None);
        assert_eq!(p("   "), None);
    }

    #[test]
    fn a_fourth_decimal_rounds_half_away_from_zero() {
        assert_eq!(p("0.0004"), Some(Ok(0)));
        assert_eq!(p("0.0005"), Some(Ok(1)));
        assert_eq!(p("2.33333"), Some(Ok(2_333)));
        assert_eq!(p("2.66666"), Some(Ok(2_667)));
        assert_eq!(p("0.9995"), Some(Ok(1_000)));
    }

    #[test]
    fn everything_else_is_refused() {
        for s in ["-1", "-0", "-0.5"] {
            assert_eq!(p(s), Some(Err(BadValue::Negative)), "{s}");
        }
        for s in [
            "NaN", "nan", "inf", "abc", "1e3", "1E3", "1,5", "1 000", ".", "+", "1.2.3", "£5",
            "5£", "0x10",
        ] {
            assert_eq!(p(s), Some(Err(BadValue::NotANumber)), "{s}");
        }
        assert_eq!(p("1000000000001"), Some(Err(BadValue::TooLarge)));
        assert_eq!(p("99999999999999999999999"), Some(Err(BadValue::TooLarge)));
        assert_eq!(p("1000000000000"), Some(Ok(1_000_000_000_000_000)));
    }

    #[test]
    fn formatting() {
        assert_eq!(format_milli(2_345, 1), "2.3");
        assert_eq!(format_milli(2_350, 1), "2.4");
        assert_eq!(format_milli(2_350, 0), "2");
        assert_eq!(format_milli(2_500, 0), "3");
        assert_eq!(format_milli(-2_500, 0), "-3");
        assert_eq!(format_milli(-4, 2), "0.00");
        assert_eq!(format_milli(-5, 2), "-0.01");
        assert_eq!(format_milli(0, 1), "0.0");
        assert_eq!(format_milli(1_171_000, 2), "1171.00");
        assert_eq!(format_milli(7, 3), "0.007");
    }

    proptest::proptest! {
        /// Any value written with up to three decimals reads back exactly.
        #[test]
        fn round_trip(whole in 0u64..1_000_000_000, milli in 0u64..1000) {
            let v = whole * 1000 + milli;
            let text = format_milli(i128::from(v), 3);
            proptest::prop_assert_eq!(parse_milli(text.as_bytes()), Some(Ok(v)));
        }
    }
}
