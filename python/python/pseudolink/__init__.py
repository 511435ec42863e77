"""pseudolink from Python: the same tokens, reason codes and relink report
as the ``pseudolink`` command, from the same Rust core.

>>> import pseudolink
>>> key = pseudolink.Key.from_file("team.key")      # the key's bytes stay in Rust
>>> key.key_id
'e8a99eb43869d8af'
>>> key.token("943 476 5919")
'dd5c602eeb31d60c7c0d662c897231dda00e13cdf945b14cad185a4a7125826c'
>>> pseudolink.check("943 476 591")
'wrong_length'

Columns go into Rust in one call, whatever their size: ``key.tokens(col)``
and ``pseudolink.reasons(col)`` take a pandas Series, a polars Series or a
pyarrow Array / ChunkedArray and give back the same kind, in the same
order, with nulls where there is no token (or no reason). The work runs on
every core without holding the GIL.

The contract is docs/SPEC.md in the pseudolink repository.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Optional

import pyarrow as pa
import pyarrow.compute as pc

from ._pseudolink import (
    SPEC_VERSION,
    InvalidNhsNumber,
    Key,
    PseudolinkError,
    PseudolinkWarning,
    __version__,
    _census,
    _column,
    _relink,
    canonicalise,
    check,
)

__all__ = [
    "Key",
    "InvalidNhsNumber",
    "PseudolinkError",
    "PseudolinkWarning",
    "canonicalise",
    "check",
    "tokens",
    "reasons",
    "relink",
    "__version__",
    "SPEC_VERSION",
]


_FLOAT_HINT = (
    "a column of floating-point numbers ({dtype}) cannot be tokenised safely: a float may already have "
    "rounded an NHS number into somebody else's (float32 keeps only about seven digits), and a "
    "spreadsheet's scientific notation arrives as a float whose last digits are gone. Read the column "
    "as text instead: for pandas, "
    "pd.read_csv(..., dtype={{\"nhs_number\": str}}); for polars, pl.read_csv(..., schema_overrides="
    "{{\"nhs_number\": pl.String}}); for pyarrow, ConvertOptions(column_types={{\"nhs_number\": pa.string()}}). "
    "Only if the values were never in a spreadsheet or a float32, pass allow_float=True (float64 whole "
    "numbers below 2**53 are then taken as their digits)."
)


def _cell_text(v: Any) -> Optional[str]:
    """One cell of a mixed (object) column as the command line would see
    it: text as it is, an integer as its digits, a whole float below 2**53
    (a spreadsheet's number cell) as its digits, any other float as its
    text; None, NaN and pandas' NA as missing."""
    if v is None or v is getattr(__import__("pandas"), "NA", object()):
        return None
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return None
        if v.is_integer() and abs(v) < 2**53:
            return str(int(v))
        return repr(v)
    if isinstance(v, int):
        return str(v)
    return str(v)


def _object_column(column: Any) -> pa.Array:
    """A pandas object column as Arrow text. A column of text and missing
    values (what ``pd.read_csv(dtype=str)`` gives) is converted by pyarrow
    at once; any other mix (ints, floats, text, as ``pd.read_excel``
    gives) is read cell by cell, as the command line reads a spreadsheet.
    pyarrow's own error for a mixed column, which may quote a cell, never
    reaches the user."""
    try:
        arr = pa.array(column, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        arr = None
    if arr is not None and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return arr
    return pa.array([_cell_text(v) for v in column], type=pa.large_string())


def _to_arrow(column: Any, allow_float: bool = False) -> tuple[pa.Array, str, Any]:
    """The column as Arrow (an Array or ChunkedArray of text or whole
    numbers, read in place by the core), the kind it came as, and what
    is needed to give the result back in that kind (a pandas index).
    Missing values (None, NaN, NA, null) are nulls, which are ``empty``.
    Float columns are refused unless ``allow_float`` (see ``_FLOAT_HINT``);
    decimals with scale 0 are exact and taken as their digits; mixed object
    columns are read cell by cell, as the command line reads a spreadsheet."""
    kind, extra = "arrow", None
    mod = type(column).__module__.split(".")[0]
    if mod == "pandas":
        kind, extra = "pandas", (column.index, column.name)
        if str(column.dtype) == "object":
            arr = _object_column(column)
        elif str(column.dtype).startswith(("float", "Float")) and not allow_float:
            raise PseudolinkError(_FLOAT_HINT.format(dtype=column.dtype))
        else:
            arr = pa.Array.from_pandas(column)
    elif mod == "polars":
        kind, extra = "polars", column.name
        if column.dtype.is_float() or column.dtype.is_decimal() or not hasattr(column, "__arrow_c_stream__"):
            arr = column.to_arrow()
        else:
            # Text (string views), integers: read in place by the core
            # through the Arrow C stream interface.
            return column, kind, extra
    elif isinstance(column, (pa.Array, pa.ChunkedArray)):
        arr = column
    elif isinstance(column, (list, tuple)):
        kind = "list"
        arr = pa.array([_cell_text(v) for v in column], type=pa.large_string())
    elif hasattr(column, "__arrow_c_stream__"):
        # Any other library that speaks the Arrow PyCapsule interface
        # (nanoarrow, arro3, DuckDB, ...): a pyarrow array comes back.
        arr = pa.chunked_array(column)
    elif hasattr(column, "__arrow_c_array__"):
        arr = pa.array(column)
    else:
        raise TypeError(
            "expected a pandas Series, a polars Series, a pyarrow Array or ChunkedArray, a list, or any "
            f"column with the Arrow PyCapsule interface (__arrow_c_stream__); got {type(column).__name__}"
        )
    # Text (string, large_string, string_view, dictionary), whole numbers
    # and nulls go to the core as they are, chunks and all: it reads them
    # in place. Floats and decimals are checked here, where the hint is.
    if pa.types.is_dictionary(arr.type) and pa.types.is_floating(arr.type.value_type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_floating(arr.type):
        if not allow_float or not pa.types.is_float64(arr.type):
            raise PseudolinkError(_FLOAT_HINT.format(dtype=arr.type))
        # Opted in: whole values below 2**53 become their digits; NaN is
        # missing; anything else is refused as text would be.
        arr = pc.if_else(pc.is_nan(arr), None, arr)
        whole = pc.and_(pc.equal(arr, pc.floor(arr)), pc.less(pc.abs(arr), 2.0**53))
        as_int = pc.cast(pc.if_else(whole, arr, 0.0), pa.int64(), safe=False)
        arr = pc.if_else(whole, pc.cast(as_int, pa.large_string()), pc.cast(arr, pa.large_string()))
    if pa.types.is_decimal(arr.type):
        if arr.type.scale != 0:
            raise PseudolinkError(
                f"a decimal column with {arr.type.scale} decimal places ({arr.type}) is not NHS numbers; "
                "NHS numbers are whole: numeric(10,0)"
            )
        if not pa.types.is_decimal128(arr.type):
            arr = pc.cast(arr, pa.large_string())
    return arr, kind, extra


def _run(arr: Any, key: Optional[Key], threads: int) -> pa.Array:
    """Tokens (with a key) or reasons, from the Rust core: the column goes
    in and the result comes out through the Arrow C data interface, with no
    copy either way."""
    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr], type=arr.type)
    # Anything else speaks the Arrow C stream interface (a polars Series).
    return _column(key, arr, threads)


def _back(result: pa.Array, kind: str, extra: Any) -> Any:
    if kind == "pandas":
        import pandas as pd

        index, name = extra
        return pd.Series(pd.arrays.ArrowExtensionArray(result), index=index, name=name, copy=False)
    if kind == "polars":
        import polars as pl

        return pl.Series(extra, result)
    if kind == "list":
        return result.to_pylist()
    return result


def tokens(key: Key, column: Any, threads: int = 0, allow_float: bool = False) -> Any:
    """The token of every cell in ``column`` (null where the cell is not a
    valid NHS number), as the same kind of column. ``threads=0`` uses every
    core. Same as ``key.tokens(column)``. A float column is refused (it may
    already have rounded a number into somebody else's) unless
    ``allow_float=True``, which is unsafe for anything that passed through a
    spreadsheet."""
    arr, kind, extra = _to_arrow(column, allow_float)
    return _back(_run(arr, key, threads), kind, extra)


def reasons(column: Any, threads: int = 0, allow_float: bool = False) -> Any:
    """The SPEC reason code of every cell in ``column`` (null where the
    cell is a valid NHS number; a missing cell, whatever the library calls
    it, is ``empty``), as the same kind of column. Needs no key. Float
    columns are refused as for ``tokens``."""
    arr, kind, extra = _to_arrow(column, allow_float)
    # A missing cell (a null, whichever library's missing value it was) is
    # `empty` in the core.
    return _back(_run(arr, None, threads), kind, extra)


def _as_table(table: Any) -> pa.Table:
    """Any supported table as a pyarrow Table (a CSV path is read with every
    column as text, so that numbers keep their leading zeros)."""
    mod = type(table).__module__.split(".")[0]
    if mod == "pandas":
        twice = sorted({str(c) for c in table.columns[table.columns.duplicated()]})
        if twice:
            raise PseudolinkError(
                f"the DataFrame has more than one column called {', '.join(map(repr, twice))}; "
                "rename or drop one, so that every column is named once (as in a file's header)"
            )
        return pa.Table.from_pandas(table, preserve_index=False)
    if mod == "polars":
        if hasattr(table, "collect") and not hasattr(table, "to_arrow"):
            table = table.collect()  # a LazyFrame
        return table.to_arrow()
    if isinstance(table, pa.Table):
        return table
    if hasattr(table, "__arrow_c_stream__"):
        # Any other library that speaks the Arrow PyCapsule interface.
        return pa.table(table)
    if isinstance(table, (str, os.PathLike)):
        import csv

        import pyarrow.csv as pacsv

        with open(table, newline="", encoding="utf-8-sig") as f:
            names = next(csv.reader(f), [])
        return pacsv.read_csv(
            table,
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )
    raise TypeError(
        "expected a pandas or polars DataFrame, a pyarrow Table, a CSV path, or any table with the Arrow "
        f"PyCapsule interface (__arrow_c_stream__); got {type(table).__name__}"
    )


def _tokenise_ids(table: Any, key: Key, nhs_column: str) -> tuple[pa.Table, str]:
    """Replaces a DataFrame's NHS-number column by tokens, in memory,
    before the table goes to the core. Returns the table and its token
    column's name."""
    t = _as_table(table)
    names = t.column_names
    match = [n for n in names if n == nhs_column] or [n for n in names if n.lower() == nhs_column.lower()]
    if not match:
        raise PseudolinkError(f"no column {nhs_column!r} (the columns are {', '.join(map(repr, names))})")
    name = "token" if "token" not in names else "__pseudolink_token"
    i = names.index(match[0])
    return t.set_column(i, name, tokens(key, t.column(i))), name


def _typed(text: Any) -> Any:
    """A report table read as text, with number columns as nullable
    Int64/Float64 (``*`` and blank as <NA>) and the ``*`` cells recorded in
    ``attrs["suppressed"]``, so that a hidden count can never be mistaken
    for a zero or a missing value."""
    import pandas as pd

    suppressed = text == "*"
    out = text.copy()
    for name in text.columns:
        filled = text[name][(text[name] != "*") & (text[name] != "")]
        if filled.empty and not suppressed[name].any():
            continue
        if filled.str.fullmatch(r"-?[0-9]+").all():
            out[name] = pd.array([None if v in ("*", "") else int(v) for v in text[name]], dtype="Int64")
        elif pd.to_numeric(filled, errors="coerce").notna().all():
            out[name] = pd.array([None if v in ("*", "") else float(v) for v in text[name]], dtype="Float64")
    out.attrs["suppressed"] = suppressed
    return out


def _for_the_core(table: Any, token_column: Optional[str], used: set) -> Any:
    """What the relink core reads for ``table``: a CSV path as it is (read
    where it is, never copied); a DataFrame or Table as an Arrow table,
    with date and datetime columns as ISO dates and without any column
    that holds NHS numbers, which the core reads from memory."""
    if isinstance(table, (str, os.PathLike)):
        return os.fspath(table)
    return _dates_as_text(_without_nhs_numbers(_as_table(table), token_column, used))


def _without_nhs_numbers(t: pa.Table, token_column: Optional[str], used: set) -> pa.Table:
    """Drops every column in which most filled cells are valid NHS numbers
    (a raw number kept beside the token column, say), whatever its type:
    text, integers, decimals with no places, categoricals. A column the
    options name is refused instead, as the command refuses identifiers as
    labels."""
    keep = []
    for name in t.column_names:
        if name == token_column:
            keep.append(name)
            continue
        try:
            valid, empty, n = _census(t.column(name))
        except PseudolinkError:
            # Not text or whole numbers (dates, money with places, floats):
            # no NHS number reads from it.
            keep.append(name)
            continue
        if valid == 0 or valid * 2 < n - empty:
            keep.append(name)
        elif name in used:
            raise PseudolinkError(
                f"column {name!r} holds NHS numbers, which relink never uses as a label; "
                "name another column, or tokenise it first"
            )
    return t.select(keep)


def _dates_as_text(t: pa.Table) -> pa.Table:
    """date and datetime64 columns as ISO dates (YYYY-MM-DD), as the
    command reads them. A datetime with a time of day is refused: which
    day it falls on is the user's choice, not ours."""
    import pyarrow.compute as pc

    for i, name in enumerate(t.column_names):
        col = t.column(i)
        if pa.types.is_timestamp(col.type):
            midnight = pc.equal(pc.floor_temporal(col, unit="day"), col)
            if pc.all(midnight).as_py() is False:
                row = pc.index(midnight, False).as_py() + 1
                raise PseudolinkError(
                    f"column {name!r} holds times of day, not dates (first at data row {row}); "
                    "convert it to dates first "
                    f"(pandas: df[{name!r}].dt.normalize() or .dt.date)"
                )
            t = t.set_column(i, name, pc.strftime(col, format="%Y-%m-%d"))
        elif pa.types.is_date(col.type):
            t = t.set_column(i, name, pc.strftime(col, format="%Y-%m-%d"))
    return t


def relink(
    cohort: Any,
    usage: Any,
    *,
    key: Optional[Key] = None,
    cohort_key_id: Optional[str] = None,
    population: Any = None,
    unit_costs: Any = None,
    html: Optional[str] = None,
    typed: bool = True,
    force: bool = False,
    **options: Any,
) -> Any:
    """Joins a tokenised cohort to a usage extract and returns the report
    as a pandas DataFrame: the same columns, rows and disclosure as
    ``pseudolink relink``. ``cohort``, ``usage``, ``population`` and
    ``unit_costs`` may be pandas or polars DataFrames, pyarrow Tables or CSV
    paths. Options are the command's, in Python spelling: ``group_by``,
    ``months``, ``data_start``, ``data_end``, ``disclosure``, ``within``,
    ``value_column``, ``service_cost``, ``match_on``, ``controls``,
    ``seed``, ``caliper``, the ``*_column`` names. With ``unit_costs`` the
    costs table is in ``df.attrs["costs"]``; with ``population`` the
    balance table in ``df.attrs["balance"]``; with ``event_study=True``
    (months around the intervention) and ``disclosure_log=True`` (every
    cell withheld, and why) those tables are in ``df.attrs`` too (a path
    instead writes the file); the plain-words summary is in
    ``df.attrs["summary"]``.

    Everything happens in memory: a CSV path is read where it is, and a
    DataFrame goes to the Rust core as Arrow data, read there as the
    command reads a file; nothing is written, not even to a temporary
    folder. The only files are the outputs you name (``html=``,
    ``people=``, ...), which are never replaced unless ``force=True``.
    With NHS numbers in ``usage`` (or ``population``), pass ``key``: they
    are tokenised in memory first, and a column of NHS numbers left beside
    the tokens never reaches the core. A DataFrame carries no manifest, so
    pass ``cohort_key_id`` (from the cohort file's manifest) to have the
    key id checked, as the command does.

    Tables are typed: a column of numbers is ``Int64`` or ``Float64``, with
    a suppressed cell (``*`` in the file) and a blank cell (not computed)
    both ``<NA>``; ``df.attrs["suppressed"]`` is a boolean frame of the same
    shape, True exactly where the file has ``*``. ``typed=False`` returns
    the file's text instead, cell for cell.
    """
    import pandas as pd

    if cohort_key_id is not None and key is not None and cohort_key_id != key.key_id:
        raise PseudolinkError(
            f"key id mismatch: the cohort has key id {cohort_key_id}, but the key has key id {key.key_id}; "
            "tokens made with different keys never match"
        )
    # event_study=True / disclosure_log=True: the table comes back in
    # attrs, written nowhere (a path writes the file, as the command does).
    in_memory = [k for k in ("event_study", "disclosure_log") if options.get(k) is True]
    for k in in_memory:
        options[k] = f"the {k} table"
    opts = {k: _values(v) for k, v in options.items() if v is not None and v is not False}
    if html is not None:
        opts["html"] = [os.fspath(html)]
    # Outputs the user names are files: never replaced without force=True.
    for name in ("html", "people", "disclosure_log", "event_study"):
        for out in opts.get(name, []) if name not in in_memory else []:
            if os.path.exists(out) and not force:
                raise PseudolinkError(f"{out} already exists; pass force=True to replace it")
    # Column names the options use: never dropped silently.
    used = {v for k, vs in opts.items() if k.endswith("_column") or k in ("group_by", "match_on") for v in vs}
    tables = {}

    def give(role: str, table: Any, token_column: Optional[str]) -> None:
        t = _for_the_core(table, token_column, used)
        if isinstance(t, str):
            opts[role] = [t]
        else:
            # Named in the core's messages as "the <role> table".
            opts[role], tables[role] = [f"the {role} table"], t

    def give_ids(role: str, table: Any) -> None:
        """A table identified by NHS numbers (or, with the option, tokens).
        A CSV file of numbers is streamed by the core, which tokenises as it
        reads, as the command does; a DataFrame's numbers are tokenised here
        first, so that they never reach the core."""
        if f"{role}_token_column" not in opts:
            if key is None:
                raise PseudolinkError(
                    f"the {role} table's NHS numbers must be tokenised with the key: pass key=, or, if it is "
                    f"already tokenised, {role}_token_column="
                )
            if isinstance(table, (str, os.PathLike)):
                opts[role] = [os.fspath(table)]
                return
            nhs = opts.pop(f"{role}_nhs_column", ["nhs_number"])[0]
            table, token = _tokenise_ids(table, key, nhs)
            opts[f"{role}_token_column"] = [token]
        give(role, table, opts[f"{role}_token_column"][0])

    give("cohort", cohort, opts.get("cohort_token_column", ["token"])[0])
    give_ids("usage", usage)
    if population is not None:
        give_ids("population", population)
    if unit_costs is not None:
        give("unit_costs", unit_costs, None)
    # The command line's own parser checks every option, as for the command.
    args = [a for k, vs in opts.items() for v in vs for a in (f"--{k.replace('_', '-')}", v)]
    if force:
        args.append("--force")
    # The Key object itself goes to the core: its file is never read again.
    # DataFrames go as Arrow streams and are read from memory: no file is
    # written, not even a temporary one.
    summary, safety, released = _relink(args, key, tables, in_memory)
    import warnings

    for w in safety:
        warnings.warn(w.removeprefix("warning: "), PseudolinkWarning, stacklevel=2)
    if safety:
        summary = "\n".join(safety) + "\n" + summary

    def read(text: bytes) -> "pd.DataFrame":
        import io

        frame = pd.read_csv(io.BytesIO(text), dtype=str, keep_default_na=False)
        return _typed(frame) if typed else frame

    released = dict(released)
    report = read(released["report"])
    report.attrs["summary"] = summary
    for name in ("costs", "balance", "event_study", "disclosure_log"):
        if name in released:
            report.attrs[name] = read(released[name])
    return report


def _values(v: Any) -> list:
    """An option's value(s) as command-line text: a list gives the flag once
    for each item (group_by, within, match_on)."""
    if isinstance(v, (list, tuple)):
        return [str(x) for x in v]
    return [str(v)]
