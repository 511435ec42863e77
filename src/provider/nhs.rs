//! NHS numbers: canonicalisation, Modulus 11 validation and reason codes.
//!
//! This follows `docs/SPEC.md` section 1 exactly. A cell goes through four steps
//! (strip zero-width characters, trim white space, remove separators between
//! digits, drop a spreadsheet's trailing `.0`) and what is left must be ten
//! ASCII digits that pass Modulus 11 and are not a placeholder.
//!
//! The common case, a cell of plain ASCII, is handled without allocation. Cells
//! with other characters take a slower path that decodes UTF-8; bytes that are
//! not UTF-8 are `invalid_character`.

use std::fmt;

/// A validated NHS number in canonical form: ten ASCII digits.
///
/// Deliberately has no `Display` and a redacting `Debug`, so that a number
/// cannot end up in a log line or panic message by accident.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NhsNumber([u8; 10]);

impl fmt::Debug for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NhsNumber(<redacted>)")
    }
}

impl NhsNumber {
    /// The ten canonical ASCII digits: the exact bytes that are tokenised.
    pub fn digits(&self) -> &[u8; 10] {
        &self.0
    }

    /// True for numbers in the range issued to test patients (starting `999`).
    pub fn is_test_range(&self) -> bool {
        self.0.starts_with(b"999")
    }

    /// The first nine digits as an integer below 10^9. The tenth digit is
    /// determined by them, so this identifies the number in 30 bits.
    pub fn prefix(&self) -> u32 {
        // The first eight digits two, four, then eight at a time: each step
        // turns pairs of neighbouring lanes into one lane of twice the width
        // holding left x 10^k + right (no lane overflows its width).
        let (lo, hi) = words(&self.0);
        let v = lo & (0x0F * ONES);
        let v = v.wrapping_mul(10).wrapping_add(v >> 8) & 0x00FF_00FF_00FF_00FF;
        let v = v.wrapping_mul(100).wrapping_add(v >> 16) & 0x0000_FFFF_0000_FFFF;
        let v = v.wrapping_mul(10_000).wrapping_add(v >> 32) & 0xFFFF_FFFF;
        (v * 10 + (hi & 0x0F)) as u32
    }

    /// Builds a number from the nine-digit prefix (below 10^9), computing the
    /// check digit. Returns `None` when that prefix has no valid check digit or
    /// makes a placeholder. Used by the synthetic data generator and tests.
    pub fn from_prefix(prefix: u32) -> Option<NhsNumber> {
        if prefix >= 1_000_000_000 {
            return None;
        }
        let mut d = [0u8; 10];
        let mut p = prefix;
        for i in (0..9).rev() {
            d[i] = b'0' + (p % 10) as u8;
            p /= 10;
        }
        match check_digit(&d[..9]) {
            Some(c) => {
                d[9] = b'0' + c;
                let n = NhsNumber(d);
                if is_placeholder(&d) {
                    None
                } else {
                    Some(n)
                }
            }
            None => None,
        }
    }
}

/// Why a cell is not a valid NHS number. Checked in the order listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Nothing left after trimming.
    Empty,
    /// Looks like `9.43E+09`: the spreadsheet has lost digits.
    ScientificNotation,
    /// Something other than digits remains.
    InvalidCharacter,
    /// Digits only, but not ten of them.
    WrongLength,
    /// All ten digits the same.
    Placeholder,
    /// Modulus 11 gives 10: no such number is ever issued.
    CheckDigit10,
    /// Digit 10 is not the computed check digit.
    CheckDigitMismatch,
}

impl Reason {
    /// Every reason, in the order they are checked.
    pub const ALL: [Reason; 7] = [
        Reason::Empty,
        Reason::ScientificNotation,
        Reason::InvalidCharacter,
        Reason::WrongLength,
        Reason::Placeholder,
        Reason::CheckDigit10,
        Reason::CheckDigitMismatch,
    ];

    /// The stable reason code used in rejects files, manifests and summaries.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Empty => "empty",
            Reason::ScientificNotation => "scientific_notation",
            Reason::InvalidCharacter => "invalid_character",
            Reason::WrongLength => "wrong_length",
            Reason::Placeholder => "placeholder",
            Reason::CheckDigit10 => "check_digit_10",
            Reason::CheckDigitMismatch => "check_digit_mismatch",
        }
    }

    /// A plain-words explanation for summaries and the README.
    pub fn explain(self) -> &'static str {
        match self {
            Reason::Empty => "the cell is empty",
            Reason::ScientificNotation => {
                "the number is in scientific notation (e.g. 9.43E+09): the spreadsheet has lost digits; format the column as text and re-export"
            }
            Reason::InvalidCharacter => "the cell holds something other than digits and separators",
            Reason::WrongLength => {
                "not 10 digits (a spreadsheet may have dropped a leading zero)"
            }
            Reason::Placeholder => "all ten digits are the same: a placeholder, not a person",
            Reason::CheckDigit10 => "Modulus 11 gives 10: no such NHS number is ever issued",
            Reason::CheckDigitMismatch => "the check digit is wrong: probably a typing error",
        }
    }

    /// Dense index into per-reason count arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Counts per reason code, in the order of [`Reason::ALL`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReasonCounts(pub [u64; 7]);

impl ReasonCounts {
    /// Adds one for `reason`.
    pub fn add(&mut self, reason: Reason) {
        self.0[reason.index()] += 1;
    }
    /// The count for `reason`.
    pub fn get(&self, reason: Reason) -> u64 {
        self.0[reason.index()]
    }
    /// Sum over all reasons.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    /// Adds another set of counts into this one.
    pub fn merge(&mut self, other: &ReasonCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }
    /// `(reason, count)` for every reason, zero counts included.
    pub fn iter(&self) -> impl Iterator<Item = (Reason, u64)> + '_ {
        Reason::ALL.iter().map(move |r| (*r, self.get(*r)))
    }
}

/// Text with anything that could be an NHS number replaced by `[NHS
/// number]`: ten digits that pass Modulus 11, written together or in groups
/// joined by any separator section 1 accepts (spaces, no-break spaces,
/// hyphens, dashes): `9434765919`, `943 476 5919`, `943-476-5919`. This is
/// the one redaction rule applied wherever text leaves the program:
/// messages, file names, header cells, the manifest and other libraries'
/// error text.
pub fn redact_numbers(text: &str) -> std::borrow::Cow<'_, str> {
    let is_sep = |c: char| {
        matches!(c, ' ' | '\u{00A0}' | '\u{202F}' | '-' | '\u{2212}')
            || ('\u{2010}'..='\u{2015}').contains(&c)
    };
    // Groups of digits: (first byte, end byte, digits), and whether each
    // is joined to the next by one separator.
    let mut groups: Vec<(usize, usize, String, bool)> = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if !c.is_ascii_digit() {
            continue;
        }
        let mut digits = String::from(c);
        let mut end = at + 1;
        while let Some(&(k, d)) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            digits.push(d);
            end = k + 1;
            chars.next();
        }
        // Joined when one separator and then a digit follow.
        let mut ahead = text[end..].chars();
        let joined = matches!((ahead.next(), ahead.next()), (Some(s), Some(d)) if is_sep(s) && d.is_ascii_digit());
        groups.push((at, end, digits, joined));
    }
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut g = 0;
    while g < groups.len() {
        let mut digits = String::new();
        let mut k = g;
        let mut found = None;
        while k < groups.len() && digits.len() < 10 {
            digits.push_str(&groups[k].2);
            if digits.len() == 10 && validate_digits(digits.as_bytes()).is_ok() {
                found = Some(k);
            }
            if !groups[k].3 {
                break;
            }
            k += 1;
        }
        match found {
            Some(last) => {
                spans.push((groups[g].0, groups[last].1));
                g = last + 1;
            }
            None => g += 1,
        }
    }
    if spans.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (a, b) in spans {
        out.push_str(&text[last..a]);
        out.push_str("[NHS number]");
        last = b;
    }
    out.push_str(&text[last..]);
    std::borrow::Cow::Owned(out)
}

/// Modulus 11 check digit for the first nine digits (ASCII), or `None` when
/// the computed check is 10.
fn check_digit(first9: &[u8]) -> Option<u8> {
    const WEIGHTS: [u32; 9] = [10, 9, 8, 7, 6, 5, 4, 3, 2];
    let mut sum = 0u32;
    for (d, w) in first9.iter().zip(WEIGHTS) {
        sum += u32::from(d - b'0') * w;
    }
    match 11 - (sum % 11) {
        11 => Some(0),
        10 => None,
        c => Some(c as u8),
    }
}

fn is_placeholder(d: &[u8; 10]) -> bool {
    d.iter().all(|&b| b == d[0])
}

/// Validates exactly ten ASCII digits (steps after canonicalisation).
fn validate_digits(d: &[u8]) -> Result<NhsNumber, Reason> {
    if d.iter().any(|b| !b.is_ascii_digit()) {
        return Err(Reason::InvalidCharacter);
    }
    let d: [u8; 10] = d.try_into().map_err(|_| Reason::WrongLength)?;
    validate_ten(d)
}

/// The placeholder and Modulus 11 checks on ten ASCII digits.
#[inline(always)]
fn validate_ten(d: [u8; 10]) -> Result<NhsNumber, Reason> {
    let (lo, hi) = words(&d);
    validate_words(lo, hi)
}

/// `0x0101...01`: one in every byte of a word.
const ONES: u64 = u64::MAX / 0xFF;

/// Ten bytes as two little-endian words: bytes 0–7, and bytes 8–9.
#[inline(always)]
fn words(d: &[u8; 10]) -> (u64, u64) {
    let (lo, hi) = d.split_at(8);
    (
        u64::from_le_bytes(lo.try_into().expect("8 bytes")),
        u64::from(u16::from_le_bytes([hi[0], hi[1]])),
    )
}

/// True when every byte of `w` selected by `ones` (a one in each byte to
/// test) is an ASCII digit: high nibble 3, and low nibble + 6 below 16.
#[inline(always)]
fn digit_bytes(w: u64, ones: u64) -> bool {
    (w & (0xF0 * ones)) == 0x30 * ones && ((w & (0x0F * ones)) + 0x06 * ones) & (0x10 * ones) == 0
}

/// The placeholder and Modulus 11 checks on ten ASCII digits held as
/// [`words`], a word at a time. Same answers as [`check_digit`] and
/// [`is_placeholder`] digit by digit (tested against them), without a
/// loop over the digits.
#[inline(always)]
fn validate_words(lo: u64, hi: u64) -> Result<NhsNumber, Reason> {
    let first = lo & 0xFF;
    if lo == first * ONES && hi == first * 0x0101 {
        return Err(Reason::Placeholder);
    }
    // Digit values; even and odd digits of the first eight in 16-bit lanes.
    // A product's top lane sums each lane times the weight in the mirrored
    // lane: at most 4 x 9 x 10 per lane, so no lane carries into the next.
    let v = lo & (0x0F * ONES);
    let lanes = 0x00FF_00FF_00FF_00FF;
    let (even, odd) = (v & lanes, (v >> 8) & lanes);
    const EVEN_WEIGHTS: u64 = 4 | 6 << 16 | 8 << 32 | 10 << 48; // digits 1, 3, 5, 7 (1-based)
    const ODD_WEIGHTS: u64 = 3 | 5 << 16 | 7 << 32 | 9 << 48; // digits 2, 4, 6, 8
    let sum = (even.wrapping_mul(EVEN_WEIGHTS) >> 48)
        + (odd.wrapping_mul(ODD_WEIGHTS) >> 48)
        + 2 * (hi & 0x0F);
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return Err(Reason::CheckDigit10),
        c => c,
    };
    if (hi >> 8) & 0x0F != check {
        return Err(Reason::CheckDigitMismatch);
    }
    let mut d = [0u8; 10];
    d[..8].copy_from_slice(&lo.to_le_bytes());
    d[8..].copy_from_slice(&hi.to_le_bytes()[..2]);
    Ok(NhsNumber(d))
}

/// The commonest shapes of a number, checked as two words: ten digits
/// (`9434765919`), ten digits in 3-3-4 groups split by single spaces or
/// single hyphens (`943 476 5919`, `943-476-5919`), and ten digits with one
/// space either side. `None` when the cell has none of these shapes; the
/// other paths give the same answer for everything this accepts.
#[inline(always)]
fn common_shape(cell: &[u8]) -> Option<(u64, u64)> {
    let word =
        |at: usize| -> u64 { u64::from_le_bytes(cell[at..at + 8].try_into().expect("8 bytes")) };
    let ten = |at: usize| words(cell[at..at + 10].try_into().expect("10 bytes"));
    let (lo, hi) = match cell.len() {
        10 => ten(0),
        12 if cell[3] == cell[7] && (cell[3] == b' ' || cell[3] == b'-') => {
            // Bytes 0-2, 4-6 and 8-11 of the cell, from two overlapping words.
            let (a, b) = (word(0), word(4));
            (
                (a & 0xFF_FFFF) | ((a >> 32) & 0xFF_FFFF) << 24 | ((b >> 32) & 0xFFFF) << 48,
                b >> 48,
            )
        }
        12 if cell[0] == b' ' && cell[11] == b' ' => ten(1),
        _ => return None,
    };
    (digit_bytes(lo, ONES) && digit_bytes(hi, 0x0101)).then_some((lo, hi))
}

/// True for text shaped like `9.43E+09` or `9434765919e0`.
fn is_scientific(s: &[u8]) -> bool {
    let mut i = 0;
    let n = s.len();
    if i < n && (s[i] == b'+' || s[i] == b'-') {
        i += 1;
    }
    let start = i;
    while i < n && s[i].is_ascii_digit() {
        i += 1;
    }
    if i == start {
        return false;
    }
    if i < n && (s[i] == b'.' || s[i] == b',') {
        i += 1;
        while i < n && s[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i >= n || (s[i] != b'e' && s[i] != b'E') {
        return false;
    }
    i += 1;
    if i < n && (s[i] == b'+' || s[i] == b'-') {
        i += 1;
    }
    let exp_start = i;
    while i < n && s[i].is_ascii_digit() {
        i += 1;
    }
    i == n && i > exp_start
}

fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
    )
}

fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{00A0}' | '\u{202F}' | '-' | '\u{2010}'..='\u{2015}' | '\u{2212}'
    )
}

/// Removes every run of separators that has a digit on both sides.
fn remove_separators(chars: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_separator(c) && out.last().is_some_and(|p: &char| p.is_ascii_digit()) {
            let mut j = i;
            while j < chars.len() && is_separator(chars[j]) {
                j += 1;
            }
            if j < chars.len() && chars[j].is_ascii_digit() {
                i = j;
                continue;
            }
            out.extend_from_slice(&chars[i..j]);
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Drops a trailing `.0` from a cell that is otherwise all digits.
fn strip_point_zero(s: &[u8]) -> &[u8] {
    match s.strip_suffix(b".0") {
        Some(head) if !head.is_empty() && head.iter().all(u8::is_ascii_digit) => head,
        _ => s,
    }
}

/// Turns one cell into a validated NHS number, or the reason it is not one.
pub fn canonicalise(cell: &[u8]) -> Result<NhsNumber, Reason> {
    // Fast path: the shapes nearly every cell has.
    if let Some((lo, hi)) = common_shape(cell) {
        return validate_words(lo, hi);
    }
    if let Some(ten) = spaced_ten(cell) {
        return validate_ten(ten);
    }
    if cell.is_ascii() {
        return canonicalise_ascii(cell);
    }
    match std::str::from_utf8(cell) {
        Ok(s) => canonicalise_unicode(s),
        // Not UTF-8: cannot be empty (it has bytes) and cannot be digits.
        Err(_) => {
            if cell.iter().all(|b| b.is_ascii_whitespace()) {
                Err(Reason::Empty)
            } else {
                Err(Reason::InvalidCharacter)
            }
        }
    }
}

/// The next most common case in one pass: ten ASCII digits with single
/// spaces or hyphens between some of them (`943 476 5919`, `943-476-5919`)
/// and ASCII white space around. `None` sends the cell down the general path,
/// which gives the same answer for everything this accepts.
fn spaced_ten(cell: &[u8]) -> Option<[u8; 10]> {
    let t = cell.trim_ascii();
    let mut d = [0u8; 10];
    let mut n = 0;
    let mut after_digit = false;
    for &b in t {
        if b.is_ascii_digit() {
            *d.get_mut(n)? = b;
            n += 1;
            after_digit = true;
        } else if (b == b' ' || b == b'-') && after_digit {
            after_digit = false;
        } else {
            return None;
        }
    }
    (n == 10 && after_digit).then_some(d)
}

/// ASCII cells: no zero-width characters; white space and separators are ASCII.
fn canonicalise_ascii(cell: &[u8]) -> Result<NhsNumber, Reason> {
    let t = cell.trim_ascii();
    if t.is_empty() {
        return Err(Reason::Empty);
    }
    let mut buf = [0u8; 32];
    let mut len = 0;
    let mut i = 0;
    while i < t.len() {
        let b = t[i];
        if (b == b' ' || b == b'-') && len > 0 && buf[len - 1].is_ascii_digit() {
            let mut j = i;
            while j < t.len() && (t[j] == b' ' || t[j] == b'-') {
                j += 1;
            }
            if j < t.len() && t[j].is_ascii_digit() {
                i = j;
                continue;
            }
        }
        if len == buf.len() {
            // Too long to be a number at all; finish on the general path.
            return finish(&remove_separators_ascii(t));
        }
        buf[len] = b;
        len += 1;
        i += 1;
    }
    finish(&buf[..len])
}

fn remove_separators_ascii(t: &[u8]) -> Vec<u8> {
    let chars: Vec<char> = t.iter().map(|&b| char::from(b)).collect();
    remove_separators(&chars)
        .into_iter()
        .map(|c| c as u8)
        .collect()
}

fn canonicalise_unicode(s: &str) -> Result<NhsNumber, Reason> {
    let no_zw: String = s.chars().filter(|c| !is_zero_width(*c)).collect();
    let t = no_zw.trim_matches(char::is_whitespace);
    if t.is_empty() {
        return Err(Reason::Empty);
    }
    let chars: Vec<char> = t.chars().collect();
    let out: String = remove_separators(&chars).into_iter().collect();
    finish(out.as_bytes())
}

/// Steps after separator removal: `.0`, then the reason checks in order.
fn finish(s: &[u8]) -> Result<NhsNumber, Reason> {
    if is_scientific(s) {
        return Err(Reason::ScientificNotation);
    }
    validate_digits(strip_point_zero(s))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(s: &str) -> Result<&'static str, Reason> {
        canonicalise(s.as_bytes()).map(|n| {
            let s = String::from_utf8(n.digits().to_vec()).unwrap();
            &*Box::leak(s.into_boxed_str())
        })
    }

    #[test]
    fn spec_edge_cases() {
        assert_eq!(c("0000000000"), Err(Reason::Placeholder));
        assert_eq!(c("1234567890"), Err(Reason::CheckDigit10));
        assert_eq!(c("9434765919"), Ok("9434765919"));
        assert_eq!(c("4857773456"), Err(Reason::CheckDigitMismatch));
    }

    #[test]
    fn every_reason_code() {
        assert_eq!(c(""), Err(Reason::Empty));
        assert_eq!(c("   \t "), Err(Reason::Empty));
        assert_eq!(c("\u{200B}\u{00A0}"), Err(Reason::Empty));
        assert_eq!(c("9.43E+09"), Err(Reason::ScientificNotation));
        assert_eq!(c("9.434765919E9"), Err(Reason::ScientificNotation));
        assert_eq!(c("9,43E+09"), Err(Reason::ScientificNotation));
        assert_eq!(c("943476591X"), Err(Reason::InvalidCharacter));
        assert_eq!(c("-9434765919"), Err(Reason::InvalidCharacter));
        assert_eq!(c("9434765919-"), Err(Reason::InvalidCharacter));
        assert_eq!(c("943/476/5919"), Err(Reason::InvalidCharacter));
        assert_eq!(c("9434765919.00"), Err(Reason::InvalidCharacter));
        assert_eq!(c("943476591"), Err(Reason::WrongLength));
        assert_eq!(c("94347659190"), Err(Reason::WrongLength));
        assert_eq!(c("9999999999"), Err(Reason::Placeholder));
        assert_eq!(c("1111111111"), Err(Reason::Placeholder));
        assert_eq!(c("1234567890"), Err(Reason::CheckDigit10));
        assert_eq!(c("9434765918"), Err(Reason::CheckDigitMismatch));
    }

    #[test]
    fn non_utf8_is_invalid_character() {
        assert_eq!(
            canonicalise(b"943476\xff5919"),
            Err(Reason::InvalidCharacter)
        );
        assert_eq!(canonicalise(b"\xc3"), Err(Reason::InvalidCharacter));
    }

    #[test]
    fn presentations() {
        for s in [
            "943 476 5919",
            "943-476-5919",
            " 9434765919 ",
            "9434765919.0",
            "943 476 5919.0",
            "\u{FEFF}9434765919",
            "943\u{200B}4765919",
            "943\u{00A0}476\u{202F}5919",
            "943\u{2013}476\u{2212}5919",
            "\u{3000}9434765919\u{3000}",
            "943 - 476 - 5919",
        ] {
            assert_eq!(c(s), Ok("9434765919"), "{s:?}");
        }
    }

    #[test]
    fn check_digit_eleven_becomes_zero() {
        assert_eq!(c("4000000632"), Ok("4000000632"));
        // A number whose weighted sum is a multiple of 11 gets check digit 0.
        let n = (0..1_000_000_000u32)
            .step_by(7919)
            .find_map(|p| {
                let n = NhsNumber::from_prefix(p)?;
                (n.digits()[9] == b'0').then_some(n)
            })
            .unwrap();
        assert!(canonicalise(n.digits()).is_ok());
    }

    #[test]
    fn test_range() {
        let n = (999_000_000..999_000_100)
            .find_map(NhsNumber::from_prefix)
            .unwrap();
        assert!(n.is_test_range());
        assert_eq!(canonicalise(n.digits()), Ok(n));
        assert!(!canonicalise(b"9434765919").unwrap().is_test_range());
    }

    #[test]
    fn debug_is_redacted() {
        let n = canonicalise(b"9434765919").unwrap();
        assert!(!format!("{n:?}").contains("943"));
    }

    #[test]
    fn numbers_in_text_are_redacted() {
        assert_eq!(
            redact_numbers("patient-9434765919.csv"),
            "patient-[NHS number].csv"
        );
        assert_eq!(
            redact_numbers("export_20240115123000.csv"),
            "export_20240115123000.csv"
        );
        assert_eq!(
            redact_numbers("1234567890 9434765919"),
            "1234567890 [NHS number]"
        );
        assert_eq!(redact_numbers("plain.csv"), "plain.csv");
        // Every layout section 1 accepts, in file names and messages.
        for (text, want) in [
            ("943 476 5919 referrals.csv", "[NHS number] referrals.csv"),
            ("943-476-5919.csv", "[NHS number].csv"),
            ("943\u{00A0}476\u{2013}5919", "[NHS number]"),
            ("rows 12 and 943 476 5919", "rows 12 and [NHS number]"),
            ("9434765919-9876543210", "[NHS number]-[NHS number]"),
        ] {
            assert_eq!(redact_numbers(text), want, "{text}");
        }
        // Dates, times and long references stay.
        for text in [
            "2024-01-15",
            "row 1234567",
            "20240115-123000",
            "e8a9 9eb4 3869 d8af",
        ] {
            assert_eq!(redact_numbers(text), text);
        }
    }

    #[test]
    fn prefix_round_trip() {
        let n = canonicalise(b"9434765919").unwrap();
        assert_eq!(n.prefix(), 943_476_591);
        assert_eq!(NhsNumber::from_prefix(943_476_591), Some(n));
        assert_eq!(NhsNumber::from_prefix(123_456_789), None); // check 10
        assert_eq!(NhsNumber::from_prefix(1_000_000_000), None);
    }

    /// The placeholder and Modulus 11 checks as docs/SPEC.md words them, one
    /// digit at a time: the reference for [`validate_ten`].
    fn digit_by_digit(d: &[u8; 10]) -> Result<NhsNumber, Reason> {
        if is_placeholder(d) {
            return Err(Reason::Placeholder);
        }
        match check_digit(&d[..9]) {
            None => Err(Reason::CheckDigit10),
            Some(c) if d[9] - b'0' == c => Ok(NhsNumber(*d)),
            Some(_) => Err(Reason::CheckDigitMismatch),
        }
    }

    #[test]
    fn word_checks_find_every_placeholder_and_extreme_sums() {
        for digit in b'0'..=b'9' {
            assert_eq!(validate_ten([digit; 10]), Err(Reason::Placeholder));
        }
        // The largest weighted sum (all nines but the check digit) and
        // the smallest non-zero ones, next to the placeholders.
        for d in [
            *b"9999999990",
            *b"0000000001",
            *b"1000000000",
            *b"0000000010",
            *b"9999999998",
        ] {
            assert_eq!(validate_ten(d), digit_by_digit(&d), "{d:?}");
        }
    }

    /// Any valid number (for this module's and other modules' proptests).
    pub(crate) fn valid_number() -> impl Strategy<Value = NhsNumber> {
        (0u32..1_000_000_000).prop_filter_map("no check digit", NhsNumber::from_prefix)
    }

    proptest! {
        /// The fast paths (plain and spaced ten digits) agree with the
        /// general path on cells shaped like numbers, with separators,
        /// white space and stray characters mixed in.
        #[test]
        fn fast_paths_agree_with_the_general_path(
            digits in proptest::collection::vec(0u8..10, 8..12),
            seps in proptest::collection::vec(
                prop_oneof![
                    20 => Just(""), 10 => Just(" "), 10 => Just("-"),
                    1 => Just("  "), 1 => Just(" -"), 1 => Just("x"), 1 => Just("."), 1 => Just("\t"),
                ],
                12,
            ),
            lead in prop_oneof![Just(""), Just(" "), Just("\t"), Just("-")],
            trail in prop_oneof![Just(""), Just(" "), Just("\r"), Just("-"), Just(".0")],
        ) {
            let mut cell = String::from(lead);
            for (i, d) in digits.iter().enumerate() {
                if i > 0 {
                    cell.push_str(seps[i]);
                }
                cell.push(char::from(b'0' + d));
            }
            cell.push_str(trail);
            prop_assert_eq!(canonicalise(cell.as_bytes()), canonicalise_ascii(cell.as_bytes()), "{:?}", cell);
        }

        #[test]
        fn any_mix_of_spaces_and_hyphens_survives(
            n in valid_number(),
            seps in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(" "), Just("-"), Just("\u{00A0}"), Just("\u{2010}")], 0..3),
                9,
            ),
            lead in "[ \t]{0,2}",
            trail in "[ \t]{0,2}",
        ) {
            let mut s = lead.clone();
            for (i, d) in n.digits().iter().enumerate() {
                s.push(char::from(*d));
                if i < 9 {
                    for sep in &seps[i] {
                        s.push_str(sep);
                    }
                }
            }
            s.push_str(&trail);
            prop_assert_eq!(canonicalise(s.as_bytes()), Ok(n));
        }

        #[test]
        fn one_changed_digit_is_always_caught(n in valid_number(), pos in 0usize..10, delta in 1u8..10) {
            let mut d = *n.digits();
            d[pos] = b'0' + (d[pos] - b'0' + delta) % 10;
            prop_assert!(canonicalise(&d).is_err());
        }

        /// The word-at-a-time checks give the digit-by-digit answer on any
        /// ten digits (mostly mismatches, some check-10s and valid ones).
        #[test]
        fn word_checks_agree_with_digit_checks(d in proptest::array::uniform10(b'0'..=b'9')) {
            prop_assert_eq!(validate_ten(d), digit_by_digit(&d));
        }

        /// The common shapes agree with the general path whatever byte sits
        /// in any position: digits, separators, padding and bytes either side
        /// of the digits' range (`/`, `:`, `0x30 | 0x80`).
        #[test]
        fn common_shapes_agree_with_the_general_path(
            n in valid_number(),
            shape in 0usize..4,
            sep in prop_oneof![Just(b' '), Just(b'-')],
            sep2 in prop_oneof![3 => Just(None), 1 => Just(Some(b'-')), 1 => Just(Some(b' '))],
            stray in proptest::option::of((0usize..12, prop_oneof![
                Just(b'/'), Just(b':'), Just(b'0' | 0x80), Just(b'9' + 0x10), Just(b' '), Just(b'\t'), any::<u8>(),
            ])),
        ) {
            let d = n.digits();
            let mut cell: Vec<u8> = match shape {
                0 => d.to_vec(),
                1 => [&d[..3], &[sep], &d[3..6], &[sep2.unwrap_or(sep)], &d[6..]].concat(),
                2 => [&b" "[..], d, b" "].concat(),
                _ => [&d[..5], &[sep], &d[5..]].concat(),
            };
            if let Some((at, byte)) = stray {
                let at = at % cell.len();
                cell[at] = byte;
            }
            let general = match std::str::from_utf8(&cell) {
                Ok(s) if s.is_ascii() => canonicalise_ascii(&cell),
                Ok(s) => canonicalise_unicode(s),
                Err(_) => Err(Reason::InvalidCharacter),
            };
            prop_assert_eq!(canonicalise(&cell), general, "{:?}", cell);
        }

        /// The word-at-a-time prefix is the first nine digits read one by
        /// one, and builds the number back.
        #[test]
        fn prefix_is_the_first_nine_digits(n in valid_number()) {
            let one_by_one = n.digits()[..9]
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
            prop_assert_eq!(n.prefix(), one_by_one);
            prop_assert_eq!(NhsNumber::from_prefix(n.prefix()), Some(n));
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = canonicalise(&bytes);
        }

        #[test]
        fn valid_numbers_are_ten_digits_passing_mod11(bytes in "[0-9 \\-]{0,16}") {
            if let Ok(n) = canonicalise(bytes.as_bytes()) {
                prop_assert!(n.digits().iter().all(u8::is_ascii_digit));
                prop_assert_eq!(check_digit(&n.digits()[..9]), Some(n.digits()[9] - b'0'));
            }
        }
    }
}
