//! SPEC section 8, end to end: a synthetic population in which referral
//! follows peaks of use (`synth --population`), so that a naive
//! before-and-after comparison shows a fall even where the service does
//! nothing, and the matched comparison group must find the truth that
//! synth prints.

mod common;

use common::*;

/// The Total row's cells by column name.
fn total_row(report: &str, event_type: &str) -> std::collections::HashMap<String, String> {
    let mut lines = report.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let row = lines
        .find(|l| l.starts_with(&format!("Total,{event_type},")))
        .unwrap_or_else(|| panic!("no Total {event_type} row in {report}"));
    header
        .into_iter()
        .zip(row.split(',').map(String::from))
        .collect()
}

fn num(row: &std::collections::HashMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = {:?}", row[col]))
}

/// Runs synth with a population and returns the printed true effect per
/// referred person on AE and NEL.
fn simulate(s: &Scratch, effect: &str, seed: &str) -> (f64, f64) {
    let out = pl()
        .args([
            "synth",
            "--population",
            "40000",
            "--people",
            "800",
            "--events",
            "150000",
        ])
        .args(["--seed", seed, "--effect", effect, "--out"])
        .arg(s.path("sim"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let truth = |t: &str| -> f64 {
        let line = err
            .lines()
            .find(|l| l.starts_with(&format!("true effect on {t} per referred person: ")))
            .unwrap_or_else(|| panic!("{err}"));
        line.split(": ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let tok = pl()
        .args(["tokenise", "-q", "--key"])
        .arg(s.key())
        .arg(s.path("sim/referrals.csv"))
        .arg("--output")
        .arg(s.path("sim/tokens.csv"))
        .output()
        .unwrap();
    assert!(tok.status.success(), "{}", stderr(&tok));
    (truth("AE"), truth("NEL"))
}

fn compare(s: &Scratch, extra: &[&str]) -> std::process::Output {
    pl().arg("relink")
        .arg("--cohort")
        .arg(s.path("sim/tokens.csv"))
        .arg("--usage")
        .arg(s.path("sim/usage.csv"))
        .arg("--population")
        .arg(s.path("sim/population.csv"))
        .arg("--key")
        .arg(s.key())
        .args(["--match-on", "age_band", "--match-on", "sex"])
        .args(["--data-start", "2022-04-01", "--data-end", "2025-03-31"])
        .args(["--end-date-column", "left_on"])
        .args(extra)
        .output()
        .unwrap()
}

/// With no effect, the naive change is a clear fall (regression to the
/// mean), while the difference-in-differences interval covers 0, and the
/// matched controls are balanced on every pre-window count.
#[test]
fn with_no_effect_the_naive_fall_is_large_and_the_did_covers_zero() {
    let s = Scratch::new();
    let (ae, nel) = simulate(&s, "0", "1");
    assert_eq!((ae, nel), (0.0, 0.0));
    let balance = s.path("balance.csv");
    let out = compare(
        &s,
        &[
            "--disclosure",
            "none",
            "--balance",
            balance.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    for t in ["AE", "NEL"] {
        let row = total_row(&report, t);
        assert!(
            num(&row, "change_pct") < -25.0,
            "{t}: naive change {}",
            row["change_pct"]
        );
        let (lo, hi) = (num(&row, "did_ci_low"), num(&row, "did_ci_high"));
        assert!(lo <= 0.0 && 0.0 <= hi, "{t}: DiD interval {lo} to {hi}");
        assert_eq!(
            row["controls"],
            (3 * num(&row, "matched_cases") as u64).to_string(),
            "3 controls each"
        );
    }
    let table = s.text("balance.csv");
    let mut lines = table.lines();
    assert_eq!(lines.next(), Some("measure,cases,smd_before,smd_after"));
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let (before, after): (f64, f64) = (f[2].parse().unwrap(), f[3].parse().unwrap());
        // The referred used more before matching, most in the pre window
        // that referral follows, less so in the prior window.
        let floor = if f[0].ends_with("_pre") { 0.3 } else { 0.1 };
        assert!(
            before > floor,
            "{line}: the referred differ from the population before matching"
        );
        assert!(after.abs() <= 0.1, "{line}: balanced after matching");
    }
    assert!(stderr(&out).contains("unmatched: 0"), "{}", stderr(&out));
}

/// The small fixed version of bench/validate_comparison.py (whose full
/// table is docs/validation.md): over eight populations with no effect and
/// eight with a 25% effect, the estimate's mean error against the truth
/// synth knows (each referred person's counterfactual) must lie within 3
/// standard errors of that mean (plus 0.005 for the report's rounding).
/// An unbiased estimator fails this about 1 time in 300; controls drawn
/// without regard to prior use (a regression-to-the-mean error of about
/// -0.4 A&E events a person) fail it every time. Coverage is judged by the
/// study, over many seeds, not here.
#[test]
fn the_estimate_is_unbiased_across_populations() {
    for effect in ["0", "25"] {
        let mut errors = [Vec::new(), Vec::new()];
        for seed in 1..=8 {
            let s = Scratch::new();
            let (ae, nel) = simulate(&s, effect, &seed.to_string());
            if effect == "25" {
                assert!(ae < -0.1 && nel < -0.03, "the effect is real: {ae}, {nel}");
            }
            let out = compare(&s, &["--disclosure", "none"]);
            assert!(out.status.success(), "{}", stderr(&out));
            let report = stdout(&out);
            for (k, (t, truth)) in [("AE", ae), ("NEL", nel)].into_iter().enumerate() {
                let row = total_row(&report, t);
                errors[k].push(num(&row, "did_per_patient") - truth);
            }
        }
        for (t, e) in ["AE", "NEL"].iter().zip(&errors) {
            let n = e.len() as f64;
            let mean = e.iter().sum::<f64>() / n;
            let sd = (e.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
            let bound = 3.0 * sd / n.sqrt() + 0.005;
            assert!(
                mean.abs() <= bound,
                "effect {effect}, {t}: mean error {mean:.4} beyond {bound:.4} over {e:?}"
            );
        }
    }
}

/// The same seed and input give the same controls whatever the thread
/// count; the HTML page shows the comparison and holds no identifier.
#[test]
fn matching_is_deterministic_and_reported() {
    let s = Scratch::new();
    simulate(&s, "0", "5");
    let one = compare(
        &s,
        &["--disclosure", "none", "--threads", "1", "--seed", "9"],
    );
    let two = compare(
        &s,
        &["--disclosure", "none", "--threads", "2", "--seed", "9"],
    );
    assert!(one.status.success() && two.status.success());
    assert_eq!(stdout(&one), stdout(&two));
    let html = s.path("report.html");
    let out = compare(&s, &["--html", html.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = s.text("report.html");
    assert!(page.contains("<h2>Against a matched comparison group</h2>"));
    assert!(
        page.contains("compared with the matched people"),
        "the estimate in words"
    );
    assert!(
        page.contains("It assumes that the matched people show"),
        "what it assumes"
    );
    assert!(page.contains("Balance, AE in the 6 months before referral."));
    assert!(page.contains("Balance, AE in the 6 months before those."));
    assert!(page.contains("<h2>Month by month</h2>") || !page.contains("event_study"));
    let population = s.text("sim/population.csv");
    let numbers: Vec<&str> = population
        .lines()
        .skip(1)
        .take(500)
        .map(|l| &l[..10])
        .collect();
    assert_no_leak(&[page.as_bytes(), &out.stdout, &out.stderr], &numbers);
}

/// Under hes, every comparison count follows the rule (1–7 as *, others
/// to the nearest 5) and derived values resting on a small count are *.
#[test]
fn comparison_figures_follow_the_disclosure_rule() {
    let s = Scratch::new();
    simulate(&s, "0", "3");
    let groups = ["--group-by", "practice", "--group-by", "sex"];
    let mut args = vec!["--disclosure", "none"];
    args.extend(groups);
    let exact = stdout(&compare(&s, &args));
    let hes = stdout(&compare(&s, &groups));
    let counts = ["controls", "control_pre_events", "control_post_events"];
    let header: Vec<&str> = exact.lines().next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut saw_small = false;
    for (e, h) in exact.lines().skip(1).zip(hes.lines().skip(1)) {
        let e: Vec<&str> = e.split(',').collect();
        let h: Vec<&str> = h.split(',').collect();
        // Every count is withheld or rounded to 5: never another number,
        // and never shown from 1 to 7 (section 6, rules 1 and 3).
        for c in counts.iter().chain(&["matched_cases"]) {
            let v: u64 = e[at(c)].parse().unwrap();
            if (1..=7).contains(&v) {
                assert_eq!(h[at(c)], "*", "{c} of {e:?}");
                saw_small = true;
            } else if h[at(c)] != "*" {
                assert_eq!(h[at(c)], ((v + 2) / 5 * 5).to_string(), "{c} of {e:?}");
            }
        }
        // Per-patient figures come from the shown counts (rule 2).
        for (mean, events) in [
            ("control_pre_per_patient", "control_pre_events"),
            ("control_post_per_patient", "control_post_events"),
        ] {
            match (h[at(events)], h[at("controls")]) {
                ("*", _) | (_, "*") => assert_eq!(h[at(mean)], "*"),
                (a, b) => {
                    let want = format!(
                        "{:.2}",
                        a.parse::<f64>().unwrap() / b.parse::<f64>().unwrap()
                    );
                    assert_eq!(h[at(mean)], want, "{mean} of {h:?}");
                }
            }
        }
        // Estimates only on 8 or more matched cases, else withheld (rule 5);
        // when shown, the estimate itself is exact.
        let cases: u64 = e[at("matched_cases")].parse().unwrap();
        for (c, min) in [
            ("did_per_patient", 8),
            ("did_ci_low", 10),
            ("did_ci_high", 10),
        ] {
            if cases < min || h[at("matched_cases")] == "*" {
                assert_eq!(h[at(c)], "*", "{c} on {cases} matched cases: {h:?}");
            } else {
                assert_eq!(h[at(c)], e[at(c)], "{c}");
            }
        }
    }
    assert!(saw_small, "the fixture has small cells to check");
}

#[test]
fn bad_input_is_named() {
    let s = Scratch::new();
    simulate(&s, "0", "3");
    // A --match-on column missing from the population file.
    let pop = s
        .text("sim/population.csv")
        .replace("deprivation_decile", "imd");
    s.write("sim/population.csv", &pop);
    let out = compare(&s, &["--match-on", "deprivation_decile"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("population.csv") && stderr(&out).contains("deprivation_decile"),
        "{}",
        stderr(&out)
    );
    // Missing from the cohort.
    let out = compare(&s, &["--match-on", "imd"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("tokens.csv") && stderr(&out).contains("imd"),
        "{}",
        stderr(&out)
    );

    // A tokenised population made under another key is refused.
    s.write("other.key", "ab".repeat(32));
    s.private("other.key");
    let tok = pl()
        .args(["tokenise", "-q", "--key"])
        .arg(s.path("other.key"))
        .arg(s.path("sim/population.csv"))
        .arg("--output")
        .arg(s.path("sim/pop-tokens.csv"))
        .output()
        .unwrap();
    assert!(tok.status.success(), "{}", stderr(&tok));
    let out = pl()
        .arg("relink")
        .arg("--cohort")
        .arg(s.path("sim/tokens.csv"))
        .arg("--usage")
        .arg(s.path("sim/usage.csv"))
        .arg("--key")
        .arg(s.key())
        .arg("--population")
        .arg(s.path("sim/pop-tokens.csv"))
        .args(["--population-token-column", "token", "--match-on", "sex"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("key id mismatch") && stderr(&out).contains("population"),
        "{}",
        stderr(&out)
    );
}

/// A case with no possible control is counted as unmatched, in the summary
/// and the HTML, and stays in the main report; a stratum with nobody in the
/// population is not an error.
#[test]
fn cases_without_controls_are_counted_not_dropped() {
    let s = Scratch::new();
    simulate(&s, "0", "3");
    // Take everyone aged 75+ out of the population but the referred.
    let referred: std::collections::HashSet<String> = s
        .text("sim/referrals.csv")
        .lines()
        .skip(1)
        .map(|l| l[..10].to_string())
        .collect();
    let pop: String = s
        .text("sim/population.csv")
        .lines()
        .filter(|l| !l.contains(",75+,") || referred.contains(&l[..10]))
        .map(|l| format!("{l}\n"))
        .collect();
    s.write("sim/population.csv", &pop);
    let html = s.path("r.html");
    let out = compare(
        &s,
        &["--disclosure", "none", "--html", html.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let unmatched: u64 = err
        .split("unmatched: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(unmatched > 0, "{err}");
    assert!(s.text("r.html").contains("without a possible control"));
    // The main report keeps everyone but those who left the list before
    // their post window ended (counted apart).
    let row = total_row(&stdout(&out), "AE");
    let patients = num(&row, "patients");
    let left: f64 = err
        .split("left_before_window_end: ")
        .nth(1)
        .and_then(|x| x.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(left > 0.0, "synth writes end dates: {err}");
    assert_eq!(patients + left, referred.len() as f64);
}

/// Who may be a control, by hand (the risk set, SPEC section 8): A is
/// referred on 2023-01-01 (post window to 2023-06-30) and B on a later or
/// the same date. B may serve as A's control when not yet referred on A's
/// date, even if referred within A's post window; A, referred before B,
/// never serves for B. C, never referred, may serve for both (controls are
/// taken with replacement), unless C left the list (`--end-date-column`)
/// before the case's post window ends.
#[test]
fn who_may_be_a_control() {
    let (a, b, c) = (
        valid_from(450_000_000),
        valid_from(450_100_000),
        valid_from(450_200_000),
    );
    for (b_date, c_row, a_gets, b_gets) in [
        // B referred within A's post window: A takes B or C, B takes C.
        ("2023-05-01", Some(""), "1", "1"),
        // Without C, A takes B; B has nobody.
        ("2023-05-01", None, "1", "0"),
        // Referred the same day: neither serves for the other.
        ("2023-01-01", None, "0", "0"),
        // C left on 2023-03-01, before either post window ends.
        ("2023-01-01", Some("2023-03-01"), "0", "0"),
        // C leaves on 2024-06-01, after both post windows end.
        ("2023-05-01", Some("2024-06-01"), "1", "1"),
    ] {
        let s = Scratch::new();
        s.write(
            "referrals.csv",
            format!(
                "nhs_number,intervention_date,cohort,sex,left_on\n{a},2023-01-01,A,F,\n{b},{b_date},B,F,\n"
            ),
        );
        let out = s.tokenise_to("referrals.csv", "tokens.csv", &["-q"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let c_line = c_row
            .map(|end| format!("{c},F,{end}\n"))
            .unwrap_or_default();
        s.write(
            "population.csv",
            format!("nhs_number,sex,left_on\n{a},F,\n{b},F,\n{c_line}"),
        );
        s.write(
            "usage.csv",
            format!("nhs_number,event_date,event_type\n{c},2022-01-01,AE\n{c},2024-06-01,AE\n"),
        );
        let out = pl()
            .arg("relink")
            .arg("--cohort")
            .arg(s.path("tokens.csv"))
            .arg("--usage")
            .arg(s.path("usage.csv"))
            .arg("--population")
            .arg(s.path("population.csv"))
            .arg("--key")
            .arg(s.key())
            .args([
                "--match-on",
                "sex",
                "--controls",
                "1",
                "--end-date-column",
                "left_on",
                "--disclosure",
                "none",
                // Only C has events: the cohort never appears in the usage.
                "--allow-no-matches",
            ])
            .args(["--data-start", "2022-01-01", "--data-end", "2024-12-31"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let report = stdout(&out);
        let header: Vec<&str> = report.lines().next().unwrap().split(',').collect();
        let at = header.iter().position(|h| *h == "controls").unwrap();
        let controls = |group: &str| {
            report
                .lines()
                .find(|l| l.starts_with(&format!("{group},AE,")))
                .unwrap()
                .split(',')
                .nth(at)
                .unwrap()
                .to_string()
        };
        let case = format!("{b_date}, C {c_row:?}: {report}");
        assert_eq!(controls("A"), a_gets, "{case}");
        assert_eq!(controls("B"), b_gets, "{case}");
        let unmatched = 2 - [a_gets, b_gets].iter().filter(|g| **g == "1").count();
        assert!(
            stderr(&out).contains(&format!("unmatched: {unmatched}")),
            "{}",
            stderr(&out)
        );
    }
}

/// People who die or leave the list before their post window ends are
/// left out of the report and counted.
#[test]
fn people_who_leave_are_left_out_and_counted() {
    let (a, b) = (valid_from(451_000_000), valid_from(451_100_000));
    let s = Scratch::new();
    s.write(
        "referrals.csv",
        format!("nhs_number,intervention_date,cohort,died\n{a},2023-01-01,A,2023-04-01\n{b},2023-01-01,A,\n"),
    );
    let out = s.tokenise_to("referrals.csv", "tokens.csv", &["-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    s.write(
        "usage.csv",
        format!("nhs_number,event_date,event_type\n{a},2022-10-01,AE\n{b},2022-10-01,AE\n"),
    );
    let out = pl()
        .arg("relink")
        .arg("--cohort")
        .arg(s.path("tokens.csv"))
        .arg("--usage")
        .arg(s.path("usage.csv"))
        .arg("--key")
        .arg(s.key())
        .args(["--end-date-column", "died", "--disclosure", "none"])
        .args(["--data-start", "2022-01-01", "--data-end", "2024-12-31"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Total,AE,1,1,0,"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("left_before_window_end: 1"),
        "{}",
        stderr(&out)
    );
    // A date that is not a date names the row and column.
    s.write(
        "referrals.csv",
        format!("nhs_number,intervention_date,cohort,died\n{a},2023-01-01,A,soon\n"),
    );
    let out = s.tokenise_to("referrals.csv", "tokens.csv", &["-q", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = pl()
        .arg("relink")
        .arg("--cohort")
        .arg(s.path("tokens.csv"))
        .arg("--usage")
        .arg(s.path("usage.csv"))
        .arg("--key")
        .arg(s.key())
        .args(["--end-date-column", "died"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("row 1, column \"died\""),
        "{}",
        stderr(&out)
    );
}
