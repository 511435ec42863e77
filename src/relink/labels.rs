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
        let meta = std::fs::metadata(path).map_err(|source| Error::Open {
            file: file.clone(),
            source,
        })?;
        if !meta.is_file() || meta.len() > MAX_LABELS_FILE {
            return Err(bad(
                "is not a labels file (not a regular file, or over 1 MiB)".into(),
            ));
        }
        let text = std::fs::read(path).map_err(|source| Error::Read {
            file: file.clone(),
            source,
        })?;
        let text = text.strip_prefix(crate::io::csv::BOM).unwrap_or(&text);
        let mut reader = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .from_reader(text);
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| bad(format!("cannot be read as CSV: {e}")))?
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
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
}
