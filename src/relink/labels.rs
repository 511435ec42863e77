//! Names for codes in the HTML report: event types (`AE` reads "A&E
//! attendances (AE)") and matching columns (`age_band` reads "age band").
//! Built-in names cover the common event codes; `--labels FILE` (a CSV of
//! `code,name`, `#` comments allowed) adds or overrides any.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result, Source};

/// Names for codes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels(BTreeMap<String, String>);

/// The largest labels file read.
const MAX_LABELS_FILE: u64 = 1024 * 1024;

impl Labels {
    /// Reads a `code,name` CSV; every problem names the file and the row.
    pub fn load(path: &Path) -> Result<Labels> {
        let file = Source::Path(path.to_path_buf());
        let bad = |problem: String| Error::Usage(format!("labels {file}: {problem}"));
        let text = crate::io::read_small_file(path, MAX_LABELS_FILE).map_err(|e| {
            e.unwrap_or_else(|| {
                bad("is not a labels file (not a regular file, or over 1 MiB)".into())
            })
        })?;
        let (mut reader, header) = crate::io::csv::small_table(&text)
            .map_err(|e| bad(format!("cannot be read as CSV: {e}")))?;
        if header != ["code", "name"] {
            return Err(bad("must have the header `code,name`".into()));
        }
        let mut map = BTreeMap::new();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| bad(format!("row {}: {e}", i + 1)))?;
            let (code, name) = (record[0].trim(), record[1].trim());
            if code.is_empty() || name.is_empty() {
                return Err(bad(format!(
                    "row {}: a code and a name are both needed",
                    i + 1
                )));
            }
            map.insert(code.to_string(), name.to_string());
        }
        Ok(Labels(map))
    }

    /// An event type's name with its code: from the file, else built in,
    /// else the code itself.
    pub fn event_type(&self, code: &str) -> String {
        if let Some(name) = self.0.get(code) {
            return format!("{name} ({code})");
        }
        match code {
            "AE" => "A&E attendances (AE)".into(),
            "NEL" => "emergency admissions (NEL)".into(),
            "EL" => "elective admissions (EL)".into(),
            "OP" => "outpatient appointments (OP)".into(),
            other => other.to_string(),
        }
    }

    /// A column's name in words: from the file, else with spaces for
    /// underscores.
    pub fn column(&self, name: &str) -> String {
        self.0
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.replace('_', " "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_and_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels.csv");
        std::fs::write(
            &p,
            "# names\ncode,name\nAE,Emergency department visits\nimd_decile,deprivation decile\n",
        )
        .unwrap();
        let l = Labels::load(&p).unwrap();
        assert_eq!(l.event_type("AE"), "Emergency department visits (AE)");
        assert_eq!(l.event_type("NEL"), "emergency admissions (NEL)");
        assert_eq!(l.event_type("X1"), "X1");
        assert_eq!(l.column("imd_decile"), "deprivation decile");
        assert_eq!(l.column("age_band"), "age band");
        std::fs::write(&p, "type,label\nAE,x\n").unwrap();
        assert!(Labels::load(&p).is_err());
    }

    #[test]
    fn bom_size_and_file_kind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels.csv");
        std::fs::write(&p, "\u{feff}code,name\nAE,A&E\n").unwrap();
        assert_eq!(Labels::load(&p).unwrap().event_type("AE"), "A&E (AE)");
        let not_labels = |p: &Path| Labels::load(p).unwrap_err().to_string();
        assert!(not_labels(dir.path()).contains("is not a labels file"));
        // A comment line that ends exactly at the limit, then one byte more.
        let mut big = b"code,name\nAE,A&E\n".to_vec();
        big.resize(MAX_LABELS_FILE as usize - 1, b'#');
        big.push(b'\n');
        std::fs::write(&p, &big).unwrap();
        let at_limit = Labels::load(&p);
        assert!(
            at_limit.is_ok(),
            "a file of exactly the limit is read: {at_limit:?}"
        );
        big.push(b'#');
        std::fs::write(&p, &big).unwrap();
        assert!(not_labels(&p).contains("over 1 MiB"));
        assert!(not_labels(&dir.path().join("missing.csv")).contains("cannot open"));
    }
}
