//! Fuzz targets, shared by `cargo fuzz` (see `fuzz/`) and by the corpus
//! test that runs under `cargo test` (`tests/fuzz_corpus.rs`).
//!
//! Each target feeds arbitrary bytes to one parser and checks its
//! invariants. A target panics only when an invariant breaks: that is the
//! signal a fuzzer looks for. Parsers themselves must never panic.

use crate::error::Source;
use crate::io::csv::{CsvOptions, RecordReader};
use crate::provider::key::Key;
use crate::provider::nhs::canonicalise;
use crate::provider::scan::{Merger, Scanner};
use crate::provider::token::Tokeniser;

/// The NHS-number canonicaliser: a success is ten digits passing Modulus
/// 11, and canonicalising its own output gives the same number.
pub fn canonicaliser(data: &[u8]) {
    if let Ok(n) = canonicalise(data) {
        assert!(n.digits().iter().all(u8::is_ascii_digit));
        assert_eq!(canonicalise(n.digits()), Ok(n));
    }
}

/// The key-file parser: a parsed key is at least 32 bytes, and an error
/// message never contains key material: no run of eight or more hex digits
/// from the file appears in it. (Checking whole lines instead gave a false
/// alarm: the fuzzer wrote our own fixed message text into a key file; see
/// `fuzz/regressions/key_file`.)
pub fn key_file(data: &[u8]) {
    match Key::parse(data) {
        Ok(k) => assert!(k.bytes().len() >= crate::provider::key::MIN_KEY_BYTES),
        Err(problem) => {
            let msg = problem.to_string();
            for run in data
                .split(|b| !b.is_ascii_hexdigit())
                .filter(|r| r.len() >= 8)
            {
                let run = std::str::from_utf8(run).expect("hex digits are ASCII");
                assert!(!msg.contains(run), "error message echoes key material");
            }
        }
    }
}

/// The date parser: a parsed date is plausible or not, and formats back to
/// an ISO date that parses to itself.
pub fn date(data: &[u8]) {
    if let Some(d) = crate::relink::windows::parse_date(data) {
        let iso = d.to_string();
        if d.year() >= 0 {
            assert_eq!(crate::relink::windows::parse_date(iso.as_bytes()), Some(d));
        }
    }
}

/// A whole tokenise run over arbitrary bytes as a CSV file, in memory: it
/// either fails with a typed error, or accounts for every row
/// (read = tokenised + rejected) and writes one output record per
/// tokenised row.
pub fn tokenise_run(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    // The first byte picks the dialect, so the fuzzer explores them all.
    let delimiter = [b',', b';', b'\t', b'|'][usize::from(first & 3)];
    let has_headers = first & 4 == 0;
    let opts = CsvOptions {
        delimiter,
        has_headers,
    };
    let Ok(key) = Key::parse(b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    else {
        unreachable!("the SPEC key parses")
    };
    let Ok(tokeniser) = Tokeniser::new(&key) else {
        unreachable!("the self-test passes")
    };
    let Ok(mut reader) = RecordReader::new(rest, Source::Stdin, opts) else {
        return;
    };
    reader.set_batch_bytes(64);
    let Ok(Some(n_fields)) = reader.n_fields() else {
        return;
    };
    let column = usize::from(first >> 4) % n_fields;
    let scanner = Scanner {
        column,
        tokeniser: Some(&tokeniser),
    };
    let mut merger = Merger::default();
    let mut out = Vec::new();
    loop {
        match reader.next_batch() {
            Ok(Some(batch)) => {
                let r = scanner.scan(&batch, Vec::new());
                assert_eq!(
                    r.tally.rows_read,
                    r.tally.rows_valid + r.tally.rows_rejected()
                );
                assert_eq!(r.rejects.len() as u64, r.tally.rows_rejected());
                merger.add(&r).expect("in-memory counting does not fail");
                out.extend_from_slice(&r.out);
            }
            Ok(None) => break,
            Err(_) => return,
        }
    }
    let summary = merger.finish().expect("in-memory counting does not fail");
    let t = &summary.tally;
    assert_eq!(t.rows_read, t.rows_valid + t.rows_rejected());
    assert!(summary.duplicate_numbers <= t.rows_valid);
    // The output parses back to exactly the tokenised rows, each with a
    // 64-hex token in the chosen column.
    let back = RecordReader::new(
        &out[..],
        Source::Stdout,
        CsvOptions {
            delimiter,
            has_headers: false,
        },
    );
    let mut back = back.expect("output is readable");
    let mut rows = 0u64;
    while let Some(b) = back.next_batch().expect("output parses") {
        for i in 0..b.len() {
            let token = b.field(i, column);
            assert_eq!(token.len(), 64);
            assert!(token.iter().all(|c| c.is_ascii_hexdigit()));
        }
        rows += b.len() as u64;
    }
    assert_eq!(rows, t.rows_valid);
}

/// A spreadsheet from arbitrary bytes (written to a temporary `.xlsx`):
/// reading it either fails with a typed error or gives CSV, within the
/// byte limits of [`crate::io::xlsx::LIMITS`], never a panic or an
/// allocation the size of a claimed sheet.
pub fn xlsx(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("fuzz.xlsx");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(csv) = crate::io::xlsx::sheet_to_csv(&path, None) {
        assert!(csv.len() as u64 <= crate::io::xlsx::LIMITS.total_bytes + (1 << 20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_accept_simple_inputs() {
        canonicaliser(b"943 476 5919");
        key_file(b"# k\n000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
        date(b"2024-02-29");
        tokenise_run(b"\x00nhs_number,x\n9434765919,a\n123,b\n\"943 476 5919\",\"c\nd\"\n");
    }
}
