//! The plain-record fast path: unquoted records ended by LF or CRLF (what
//! nearly every exported file holds) are split with a 64-byte bit mask of
//! delimiters, line ends and quotes. Anything else goes to the general
//! parser in [`super::reader`], record by record, which gives the same
//! answer for every record taken here (a property test checks it, and
//! another that a whole read is unchanged with this path on or off).

use wide::u8x16;

/// Finds the next delimiter, `\r` or `\n` in a buffer 64 bytes at a time:
/// each 64-byte chunk becomes a bit mask (four 16-byte SIMD compares, through
/// `wide`), and the fields in it are found with bit operations. Searching
/// afresh for every field cost about three times as much. A finder serves
/// one buffer while it only grows; make a new one for another buffer.
pub(super) struct Finder {
    pub(super) delim: u8,
    /// The chunk the mask describes, and the buffer length it was made for.
    base: usize,
    len: usize,
    mask: u64,
}

impl Finder {
    pub(super) fn new(delim: u8) -> Finder {
        Finder {
            delim,
            base: usize::MAX,
            len: 0,
            mask: 0,
        }
    }

    /// The position of the first delimiter, `\r` or `\n` at or after `from`.
    pub(super) fn find(&mut self, data: &[u8], mut from: usize) -> Option<usize> {
        while from < data.len() {
            let base = from & !63;
            if base != self.base || data.len() != self.len {
                self.mask = chunk_mask::<false>(&data[base..], self.delim);
                self.base = base;
                self.len = data.len();
            }
            let m = self.mask & (u64::MAX << (from - base));
            if m != 0 {
                return Some(base + m.trailing_zeros() as usize);
            }
            from = base + 64;
        }
        None
    }
}

/// Bit `i` is set when `chunk[i]` (i < 64) is the delimiter, `\r` or `\n`
/// (or, with `QUOTES`, a `"`).
fn chunk_mask<const QUOTES: bool>(chunk: &[u8], delim: u8) -> u64 {
    let hit = |b: u8| b == delim || b == b'\r' || b == b'\n' || (QUOTES && b == b'"');
    match chunk.first_chunk::<64>() {
        Some(c) => {
            let (d, cr, lf, q) = (
                u8x16::splat(delim),
                u8x16::splat(b'\r'),
                u8x16::splat(b'\n'),
                u8x16::splat(b'"'),
            );
            let mut m = 0;
            for (k, part) in c.chunks_exact(16).enumerate() {
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(part);
                let v = u8x16::new(bytes);
                let mut hits = v.simd_eq(d) | v.simd_eq(cr) | v.simd_eq(lf);
                if QUOTES {
                    hits |= v.simd_eq(q);
                }
                m |= u64::from(hits.to_bitmask()) << (16 * k);
            }
            m
        }
        None => chunk
            .iter()
            .enumerate()
            .fold(0, |m, (i, &b)| m | u64::from(hit(b)) << i),
    }
}

/// Takes the plain records from `pos` on: unquoted fields, ended by `\n` or
/// `\r\n`, `n_fields` to a record, which is what nearly every exported
/// file holds. It walks a bit mask of the delimiters, line ends and quotes
/// 64 bytes at a time, so a field costs a few instructions. It stops before
/// anything else (a quote anywhere in a record, a lone `\r`, a blank line,
/// a record with another number of fields, a record the data does not
/// finish) and leaves it to [`parse_record`], which gives the same answer
/// for every record this takes; it also stops once a record ends at or
/// past `target`. Field spans and records are appended; returns the
/// position after the last record taken and how many were taken (each
/// consumed one line break).
pub(super) fn plain_records(
    data: &[u8],
    pos: usize,
    target: usize,
    delim: u8,
    n_fields: usize,
    fields: &mut Vec<(usize, usize)>,
    records: &mut Vec<(usize, usize)>,
) -> (usize, u64) {
    let (mut start, mut field_start) = (pos, pos);
    let mut first_field = fields.len();
    let mut taken = 0;
    let mut base = pos & !63;
    'chunks: while base < data.len() {
        let mut m = chunk_mask::<true>(&data[base..], delim);
        while m != 0 {
            let k = base + m.trailing_zeros() as usize;
            m &= m - 1;
            if k < field_start {
                // Before `pos`, or the `\n` of a `\r\n` already taken.
                continue;
            }
            let end = match data[k] {
                b if b == delim => {
                    fields.push((field_start, k));
                    field_start = k + 1;
                    continue;
                }
                b'\n' => k + 1,
                b'\r' if data.get(k + 1) == Some(&b'\n') => k + 2,
                _ => break 'chunks,
            };
            if k == start {
                break 'chunks; // a blank line
            }
            fields.push((field_start, k));
            if fields.len() - first_field != n_fields {
                break 'chunks;
            }
            records.push((start, end));
            taken += 1;
            (start, field_start, first_field) = (end, end, fields.len());
            if end >= target {
                return (start, taken);
            }
        }
        base += 64;
    }
    fields.truncate(first_field);
    (start, taken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::csv::reader::{parse_record, Parsed};

    proptest::proptest! {
        /// The 64-byte bit-mask finder agrees with a byte-by-byte search,
        /// across chunk edges, short tails and a buffer that grows between
        /// searches.
        #[test]
        fn finder_agrees_with_a_plain_search(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'a', b'a', b',', b';', b'\r', b'\n', b'"', 0xE9]),
                0..300,
            ),
            cut in 0usize..300,
            delim in proptest::sample::select(vec![b',', b';']),
            steps in proptest::collection::vec(1usize..70, 1..40),
        ) {
            let naive = |data: &[u8], from: usize| {
                (from..data.len()).find(|&i| matches!(data[i], b'\r' | b'\n') || data[i] == delim)
            };
            let mut data = bytes[..cut.min(bytes.len())].to_vec();
            let mut finder = Finder::new(delim);
            let mut from = 0;
            for (k, step) in steps.iter().enumerate() {
                if k == steps.len() / 2 {
                    data = bytes.clone(); // the buffer grows
                }
                proptest::prop_assert_eq!(finder.find(&data, from), naive(&data, from), "from {}", from);
                from += step;
            }
        }
    }

    proptest::proptest! {
        /// Every record the plain fast path takes is exactly what the general
        /// parser makes of it (spans, ends, one line each), over inputs full
        /// of what it must refuse: quotes, lone `\r`, blank lines, ragged
        /// records, records cut off by the end of the data.
        #[test]
        fn plain_records_agree_with_the_general_parser(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"aaaa,,,;;\r\n\n\n\"".to_vec()),
                0..400,
            ),
            pos in 0usize..40,
            target in 0usize..450,
            n_fields in 1usize..4,
            delim in proptest::sample::select(vec![b',', b';']),
        ) {
            let pos = pos.min(bytes.len());
            let (mut fields, mut records) = (Vec::new(), Vec::new());
            let (end, taken) =
                plain_records(&bytes, pos, target, delim, n_fields, &mut fields, &mut records);
            proptest::prop_assert_eq!(records.len() as u64, taken);
            proptest::prop_assert_eq!(fields.len(), records.len() * n_fields);
            let mut finder = Finder::new(delim);
            let (mut want_fields, mut at) = (Vec::new(), pos);
            for &(s, e) in &records {
                match parse_record(&bytes, at, false, &mut finder, &mut want_fields) {
                    Parsed::Record { start, end, lines_before, lines } => {
                        proptest::prop_assert_eq!((start, end, lines_before, lines), (s, e, 0, 1));
                    }
                    _ => proptest::prop_assert!(false, "the general parser found no record at {}", at),
                }
                at = e;
            }
            proptest::prop_assert_eq!(fields, want_fields);
            proptest::prop_assert_eq!(end, at);
            // It stops at the target, or where a record is not plain.
            if end < target {
                let mut f = Vec::new();
                let plain_next = matches!(
                    parse_record(&bytes, end, false, &mut finder, &mut f),
                    Parsed::Record { lines_before: 0, lines: 1, .. }
                ) && f.len() == n_fields
                    && !f.is_empty()
                    && !bytes[end..].split(|&b| b == b'\n').next().unwrap_or(&[]).contains(&b'"')
                    && bytes[end..].iter().position(|&b| b == b'\r' || b == b'\n')
                        .is_some_and(|i| bytes[end + i] == b'\n' || bytes.get(end + i + 1) == Some(&b'\n'));
                proptest::prop_assert!(!plain_next, "stopped before a plain record at {}", end);
            }
        }
    }
}
