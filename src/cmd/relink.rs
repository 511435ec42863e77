//! `pseudolink relink`: join a tokenised cohort to a usage extract and
//! report pre/post event counts per group, with disclosure control. The
//! stages are in [`crate::relink::stages`]; this is their order.

use crate::error::Result;
use crate::provider::key::Key;
pub use crate::relink::ids::UsageId;
pub use crate::relink::stages::RelinkOptions;
use crate::relink::stages::{self, Counted};
use crate::relink::Outcome;

/// Runs `relink`: check, read, count, build, write.
pub fn run(opts: &RelinkOptions) -> Result<Outcome> {
    run_with_key(opts, None)
}

/// Runs `relink` with a key already in memory (instead of `--key`'s file),
/// as the Python package does: the key is never read again from a path.
pub fn run_with_key(opts: &RelinkOptions, key: Option<&Key>) -> Result<Outcome> {
    let mut outcome = compute(opts, key)?;
    stages::write_outputs(opts, &mut outcome)?;
    Ok(outcome)
}

/// Stages 1 to 7: everything but writing. A caller that keeps the report
/// in memory (the Python package, whose tables may be
/// [`crate::error::Source::Memory`]) calls this, then
/// [`stages::write_files`] for the files the user named; the released
/// tables are `outcome.release`.
pub fn compute(opts: &RelinkOptions, key: Option<&Key>) -> Result<Outcome> {
    let inputs = stages::check_paths(opts)?;
    let unit_costs = stages::read_unit_costs(opts)?;
    let keys = stages::check_keys(opts, &inputs, key)?;
    let cohort = stages::read_cohort(opts, &inputs, &keys)?;
    let population = stages::read_population(opts, &inputs, &keys, &cohort)?;
    let usage = stages::count_events(opts, &inputs, &keys, &cohort, population.as_ref())?;
    let coverage = stages::settle_coverage(opts, &cohort, &usage)?;
    let counted = Counted {
        cohort,
        population,
        usage,
        coverage,
        key_id: keys.key_id,
    };
    stages::build_outcome(opts, counted, unit_costs)
}
