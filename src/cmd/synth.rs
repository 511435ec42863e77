//! `pseudolink synth`: write synthetic referrals and usage files for a
//! rehearsal of the whole flow, or for benchmarks.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::io::output::{check_outputs, AtomicOutput};
use crate::synth::population::{self, PopulationSpec, Truth};
use crate::synth::{generate, SynthCounts, SynthSpec};

/// Checked options for `synth`.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// What to generate.
    pub spec: SynthSpec,
    /// With `--population`: a population with a known effect instead.
    pub population: Option<PopulationSpec>,
    /// Folder for `referrals.csv` and `usage.csv`.
    pub out_dir: PathBuf,
    /// Replace existing files.
    pub force: bool,
}

/// Writes the two files; returns their paths and counts.
pub fn run(opts: &SynthOptions) -> Result<(Vec<PathBuf>, SynthCounts)> {
    make_dir(opts)?;
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

fn make_dir(opts: &SynthOptions) -> Result<()> {
    if !opts.out_dir.is_dir() {
        std::fs::create_dir_all(&opts.out_dir).map_err(|source| Error::Write {
            file: opts.out_dir.as_path().into(),
            source,
        })?;
    }
    Ok(())
}

/// With `--population`: writes `population.csv`, `referrals.csv` and
/// `usage.csv`; returns their paths and what the simulation knows.
pub fn run_population(opts: &SynthOptions, spec: &PopulationSpec) -> Result<(Vec<PathBuf>, Truth)> {
    make_dir(opts)?;
    let paths: Vec<PathBuf> = ["population.csv", "referrals.csv", "usage.csv"]
        .iter()
        .map(|f| opts.out_dir.join(f))
        .collect();
    let refs: Vec<&std::path::Path> = paths.iter().map(PathBuf::as_path).collect();
    check_outputs(&[], &refs, opts.force)?;
    let mut p = AtomicOutput::create(Some(&paths[0]), opts.force)?;
    let mut r = AtomicOutput::create(Some(&paths[1]), opts.force)?;
    let mut u = AtomicOutput::create(Some(&paths[2]), opts.force)?;
    let truth = population::generate(spec, &mut p, &mut r, &mut u)?;
    p.commit()?;
    r.commit()?;
    u.commit()?;
    Ok((paths, truth))
}
