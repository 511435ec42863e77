//! Secret keys: the key file format (docs/SPEC.md section 2), generation and key ids.
//!
//! A [`Key`] holds its bytes in [`Zeroizing`] memory, wiped when dropped, and
//! implements neither `Debug` nor `Display`, so it cannot be printed by
//! accident. Every buffer that held the file's text is zeroized too. Parse
//! errors name lines and columns, never content.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{shown_path, Error, KeyProblem, Result, Source};

/// Largest key file the spec allows.
pub const MAX_KEY_FILE: u64 = 64 * 1024;
/// Smallest key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
/// Size of a generated key, in bytes.
pub const GENERATED_KEY_BYTES: usize = 32;

/// The key id of the public example key (docs/SPEC.md section 3's test
/// key, `keys-example/example.key`).
pub const EXAMPLE_KEY_ID: &str = "e8a99eb43869d8af";

/// A secret HMAC key. No `Debug`, no `Display`, no `Clone`; zeroized on drop.
pub struct Key(Zeroizing<Vec<u8>>);

/// Sixteen lowercase hex characters that identify a key without revealing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyId(String);

impl KeyId {
    /// Wraps a string already known to be a key id (16 lowercase hex).
    pub fn parse(s: &str) -> Option<KeyId> {
        (s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| KeyId(s.to_string()))
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The id in groups of four, easier to read aloud: `e8a9 9eb4 3869 d8af`.
    pub fn spoken(&self) -> String {
        self.0
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Something worth telling the user about a key file that is not an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyWarning {
    /// The file's permission bits let group or others read it.
    ReadableByOthers {
        /// The permission bits (e.g. 0o644).
        mode: u32,
    },
}

impl Key {
    /// Parses the text of a key file. Errors carry positions, never content.
    pub fn parse(text: &[u8]) -> Result<Key, KeyProblem> {
        let text = std::str::from_utf8(text).map_err(|_| KeyProblem::NotUtf8)?;
        // Windows editors may save UTF-8 with a byte order mark.
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let mut key_line: Option<(usize, &str)> = None;
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if let Some((first, _)) = key_line {
                return Err(KeyProblem::SeveralKeyLines {
                    first,
                    second: i + 1,
                });
            }
            key_line = Some((i + 1, line));
        }
        let (line_no, line) = key_line.ok_or(KeyProblem::NoKeyLine)?;
        let lead = line.len() - line.trim_start().len();
        let hex_text = line.trim();
        if let Some((pos, _)) = hex_text
            .char_indices()
            .find(|(_, c)| !c.is_ascii_hexdigit())
        {
            let column = line[..lead + pos].chars().count() + 1;
            return Err(KeyProblem::NotHex {
                line: line_no,
                column,
            });
        }
        let digits = hex_text.len();
        if digits % 2 != 0 {
            return Err(KeyProblem::OddLength {
                line: line_no,
                digits,
            });
        }
        if digits / 2 < MIN_KEY_BYTES {
            return Err(KeyProblem::TooShort {
                line: line_no,
                bytes: digits / 2,
            });
        }
        let mut bytes = Zeroizing::new(vec![0u8; digits / 2]);
        hex::decode_to_slice(hex_text, &mut bytes[..]).map_err(|_| KeyProblem::NotHex {
            line: line_no,
            column: lead + 1,
        })?;
        Ok(Key(bytes))
    }

    /// Reads and parses a key file, refusing anything that is not a regular
    /// file of at most 64 KiB. Returns warnings (e.g. loose permissions) for
    /// the caller to print.
    pub fn load(path: &Path) -> Result<(Key, Vec<KeyWarning>)> {
        let file_label = Source::Path(path.to_path_buf());
        let key_err = |problem| Error::Key {
            file: file_label.clone(),
            problem,
        };
        let meta = fs::metadata(path).map_err(|source| Error::Open {
            file: file_label.clone(),
            source,
        })?;
        if !meta.is_file() {
            return Err(key_err(KeyProblem::NotAFile));
        }
        if meta.len() > MAX_KEY_FILE {
            return Err(key_err(KeyProblem::TooLarge));
        }
        let file = File::open(path).map_err(|source| Error::Open {
            file: file_label.clone(),
            source,
        })?;
        let mut text = Zeroizing::new(Vec::with_capacity(meta.len() as usize + 1));
        // The limit holds even if the file grows between stat and read.
        file.take(MAX_KEY_FILE + 1)
            .read_to_end(&mut text)
            .map_err(|source| Error::Read {
                file: file_label.clone(),
                source,
            })?;
        if text.len() as u64 > MAX_KEY_FILE {
            return Err(key_err(KeyProblem::TooLarge));
        }
        let key = Key::parse(&text).map_err(key_err)?;
        let warnings = permission_warnings(&meta);
        // Refused as OpenSSH refuses a readable private key; the public
        // example key (which protects nothing, and whose mode git cannot
        // keep) is only warned about.
        if let Some(KeyWarning::ReadableByOthers { mode }) = warnings.first() {
            if key.id().as_str() != EXAMPLE_KEY_ID {
                return Err(Error::KeyReadable {
                    file: file_label,
                    mode: format!("{mode:03o}"),
                });
            }
        }
        Ok((key, warnings))
    }

    /// A new key of 32 bytes from the operating system's CSPRNG.
    pub fn generate() -> Result<Key> {
        let mut bytes = Zeroizing::new(vec![0u8; GENERATED_KEY_BYTES]);
        getrandom::fill(&mut bytes[..]).map_err(|e| {
            Error::Usage(format!(
                "the operating system's random number generator failed: {e}"
            ))
        })?;
        Ok(Key(bytes))
    }

    /// The key's id: the first 16 hex characters of
    /// HMAC-SHA256(key, "pseudolink key id").
    pub fn id(&self) -> KeyId {
        let out = <Hmac<Sha256> as KeyInit>::new_from_slice(self.bytes())
            .expect("HMAC takes a key of any length")
            .chain_update(b"pseudolink key id")
            .finalize()
            .into_bytes();
        KeyId(hex::encode(&out[..8]))
    }

    /// The raw key bytes, for building the HMAC state. Crate-private.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key file's full text, as `keygen` writes it.
    fn file_text(&self, created: &str) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::new());
        s.push_str("# pseudolink key\n");
        s.push_str(&format!("# created: {created}\n"));
        s.push_str(&format!("# key id: {}\n", self.id()));
        s.push_str("# Keep this file secret. Anyone who has it can reverse every token.\n");
        let hex = Zeroizing::new(hex::encode(&self.0[..]));
        s.push_str(&hex);
        s.push('\n');
        s
    }

    /// Writes a key file: mode 0600, created with `create_new` (or, with
    /// `force`, written to a new temporary file and renamed over the old one).
    pub fn write_file(&self, path: &Path, force: bool) -> Result<()> {
        let label = Source::Path(path.to_path_buf());
        let created = crate::now_rfc3339();
        let text = self.file_text(&created);
        let write_err = |source| Error::Write {
            file: label.clone(),
            source,
        };
        if force {
            let dir = crate::io::output::parent_dir(path);
            let mut tmp = tempfile::Builder::new()
                .prefix(".pseudolink-key-")
                .tempfile_in(dir)
                .map_err(write_err)?;
            set_private(tmp.as_file()).map_err(write_err)?;
            tmp.write_all(text.as_bytes()).map_err(write_err)?;
            tmp.as_file().sync_all().map_err(write_err)?;
            tmp.persist(path).map_err(|e| write_err(e.error))?;
            return Ok(());
        }
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                Error::OutputExists {
                    file: label.clone(),
                }
            } else {
                write_err(source)
            }
        })?;
        let result = file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_all());
        if let Err(source) = result {
            drop(file);
            let _ = fs::remove_file(path);
            return Err(write_err(source));
        }
        Ok(())
    }
}

#[cfg(unix)]
fn set_private(file: &File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn set_private(_file: &File) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn permission_warnings(meta: &fs::Metadata) -> Vec<KeyWarning> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        vec![KeyWarning::ReadableByOthers { mode }]
    } else {
        vec![]
    }
}

#[cfg(not(unix))]
fn permission_warnings(_meta: &fs::Metadata) -> Vec<KeyWarning> {
    vec![]
}

impl KeyWarning {
    /// The warning as a sentence naming the file.
    pub fn message(&self, path: &Path) -> String {
        match self {
            KeyWarning::ReadableByOthers { mode } => format!(
                "warning: key file {} can be read by other users (mode {:03o}); anyone who can read it can reverse every token. Fix it with: chmod 600 {}",
                shown_path(path),
                mode,
                shown_path(path)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SPEC_KEY_HEX: &str =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn spec_key_id() {
        let k = Key::parse(SPEC_KEY_HEX.as_bytes()).ok().unwrap();
        assert_eq!(k.id().as_str(), "e8a99eb43869d8af");
        assert_eq!(k.id().spoken(), "e8a9 9eb4 3869 d8af");
    }

    #[test]
    fn comments_blank_lines_case_and_space() {
        let text = format!(
            "# pseudolink key\n\n   # indented comment\n  {}  \r\n\n",
            SPEC_KEY_HEX.to_uppercase()
        );
        let k = Key::parse(text.as_bytes()).ok().unwrap();
        assert_eq!(k.bytes(), &(0u8..32).collect::<Vec<_>>()[..]);
    }

    fn problem(text: &[u8]) -> KeyProblem {
        match Key::parse(text) {
            Ok(_) => panic!("expected a key problem"),
            Err(p) => p,
        }
    }

    #[test]
    fn key_problems() {
        assert_eq!(problem(b""), KeyProblem::NoKeyLine);
        assert_eq!(problem(b"# only a comment\n\n"), KeyProblem::NoKeyLine);
        assert_eq!(problem(b"\xff\xfe"), KeyProblem::NotUtf8);
        assert_eq!(
            problem(format!("{SPEC_KEY_HEX}\n{SPEC_KEY_HEX}\n").as_bytes()),
            KeyProblem::SeveralKeyLines {
                first: 1,
                second: 2
            }
        );
        let mut bad = SPEC_KEY_HEX.to_string();
        bad.replace_range(10..11, "g");
        assert_eq!(
            problem(format!("# c\n  {bad}").as_bytes()),
            KeyProblem::NotHex {
                line: 2,
                column: 13
            }
        );
        assert_eq!(
            problem(&SPEC_KEY_HEX.as_bytes()[..63]),
            KeyProblem::OddLength {
                line: 1,
                digits: 63
            }
        );
        assert_eq!(
            problem(&SPEC_KEY_HEX.as_bytes()[..62]),
            KeyProblem::TooShort { line: 1, bytes: 31 }
        );
        assert_eq!(problem(b"00 11"), KeyProblem::NotHex { line: 1, column: 3 });
    }

    #[test]
    fn problems_never_echo_content() {
        let mut bad = SPEC_KEY_HEX.to_string();
        bad.push('z');
        for text in [bad.as_str(), &SPEC_KEY_HEX[..40], &SPEC_KEY_HEX[..41]] {
            let msg = problem(text.as_bytes()).to_string();
            assert!(!msg.contains("0102030405"), "{msg}");
        }
    }

    #[test]
    fn a_byte_order_mark_from_notepad_is_ignored() {
        let text = format!("\u{FEFF}# pseudolink key\r\n{SPEC_KEY_HEX}\r\n");
        let k = Key::parse(text.as_bytes()).ok().unwrap();
        assert_eq!(k.id().as_str(), "e8a99eb43869d8af");
        let text = format!("\u{FEFF}{SPEC_KEY_HEX}");
        assert!(Key::parse(text.as_bytes()).is_ok());
    }

    #[test]
    fn longer_keys_are_accepted() {
        let text = "ab".repeat(64);
        assert!(Key::parse(text.as_bytes()).is_ok());
    }

    #[test]
    fn generated_keys_differ_and_round_trip() {
        let a = Key::generate().unwrap();
        let b = Key::generate().unwrap();
        assert_ne!(a.bytes(), b.bytes());
        let text = a.file_text("2026-01-01T00:00:00Z");
        let back = Key::parse(text.as_bytes()).ok().unwrap();
        assert_eq!(back.bytes(), a.bytes());
        assert!(text.starts_with("# pseudolink key\n# created: 2026-01-01T00:00:00Z\n# key id: "));
        assert!(text.contains(&format!("# key id: {}\n", a.id())));
    }
}
