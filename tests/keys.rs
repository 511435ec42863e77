//! Key files: keygen, key-id and every key-file error, through the binary.

mod common;

use common::*;

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_writes_a_private_new_file_and_key_id_agrees() {
    let s = Scratch::new();
    let out = pl()
        .args(["keygen", "--output"])
        .arg(s.path("team.key"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert_eq!(id.len(), 16);
    #[cfg(unix)]
    assert_eq!(mode(&s.path("team.key")), 0o600);
    let text = s.text("team.key");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# pseudolink key");
    assert!(lines[1].starts_with("# created: 20"));
    assert_eq!(lines[2], format!("# key id: {id}"));
    let key_line = lines.iter().find(|l| !l.starts_with('#')).unwrap();
    assert_eq!(key_line.len(), 64);
    // The key itself is never printed.
    assert_no_leak(&[&out.stdout, &out.stderr], &[key_line]);

    let again = pl()
        .args(["key-id", "--key"])
        .arg(s.path("team.key"))
        .output()
        .unwrap();
    assert_eq!(stdout(&again).trim(), id);

    // create_new: never replaced without --force.
    let out = pl()
        .args(["keygen", "--output"])
        .arg(s.path("team.key"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(s.text("team.key"), text);
    let out = pl()
        .args(["keygen", "--force", "--output"])
        .arg(s.path("team.key"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_ne!(s.text("team.key"), text);
    #[cfg(unix)]
    assert_eq!(mode(&s.path("team.key")), 0o600);
}

/// Issue 21, finding 12: a real key readable by group or others is refused
/// (as OpenSSH refuses a readable private key), by every command that
/// reads a key; 0600 and 0400 are accepted.
#[cfg(unix)]
#[test]
fn a_real_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let key = s.path("team.key");
    let out = pl()
        .args(["keygen", "--output"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    s.write("in.csv", "nhs_number\n9434765919\n");
    for mode in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        for args in [
            vec![
                "key-id".to_string(),
                "--key".into(),
                key.to_string_lossy().into_owned(),
            ],
            vec![
                "tokenise".into(),
                "--key".into(),
                key.to_string_lossy().into_owned(),
                s.path("in.csv").to_string_lossy().into_owned(),
            ],
        ] {
            let out = pl().args(&args).output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{mode:o} {args:?}");
            let err = stderr(&out);
            assert!(
                err.contains(&format!("mode {mode:03o}")) && err.contains("chmod 600"),
                "{err}"
            );
            assert!(out.stdout.is_empty(), "nothing tokenised");
        }
    }
    for mode in [0o600, 0o400] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = pl().args(["key-id", "--key"]).arg(&key).output().unwrap();
        assert!(out.status.success(), "{mode:o}: {}", stderr(&out));
    }
}

/// The public example key (the SPEC's test key) is only warned about: git
/// does not keep file modes, and it protects nothing anyway.
#[cfg(unix)]
#[test]
fn a_key_readable_by_others_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    std::fs::set_permissions(s.key(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = pl()
        .args(["key-id", "--key"])
        .arg(s.key())
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("can be read by other users (mode 644)"),
        "{err}"
    );
    assert!(err.contains("chmod 600"), "{err}");
    s.private("key.key");
    let out = pl()
        .args(["key-id", "--key"])
        .arg(s.key())
        .output()
        .unwrap();
    // No warning now: only the id, grouped for reading aloud.
    assert_eq!(
        stderr(&out),
        "key id: e8a99eb43869d8af (read aloud: e8a9 9eb4 3869 d8af)\n"
    );
}

/// Runs `key-id` on a bad key file: exit 2, and the message says `expect`.
fn key_id_fails(path: impl AsRef<std::path::Path>, expect: &str) -> String {
    let out = pl()
        .args(["key-id", "--key"])
        .arg(path.as_ref())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(expect), "{err}");
    err
}

#[test]
fn key_file_errors_are_clear_and_never_echo_the_key() {
    let s = Scratch::new();
    let cases: Vec<(&str, String, &str)> = vec![
        ("short", SPEC_KEY[..40].to_string(), "at least 32 bytes"),
        ("odd", SPEC_KEY[..63].to_string(), "odd number"),
        (
            "nonhex",
            format!("{}zz{}", &SPEC_KEY[..30], &SPEC_KEY[32..]),
            "line 1, column 31: not a hex digit",
        ),
        (
            "two",
            format!("{SPEC_KEY}\n{SPEC_KEY}\n"),
            "more than one key line (lines 1 and 2)",
        ),
        (
            "comments",
            "# nothing here\n\n".to_string(),
            "has no key line",
        ),
        (
            "binary",
            "\u{0}\u{1}".to_string() + "\u{fffd}",
            "not a hex digit",
        ),
    ];
    for (name, content, expect) in cases {
        s.write(name, &content);
        s.private(name);
        let out = pl()
            .args(["key-id", "--key"])
            .arg(s.path(name))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = stderr(&out);
        assert!(err.contains(expect), "{name}: {err}");
        assert!(
            err.contains(&format!("key file {}", s.path(name).display())),
            "{err}"
        );
        assert_no_leak(
            &[&out.stderr, &out.stdout],
            &[&SPEC_KEY[..16], &SPEC_KEY[32..48]],
        );
    }
    s.write("latin1", b"\xff\xfe\x00");
    let out = pl()
        .args(["key-id", "--key"])
        .arg(s.path("latin1"))
        .output()
        .unwrap();
    assert!(stderr(&out).contains("not UTF-8"), "{}", stderr(&out));

    let big = vec![b'a'; 70 * 1024];
    s.write("big", &big);
    key_id_fails(s.path("big"), "larger than 64 KiB");

    key_id_fails(s.dir.path(), "is not a regular file");

    key_id_fails(s.path("missing.key"), "cannot open");

    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/dev/zero", s.path("zero.key")).unwrap();
        key_id_fails(s.path("zero.key"), "is not a regular file");
    }
}

#[test]
fn tokenise_with_a_bad_key_writes_nothing() {
    let s = Scratch::new();
    s.write("bad.key", &SPEC_KEY[..40]);
    s.write(
        "in.csv",
        format!("nhs_number\n{}\n", valid_from(100_000_000)),
    );
    let out = pl()
        .args(["tokenise", "--key"])
        .arg(s.path("bad.key"))
        .arg(s.path("in.csv"))
        .arg("--output")
        .arg(s.path("out.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!s.exists("out.csv"));
    assert!(!s.exists("out.csv.manifest.json"));
}
