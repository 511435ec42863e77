#![no_main]
//! Fuzz target: see `pseudolink::fuzz_targets::date`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pseudolink::fuzz_targets::date(data);
});
