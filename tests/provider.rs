//! Provider side, end to end: the real binary on real files.

mod common;

use common::*;

fn referrals(n: usize) -> (String, Vec<String>) {
    let mut csv = String::from("id,nhs_number,intervention_date,cohort\n");
    let mut numbers = Vec::new();
    for i in 0..n {
        let num = valid_from(400_000_000 + (i as u32) * 7919);
        let shown = match i % 3 {
            0 => num.clone(),
            1 => format!("{} {} {}", &num[..3], &num[3..6], &num[6..]),
            _ => format!("{}-{}-{}", &num[..3], &num[3..6], &num[6..]),
        };
        csv.push_str(&format!(
            "{i},{shown},2024-01-{:02},\"Over 55s, frailty\"\n",
            1 + i % 28
        ));
        numbers.push(num);
    }
    (csv, numbers)
}

#[test]
fn spec_vectors_through_the_binary() {
    let s = Scratch::new();
    s.write(
        "in.csv",
        "nhs_number\n9434765919\n943 476 5919\n4000000632\n9876543210\n",
    );
    let out = pl()
        .args(["tokenise", "--key"])
        .arg(s.key())
        .arg(s.path("in.csv"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("token\n{TOKEN_9434765919}\n{TOKEN_9434765919}\n{TOKEN_4000000632}\n{TOKEN_9876543210}\n")
    );
    let id = pl()
        .args(["key-id", "--key"])
        .arg(s.key())
        .output()
        .unwrap();
    assert_eq!(stdout(&id).trim(), SPEC_KEY_ID);
}

#[test]
fn round_trip_with_manifest_and_rejects() {
    let s = Scratch::new();
    let (mut csv, numbers) = referrals(30);
    csv.push_str("30,,2024-02-01,x\n31,9.43E+09,2024-02-01,x\n32,123,2024-02-01,x\n");
    csv.push_str(&format!("33,{},2024-02-01,x\n", numbers[0])); // a duplicate
    s.write("in.csv", &csv);
    let out = s.tokenise_to(
        "in.csv",
        "out.csv",
        &["--rejects", s.path("rej.csv").to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = s.text("out.csv");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,token,intervention_date,cohort");
    assert_eq!(lines.len(), 1 + 31);
    for l in &lines[1..] {
        let token = l.split(',').nth(1).unwrap();
        assert_eq!(token.len(), 64);
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(
            l.ends_with(",\"Over 55s, frailty\"") || l.ends_with(",x"),
            "{l}"
        );
    }
    // Same number in any presentation gives the same token; different numbers differ.
    let t0 = lines[1].split(',').nth(1).unwrap();
    assert_eq!(lines.last().unwrap().split(',').nth(1).unwrap(), t0);
    assert_ne!(lines[2].split(',').nth(1).unwrap(), t0);

    assert_eq!(
        s.text("rej.csv"),
        "row,reason,raw_value (unescaped: may hold formulas)\n31,empty,\n32,scientific_notation,9.43E+09\n33,wrong_length,123\n"
    );

    let m: serde_json::Value = serde_json::from_slice(&s.read("out.csv.manifest.json")).unwrap();
    assert_eq!(m["format"], "pseudolink-tokens");
    assert_eq!(m["version"], 1);
    assert_eq!(m["key_id"], SPEC_KEY_ID);
    assert_eq!(m["token_column"], "token");
    assert_eq!(m["rows_read"], 34);
    assert_eq!(m["rows_tokenised"], 31);
    assert_eq!(m["rows_rejected"], 3);
    assert_eq!(m["rejected_by_reason"]["empty"], 1);
    assert_eq!(m["rejected_by_reason"]["scientific_notation"], 1);
    assert_eq!(m["rejected_by_reason"]["wrong_length"], 1);
    assert_eq!(m["duplicate_numbers"], 1);
    assert_eq!(m["test_range"], 0);
    assert_eq!(
        m["outside_england_wales"],
        serde_json::json!({"scotland_chi": 0, "chi_range_not_a_date": 0, "northern_ireland": 0, "unallocated": 0})
    );
    assert_eq!(m["tool_version"], env!("CARGO_PKG_VERSION"));
    assert!(m["created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(m["sha256"], sha256_hex(&s.path("out.csv")));
    // The invariant, from the manifest.
    assert_eq!(
        m["rows_read"].as_u64(),
        Some(m["rows_tokenised"].as_u64().unwrap() + m["rows_rejected"].as_u64().unwrap())
    );
    // No NHS number anywhere but the rejects file.
    let secrets: Vec<&str> = numbers.iter().map(String::as_str).collect();
    assert_no_leak(
        &[
            &s.read("out.csv"),
            &s.read("out.csv.manifest.json"),
            &out.stderr,
            &out.stdout,
        ],
        &secrets,
    );
    let summary = stderr(&out);
    assert!(
        summary.contains("rows read: 34  tokenised: 31  rejected: 3"),
        "{summary}"
    );
    assert!(summary.contains("repeated numbers: 1"), "{summary}");
    // stderr is not a terminal here: no progress bar.
    assert!(
        !summary.contains("ETA") && !summary.contains("rows/s"),
        "{summary}"
    );
}

#[test]
fn a_file_name_holding_a_number_is_redacted_in_manifest_and_messages() {
    let s = Scratch::new();
    let n = valid_from(777_000_000);
    let name = format!("patient-{n}.csv");
    s.write(&name, format!("nhs_number\n{n}\n"));
    let out = pl()
        .args(["tokenise", "-q", "--key"])
        .arg(s.key())
        .arg(s.path(&name))
        .arg("--output")
        .arg(s.path("t.csv"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_leak(&[&s.read("t.csv.manifest.json"), &s.read("t.csv")], &[&n]);
    let m: serde_json::Value = serde_json::from_slice(&s.read("t.csv.manifest.json")).unwrap();
    assert_eq!(m["source_name"], "patient-[NHS number].csv");
    // Messages that name the file do not show the number either.
    let out = pl()
        .args(["tokenise", "--key"])
        .arg(s.key())
        .arg(s.path(&name))
        .arg("--output")
        .arg(s.path("t.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    s.write(&name, format!("nhs_number,x\n{n}\n"));
    let out = pl().arg("validate").arg(s.path(&name)).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("patient-[NHS number].csv"),
        "{}",
        stderr(&out)
    );
    assert_no_leak(&[&out.stderr, &out.stdout], &[&n]);
    s.write("referrals-2024.csv", format!("nhs_number\n{n}\n"));
    let out = s.tokenise_to("referrals-2024.csv", "u.csv", &["-q"]);
    assert!(out.status.success());
    let m: serde_json::Value = serde_json::from_slice(&s.read("u.csv.manifest.json")).unwrap();
    assert_eq!(m["source_name"], "referrals-2024.csv");
}

#[test]
fn stdin_to_stdout_and_dash() {
    let s = Scratch::new();
    let (csv, _) = referrals(5);
    for input in [None, Some("-")] {
        let mut cmd = pl();
        cmd.args(["tokenise", "--key"]).arg(s.key());
        if let Some(i) = input {
            cmd.arg(i);
        }
        let out = cmd.write_stdin(csv.clone()).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out).lines().count(), 6);
    }
    let out = pl().arg("validate").write_stdin(csv).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn other_columns_pass_through_byte_for_byte() {
    let s = Scratch::new();
    let n = valid_from(123_456_700);
    let mut input =
        b"\xEF\xBB\xBF\"Note, free text\";NHS No;x\r\n\"multi\r\nline; \"\"quoted\"\"\";\""
            .to_vec();
    input.extend_from_slice(n.as_bytes());
    input.extend_from_slice(b"\";\xe9\xff\r\n");
    s.write("in.csv", &input);
    let out = pl()
        .args(["tokenise", "--key"])
        .arg(s.key())
        .arg(s.path("in.csv"))
        .args(["--delimiter", ";"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let tok = pl()
        .args(["tokenise", "--key"])
        .arg(s.key())
        .args(["--no-headers", "--column", "1"])
        .write_stdin(format!("{n}\n"))
        .output()
        .unwrap();
    let token = stdout(&tok).trim().to_string();
    let mut expected =
        b"\xEF\xBB\xBF\"Note, free text\";token;x\r\n\"multi\r\nline; \"\"quoted\"\"\";".to_vec();
    expected.extend_from_slice(token.as_bytes());
    expected.extend_from_slice(b";\xe9\xff\r\n");
    assert_eq!(out.stdout, expected);
}

#[test]
fn refuses_to_overwrite_without_force() {
    let s = Scratch::new();
    let (csv, _) = referrals(3);
    s.write("in.csv", &csv);
    s.write("out.csv", "precious");
    let out = s.tokenise_to("in.csv", "out.csv", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("already exists; pass --force"),
        "{}",
        stderr(&out)
    );
    assert_eq!(s.text("out.csv"), "precious");
    assert!(!s.exists("out.csv.manifest.json"));
    let out = pl()
        .args(["tokenise", "--force", "--key"])
        .arg(s.key())
        .arg(s.path("in.csv"))
        .arg("--output")
        .arg(s.path("out.csv"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(s.text("out.csv").lines().count(), 4);
    // The rejects file is protected too.
    s.write("rej.csv", "mine");
    let out = pl()
        .arg("validate")
        .arg(s.path("in.csv"))
        .arg("--rejects")
        .arg(s.path("rej.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(s.text("rej.csv"), "mine");
    // Output onto the input is refused.
    let out = pl()
        .args(["tokenise", "--force", "--key"])
        .arg(s.key())
        .arg(s.path("in.csv"))
        .arg("--output")
        .arg(s.path("in.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("same file"), "{}", stderr(&out));
}

#[test]
fn ragged_row_fails_cleanly_with_no_output() {
    let s = Scratch::new();
    let n = valid_from(222_222_000);
    s.write("in.csv", format!("a,nhs_number\n1,{n}\n2,{n},extra\n"));
    let out = s.tokenise_to("in.csv", "out.csv", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("row 2 (line 3) has 3 fields, but the header has 2"),
        "{err}"
    );
    assert_no_leak(&[err.as_bytes()], &[&n]);
    assert_eq!(s.files(), ["in.csv", "key.key"]);
}

#[test]
fn validate_exit_codes_and_rejects() {
    let s = Scratch::new();
    let good = valid_from(300_000_000);
    s.write("good.csv", format!("NHS Number\n{good}\n"));
    let out = pl()
        .arg("validate")
        .arg(s.path("good.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("rows read: 1  valid: 1  rejected: 0"));

    s.write(
        "bad.csv",
        format!("NHS Number\n{good}\n0000000000\n1234567890\n4857773456\n12345\n94347X5919\n\n"),
    );
    let out = pl()
        .arg("validate")
        .arg(s.path("bad.csv"))
        .arg("--rejects")
        .arg(s.path("rej.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let summary = stderr(&out);
    assert!(
        summary.contains("wrote ") && summary.contains("rej.csv"),
        "{summary}"
    );
    for code in [
        "placeholder",
        "check_digit_10",
        "check_digit_mismatch",
        "wrong_length",
        "invalid_character",
    ] {
        assert!(summary.contains(code), "{code}: {summary}");
    }
    assert!(summary.contains("first invalid rows"), "{summary}");
    assert!(
        summary.contains("2 (placeholder), 3 (check_digit_10)"),
        "{summary}"
    );
    assert_eq!(
        s.text("rej.csv"),
        "row,reason,raw_value (unescaped: may hold formulas)\n2,placeholder,0000000000\n3,check_digit_10,1234567890\n4,check_digit_mismatch,4857773456\n5,wrong_length,12345\n6,invalid_character,94347X5919\n"
    );
}

fn validate_column(s: &Scratch, file: &str, column: &str) -> std::process::Output {
    pl().arg("validate")
        .arg(s.path(file))
        .args(["--column", column])
        .output()
        .unwrap()
}

#[test]
fn column_selection_and_detection() {
    let s = Scratch::new();
    let n = valid_from(555_000_000);
    s.write("two.csv", format!("nhs_number,NHS No\n{n},{n}\n"));
    let out = pl()
        .arg("validate")
        .arg(s.path("two.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("several columns look like NHS numbers (\"nhs_number\", \"NHS No\")"),
        "{}",
        stderr(&out)
    );
    let out = validate_column(&s, "two.csv", "nhs no");
    assert_eq!(out.status.code(), Some(0));
    let out = validate_column(&s, "two.csv", "2");
    assert_eq!(out.status.code(), Some(0));
    let out = validate_column(&s, "two.csv", "NHS_Number2");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no column \"NHS_Number2\""),
        "{}",
        stderr(&out)
    );

    s.write("none.csv", "a,b\n1,2\n");
    let out = pl()
        .arg("validate")
        .arg(s.path("none.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no column looks like an NHS number"));

    s.write("tab.tsv", format!("x\tpatient nhs number\n1\t{n}\n"));
    let out = pl()
        .arg("validate")
        .arg(s.path("tab.tsv"))
        .args(["--delimiter", "tab"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn empty_and_header_only_inputs() {
    let s = Scratch::new();
    s.write("empty.csv", "");
    let out = pl()
        .args(["tokenise", "--key"])
        .arg(s.key())
        .arg(s.path("empty.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is empty"), "{}", stderr(&out));
    s.write("header.csv", "nhs_number,b");
    let out = s.tokenise_to("header.csv", "out.csv", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s.text("out.csv"), "token,b");
}

#[test]
fn output_is_identical_across_thread_counts() {
    let s = Scratch::new();
    let (csv, _) = referrals(20_000);
    s.write("in.csv", &csv);
    let mut outputs = Vec::new();
    for threads in ["1", "2", "3"] {
        let name = format!("out{threads}.csv");
        let out = pl()
            .args(["tokenise", "--threads", threads, "--key"])
            .arg(s.key())
            .arg(s.path("in.csv"))
            .arg("--output")
            .arg(s.path(&name))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        outputs.push(s.read(&name));
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
    assert_eq!(String::from_utf8_lossy(&outputs[0]).lines().count(), 20_001);
}

#[test]
fn token_column_name_clash_is_refused() {
    let s = Scratch::new();
    let n = valid_from(600_000_000);
    s.write("in.csv", format!("token,nhs_number\nx,{n}\n"));
    let out = pl()
        .args(["tokenise", "--key"])
        .arg(s.key())
        .arg(s.path("in.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already has a column named \"token\""));
    let out = pl()
        .args(["tokenise", "--token-column", "pseudo_id", "--key"])
        .arg(s.key())
        .arg(s.path("in.csv"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("token,pseudo_id\n"));
}

#[test]
fn quiet_prints_nothing_on_success() {
    let s = Scratch::new();
    let (csv, _) = referrals(5);
    s.write("in.csv", &csv);
    let out = s.tokenise_to("in.csv", "out.csv", &["-q"]);
    assert!(out.status.success());
    assert_eq!(stderr(&out), "");
    assert_eq!(stdout(&out), "");
}

#[test]
fn completions_man_and_version() {
    let out = pl().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains("relink"));
    let out = pl().arg("man").output().unwrap();
    assert!(stdout(&out).contains(".SH NAME"));
    let out = pl().arg("--version").output().unwrap();
    assert_eq!(
        stdout(&out).trim(),
        format!("pseudolink {} (SPEC 1.2)", env!("CARGO_PKG_VERSION"))
    );
    let short = pl().args(["tokenise", "-h"]).output().unwrap();
    let long = pl().args(["tokenise", "--help"]).output().unwrap();
    assert!(stdout(&long).contains("Examples:"));
    assert!(!stdout(&short).contains("Examples:"));
    assert!(stdout(&short).len() < stdout(&long).len());
}

#[test]
fn broken_pipe_exits_quietly() {
    let s = Scratch::new();
    let (csv, _) = referrals(50_000);
    s.write("in.csv", &csv);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pseudolink"))
        .args(["tokenise", "--key"])
        .arg(s.key())
        .arg(s.path("in.csv"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 10];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("error"), "{}", stderr(&out));
}

/// Valid numbers outside England, Wales and the Isle of Man are counted by
/// range, with what each usually means, in `validate`'s and `tokenise`'s
/// summaries and in the manifest; they stay valid and tokenised, so the
/// row accounting does not change.
#[test]
fn numbers_outside_england_are_counted_by_range_not_rejected() {
    let s = Scratch::new();
    let mut csv = String::from("nhs_number\n");
    // (range, how many): England 3, test 1, CHI 2, CHI range but not a
    // date 1 (31 April), Northern Ireland 2, unallocated 1.
    for p in [400_000_000, 450_000_000, 700_000_000] {
        csv.push_str(&format!("{}\n", valid_from(p)));
    }
    csv.push_str(&format!("{}\n", valid_from(999_000_000)));
    csv.push_str(&format!("{}\n", valid_from(310_195_000)));
    csv.push_str(&format!("{}\n", valid_from(150_688_000)));
    csv.push_str(&format!("{}\n", valid_from(310_495_000)));
    csv.push_str(&format!("{}\n", valid_from(320_000_100)));
    csv.push_str(&format!("{}\n", valid_from(399_000_000)));
    csv.push_str(&format!("{}\n", valid_from(850_000_000)));
    s.write("in.csv", &csv);

    let out = validate_column(&s, "in.csv", "nhs_number");
    assert_eq!(out.status.code(), Some(0), "all valid: {}", stderr(&out));
    let summary = stderr(&out);
    assert!(summary.contains("valid: 10  rejected: 0"), "{summary}");
    assert!(
        summary.contains("warning: 6 valid numbers are outside the ranges issued in England, Wales and the Isle of Man"),
        "{summary}"
    );
    for (code, n) in [
        ("scotland_chi", 2),
        ("chi_range_not_a_date", 1),
        ("northern_ireland", 2),
        ("unallocated", 1),
    ] {
        let line = summary
            .lines()
            .find(|l| l.trim_start().starts_with(code))
            .unwrap_or_else(|| panic!("{code}: {summary}"));
        assert_eq!(
            line.split_whitespace().nth(1),
            Some(n.to_string().as_str()),
            "{line}"
        );
    }
    assert!(
        summary.contains("test-range numbers (999...): 1"),
        "{summary}"
    );
    assert!(
        summary.contains("Scottish patient's CHI number"),
        "{summary}"
    );

    let out = s.tokenise_to("in.csv", "out.csv", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: 6 valid numbers are outside"),
        "{}",
        stderr(&out)
    );
    assert_eq!(s.text("out.csv").lines().count(), 11);
    let m: serde_json::Value = serde_json::from_slice(&s.read("out.csv.manifest.json")).unwrap();
    assert_eq!(m["rows_tokenised"], 10);
    assert_eq!(m["test_range"], 1);
    assert_eq!(
        m["outside_england_wales"],
        serde_json::json!({"scotland_chi": 2, "chi_range_not_a_date": 1, "northern_ireland": 2, "unallocated": 1})
    );

    // A file of English numbers only says nothing about ranges.
    s.write(
        "english.csv",
        format!("nhs_number\n{}\n", valid_from(400_000_000)),
    );
    let out = validate_column(&s, "english.csv", "nhs_number");
    assert!(
        !stdout(&out).contains("outside the ranges"),
        "{}",
        stdout(&out)
    );
}
