//! One module per subcommand. Each takes a checked options struct (built
//! from the command line in `cli`) and returns a typed result; none of them
//! parses arguments or chooses exit codes.

pub mod key_id;
pub mod keygen;
pub mod relink;
pub mod synth;
pub mod tokenise;
pub mod validate;

use std::path::Path;

use crate::error::Result;
use crate::provider::key::Key;

/// Prints a line on stderr, colouring a leading `error:` (red) or
/// `warning:` (yellow). Colour appears only on a terminal, and never when
/// `NO_COLOR` is set (`anstream` strips it otherwise).
pub fn eprint_line(line: &str) {
    use anstyle::{AnsiColor, Style};
    // The one redaction rule, at the one place messages leave.
    let line = &*crate::provider::nhs::redact_numbers(line);
    let (prefix, rest, style) = if let Some(rest) = line.strip_prefix("error:") {
        (
            "error:",
            rest,
            Style::new().bold().fg_color(Some(AnsiColor::Red.into())),
        )
    } else if let Some(rest) = line.strip_prefix("warning:") {
        (
            "warning:",
            rest,
            Style::new().bold().fg_color(Some(AnsiColor::Yellow.into())),
        )
    } else {
        ("", line, Style::new())
    };
    anstream::eprintln!("{style}{prefix}{style:#}{rest}");
}

/// "1 row", "2 rows": a count with its noun in the right number.
pub fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Where messages for the user go: stderr, unless `--quiet`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Messages {
    /// Only errors are printed.
    pub quiet: bool,
    /// Nothing is printed, not even safety warnings: the caller shows
    /// them its own way (the Python package raises them as Python
    /// warnings, from the outcome).
    pub silent: bool,
}

impl Messages {
    /// Prints a line on stderr unless quiet.
    pub fn say(&self, line: impl AsRef<str>) {
        if !self.quiet && !self.silent {
            eprint_line(line.as_ref());
        }
    }

    /// Prints a warning on stderr unless quiet.
    pub fn warn(&self, line: impl AsRef<str>) {
        self.say(line);
    }

    /// Prints a safety warning (a key others can read, a report not fit
    /// for release) on stderr, even with `--quiet`.
    pub fn alert(&self, line: impl AsRef<str>) {
        if !self.silent {
            eprint_line(line.as_ref());
        }
    }
}

/// Loads a key file and prints its warnings (e.g. readable by others).
pub fn load_key(path: &Path, msg: Messages) -> Result<Key> {
    let (key, warnings) = Key::load(path)?;
    for w in warnings {
        msg.alert(w.message(path));
    }
    Ok(key)
}
