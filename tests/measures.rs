//! SPEC section 7, end to end from files: the change distribution,
//! `--within`, `--value-column`, `--unit-costs`, `--costs` and
//! `--service-cost`. Under `--disclosure none`, against figures worked out
//! independently by `tests/reference/measures.py` (plain Python for the
//! counts, sums and costs; `scipy.stats.wilcoxon` for every p-value);
//! under `hes`, worked by hand in the comments (section 6's secondary
//! suppression hides the whole fixture but its Total), and attacked by
//! tests/disclosure.rs.

mod common;

use common::*;

/// The fixture, exactly as in tests/reference/measures.py: ten people in
/// group G (first intervention 2024-07-01, windows 2024-01-01 to
/// 2024-12-31) and three in H (2024-05-15; 2023-11-15 to 2024-11-14).
const EVENTS: &[(&str, &str, &str, &str)] = &[
    ("G0", "2024-03-10", "AE", ""),
    ("G0", "2024-06-30", "AE", ""),
    ("G0", "2024-02-01", "NEL", "3.5"),
    ("G1", "2024-05-20", "AE", ""),
    ("G1", "2024-07-13", "AE", ""),
    ("G1", "2024-09-01", "NEL", "2"),
    ("G2", "2024-01-01", "AE", ""),
    ("G2", "2024-02-02", "AE", ""),
    ("G2", "2024-04-04", "AE", ""),
    ("G2", "2024-07-15", "AE", ""),
    ("G2", "2024-03-03", "NEL", "1"),
    ("G2", "2024-05-05", "NEL", "4"),
    ("G2", "2024-07-01", "NEL", "0.5"),
    ("G3", "2024-08-10", "AE", ""),
    ("G3", "2024-10-09", "AE", ""),
    ("G4", "2024-06-01", "AE", ""),
    ("G4", "2024-09-28", "AE", ""),
    ("G4", "2024-03-01", "NEL", "2.5"),
    ("G4", "2024-09-29", "NEL", "2.5"),
    ("G5", "2024-01-15", "AE", ""),
    ("G5", "2024-02-15", "AE", ""),
    ("G5", "2024-08-01", "AE", ""),
    ("G5", "2024-11-01", "AE", ""),
    ("G5", "2024-04-20", "NEL", "6"),
    ("G5", "2024-12-31", "NEL", "1"),
    ("G7", "2024-01-10", "AE", ""),
    ("G7", "2024-02-10", "AE", ""),
    ("G7", "2024-03-10", "AE", ""),
    ("G7", "2024-04-10", "AE", ""),
    ("G7", "2024-08-20", "AE", ""),
    ("G7", "2024-02-20", "NEL", "2"),
    ("G7", "2024-05-20", "NEL", "2"),
    ("G8", "2024-06-15", "AE", ""),
    ("G8", "2024-07-02", "AE", ""),
    ("G8", "2024-07-20", "AE", ""),
    ("G8", "2024-12-01", "AE", ""),
    ("G8", "2024-07-05", "NEL", "7"),
    ("G8", "2024-10-05", "NEL", ""),
    ("G9", "2024-02-29", "AE", ""),
    ("G9", "2024-05-31", "AE", ""),
    ("G9", "2024-06-06", "NEL", "1.25"),
    ("G0", "2023-12-31", "AE", ""),
    ("G1", "2025-01-01", "NEL", "9"),
    ("G6", "2022-06-01", "AE", ""),
    ("H0", "2024-01-01", "AE", ""),
    ("H0", "2024-03-03", "NEL", "5"),
    ("H1", "2024-05-18", "AE", ""),
    ("H1", "2024-06-04", "AE", ""),
    ("H2", "2023-12-01", "AE", ""),
    ("H2", "2024-04-01", "AE", ""),
    ("H2", "2024-08-23", "AE", ""),
    ("H2", "2024-09-01", "NEL", "3"),
];

const UNIT_COSTS: &str = "event_type,unit_cost\nAE,114\nNEL,1758.50\n";

/// The people's NHS numbers (England's range) by name.
fn number(person: &str) -> String {
    let k: u32 = person[1..].parse().unwrap();
    let base = if person.starts_with('G') {
        450_000_000
    } else {
        460_000_000
    };
    valid_from(base + k * 1000)
}

/// Writes the cohort (tokenised, with its manifest), the usage file (NHS
/// numbers, with a `los_days` column) and the unit costs.
fn fixture() -> Scratch {
    let s = Scratch::new();
    let mut referrals = String::from("nhs_number,intervention_date,cohort\n");
    for k in 0..10 {
        referrals.push_str(&format!("{},2024-07-01,G\n", number(&format!("G{k}"))));
    }
    for k in 0..3 {
        referrals.push_str(&format!("{},15/05/2024,H\n", number(&format!("H{k}"))));
    }
    s.write("referrals.csv", referrals);
    let out = s.tokenise_to("referrals.csv", "cohort.csv", &["-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut usage = String::from("nhs_number,event_date,event_type,los_days\n");
    for (who, date, ty, los) in EVENTS {
        usage.push_str(&format!("{},{date},{ty},{los}\n", number(who)));
    }
    s.write("usage.csv", usage);
    s.write("unit-costs.csv", UNIT_COSTS);
    s
}

/// `relink` on the fixture with every section 7 option, plus `extra`.
fn relink_all(s: &Scratch, extra: &[&str]) -> std::process::Output {
    let value: &[&str] = if extra.contains(&"--value-column") {
        &[]
    } else {
        &["--value-column", "los_days"]
    };
    pl().arg("relink")
        .arg("--cohort")
        .arg(s.path("cohort.csv"))
        .arg("--usage")
        .arg(s.path("usage.csv"))
        .arg("--key")
        .arg(s.key())
        .args(["--data-start", "2023-01-01", "--data-end", "2025-12-31"])
        .args(["--within", "14", "--within", "90"])
        .args(value)
        .arg("--unit-costs")
        .arg(s.path("unit-costs.csv"))
        .args(["--service-cost", "1171"])
        .args(extra)
        .output()
        .unwrap()
}

const REPORT_NONE: &str = "\
cohort,event_type,patients,pre_events,post_events,pre_per_patient,post_per_patient,change_pct,patients_with_pre_event,patients_with_post_event,p_value,patients_decreased,patients_unchanged,patients_increased,patients_within_14d,pct_within_14d,patients_within_90d,pct_within_90d,pre_value,post_value,value_change_pct,value_p_value
G,AE,10,16,11,1.60,1.10,-31.25,8,7,0.3173,4,4,2,2,20.00,7,70.00,0.0,0.0,,
G,NEL,10,8,6,0.80,0.60,-25.00,6,5,0.5887,4,4,2,2,20.00,3,30.00,22.3,13.0,-41.57,0.398
H,AE,3,3,3,1.00,1.00,0.00,2,2,1,2,0,1,1,33.33,1,33.33,0.0,0.0,,
H,NEL,3,1,1,0.33,0.33,0.00,1,1,1,1,1,1,0,0.00,0,0.00,5.0,3.0,-40.00,0.6547
Total,AE,13,19,14,1.46,1.08,-26.32,10,9,0.4627,6,4,3,3,23.08,8,61.54,0.0,0.0,,
Total,NEL,13,9,7,0.69,0.54,-22.22,7,6,0.6078,5,5,3,2,15.38,3,23.08,27.3,16.0,-41.28,0.3135
";

const REPORT_HES: &str = "\
cohort,event_type,patients,pre_events,post_events,pre_per_patient,post_per_patient,change_pct,patients_with_pre_event,patients_with_post_event,p_value,patients_decreased,patients_unchanged,patients_increased,patients_within_14d,pct_within_14d,patients_within_90d,pct_within_90d,pre_value,post_value,value_change_pct,value_p_value
G,AE,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*
G,NEL,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*
H,AE,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*
H,NEL,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*,*
Total,AE,15,20,15,1.33,1.00,-25.00,10,10,*,*,*,*,*,*,10,66.67,0.0,0.0,,*
Total,NEL,15,10,*,0.67,*,*,*,*,*,*,*,*,*,*,*,*,25.0,*,*,*
";

const COSTS_NONE: &str = "\
cohort,patients,pre_cost,post_cost,change_pct,saving_per_patient,p_value,service_cost_per_patient,return_per_pound
G,10,15892,11805,-25.72,408.70,0.3946,1171.00,0.35
H,3,2101,2101,0.00,0.00,1,1171.00,0.00
Total,13,17993,13906,-22.71,314.38,0.3847,1171.00,0.27
";

const COSTS_HES: &str = "\
cohort,patients,pre_cost,post_cost,change_pct,saving_per_patient,p_value,service_cost_per_patient,return_per_pound
G,*,*,*,*,*,*,1171.00,*
H,*,*,*,*,*,*,1171.00,*
Total,15,19865,*,*,*,*,1171.00,*
";

#[test]
fn every_new_figure_under_none_and_hes() {
    let s = fixture();
    for (mode, report, costs) in [
        ("none", REPORT_NONE, COSTS_NONE),
        ("hes", REPORT_HES, COSTS_HES),
    ] {
        let rep = s.path(&format!("report-{mode}.csv"));
        let cost = s.path(&format!("costs-{mode}.csv"));
        let out = relink_all(
            &s,
            &[
                "--disclosure",
                mode,
                "--output",
                rep.to_str().unwrap(),
                "--costs",
                cost.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        assert_eq!(
            std::fs::read_to_string(&rep).unwrap(),
            report,
            "report, {mode}"
        );
        assert_eq!(
            std::fs::read_to_string(&cost).unwrap(),
            costs,
            "costs, {mode}"
        );
    }
}

/// Figures worked by hand, as a second check on the reference script:
/// group G's AE post events fall on days 12 (G1), 14 (G2), 1 (G8), 40, 89,
/// 31 and 50 after the intervention, so 2 people are within 14 days (day
/// 14 itself is not) and 7 within 90 (day 89 is). G's NEL pre stays sum to
/// 3.5 + 1 + 4 + 2.5 + 6 + 2 + 2 + 1.25 = 22.25 bed days, shown as 22.3;
/// its post stays to 2 + 0.5 + 2.5 + 1 + 7 + 0 (an empty cell) = 13.
/// G's pre cost is 16 x 114 + 8 x 1758.50 = 15,892 and post 11 x 114 +
/// 6 x 1758.50 = 11,805: a saving of 408.70 a patient, 0.35 per pound of
/// a 1,171 service. Under hes, H's 3 people are withheld, and so is G
/// (Total minus G would give H): only Total is shown, its counts as 20 AE
/// and 10 NEL before, so its pre cost is 20 x 114 + 10 x 1758.50 = 19,865;
/// its post cost rests on 7 NEL events, so it is *.
#[test]
fn hand_worked_figures() {
    let g_ae = REPORT_NONE.lines().nth(1).unwrap();
    assert!(g_ae.starts_with("G,AE,10,16,11,"));
    assert!(g_ae.contains(",2,20.00,7,70.00,"), "{g_ae}");
    let g_nel = REPORT_NONE.lines().nth(2).unwrap();
    assert!(g_nel.contains(",22.3,13.0,"), "{g_nel}");
    assert!(COSTS_NONE.contains("G,10,15892,11805,-25.72,408.70,"));
    assert!(COSTS_NONE.contains(",1171.00,0.35\n"));
    assert!(COSTS_HES.contains("G,*,*,*,*,*,*,1171.00,*\n"));
    assert!(COSTS_HES.contains("Total,15,19865,*,*,*,*,1171.00,*\n"));
}

#[test]
fn the_people_file_gains_value_columns() {
    let s = fixture();
    let people = s.path("people.csv");
    let out = relink_all(
        &s,
        &["--disclosure", "none", "--people", people.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = s.text("people.csv");
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "token,cohort,intervention_date,AE_pre,AE_post,NEL_pre,NEL_post,AE_pre_value,AE_post_value,NEL_pre_value,NEL_post_value"
    );
    // G2: AE 3 and 1, NEL 2 (1 + 4 bed days) and 1 (0.5).
    let g2 = lines.find(|l| l.contains(",3,1,2,1,")).unwrap();
    assert!(g2.ends_with(",0.000,0.000,5.000,0.500"), "{g2}");
    assert_eq!(text.lines().count(), 14);
    assert_no_leak(&[text.as_bytes()], &[&number("G2")]);
}

#[test]
fn terminal_table_shows_the_new_figures() {
    let s = fixture();
    let out = relink_all(
        &s,
        &[
            "--disclosure",
            "none",
            "--output",
            s.path("r.csv").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for want in [
        "fell",
        "same",
        "rose",
        "% in 14d",
        "% in 90d",
        "pre value",
        "post value",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    // The costs table and the return per pound.
    assert!(err.contains("pre cost"), "{err}");
    assert!(err.contains("408.70"), "{err}");
}

fn expect_error(out: &std::process::Output, wants: &[&str]) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    let err = stderr(out);
    for w in wants {
        assert!(err.contains(w), "{w}: {err}");
    }
}

#[test]
fn bad_values_stop_the_run_naming_row_and_column_and_write_nothing() {
    let s = fixture();
    let good = s.text("usage.csv");
    for (bad, why) in [
        ("-2", "is negative"),
        ("two", "not a plain decimal"),
        ("NaN", "not a plain decimal"),
    ] {
        // Row 5 of the data is G1's first event.
        let mut lines: Vec<String> = good.lines().map(String::from).collect();
        assert!(lines[5].ends_with(",2024-07-13,AE,"), "{}", lines[5]);
        lines[5].push_str(bad);
        let text = lines.join("\n") + "\n";
        s.write("usage.csv", &text);
        let rep = s.path("report.csv");
        let cost = s.path("costs.csv");
        let out = relink_all(
            &s,
            &[
                "--output",
                rep.to_str().unwrap(),
                "--costs",
                cost.to_str().unwrap(),
            ],
        );
        expect_error(&out, &["row 5, column \"los_days\"", why]);
        assert!(
            !rep.exists() && !cost.exists(),
            "nothing written after {bad:?}"
        );
    }
    s.write("usage.csv", &good);

    // A unit cost missing for a type the usage file holds.
    s.write("unit-costs.csv", "event_type,unit_cost\nAE,114\n");
    expect_error(
        &relink_all(&s, &[]),
        &["no unit cost for the event type \"NEL\""],
    );
    // A duplicate type.
    s.write(
        "unit-costs.csv",
        "event_type,unit_cost\nAE,114\nNEL,1758.5\nAE,120\n",
    );
    expect_error(
        &relink_all(&s, &[]),
        &["rows 1 and 3 both give a unit cost for \"AE\""],
    );
    s.write("unit-costs.csv", UNIT_COSTS);

    // --within 0, and more days than the window holds.
    for days in ["0", "169"] {
        let out = relink_all(&s, &["--within", days]);
        expect_error(&out, &["--within", "DAYS must be from 1 to 168"]);
    }
    expect_error(
        &relink_all(&s, &["--within", "14"]),
        &["--within 14 is given twice"],
    );
    expect_error(
        &relink_all(&s, &["--service-cost", "0"]),
        &["--service-cost"],
    );
    // A value column that is not there is named, with the columns there are.
    expect_error(
        &relink_all(&s, &["--value-column", "bed_days"]),
        &["bed_days", "los_days"],
    );
    // --costs without --unit-costs is refused by the command line.
    let out = pl()
        .args([
            "relink", "--cohort", "c.csv", "--usage", "u.csv", "--costs", "x.csv",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--unit-costs"), "{}", stderr(&out));
}

/// Without the options, the report has section 6's columns and the change
/// distribution only, and no costs are made.
#[test]
fn without_the_options_nothing_else_appears() {
    let s = fixture();
    let out = pl()
        .arg("relink")
        .arg("--cohort")
        .arg(s.path("cohort.csv"))
        .arg("--usage")
        .arg(s.path("usage.csv"))
        .arg("--key")
        .arg(s.key())
        .args([
            "--data-start",
            "2023-01-01",
            "--data-end",
            "2025-12-31",
            "--disclosure",
            "none",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let want: String = REPORT_NONE
        .lines()
        .map(|l| l.split(',').take(14).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    assert_eq!(stdout(&out), want);
    assert!(!stderr(&out).contains("pre cost"));
}

#[test]
fn the_html_report_has_costs_and_the_change_in_words() {
    let s = fixture();
    let html = s.path("report.html");
    let out = relink_all(
        &s,
        &["--disclosure", "none", "--html", html.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let page = s.text("report.html");
    assert!(page.contains("<h2>Costs before and after</h2>"));
    assert!(
        page.contains("the events cost £17,993 before and £13,906 after: £314.38 less per patient"),
        "{page}"
    );
    // A before-and-after difference is never called a return.
    assert!(
        page.contains("A before-and-after difference is no return on it"),
        "{page}"
    );
    assert!(!page.contains("went with £0.27"), "{page}");
    // Total AE: 6 fell, 4 the same, 3 rose; 23.08% within 14 days.
    assert!(
        page.contains("Of 13 people, 6 people had fewer AE events after the intervention than before, 4 people the same number, and 3 people more."),
        "{page}"
    );
    assert!(page.contains("Within 14 days of it, 23.08% had at least one AE event."));
    assert!(!page.contains("<script") && !page.contains("src=\"http"));
    let tokens: Vec<String> = s
        .text("cohort.csv")
        .lines()
        .skip(1)
        .map(|l| l[..64].to_string())
        .collect();
    let mut secrets: Vec<String> = (0..10).map(|k| number(&format!("G{k}"))).collect();
    secrets.extend(tokens);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_leak(&[page.as_bytes()], &secrets);

    // Under hes, small numbers read in words and costs resting on them are withheld.
    let out = relink_all(&s, &["--html", html.to_str().unwrap(), "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = s.text("report.html");
    assert!(page.contains("fewer than 8 people"), "{page}");
    assert!(page.contains("rest on counts too small to show"), "{page}");
}
