//! The I/O layer under both sides: CSV records kept byte for byte
//! ([`csv`]), spreadsheets read as CSV ([`xlsx`]), outputs that appear whole
//! or not at all ([`output`]), the ordered parallel pipeline
//! ([`pipeline`]), the progress bar ([`progress`]), Ctrl-C
//! ([`interrupt`]) and no core dumps ([`hardening`]).

pub mod csv;
pub mod hardening;
pub mod interrupt;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod xlsx;

/// Reads a small input file whole (a unit-cost or labels file): a regular
/// file of at most `limit` bytes, else `Err(None)`; an I/O error as the
/// typed error naming the file.
pub fn read_small_file(
    path: &std::path::Path,
    limit: u64,
) -> std::result::Result<Vec<u8>, Option<crate::Error>> {
    use crate::error::{Error, Source};
    let file = || Source::Path(path.to_path_buf());
    let meta = std::fs::metadata(path).map_err(|source| {
        Some(Error::Open {
            file: file(),
            source,
        })
    })?;
    if !meta.is_file() || meta.len() > limit {
        return Err(None);
    }
    // Read through one handle, never past the limit: the file may have
    // grown (or been replaced) since it was measured.
    let f = std::fs::File::open(path).map_err(|source| {
        Some(Error::Read {
            file: file(),
            source,
        })
    })?;
    read_at_most(f, limit, &file())
}

/// Reads `r` whole if it holds at most `limit` bytes (never reading past
/// that), else `Err(None)`; an I/O error names `file`.
fn read_at_most(
    r: impl std::io::Read,
    limit: u64,
    file: &crate::error::Source,
) -> std::result::Result<Vec<u8>, Option<crate::Error>> {
    use std::io::Read;
    let mut text = Vec::new();
    r.take(limit + 1).read_to_end(&mut text).map_err(|source| {
        Some(crate::Error::Read {
            file: file.clone(),
            source,
        })
    })?;
    if text.len() as u64 > limit {
        return Err(None);
    }
    Ok(text)
}

/// [`read_small_file`] for any input: a file, or a table in memory (read
/// through the same limit). Standard input is not a small table.
pub fn read_small_input(
    file: &crate::error::Source,
    limit: u64,
) -> std::result::Result<Vec<u8>, Option<crate::Error>> {
    use crate::error::Source;
    match file {
        Source::Path(p) => read_small_file(p, limit),
        Source::Memory(m) => read_at_most((m.open)(), limit, file),
        Source::Stdin | Source::Stdout => Err(None),
    }
}
