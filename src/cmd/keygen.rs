//! `pseudolink keygen`: make a new 32-byte key from the OS CSPRNG.

use std::path::PathBuf;

use crate::error::Result;
use crate::io::output::check_outputs;
use crate::provider::key::{Key, KeyId};

/// Checked options for `keygen`.
#[derive(Debug, Clone)]
pub struct KeygenOptions {
    /// Where to write the key file.
    pub output: PathBuf,
    /// Replace an existing file.
    pub force: bool,
}

/// Generates and writes a key; returns its id.
pub fn run(opts: &KeygenOptions) -> Result<KeyId> {
    check_outputs(&[], &[&opts.output], opts.force)?;
    let key = Key::generate()?;
    key.write_file(&opts.output, opts.force)?;
    Ok(key.id())
}
