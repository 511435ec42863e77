//! The manifest that travels beside a token file (docs/SPEC.md section 4).
//!
//! `tokenise --output F` writes `F.manifest.json`; `relink` reads the
//! manifests beside its inputs and refuses to join files made under
//! different keys. A manifest holds counts, names and hashes, never an NHS
//! number or key material.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, Source};
use crate::provider::key::KeyId;

/// The `format` value of a token manifest.
pub const FORMAT: &str = "pseudolink-tokens";
/// The manifest version written and understood.
pub const VERSION: u32 = 1;
/// Largest manifest that will be read.
const MAX_MANIFEST: u64 = 1024 * 1024;

/// A token file's manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `pseudolink-tokens`.
    pub format: String,
    /// Always 1.
    pub version: u32,
    /// Key id of the key the tokens were made with.
    pub key_id: String,
    /// Name of the token column in the file.
    pub token_column: String,
    /// Data rows read (the header is not a row).
    pub rows_read: u64,
    /// Rows written with a token.
    pub rows_tokenised: u64,
    /// Rows sent to the rejects file.
    pub rows_rejected: u64,
    /// Rejected rows by reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Tokenised rows whose number appeared on an earlier row.
    pub duplicate_numbers: u64,
    /// Tokenised rows in the test-patient range (999...).
    pub test_range: u64,
    /// Tokenised rows outside the ranges issued in England, Wales and the
    /// Isle of Man, by range code (`scotland_chi`, `chi_range_not_a_date`,
    /// `northern_ireland`, `unallocated`; every code, zeros included).
    /// Absent from manifests written before it existed.
    #[serde(default)]
    pub outside_england_wales: BTreeMap<String, u64>,
    /// pseudolink version that wrote it.
    pub tool_version: String,
    /// Spec version the tokens follow.
    #[serde(default)]
    pub spec_version: Option<u32>,
    /// RFC 3339 time of writing.
    pub created: String,
    /// Lowercase hex SHA-256 of the token file.
    pub sha256: String,
    /// The input file's name (not its path), for the recipient's reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
}

/// Where the manifest of a file lives: `F.manifest.json`.
pub fn path_for(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".manifest.json");
    PathBuf::from(s)
}

/// Lowercase hex SHA-256 of a file, read in blocks.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hex::encode(h.finalize()))
}

impl Manifest {
    /// Serialises as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("manifest serialises");
        s.push('\n');
        s
    }

    /// The key id, checked to be 16 lowercase hex characters.
    pub fn key_id(&self) -> Option<KeyId> {
        KeyId::parse(&self.key_id)
    }

    /// Reads and checks the manifest beside `file`, if there is one.
    pub fn read_beside(file: &Path) -> Result<Option<(PathBuf, Manifest)>> {
        let path = path_for(file);
        if !path.exists() {
            return Ok(None);
        }
        let label = Source::Path(path.clone());
        let bad = |problem: String| Error::Manifest {
            file: label.clone(),
            problem,
        };
        let meta = std::fs::metadata(&path).map_err(|source| Error::Open {
            file: label.clone(),
            source,
        })?;
        if !meta.is_file() || meta.len() > MAX_MANIFEST {
            return Err(bad(
                "is not a manifest file (not a regular file, or over 1 MiB)".into(),
            ));
        }
        let text = std::fs::read(&path).map_err(|source| Error::Read {
            file: label.clone(),
            source,
        })?;
        let m: Manifest = serde_json::from_slice(&text).map_err(|e| {
            bad(format!(
                "is not a valid pseudolink manifest (line {}, column {}: {}); was it edited by hand?",
                e.line(),
                e.column(),
                match e.classify() {
                    serde_json::error::Category::Data => "a field is missing or has the wrong type",
                    serde_json::error::Category::Syntax => "not valid JSON",
                    serde_json::error::Category::Eof => "the file ends too early",
                    serde_json::error::Category::Io => "could not be read",
                }
            ))
        })?;
        if m.format != FORMAT {
            // The value itself is never echoed: it is the file's content.
            return Err(bad(format!(
                "is not a pseudolink tokens manifest (its \"format\" is not {FORMAT:?})"
            )));
        }
        if m.version != VERSION {
            return Err(bad(format!(
                "is version {}, but this pseudolink reads version {VERSION}; use a matching pseudolink",
                m.version
            )));
        }
        if m.key_id().is_none() {
            return Err(bad(
                "has a key_id that is not 16 lowercase hex characters".into()
            ));
        }
        if m.rows_read != m.rows_tokenised + m.rows_rejected {
            return Err(bad(format!(
                "does not add up: rows_read {} is not rows_tokenised {} + rows_rejected {}",
                m.rows_read, m.rows_tokenised, m.rows_rejected
            )));
        }
        Ok(Some((path, m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: VERSION,
            key_id: "e8a99eb43869d8af".into(),
            token_column: "token".into(),
            rows_read: 3,
            rows_tokenised: 2,
            rows_rejected: 1,
            rejected_by_reason: [("empty".to_string(), 1)].into_iter().collect(),
            duplicate_numbers: 0,
            test_range: 0,
            outside_england_wales: [("scotland_chi".to_string(), 0)].into_iter().collect(),
            tool_version: "0.1.0".into(),
            spec_version: Some(1),
            created: "2026-11-23T00:00:00Z".into(),
            sha256: "00".repeat(32),
            source_name: None,
        }
    }

    #[test]
    fn round_trip_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.csv");
        assert!(Manifest::read_beside(&f).unwrap().is_none());
        std::fs::write(path_for(&f), sample().to_json()).unwrap();
        let (_, m) = Manifest::read_beside(&f).unwrap().unwrap();
        assert_eq!(m, sample());

        let mut bad = sample();
        bad.key_id = "XYZ".into();
        std::fs::write(path_for(&f), bad.to_json()).unwrap();
        assert!(Manifest::read_beside(&f)
            .unwrap_err()
            .to_string()
            .contains("key_id"));

        std::fs::write(path_for(&f), "{").unwrap();
        assert!(Manifest::read_beside(&f)
            .unwrap_err()
            .to_string()
            .contains("not a valid"));
    }

    /// A manifest written before `outside_england_wales` existed still
    /// reads, with that field empty.
    #[test]
    fn an_older_manifest_without_range_counts_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.csv");
        let mut json: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        json.as_object_mut()
            .unwrap()
            .remove("outside_england_wales");
        std::fs::write(path_for(&f), json.to_string()).unwrap();
        let (_, m) = Manifest::read_beside(&f).unwrap().unwrap();
        assert!(m.outside_england_wales.is_empty());
        assert_eq!(m.rows_read, 3);
    }

    #[test]
    fn path_is_beside() {
        assert_eq!(
            path_for(Path::new("a/b.csv")),
            PathBuf::from("a/b.csv.manifest.json")
        );
    }
}
