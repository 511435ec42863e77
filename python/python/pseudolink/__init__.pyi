from os import PathLike
from typing import Any, Optional, Sequence, Union, overload

import pandas
import polars
import pyarrow

from ._pseudolink import (
    SPEC_VERSION as SPEC_VERSION,
    InvalidNhsNumber as InvalidNhsNumber,
    Key as Key,
    PseudolinkError as PseudolinkError,
    PseudolinkWarning as PseudolinkWarning,
    __version__ as __version__,
    canonicalise as canonicalise,
    check as check,
)

# Series in, Series out: the result is the same kind of column as the input.
@overload
def tokens(key: Key, column: pandas.Series, threads: int = 0, allow_float: bool = False) -> pandas.Series: ...
@overload
def tokens(key: Key, column: polars.Series, threads: int = 0, allow_float: bool = False) -> polars.Series: ...
@overload
def tokens(
    key: Key, column: Union[pyarrow.Array, pyarrow.ChunkedArray], threads: int = 0, allow_float: bool = False
) -> pyarrow.LargeStringArray: ...
@overload
def tokens(
    key: Key, column: Sequence[Union[str, int, None]], threads: int = 0, allow_float: bool = False
) -> list[Optional[str]]: ...
@overload
def reasons(column: pandas.Series, threads: int = 0, allow_float: bool = False) -> pandas.Series: ...
@overload
def reasons(column: polars.Series, threads: int = 0, allow_float: bool = False) -> polars.Series: ...
@overload
def reasons(
    column: Union[pyarrow.Array, pyarrow.ChunkedArray], threads: int = 0, allow_float: bool = False
) -> pyarrow.LargeStringArray: ...
@overload
def reasons(
    column: Sequence[Union[str, int, None]], threads: int = 0, allow_float: bool = False
) -> list[Optional[str]]: ...

Table = Union[pandas.DataFrame, polars.DataFrame, polars.LazyFrame, pyarrow.Table, str, PathLike[str], Any]
"""A table relink reads: a DataFrame or Table (read in memory), anything
with the Arrow PyCapsule interface (``__arrow_c_stream__``), or a CSV path."""

def relink(
    cohort: Table,
    usage: Table,
    *,
    key: Optional[Key] = None,
    cohort_key_id: Optional[str] = None,
    population: Optional[Table] = None,
    unit_costs: Optional[Table] = None,
    html: Optional[Union[str, PathLike[str]]] = None,
    group_by: Union[str, Sequence[str]] = ...,
    months: int = 6,
    data_start: Optional[str] = None,
    data_end: Optional[str] = None,
    disclosure: str = "hes",
    within: Sequence[int] = ...,
    value_column: Optional[str] = None,
    service_cost: Optional[float] = None,
    match_on: Sequence[str] = ...,
    controls: int = 3,
    seed: int = 1,
    caliper: Optional[int] = None,
    cohort_token_column: Optional[str] = None,
    cohort_date_column: str = "intervention_date",
    usage_nhs_column: Optional[str] = None,
    usage_token_column: Optional[str] = None,
    event_date_column: str = "event_date",
    event_type_column: str = "event_type",
    population_nhs_column: Optional[str] = None,
    population_token_column: Optional[str] = None,
    people: Optional[Union[str, PathLike[str]]] = None,
    disclosure_log: Optional[Union[str, PathLike[str], bool]] = None,
    event_study: Optional[Union[str, PathLike[str], bool]] = None,
    typed: bool = True,
    force: bool = False,
) -> pandas.DataFrame:
    """The relink report as a DataFrame: the command's cells, number columns
    as Int64/Float64 with suppressed cells <NA> and flagged in
    ``attrs["suppressed"]`` (``typed=False``: the file's text)."""
