//! Helpers shared by the integration tests: run the real binary on files
//! in a temporary folder, and synthetic NHS numbers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

pub const SPEC_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
pub const SPEC_KEY_ID: &str = "e8a99eb43869d8af";
pub const TOKEN_9434765919: &str =
    "dd5c602eeb31d60c7c0d662c897231dda00e13cdf945b14cad185a4a7125826c";
pub const TOKEN_4000000632: &str =
    "4c8fa78739d7c8a20ef422e482e4a963d142ad973a29fc309bfe6d6bd872d657";
pub const TOKEN_9876543210: &str =
    "e4541341bb12c47c7a55203258502289c8708e7029541b0231270eb2a24760e1";

/// A command for the binary under test.
pub fn pl() -> assert_cmd::Command {
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_pseudolink"))
}

/// Runs the binary with these arguments (strings or paths) and returns its
/// output.
pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    pl().args(args).output().unwrap()
}

/// A scratch folder with the spec key written as `key.key` (mode 0600).
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        let s = Scratch {
            dir: tempfile::tempdir().unwrap(),
        };
        s.write("key.key", format!("# test key\n{SPEC_KEY}\n"));
        s.private("key.key");
        s
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).unwrap();
        p
    }
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }
    pub fn text(&self, name: &str) -> String {
        String::from_utf8(self.read(name)).unwrap()
    }
    pub fn exists(&self, name: &str) -> bool {
        self.path(name).exists()
    }
    pub fn key(&self) -> PathBuf {
        self.path("key.key")
    }
    #[cfg(unix)]
    pub fn private(&self, name: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.path(name), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    #[cfg(not(unix))]
    pub fn private(&self, _name: &str) {}
    /// Runs `tokenise --key <this folder's key> IN --output OUT` plus `extra`
    /// (file names in the folder are given without their folder).
    pub fn tokenise_to(&self, input: &str, output: &str, extra: &[&str]) -> Output {
        pl().args(["tokenise", "--key"])
            .arg(self.key())
            .arg(self.path(input))
            .arg("--output")
            .arg(self.path(output))
            .args(extra)
            .output()
            .unwrap()
    }

    /// Writes synthetic `referrals.csv` and `usage.csv` into the folder.
    pub fn synth(&self, people: u32, events: u32, seed: u32) {
        let out = pl()
            .args([
                "synth",
                "--people",
                &people.to_string(),
                "--events",
                &events.to_string(),
            ])
            .args(["--seed", &seed.to_string(), "--out"])
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }

    /// Names of the files in the folder, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

/// A valid NHS number from a nine-digit prefix (searching upward for one
/// whose check digit is not 10). Synthetic, never a copied number.
pub fn valid_from(prefix: u32) -> String {
    let mut p = prefix;
    loop {
        let d: Vec<u32> = format!("{p:09}")
            .bytes()
            .map(|b| u32::from(b - b'0'))
            .collect();
        let sum: u32 = d.iter().zip((2..=10).rev()).map(|(x, w)| x * w).sum();
        let check = match 11 - sum % 11 {
            11 => Some(0),
            10 => None,
            c => Some(c),
        };
        if let Some(c) = check {
            let s = format!("{p:09}{c}");
            if !s.bytes().all(|b| b == s.as_bytes()[0]) {
                return s;
            }
        }
        p += 1;
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts that none of `secrets` appears in any of the given texts.
pub fn assert_no_leak(texts: &[&[u8]], secrets: &[&str]) {
    for t in texts {
        for s in secrets {
            let hay = String::from_utf8_lossy(t);
            assert!(!hay.contains(s), "leaked {s:?} in: {hay}");
        }
    }
}

pub fn sha256_hex(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}
