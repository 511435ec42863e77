//! `pseudolink validate`: check every NHS number in a column, without a key.

use std::path::PathBuf;

use super::Messages;
use crate::error::{Result, Source};
use crate::io::csv::{ColumnSpec, CsvOptions};
use crate::io::output::check_outputs;
use crate::io::progress::{input_size, Progress};
use crate::provider::scan::{self, RejectsWriter, Scanner, Summary};

/// Checked options for `validate`.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// The input file, or standard input.
    pub input: Source,
    /// The NHS-number column; detected from the header when `None`.
    pub column: Option<ColumnSpec>,
    /// Where to write every invalid row.
    pub rejects: Option<PathBuf>,
    /// CSV dialect.
    pub csv: CsvOptions,
    /// Sheet of a spreadsheet input (the first when `None`).
    pub sheet: Option<String>,
    /// Replace an existing rejects file.
    pub force: bool,
    /// Worker threads.
    pub threads: usize,
    /// Messages setting.
    pub messages: Messages,
}

/// Validates the column and returns the summary. The caller exits 1 when
/// any row was rejected.
pub fn run(opts: &ValidateOptions) -> Result<Summary> {
    let outputs: Vec<&std::path::Path> = opts.rejects.iter().map(PathBuf::as_path).collect();
    check_outputs(&[&opts.input], &outputs, opts.force)?;
    let (reader, column) = scan::open(
        &opts.input,
        opts.csv,
        opts.column.as_ref(),
        opts.sheet.as_deref(),
    )?;
    let mut rejects = RejectsWriter::create(opts.rejects.as_deref(), opts.force)?;
    let scanner = Scanner {
        column,
        tokeniser: None,
    };
    let progress = Progress::new("validate", input_size(&opts.input), opts.messages.quiet);
    let summary = scan::run(reader, &scanner, opts.threads, &progress, |result| {
        if let Some(w) = &mut rejects {
            w.write(&result.rejects)?;
        }
        Ok(())
    })?;
    if let Some(w) = rejects {
        w.finish()?.commit()?;
    }
    Ok(summary)
}
