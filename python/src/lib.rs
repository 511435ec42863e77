//! `pseudolink._pseudolink`: the Python package's native module, over the
//! same Rust core as the command line. Nothing here restates a rule: cells
//! are canonicalised by `provider::nhs`, tokens made by
//! `provider::token::Tokeniser` (self-tested against the `hmac` crate when
//! a key is loaded), columns walked by `provider::column`, and relink run by
//! `cmd::relink`. The key's bytes stay in Rust, in zeroizing memory; Python
//! sees only the key id.

#![deny(unsafe_code)]

use std::path::PathBuf;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use pseudolink::cmd::relink::{RelinkOptions, UsageId};
use pseudolink::cmd::Messages;
use pseudolink::io::csv::{ColumnSpec, CsvOptions};
use pseudolink::provider::column::{process, Cells};
use pseudolink::provider::key::Key as CoreKey;
use pseudolink::provider::nhs::canonicalise as core_canonicalise;
use pseudolink::provider::token::{hex_into, Tokeniser, TOKEN_HEX_LEN};
use pseudolink::relink::matching::MatchOptions;
use pseudolink::relink::report::Disclosure;

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
    PseudolinkError::new_err(e.to_string())
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

/// A secret key, loaded from a key file. Its bytes never leave Rust.
#[pyclass(module = "pseudolink._pseudolink", frozen)]
struct Key {
    tokeniser: Tokeniser,
    key_id: String,
    path: PathBuf,
}

#[pymethods]
impl Key {
    /// Loads a key file (SPEC section 2) and self-tests the token code
    /// under it.
    #[staticmethod]
    fn from_file(path: PathBuf) -> PyResult<Key> {
        let (key, _warnings) = CoreKey::load(&path).map_err(core_error)?;
        let key_id = key.id().to_string();
        let tokeniser = Tokeniser::new(&key).map_err(core_error)?;
        Ok(Key {
            tokeniser,
            key_id,
            path,
        })
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
    #[pyo3(signature = (column, threads = 0))]
    fn tokens<'py>(
        slf: &Bound<'py, Self>,
        column: &Bound<'py, PyAny>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        py.import("pseudolink")?
            .getattr("tokens")?
            .call1((slf, column, threads))
    }

    /// The reason code of every cell of a column; see `pseudolink.reasons`.
    #[pyo3(signature = (column, threads = 0))]
    fn reasons<'py>(
        slf: &Bound<'py, Self>,
        column: &Bound<'py, PyAny>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        py.import("pseudolink")?
            .getattr("reasons")?
            .call1((column, threads))
    }

    fn __repr__(&self) -> String {
        format!("Key(key_id={:?})", self.key_id)
    }
}

/// Tokens (with a key) and reasons of a column given as Arrow buffers: the
/// Python side passes them (see `pseudolink.tokens` and `reasons`).
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (key, offsets, large, data, validity, offset, length, threads))]
fn _column<'py>(
    py: Python<'py>,
    key: Option<PyRef<'py, Key>>,
    offsets: &Bound<'py, PyBytes>,
    large: bool,
    data: &Bound<'py, PyBytes>,
    validity: Option<Bound<'py, PyBytes>>,
    offset: usize,
    length: usize,
    threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let tokeniser = key.as_ref().map(|k| &k.tokeniser);
    let cells = Cells {
        offsets: offsets.as_bytes(),
        large,
        data: data.as_bytes(),
        validity: validity.as_ref().map(|v| v.as_bytes()),
        offset,
        len: length,
    };
    cells.check().map_err(|e| PyValueError::new_err(e.0))?;
    let threads = if threads == 0 {
        pseudolink::io::pipeline::default_threads()
    } else {
        threads
    };
    // The work runs without the GIL: other Python threads go on meanwhile.
    let r = py.detach(|| process(&cells, tokeniser, threads));
    let out = PyDict::new(py);
    out.set_item("token_validity", PyBytes::new(py, &r.token_validity))?;
    out.set_item("token_offsets", PyBytes::new(py, &r.token_offsets))?;
    out.set_item("tokens", PyBytes::new(py, &r.tokens))?;
    out.set_item("reason_validity", PyBytes::new(py, &r.reason_validity))?;
    out.set_item("reason_offsets", PyBytes::new(py, &r.reason_offsets))?;
    out.set_item("reasons", PyBytes::new(py, &r.reasons))?;
    out.set_item("valid", r.valid)?;
    Ok(out)
}

fn spec(name: &str) -> ColumnSpec {
    name.parse().unwrap_or(ColumnSpec::Name(name.to_string()))
}

fn date(flag: &str, s: Option<String>) -> PyResult<Option<jiff::civil::Date>> {
    s.map(|s| {
        pseudolink::relink::windows::parse_date(s.as_bytes())
            .filter(|d| pseudolink::relink::windows::plausible(*d))
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "{flag} {s:?} is not a date; use YYYY-MM-DD or DD/MM/YYYY"
                ))
            })
    })
    .transpose()
}

/// Runs relink on files written by the Python side, exactly as the command
/// line would, and writes the report (and costs, balance) beside.
#[pyfunction]
#[pyo3(signature = (cohort, usage, output, options))]
fn _relink_files(
    py: Python<'_>,
    cohort: PathBuf,
    usage: PathBuf,
    output: PathBuf,
    options: &Bound<'_, PyDict>,
) -> PyResult<String> {
    let get_str = |k: &str| -> PyResult<Option<String>> {
        match options.get_item(k)? {
            Some(v) if !v.is_none() => Ok(Some(v.extract()?)),
            _ => Ok(None),
        }
    };
    let get_list = |k: &str| -> PyResult<Vec<String>> {
        match options.get_item(k)? {
            Some(v) if !v.is_none() => Ok(v.extract()?),
            _ => Ok(Vec::new()),
        }
    };
    let key: Option<PathBuf> = match options.get_item("key")? {
        Some(k) if !k.is_none() => Some(k.extract::<PyRef<'_, Key>>()?.path.clone()),
        _ => None,
    };
    let months: i32 = get_str("months")?
        .map(|m| m.parse().unwrap_or(0))
        .unwrap_or(6);
    if !(1..=120).contains(&months) {
        return Err(PyValueError::new_err("months must be between 1 and 120"));
    }
    // A token column wins; otherwise NHS numbers, in `nhs_number` by default.
    let id = |which: &str| -> PyResult<UsageId> {
        let token = get_str(&format!("{which}_token_column"))?;
        let nhs = get_str(&format!("{which}_nhs_column"))?;
        Ok(match (token, nhs) {
            (Some(t), _) => UsageId::Token(spec(&t)),
            (None, Some(n)) => UsageId::Nhs(spec(&n)),
            (None, None) => UsageId::Nhs(ColumnSpec::Name("nhs_number".into())),
        })
    };
    let usage_id = id("usage")?;
    let population_id = id("population")?;
    let disclosure = match get_str("disclosure")?.as_deref() {
        None | Some("hes") => Disclosure::Hes,
        Some("none") => Disclosure::None,
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "disclosure must be \"hes\" or \"none\", not {other:?}"
            )))
        }
    };
    let mut within = Vec::new();
    for d in get_list("within")? {
        let d: u32 = d.parse().map_err(|_| {
            PyValueError::new_err(format!("within: {d:?} is not a whole number of days"))
        })?;
        if d == 0 || d > 28 * months as u32 || within.contains(&d) {
            return Err(PyValueError::new_err(format!(
                "within {d}: each number of days must be from 1 to {} and given once",
                28 * months
            )));
        }
        within.push(d);
    }
    let service_cost = match get_str("service_cost")? {
        None => None,
        Some(s) => match pseudolink::relink::values::parse_milli(s.as_bytes()) {
            Some(Ok(v)) if v > 0 => Some(v),
            _ => {
                return Err(PyValueError::new_err(format!(
                    "service_cost {s:?} is not an amount of pounds above 0"
                )))
            }
        },
    };
    let path = |k: &str| -> PyResult<Option<PathBuf>> { Ok(get_str(k)?.map(PathBuf::from)) };
    let csv = CsvOptions {
        delimiter: b',',
        has_headers: true,
    };
    let opts = RelinkOptions {
        cohort,
        usage,
        key,
        output: Some(output),
        people: None,
        html: path("html")?,
        cohort_token_column: get_str("cohort_token_column")?.map(|c| spec(&c)),
        cohort_date_column: spec(
            &get_str("cohort_date_column")?.unwrap_or_else(|| "intervention_date".into()),
        ),
        group_by: {
            let g = get_list("group_by")?;
            if g.is_empty() {
                vec![ColumnSpec::Name("cohort".into())]
            } else {
                g.iter().map(|c| spec(c)).collect()
            }
        },
        usage_id,
        event_date_column: spec(
            &get_str("event_date_column")?.unwrap_or_else(|| "event_date".into()),
        ),
        event_type_column: spec(
            &get_str("event_type_column")?.unwrap_or_else(|| "event_type".into()),
        ),
        months,
        data_start: date("data_start", get_str("data_start")?)?,
        data_end: date("data_end", get_str("data_end")?)?,
        disclosure,
        cohort_csv: csv,
        usage_csv: csv,
        no_manifest: true,
        within,
        value_column: get_str("value_column")?.map(|c| spec(&c)),
        unit_costs: path("unit_costs")?,
        costs: path("costs")?,
        service_cost,
        population: path("population")?,
        population_id,
        population_csv: csv,
        match_on: get_list("match_on")?
            .into_iter()
            .map(ColumnSpec::Name)
            .collect(),
        matching: MatchOptions {
            controls: get_str("controls")?
                .and_then(|c| c.parse().ok())
                .unwrap_or(3),
            seed: get_str("seed")?.and_then(|c| c.parse().ok()).unwrap_or(1),
            caliper: get_str("caliper")?.and_then(|c| c.parse().ok()),
        },
        balance: path("balance")?,
        force: true,
        threads: pseudolink::io::pipeline::default_threads(),
        messages: Messages { quiet: true },
    };
    let outcome = py
        .detach(|| pseudolink::cmd::relink::run(&opts))
        .map_err(core_error)?;
    Ok(outcome.summary(months))
}

/// The native module.
#[pymodule]
fn _pseudolink(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(canonicalise, m)?)?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(_column, m)?)?;
    m.add_function(wrap_pyfunction!(_relink_files, m)?)?;
    m.add_class::<Key>()?;
    m.add("InvalidNhsNumber", m.py().get_type::<InvalidNhsNumber>())?;
    m.add("PseudolinkError", m.py().get_type::<PseudolinkError>())?;
    m.add("__version__", pseudolink::VERSION)?;
    m.add("SPEC_VERSION", pseudolink::SPEC_IMPLEMENTED)?;
    Ok(())
}
