//! Disclosure control under attack (docs/SPEC.md section 6, version 1.2).
//!
//! Every run here writes all a relink run can release (report, costs,
//! balance, HTML, disclosure log), then `tests/reference/adversary.py`, an
//! independent Python reviewer, tries to recover each withheld or rounded
//! count from those files alone: interval arithmetic over rounding, groups
//! against `Total`, fell + same + rose against people, the same count across
//! event types and files, and every derived value. The test fails if any
//! count is pinned more tightly than its rule allows. The adversary is
//! itself checked to catch leaks (a hand-made leaky table, and exact output).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Runs the adversary on a folder; returns (held, what it printed).
fn adversary(dir: &Path, unit_costs: Option<&Path>) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/adversary.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(dir);
    if let Some(u) = unit_costs {
        cmd.arg("--unit-costs").arg(u);
    }
    let out = cmd.output().expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A small deterministic generator (splitmix64), for hand-made cohorts.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A group of a hand-made cohort: its label(s), its size, and how its
/// members' use goes (mean events before and after).
struct Group {
    labels: Vec<&'static str>,
    people: usize,
    before: u64,
    after: u64,
}

/// Writes a tokenised cohort and usage for `groups` into `s` (tokens made
/// up: the cohort is passed with --no-manifest), in files `cohort.csv` and
/// `usage.csv`. Each person's events are drawn around the group's means,
/// with A&E (AE) and admissions (NEL) and a length of stay.
fn hand_made(s: &Scratch, groups: &[Group], seed: u64) {
    let mut rng = Rng(seed);
    let n_labels = groups[0].labels.len();
    let mut cohort = String::from("token,intervention_date");
    for k in 0..n_labels {
        cohort.push_str(&format!(",g{k}"));
    }
    cohort.push('\n');
    let mut usage = String::from("token,event_date,event_type,los_days\n");
    let mut id = 0u64;
    for g in groups {
        for _ in 0..g.people {
            id += 1;
            let token = format!("{:016x}{:048x}", rng.next(), id);
            let month = 1 + rng.below(12);
            cohort.push_str(&format!(
                "{token},2023-{month:02}-15,{}\n",
                g.labels.join(",")
            ));
            for (window, mean) in [(-1i64, g.before), (1, g.after)] {
                let n = if mean == 0 {
                    0
                } else {
                    rng.below(2 * mean + 1)
                };
                for _ in 0..n {
                    let offset = 1 + rng.below(150) as i64;
                    let day = if window < 0 { -offset } else { offset };
                    let date = jiff_date(2023, month as i8, 15, day);
                    let t = if rng.below(3) == 0 { "NEL" } else { "AE" };
                    let los = if t == "NEL" {
                        rng.below(9).to_string()
                    } else {
                        String::new()
                    };
                    usage.push_str(&format!("{token},{date},{t},{los}\n"));
                }
            }
        }
    }
    // Someone outside the cohort, so the usage file is an extract.
    usage.push_str(&format!("{},2023-06-01,AE,\n", "ab".repeat(32)));
    s.write("cohort.csv", cohort);
    s.write("usage.csv", usage);
}

/// A date `days` from year-month-15, as YYYY-MM-DD.
fn jiff_date(y: i16, m: i8, d: i8, days: i64) -> String {
    let base = jiff::civil::date(y, m, d);
    base.checked_add(jiff::Span::new().days(days))
        .unwrap()
        .to_string()
}

/// Runs relink on the hand-made files with everything released into `out`.
fn release_all(s: &Scratch, out: &str, group_by: &[&str], extra: &[&str]) -> std::process::Output {
    std::fs::create_dir_all(s.path(out)).unwrap();
    let p = |name: &str| s.path(&format!("{out}/{name}"));
    let mut args: Vec<String> = [
        "relink",
        "--cohort",
        s.path("cohort.csv").to_str().unwrap(),
        "--usage",
        s.path("usage.csv").to_str().unwrap(),
        "--no-manifest",
        "--usage-token-column",
        "token",
        "--data-start",
        "2022-01-01",
        "--data-end",
        "2024-12-31",
        "--value-column",
        "los_days",
        "--within",
        "14",
        "--within",
        "90",
        "--unit-costs",
        &unit_costs(),
        "--service-cost",
        "300",
        "-q",
    ]
    .map(String::from)
    .to_vec();
    for (flag, name) in [
        ("--output", "report.csv"),
        ("--costs", "costs.csv"),
        ("--html", "report.html"),
        ("--disclosure-log", "disclosure-log.csv"),
        ("--event-study", "event_study.csv"),
    ] {
        args.push(flag.into());
        args.push(p(name).to_string_lossy().into_owned());
    }
    for g in group_by {
        args.push("--group-by".into());
        args.push(g.to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    run(&args)
}

/// Seeds per layout: 6, or `PSEUDOLINK_DISCLOSURE_SEEDS` for a longer
/// sweep on demand.
fn seeds() -> u64 {
    std::env::var("PSEUDOLINK_DISCLOSURE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6)
}

fn unit_costs() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/unit-costs.csv")
        .to_string_lossy()
        .into_owned()
}

fn assert_holds(s: &Scratch, out: &str) {
    let (held, text) = adversary(&s.path(out), Some(Path::new(&unit_costs())));
    if !held && std::env::var_os("PSEUDOLINK_KEEP_FAILED").is_some() {
        let kept = std::env::temp_dir().join("pseudolink-failed");
        let _ = std::fs::remove_dir_all(&kept);
        let _ = Command::new("cp")
            .arg("-r")
            .arg(s.dir.path())
            .arg(&kept)
            .status();
    }
    assert!(held, "{text}\n{}", s.text(&format!("{out}/report.csv")));
}

fn big(label: &'static str, people: usize) -> Group {
    Group {
        labels: vec![label],
        people,
        before: 3,
        after: 2,
    }
}

fn tiny(label: &'static str, people: usize) -> Group {
    Group {
        labels: vec![label],
        people,
        before: 2,
        after: 1,
    }
}

#[test]
fn one_two_and_three_small_groups_hold_over_many_seeds() {
    let layouts: Vec<Vec<Group>> = vec![
        vec![big("A", 60), big("B", 45), tiny("C", 3)],
        vec![big("A", 80), tiny("B", 2), tiny("C", 6), big("D", 30)],
        vec![
            big("A", 50),
            tiny("B", 1),
            tiny("C", 5),
            tiny("D", 7),
            big("E", 12),
        ],
        vec![big("A", 9), tiny("B", 3)],
    ];
    for (n, layout) in layouts.iter().enumerate() {
        for seed in 0..seeds() {
            let s = Scratch::new();
            hand_made(&s, layout, 1000 * n as u64 + seed);
            let out = release_all(&s, "out", &["g0"], &[]);
            assert!(out.status.success(), "{}", stderr(&out));
            assert_holds(&s, "out");
            // A group under 8 is hidden whole.
            let report = s.text("out/report.csv");
            for line in report.lines().skip(1) {
                let cells: Vec<&str> = line.split(',').collect();
                if cells[2] == "*" {
                    assert!(cells[3..].iter().all(|c| *c == "*"), "{line}");
                }
            }
        }
    }
}

#[test]
fn a_group_whose_use_all_fell_reveals_nothing_more() {
    for seed in 0..seeds() {
        let s = Scratch::new();
        let fell = Group {
            labels: vec!["Fell"],
            people: 4,
            before: 6,
            after: 0,
        };
        hand_made(&s, &[big("A", 40), fell, big("B", 25)], seed);
        let out = release_all(&s, "out", &["g0"], &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_holds(&s, "out");
        let report = s.text("out/report.csv");
        for line in report.lines().filter(|l| l.starts_with("Fell,")) {
            // Not "0 unchanged, 0 rose" beside a hidden count.
            assert!(!line.contains(",0"), "{line}");
        }
    }
}

#[test]
fn crossed_group_by_holds() {
    let g = |a, b, people| Group {
        labels: vec![a, b],
        people,
        before: 3,
        after: 2,
    };
    for seed in 0..seeds() {
        let s = Scratch::new();
        let layout = [
            g("F", "40-54", 30),
            g("F", "55+", 4),
            g("M", "40-54", 22),
            g("M", "55+", 6),
            g("X", "55+", 15),
        ];
        hand_made(&s, &layout, 77 + seed);
        let out = release_all(&s, "out", &["g0", "g1"], &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_holds(&s, "out");
    }
}

#[test]
fn a_synth_rehearsal_holds() {
    let s = Scratch::new();
    s.synth(3000, 30000, 4);
    let tok = s.tokenise_to(
        "referrals.csv",
        "tokens.csv",
        &["--rejects", s.path("rej.csv").to_str().unwrap()],
    );
    assert!(
        tok.status.success() || tok.status.code() == Some(1),
        "{}",
        stderr(&tok)
    );
    std::fs::create_dir_all(s.path("out")).unwrap();
    let out = run(&[
        "relink",
        "--cohort",
        s.path("tokens.csv").to_str().unwrap(),
        "--usage",
        s.path("usage.csv").to_str().unwrap(),
        "--key",
        s.key().to_str().unwrap(),
        "--group-by",
        "cohort",
        "--within",
        "14",
        "--within",
        "90",
        "--value-column",
        "los_days",
        "--unit-costs",
        &unit_costs(),
        "--service-cost",
        "300",
        "--output",
        s.path("out/report.csv").to_str().unwrap(),
        "--costs",
        s.path("out/costs.csv").to_str().unwrap(),
        "--html",
        s.path("out/report.html").to_str().unwrap(),
        "--disclosure-log",
        s.path("out/disclosure-log.csv").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_holds(&s, "out");
    // The summary says what each rule withheld.
    assert!(
        stderr(&out).contains("disclosure (hes):"),
        "{}",
        stderr(&out)
    );
    // The log holds no values: four columns of names and rules.
    let log = s.text("out/disclosure-log.csv");
    assert!(log.starts_with("file,row,column,rule\n"), "{log}");
    for line in log.lines().skip(1) {
        let rule = line.rsplit(',').next().unwrap();
        assert!(
            [
                "primary",
                "secondary",
                "small_group",
                "test_withheld",
                "estimate_withheld"
            ]
            .contains(&rule),
            "{line}"
        );
    }
}

#[test]
fn a_comparison_group_release_holds() {
    let s = Scratch::new();
    let synth = run(&[
        "synth",
        "--population",
        "6000",
        "--people",
        "150",
        "--test-numbers",
        "--seed",
        "9",
        "--out",
        s.dir.path().to_str().unwrap(),
    ]);
    assert!(synth.status.success(), "{}", stderr(&synth));
    let tok = s.tokenise_to("referrals.csv", "tokens.csv", &[]);
    assert!(tok.status.success(), "{}", stderr(&tok));
    std::fs::create_dir_all(s.path("out")).unwrap();
    let out = run(&[
        "relink",
        "--cohort",
        s.path("tokens.csv").to_str().unwrap(),
        "--usage",
        s.path("usage.csv").to_str().unwrap(),
        "--key",
        s.key().to_str().unwrap(),
        "--population",
        s.path("population.csv").to_str().unwrap(),
        "--match-on",
        "age_band",
        "--match-on",
        "sex",
        "--group-by",
        "age_band",
        "--output",
        s.path("out/report.csv").to_str().unwrap(),
        "--balance",
        s.path("out/balance.csv").to_str().unwrap(),
        "--html",
        s.path("out/report.html").to_str().unwrap(),
        "--disclosure-log",
        s.path("out/disclosure-log.csv").to_str().unwrap(),
        "--event-study",
        s.path("out/event_study.csv").to_str().unwrap(),
        "--unit-costs",
        &unit_costs(),
        "--costs",
        s.path("out/costs.csv").to_str().unwrap(),
        "--service-cost",
        "300",
        "--end-date-column",
        "left_on",
        "--data-start",
        "2022-04-01",
        "--data-end",
        "2025-03-31",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_holds(&s, "out");
}

/// The adversary is not a test that cannot fail: a lone `*` whose value
/// the rounding of its neighbours narrows to 6 or 7 is caught, and so is a
/// derived value computed from an exact count, and exact output.
#[test]
fn the_adversary_catches_leaks() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.path("leaky")).unwrap();
    // A = 6 (withheld), B = 97 (shown 95), Total = 103 (shown 105):
    // A is 103 - 97 .. 107 - 93, so 6 or 7.
    s.write(
        "leaky/report.csv",
        "g,event_type,patients,pre_events,post_events,pre_per_patient\nA,AE,*,*,*,*\nB,AE,95,100,100,1.05\nTotal,AE,105,100,100,0.95\n",
    );
    s.write(
        "leaky/disclosure-log.csv",
        "file,row,column,rule\nreport,A / AE,patients,primary\nreport,A / AE,pre_events,small_group\nreport,A / AE,post_events,small_group\nreport,A / AE,pre_per_patient,small_group\n",
    );
    let (held, text) = adversary(&s.path("leaky"), None);
    assert!(!held, "{text}");
    // Fix the count but publish a mean from an exact count (100 / 97).
    s.write(
        "leaky/report.csv",
        "g,event_type,patients,pre_events,post_events,pre_per_patient\nA,AE,*,*,*,*\nB,AE,95,100,100,1.03\nTotal,AE,105,100,100,0.95\n",
    );
    let (held, text) = adversary(&s.path("leaky"), None);
    assert!(
        !held && text.contains("not computed from the shown counts"),
        "{text}"
    );
    // Exact output is caught at once.
    hand_made(&s, &[big("A", 30), tiny("B", 3)], 5);
    let out = release_all(&s, "exact", &["g0"], &["--disclosure", "none"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (held, text) = adversary(&s.path("exact"), None);
    assert!(!held, "{text}");
}

#[test]
fn identifiers_never_become_labels() {
    let s = Scratch::new();
    s.synth(200, 2000, 2);
    let tok = s.tokenise_to(
        "referrals.csv",
        "tokens.csv",
        &["--rejects", s.path("rej.csv").to_str().unwrap()],
    );
    assert!(tok.status.success() || tok.status.code() == Some(1));
    let base = |extra: &[&str]| {
        let mut args = vec![
            "relink".to_string(),
            "--cohort".into(),
            s.path("tokens.csv").to_string_lossy().into_owned(),
            "--usage".into(),
            s.path("usage.csv").to_string_lossy().into_owned(),
            "--key".into(),
            s.key().to_string_lossy().into_owned(),
            "--output".into(),
            s.path("r.csv").to_string_lossy().into_owned(),
            "--force".into(),
        ];
        args.extend(extra.iter().map(|x| x.to_string()));
        run(&args)
    };
    // NHS numbers as event types.
    let out = base(&["--event-type-column", "nhs_number"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("\"nhs_number\"") && err.contains("--event-type-column"),
        "{err}"
    );
    assert!(!has_ten_digits(&err), "{err}");
    // Tokens as groups.
    let out = base(&["--group-by", "token"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("\"token\"") && stderr(&out).contains("--group-by"));
    assert!(!s.exists("r.csv"));
    // And the usage file's own tokens (tokenised usage) likewise.
}

/// True when a text holds a run of ten or more digits.
fn has_ten_digits(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 10 {
            return true;
        }
    }
    false
}

#[test]
fn the_people_file_warns_even_when_quiet() {
    let s = Scratch::new();
    hand_made(&s, &[big("A", 20)], 3);
    std::fs::create_dir_all(s.path("out")).unwrap();
    let out = release_all(
        &s,
        "out",
        &["g0"],
        &["--people", s.path("out/people.csv").to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("record-level") && err.contains("never for release"),
        "{err}"
    );
}
