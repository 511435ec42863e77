//! Which body issued a valid number (docs/SPEC.md section 1, "Issuing
//! ranges"). These are counts and warnings, never rejections: a number
//! outside England's ranges is still tokenised and still counted as valid.
//!
//! | range (first nine digits)          | issued by                                   |
//! |------------------------------------|---------------------------------------------|
//! | 400 000 000 – 499 999 999          | England, Wales and the Isle of Man          |
//! | 600 000 000 – 799 999 999          | England, Wales and the Isle of Man          |
//! | 010 100 000 – 311 299 999          | Scotland (CHI: the first six digits DDMMYY) |
//! | 320 000 000 – 399 999 999          | Northern Ireland (H&C number)               |
//! | 999 000 000 – 999 999 999          | test patients (counted as `test_range`)     |
//! | anything else                      | unallocated                                 |
//!
//! A number in the CHI range whose first six digits are not a real date
//! (DDMMYY; 29 February only in a year divisible by four, as 1900 is the
//! one century year it could wrongly admit and CHI dates are 19YY or 20YY,
//! of which only 2000 is a century year) cannot be a CHI number, and is
//! counted apart.

use super::nhs::NhsNumber;

/// Where a valid number's digits fall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    /// Issued in England, Wales or the Isle of Man.
    EnglandWales,
    /// The test-patient range (999...).
    Test,
    /// Scotland's CHI range, with a real date in the first six digits.
    ScotlandChi,
    /// The CHI range, but the first six digits are not a date.
    ChiRangeNotADate,
    /// Northern Ireland's range.
    NorthernIreland,
    /// In no issued range.
    Unallocated,
}

impl Range {
    /// The ranges outside England, Wales and the Isle of Man (the test range
    /// apart), in the order they are reported.
    pub const OUTSIDE: [Range; 4] = [
        Range::ScotlandChi,
        Range::ChiRangeNotADate,
        Range::NorthernIreland,
        Range::Unallocated,
    ];

    /// The range of a number.
    pub fn of(n: &NhsNumber) -> Range {
        Range::of_prefix(n.prefix())
    }

    /// The range of a number from its first nine digits
    /// ([`NhsNumber::prefix`]), so that a caller that has the prefix
    /// already pays one or two comparisons.
    pub fn of_prefix(p: u32) -> Range {
        match p {
            400_000_000..=499_999_999 | 600_000_000..=799_999_999 => Range::EnglandWales,
            999_000_000..=999_999_999 => Range::Test,
            10_100_000..=311_299_999 => {
                if chi_date(p) {
                    Range::ScotlandChi
                } else {
                    Range::ChiRangeNotADate
                }
            }
            320_000_000..=399_999_999 => Range::NorthernIreland,
            _ => Range::Unallocated,
        }
    }

    /// The stable code used in the manifest and vectors.
    pub fn code(self) -> &'static str {
        match self {
            Range::EnglandWales => "england_wales",
            Range::Test => "test_range",
            Range::ScotlandChi => "scotland_chi",
            Range::ChiRangeNotADate => "chi_range_not_a_date",
            Range::NorthernIreland => "northern_ireland",
            Range::Unallocated => "unallocated",
        }
    }

    /// What such a number usually means, for summaries.
    pub fn explain(self) -> &'static str {
        match self {
            Range::EnglandWales => "issued in England, Wales or the Isle of Man",
            Range::Test => "a test patient's number",
            Range::ScotlandChi => {
                "Scotland's CHI range: usually a Scottish patient's CHI number entered as an NHS number; it will not match English hospital data"
            }
            Range::ChiRangeNotADate => {
                "in the CHI range, but the first six digits are not a date (DDMMYY), so not a CHI number either: probably a typing error that happens to pass the check digit"
            }
            Range::NorthernIreland => {
                "Northern Ireland's range (an H&C number): it will not match English hospital data"
            }
            Range::Unallocated => {
                "in no range ever issued: probably a typing error or a made-up number that happens to pass the check digit"
            }
        }
    }
}

/// True when the first six of nine digits are a real DDMMYY date.
fn chi_date(prefix: u32) -> bool {
    let dd = (prefix / 10_000_000) as i8;
    let mm = (prefix / 100_000 % 100) as i8;
    let yy = (prefix / 1_000 % 100) as i16;
    // 2000 + yy is a leap year exactly when yy % 4 == 0, which is the rule
    // for 19yy as well except 1900; see the module doc. The month is checked
    // first so that jiff is only asked for a real month's length: building a
    // `Date` from an impossible day makes an error value, which allocates,
    // and a quarter of the numbers in a file drawn at random fall here.
    (1..=12).contains(&mm) && dd >= 1 && dd <= jiff::civil::date(2000 + yy, mm, 1).days_in_month()
}

/// Counts of valid numbers outside England, Wales and the Isle of Man, in
/// the order of [`Range::OUTSIDE`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RangeCounts(pub [u64; 4]);

impl RangeCounts {
    /// Counts a number's range (England, Wales and test numbers are not
    /// counted here).
    #[inline]
    pub fn add(&mut self, r: Range) {
        match r {
            Range::EnglandWales | Range::Test => {}
            Range::ScotlandChi => self.0[0] += 1,
            Range::ChiRangeNotADate => self.0[1] += 1,
            Range::NorthernIreland => self.0[2] += 1,
            Range::Unallocated => self.0[3] += 1,
        }
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, other: &RangeCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// All numbers outside England, Wales and the Isle of Man.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Each outside range with its count.
    pub fn iter(&self) -> impl Iterator<Item = (Range, u64)> + '_ {
        Range::OUTSIDE.iter().copied().zip(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::nhs::canonicalise;
    use jiff::civil::Date;

    fn range(s: &str) -> Range {
        Range::of(&canonicalise(s.as_bytes()).unwrap())
    }

    #[test]
    fn each_range_and_its_edges() {
        assert_eq!(range("4000000632"), Range::EnglandWales);
        assert_eq!(range("9990000018"), Range::Test);
        // The SPEC's own vector number is in no issued range.
        assert_eq!(range("9434765919"), Range::Unallocated);
        assert_eq!(range("9876543210"), Range::Unallocated);
        assert_eq!(Range::of_prefix(399_999_999), Range::NorthernIreland);
        assert_eq!(Range::of_prefix(400_000_000), Range::EnglandWales);
        assert_eq!(Range::of_prefix(499_999_999), Range::EnglandWales);
        assert_eq!(Range::of_prefix(500_000_000), Range::Unallocated);
        assert_eq!(Range::of_prefix(599_999_999), Range::Unallocated);
        assert_eq!(Range::of_prefix(600_000_000), Range::EnglandWales);
        assert_eq!(Range::of_prefix(799_999_999), Range::EnglandWales);
        assert_eq!(Range::of_prefix(800_000_000), Range::Unallocated);
        assert_eq!(Range::of_prefix(998_999_999), Range::Unallocated);
        assert_eq!(Range::of_prefix(999_000_000), Range::Test);
        assert_eq!(Range::of_prefix(320_000_000), Range::NorthernIreland);
        assert_eq!(Range::of_prefix(319_999_999), Range::Unallocated);
        assert_eq!(Range::of_prefix(311_299_999), Range::ScotlandChi); // 31/12/99
        assert_eq!(Range::of_prefix(311_300_000), Range::Unallocated);
        assert_eq!(Range::of_prefix(10_100_000), Range::ScotlandChi); // 01/01/00
        assert_eq!(Range::of_prefix(10_099_999), Range::Unallocated);
        assert_eq!(Range::of_prefix(0), Range::Unallocated);
    }

    #[test]
    fn chi_dates() {
        // DDMMYY: 31/01/95 yes, 31/04/95 no, 00/05/95 no, 15/13/95 no.
        assert_eq!(Range::of_prefix(310_195_412), Range::ScotlandChi);
        assert_eq!(Range::of_prefix(310_495_412), Range::ChiRangeNotADate);
        assert_eq!(Range::of_prefix(100_595_000), Range::ScotlandChi);
        assert_eq!(Range::of_prefix(151_395_000), Range::ChiRangeNotADate);
        assert_eq!(Range::of_prefix(200_095_000), Range::ChiRangeNotADate);
        // 29 February: in years divisible by four (00 is 2000), not others.
        assert_eq!(Range::of_prefix(290_200_000), Range::ScotlandChi);
        assert_eq!(Range::of_prefix(290_296_000), Range::ScotlandChi);
        assert_eq!(Range::of_prefix(290_297_000), Range::ChiRangeNotADate);
        assert_eq!(Range::of_prefix(300_296_000), Range::ChiRangeNotADate);
    }

    #[test]
    fn every_day_of_a_leap_and_a_common_year_against_jiff_dates() {
        // Independent of chi_date's arithmetic: walk the calendar and build
        // the DDMMYY prefix from each real date.
        for year in [1996i16, 1997] {
            let mut d = Date::new(year, 1, 1).unwrap();
            let mut real = 0;
            while d.year() == year {
                let p = (d.day() as u32) * 10_000_000
                    + (d.month() as u32) * 100_000
                    + (year as u32 % 100) * 1_000;
                assert_eq!(Range::of_prefix(p), Range::ScotlandChi, "{d}");
                real += 1;
                d = d.tomorrow().unwrap();
            }
            // Every DDMM pair that is not a real date is counted apart.
            let mut not_dates = 0;
            for dd in 1..=31u32 {
                for mm in 1..=12u32 {
                    let p = dd * 10_000_000 + mm * 100_000 + (year as u32 % 100) * 1_000;
                    if Range::of_prefix(p) == Range::ChiRangeNotADate {
                        not_dates += 1;
                    }
                }
            }
            assert_eq!(real + not_dates, 31 * 12, "{year}");
        }
    }

    #[test]
    fn counts_follow_the_order_of_outside() {
        for (i, r) in Range::OUTSIDE.iter().enumerate() {
            let mut c = RangeCounts::default();
            c.add(*r);
            assert_eq!(c.0[i], 1, "{}", r.code());
            assert_eq!(c.total(), 1);
        }
    }

    #[test]
    fn counts_leave_england_and_test_numbers_out() {
        let mut c = RangeCounts::default();
        for r in [
            Range::EnglandWales,
            Range::Test,
            Range::ScotlandChi,
            Range::ScotlandChi,
            Range::ChiRangeNotADate,
            Range::NorthernIreland,
            Range::Unallocated,
        ] {
            c.add(r);
        }
        assert_eq!(c.0, [2, 1, 1, 1]);
        assert_eq!(c.total(), 5);
        let mut d = c;
        d.merge(&c);
        assert_eq!(d.0, [4, 2, 2, 2]);
    }
}
