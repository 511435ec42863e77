//! The command-line application: parse the arguments, dispatch to
//! `cmd`, print what the user reads, and map errors to exit codes (0 ok,
//! 1 invalid input found, 2 error, 130 interrupted). The `pseudolink`
//! binary and the Python package's `pseudolink` command both call
//! [`main`], so they behave the same.

use std::ffi::OsString;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::cmd;
use crate::error::shown_path;
use crate::Error;

/// Runs the command line `args` (the program name first) and returns the
/// exit code: 0 ok, 1 invalid input found, 2 error, 130 interrupted.
/// Help, version and usage errors print and exit the process, as clap does.
pub fn main<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    // A panic message could, in principle, quote data; print only where.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error{at}; please report it (no data was shown)");
    }));
    // Before anything is read: a core dump would hold the key's midstates
    // and the numbers being processed.
    if crate::io::hardening::no_core_dumps().is_err() {
        cmd::eprint_line(
            "warning: core dumps could not be disabled; a crash could write key material to disk",
        );
    }
    let cli = Cli::parse_from(args);
    crate::io::interrupt::install();
    match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) if e.is_broken_pipe() => 0,
        // Whatever failed once Ctrl-C or SIGTERM arrived (a write refused
        // mid-way, say), the run was interrupted.
        Ok(Err(_)) if crate::io::interrupt::interrupted() => {
            cmd::eprint_line(&format!("error: {}", Error::Interrupted));
            130
        }
        Ok(Err(e)) => {
            cmd::eprint_line(&format!("error: {e}"));
            2
        }
        Err(_) => 2,
    }
}

/// Writes to standard output; a closed pipe becomes an error that exits
/// quietly, never a panic.
fn stdout(text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|source| Error::Write {
            file: crate::error::Source::Stdout,
            source,
        })
}

fn run(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        Command::Keygen(args) => keygen(args.options()?),
        Command::KeyId(args) => {
            let opts = args.options()?;
            let id = cmd::key_id::run(&opts)?;
            opts.messages
                .say(format!("key id: {id} (read aloud: {})", id.spoken()));
            stdout(&format!("{id}\n"))?;
            Ok(0)
        }
        Command::Validate(args) => validate(args.options()?),
        Command::Tokenise(args) => tokenise(args.options()?),
        Command::Relink(args) => relink(args.options()?),
        Command::Synth(args) => synth(args.options()?),
        Command::Completions { shell } => {
            crate::cli::write_completions(shell, &mut std::io::stdout());
            Ok(0)
        }
        Command::Man => {
            crate::cli::write_man(&mut std::io::stdout()).map_err(|source| Error::Write {
                file: crate::error::Source::Stdout,
                source,
            })?;
            Ok(0)
        }
    }
}

fn keygen(opts: cmd::keygen::KeygenOptions) -> Result<u8, Error> {
    let id = cmd::keygen::run(&opts)?;
    cmd::eprint_line(&format!(
        "wrote {} (mode 0600). Key id: {} (read aloud: {})",
        shown_path(&opts.output),
        id,
        id.spoken()
    ));
    cmd::eprint_line("Keep it secret: share it only with the other party to the agreement, never by email with the data.");
    stdout(&format!("{id}\n"))?;
    Ok(0)
}

fn validate(opts: cmd::validate::ValidateOptions) -> Result<u8, Error> {
    let summary = cmd::validate::run(&opts)?;
    // As tokenise reports: the summary and what was written, on stderr.
    opts.messages.say(summary.render("valid").trim_end());
    if let Some(p) = &opts.rejects {
        opts.messages.say(format!("wrote {}", shown_path(p)));
    }
    Ok(if summary.tally.rows_rejected() > 0 {
        1
    } else {
        0
    })
}

fn tokenise(opts: cmd::tokenise::TokeniseOptions) -> Result<u8, Error> {
    let report = cmd::tokenise::run(&opts)?;
    let msg = opts.messages;
    msg.say(format!("key id: {}", report.key_id));
    msg.say(report.summary.render("tokenised").trim_end());
    if report.summary.tally.rows_rejected() > 0 && opts.rejects.is_none() {
        msg.say(format!(
            "warning: {} rows were rejected and are not in the output; pass --rejects FILE to list them",
            report.summary.tally.rows_rejected()
        ));
    }
    for p in &report.written {
        msg.say(format!("wrote {}", shown_path(p)));
    }
    Ok(0)
}

fn relink(opts: cmd::relink::RelinkOptions) -> Result<u8, Error> {
    let msg = opts.messages;
    let outcome = cmd::relink::run(&opts)?;
    msg.say(outcome.summary(opts.months).trim_end());
    msg.say("");
    let release = &outcome.release;
    msg.say(outcome.report.table(&release.report).trim_end());
    if let (Some(costs), Some(released)) = (&outcome.costs, &release.costs) {
        msg.say("");
        msg.say(costs.table(released).trim_end());
    }
    msg.say("");
    msg.say(release.summary());
    for p in &outcome.written {
        msg.say(format!("wrote {}", shown_path(p)));
    }
    Ok(0)
}

fn synth(opts: cmd::synth::SynthOptions) -> Result<u8, Error> {
    let Some(spec) = &opts.population else {
        let (paths, counts) = cmd::synth::run(&opts)?;
        cmd::eprint_line(&format!(
            "wrote {} ({} referral rows, {} deliberately invalid) and {} ({} usage rows)",
            shown_path(&paths[0]),
            counts.referral_rows,
            counts.invalid_rows,
            shown_path(&paths[1]),
            counts.usage_rows
        ));
        return Ok(0);
    };
    let (paths, truth) = cmd::synth::run_population(&opts, spec)?;
    cmd::eprint_line(&format!(
        "wrote {} ({} people), {} ({} referred) and {} ({} usage rows)",
        shown_path(&paths[0]),
        truth.rows.0,
        shown_path(&paths[1]),
        truth.rows.1,
        shown_path(&paths[2]),
        truth.rows.2
    ));
    if truth.rows.1 * 20 < spec.referred * 19 {
        cmd::eprint_line(&format!(
            "note: {} referred, not the {} asked: referral is drawn at random, more often after a spell of high use, so a population gives about the number asked, fewer when it is small; ask for more with --people, or use a larger --population",
            truth.rows.1, spec.referred
        ));
    }
    for (t, counterfactual, actual) in &truth.post_events {
        cmd::eprint_line(&format!(
            "true effect on {t} per referred person: {:.4} (post-window events {actual} with the effect, {counterfactual} without, over {} referred people still registered when their post window ended)",
            truth.per_person(t).unwrap_or(0.0),
            truth.referred
        ));
    }
    Ok(0)
}
