//! Typed errors: one variant per failure a user can see.
//!
//! Every message says what went wrong, where (file, row, column) and, where
//! there is one, how to fix it. No message ever contains a cell value that
//! could be an NHS number, nor any byte of a key: values are shown only
//! through [`shown_value`], which withholds anything with many digits.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A file as named to the user: a path, standard input/output, or a table
/// a binding holds in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Standard input.
    Stdin,
    /// Standard output.
    Stdout,
    /// A named file.
    Path(PathBuf),
    /// A table in memory (a DataFrame in Python), read as CSV text.
    Memory(InMemory),
}

/// A table a binding holds in memory (the Python package's DataFrames),
/// handed to the readers as CSV text by `open`, so that it goes through the
/// same parser, checks and messages as a file, and never touches a disk.
/// `name` is how messages name it (for example `the usage DataFrame`).
#[derive(Clone)]
pub struct InMemory {
    /// How messages name the table.
    pub name: String,
    /// Opens the table's CSV text from its start.
    pub open: std::sync::Arc<dyn Fn() -> Box<dyn io::Read + Send> + Send + Sync>,
}

impl fmt::Debug for InMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemory")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for InMemory {
    fn eq(&self, other: &InMemory) -> bool {
        std::sync::Arc::ptr_eq(&self.open, &other.open)
    }
}

impl Eq for InMemory {}

impl Source {
    /// `-` or nothing means standard input.
    pub fn input(arg: Option<&Path>) -> Source {
        match arg {
            None => Source::Stdin,
            Some(p) if p.as_os_str() == "-" => Source::Stdin,
            Some(p) => Source::Path(p.to_path_buf()),
        }
    }
    /// The path, if this is a named file.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Source::Path(p) => Some(p),
            _ => None,
        }
    }
}

/// A path as shown in messages: any NHS number in it is redacted.
pub fn shown_path(p: &Path) -> String {
    crate::provider::nhs::redact_numbers(&p.display().to_string()).into_owned()
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Stdin => f.write_str("<stdin>"),
            Source::Stdout => f.write_str("<stdout>"),
            Source::Path(p) => f.write_str(&crate::provider::nhs::redact_numbers(
                &p.display().to_string(),
            )),
            Source::Memory(m) => f.write_str(&crate::provider::nhs::redact_numbers(&m.name)),
        }
    }
}

impl From<&Path> for Source {
    fn from(p: &Path) -> Source {
        Source::Path(p.to_path_buf())
    }
}

/// What is wrong with a key file. Never carries any of the file's content.
#[allow(missing_docs)] // fields are named for what they hold
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// The path is a directory, device or other non-regular file.
    NotAFile,
    /// Larger than the 64 KiB the spec allows.
    TooLarge,
    /// The file is not UTF-8 text.
    NotUtf8,
    /// No key line: only blank lines and comments.
    NoKeyLine,
    /// More than one non-comment line.
    SeveralKeyLines { first: usize, second: usize },
    /// A character that is not a hex digit, at a 1-based line and column.
    NotHex { line: usize, column: usize },
    /// An odd number of hex digits.
    OddLength { line: usize, digits: usize },
    /// Fewer than 32 bytes.
    TooShort { line: usize, bytes: usize },
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::NotAFile => f.write_str(
                "is not a regular file; give the path of a key file made by `pseudolink keygen`",
            ),
            KeyProblem::TooLarge => f.write_str(
                "is larger than 64 KiB, so it cannot be a key file; check you gave the right path",
            ),
            KeyProblem::NotUtf8 => {
                f.write_str("is not UTF-8 text; a key file holds one line of hex digits")
            }
            KeyProblem::NoKeyLine => f.write_str(
                "has no key line (only blank lines and # comments); it needs one line of 64 or more hex digits",
            ),
            KeyProblem::SeveralKeyLines { first, second } => write!(
                f,
                "has more than one key line (lines {first} and {second}); keep exactly one, or start the others with #"
            ),
            KeyProblem::NotHex { line, column } => write!(
                f,
                "line {line}, column {column}: not a hex digit (0-9, a-f); the key must be hex only"
            ),
            KeyProblem::OddLength { line, digits } => write!(
                f,
                "line {line}: {digits} hex digits is an odd number; a digit is missing or extra"
            ),
            KeyProblem::TooShort { line, bytes } => write!(
                f,
                "line {line}: the key is {bytes} bytes, but at least 32 bytes (64 hex digits) are required; make a new one with `pseudolink keygen`"
            ),
        }
    }
}

/// Every failure a user can see.
#[allow(missing_docs)] // fields are named for what they hold
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input file cannot be opened.
    #[error("cannot open {file}: {source}{}", io_hint(.source))]
    Open { file: Source, source: io::Error },
    /// Reading failed part way.
    #[error("cannot read {file}: {source}")]
    Read { file: Source, source: io::Error },
    /// Writing failed (disk full, permissions, ...). Nothing is left under the final name.
    #[error("cannot write {file}: {source}{}", io_hint(.source))]
    Write { file: Source, source: io::Error },
    /// An output exists and `--force` was not given.
    #[error("{file} already exists; pass --force to replace it")]
    OutputExists { file: Source },
    /// Two of the files named are the same.
    #[error("{first} and {second} are the same file; give each output its own name")]
    SameFile { first: Source, second: Source },
    /// A key file is unusable.
    #[error("key file {file} {problem}")]
    Key { file: Source, problem: KeyProblem },
    /// The file has no rows at all, not even a header.
    #[error("{file} is empty: expected a header row{hint}")]
    EmptyFile { file: Source, hint: &'static str },
    /// A row has a different number of fields from the header.
    #[error("{file}: row {row} (line {line}) has {found} fields, but the header has {expected}; a missing or extra delimiter, or an unquoted delimiter inside a value?")]
    RaggedRow {
        file: Source,
        row: u64,
        line: u64,
        found: usize,
        expected: usize,
    },
    /// One record is longer than the reader accepts (almost always a
    /// quote left open).
    #[error("{file}: {} (line {line}) runs past {limit_mib} MiB without ending; this is almost always a quote left open (a stray \" in that row), which makes the rest of the file one value", row_or_header(*row))]
    RecordTooLong {
        file: Source,
        row: Option<u64>,
        line: u64,
        limit_mib: usize,
    },
    /// A quoted field runs to the end of the file.
    #[error("{file}: row {row}: the quoted field that starts on line {line} is never closed; look for a stray \" in that row")]
    UnclosedQuote { file: Source, row: u64, line: u64 },
    /// Text follows a closing quote, as in `"abc"def`.
    #[error("{file}: row {row} (line {line}), column {column}: text follows a closing quote; inside a quoted value a quote must be doubled (\"\")")]
    TextAfterQuote {
        file: Source,
        row: u64,
        line: u64,
        column: usize,
    },
    /// A header cell is not UTF-8.
    #[error("{file}: the header's column {column} is not UTF-8 text; save the file as UTF-8 (in Excel: CSV UTF-8)")]
    HeaderNotUtf8 { file: Source, column: usize },
    /// A column named on the command line is not in the header.
    #[error("{file}: no column {wanted:?} (the columns are {available}){hint}")]
    MissingColumn {
        file: Source,
        wanted: String,
        available: String,
        hint: String,
    },
    /// A column number beyond the last column.
    #[error("{file}: column {number} is out of range: the file has {count} columns")]
    ColumnOutOfRange {
        file: Source,
        number: usize,
        count: usize,
    },
    /// No header looks like an NHS-number column.
    #[error("{file}: no column looks like an NHS number (the columns are {available}); name it with --column")]
    NoNhsColumn { file: Source, available: String },
    /// Several headers look like an NHS-number column.
    #[error(
        "{file}: several columns look like NHS numbers ({candidates}); choose one with --column"
    )]
    AmbiguousNhsColumn { file: Source, candidates: String },
    /// `--no-headers` without `--column`.
    #[error("--no-headers needs --column with a column number")]
    NoHeadersNeedsColumn,
    /// A column given by name while `--no-headers` is set.
    #[error("with --no-headers, columns must be given by number, not by name ({wanted:?})")]
    NameWithoutHeaders { wanted: String },
    /// A date cell that is not a date.
    #[error(
        "{file}: row {row}, column {column:?}: {shown} is not a date; use YYYY-MM-DD or DD/MM/YYYY"
    )]
    BadDate {
        file: Source,
        row: u64,
        column: String,
        shown: String,
    },
    /// A date that parses but is implausible.
    #[error("{file}: row {row}, column {column:?}: the date {date} is outside 1900-01-01 to 2100-12-31; check the column holds the right dates")]
    DateOutOfRange {
        file: Source,
        row: u64,
        column: String,
        date: String,
    },
    /// A value (`--value-column`, unit cost) that is not a decimal ≥ 0.
    #[error("{file}: row {row}, column {column:?}: {shown} {why}\n  hint: an empty cell counts as 0; fix the cell or the export, or choose another --value-column")]
    BadValue {
        file: Source,
        row: u64,
        column: String,
        shown: String,
        why: &'static str,
    },
    /// A cohort token cell that is not 64 hex characters.
    #[error("{file}: row {row}, column {column:?}: not a token (64 hex characters){hint}")]
    BadToken {
        file: Source,
        row: u64,
        column: String,
        hint: &'static str,
    },
    /// Files or keys made under different keys.
    #[error("key id mismatch: {first_what} has key id {first_id}, but {second_what} has key id {second_id}; tokens made with different keys never match, so the two sides must use the same key file (read the key ids aloud to check)")]
    KeyIdMismatch {
        first_what: String,
        first_id: String,
        second_what: String,
        second_id: String,
    },
    /// A cohort file with no manifest beside it, without `--no-manifest`.
    #[error("{file} has no manifest beside it ({manifest}), so its key id cannot be checked against the usage file or the key; a cohort made under another key would give a report of zeros\n  hint: keep the .manifest.json that `tokenise --output` wrote next to the token file; if you are sure both sides used the same key, pass --no-manifest")]
    NoManifest { file: Source, manifest: String },
    /// A unit-cost file that cannot be used.
    #[error("unit costs {file} {problem}")]
    UnitCosts { file: Source, problem: String },
    /// A manifest that cannot be used.
    #[error("manifest {file}: {problem}")]
    Manifest { file: Source, problem: String },
    /// A spreadsheet that cannot be read, or a sheet that is not there.
    #[error("spreadsheet {file} {problem}")]
    Spreadsheet { file: Source, problem: String },
    /// The fast token path disagreed with the `hmac` crate at start-up.
    #[error("self-test failed: this build's fast token path does not agree with the hmac crate under this key, so nothing was tokenised and nothing was written\n  hint: this is a fault in the build or the machine, not in your data; do not use this build, and report it (the message holds no key material)")]
    SelfTest,
    /// A label column (`--group-by`, `--event-type-column`, `--match-on`)
    /// whose values look like NHS numbers or tokens.
    #[error("{file}: column {column:?} ({flag}) holds NHS numbers or tokens, which would then appear in every output; identifiers are never used as labels\n  hint: choose a column of categories, such as a cohort, an age band or an event type like AE")]
    IdentifierLabel {
        file: Source,
        column: String,
        flag: &'static str,
    },
    /// A file whose SHA-256 is not the one its manifest records.
    #[error("{file} is not the file its manifest ({manifest}) describes: its SHA-256 differs, so the manifest's key id cannot be trusted for it\n  hint: tokenise the file again (which writes both together); if you changed it on purpose, move the manifest away and, for a cohort, pass --no-manifest")]
    ManifestDigest { file: Source, manifest: String },
    /// Nobody in the cohort appears in the usage file.
    #[error("nobody in the cohort appears in the usage file ({rows} rows read), so the report would be all zeros\n  hint: the files were most likely made with different keys: compare the key ids (pseudolink key-id --key FILE, and the manifests' key_id), and keep each tokenised file's .manifest.json beside it; if an empty result is really expected, pass --allow-no-matches")]
    NoMatches { rows: u64 },
    /// A key file other users can read (Unix).
    #[error("key file {file} can be read by other users (mode {mode}), so it is refused: anyone who can read it can reverse every token\n  hint: chmod 600 {file} (and check who may have copied it)")]
    KeyReadable { file: Source, mode: String },
    /// An output that exists and is not a regular file.
    #[error("{file} is not a regular file (a device, pipe, socket or folder), so it is never replaced, even with --force\n  hint: give a file name; to pipe the output, write to standard output (-) instead")]
    NotRegularFile { file: Source },
    /// Ctrl-C or SIGTERM: the run stopped and wrote nothing.
    #[error("interrupted: nothing was written (temporary files were removed)")]
    Interrupted,
    /// A command-line value that makes no sense.
    #[error("{0}")]
    Usage(String),
    /// Nobody is left to report on.
    #[error("{0}")]
    NothingToReport(String),
}

impl Error {
    /// True when the error is a broken pipe on output: the reader went away
    /// (e.g. `| head`) and we should exit quietly.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Write { source, .. } | Error::Read { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// A hint for the common file-system failures.
fn io_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::NotFound => "; check the file name and folder",
        io::ErrorKind::PermissionDenied => {
            "; check that you have permission (and that the file is not open in another program)"
        }
        io::ErrorKind::StorageFull => "; the disk is full: free some space or write elsewhere",
        _ => "",
    }
}

/// A cell value as it may be shown in an error message: the value itself when
/// it cannot hold an identifier, otherwise a note that it was withheld.
///
/// Anything with more than eight digits, or longer than 24 bytes, or not
/// UTF-8, is withheld: a date has eight digits, an NHS number ten.
pub fn shown_value(value: &[u8]) -> String {
    let digits = value.iter().filter(|b| b.is_ascii_digit()).count();
    match std::str::from_utf8(value) {
        Ok(s) if digits <= 8 && s.len() <= 24 && !s.chars().any(char::is_control) => {
            format!("{s:?}")
        }
        _ => "the value (withheld: it may hold an identifier)".to_string(),
    }
}

/// "row N", or "the header" for the header record.
fn row_or_header(row: Option<u64>) -> String {
    match row {
        Some(n) => format!("row {n}"),
        None => "the header".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_value_withholds_numbers() {
        assert_eq!(shown_value(b"2024-13-01"), "\"2024-13-01\"");
        assert!(shown_value(b"9434765919").contains("withheld"));
        assert!(shown_value(b"943 476 5919").contains("withheld"));
        assert!(shown_value(b"\xff").contains("withheld"));
        assert!(shown_value(&[b'a'; 100]).contains("withheld"));
    }

    #[test]
    fn file_errors_carry_a_hint() {
        let e = Error::Open {
            file: Source::Path("missing.csv".into()),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert!(
            e.to_string().ends_with("; check the file name and folder"),
            "{e}"
        );
    }

    #[test]
    fn key_problems_name_positions_not_content() {
        let e = Error::Key {
            file: Source::Path("k.key".into()),
            problem: KeyProblem::NotHex { line: 3, column: 7 },
        };
        assert_eq!(
            e.to_string(),
            "key file k.key line 3, column 7: not a hex digit (0-9, a-f); the key must be hex only"
        );
    }
}
