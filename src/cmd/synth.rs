//! `pseudolink synth`: write synthetic referrals and usage files for a
//! rehearsal of the whole flow, or for benchmarks.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::io::output::{check_outputs, AtomicOutput};
use crate::synth::{generate, SynthCounts, SynthSpec};

/// Checked options for `synth`.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// What to generate.
    pub spec: SynthSpec,
    /// Folder for `referrals.csv` and `usage.csv`.
    pub out_dir: PathBuf,
    /// Replace existing files.
    pub force: bool,
}

/// Writes the two files; returns their paths and counts.
pub fn run(opts: &SynthOptions) -> Result<(Vec<PathBuf>, SynthCounts)> {
    if !opts.out_dir.is_dir() {
        std::fs::create_dir_all(&opts.out_dir).map_err(|source| Error::Write {
            file: opts.out_dir.as_path().into(),
            source,
        })?;
    }
    let referrals = opts.out_dir.join("referrals.csv");
    let usage = opts.out_dir.join("usage.csv");
    check_outputs(&[], &[&referrals, &usage], opts.force)?;
    let mut r = AtomicOutput::create(Some(&referrals), opts.force)?;
    let mut u = AtomicOutput::create(Some(&usage), opts.force)?;
    let counts = generate(&opts.spec, &mut r, &mut u)?;
    r.commit()?;
    u.commit()?;
    Ok((vec![referrals, usage], counts))
}
