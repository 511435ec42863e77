//! `pseudolink._pseudolink`: the Python package's native module, over the
//! same Rust core as the command line. Nothing here restates a rule: cells
//! are canonicalised by `provider::nhs`, tokens made by
//! `provider::token::Tokeniser` (self-tested against the `hmac` crate when
//! a key is loaded), columns walked by `provider::column`, and relink
//! parsed by the command line's own parser and run by `cmd::relink`.
//! Arrow data crosses in and out through the C data interface
//! ([`arrow`]). The key's bytes stay in Rust, in zeroizing memory; Python
//! sees only the key id.

#![deny(unsafe_code)]

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

use pseudolink::cli::{Cli, Command};
use pseudolink::error::Source;
use pseudolink::provider::column;
use pyo3_arrow::{PyChunkedArray, PyTable};

mod arrow;
use pseudolink::provider::key::Key as CoreKey;
use pseudolink::provider::nhs::canonicalise as core_canonicalise;
use pseudolink::provider::token::{hex_into, Tokeniser, TOKEN_HEX_LEN};

pyo3::create_exception!(
    _pseudolink,
    InvalidNhsNumber,
    PyValueError,
    "A cell that is not a valid NHS number; `reason` is the SPEC's reason code."
);
pyo3::create_exception!(
    _pseudolink,
    PseudolinkError,
    PyOSError,
    "An error from pseudolink, with the same message the command line prints."
);

pyo3::create_exception!(
    _pseudolink,
    PseudolinkWarning,
    pyo3::exceptions::PyUserWarning,
    "A safety warning from pseudolink (a key others can read, exact output, a record-level file, few matches): the same text the command line prints."
);

fn invalid(reason: pseudolink::provider::nhs::Reason) -> PyErr {
    // The message names the reason, never the cell.
    let e = InvalidNhsNumber::new_err(format!(
        "not a valid NHS number: {} ({})",
        reason.code(),
        reason.explain()
    ));
    Python::attach(|py| {
        let _ = e.value(py).setattr("reason", reason.code());
    });
    e
}

fn core_error(e: pseudolink::Error) -> PyErr {
    PseudolinkError::new_err(pseudolink::provider::nhs::redact_numbers(&e.to_string()).into_owned())
}

/// The canonical ten digits of a cell, or raises `InvalidNhsNumber`.
#[pyfunction]
fn canonicalise(cell: &str) -> PyResult<String> {
    let n = core_canonicalise(cell.as_bytes()).map_err(invalid)?;
    Ok(String::from_utf8_lossy(n.digits()).into_owned())
}

/// The SPEC's reason code for an invalid cell, or `None` when it is valid.
#[pyfunction]
fn check(cell: Option<&str>) -> Option<&'static str> {
    core_canonicalise(cell.unwrap_or_default().as_bytes())
        .err()
        .map(|r| r.code())
}

/// A secret key. Its bytes never leave Rust (zeroizing memory), and
/// `relink` uses this object, never a path read again.
#[pyclass(module = "pseudolink._pseudolink", frozen)]
struct Key {
    key: CoreKey,
    tokeniser: Tokeniser,
    key_id: String,
    /// Warnings about where it came from (a key file others can read).
    warnings: Vec<String>,
}

impl Key {
    fn of(key: CoreKey, warnings: Vec<String>) -> PyResult<Key> {
        let key_id = key.id().to_string();
        let tokeniser = Tokeniser::new(&key).map_err(core_error)?;
        Ok(Key {
            key,
            tokeniser,
            key_id,
            warnings,
        })
    }
}

#[pymethods]
impl Key {
    /// Loads a key file (SPEC section 2) and self-tests the token code
    /// under it. A key file others can read is refused (except the public
    /// example key, which is warned about).
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<Key> {
        let (key, warnings) = CoreKey::load(&path).map_err(core_error)?;
        let warnings: Vec<String> = warnings.iter().map(|w| w.message(&path)).collect();
        let category = py.get_type::<PseudolinkWarning>();
        for w in &warnings {
            // As relink's: the category says it is a warning.
            let line = w.strip_prefix("warning: ").unwrap_or(w);
            let text = std::ffi::CString::new(line).unwrap_or_default();
            PyErr::warn(py, &category, &text, 1)?;
        }
        Key::of(key, warnings)
    }

    /// A key from its hex text (as in a key file or a secrets store),
    /// with section 2's rules: 32 to 64 bytes. The text is never echoed.
    #[staticmethod]
    fn from_hex(text: &str) -> PyResult<Key> {
        let key = CoreKey::parse(text.as_bytes())
            .map_err(|p| PseudolinkError::new_err(format!("key text {p}")))?;
        Key::of(key, Vec::new())
    }

    /// A key from its raw bytes, with section 2's rules (32 to 64 bytes).
    #[staticmethod]
    fn from_bytes(bytes: &[u8]) -> PyResult<Key> {
        let text = zeroize::Zeroizing::new(hex::encode(bytes));
        Key::from_hex(&text)
    }

    /// A new key of 32 bytes from the operating system's CSPRNG, as
    /// `pseudolink keygen` makes.
    #[staticmethod]
    fn generate() -> PyResult<Key> {
        Key::of(CoreKey::generate().map_err(core_error)?, Vec::new())
    }

    /// Writes the key to a new file with mode 0600, as `keygen` does;
    /// refuses to replace a file unless `force`.
    #[pyo3(signature = (path, force = false))]
    fn write_file(&self, path: PathBuf, force: bool) -> PyResult<()> {
        self.key.write_file(&path, force).map_err(core_error)
    }

    /// Warnings about the key's file (a file others can read).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// The key id: 16 hex characters that identify the key without
    /// revealing it.
    #[getter]
    fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The token of one cell, or raises `InvalidNhsNumber`.
    fn token(&self, cell: &str) -> PyResult<String> {
        let n = core_canonicalise(cell.as_bytes()).map_err(invalid)?;
        let mut hex = [0u8; TOKEN_HEX_LEN];
        hex_into(&self.tokeniser.token(&n), &mut hex);
        Ok(String::from_utf8_lossy(&hex).into_owned())
    }

    /// The token of every cell of a column (pandas, polars, pyarrow), as
    /// the same kind of column; see `pseudolink.tokens`.
    #[pyo3(signature = (column, threads = 0, allow_float = false))]
    fn tokens<'py>(
        slf: &Bound<'py, Self>,
        column: &Bound<'py, PyAny>,
        threads: usize,
        allow_float: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        py.import("pseudolink")?
            .getattr("tokens")?
            .call1((slf, column, threads, allow_float))
    }

    /// The reason code of every cell of a column; see `pseudolink.reasons`.
    #[pyo3(signature = (column, threads = 0, allow_float = false))]
    fn reasons<'py>(
        slf: &Bound<'py, Self>,
        column: &Bound<'py, PyAny>,
        threads: usize,
        allow_float: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        py.import("pseudolink")?
            .getattr("reasons")?
            .call1((column, threads, allow_float))
    }

    fn __repr__(&self) -> String {
        format!("Key(key_id={:?})", self.key_id)
    }
}

/// The tokens (with a key) or else the reason codes of a column, Arrow in
/// and Arrow out through the Arrow C data interface: the cells are read
/// where Python holds them and the result is handed over without a copy
/// (see `pseudolink.tokens` and `reasons`).
#[pyfunction]
#[pyo3(signature = (key, column, threads))]
fn _column<'py>(
    py: Python<'py>,
    key: Option<PyRef<'py, Key>>,
    column: PyChunkedArray,
    threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let cells = arrow::ArrowCells::new(column.chunks()).map_err(PseudolinkError::new_err)?;
    let threads = if threads == 0 {
        pseudolink::io::pipeline::default_threads()
    } else {
        threads
    };
    let tokeniser = key.as_ref().map(|k| &k.tokeniser);
    // The work runs without the GIL: other Python threads go on meanwhile.
    let out = py.detach(|| match tokeniser {
        Some(t) => column::tokens(&cells, t, threads),
        None => column::reasons(&cells, threads),
    });
    let array = arrow::export(out).map_err(|e| PseudolinkError::new_err(e.to_string()))?;
    // pyarrow takes the buffers over through `__arrow_c_array__`.
    py.import("pyarrow")?.getattr("array")?.call1((array,))
}

/// How many cells of a column are valid NHS numbers and how many are
/// missing or empty, and its length: relink asks this of every column it
/// is about to hand to the core.
#[pyfunction]
fn _census(py: Python<'_>, column: PyChunkedArray) -> PyResult<(usize, usize, usize)> {
    let cells = arrow::ArrowCells::new(column.chunks()).map_err(PseudolinkError::new_err)?;
    let threads = pseudolink::io::pipeline::default_threads();
    let c = py.detach(|| column::census(&cells, threads));
    Ok((c.valid, c.empty, column::Cells::len(&cells)))
}

/// Runs `pseudolink relink` with these arguments, parsed and checked by
/// the command line's own parser, so that every option, default and error
/// is the command's. The key is the loaded `Key` itself, never a path.
/// `tables` holds the inputs given as Arrow tables (DataFrames), by role
/// (`cohort`, `usage`, `population`, `unit_costs`); each is read by the
/// core as it reads a file, from memory, with nothing written anywhere.
/// Returns the summary, the safety warnings and the released tables' CSV
/// text (`report`, and `costs`, `balance` and `event_study` when made);
/// only outputs the arguments name a file for (`--html`, `--people`, ...)
/// are written, but for those `in_memory` names (`event_study`,
/// `disclosure_log`), which come back as text instead.
#[pyfunction]
#[pyo3(signature = (args, key = None, tables = None, in_memory = Vec::new()))]
fn _relink(
    py: Python<'_>,
    args: Vec<String>,
    key: Option<PyRef<'_, Key>>,
    tables: Option<std::collections::HashMap<String, PyTable>>,
    in_memory: Vec<String>,
) -> PyResult<(String, Vec<String>, Released)> {
    let mut argv: Vec<OsString> = ["pseudolink", "relink", "--quiet", "--no-manifest"]
        .iter()
        .map(OsString::from)
        .collect();
    argv.extend(args.into_iter().map(OsString::from));
    let cli =
        Cli::try_parse_from(argv).map_err(|e| PyValueError::new_err(e.render().to_string()))?;
    let Command::Relink(relink) = cli.command else {
        unreachable!("the arguments start with relink")
    };
    let mut opts = relink.options().map_err(core_error)?;
    // Safety warnings come back in the outcome and are raised as Python
    // warnings: none is printed on stderr as well.
    opts.messages.silent = true;
    for (role, table) in tables.unwrap_or_default() {
        let source = Source::Memory(arrow::in_memory(format!("the {role} table"), table));
        match role.as_str() {
            "cohort" => opts.cohort = source,
            "usage" => opts.usage = source,
            "population" => opts.population = Some(source),
            "unit_costs" => opts.unit_costs = Some(source),
            other => return Err(PyValueError::new_err(format!("no input called {other:?}"))),
        }
    }
    let core_key = key.as_ref().map(|k| &k.key);
    // Tables asked for in memory are computed, not written.
    let mut files = opts.clone();
    if in_memory.iter().any(|t| t == "event_study") {
        files.event_study = None;
    }
    if in_memory.iter().any(|t| t == "disclosure_log") {
        files.disclosure_log = None;
    }
    let outcome = py
        .detach(|| {
            let mut outcome = pseudolink::cmd::relink::compute(&opts, core_key)?;
            pseudolink::relink::stages::write_files(&files, &mut outcome)?;
            Ok::<_, pseudolink::Error>(outcome)
        })
        .map_err(core_error)?;
    let release = &outcome.release;
    let text = |r: csv::Result<Vec<u8>>| r.map_err(|e| PseudolinkError::new_err(e.to_string()));
    let mut out = vec![(
        "report".to_string(),
        text(release.report.write_csv(Vec::new()))?,
    )];
    let tables = [
        ("costs", &release.costs),
        ("balance", &release.balance),
        ("event_study", &release.event_study),
    ];
    for (name, table) in tables {
        if let Some(t) = table {
            out.push((name.into(), text(t.write_csv(Vec::new()))?));
        }
    }
    if files.disclosure_log.is_none() && opts.disclosure_log.is_some() {
        out.push((
            "disclosure_log".into(),
            text(release.write_log(Vec::new()))?,
        ));
    }
    Ok((outcome.summary(opts.months), outcome.warnings.clone(), out))
}

/// The released tables by name (`report`, `costs`, `balance`,
/// `event_study`, `disclosure_log`), as CSV text.
type Released = Vec<(String, Vec<u8>)>;

/// The `pseudolink` command, installed with the package: the binary's own
/// entry point ([`pseudolink::app::main`]), run without the GIL. Returns
/// the exit code.
#[pyfunction]
fn _cli_main(py: Python<'_>, argv: Vec<std::ffi::OsString>) -> u8 {
    py.detach(|| pseudolink::app::main(argv))
}

/// The native module.
#[pymodule]
fn _pseudolink(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(canonicalise, m)?)?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(_column, m)?)?;
    m.add_function(wrap_pyfunction!(_relink, m)?)?;
    m.add_function(wrap_pyfunction!(_census, m)?)?;
    m.add_function(wrap_pyfunction!(_cli_main, m)?)?;
    m.add_class::<Key>()?;
    m.add("InvalidNhsNumber", m.py().get_type::<InvalidNhsNumber>())?;
    m.add("PseudolinkError", m.py().get_type::<PseudolinkError>())?;
    m.add("PseudolinkWarning", m.py().get_type::<PseudolinkWarning>())?;
    m.add("__version__", pseudolink::VERSION)?;
    m.add("SPEC_VERSION", pseudolink::SPEC_IMPLEMENTED)?;
    Ok(())
}
