//! A progress bar on stderr for long runs: rows done, rows per second and
//! an ETA from the input's size. Shown only when stderr is a terminal and
//! `--quiet` is not given, so logs and pipes stay clean.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar, or nothing.
pub struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
}

impl Progress {
    /// Nothing at all.
    pub fn hidden() -> Progress {
        Progress {
            bar: None,
            start: Instant::now(),
        }
    }

    /// A bar for reading `total` bytes (when known), if stderr is a terminal.
    pub fn new(what: &str, total: Option<u64>, quiet: bool) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let bar = match total {
            Some(t) if t > 0 => {
                ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr())
            }
            _ => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        let template = if total.is_some() {
            "{prefix} [{bar:30}] {percent:>3}% {msg} ETA {eta}"
        } else {
            "{prefix} {spinner} {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(what.to_string());
        Progress {
            bar: Some(bar),
            start: Instant::now(),
        }
    }

    /// Updates with bytes read and rows done so far.
    pub fn update(&self, bytes: u64, rows: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            let secs = self.start.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{rows} rows, {:.0} rows/s", rows as f64 / secs));
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The size of an input file, for the ETA.
pub fn input_size(file: &crate::error::Source) -> Option<u64> {
    file.path()
        .filter(|p| !crate::io::xlsx::is_spreadsheet(p))
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
}
