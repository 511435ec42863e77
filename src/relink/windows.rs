//! Dates and windows (docs/SPEC.md section 6): the two accepted date forms, month
//! arithmetic clamped to the end of the month, and where an event falls
//! around a person's intervention date.
//!
//! Dates are `YYYY-MM-DD` (ISO) or `DD/MM/YYYY` (UK), nothing else: a US
//! `MM/DD/YYYY` date would silently swap day and month, so anything
//! ambiguous is refused rather than guessed. Calendar validity and month
//! arithmetic come from `jiff`.

use jiff::civil::Date;
use jiff::Span;

/// Earliest plausible date in the data.
pub const EARLIEST: Date = Date::constant(1900, 1, 1);
/// Latest plausible date in the data.
pub const LATEST: Date = Date::constant(2100, 12, 31);

fn digits(b: &[u8]) -> Option<i32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i32, |a, d| a * 10 + i32::from(d - b'0')))
}

/// Parses `YYYY-MM-DD` or `DD/MM/YYYY` (surrounding white space ignored).
/// `None` for anything else, including impossible dates like 2023-02-30.
pub fn parse_date(cell: &[u8]) -> Option<Date> {
    let s = cell.trim_ascii();
    let (y, m, d) = match s.len() {
        10 if s[4] == b'-' && s[7] == b'-' => {
            (digits(&s[0..4])?, digits(&s[5..7])?, digits(&s[8..10])?)
        }
        10 if s[2] == b'/' && s[5] == b'/' => {
            (digits(&s[6..10])?, digits(&s[3..5])?, digits(&s[0..2])?)
        }
        _ => return None,
    };
    Date::new(y as i16, m as i8, d as i8).ok()
}

/// True when a date is within 1900-01-01 to 2100-12-31.
pub fn plausible(d: Date) -> bool {
    (EARLIEST..=LATEST).contains(&d)
}

/// `d` plus `months` (negative to subtract), clamped to the end of the
/// month: 31 January + 1 month is 28 or 29 February.
pub fn add_months(d: Date, months: i32) -> Date {
    d.checked_add(Span::new().months(months))
        .expect("dates are within 1900-2100 and months are bounded")
}

/// The month of `event` relative to `d`: the k with `event` in
/// [d + k months, d + k + 1 months) (section 9's event study).
pub fn month_offset(d: Date, event: Date) -> i32 {
    let months = |x: Date| i32::from(x.year()) * 12 + i32::from(x.month());
    let mut k = months(event) - months(d);
    while add_months(d, k) > event {
        k -= 1;
    }
    while add_months(d, k + 1) <= event {
        k += 1;
    }
    k
}

/// The day after `d`.
pub fn next_day(d: Date) -> Date {
    d.checked_add(Span::new().days(1))
        .expect("dates are within 1900-2100")
}

/// One person in the cohort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Person {
    /// First intervention date, d.
    pub date: Date,
    /// d − N months: the first day of the pre window.
    pub pre_start: Date,
    /// d + N months: the first day after the post window.
    pub post_end: Date,
    /// Index into [`Cohort::groups`](super::cohort::Cohort::groups).
    pub group: u32,
}

/// Where windows fall for an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// In [d − N months, d).
    Pre,
    /// In [d, d + N months).
    Post,
    /// Before or after both windows.
    Outside,
}

impl Person {
    /// A person with windows of `months` around intervention date `d`.
    pub fn new(d: Date, months: i32, group: u32) -> Person {
        Person {
            date: d,
            pre_start: add_months(d, -months),
            post_end: add_months(d, months),
            group,
        }
    }

    /// Which window an event date falls in.
    pub fn window(&self, event: Date) -> Window {
        if event < self.pre_start || event >= self.post_end {
            Window::Outside
        } else if event < self.date {
            Window::Pre
        } else {
            Window::Post
        }
    }

    /// Days from the intervention date to `event` (0 on the day itself),
    /// capped at `u16::MAX - 1` (windows are at most 120 months long).
    pub fn days_to(&self, event: Date) -> u16 {
        let days = (event - self.date).get_days();
        days.clamp(0, i32::from(u16::MAX - 1)) as u16
    }

    /// True when both windows lie inside the data's coverage (inclusive).
    pub fn complete_within(&self, start: Date, end: Date) -> bool {
        self.pre_start >= start && self.post_end <= next_day(end)
    }
}

#[cfg(test)]
mod month_tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn month_offsets_follow_the_windows() {
        let start = d("2024-01-31");
        assert_eq!(month_offset(start, d("2024-01-31")), 0);
        assert_eq!(month_offset(start, d("2024-02-28")), 0);
        assert_eq!(month_offset(start, d("2024-02-29")), 1, "31 Jan + 1 month");
        assert_eq!(month_offset(start, d("2024-01-30")), -1);
        assert_eq!(month_offset(start, d("2023-12-31")), -1);
        assert_eq!(month_offset(start, d("2023-12-30")), -2);
        let p = Person::new(d("2024-03-15"), 6, 0);
        for (day, want) in [
            ("2023-09-15", -6),
            ("2024-03-14", -1),
            ("2024-09-14", 5),
            ("2024-09-15", 6),
        ] {
            assert_eq!(month_offset(p.date, d(day)), want, "{day}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        parse_date(s.as_bytes()).unwrap()
    }

    #[test]
    fn window_boundaries() {
        let p = Person::new(d("2024-07-15"), 6, 0);
        assert_eq!(
            p.window(d("2024-01-15")),
            Window::Pre,
            "exactly d - N months is pre"
        );
        assert_eq!(p.window(d("2024-01-14")), Window::Outside);
        assert_eq!(p.window(d("2024-07-14")), Window::Pre);
        assert_eq!(p.window(d("2024-07-15")), Window::Post, "d itself is post");
        assert_eq!(p.window(d("2025-01-14")), Window::Post);
        assert_eq!(
            p.window(d("2025-01-15")),
            Window::Outside,
            "d + N months is outside"
        );
    }

    #[test]
    fn month_end_clamping_in_windows() {
        let p = Person::new(d("2024-01-31"), 1, 0);
        assert_eq!(p.post_end, d("2024-02-29"));
        assert_eq!(p.pre_start, d("2023-12-31"));
        assert_eq!(p.window(d("2024-02-28")), Window::Post);
        assert_eq!(p.window(d("2024-02-29")), Window::Outside);
        let q = Person::new(d("2024-03-31"), 1, 0);
        assert_eq!(q.pre_start, d("2024-02-29"));
        assert_eq!(q.window(d("2024-02-29")), Window::Pre);
        assert_eq!(q.window(d("2024-02-28")), Window::Outside);
    }

    #[test]
    fn coverage() {
        let p = Person::new(d("2024-07-15"), 6, 0);
        assert!(p.complete_within(d("2024-01-15"), d("2025-01-14")));
        assert!(!p.complete_within(d("2024-01-16"), d("2025-01-14")));
        assert!(!p.complete_within(d("2024-01-15"), d("2025-01-13")));
    }

    fn date(y: i16, m: i8, d: i8) -> Date {
        Date::new(y, m, d).unwrap()
    }

    #[test]
    fn both_forms_and_nothing_else() {
        assert_eq!(parse_date(b"2024-03-05"), Some(date(2024, 3, 5)));
        assert_eq!(parse_date(b"05/03/2024"), Some(date(2024, 3, 5)));
        assert_eq!(parse_date(b" 2024-03-05 "), Some(date(2024, 3, 5)));
        for bad in [
            &b"2024-02-30"[..],
            b"31/02/2024",
            b"2024-3-5",
            b"5/3/2024",
            b"2024/03/05",
            b"13/13/2024",
            b"",
            b"yesterday",
            b"2024-03-05T10:00",
            b"+024-03-05",
        ] {
            assert_eq!(parse_date(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn month_arithmetic_clamps_to_month_end() {
        assert_eq!(add_months(date(2024, 1, 31), 1), date(2024, 2, 29));
        assert_eq!(add_months(date(2023, 1, 31), 1), date(2023, 2, 28));
        assert_eq!(add_months(date(2024, 3, 31), -1), date(2024, 2, 29));
        assert_eq!(add_months(date(2024, 8, 31), -6), date(2024, 2, 29));
        assert_eq!(add_months(date(2024, 1, 15), 6), date(2024, 7, 15));
        assert_eq!(add_months(date(2024, 1, 15), -6), date(2023, 7, 15));
        assert_eq!(next_day(date(2024, 2, 28)), date(2024, 2, 29));
    }

    #[test]
    fn plausible_range() {
        assert!(plausible(date(1900, 1, 1)));
        assert!(plausible(date(2100, 12, 31)));
        assert!(!plausible(date(1899, 12, 31)));
        assert!(!plausible(date(2101, 1, 1)));
    }
}
