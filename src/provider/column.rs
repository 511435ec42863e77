//! A whole column at a time, for the Python package and other bindings:
//! cells however they are stored (Arrow strings, whole numbers) go through
//! the same [`canonicalise`] and [`Tokeniser`] as the command line, on
//! several threads, and come back as one Arrow `large_string` column of
//! tokens or of reason codes. No rule is written twice: this module only
//! walks cells and lays out buffers.
//!
//! The result is written straight into its final buffers, so the only
//! memory a call takes beyond its result is a few kilobytes per thread: a
//! first pass counts each thread's share of bytes, a second fills disjoint
//! slices of one allocation. (Making every token twice would cost more than
//! checking every cell twice; the check is a few nanoseconds, a token about
//! half a microsecond.)

use std::ops::Range;

use crate::provider::nhs::{canonicalise, NhsNumber, Reason};
use crate::provider::token::{Tokeniser, GROUP, TOKEN_HEX_LEN};

/// Room for a whole number's text: an `i128` has at most 40 characters.
pub type Scratch = [u8; 48];

/// A column's cells, however they are stored.
pub trait Cells: Sync {
    /// The number of cells.
    fn len(&self) -> usize;

    /// Whether there are no cells.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cell `i` as the command line would read it from a file (a number as
    /// its digits, written into `scratch`), or `None` when it is missing.
    fn cell<'s>(&'s self, i: usize, scratch: &'s mut Scratch) -> Option<&'s [u8]>;
}

/// A whole number's decimal text in `scratch`, as a spreadsheet's number
/// cell is read: the digits, with a `-` before a negative one.
pub fn digits(n: impl std::fmt::Display, scratch: &mut Scratch) -> &[u8] {
    use std::io::Write as _;
    let mut w = &mut scratch[..];
    write!(w, "{n}").expect("a whole number fits in the scratch space");
    let left = w.len();
    &scratch[..scratch.len() - left]
}

/// Text cells, for tests and for bindings that hold strings.
impl<S: AsRef<str> + Sync> Cells for [Option<S>] {
    fn len(&self) -> usize {
        <[Option<S>]>::len(self)
    }

    fn cell<'s>(&'s self, i: usize, _: &'s mut Scratch) -> Option<&'s [u8]> {
        self[i].as_ref().map(|s| s.as_ref().as_bytes())
    }
}

/// One Arrow `large_string` column: a validity bitmap (bit set = present),
/// `len + 1` offsets and the characters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StringColumn {
    /// The validity bitmap, least significant bit first.
    pub validity: Vec<u8>,
    /// Where each cell starts in `data`; the last is `data.len()`.
    pub offsets: Vec<i64>,
    /// The characters.
    pub data: Vec<u8>,
    /// Cells that are null.
    pub nulls: usize,
}

impl StringColumn {
    /// Cell `i`, or `None` when it is null.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let present = self.validity[i / 8] & (1 << (i % 8)) != 0;
        present.then(|| &self.data[self.offsets[i] as usize..self.offsets[i + 1] as usize])
    }
}

/// One cell's outcome: its number, or why not (a missing cell is `empty`).
fn outcome<C: Cells + ?Sized>(
    cells: &C,
    i: usize,
    scratch: &mut Scratch,
) -> Result<NhsNumber, Reason> {
    canonicalise(cells.cell(i, scratch).unwrap_or_default())
}

/// Runs of cells, one a thread, each a multiple of 8 long (but the last),
/// so that every thread owns whole bytes of the validity bitmap.
fn shares(n: usize, threads: usize) -> Vec<Range<usize>> {
    let threads = threads.clamp(1, 64);
    let per = n.div_ceil(threads).div_ceil(8).max(1) * 8;
    (0..n).step_by(per).map(|a| a..(a + per).min(n)).collect()
}

/// Runs `f` on every share, each on its own thread; results in order.
fn per_share<T: Send>(shares: &[Range<usize>], f: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    std::thread::scope(|s| {
        let handles: Vec<_> = shares
            .iter()
            .map(|r| {
                let (r, f) = (r.clone(), &f);
                s.spawn(move || f(r))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a column worker does not panic"))
            .collect()
    })
}

/// How many of a column's cells are valid NHS numbers, and how many are
/// missing or empty: what the Python package asks of every column it is
/// about to hand to relink, to keep columns of NHS numbers out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Cells that are valid NHS numbers.
    pub valid: usize,
    /// Cells that are missing or empty.
    pub empty: usize,
}

/// Counts a column's valid and empty cells on up to `threads` threads,
/// making nothing else.
pub fn census<C: Cells + ?Sized>(cells: &C, threads: usize) -> Census {
    let counts = per_share(&shares(cells.len(), threads), |r| {
        let mut scratch = [0u8; 48];
        let mut c = Census::default();
        for i in r {
            match outcome(cells, i, &mut scratch) {
                Ok(_) => c.valid += 1,
                Err(Reason::Empty) => c.empty += 1,
                Err(_) => {}
            }
        }
        c
    });
    counts.iter().fold(Census::default(), |a, c| Census {
        valid: a.valid + c.valid,
        empty: a.empty + c.empty,
    })
}

/// Writes the characters of a share's present cells into their places.
trait Put {
    /// Cell outcome `o` is present and its characters go at `at` in the
    /// share's `data` (written now, or held back and written later).
    fn put(&mut self, o: Result<NhsNumber, Reason>, at: usize, data: &mut [u8]);
    /// The share is done: anything held back is written.
    fn finish(&mut self, _data: &mut [u8]) {}
}

/// Lays out a column whose cell `i` is `width(outcome)` bytes (`None`:
/// null), then fills it in parallel: each share sets its validity bits and
/// offsets and has its own [`Put`] (from `new_put`) write the characters,
/// into disjoint slices of one allocation.
fn build<C: Cells + ?Sized, P: Put>(
    cells: &C,
    threads: usize,
    width: impl Fn(&Result<NhsNumber, Reason>) -> Option<usize> + Sync,
    new_put: impl Fn() -> P + Sync,
) -> StringColumn {
    let n = cells.len();
    let shares = shares(n, threads);
    // Pass 1: each share's bytes and nulls.
    let sizes = per_share(&shares, |r| {
        let mut scratch = [0u8; 48];
        let (mut bytes, mut nulls) = (0usize, 0usize);
        for i in r {
            match width(&outcome(cells, i, &mut scratch)) {
                Some(w) => bytes += w,
                None => nulls += 1,
            }
        }
        (bytes, nulls)
    });
    let total: usize = sizes.iter().map(|s| s.0).sum();
    let mut col = StringColumn {
        validity: vec![0; n.div_ceil(8)],
        offsets: vec![0; n + 1],
        data: vec![0; total],
        nulls: sizes.iter().map(|s| s.1).sum(),
    };
    // Pass 2: every share fills its own slices of the one allocation.
    std::thread::scope(|s| {
        let (mut validity, mut offsets, mut data) = (
            &mut col.validity[..],
            &mut col.offsets[1..],
            &mut col.data[..],
        );
        let mut base = 0usize;
        for (r, (bytes, _)) in shares.iter().zip(&sizes) {
            let (bits, rest) = std::mem::take(&mut validity).split_at_mut(r.len().div_ceil(8));
            validity = rest;
            // Offsets of cells `start + 1 ..= end`.
            let (ends, rest) = std::mem::take(&mut offsets).split_at_mut(r.len());
            offsets = rest;
            let (chars, rest) = std::mem::take(&mut data).split_at_mut(*bytes);
            data = rest;
            let share_base = base as i64;
            base += bytes;
            let (r, width, new_put) = (r.clone(), &width, &new_put);
            s.spawn(move || {
                let mut put = new_put();
                let mut scratch = [0u8; 48];
                let mut end = 0usize;
                for (k, i) in r.enumerate() {
                    let o = outcome(cells, i, &mut scratch);
                    if let Some(w) = width(&o) {
                        bits[k / 8] |= 1 << (k % 8);
                        put.put(o, end, chars);
                        end += w;
                    }
                    ends[k] = share_base + end as i64;
                }
                put.finish(chars);
            });
        }
    });
    col
}

/// Tokens, made [`GROUP`] at a time: numbers are held until a group is
/// full, then written to their places.
struct TokenPut<'t> {
    t: &'t Tokeniser,
    /// The numbers held back, and where each one's token goes.
    numbers: Vec<NhsNumber>,
    places: Vec<usize>,
}

impl Put for TokenPut<'_> {
    fn put(&mut self, o: Result<NhsNumber, Reason>, at: usize, data: &mut [u8]) {
        if let Ok(n) = o {
            self.numbers.push(n);
            self.places.push(at);
            if self.numbers.len() == GROUP {
                self.finish(data);
            }
        }
    }

    fn finish(&mut self, data: &mut [u8]) {
        let mut hex = [[0u8; TOKEN_HEX_LEN]; GROUP];
        self.t.token_hex_group(&self.numbers, &mut hex);
        for (&at, h) in self.places.iter().zip(&hex) {
            data[at..at + TOKEN_HEX_LEN].copy_from_slice(h);
        }
        self.numbers.clear();
        self.places.clear();
    }
}

/// Reason codes, written as they come.
struct ReasonPut;

impl Put for ReasonPut {
    fn put(&mut self, o: Result<NhsNumber, Reason>, at: usize, data: &mut [u8]) {
        if let Err(r) = o {
            let code = r.code().as_bytes();
            data[at..at + code.len()].copy_from_slice(code);
        }
    }
}

/// The token of every cell (null where the cell is not a valid NHS number),
/// on up to `threads` threads; the same tokens in the same order whatever
/// the thread count.
pub fn tokens<C: Cells + ?Sized>(cells: &C, t: &Tokeniser, threads: usize) -> StringColumn {
    let width = |o: &Result<NhsNumber, Reason>| o.is_ok().then_some(TOKEN_HEX_LEN);
    build(cells, threads, width, || TokenPut {
        t,
        numbers: Vec::with_capacity(GROUP),
        places: Vec::with_capacity(GROUP),
    })
}

/// The reason code of every cell (null where the cell is a valid NHS
/// number; a missing cell is `empty`), on up to `threads` threads.
pub fn reasons<C: Cells + ?Sized>(cells: &C, threads: usize) -> StringColumn {
    let width = |o: &Result<NhsNumber, Reason>| o.as_ref().err().map(|r| r.code().len());
    build(cells, threads, width, || ReasonPut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::key::Key;

    fn text(c: &StringColumn, n: usize) -> Vec<Option<String>> {
        (0..n)
            .map(|i| c.get(i).map(|b| String::from_utf8(b.to_vec()).unwrap()))
            .collect()
    }

    fn tokeniser() -> Tokeniser {
        let key = Key::parse(b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
            .ok()
            .unwrap();
        Tokeniser::new(&key).ok().unwrap()
    }

    #[test]
    fn tokens_and_reasons_in_order_for_any_thread_count() {
        let t = tokeniser();
        let input = [
            Some("943 476 5919"),
            None,
            Some("123"),
            Some("4000000632"),
            Some(""),
            Some("9434765918"),
            Some("9876543210"),
            Some("9.43E+09"),
            Some("943-476-5919"),
        ];
        let one = tokens(&input[..], &t, 1);
        for threads in [2, 3, 9, 20] {
            assert_eq!(tokens(&input[..], &t, threads), one, "{threads} threads");
            assert_eq!(reasons(&input[..], threads), reasons(&input[..], 1));
        }
        let got = text(&one, input.len());
        let dd = "dd5c602eeb31d60c7c0d662c897231dda00e13cdf945b14cad185a4a7125826c";
        assert_eq!(got[0].as_deref(), Some(dd));
        assert_eq!(got[8].as_deref(), Some(dd));
        assert_eq!(
            got[3].as_deref(),
            Some("4c8fa78739d7c8a20ef422e482e4a963d142ad973a29fc309bfe6d6bd872d657")
        );
        assert_eq!(got[1], None);
        assert_eq!(one.nulls, 5);
        let why = reasons(&input[..], 2);
        let want = [
            None,
            Some("empty"),
            Some("wrong_length"),
            None,
            Some("empty"),
            Some("check_digit_mismatch"),
            None,
            Some("scientific_notation"),
            None,
        ];
        let why_text = text(&why, input.len());
        assert_eq!(
            why_text.iter().map(|r| r.as_deref()).collect::<Vec<_>>(),
            want
        );
        assert_eq!(why.nulls, 4);
    }

    #[test]
    fn every_share_and_group_boundary_matches_one_cell_at_a_time() {
        // 1,000 cells, a valid one now and then, on many thread counts:
        // shares of 8k cells and token groups of 4 end at every place.
        let t = tokeniser();
        let valid = ["9434765919", "4000000632", "9876543210"];
        let input: Vec<Option<String>> = (0..1000)
            .map(|i: usize| match i % 7 {
                0 | 3 => Some(valid[i % 3].to_string()),
                5 => None,
                _ => Some(format!("{i}")),
            })
            .collect();
        for threads in [1, 2, 3, 7, 64] {
            let col = tokens(&input[..], &t, threads);
            assert_eq!(*col.offsets.last().unwrap() as usize, col.data.len());
            for (i, cell) in input.iter().enumerate() {
                let want = cell
                    .as_deref()
                    .and_then(|c| canonicalise(c.as_bytes()).ok())
                    .map(|n| {
                        let mut h = [0u8; TOKEN_HEX_LEN];
                        t.token_hex(&n, &mut h);
                        h.to_vec()
                    });
                assert_eq!(
                    col.get(i).map(|b| b.to_vec()),
                    want,
                    "cell {i}, {threads} threads"
                );
            }
        }
    }

    #[test]
    fn numbers_are_read_as_their_digits() {
        let mut s = [0u8; 48];
        assert_eq!(digits(9434765919i64, &mut s), b"9434765919");
        assert_eq!(digits(-5i64, &mut s), b"-5");
        assert_eq!(digits(i128::MIN, &mut s).len(), 40);
        assert_eq!(digits(u64::MAX, &mut s), b"18446744073709551615");
    }

    #[test]
    fn nothing_in_nothing_out() {
        let none: [Option<&str>; 0] = [];
        let col = tokens(&none[..], &tokeniser(), 4);
        assert_eq!(col.offsets, [0]);
        assert!(col.data.is_empty() && col.validity.is_empty());
    }

    proptest::proptest! {
        /// Any cells, any thread count: every cell's token and reason are
        /// what the one-cell functions give.
        #[test]
        fn any_column_matches_cell_by_cell(
            cells in proptest::collection::vec(
                proptest::option::of("(9434765919|4000000632|[0-9 ]{0,12}|[0-9.E+]{0,8})"),
                0..300,
            ),
            threads in 1usize..9,
        ) {
            let t = tokeniser();
            let toks = tokens(&cells[..], &t, threads);
            let why = reasons(&cells[..], threads);
            for (i, c) in cells.iter().enumerate() {
                let one = canonicalise(c.as_deref().unwrap_or_default().as_bytes());
                let want_token = one.as_ref().ok().map(|n| {
                    let mut h = [0u8; TOKEN_HEX_LEN];
                    t.token_hex(n, &mut h);
                    h.to_vec()
                });
                proptest::prop_assert_eq!(toks.get(i).map(<[u8]>::to_vec), want_token);
                let want_reason = one.err().map(|r| r.code().as_bytes().to_vec());
                proptest::prop_assert_eq!(why.get(i).map(<[u8]>::to_vec), want_reason);
            }
            proptest::prop_assert_eq!(toks.nulls + why.nulls, cells.len());
            let c = census(&cells[..], threads);
            proptest::prop_assert_eq!(c.valid, why.nulls);
            let empty = (0..cells.len()).filter(|&i| why.get(i) == Some(&b"empty"[..])).count();
            proptest::prop_assert_eq!(c.empty, empty);
        }
    }
}
