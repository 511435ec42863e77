"""The shipped type hints: a column goes in and the same kind comes out,
as a type checker (mypy, with pandas-stubs and pyarrow-stubs) sees it.
CI installs them; elsewhere the test is skipped without them."""

import os
import textwrap

import pytest

if os.environ.get("PSEUDOLINK_REQUIRE_TYPING"):
    import mypy.api as api
else:
    api = pytest.importorskip("mypy.api")


def _mypy(tmp_path, code):
    p = tmp_path / "use.py"
    p.write_text(textwrap.dedent(code))
    out, err, status = api.run(["--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(p)])
    return out + err, status


SETUP = """
    import pandas as pd
    import polars as pl
    import pyarrow as pa
    import pseudolink

    key = pseudolink.Key.generate()
"""


def test_series_in_series_out(tmp_path):
    out, status = _mypy(tmp_path, SETUP + """
    reveal_type(key.tokens(pd.Series(["1"])))
    reveal_type(pseudolink.tokens(key, pl.Series(["1"])))
    reveal_type(key.reasons(pa.chunked_array([["1"]])))
    reveal_type(pseudolink.reasons(["1", None]))
    reveal_type(pseudolink.relink("cohort.csv", pd.DataFrame(), key=key))
    """)
    assert status == 0, out
    revealed = [line.split("Revealed type is ")[1] for line in out.splitlines() if "Revealed type" in line]
    if "Any" in revealed[0] and not os.environ.get("PSEUDOLINK_REQUIRE_TYPING"):
        pytest.skip("pandas-stubs and pyarrow-stubs are not installed")
    assert revealed[0].startswith('"pandas.core.series.Series')
    assert revealed[1] == '"polars.series.series.Series"'
    assert revealed[2].endswith('LargeStringArray"')
    assert revealed[3] == '"list[str | None]"' or revealed[3] == '"builtins.list[Union[builtins.str, None]]"'
    assert revealed[4] == '"pandas.core.frame.DataFrame"'


def test_the_wrong_kind_is_a_type_error(tmp_path):
    out, status = _mypy(tmp_path, SETUP + """
    s: pd.Series = key.tokens(pa.array(["1"]))
    """)
    if ("import-untyped" in out or "import-not-found" in out) and not os.environ.get("PSEUDOLINK_REQUIRE_TYPING"):
        pytest.skip("pandas-stubs and pyarrow-stubs are not installed")
    assert status == 1 and "Incompatible types in assignment" in out, out
