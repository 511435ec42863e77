//! A whole column at a time, for the Python package and other bindings:
//! cells given as Arrow string buffers (offsets, data, validity) go through
//! the same [`canonicalise`] and [`Tokeniser`] as the command line, on
//! several threads, and come back as Arrow buffers of tokens and of reason
//! codes. No rule is written twice: this module only walks buffers.

use crate::provider::nhs::{canonicalise, NhsNumber, Reason};
use crate::provider::token::{hex_into, Tokeniser, TOKEN_HEX_LEN};

/// A column of strings in Arrow's layout: `len` cells from `offset` on.
#[derive(Clone, Copy, Debug)]
pub struct Cells<'a> {
    /// Offsets, little-endian: `i32` (`string`) or `i64` (`large_string`).
    pub offsets: &'a [u8],
    /// Whether the offsets are 64-bit.
    pub large: bool,
    /// The characters.
    pub data: &'a [u8],
    /// The validity bitmap (bit set = present), if any.
    pub validity: Option<&'a [u8]>,
    /// The first cell's index in the buffers.
    pub offset: usize,
    /// Cells.
    pub len: usize,
}

/// Why the buffers cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadBuffers(pub &'static str);

impl<'a> Cells<'a> {
    /// Checks that the buffers hold `len` cells from `offset`.
    pub fn check(&self) -> Result<(), BadBuffers> {
        let width = if self.large { 8 } else { 4 };
        if self.offsets.len() < (self.offset + self.len + 1) * width {
            return Err(BadBuffers("the offsets buffer is shorter than the array"));
        }
        if let Some(v) = self.validity {
            if v.len() * 8 < self.offset + self.len {
                return Err(BadBuffers("the validity bitmap is shorter than the array"));
            }
        }
        for i in 0..self.len {
            let (a, b) = self.span(i);
            if a > b || b > self.data.len() {
                return Err(BadBuffers("an offset points outside the data buffer"));
            }
        }
        Ok(())
    }

    fn at(&self, k: usize) -> usize {
        if self.large {
            let b: [u8; 8] = self.offsets[k * 8..k * 8 + 8].try_into().expect("8 bytes");
            i64::from_le_bytes(b).max(0) as usize
        } else {
            let b: [u8; 4] = self.offsets[k * 4..k * 4 + 4].try_into().expect("4 bytes");
            i32::from_le_bytes(b).max(0) as usize
        }
    }

    fn span(&self, i: usize) -> (usize, usize) {
        let k = self.offset + i;
        (self.at(k), self.at(k + 1))
    }

    /// Cell `i`, or `None` when it is null.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let k = self.offset + i;
        if let Some(v) = self.validity {
            if v[k / 8] & (1 << (k % 8)) == 0 {
                return None;
            }
        }
        let (a, b) = self.span(i);
        Some(&self.data[a..b])
    }
}

/// A column's results as Arrow `large_string` buffers: tokens (null where
/// the cell is not a valid number) and reason codes (null where it is).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Results {
    /// Token validity bitmap.
    pub token_validity: Vec<u8>,
    /// Token offsets (`i64`, little-endian).
    pub token_offsets: Vec<u8>,
    /// Token characters, 64 a valid cell.
    pub tokens: Vec<u8>,
    /// Reason validity bitmap.
    pub reason_validity: Vec<u8>,
    /// Reason offsets (`i64`, little-endian).
    pub reason_offsets: Vec<u8>,
    /// Reason codes' characters.
    pub reasons: Vec<u8>,
    /// Valid cells.
    pub valid: usize,
}

/// One cell's outcome: its number, or why not (a null cell is `empty`).
fn outcome(cell: Option<&[u8]>) -> Result<NhsNumber, Reason> {
    canonicalise(cell.unwrap_or_default())
}

/// Checks a chunk of cells and, with a tokeniser, makes their tokens
/// (four at a time, as the command line does).
fn chunk(
    cells: &Cells<'_>,
    range: std::ops::Range<usize>,
    t: Option<&Tokeniser>,
) -> (Vec<Option<Reason>>, Vec<u8>) {
    let mut reasons = Vec::with_capacity(range.len());
    let mut numbers = Vec::new();
    for i in range {
        match outcome(cells.get(i)) {
            Ok(n) => {
                reasons.push(None);
                numbers.push(n);
            }
            Err(r) => reasons.push(Some(r)),
        }
    }
    let mut hex = Vec::new();
    if let Some(t) = t {
        hex.resize(numbers.len() * TOKEN_HEX_LEN, 0);
        t.each_token(&numbers, |k, token| {
            let out: &mut [u8; TOKEN_HEX_LEN] = (&mut hex
                [k * TOKEN_HEX_LEN..(k + 1) * TOKEN_HEX_LEN])
                .try_into()
                .expect("64 bytes");
            hex_into(token, out);
        });
    }
    (reasons, hex)
}

/// Checks every cell (and tokenises the valid ones, with a tokeniser) on
/// up to `threads` threads; results are in cell order whatever the thread
/// count.
pub fn process(cells: &Cells<'_>, t: Option<&Tokeniser>, threads: usize) -> Results {
    let n = cells.len;
    let threads = threads.clamp(1, 64).min(n.max(1));
    let per = n.div_ceil(threads).max(1);
    let parts: Vec<(Vec<Option<Reason>>, Vec<u8>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .step_by(per)
            .map(|start| {
                let end = (start + per).min(n);
                s.spawn(move || chunk(cells, start..end, t))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a column worker does not panic"))
            .collect()
    });
    let bitmap_len = n.div_ceil(8);
    let mut r = Results {
        token_validity: vec![0; bitmap_len],
        token_offsets: Vec::with_capacity((n + 1) * 8),
        reason_validity: vec![0; bitmap_len],
        reason_offsets: Vec::with_capacity((n + 1) * 8),
        ..Results::default()
    };
    r.token_offsets.extend_from_slice(&0i64.to_le_bytes());
    r.reason_offsets.extend_from_slice(&0i64.to_le_bytes());
    let mut i = 0usize;
    for (reasons, hex) in parts {
        let mut k = 0usize;
        for reason in reasons {
            match reason {
                None => {
                    r.token_validity[i / 8] |= 1 << (i % 8);
                    if t.is_some() {
                        r.tokens
                            .extend_from_slice(&hex[k * TOKEN_HEX_LEN..(k + 1) * TOKEN_HEX_LEN]);
                    }
                    k += 1;
                    r.valid += 1;
                }
                Some(reason) => {
                    r.reason_validity[i / 8] |= 1 << (i % 8);
                    r.reasons.extend_from_slice(reason.code().as_bytes());
                }
            }
            r.token_offsets
                .extend_from_slice(&(r.tokens.len() as i64).to_le_bytes());
            r.reason_offsets
                .extend_from_slice(&(r.reasons.len() as i64).to_le_bytes());
            i += 1;
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::key::Key;

    fn buffers(cells: &[Option<&str>]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let mut offsets = vec![0i32];
        let mut data = Vec::new();
        let mut validity = vec![0u8; cells.len().div_ceil(8)];
        for (i, c) in cells.iter().enumerate() {
            if let Some(c) = c {
                data.extend_from_slice(c.as_bytes());
                validity[i / 8] |= 1 << (i % 8);
            }
            offsets.push(data.len() as i32);
        }
        (
            offsets.iter().flat_map(|o| o.to_le_bytes()).collect(),
            data,
            validity,
        )
    }

    fn strings(offsets: &[u8], data: &[u8], validity: &[u8], n: usize) -> Vec<Option<String>> {
        let c = Cells {
            offsets,
            large: true,
            data,
            validity: Some(validity),
            offset: 0,
            len: n,
        };
        (0..n)
            .map(|i| c.get(i).map(|b| String::from_utf8(b.to_vec()).unwrap()))
            .collect()
    }

    #[test]
    fn tokens_and_reasons_in_order_for_any_thread_count() {
        let key = Key::parse(b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
            .ok()
            .unwrap();
        let t = Tokeniser::new(&key).ok().unwrap();
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
        let (offsets, data, validity) = buffers(&input);
        let cells = Cells {
            offsets: &offsets,
            large: false,
            data: &data,
            validity: Some(&validity),
            offset: 0,
            len: input.len(),
        };
        assert_eq!(cells.check(), Ok(()));
        let one = process(&cells, Some(&t), 1);
        for threads in [2, 3, 9, 20] {
            assert_eq!(process(&cells, Some(&t), threads), one, "{threads} threads");
        }
        let tokens = strings(
            &one.token_offsets,
            &one.tokens,
            &one.token_validity,
            input.len(),
        );
        let reasons = strings(
            &one.reason_offsets,
            &one.reasons,
            &one.reason_validity,
            input.len(),
        );
        let dd = "dd5c602eeb31d60c7c0d662c897231dda00e13cdf945b14cad185a4a7125826c";
        assert_eq!(tokens[0].as_deref(), Some(dd));
        assert_eq!(tokens[8].as_deref(), Some(dd));
        assert_eq!(
            tokens[3].as_deref(),
            Some("4c8fa78739d7c8a20ef422e482e4a963d142ad973a29fc309bfe6d6bd872d657")
        );
        assert_eq!(tokens[1], None);
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
        assert_eq!(
            reasons.iter().map(|r| r.as_deref()).collect::<Vec<_>>(),
            want
        );
        assert_eq!(one.valid, 4);
        // Without a key: reasons only.
        let check = process(&cells, None, 2);
        assert_eq!(check.reasons, one.reasons);
        assert!(check.tokens.is_empty());
    }

    #[test]
    fn slices_and_64_bit_offsets() {
        let input = [Some("x"), Some("4000000632"), Some("")];
        let (offsets32, data, validity) = buffers(&input);
        let offsets64: Vec<u8> = offsets32
            .chunks(4)
            .flat_map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap())).to_le_bytes())
            .collect();
        let cells = Cells {
            offsets: &offsets64,
            large: true,
            data: &data,
            validity: Some(&validity),
            offset: 1,
            len: 2,
        };
        assert_eq!(cells.get(0), Some(&b"4000000632"[..]));
        assert_eq!(cells.get(1), Some(&b""[..]));
        let r = process(&cells, None, 2);
        assert_eq!(r.valid, 1);
        assert_eq!(r.reasons, b"empty");
    }

    #[test]
    fn bad_buffers_are_refused() {
        let (offsets, data, _) = buffers(&[Some("abc")]);
        let short = Cells {
            offsets: &offsets[..4],
            large: false,
            data: &data,
            validity: None,
            offset: 0,
            len: 1,
        };
        assert!(short.check().is_err());
        let mut wild = offsets.clone();
        wild[4] = 99;
        let outside = Cells {
            offsets: &wild,
            large: false,
            data: &data,
            validity: None,
            offset: 0,
            len: 1,
        };
        assert!(outside.check().is_err());
    }
}
