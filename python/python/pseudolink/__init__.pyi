from typing import Any, Optional, Sequence, Union
from os import PathLike

import pandas

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

def tokens(key: Key, column: Any, threads: int = 0, allow_float: bool = False) -> Any:
    """Tokens of every cell of a pandas/polars Series or pyarrow array, as the same kind; null where invalid."""

def reasons(column: Any, threads: int = 0, allow_float: bool = False) -> Any:
    """Reason codes of every cell, as the same kind of column; null where valid."""

def relink(
    cohort: Any,
    usage: Any,
    *,
    key: Optional[Key] = None,
    cohort_key_id: Optional[str] = None,
    population: Any = None,
    unit_costs: Any = None,
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
    typed: bool = True,
    force: bool = False,
) -> pandas.DataFrame:
    """The relink report as a DataFrame: the command's cells, number columns
    as Int64/Float64 with suppressed cells <NA> and flagged in
    ``attrs["suppressed"]`` (``typed=False``: the file's text)."""
