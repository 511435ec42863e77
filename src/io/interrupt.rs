//! Ctrl-C (and SIGTERM): stop cleanly, whatever the program is doing.
//!
//! The handler sets a flag. Read loops call [`check`] between batches, and
//! every write to an output checks it too ([`crate::io::output`]); either
//! returns an error that unwinds through the normal error path, so
//! temporary files are deleted and nothing appears under a final name.
//!
//! A run blocked where no check can run (waiting on a stalled standard
//! input, say) is stopped by a watchdog: one second after the signal it
//! deletes every temporary output still registered here and exits with
//! 130. Outputs are renamed into place under [`commit_lock`], which the
//! watchdog takes before exiting, so it never stops a run between two
//! renames. (A `kill -9` cannot be caught; see SECURITY.md for what it can
//! leave.)

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::error::{Error, Result};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Temporary outputs not yet renamed into place (a path that has been
/// renamed or deleted is simply gone when the watchdog tries it).
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Held while outputs are renamed into place.
static COMMIT: Mutex<()> = Mutex::new(());

/// How long a run may take to stop by itself before the watchdog stops it.
pub const GRACE: Duration = Duration::from_secs(1);

/// Installs the handler. Safe to call more than once; failure to install
/// (e.g. another handler exists) leaves the default behaviour.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            return;
        }
        std::thread::spawn(|| {
            std::thread::sleep(GRACE);
            let _commit = COMMIT.lock();
            if let Ok(live) = LIVE.lock() {
                for p in live.iter() {
                    let _ = std::fs::remove_file(p);
                }
            }
            crate::cmd::eprint_line(&format!("error: {}", Error::Interrupted));
            std::process::exit(130);
        });
    });
}

/// `Err(Error::Interrupted)` once Ctrl-C has been pressed.
pub fn check() -> Result<()> {
    if interrupted() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

/// True once Ctrl-C or SIGTERM has arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Registers a temporary output for the watchdog to delete.
pub fn register(path: PathBuf) {
    if let Ok(mut live) = LIVE.lock() {
        live.push(path);
    }
}

/// Runs `f` (the renames of a commit) so that the watchdog cannot exit in
/// the middle; refuses to start once interrupted.
pub fn commit_lock<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    let _held = COMMIT.lock().unwrap_or_else(|e| e.into_inner());
    check()?;
    f()
}
