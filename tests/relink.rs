//! ICB side, end to end: tokenise a cohort with the binary, re-link it to
//! a usage file, and check every number in the report.

mod common;

use common::*;

struct World {
    s: Scratch,
    numbers: Vec<String>,
}

/// Builds a known world (see the comments for the expected counts):
/// group A, 10 people, d = 2024-07-15; group B, 9 people, d = 2024-03-31;
/// one person with an incomplete window, one duplicate referral, people not
/// in the cohort, events outside the windows and invalid usage numbers.
fn world() -> World {
    let s = Scratch::new();
    let a: Vec<String> = (0..10)
        .map(|i| valid_from(410_000_000 + i * 1000))
        .collect();
    let b: Vec<String> = (0..9).map(|i| valid_from(420_000_000 + i * 1000)).collect();
    let c0 = valid_from(430_000_000);
    let others: Vec<String> = (0..5).map(|i| valid_from(440_000_000 + i * 1000)).collect();

    let mut referrals = String::from("nhs_number,intervention_date,cohort\n");
    for n in &a {
        referrals.push_str(&format!("{n},2024-07-15,A\n"));
    }
    referrals.push_str(&format!("{},01/10/2024,B\n", a[0])); // later duplicate: ignored
    for n in &b {
        referrals.push_str(&format!(
            "{} {} {},31/03/2024,B\n",
            &n[..3],
            &n[3..6],
            &n[6..]
        ));
    }
    referrals.push_str(&format!("{c0},2023-03-01,A\n")); // pre window starts before the data
    s.write("referrals.csv", referrals);

    let mut usage = String::from("nhs_number,event_date,event_type\n");
    let mut ev = |n: &str, d: &str, t: &str| usage.push_str(&format!("{n},{d},{t}\n"));
    for (i, n) in a.iter().enumerate() {
        // AE pre: i % 3 + 1 events (the third exactly on d - 6 months).
        for d in ["2024-07-14", "2024-05-15", "2024-01-15"]
            .iter()
            .take(i % 3 + 1)
        {
            ev(n, d, "AE");
        }
        if i % 2 == 1 {
            ev(n, "2024-07-25", "AE"); // AE post
        }
        if i < 4 {
            ev(n, "2024-03-01", "NEL"); // NEL pre
        }
        ev(n, "2023-06-01", "AE"); // before the pre window
        ev(n, "2025-03-01", "NEL"); // after the post window
        ev(n, "2024-01-14", "AE"); // the day before d - 6 months
    }
    for (i, n) in b.iter().enumerate() {
        ev(n, "2024-02-29", "AE"); // d - 1 month, clamped
        ev(n, "2023-10-31", "AE");
        ev(n, "31/03/2024", "AE"); // d itself: post
        ev(n, "2024-04-30", "AE");
        ev(n, "2024-09-29", "AE"); // last day of the post window
        if i == 0 {
            ev(n, "2023-09-30", "AE"); // exactly d - 6 months: pre
            ev(n, "2024-09-30", "AE"); // exactly d + 6 months: outside
        }
    }
    ev(&c0, "2023-02-01", "AE");
    ev(&c0, "2023-04-01", "AE");
    for n in &others {
        ev(n, "2024-05-01", "AE");
    }
    ev("123", "2024-05-01", "AE");
    ev("", "2024-05-01", "NEL");
    s.write("usage.csv", usage);

    let out = s.tokenise_to("referrals.csv", "tokens.csv", &["-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut numbers = a;
    numbers.extend(b);
    numbers.push(c0);
    numbers.extend(others);
    World { s, numbers }
}

fn relink(w: &World, extra: &[&str]) -> std::process::Output {
    pl().arg("relink")
        .arg("--cohort")
        .arg(w.s.path("tokens.csv"))
        .args(["--data-start", "2023-01-01", "--data-end", "2025-12-31"])
        .args(extra)
        .output()
        .unwrap()
}

/// `relink --cohort COHORT --usage usage.csv --key KEY` plus `extra`, with
/// no coverage dates unless `extra` gives them.
fn relink_cohort(w: &World, cohort: &str, extra: &[&str]) -> std::process::Output {
    pl().arg("relink")
        .arg("--cohort")
        .arg(w.s.path(cohort))
        .arg("--usage")
        .arg(w.s.path("usage.csv"))
        .arg("--key")
        .arg(w.s.key())
        .args(extra)
        .output()
        .unwrap()
}

/// `relink` on the world's cohort with a usage file from its folder and,
/// when `key` is true, the world's key.
fn relink_usage(w: &World, usage: &str, key: bool, extra: &[&str]) -> std::process::Output {
    let usage = w.s.path(usage);
    let key_path = w.s.key();
    let mut args = vec!["--usage", usage.to_str().unwrap()];
    if key {
        args.extend(["--key", key_path.to_str().unwrap()]);
    }
    args.extend_from_slice(extra);
    relink(w, &args)
}

/// The world's report, worked by hand from the events above. The last
/// three columns (SPEC section 7) are the people whose post − pre count
/// fell, stayed and rose: in group A, AE pre is 1, 2, 3, 1, 2, 3, 1, 2, 3, 1
/// and post 0, 1, 0, 1, ... so 8 fell and 2 (i = 3, 9) stayed; in group B,
/// everyone has 2 pre and 3 post (+1) but the first, who has 3 and 3.
const EXACT: &str = "\
cohort,event_type,patients,pre_events,post_events,pre_per_patient,post_per_patient,change_pct,patients_with_pre_event,patients_with_post_event,p_value,patients_decreased,patients_unchanged,patients_increased
A,AE,10,19,5,1.90,0.50,-73.68,10,5,0.01052,8,2,0
A,NEL,10,4,0,0.40,0.00,-100.00,4,0,0.0455,4,6,0
B,AE,9,19,27,2.11,3.00,42.11,9,9,0.004678,0,1,8
B,NEL,9,0,0,0.00,0.00,,0,0,,0,9,0
Total,AE,19,38,32,2.00,1.68,-15.79,19,14,0.3841,8,3,8
Total,NEL,19,4,0,0.21,0.00,-100.00,4,0,0.0455,4,15,0
";

/// The same under `hes` (section 6, version 1.2): counts from 1 to 7 are
/// `*`; a lone `*` in a column or in fell + same + rose takes the next
/// smallest count with it (A's AE post 5 takes B's 27; A's AE unchanged 2
/// takes A's decreased 8); means come from the shown counts (A's AE pre
/// 20 / 10 = 2.00, not 19 / 10); a p-value needs 10 people who changed
/// and no withheld side.
const HES: &str = "\
cohort,event_type,patients,pre_events,post_events,pre_per_patient,post_per_patient,change_pct,patients_with_pre_event,patients_with_post_event,p_value,patients_decreased,patients_unchanged,patients_increased
A,AE,10,20,*,2.00,*,*,10,*,*,*,*,0
A,NEL,10,*,0,*,0.00,*,*,0,*,*,*,0
B,AE,10,20,*,2.00,*,*,10,*,*,0,*,*
B,NEL,10,0,0,0.00,0.00,,0,0,*,0,*,0
Total,AE,20,40,30,2.00,1.50,-25.00,20,15,*,*,*,10
Total,NEL,20,*,0,*,0.00,*,*,0,*,*,*,0
";

#[test]
fn known_table_exact_and_with_hes_disclosure() {
    let w = world();
    let usage = w.s.path("usage.csv");
    let key = w.s.key();
    let base = [
        "--usage",
        usage.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    let mut args = base.to_vec();
    args.extend(["--disclosure", "none"]);
    let out = relink(&w, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), EXACT);
    let err = stderr(&out);
    assert!(err.contains("NOT fit for release"), "{err}");
    assert!(
        err.contains("cohort: 21 rows, 20 people (1 repeat referral;"),
        "{err}"
    );
    assert!(
        err.contains("people reported: 19; excluded_incomplete_window: 1"),
        "{err}"
    );
    assert!(err.contains("not in the cohort"), "{err}");
    assert!(err.contains("invalid NHS numbers, empty"), "{err}");
    assert!(err.contains("invalid NHS numbers, wrong_length"), "{err}");
    assert!(!err.contains("inferred"), "{err}");

    let mut args = base.to_vec();
    let report = w.s.path("report.csv");
    let people = w.s.path("people.csv");
    args.extend([
        "--output",
        report.to_str().unwrap(),
        "--people",
        people.to_str().unwrap(),
    ]);
    let out = relink(&w, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.s.text("report.csv"), HES);
    // The terminal table shows the same released values.
    let err = stderr(&out);
    assert!(err.contains("Total   AE"), "{err}");

    let people = w.s.text("people.csv");
    let lines: Vec<&str> = people.lines().collect();
    assert_eq!(
        lines[0],
        "token,cohort,intervention_date,AE_pre,AE_post,NEL_pre,NEL_post"
    );
    assert_eq!(lines.len(), 1 + 19);
    // Rows are sorted by token; compare the multiset of everything after it.
    let mut rest: Vec<&str> = lines[1..].iter().map(|l| &l[65..]).collect();
    rest.sort();
    let mut want: Vec<String> = Vec::new();
    for i in 0..10 {
        let nel = if i < 4 { 1 } else { 0 };
        want.push(format!("A,2024-07-15,{},{},{nel},0", i % 3 + 1, i % 2));
    }
    want.push("B,2024-03-31,3,3,0,0".to_string());
    want.extend(std::iter::repeat_n("B,2024-03-31,2,3,0,0".to_string(), 8));
    want.sort();
    assert_eq!(rest, want);
    let tokens: Vec<&str> = lines[1..].iter().map(|l| &l[..64]).collect();
    assert!(
        tokens.windows(2).all(|w| w[0] < w[1]),
        "sorted by token, no duplicates"
    );

    // Nothing on the ICB side holds an NHS number.
    let secrets: Vec<&str> = w.numbers.iter().map(String::as_str).collect();
    assert_no_leak(
        &[
            &w.s.read("report.csv"),
            &w.s.read("people.csv"),
            &out.stderr,
            &out.stdout,
        ],
        &secrets,
    );
}

#[test]
fn usage_can_come_from_standard_input() {
    let w = world();
    let out = pl()
        .args(["relink", "--disclosure", "none", "--usage", "-", "--cohort"])
        .arg(w.s.path("tokens.csv"))
        .arg("--key")
        .arg(w.s.key())
        .args(["--data-start", "2023-01-01", "--data-end", "2025-12-31"])
        .write_stdin(w.s.read("usage.csv"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), EXACT);
}

#[test]
fn tokenised_usage_needs_no_key_and_gives_the_same_report() {
    let w = world();
    let out = w.s.tokenise_to("usage.csv", "usage-tokens.csv", &["-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let usage = w.s.path("usage-tokens.csv");
    let out = relink(
        &w,
        &[
            "--usage",
            usage.to_str().unwrap(),
            "--usage-token-column",
            "token",
            "--disclosure",
            "none",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), EXACT);
}

#[test]
fn a_key_id_mismatch_stops_the_run_and_names_both_ids() {
    let w = world();
    w.s.write("other.key", format!("{}\n", "ab".repeat(32)));
    w.s.private("other.key");
    let other = w.s.path("other.key");
    let usage = w.s.path("usage.csv");
    let out = relink(
        &w,
        &[
            "--usage",
            usage.to_str().unwrap(),
            "--key",
            other.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let other_id = pl().args(["key-id", "--key"]).arg(&other).output().unwrap();
    let other_id = stdout(&other_id).trim().to_string();
    assert!(err.contains(SPEC_KEY_ID), "{err}");
    assert!(err.contains(&other_id), "{err}");
    assert!(err.contains("key id mismatch"), "{err}");
    assert!(!w.s.exists("report.csv"));

    // Between two manifests, too.
    let out = pl()
        .args(["tokenise", "-q", "--key"])
        .arg(&other)
        .arg(w.s.path("usage.csv"))
        .arg("--output")
        .arg(w.s.path("usage-tokens.csv"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let usage = w.s.path("usage-tokens.csv");
    let out = relink(
        &w,
        &[
            "--usage",
            usage.to_str().unwrap(),
            "--usage-token-column",
            "token",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(SPEC_KEY_ID) && err.contains(&other_id),
        "{err}"
    );
}

#[test]
fn a_raw_nhs_number_in_the_cohort_is_refused_with_a_hint() {
    let s = Scratch::new();
    let n = valid_from(700_000_000);
    s.write(
        "cohort.csv",
        format!("token,intervention_date,cohort\n{n},2024-01-01,A\n"),
    );
    s.write(
        "usage.csv",
        format!("nhs_number,event_date,event_type\n{n},2024-02-01,AE\n"),
    );
    let out = pl()
        .arg("relink")
        .arg("--cohort")
        .arg(s.path("cohort.csv"))
        .arg("--usage")
        .arg(s.path("usage.csv"))
        .arg("--key")
        .arg(s.key())
        .arg("--no-manifest")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("row 1, column \"token\": not a token"),
        "{err}"
    );
    assert!(err.contains("not been tokenised"), "{err}");
    assert_no_leak(&[&out.stderr, &out.stdout], &[&n]);
}

#[test]
fn bad_dates_name_the_row() {
    let w = world();
    let mut text = w.s.text("usage.csv");
    text.push_str(&format!("{},2024-13-01,AE\n", w.numbers[0]));
    w.s.write("bad-usage.csv", &text);
    let out = relink_usage(&w, "bad-usage.csv", true, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let rows = text.lines().count() - 1;
    assert!(
        err.contains(&format!(
            "row {rows}, column \"event_date\": \"2024-13-01\" is not a date"
        )),
        "{err}"
    );

    text.push_str(&format!("{},1850-01-01,AE\n", w.numbers[0]));
    w.s.write("old.csv", text.replace("2024-13-01", "2024-12-01"));
    let out = relink_usage(&w, "old.csv", true, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("outside 1900-01-01 to 2100-12-31"),
        "{}",
        stderr(&out)
    );

    let mut cohort = w.s.text("tokens.csv");
    cohort.push_str(&format!("{},12/31/2024,A\n", "ab".repeat(32)));
    w.s.write("tokens2.csv", cohort);
    let out = relink_cohort(&w, "tokens2.csv", &["--no-manifest"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("row 22, column \"intervention_date\": \"12/31/2024\" is not a date"),
        "{err}"
    );
}

#[test]
fn empty_usage_and_nobody_left_are_clear_messages() {
    let w = world();
    w.s.write("empty-usage.csv", "nhs_number,event_date,event_type\n");
    let out = relink_usage(&w, "empty-usage.csv", true, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("has no data rows"),
        "{}",
        stderr(&out)
    );

    let out = relink_cohort(
        &w,
        "tokens.csv",
        &["--data-start", "2024-06-01", "--data-end", "2024-08-01"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("all 20 people in the cohort have incomplete windows"),
        "{err}"
    );
    assert!(!err.contains("NaN"), "{err}");
}

#[test]
fn usage_needs_a_key_or_a_token_column_and_columns_get_hints() {
    let w = world();
    let usage = w.s.path("usage.csv");
    let out = relink(&w, &["--usage", usage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("give --key FILE"), "{}", stderr(&out));

    let out = relink_usage(&w, "usage.csv", true, &["--group-by", "cohrot"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean --group-by \"cohort\"?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn coverage_is_inferred_with_a_warning() {
    let w = world();
    let out = relink_cohort(&w, "tokens.csv", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("inferred from its earliest and latest events (2023-02-01 to 2025-03-01)"),
        "{err}"
    );
}

#[test]
fn report_is_identical_across_thread_counts() {
    let w = world();
    let usage = w.s.path("usage.csv");
    let key = w.s.key();
    let mut outs = Vec::new();
    for t in ["1", "2", "4"] {
        let out = relink(
            &w,
            &[
                "--usage",
                usage.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
                "--threads",
                t,
                "--disclosure",
                "none",
            ],
        );
        assert!(out.status.success());
        outs.push(out.stdout);
    }
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[0], outs[2]);
}

#[test]
fn html_report_is_self_contained_and_holds_no_identifiers() {
    let w = world();
    let html = w.s.path("report.html");
    let out = relink_usage(&w, "usage.csv", true, &["--html", html.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = w.s.text("report.html");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(page.matches("<svg").count(), 2, "one chart per event type");
    for banned in ["<script", "src=", "href=", "@import", "url("] {
        assert!(
            !page.contains(banned),
            "external or active content: {banned}"
        );
    }
    // Every released cell of the CSV is in the table, suppression included.
    let csv = stdout(&out);
    for line in csv.lines().skip(1) {
        let cells: Vec<String> = line
            .split(',')
            .map(|c| format!("<td class=\"num\">{c}</td>"))
            .collect();
        for c in &cells[2..] {
            assert!(page.contains(c.as_str()), "{c} missing from the HTML table");
        }
    }
    assert!(page.contains("<td class=\"num\">*</td>"));
    assert!(page.contains(SPEC_KEY_ID));
    assert!(page.contains(env!("CARGO_PKG_VERSION")));
    assert!(page.contains("excluded") || page.contains("left out"));
    // No token (64 hex characters) and no NHS number.
    let hex_run = page
        .as_bytes()
        .split(|b| !b.is_ascii_hexdigit())
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    assert!(hex_run < 64, "a token-like string is in the page");
    let secrets: Vec<&str> = w.numbers.iter().map(String::as_str).collect();
    assert_no_leak(&[page.as_bytes()], &secrets);
}

#[test]
fn several_group_by_columns() {
    let s = Scratch::new();
    let mut referrals = String::from("nhs_number,intervention_date,cohort,area\n");
    let mut usage = String::from("nhs_number,event_date,event_type\n");
    for i in 0..40u32 {
        let n = valid_from(450_000_000 + i * 997);
        let cohort = if i % 2 == 0 { "A" } else { "B" };
        let area = if i % 4 < 2 { "North" } else { "South" };
        referrals.push_str(&format!("{n},2024-06-01,{cohort},{area}\n"));
        usage.push_str(&format!(
            "{n},2024-03-01,AE\n{n},2024-07-01,AE\n{n},2024-08-01,AE\n"
        ));
    }
    s.write("referrals.csv", referrals);
    s.write("usage.csv", usage);
    let out = s.tokenise_to("referrals.csv", "tokens.csv", &["-q"]);
    assert!(out.status.success());
    let out = pl()
        .args([
            "relink",
            "--disclosure",
            "none",
            "--group-by",
            "cohort",
            "--group-by",
            "area",
            "--cohort",
        ])
        .arg(s.path("tokens.csv"))
        .arg("--usage")
        .arg(s.path("usage.csv"))
        .arg("--key")
        .arg(s.key())
        .args(["--data-start", "2023-01-01", "--data-end", "2025-12-31"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines[0].split(',').take(3).collect::<Vec<_>>(),
        ["cohort", "area", "event_type"]
    );
    assert!(
        lines[1].starts_with("A,North,AE,10,10,20,1.00,2.00,100.00,10,10,"),
        "{}",
        lines[1]
    );
    assert!(lines[4].starts_with("B,South,AE,10,10,20,"), "{}", lines[4]);
    assert!(
        lines[5].starts_with("Total,Total,AE,40,40,80,"),
        "{}",
        lines[5]
    );
    assert_eq!(lines.len(), 6);
}

/// A cohort without its manifest is refused (the key-id check is the guard
/// against a silent report of zeros), naming the file and the way out;
/// nothing is written. `--no-manifest` lets it through with a warning.
#[test]
fn a_cohort_without_a_manifest_is_refused_unless_no_manifest() {
    let w = world();
    std::fs::copy(w.s.path("tokens.csv"), w.s.path("bare.csv")).unwrap();
    let report = w.s.path("report.csv");
    let out = relink_cohort(
        &w,
        "bare.csv",
        &[
            "--output",
            report.to_str().unwrap(),
            "--data-start",
            "2023-01-01",
            "--data-end",
            "2025-12-31",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("bare.csv has no manifest beside it"), "{err}");
    assert!(err.contains("bare.csv.manifest.json"), "{err}");
    assert!(
        err.contains("hint:") && err.contains("--no-manifest"),
        "{err}"
    );
    assert!(!report.exists(), "nothing is written after the error");

    let out = relink_cohort(
        &w,
        "bare.csv",
        &[
            "--no-manifest",
            "--disclosure",
            "none",
            "--output",
            report.to_str().unwrap(),
            "--data-start",
            "2023-01-01",
            "--data-end",
            "2025-12-31",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot be checked (--no-manifest)"));
    assert_eq!(w.s.text("report.csv"), EXACT);
}

/// A tab-separated extract beside a comma-separated cohort: each input's
/// delimiter is set apart, and the report is the same as with commas.
#[test]
fn cohort_and_usage_delimiters_are_set_apart() {
    let w = world();
    let tabbed = w.s.text("usage.csv").replace(',', "\t");
    w.s.write("usage.tsv", &tabbed);
    let out = relink_usage(
        &w,
        "usage.tsv",
        true,
        &["--usage-delimiter", "tab", "--disclosure", "none"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), EXACT);

    // Without it, the extract's one column is not the NHS-number column,
    // and the error says which columns there are.
    let out = relink_usage(&w, "usage.tsv", true, &["--disclosure", "none"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nhs_number"), "{}", stderr(&out));

    // --delimiter sets both; --cohort-delimiter overrides it for the cohort.
    let out = relink_usage(
        &w,
        "usage.tsv",
        true,
        &[
            "--delimiter",
            "tab",
            "--cohort-delimiter",
            ",",
            "--disclosure",
            "none",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), EXACT);
}

/// The Python package's way in: the same files handed over as tables in
/// memory (`Source::Memory`) give the very bytes of the files' report and
/// costs, and computing without writing (`compute`) writes nothing at all.
#[test]
fn tables_in_memory_give_the_files_report_and_write_nothing() {
    use clap::Parser;
    use pseudolink::cli::{Cli, Command};
    use pseudolink::error::{InMemory, Source};
    use std::sync::Arc;

    let s = Scratch::new();
    s.synth(400, 6, 11);
    let o = s.tokenise_to("referrals.csv", "tokens.csv", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let costs = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/unit-costs.csv");
    let common = |out: bool| {
        let mut a: Vec<String> = ["pseudolink", "relink", "--quiet", "--cohort"]
            .map(String::from)
            .to_vec();
        a.push(s.path("tokens.csv").display().to_string());
        a.extend(["--usage".into(), s.path("usage.csv").display().to_string()]);
        a.extend(["--key".into(), s.key().display().to_string()]);
        a.extend(["--unit-costs".into(), costs.into()]);
        if out {
            a.extend([
                "--output".into(),
                s.path("report.csv").display().to_string(),
            ]);
            a.extend(["--costs".into(), s.path("costs.csv").display().to_string()]);
        }
        a
    };
    let o = pl().args(&common(true)[1..]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let before = s.files();

    let Command::Relink(r) = Cli::try_parse_from(common(false)).unwrap().command else {
        unreachable!()
    };
    let mut opts = r.options().unwrap();
    let memory = |name: &str, path: std::path::PathBuf| {
        let bytes: Arc<[u8]> = std::fs::read(path).unwrap().into();
        Source::Memory(InMemory {
            name: format!("the {name} table"),
            open: Arc::new(move || Box::new(std::io::Cursor::new(bytes.clone()))),
        })
    };
    opts.cohort = memory("cohort", s.path("tokens.csv"));
    opts.usage = memory("usage", s.path("usage.csv"));
    opts.unit_costs = Some(memory("unit_costs", costs.into()));
    let outcome = pseudolink::cmd::relink::compute(&opts, None).unwrap();
    let report = outcome.release.report.write_csv(Vec::new()).unwrap();
    assert_eq!(report, s.read("report.csv"));
    let costs_csv = outcome.release.costs.as_ref().unwrap();
    assert_eq!(
        costs_csv.write_csv(Vec::new()).unwrap(),
        s.read("costs.csv")
    );
    assert_eq!(s.files(), before, "nothing written");

    // An error in a table in memory names the table, the row and the column.
    let text = s.text("usage.csv");
    let last = text.lines().last().unwrap();
    let mut fields: Vec<&str> = last.split(',').collect();
    fields[1] = "2024-13-01";
    let bad = format!("{text}{}\n", fields.join(","));
    let bytes: Arc<[u8]> = bad.into_bytes().into();
    opts.usage = Source::Memory(InMemory {
        name: "the usage table".into(),
        open: Arc::new(move || Box::new(std::io::Cursor::new(bytes.clone()))),
    });
    let e = pseudolink::cmd::relink::compute(&opts, None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.starts_with("the usage table: row "), "{e}");
    assert!(e.contains("event_date") && !e.contains(fields[0]), "{e}");
}
