//! Hostile input, leak-proofing and crash safety, through the binary.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Planted identifiers: synthetic valid numbers that must never appear in
/// any message or ICB-side file.
fn planted() -> Vec<String> {
    (0..4).map(|i| valid_from(812_345_000 + i * 101)).collect()
}

/// Every subcommand through every error path: exit 2 (never a panic's
/// 101), and no planted NHS number or key text in stdout, stderr or any
/// file written other than the provider's rejects file.
#[test]
fn no_error_path_leaks_an_identifier_or_the_key() {
    let s = Scratch::new();
    let n = planted();
    let key = s.key();
    let k = key.to_str().unwrap();
    let p = |name: &str| s.path(name).to_str().unwrap().to_string();

    s.write(
        "ragged.csv",
        format!("nhs_number,x\n{},a\n{},b,c\n", n[0], n[1]),
    );
    s.write(
        "unclosed.csv",
        format!("nhs_number,x\n{},\"a\n{},b\n", n[0], n[1]),
    );
    s.write(
        "afterquote.csv",
        format!("nhs_number,x\n\"{}\"{},a\n", n[0], n[1]),
    );
    s.write("nocol.csv", format!("id,x\n{},a\n", n[0]));
    s.write(
        "twocols.csv",
        format!("nhs_number,NHS No\n{},{}\n", n[0], n[1]),
    );
    s.write("badheader.csv", b"nhs_number,\xff\n1,2\n");
    s.write("empty.csv", "");
    s.write(
        "good.csv",
        format!(
            "nhs_number,intervention_date,cohort\n{},2024-01-01,A\n{},2024-02-01,B\n",
            n[0], n[1]
        ),
    );
    s.write(
        "cohort-raw.csv",
        format!("token,intervention_date,cohort\n{},2024-01-01,A\n", n[2]),
    );
    s.write(
        "usage.csv",
        format!(
            "nhs_number,event_date,event_type\n{},2024-03-01,AE\n{},{},AE\n",
            n[0], n[1], n[3]
        ),
    );
    s.write(
        "usage-baddate.csv",
        format!(
            "nhs_number,event_date,event_type\n{},2024-03-01,AE\n{},{},AE\n",
            n[0], n[1], n[3]
        ),
    );
    // Key files: the SPEC key with one character broken, two key lines, short.
    let broken = format!("{}x{}", &SPEC_KEY[..20], &SPEC_KEY[21..]);
    s.write("broken.key", &broken);
    s.write("twokeys.key", format!("{SPEC_KEY}\n{SPEC_KEY}\n"));
    s.write("short.key", &SPEC_KEY[..48]);
    for f in ["broken.key", "twokeys.key", "short.key"] {
        s.private(f);
    }
    s.write("other.key", format!("{}\n", "cd".repeat(32)));
    s.private("other.key");
    // A cohort tokenised under another key, for the key-id mismatch.
    let ok = run(&[
        "tokenise",
        "-q",
        "--key",
        &p("other.key"),
        &p("good.csv"),
        "--output",
        &p("other-tokens.csv"),
    ]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let ok = run(&[
        "tokenise",
        "-q",
        "--key",
        k,
        &p("good.csv"),
        "--output",
        &p("tokens.csv"),
    ]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    s.write("corrupt.csv", s.read("tokens.csv"));
    s.write("corrupt.csv.manifest.json", "{ not json");
    s.write("exists.csv", "precious");

    let relink_case = |cohort: &str, usage: &str, key: Option<&str>, extra: &[&str]| {
        let mut args: Vec<String> = ["relink", "--cohort", cohort, "--usage", usage]
            .map(String::from)
            .to_vec();
        if let Some(key) = key {
            args.extend(["--key".to_string(), key.to_string()]);
        }
        args.extend(extra.iter().map(|e| e.to_string()));
        args
    };
    let cases: Vec<Vec<String>> = vec![
        vec!["validate".into(), p("ragged.csv")],
        vec!["validate".into(), p("unclosed.csv")],
        vec!["validate".into(), p("afterquote.csv")],
        vec!["validate".into(), p("nocol.csv")],
        vec!["validate".into(), p("twocols.csv")],
        vec!["validate".into(), p("badheader.csv")],
        vec!["validate".into(), p("empty.csv")],
        vec![
            "validate".into(),
            p("good.csv"),
            "--column".into(),
            "nhs nmber".into(),
        ],
        vec!["validate".into(), p("missing.csv")],
        vec![
            "tokenise".into(),
            "--key".into(),
            p("broken.key"),
            p("good.csv"),
        ],
        vec![
            "tokenise".into(),
            "--key".into(),
            p("twokeys.key"),
            p("good.csv"),
        ],
        vec![
            "tokenise".into(),
            "--key".into(),
            p("short.key"),
            p("good.csv"),
        ],
        vec![
            "tokenise".into(),
            "--key".into(),
            k.into(),
            p("ragged.csv"),
            "--output".into(),
            p("out1.csv"),
        ],
        vec![
            "tokenise".into(),
            "--key".into(),
            k.into(),
            p("good.csv"),
            "--output".into(),
            p("exists.csv"),
        ],
        vec![
            "tokenise".into(),
            "--key".into(),
            k.into(),
            p("good.csv"),
            "--output".into(),
            p("no/such/dir/out.csv"),
        ],
        vec![
            "tokenise".into(),
            "--key".into(),
            k.into(),
            p("good.csv"),
            "--delimiter".into(),
            "\"".into(),
        ],
        vec!["key-id".into(), "--key".into(), p("broken.key")],
        vec!["keygen".into(), "--output".into(), k.into()],
        relink_case(&p("other-tokens.csv"), &p("usage.csv"), Some(k), &[]),
        relink_case(&p("cohort-raw.csv"), &p("usage.csv"), Some(k), &[]),
        relink_case(&p("tokens.csv"), &p("usage-baddate.csv"), Some(k), &[]),
        relink_case(
            &p("tokens.csv"),
            &p("usage.csv"),
            Some(k),
            &["--group-by", "nope"],
        ),
        relink_case(&p("corrupt.csv"), &p("usage.csv"), Some(k), &[]),
        relink_case(&p("tokens.csv"), &p("usage.csv"), None, &[]),
        relink_case(
            &p("tokens.csv"),
            &p("usage.csv"),
            Some(&p("broken.key")),
            &[],
        ),
    ];
    let mut secrets: Vec<String> = n.clone();
    secrets.push(SPEC_KEY.to_string());
    for start in (0..SPEC_KEY.len() - 16).step_by(8) {
        secrets.push(SPEC_KEY[start..start + 16].to_string());
    }
    secrets.push(broken[..16].to_string());
    secrets.push("cdcdcdcdcdcdcdcd".to_string());
    let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    for args in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with("error: ") || err.contains("\nerror: "),
            "{args:?}: {err}"
        );
        assert!(!err.contains("internal error"), "{args:?}: {err}");
        assert_no_leak(&[&out.stdout, &out.stderr], &secret_refs);
    }
    // Files on disk: only the inputs, the two token files and manifests.
    assert_eq!(s.text("exists.csv"), "precious");
    for f in s.files() {
        if f.ends_with("tokens.csv") || f.ends_with(".manifest.json") {
            assert_no_leak(&[&s.read(&f)], &secret_refs);
        }
        assert!(!f.contains("pseudolink-partial"), "left behind: {f}");
        assert_ne!(f, "out1.csv");
    }
    // The date cell held an NHS number: the message names the row and
    // withholds the value.
    let out = run(&[
        "relink",
        "--cohort",
        &p("tokens.csv"),
        "--usage",
        &p("usage-baddate.csv"),
        "--key",
        k,
    ]);
    assert!(
        stderr(&out).contains("row 2, column \"event_date\": the value (withheld"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn hostile_csv_shapes() {
    let s = Scratch::new();
    let n = valid_from(640_000_000);
    // Lone CR line endings, a 1 MB field, a quoted field with everything.
    let big = "x".repeat(1 << 20);
    s.write(
        "odd.csv",
        format!("nhs_number,note\r{n},\"{big}\"\r{n},\"a,\"\"b\"\"\nc\"\r"),
    );
    let out = run(&[
        "tokenise",
        "--key",
        s.key().to_str().unwrap(),
        s.path("odd.csv").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("token,note\r"));
    assert!(text.contains(&big));
    assert!(text.ends_with(",\"a,\"\"b\"\"\nc\"\r"));

    // 10,000 columns, the NHS number in the last.
    let mut header: Vec<String> = (0..9_999).map(|i| format!("c{i}")).collect();
    header.push("nhs_number".into());
    let mut row: Vec<String> = (0..9_999).map(|i| i.to_string()).collect();
    row.push(n.clone());
    s.write(
        "wide.csv",
        format!("{}\n{}\n", header.join(","), row.join(",")),
    );
    let out = run(&["validate", s.path("wide.csv").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Non-UTF-8 in the NHS column is invalid_character, and the rejects
    // file keeps the bytes as they were.
    s.write("latin1.csv", b"nhs_number\n9434765919\n94347\xe959\n");
    let out = run(&[
        "validate",
        s.path("latin1.csv").to_str().unwrap(),
        "--rejects",
        s.path("rej.csv").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        s.read("rej.csv"),
        b"row,reason,raw_value (unescaped: may hold formulas)\n2,invalid_character,94347\xe959\n"
    );

    // Header only, with and without a final newline; no newline at the end of data.
    s.write("h.csv", "nhs_number");
    let out = run(&["validate", s.path("h.csv").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("rows read: 0"));
    s.write("nonl.csv", format!("nhs_number\n{n}"));
    let out = run(&[
        "tokenise",
        "--key",
        s.key().to_str().unwrap(),
        s.path("nonl.csv").to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(!stdout(&out).ends_with('\n'));
    assert_eq!(stdout(&out).lines().count(), 2);
}

/// A stray quote early in a large file: the reader stops at the 16 MiB
/// record limit with the row and line, instead of holding the rest of the
/// file in memory, and names no value.
#[test]
fn a_stray_quote_in_a_large_file_stops_at_the_record_limit() {
    let s = Scratch::new();
    let n = valid_from(640_100_000);
    let mut text = format!("nhs_number,note\n{n},ok\n{n},\"stray\n");
    let row = format!("{n},filler filler filler filler filler\n");
    text.push_str(&row.repeat(420_000)); // about 20 MiB
    s.write("stray.csv", &text);
    let out = run(&["validate", s.path("stray.csv").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("row 2 (line 3) runs past 16 MiB") && err.contains("quote left open"),
        "{err}"
    );
    assert!(!err.contains(&n), "{err}");
}

#[test]
fn a_ten_megabyte_key_file_is_refused_without_reading_it_all() {
    let s = Scratch::new();
    let big = vec![b'a'; 10 * 1024 * 1024];
    s.write("big.key", &big);
    let out = run(&["key-id", "--key", s.path("big.key").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("larger than 64 KiB"));
}

/// Starts `tokenise` (one thread, so it runs long enough to interrupt) on
/// the folder's synthetic referrals, in the background.
fn spawn_tokenise(s: &Scratch, output: &str, extra: &[&str], stderr: Stdio) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_pseudolink"))
        .args(["tokenise", "-q", "--threads", "1", "--key"])
        .arg(s.key())
        .arg(s.path("referrals.csv"))
        .arg("--output")
        .arg(s.path(output))
        .args(extra)
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// Waits until the run has an output open in `dir` (an unnamed file shows
/// in /proc as the folder's path), or a named partial file appears.
fn wait_for_partial(dir: &std::path::Path, child: &mut std::process::Child) -> bool {
    let start = Instant::now();
    let fds = format!("/proc/{}/fd", child.id());
    let dir = std::fs::canonicalize(dir).unwrap();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let open_here = std::fs::read_dir(&fds).into_iter().flatten().any(|e| {
            std::fs::read_link(e.unwrap().path())
                .is_ok_and(|t| t.starts_with(&dir) && t.to_string_lossy().contains('#'))
        });
        let partial = std::fs::read_dir(&dir).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .contains("pseudolink-partial")
        });
        if open_here || partial {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// SIGKILL in the middle of a run leaves nothing under the final name, and
/// an existing file (being replaced with --force) untouched.
#[cfg(unix)]
#[test]
fn killing_tokenise_mid_run_leaves_no_partial_output() {
    let s = Scratch::new();
    s.synth(60000, 200000, 3);
    s.write("out.csv", "precious");
    let rejects = s.path("rej.csv").to_string_lossy().into_owned();
    let mut child = spawn_tokenise(
        &s,
        "out.csv",
        &["--force", "--rejects", &rejects],
        Stdio::null(),
    );
    let caught = wait_for_partial(s.dir.path(), &mut child);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        caught,
        "the run finished before it could be killed; make the input larger"
    );
    assert_eq!(s.text("out.csv"), "precious");
    assert!(!s.exists("out.csv.manifest.json"));
    // Issue 21, finding 10: unnamed temporary files leave nothing at all,
    // not even a partial file (which could hold rejected NHS numbers).
    let left: Vec<String> = s
        .files()
        .into_iter()
        .filter(|f| f.contains("partial") || f.contains("rej"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // And with no existing file, nothing appears under the final name.
    let mut child = spawn_tokenise(&s, "fresh.csv", &[], Stdio::null());
    let caught = wait_for_partial(s.dir.path(), &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(caught);
    assert!(!s.exists("fresh.csv"));
}

#[cfg(unix)]
#[test]
fn killing_relink_mid_run_leaves_existing_outputs_untouched() {
    let s = Scratch::new();
    s.synth(20000, 600000, 4);
    let tok = run(&[
        "tokenise",
        "-q",
        "--key",
        s.key().to_str().unwrap(),
        s.path("referrals.csv").to_str().unwrap(),
        "--output",
        s.path("tokens.csv").to_str().unwrap(),
    ]);
    assert!(tok.status.success());
    s.write("report.csv", "precious");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pseudolink"))
        .args(["relink", "-q", "--threads", "1", "--force", "--key"])
        .arg(s.key())
        .arg("--cohort")
        .arg(s.path("tokens.csv"))
        .arg("--usage")
        .arg(s.path("usage.csv"))
        .arg("--output")
        .arg(s.path("report.csv"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        still_running,
        "relink finished before it could be killed; make the input larger"
    );
    assert_eq!(s.text("report.csv"), "precious");
}

/// Ctrl-C (SIGINT) mid-run: exit 130, and no partial file is left at all.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_cleanly_and_removes_temporary_files() {
    let s = Scratch::new();
    s.synth(60000, 1000, 6);
    s.write("out.csv", "precious");
    let mut child = spawn_tokenise(
        &s,
        "out.csv",
        &[
            "--force",
            "--rejects",
            s.path("rejects.csv").to_str().unwrap(),
        ],
        Stdio::piped(),
    );
    let caught = wait_for_partial(s.dir.path(), &mut child);
    // The shell's built-in kill, so no extra package is needed.
    let sent = Command::new("sh")
        .args(["-c", &format!("kill -INT {}", child.id())])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert!(caught, "the run finished before it could be interrupted");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    assert_eq!(s.text("out.csv"), "precious");
    assert!(!s.exists("rejects.csv"));
    for f in s.files() {
        assert!(!f.contains("pseudolink-partial"), "left behind: {f}");
    }
}

/// Runs a shell command line under a pseudo-terminal with `script`
/// (util-linux), or returns `None` where `script` is not available.
#[cfg(unix)]
fn on_a_terminal(line: &str, env: &[(&str, &str)]) -> Option<String> {
    let mut cmd = Command::new("script");
    // A known terminal type, and none of the variables that turn colour
    // off or on, whatever the environment running the tests has.
    cmd.args(["-qec", line, "/dev/null"])
        .stdin(Stdio::null())
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// On a terminal: a progress bar and coloured prefixes; NO_COLOR removes
/// the colour. (Off a terminal, the other tests check that neither appears.)
#[cfg(unix)]
#[test]
fn terminal_manners_progress_and_colour() {
    let s = Scratch::new();
    s.synth(150000, 10, 1);
    let bin = env!("CARGO_BIN_EXE_pseudolink");
    let line = format!(
        "{bin} tokenise --threads 1 --key {} {} --output {}",
        s.key().display(),
        s.path("referrals.csv").display(),
        s.path("t.csv").display()
    );
    let Some(screen) = on_a_terminal(&line, &[]) else {
        eprintln!("skipped: `script` is not available");
        return;
    };
    assert!(
        screen.contains("rows/s") && screen.contains("ETA"),
        "{screen}"
    );
    let bad = format!("{bin} validate {}", s.path("missing.csv").display());
    let coloured = on_a_terminal(&bad, &[]).unwrap();
    assert!(
        coloured.contains("\u{1b}[") && coloured.contains("error:"),
        "{coloured:?}"
    );
    let plain = on_a_terminal(&bad, &[("NO_COLOR", "1")]).unwrap();
    assert!(
        !plain.contains("\u{1b}[") && plain.contains("error:"),
        "{plain:?}"
    );
}

/// Issue 21, finding 3: a file with no header row puts its first row where
/// the column names go; no message may quote it (validate, tokenise, and
/// relink's cohort and usage).
#[test]
fn a_missing_header_row_is_never_quoted() {
    let s = Scratch::new();
    let n = TOKEN_FREE_NUMBER;
    s.write("nohdr.csv", format!("{n},2024-01-01,x\n"));
    s.write("spaced.csv", "943 476 5919,2024-01-01,x\n");
    for file in ["nohdr.csv", "spaced.csv"] {
        let f = s.path(file);
        for args in [
            vec!["validate".to_string(), f.to_string_lossy().into_owned()],
            vec![
                "tokenise".into(),
                "--key".into(),
                s.key().to_string_lossy().into_owned(),
                f.to_string_lossy().into_owned(),
                "--output".into(),
                s.path("t.csv").to_string_lossy().into_owned(),
            ],
            vec![
                "relink".into(),
                "--cohort".into(),
                f.to_string_lossy().into_owned(),
                "--usage".into(),
                f.to_string_lossy().into_owned() + ".u",
                "--no-manifest".into(),
            ],
        ] {
            if args[0] == "relink" {
                std::fs::copy(&f, s.path(&format!("{file}.u"))).unwrap();
            }
            let out = run(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(
                !err.contains("9434765919") && !err.contains("476 5919"),
                "{err}"
            );
        }
    }
    // relink's usage file too, behind a good cohort.
    s.write(
        "cohort.csv",
        format!(
            "token,intervention_date,cohort\n{},2024-01-01,A\n",
            "ab".repeat(32)
        ),
    );
    let out = run(&[
        "relink",
        "--cohort",
        s.path("cohort.csv").to_str().unwrap(),
        "--usage",
        s.path("nohdr.csv").to_str().unwrap(),
        "--key",
        s.key().to_str().unwrap(),
        "--no-manifest",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains("9434765919"), "{}", stderr(&out));
}

const TOKEN_FREE_NUMBER: &str = "9434765919";

/// Issue 21, finding 11: an NHS number in a file name, in any layout, is
/// redacted in messages and in the manifest's source_name; a manifest's
/// own `format` value is never echoed.
#[test]
fn file_names_and_manifests_never_carry_a_number() {
    let s = Scratch::new();
    for name in [
        "943 476 5919 referrals.csv",
        "943-476-5919.csv",
        "9434765919.csv",
    ] {
        s.write(name, format!("nhs_number\n{TOKEN_FREE_NUMBER}\n"));
        let out = s.tokenise_to(name, &format!("{name}.tok"), &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        let manifest = s.text(&format!("{name}.tok.manifest.json"));
        assert!(manifest.contains("[NHS number]"), "{manifest}");
        assert!(
            !manifest.contains("476") || !manifest.contains("5919"),
            "{manifest}"
        );
        let err = stderr(&out);
        assert!(!err.contains("5919"), "{err}");
    }
    // A manifest whose format is a number: refused without quoting it.
    s.write(
        "c.csv",
        format!(
            "token,intervention_date,cohort\n{},2024-01-01,A\n",
            "ab".repeat(32)
        ),
    );
    s.write(
        "c.csv.manifest.json",
        format!("{{\"format\":\"{TOKEN_FREE_NUMBER}\",\"version\":1}}"),
    );
    s.write("u.csv", "nhs_number,event_date,event_type\n");
    let out = run(&[
        "relink",
        "--cohort",
        s.path("c.csv").to_str().unwrap(),
        "--usage",
        s.path("u.csv").to_str().unwrap(),
        "--key",
        s.key().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !stderr(&out).contains(TOKEN_FREE_NUMBER),
        "{}",
        stderr(&out)
    );
}

/// Issue 21, finding 6: `--force` replaces regular files only; a FIFO or a
/// device is refused, and left as it was.
#[cfg(unix)]
#[test]
fn force_never_replaces_a_fifo_or_a_device() {
    use std::os::unix::fs::FileTypeExt;
    let s = Scratch::new();
    s.write("in.csv", format!("nhs_number\n{TOKEN_FREE_NUMBER}\n"));
    let fifo = s.path("pipe");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for target in [fifo.clone(), std::path::PathBuf::from("/dev/null")] {
        let out = run(&[
            "tokenise",
            "--key",
            s.key().to_str().unwrap(),
            s.path("in.csv").to_str().unwrap(),
            "--output",
            target.to_str().unwrap(),
            "--force",
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("not a regular file"),
            "{}",
            stderr(&out)
        );
        let kind = std::fs::metadata(&target).unwrap().file_type();
        assert!(
            kind.is_fifo() || kind.is_char_device(),
            "{target:?} was replaced"
        );
    }
}

/// Issue 21, finding 2: a running pseudolink has a core size limit of 0,
/// soft and hard (read from /proc, as another process sees it).
#[cfg(target_os = "linux")]
#[test]
fn a_running_process_cannot_dump_core() {
    let s = Scratch::new();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pseudolink"))
        .args(["tokenise", "--key", s.key().to_str().unwrap(), "-", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // It waits on its input; its limits are set before that.
    let limits_path = format!("/proc/{}/limits", child.id());
    let mut core = String::new();
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let limits = std::fs::read_to_string(&limits_path).unwrap_or_default();
        if let Some(line) = limits.lines().find(|l| l.starts_with("Max core file size")) {
            core = line
                .split_whitespace()
                .skip(4)
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            if core == "0 0" {
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(core, "0 0", "soft and hard core limits");
}

/// Issue 21, finding 13: usage made under another key (and no manifest to
/// say so) matches nobody: an error naming keys and manifests, not a
/// report of zeros; `--allow-no-matches` lets a real empty result through.
#[test]
fn a_relink_that_matches_nobody_is_an_error() {
    let s = Scratch::new();
    let cohort = s.write(
        "cohort.csv",
        format!(
            "token,intervention_date,cohort\n{},2024-01-01,A\n",
            "ab".repeat(32)
        ),
    );
    let usage = s.write(
        "usage.csv",
        format!(
            "token,event_date,event_type\n{},2024-02-01,AE\n",
            "cd".repeat(32)
        ),
    );
    let base = [
        "relink",
        "--cohort",
        cohort.to_str().unwrap(),
        "--usage",
        usage.to_str().unwrap(),
        "--usage-token-column",
        "token",
        "--no-manifest",
        "--data-start",
        "2023-01-01",
        "--data-end",
        "2024-12-31",
        "-q",
    ];
    let out = run(&base);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("nobody in the cohort appears") && err.contains("key"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no report");
    let mut allowed = base.to_vec();
    allowed.push("--allow-no-matches");
    let out = run(&allowed);
    assert!(out.status.success(), "{}", stderr(&out));
    // The share warning reaches a --quiet run.
    assert!(
        stderr(&out).contains("appear in the usage file"),
        "{}",
        stderr(&out)
    );
}

/// Issue 21, finding 8: labels that a spreadsheet would run as formulas
/// are written as text (a leading `'`) in the report, costs, people file,
/// event study and disclosure log, headers included; numbers such as a
/// negative change stay numbers.
#[test]
fn labels_never_reach_a_spreadsheet_as_formulas() {
    let s = Scratch::new();
    let groups = [
        "=HYPERLINK(\"http://x\")",
        "+cmd|' /C calc'!A0",
        "@SUM(1)",
        "\t=1+1",
        "-2+3",
    ];
    let mut cohort = csv::Writer::from_path(s.path("cohort.csv")).unwrap();
    cohort
        .write_record(["token", "intervention_date", "cohort"])
        .unwrap();
    let mut usage = String::from("token,event_date,event_type\n");
    for (g, label) in groups.iter().enumerate() {
        for k in 0..12 {
            let token = format!("{:02x}{:062x}", g, k);
            cohort
                .write_record([token.as_str(), "2024-01-01", label])
                .unwrap();
            usage.push_str(&format!(
                "{token},2023-10-01,=1+2\n{token},2023-11-01,=1+2\n"
            ));
        }
    }
    cohort.flush().unwrap();
    drop(cohort);
    s.write("usage.csv", usage);
    s.write("uc.csv", "event_type,unit_cost\n=1+2,100\n");
    let out = run(&[
        "relink",
        "--cohort",
        s.path("cohort.csv").to_str().unwrap(),
        "--usage",
        s.path("usage.csv").to_str().unwrap(),
        "--usage-token-column",
        "token",
        "--no-manifest",
        "--data-start",
        "2023-01-01",
        "--data-end",
        "2024-12-31",
        "--output",
        s.path("r.csv").to_str().unwrap(),
        "--unit-costs",
        s.path("uc.csv").to_str().unwrap(),
        "--costs",
        s.path("c.csv").to_str().unwrap(),
        "--people",
        s.path("p.csv").to_str().unwrap(),
        "--event-study",
        s.path("e.csv").to_str().unwrap(),
        "--disclosure",
        "none",
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for file in ["r.csv", "c.csv", "p.csv", "e.csv"] {
        let mut reader = csv::Reader::from_path(s.path(file)).unwrap();
        let header = reader.headers().unwrap().clone();
        for h in header.iter() {
            assert!(
                !h.starts_with(['=', '+', '@', '\t', '\r']),
                "{file} header {h:?}"
            );
        }
        for rec in reader.records() {
            for (cell, name) in rec.unwrap().iter().zip(header.iter()) {
                let numeric = cell.parse::<f64>().is_ok();
                let dangerous = cell.starts_with(['=', '+', '@', '\t', '\r'])
                    || (cell.starts_with('-') && !numeric);
                assert!(!dangerous, "{file} column {name}: {cell:?}");
            }
        }
    }
    let report = s.text("r.csv");
    assert!(report.contains("'=HYPERLINK"), "{report}");
    assert!(report.contains("'=1+2"), "the event type: {report}");
    assert!(
        report.contains(",-100.00,"),
        "a negative change stays a number: {report}"
    );
    assert!(s
        .text("p.csv")
        .lines()
        .next()
        .unwrap()
        .contains("'=1+2_pre"));
}

/// Issue 21, finding 7: one same-file rule for every input and output of a
/// command, by device and inode: relink's key, unit costs and manifests
/// are inputs too, and a hard link to an input is that input.
#[test]
fn no_output_may_be_any_input_even_with_force() {
    let s = Scratch::new();
    let w = |name: &str, text: &str| s.write(name, text);
    w(
        "cohort.csv",
        &format!(
            "token,intervention_date,cohort\n{},2024-01-01,A\n",
            "ab".repeat(32)
        ),
    );
    w(
        "usage.csv",
        &format!(
            "token,event_date,event_type\n{},2024-02-01,AE\n",
            "ab".repeat(32)
        ),
    );
    w("uc.csv", "event_type,unit_cost\nAE,100\n");
    w("cohort.csv.manifest.json", "{}");
    let key_before = s.read("key.key");
    let base = |extra: &[&str]| {
        let mut args = vec![
            "relink".to_string(),
            "--cohort".into(),
            s.path("cohort.csv").to_string_lossy().into_owned(),
            "--usage".into(),
            s.path("usage.csv").to_string_lossy().into_owned(),
            "--usage-token-column".into(),
            "token".into(),
            "--force".into(),
        ];
        args.extend(extra.iter().map(|x| x.to_string()));
        run(&args)
    };
    let key = s.key().to_string_lossy().into_owned();
    let uc = s.path("uc.csv").to_string_lossy().into_owned();
    let manifest = s
        .path("cohort.csv.manifest.json")
        .to_string_lossy()
        .into_owned();
    std::fs::hard_link(s.path("usage.csv"), s.path("linked.csv")).unwrap();
    let linked = s.path("linked.csv").to_string_lossy().into_owned();
    for extra in [
        vec!["--key", &key, "--people", &key],
        vec!["--unit-costs", &uc, "--costs", &uc],
        vec!["--output", &manifest],
        vec!["--html", &linked],
    ] {
        let out = base(&extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("same file"),
            "{extra:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(s.read("key.key"), key_before, "the key is untouched");
    assert_eq!(s.text("uc.csv"), "event_type,unit_cost\nAE,100\n");
}

/// Issue 21, finding 4: two `tokenise --force` runs with different keys
/// writing one output: whichever commits last, its tokens and its manifest
/// appear together (the manifest's SHA-256 is always the token file's).
#[test]
fn concurrent_runs_never_pair_one_key_with_another_manifest() {
    let s = Scratch::new();
    let other = s.path("other.key");
    let out = pl()
        .args(["keygen", "--output"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut input = String::from("nhs_number\n");
    for i in 0..20_000u32 {
        input.push_str(&valid_from(400_000_000 + i * 7));
        input.push('\n');
    }
    s.write("in.csv", input);
    let tok = s.path("tok.csv");
    for _ in 0..15 {
        let spawn = |key: &std::path::Path| {
            std::process::Command::new(env!("CARGO_BIN_EXE_pseudolink"))
                .args(["tokenise", "--key"])
                .arg(key)
                .arg(s.path("in.csv"))
                .arg("--output")
                .arg(&tok)
                .args(["--force", "-q"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        let (mut a, mut b) = (spawn(&s.key()), spawn(&other));
        assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
        let manifest = s.text("tok.csv.manifest.json");
        let digest = sha256_hex(&tok);
        assert!(
            manifest.contains(&digest),
            "the manifest describes another file"
        );
    }
}

/// Issue 21, finding 5: SIGTERM while tokenise waits on a stalled standard
/// input, and while relink writes, ends the run with 130 within about a
/// second, leaving no file behind.
#[cfg(unix)]
#[test]
fn signals_stop_a_stalled_or_writing_run() {
    use std::io::Write;
    let s = Scratch::new();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pseudolink"))
        .args(["tokenise", "--key"])
        .arg(s.key())
        .args(["-", "--output"])
        .arg(s.path("out.csv"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"nhs_number\n9434765919\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let sent = std::time::Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    drop(stdin);
    assert!(
        sent.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    let left: Vec<String> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "key.key")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Issue 21, finding 5 (its last part): a usage file with more than 1,000
/// distinct event types is refused at once with a hint; 900 types still
/// make a report and an HTML page.
#[test]
fn thousands_of_event_types_are_refused_with_a_hint() {
    let s = Scratch::new();
    let token = "ab".repeat(32);
    s.write(
        "cohort.csv",
        format!("token,intervention_date,cohort\n{token},2024-01-01,A\n"),
    );
    for (types, ok) in [(1001, false), (900, true)] {
        let mut usage = String::from("token,event_date,event_type\n");
        for t in 0..types {
            usage.push_str(&format!("{token},2023-12-01,T{t}\n"));
        }
        s.write("usage.csv", usage);
        let out = run(&[
            "relink",
            "--cohort",
            s.path("cohort.csv").to_str().unwrap(),
            "--usage",
            s.path("usage.csv").to_str().unwrap(),
            "--usage-token-column",
            "token",
            "--no-manifest",
            "--data-start",
            "2023-01-01",
            "--data-end",
            "2024-12-31",
            "--html",
            s.path("r.html").to_str().unwrap(),
            "--output",
            s.path("r.csv").to_str().unwrap(),
            "--force",
            "-q",
        ]);
        if ok {
            assert!(out.status.success(), "{}", stderr(&out));
            assert!(s.text("r.html").contains("T899"));
        } else {
            assert_eq!(out.status.code(), Some(2));
            assert!(
                stderr(&out).contains("--event-type-column"),
                "{}",
                stderr(&out)
            );
        }
    }
}

/// Issue 21, finding 4 (the relink side): a token file that is not the one
/// its manifest describes is refused, not warned about.
#[test]
fn a_manifest_for_another_file_is_refused() {
    let s = Scratch::new();
    s.write(
        "in.csv",
        format!("nhs_number,intervention_date,cohort\n{TOKEN_FREE_NUMBER},2024-01-01,A\n"),
    );
    let out = s.tokenise_to("in.csv", "tok.csv", &["-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut text = s.text("tok.csv");
    text.push_str(&format!("{},2024-02-01,B\n", "cd".repeat(32)));
    s.write("tok.csv", text);
    s.write(
        "u.csv",
        format!("nhs_number,event_date,event_type\n{TOKEN_FREE_NUMBER},2024-02-01,AE\n"),
    );
    let out = run(&[
        "relink",
        "--cohort",
        s.path("tok.csv").to_str().unwrap(),
        "--usage",
        s.path("u.csv").to_str().unwrap(),
        "--key",
        s.key().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("SHA-256 differs"), "{}", stderr(&out));
}
