//! `pseudolink synth`: deterministic, realistic, and safe with --test-numbers.

mod common;

use common::*;

fn synth(s: &Scratch, dir: &str, seed: &str, extra: &[&str]) {
    let out = pl()
        .args([
            "synth", "--people", "300", "--events", "2000", "--seed", seed, "--out",
        ])
        .arg(s.path(dir))
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn same_seed_same_files_and_other_seed_other_files() {
    let s = Scratch::new();
    synth(&s, "a", "7", &[]);
    synth(&s, "b", "7", &[]);
    synth(&s, "c", "8", &[]);
    for f in ["referrals.csv", "usage.csv"] {
        assert_eq!(s.read(&format!("a/{f}")), s.read(&format!("b/{f}")));
        assert_ne!(s.read(&format!("a/{f}")), s.read(&format!("c/{f}")));
    }
    // Refuses to overwrite.
    let out = pl()
        .args(["synth", "--people", "10", "--out"])
        .arg(s.path("a"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn test_numbers_are_all_in_the_999_range_and_files_are_usable() {
    let s = Scratch::new();
    synth(&s, "t", "1", &["--test-numbers"]);
    let usage = s.text("t/usage.csv");
    assert!(usage.starts_with("nhs_number,event_date,event_type,los_days\n"));
    // Stays on admissions only: AE rows have an empty cell, NEL rows a
    // whole number of days.
    for line in usage.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        match f[2] {
            "AE" => assert_eq!(f[3], "", "{line}"),
            "NEL" => assert!(f[3].parse::<u32>().is_ok(), "{line}"),
            other => panic!("{other}"),
        }
    }
    for line in usage.lines().skip(1) {
        assert!(line.starts_with("999"), "{line}");
        assert!(line.contains(",AE,") || line.contains(",NEL,"), "{line}");
    }
    let referrals = s.text("t/referrals.csv");
    let mut shapes = std::collections::HashSet::new();
    for line in referrals.lines().skip(1) {
        let cell = line.split(',').nth(1).unwrap();
        let digits: String = cell.chars().filter(char::is_ascii_digit).collect();
        if digits.len() == 10 && digits != "0000000000" {
            assert!(digits.starts_with("999"), "{cell}");
        }
        shapes.insert(if cell.contains('-') {
            "dash"
        } else if cell.trim().contains(' ') {
            "space"
        } else {
            "plain"
        });
    }
    assert_eq!(shapes.len(), 3, "mixed presentations");
    // The whole flow runs on it: validate finds the planted invalid rows.
    let out = pl()
        .arg("validate")
        .arg(s.path("t/referrals.csv"))
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)));
    let out = s.tokenise_to("t/referrals.csv", "t/tokens.csv", &["-q"]);
    assert!(out.status.success());
    let out = pl()
        .args(["relink", "-q", "--cohort"])
        .arg(s.path("t/tokens.csv"))
        .arg("--usage")
        .arg(s.path("t/usage.csv"))
        .arg("--key")
        .arg(s.key())
        .args(["--disclosure", "none"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(report.contains("Over 55s with frailty,AE,"), "{report}");
    assert!(report.contains("Total,NEL,"), "{report}");
}
