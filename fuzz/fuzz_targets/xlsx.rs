#![no_main]
//! Fuzz target: see `pseudolink::fuzz_targets::xlsx`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pseudolink::fuzz_targets::xlsx(data);
});
