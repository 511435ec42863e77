//! Tokens: HMAC-SHA256 of the canonical ten digits, as lowercase hex
//! (docs/SPEC.md section 3).
//!
//! Two implementations of the one rule, one checking the other:
//!
//! - The reference is the `hmac` crate (`Hmac<Sha256>`): it makes single
//!   tokens ([`Tokeniser::token`]) and the key id ([`Key::id`]).
//! - The fast path, for whole files, is built on `sha2`'s SHA-256
//!   compression function: [`Tokeniser`] hashes the key's inner and outer
//!   pads once, and each token then costs exactly two compressions (the ten
//!   digits fit in one padded block). [`Tokeniser::token_group`] makes up
//!   to [`GROUP`] tokens side by side (the first compression of every
//!   number, then the second of every number), so the processor overlaps
//!   their dependency chains; [`Tokeniser::each_token`] runs a batch
//!   through it. `cargo bench --bench tokens` measures it against the
//!   `hmac` crate in the same process: 1.68 times the tokens per second
//!   (10.7 M against 6.4 M a second on one core of the 2-core bench
//!   machine, 2026-11-29; see `docs/performance.md`).
//!
//! [`Tokeniser::new`] runs a self-test before it returns: the fast path
//! must give the reference's token for a fixed set of numbers (full and
//! partial groups) under the loaded key, or the run stops with
//! [`Error::SelfTest`] before any output is opened. The unit tests also
//! check the SPEC's vectors and random keys and numbers against the
//! reference.
//!
//! The pad states are key-equivalent secrets: they live in [`Zeroizing`]
//! memory and are wiped on drop, as is the reference's keyed state (the
//! `hmac` crate's `zeroize` feature).

use hmac::{Hmac, KeyInit, Mac};
use sha2::block_api::compress256;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::provider::key::Key;
use crate::provider::nhs::{canonicalise, NhsNumber};

/// Length of a token in hex characters.
pub const TOKEN_HEX_LEN: usize = 64;

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
const BLOCK: usize = 64;

/// How many tokens [`Tokeniser::token_group`] makes side by side. In
/// `cargo bench --bench tokens`, two gave 1.29 times the tokens per second
/// of one at a time, four 1.37 and eight 1.41 (about 1% end to end), so
/// four, which leaves room in the registers.
pub const GROUP: usize = 4;

/// The last block of a message of `len < 56` bytes that follows one whole
/// block already compressed (the HMAC pad): the padding and length, with
/// room for the message at the front.
const fn tail_block(len: usize) -> [u8; BLOCK] {
    let mut block = [0u8; BLOCK];
    block[len] = 0x80;
    let bits = (((BLOCK + len) as u64) * 8).to_be_bytes();
    let mut i = 0;
    while i < 8 {
        block[BLOCK - 8 + i] = bits[i];
        i += 1;
    }
    block
}

/// The inner hash's last block for a number (ten digits).
const NUMBER_TAIL: [u8; BLOCK] = tail_block(10);
/// The outer hash's last block (the 32-byte inner digest).
const DIGEST_TAIL: [u8; BLOCK] = tail_block(32);

/// A keyed HMAC-SHA256, ready to tokenise many numbers.
#[derive(Clone)]
pub struct Tokeniser {
    /// State after compressing key XOR ipad.
    inner: Zeroizing<[u32; 8]>,
    /// State after compressing key XOR opad.
    outer: Zeroizing<[u32; 8]>,
    /// The `hmac` crate keyed with the same key: the reference.
    reference: Hmac<Sha256>,
}

/// The numbers the start-up self-test tokenises both ways: the SPEC's
/// vectors and others from every range, nine in all, so that two full
/// groups and a partial one are checked.
const SELF_TEST_NUMBERS: [&[u8; 10]; 9] = [
    b"9434765919",
    b"4000000632",
    b"9876543210",
    b"4010232137",
    b"4505577104",
    b"6000000006",
    b"7000000007",
    b"3101954126",
    b"0123456789",
];

fn to_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

impl Tokeniser {
    /// Hashes the key's pads once, then runs the self-test: the fast path
    /// must agree with the `hmac` crate under this key, or this returns
    /// [`Error::SelfTest`] and nothing may be tokenised.
    pub fn new(key: &Key) -> Result<Tokeniser> {
        let t = Tokeniser::from_key_bytes(key.bytes());
        t.self_test()?;
        Ok(t)
    }

    /// Checks the grouped fast path against the reference on
    /// a fixed set of nine numbers (two full groups and a partial one).
    pub fn self_test(&self) -> Result<()> {
        let numbers: Vec<NhsNumber> = SELF_TEST_NUMBERS
            .iter()
            .map(|d| canonicalise(&d[..]).expect("the self-test numbers are valid"))
            .collect();
        let mut agree = true;
        self.each_token(&numbers, |i, fast| {
            agree &= *fast == self.token(&numbers[i]);
        });
        if agree {
            Ok(())
        } else {
            Err(Error::SelfTest)
        }
    }

    /// Keys from raw bytes of any length (RFC 2104: longer than a block is
    /// hashed first).
    fn from_key_bytes(key: &[u8]) -> Tokeniser {
        let mut k = Zeroizing::new([0u8; BLOCK]);
        if key.len() > BLOCK {
            let digest: Zeroizing<[u8; 32]> = Zeroizing::new(Sha256::digest(key).into());
            k[..32].copy_from_slice(&digest[..]);
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut pad = Zeroizing::new([0u8; BLOCK]);
        let mut inner = Zeroizing::new(IV);
        let mut outer = Zeroizing::new(IV);
        for (p, b) in pad.iter_mut().zip(k.iter()) {
            *p = b ^ 0x36;
        }
        compress256(&mut inner, &[*pad]);
        for (p, b) in pad.iter_mut().zip(k.iter()) {
            *p = b ^ 0x5c;
        }
        compress256(&mut outer, &[*pad]);
        let reference =
            <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
        Tokeniser {
            inner,
            outer,
            reference,
        }
    }

    /// The 32-byte token of one number, by the `hmac` crate.
    pub fn token(&self, n: &NhsNumber) -> [u8; 32] {
        self.reference
            .clone()
            .chain_update(n.digits())
            .finalize()
            .into_bytes()
            .into()
    }

    /// The 64 lowercase hex characters of one number's token, by the `hmac`
    /// crate.
    pub fn token_hex(&self, n: &NhsNumber, out: &mut [u8; TOKEN_HEX_LEN]) {
        hex_into(&self.token(n), out);
    }

    /// The hex tokens of up to [`GROUP`] numbers, into the start of `out`:
    /// the same bytes as [`Tokeniser::token_hex`] one by one, made side by
    /// side.
    ///
    /// # Panics
    /// If there are more than [`GROUP`] numbers, or fewer slots in `out`.
    pub fn token_hex_group(&self, numbers: &[NhsNumber], out: &mut [[u8; TOKEN_HEX_LEN]]) {
        let mut tokens = [[0u8; 32]; GROUP];
        self.token_group(numbers, &mut tokens);
        assert!(out.len() >= numbers.len(), "room for every token");
        for (token, hex) in tokens.iter().zip(out).take(numbers.len()) {
            hex_into(token, hex);
        }
    }

    /// Calls `f(i, token)` for every number, in order, making the tokens
    /// [`GROUP`] at a time: the way for a batch of rows.
    pub fn each_token(&self, numbers: &[NhsNumber], mut f: impl FnMut(usize, &[u8; 32])) {
        let mut tokens = [[0u8; 32]; GROUP];
        for (g, group) in numbers.chunks(GROUP).enumerate() {
            self.token_group(group, &mut tokens);
            for (k, token) in tokens.iter().take(group.len()).enumerate() {
                f(g * GROUP + k, token);
            }
        }
    }

    /// The 32-byte tokens of up to [`GROUP`] numbers, into the start of
    /// `out`: every inner compression, then every outer one, so that the
    /// tokens' dependency chains overlap.
    ///
    /// # Panics
    /// If there are more than [`GROUP`] numbers, or fewer slots in `out`.
    pub fn token_group(&self, numbers: &[NhsNumber], out: &mut [[u8; 32]]) {
        assert!(numbers.len() <= GROUP, "at most GROUP numbers");
        assert!(out.len() >= numbers.len(), "room for every token");
        // Only the slots in use get a copy of the (secret) pad states, and
        // each is overwritten by its compression at once.
        let mut states = [[0u32; 8]; GROUP];
        for (state, n) in states.iter_mut().zip(numbers) {
            let mut block = NUMBER_TAIL;
            block[..10].copy_from_slice(n.digits());
            *state = *self.inner;
            compress256(state, &[block]);
        }
        for state in states.iter_mut().take(numbers.len()) {
            let mut block = DIGEST_TAIL;
            block[..32].copy_from_slice(&to_bytes(state));
            *state = *self.outer;
            compress256(state, &[block]);
        }
        for (state, token) in states.iter().zip(out).take(numbers.len()) {
            *token = to_bytes(state);
        }
    }
}

/// Lowercase hex of 32 bytes into a fixed buffer, without allocating: the
/// token column. This one place uses `const-hex` (SIMD) rather than `hex`,
/// which made a 10M-row tokenise 11% slower (Cargo.toml has the figures);
/// a property test checks it against `hex`.
pub fn hex_into(bytes: &[u8; 32], out: &mut [u8; TOKEN_HEX_LEN]) {
    const_hex::encode_to_slice(bytes, out).expect("64 = 2 * 32");
}

/// Parses 64 hex characters (either case) into 32 bytes.
pub fn parse_token(s: &[u8]) -> Option<[u8; 32]> {
    if s.len() != TOKEN_HEX_LEN {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::nhs::canonicalise;

    fn key(hex: &str) -> Key {
        Key::parse(hex.as_bytes()).ok().unwrap()
    }

    fn spec_key() -> Key {
        key("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    }

    fn tok(t: &Tokeniser, cell: &str) -> String {
        let mut out = [0u8; 64];
        t.token_hex(&canonicalise(cell.as_bytes()).unwrap(), &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn spec_vectors() {
        let t = Tokeniser::new(&spec_key()).ok().unwrap();
        let dd = "dd5c602eeb31d60c7c0d662c897231dda00e13cdf945b14cad185a4a7125826c";
        assert_eq!(tok(&t, "9434765919"), dd);
        assert_eq!(tok(&t, "943 476 5919"), dd);
        assert_eq!(
            tok(&t, "4000000632"),
            "4c8fa78739d7c8a20ef422e482e4a963d142ad973a29fc309bfe6d6bd872d657"
        );
        assert_eq!(
            tok(&t, "9876543210"),
            "e4541341bb12c47c7a55203258502289c8708e7029541b0231270eb2a24760e1"
        );
    }

    /// The `hmac` crate's HMAC-SHA256, keyed afresh: the reference.
    fn reference(key: &[u8], msg: &[u8]) -> [u8; 32] {
        <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap()
            .chain_update(msg)
            .finalize()
            .into_bytes()
            .into()
    }

    #[test]
    fn the_self_test_passes_for_a_good_key_and_fails_for_a_broken_fast_path() {
        let t = Tokeniser::new(&spec_key()).ok().unwrap();
        assert!(t.self_test().is_ok());
        // One bit wrong in the outer pad's state: every fast token differs
        // from the reference, and the self-test says so.
        let mut broken = t.clone();
        broken.outer[3] ^= 1;
        assert!(matches!(broken.self_test(), Err(Error::SelfTest)));
        // Likewise the inner state.
        let mut broken = t.clone();
        broken.inner[0] ^= 0x8000_0000;
        assert!(matches!(broken.self_test(), Err(Error::SelfTest)));
    }

    #[test]
    fn the_self_test_covers_full_and_partial_groups() {
        assert!(SELF_TEST_NUMBERS.len() > 2 * GROUP);
        assert_ne!(SELF_TEST_NUMBERS.len() % GROUP, 0);
        for d in SELF_TEST_NUMBERS {
            assert!(canonicalise(&d[..]).is_ok());
        }
    }

    proptest::proptest! {
        /// Groups of every size give, slot for slot, the `hmac` crate's
        /// HMAC of the ten digits under any key (longer than a block too).
        #[test]
        fn groups_agree_with_the_general_mac(
            key in proptest::collection::vec(proptest::prelude::any::<u8>(), 32..160),
            numbers in proptest::collection::vec(crate::provider::nhs::tests::valid_number(), 0..=GROUP),
        ) {
            let t = Tokeniser::from_key_bytes(&key);
            let mut hex = [[b'?'; TOKEN_HEX_LEN]; GROUP + 1];
            t.token_hex_group(&numbers, &mut hex);
            for (n, h) in numbers.iter().zip(&hex) {
                let want = reference(&key, n.digits());
                let want_hex = hex::encode(want);
                proptest::prop_assert_eq!(&h[..], want_hex.as_bytes());
                proptest::prop_assert_eq!(t.token(n), want);
            }
            // Slots past the numbers are left as they were.
            for h in &hex[numbers.len()..] {
                proptest::prop_assert_eq!(h, &[b'?'; TOKEN_HEX_LEN]);
            }
        }
    }

    proptest::proptest! {
        /// The token column's encoder gives exactly `hex`'s lowercase hex,
        /// and `parse_token` reads it back in either case.
        #[test]
        fn hex_into_agrees_with_the_hex_crate(bytes in proptest::prelude::any::<[u8; 32]>()) {
            let mut out = [0u8; TOKEN_HEX_LEN];
            hex_into(&bytes, &mut out);
            let want = hex::encode(bytes);
            proptest::prop_assert_eq!(&out[..], want.as_bytes());
            proptest::prop_assert_eq!(parse_token(&out), Some(bytes));
            proptest::prop_assert_eq!(parse_token(&out.to_ascii_uppercase()), Some(bytes));
        }
    }

    proptest::proptest! {
        /// Any number of numbers, across group boundaries: each index once,
        /// in order, with that number's token.
        #[test]
        fn each_token_visits_every_number_in_order(
            numbers in proptest::collection::vec(crate::provider::nhs::tests::valid_number(), 0..=3 * GROUP + 1),
        ) {
            let t = Tokeniser::new(&spec_key()).ok().unwrap();
            let mut seen = Vec::new();
            t.each_token(&numbers, |i, token| seen.push((i, *token)));
            let want: Vec<(usize, [u8; 32])> =
                numbers.iter().enumerate().map(|(i, n)| (i, t.token(n))).collect();
            proptest::prop_assert_eq!(seen, want);
        }
    }

    #[test]
    #[should_panic(expected = "at most GROUP numbers")]
    fn a_group_too_large_is_refused() {
        let t = Tokeniser::new(&spec_key()).ok().unwrap();
        let n = canonicalise(b"9434765919").unwrap();
        t.token_hex_group(&[n; GROUP + 1], &mut [[0u8; TOKEN_HEX_LEN]; GROUP + 1]);
    }

    #[test]
    fn the_tail_blocks_hold_padding_and_length() {
        // 74 and 96 bytes hashed in all: 592 = 0x250 and 768 = 0x300 bits.
        assert_eq!(NUMBER_TAIL[10], 0x80);
        assert_eq!(NUMBER_TAIL[62..], [0x02, 0x50]);
        assert_eq!(DIGEST_TAIL[32], 0x80);
        assert_eq!(DIGEST_TAIL[62..], [0x03, 0x00]);
        assert_eq!(NUMBER_TAIL.iter().filter(|&&b| b != 0).count(), 3);
        assert_eq!(DIGEST_TAIL.iter().filter(|&&b| b != 0).count(), 2);
    }

    #[test]
    fn clone_per_row_equals_fresh_keying() {
        let k = spec_key();
        let t = Tokeniser::new(&k).ok().unwrap();
        let n = canonicalise(b"9434765919").unwrap();
        let first = t.token(&n);
        let _ = t.token(&canonicalise(b"4000000632").unwrap());
        assert_eq!(t.token(&n), first);
        assert_eq!(Tokeniser::new(&k).ok().unwrap().token(&n), first);
    }

    #[test]
    fn parse_token_round_trip() {
        let t = Tokeniser::new(&spec_key()).ok().unwrap();
        let n = canonicalise(b"9434765919").unwrap();
        let mut hex = [0u8; 64];
        t.token_hex(&n, &mut hex);
        assert_eq!(parse_token(&hex), Some(t.token(&n)));
        assert_eq!(parse_token(&hex.to_ascii_uppercase()), Some(t.token(&n)));
        assert_eq!(parse_token(b"9434765919"), None);
        assert_eq!(parse_token(&[b'g'; 64]), None);
    }
}
