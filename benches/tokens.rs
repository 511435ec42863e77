//! `cargo bench --bench tokens`: how fast tokens are made by the `hmac`
//! crate one at a time (the library baseline, [`Tokeniser::token_hex`]) and
//! by the hand-written fast path [`GROUP`] side by side (what `tokenise`
//! does), in the same process on the same numbers. Prints tokens/s and the
//! ratio, and checks that both ways give the same bytes.
//!
//! The numbers are synthetic (from nine-digit prefixes); the key is the
//! SPEC's test key.

#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use pseudolink::provider::key::Key;
use pseudolink::provider::nhs::NhsNumber;
use pseudolink::provider::token::{Tokeniser, GROUP, TOKEN_HEX_LEN};

const NUMBERS: usize = 1_000_000;
const ROUNDS: usize = 7;

fn main() {
    let key = Key::parse(b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
        .expect("the SPEC's test key parses");
    let t = Tokeniser::new(&key).expect("the self-test passes");
    let numbers: Vec<NhsNumber> = (0u32..)
        .map(|i| 400_000_000 + i.wrapping_mul(7919) % 500_000_000)
        .filter_map(NhsNumber::from_prefix)
        .take(NUMBERS)
        .collect();
    let mut single = vec![[0u8; TOKEN_HEX_LEN]; numbers.len()];
    let mut grouped = vec![[0u8; TOKEN_HEX_LEN]; numbers.len()];
    let (mut one, mut many) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for (n, out) in numbers.iter().zip(single.iter_mut()) {
            t.token_hex(black_box(n), out);
        }
        one = one.min(start.elapsed());
        let start = Instant::now();
        for (n, out) in numbers.chunks(GROUP).zip(grouped.chunks_mut(GROUP)) {
            t.token_hex_group(black_box(n), out);
        }
        many = many.min(start.elapsed());
    }
    assert!(single == grouped, "grouped tokens differ from single ones");
    let rate = |d: Duration| numbers.len() as f64 / d.as_secs_f64();
    println!(
        "tokens, best of {ROUNDS} rounds over {} numbers:",
        numbers.len()
    );
    println!("  hmac crate, one at a time  {:>12.0} tokens/s", rate(one));
    println!(
        "  fast path, {GROUP} side by side {:>12.0} tokens/s",
        rate(many)
    );
    println!(
        "  ratio                      {:>12.2}x",
        rate(many) / rate(one)
    );
}
