//! `pseudolink tokenise`: replace the NHS-number column by keyed tokens.
//!
//! Streams the input in batches (constant memory but for two bytes per valid
//! number, for duplicate counting), tokenises them on worker threads and
//! writes them in order. Every output goes to a temporary file and is renamed
//! into place only when the whole run has succeeded.

use std::path::{Path, PathBuf};

use super::{load_key, Messages};
use crate::error::{Error, Result, Source};
use crate::io::csv::{escape, ColumnSpec, CsvOptions, Header, BOM};
use crate::io::output::{check_outputs, AtomicOutput, Transaction};
use crate::io::progress::{input_size, Progress};
use crate::provider::key::KeyId;
use crate::provider::manifest::{self, Manifest};
use crate::provider::scan::{self, RejectsWriter, Scanner, Summary};
use crate::provider::token::Tokeniser;

/// Checked options for `tokenise`.
#[derive(Debug, Clone)]
pub struct TokeniseOptions {
    /// The key file.
    pub key: PathBuf,
    /// The input file, or standard input.
    pub input: Source,
    /// Output file; standard output when `None`.
    pub output: Option<PathBuf>,
    /// The NHS-number column; detected from the header when `None`.
    pub column: Option<ColumnSpec>,
    /// Header name of the token column.
    pub token_column: String,
    /// Where to write rejected rows.
    pub rejects: Option<PathBuf>,
    /// CSV dialect.
    pub csv: CsvOptions,
    /// Sheet of a spreadsheet input (the first when `None`).
    pub sheet: Option<String>,
    /// Replace existing outputs.
    pub force: bool,
    /// Worker threads.
    pub threads: usize,
    /// Messages setting.
    pub messages: Messages,
}

/// What a tokenise run did.
#[derive(Debug, Clone)]
pub struct TokeniseReport {
    /// Row counts.
    pub summary: Summary,
    /// The key's id.
    pub key_id: KeyId,
    /// Files written (output, manifest, rejects).
    pub written: Vec<PathBuf>,
}

/// The manifest of a token file: key id, counts, SHA-256, source name.
fn manifest(
    opts: &TokeniseOptions,
    summary: &Summary,
    key_id: &KeyId,
    digest: [u8; 32],
) -> Manifest {
    let t = &summary.tally;

    Manifest {
        format: manifest::FORMAT.to_string(),
        version: manifest::VERSION,
        key_id: key_id.to_string(),
        token_column: opts.token_column.clone(),
        rows_read: t.rows_read,
        rows_tokenised: t.rows_valid,
        rows_rejected: t.rows_rejected(),
        rejected_by_reason: t.rejected_by_reason(),
        duplicate_numbers: summary.duplicate_numbers,
        test_range: t.test_range,
        outside_england_wales: t
            .outside
            .iter()
            .map(|(r, n)| (r.code().to_string(), n))
            .collect(),
        tool_version: crate::VERSION.to_string(),
        spec_version: Some(crate::SPEC_VERSION),
        created: crate::now_rfc3339(),
        sha256: hex::encode(digest),
        // The input's name, with any NHS number in it redacted.
        source_name: opts
            .input
            .path()
            .and_then(Path::file_name)
            .map(|n| crate::provider::nhs::redact_numbers(&n.to_string_lossy()).into_owned()),
    }
}

/// The token column's name must not be another column's already.
fn refuse_token_column_clash(
    opts: &TokeniseOptions,
    header: Option<&crate::io::csv::Header>,
    column: usize,
) -> Result<()> {
    let Some(h) = header else { return Ok(()) };
    let clash = h
        .names
        .iter()
        .enumerate()
        .any(|(i, n)| i != column && n.trim().eq_ignore_ascii_case(opts.token_column.trim()));
    if clash {
        return Err(Error::Usage(format!(
            "{}: the input already has a column named {:?}; choose another name with --token-column",
            opts.input, opts.token_column
        )));
    }
    Ok(())
}

/// The token file (standard output without `--output`), begun with the
/// input's byte order mark and its header, the NHS-number column renamed
/// to the token column: every other header byte kept as it was.
fn open_output(
    opts: &TokeniseOptions,
    header: Option<&Header>,
    bom: bool,
    delimiter: u8,
    column: usize,
) -> Result<AtomicOutput> {
    let mut out = AtomicOutput::create(opts.output.as_deref(), opts.force)?;
    if opts.output.is_some() {
        out = out.with_sha256();
    }
    if bom {
        out.put(BOM)?;
    }
    if let Some(h) = header {
        let (s, e) = h.spans[column];
        out.put(&h.raw[..s])?;
        out.put(&escape(opts.token_column.as_bytes(), delimiter))?;
        out.put(&h.raw[e..])?;
    }
    Ok(out)
}

/// Runs `tokenise`.
pub fn run(opts: &TokeniseOptions) -> Result<TokeniseReport> {
    let manifest_path = opts.output.as_deref().map(manifest::path_for);
    let outputs: Vec<&Path> = [
        opts.output.as_deref(),
        manifest_path.as_deref(),
        opts.rejects.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let key_source = Source::Path(opts.key.clone());
    check_outputs(&[&opts.input, &key_source], &outputs, opts.force)?;
    let key = load_key(&opts.key, opts.messages)?;
    let key_id = key.id();
    let tokeniser = Tokeniser::new(&key)?;
    drop(key);

    let (reader, column) = scan::open(
        &opts.input,
        opts.csv,
        opts.column.as_ref(),
        opts.sheet.as_deref(),
    )?;
    refuse_token_column_clash(opts, reader.header(), column)?;

    let mut out = open_output(
        opts,
        reader.header(),
        reader.had_bom(),
        reader.delimiter(),
        column,
    )?;
    let mut rejects = RejectsWriter::create(opts.rejects.as_deref(), opts.force)?;
    let scanner = Scanner {
        column,
        tokeniser: Some(&tokeniser),
    };
    let progress = Progress::new("tokenise", input_size(&opts.input), opts.messages.quiet);
    let summary = scan::run(reader, &scanner, opts.threads, &progress, |result| {
        let buf = std::mem::take(&mut result.out);
        if let Some(spent) = out.put_vec(buf)? {
            result.out = spent;
        }
        if let Some(w) = &mut rejects {
            w.write(&result.rejects)?;
        }
        Ok(())
    })?;

    // Rejects, tokens and manifest appear together or not at all: a
    // manifest is only ever beside the token file it describes.
    let mut written = Vec::new();
    let mut commit = Transaction::default();
    if let Some(w) = rejects {
        commit.add(w.finish()?)?;
        written.extend(opts.rejects.clone());
    }
    let digest = commit.add(out)?;
    if let Some(p) = &opts.output {
        written.push(p.clone());
    }
    if let (Some(mpath), Some(digest)) = (&manifest_path, digest) {
        let m = manifest(opts, &summary, &key_id, digest);
        let mut mf = AtomicOutput::create(Some(mpath), opts.force)?;
        mf.put(m.to_json().as_bytes())?;
        commit.add(mf)?;
        written.push(mpath.clone());
    }
    commit.commit()?;
    Ok(TokeniseReport {
        summary,
        key_id,
        written,
    })
}
