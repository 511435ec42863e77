//! Ctrl-C (and SIGTERM): stop cleanly instead of dying mid-write.
//!
//! The handler only sets a flag. Long loops call [`check`] between batches;
//! it returns [`Error::Interrupted`], which unwinds through the normal error
//! path, so temporary output files are deleted and nothing appears under a
//! final name. (A `kill -9` cannot be caught: then a `.pseudolink-partial`
//! file may be left beside the output, but the final name is still never
//! touched.)

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler. Safe to call more than once; failure to install
/// (e.g. another handler exists) leaves the default behaviour.
pub fn install() {
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

/// `Err(Error::Interrupted)` once Ctrl-C has been pressed.
pub fn check() -> Result<()> {
    if INTERRUPTED.load(Ordering::Relaxed) {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}
