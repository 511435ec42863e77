//! Columns: header names, `--column` resolution (a name in any case or a
//! 1-based number) and NHS-number column detection, with "did you mean"
//! hints in every error.

use crate::error::{Error, Result, Source};

/// A column as named on the command line: a header name or a 1-based number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnSpec {
    /// Matched case-insensitively against the header, ignoring surrounding space.
    Name(String),
    /// 1-based column number.
    Number(usize),
}

impl std::str::FromStr for ColumnSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            match s.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(ColumnSpec::Number(n)),
                _ => Err(format!("column numbers start at 1, not {s:?}")),
            }
        } else if s.trim().is_empty() {
            Err("a column name cannot be empty".to_string())
        } else {
            Ok(ColumnSpec::Name(s.to_string()))
        }
    }
}

impl std::fmt::Display for ColumnSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnSpec::Name(n) => write!(f, "{n:?}"),
            ColumnSpec::Number(n) => write!(f, "{n}"),
        }
    }
}

/// The header row, as raw bytes and as decoded names.
#[derive(Clone, Debug)]
pub struct Header {
    /// The raw bytes of the header record, terminator included.
    pub raw: Vec<u8>,
    /// Raw spans of each field within `raw` (quotes included).
    pub spans: Vec<(usize, usize)>,
    /// Decoded names (UTF-8, unquoted).
    pub names: Vec<String>,
}

impl Header {
    /// A list of the names for error messages: `"a", "b", "c"`.
    pub fn list(&self) -> String {
        list_names(self.names.iter().map(String::as_str))
    }
}

/// A header cell as named in a message: quoted, unless it has more than
/// eight digits (a file with no header row puts its first row here, NHS
/// numbers and all).
pub fn shown_name(name: &str) -> String {
    if name.bytes().filter(u8::is_ascii_digit).count() > 8 {
        "(a cell withheld: it may hold an identifier)".to_string()
    } else {
        format!("{name:?}")
    }
}

/// Formats names as `"a", "b"` for messages, capped at 30 names.
pub fn list_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = names.collect();
    let mut s = all
        .iter()
        .take(30)
        .map(|n| shown_name(n))
        .collect::<Vec<_>>()
        .join(", ");
    if all.len() > 30 {
        s.push_str(&format!(" and {} more", all.len() - 30));
    }
    s
}

fn normalise_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Levenshtein distance, for "did you mean" hints on short header names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Resolves a column spec to a 0-based index against the header (or, without
/// headers, against the field count).
pub fn resolve_column(
    spec: &ColumnSpec,
    header: Option<&Header>,
    n_fields: usize,
    file: &Source,
    flag: &str,
) -> Result<usize> {
    match spec {
        ColumnSpec::Number(n) => {
            if *n > n_fields {
                Err(Error::ColumnOutOfRange {
                    file: file.clone(),
                    number: *n,
                    count: n_fields,
                })
            } else {
                Ok(n - 1)
            }
        }
        ColumnSpec::Name(wanted) => {
            let header = header.ok_or_else(|| Error::NameWithoutHeaders {
                wanted: wanted.clone(),
            })?;
            let w = wanted.trim().to_lowercase();
            if let Some(i) = header
                .names
                .iter()
                .position(|n| n.trim().to_lowercase() == w)
            {
                return Ok(i);
            }
            let nw = normalise_name(wanted);
            let close = header.names.iter().find(|n| {
                let nn = normalise_name(n);
                nn == nw || (nw.len() >= 4 && edit_distance(&nn, &nw) <= 2)
            });
            // A header read whole because its delimiter was another.
            let joined = header.names.iter().find_map(|n| {
                if n.contains('\t') {
                    Some("tab")
                } else if n.contains(';') {
                    Some(";")
                } else {
                    None
                }
            });
            let hint = match (close, joined) {
                (Some(n), _) => format!("; did you mean {flag} {n:?}?"),
                (None, Some(d)) => format!(
                    "\n  hint: the header holds {} characters, so this file is likely {}-separated: give the matching delimiter option (--delimiter {d}, or for relink --cohort-delimiter/--usage-delimiter/--population-delimiter {d})",
                    if d == "tab" { "tab" } else { "semicolon" },
                    if d == "tab" { "tab" } else { "semicolon" }
                ),
                (None, None) => String::new(),
            };
            Err(Error::MissingColumn {
                file: file.clone(),
                wanted: wanted.clone(),
                available: header.list(),
                hint,
            })
        }
    }
}

/// True when a header name looks like an NHS-number column: `nhs_number`,
/// `NHS Number`, `nhs no`, `NHSNumber`, `Patient NHS No` and the like.
pub fn looks_like_nhs_header(name: &str) -> bool {
    let n = normalise_name(name);
    let n = ["patient", "person", "client", "pt"]
        .iter()
        .find_map(|p| n.strip_prefix(p))
        .unwrap_or(&n);
    matches!(
        n,
        "nhsnumber" | "nhsno" | "nhsnum" | "nhsnbr" | "nhsnumb" | "nhs" | "nhsid"
    )
}

/// Picks the NHS-number column: the one given, or the one header that looks
/// like it. Several candidates, or none, is an error naming them.
pub fn nhs_column(
    spec: Option<&ColumnSpec>,
    header: Option<&Header>,
    n_fields: usize,
    file: &Source,
) -> Result<usize> {
    if let Some(spec) = spec {
        return resolve_column(spec, header, n_fields, file, "--column");
    }
    let header = header.ok_or(Error::NoHeadersNeedsColumn)?;
    let candidates: Vec<usize> = (0..header.names.len())
        .filter(|&i| looks_like_nhs_header(&header.names[i]))
        .collect();
    match candidates.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::NoNhsColumn {
            file: file.clone(),
            available: header.list(),
        }),
        many => Err(Error::AmbiguousNhsColumn {
            file: file.clone(),
            candidates: list_names(many.iter().map(|&i| header.names[i].as_str())),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhs_header_detection() {
        for yes in [
            "nhs_number",
            "NHS Number",
            "nhs no",
            "NHSNumber",
            "Patient NHS No",
            "NHS No.",
        ] {
            assert!(looks_like_nhs_header(yes), "{yes}");
        }
        for no in ["name", "nhs_number_verified", "number", "gp_practice"] {
            assert!(!looks_like_nhs_header(no), "{no}");
        }
    }

    #[test]
    fn column_resolution_and_hints() {
        let h = Header {
            raw: vec![],
            spans: vec![],
            names: vec!["id".into(), "NHS No".into(), "nhs_number".into()],
        };
        let f = Source::Stdin;
        assert_eq!(
            resolve_column(&"nhs no".parse().unwrap(), Some(&h), 3, &f, "--column").unwrap(),
            1
        );
        assert_eq!(
            resolve_column(&"3".parse().unwrap(), Some(&h), 3, &f, "--column").unwrap(),
            2
        );
        assert!(matches!(
            resolve_column(&"4".parse().unwrap(), Some(&h), 3, &f, "--column"),
            Err(Error::ColumnOutOfRange { .. })
        ));
        let e =
            resolve_column(&"NHS_No".parse().unwrap(), Some(&h), 3, &f, "--column").unwrap_err();
        assert!(
            e.to_string().contains("did you mean --column \"NHS No\"?"),
            "{e}"
        );
        let e = nhs_column(None, Some(&h), 3, &f).unwrap_err();
        assert!(matches!(e, Error::AmbiguousNhsColumn { .. }));
        assert!(e.to_string().contains("\"NHS No\", \"nhs_number\""), "{e}");
        assert!("0".parse::<ColumnSpec>().is_err());
    }
}
