"""The Python package against the SPEC's vectors (docs/vectors.json, the
same file the Rust tests load) and against the command line on the same
files. Needs the `pseudolink` binary: PSEUDOLINK_BIN, or target/release or
target/debug in the repository."""

import json
import os
import pathlib
import subprocess
import sys
import threading

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import pseudolink

ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "docs" / "vectors.json").read_text())
EXAMPLE_KEY = ROOT / "keys-example" / "example.key"


def binary() -> str:
    env = os.environ.get("PSEUDOLINK_BIN")
    if env:
        return env
    for build in ("release", "debug"):
        p = ROOT / "target" / build / "pseudolink"
        if p.exists():
            return str(p)
    pytest.skip("no pseudolink binary: run cargo build first")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary(), *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> pseudolink.Key:
    d = tmp_path_factory.mktemp("key")
    p = d / "spec.key"
    p.write_text("# the SPEC's test key\n" + VECTORS["key_hex"] + "\n")
    p.chmod(0o600)
    return pseudolink.Key.from_file(p)


def test_key_id_and_token_vectors(key):
    assert key.key_id == VECTORS["key_id"]
    for case in VECTORS["tokens"]:
        assert pseudolink.canonicalise(case["input"]) == case["canonical"]
        assert key.token(case["input"]) == case["token"]
        assert pseudolink.check(case["input"]) is None


def test_reason_codes(key):
    for case in VECTORS["rejects"]:
        assert pseudolink.check(case["input"]) == case["reason"], case
        with pytest.raises(pseudolink.InvalidNhsNumber) as e:
            pseudolink.canonicalise(case["input"])
        assert e.value.reason == case["reason"]
        with pytest.raises(pseudolink.InvalidNhsNumber):
            key.token(case["input"])
    assert pseudolink.check(None) == "empty"


def test_errors_never_echo_the_cell(key):
    with pytest.raises(pseudolink.InvalidNhsNumber) as e:
        key.token("9434765918")
    assert "9434765918" not in str(e.value)
    assert "check_digit_mismatch" in str(e.value)


def test_the_key_never_becomes_python_bytes(key):
    text = repr(key) + str(dir(key))
    assert VECTORS["key_hex"] not in text
    for name in dir(key):
        if not name.startswith("__"):
            value = getattr(key, name)
            assert not isinstance(value, (bytes, bytearray)), name
            if isinstance(value, str):
                assert VECTORS["key_hex"][:16] not in value, name


def test_key_file_errors_are_the_command_lines(tmp_path):
    p = tmp_path / "bad.key"
    p.write_text("not hex at all\n")
    with pytest.raises(pseudolink.PseudolinkError) as e:
        pseudolink.Key.from_file(p)
    assert "line 1, column 1: not a hex digit" in str(e.value)
    with pytest.raises(pseudolink.PseudolinkError):
        pseudolink.Key.from_file(tmp_path / "missing.key")


CELLS = [c["input"] for c in VECTORS["tokens"]] + [c["input"] for c in VECTORS["rejects"]]
WANT_TOKENS = [c["token"] for c in VECTORS["tokens"]] + [None] * len(VECTORS["rejects"])
WANT_REASONS = [None] * len(VECTORS["tokens"]) + [c["reason"] for c in VECTORS["rejects"]]


def test_columns_of_every_kind(key):
    cells = CELLS + [None]
    want_t = WANT_TOKENS + [None]
    want_r = WANT_REASONS + ["empty"]
    # pyarrow: string, large_string, chunked, sliced.
    arr = pa.array(cells)
    assert key.tokens(arr).to_pylist() == want_t
    assert pseudolink.reasons(arr).to_pylist() == want_r
    assert key.tokens(arr.cast(pa.large_string())).to_pylist() == want_t
    chunked = pa.chunked_array([cells[:5], cells[5:]])
    assert key.tokens(chunked).to_pylist() == want_t
    assert key.tokens(arr.slice(3, 10)).to_pylist() == want_t[3:13]
    # pandas, with its index and name kept.
    s = pd.Series(cells, index=range(100, 100 + len(cells)), name="nhs_number")
    t = key.tokens(s)
    assert isinstance(t, pd.Series) and list(t.index) == list(s.index) and t.name == "nhs_number"
    assert [None if pd.isna(x) else x for x in t] == want_t
    assert [None if pd.isna(x) else x for x in key.reasons(s)] == want_r
    # polars.
    p = pl.Series("nhs", cells)
    assert key.tokens(p).to_list() == want_t
    assert pseudolink.reasons(p).to_list() == want_r
    # A list.
    assert pseudolink.tokens(key, cells) == want_t


def test_numbers_stored_as_numbers(key):
    # Integers give the same tokens as text; floats only when asked (a
    # float that is not whole is then judged as its text).
    dd = VECTORS["tokens"][0]["token"]
    assert key.tokens(pa.array([9434765919, None], pa.int64())).to_pylist() == [dd, None]
    got = key.tokens(pd.Series([9434765919.0, float("nan")]), allow_float=True).tolist()
    assert got[0] == dd
    assert pseudolink.reasons(pa.array([9434765919.5]), allow_float=True).to_pylist() == [
        "invalid_character"
    ]
    assert key.tokens(pl.Series([9434765919, None])).to_list() == [dd, None]
    with pytest.raises(pseudolink.PseudolinkError):
        key.tokens(pa.array([True, False]))


def _one_by_one(key, cells):
    out = []
    for c in cells:
        try:
            out.append(key.token(str(c)) if c is not None else None)
        except pseudolink.InvalidNhsNumber:
            out.append(None)
    return out


@pytest.mark.parametrize("layout", ["string", "large_string", "string_view", "dictionary", "chunks",
                                    "sliced_chunks", "int64", "int32", "uint64", "decimal128", "decimal256",
                                    "null"])
def test_every_arrow_layout_is_read_in_place_with_the_same_tokens(key, layout):
    # Every layout the core reads through the C data interface gives the
    # tokens that key.token gives one cell at a time.
    ints = [9434765919, 4000000632, None, 123, 9876543210, 9434765918, 1, 9434765919]
    texts = [None if v is None else str(v) for v in ints]
    if layout == "null":
        col, cells = pa.nulls(5), [None] * 5
    elif layout in ("int64", "int32", "uint64"):
        if layout == "int32":
            ints = [v if v is None or v < 2**31 else v % 2**31 for v in ints]
        col, cells = pa.array(ints, getattr(pa, layout)()), ints
    elif layout.startswith("decimal"):
        col, cells = pa.array(ints, getattr(pa, layout)(12, 0)), ints
    elif layout == "chunks":
        col, cells = pa.chunked_array([texts[:3], [], texts[3:]], pa.string()), texts
    elif layout == "sliced_chunks":
        col = pa.chunked_array([pa.array(texts).slice(1, 4), pa.array(texts).slice(2)])
        cells = texts[1:5] + texts[2:]
    elif layout == "string_view":
        if not hasattr(pa, "string_view"):
            pytest.skip("this pyarrow has no string_view")
        col, cells = pa.array(texts, pa.string_view()), texts
    elif layout == "dictionary":
        col, cells = pa.array(texts).dictionary_encode(), texts
    else:
        col, cells = pa.array(texts, getattr(pa, layout)()), texts
    want = _one_by_one(key, cells)
    got = key.tokens(col)
    assert got.type == pa.large_string()
    assert got.to_pylist() == want
    assert [r is None for r in pseudolink.reasons(col).to_pylist()] == [w is not None for w in want]


@pytest.mark.parametrize("dtype", ["String", "Int64", "UInt64", "Categorical"])
def test_polars_columns_are_read_in_place_with_the_same_tokens(key, dtype):
    ints = [9434765919, 4000000632, None, 123, 9876543210, 9434765918]
    texts = [None if v is None else str(v) for v in ints]
    cells = ints if "Int" in dtype else texts
    col = pl.Series("nhs", cells, dtype=getattr(pl, dtype))
    got = key.tokens(col)
    assert isinstance(got, pl.Series) and got.name == "nhs"
    assert got.to_list() == _one_by_one(key, cells)
    assert pseudolink.reasons(col).to_list()[2] == "empty"


class _Capsules:
    """Only the Arrow PyCapsule interface, as nanoarrow, arro3 or DuckDB
    offer it: no pyarrow, pandas or polars type for the package to know."""

    def __init__(self, data):
        self._data = data

    def __arrow_c_stream__(self, requested_schema=None):
        return self._data.__arrow_c_stream__(requested_schema)


def test_any_column_or_table_with_the_arrow_pycapsule_interface(key):
    cells = ["9434765919", None, "123"]
    got = key.tokens(_Capsules(pa.chunked_array([cells])))
    assert isinstance(got, pa.Array) and got.to_pylist() == _one_by_one(key, cells)
    assert pseudolink.reasons(_Capsules(pa.chunked_array([cells]))).to_pylist() == [None, "empty", "wrong_length"]
    with pytest.raises(TypeError, match="PyCapsule"):
        key.tokens(object())

    number = "9434765919"
    cohort = pa.table({"token": [key.token(number)], "intervention_date": ["2024-01-01"], "cohort": ["A"]})
    usage = pa.table({"nhs_number": [number], "event_date": ["2024-02-01"], "event_type": ["AE"]})
    kw = dict(key=key, disclosure="none", data_start="2023-06-01", data_end="2024-06-30", typed=False)
    with pytest.warns(pseudolink.PseudolinkWarning):
        want = pseudolink.relink(cohort, usage, **kw)
        got = pseudolink.relink(_Capsules(cohort), _Capsules(usage), **kw)
        lazy = pseudolink.relink(pl.from_arrow(cohort).lazy(), pl.from_arrow(usage).lazy(), **kw)
    pd.testing.assert_frame_equal(got, want)
    pd.testing.assert_frame_equal(lazy, want)
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    con.register("usage_view", usage)
    relation = con.sql("select * from usage_view")
    if not hasattr(relation, "__arrow_c_stream__"):
        pytest.skip("this DuckDB has no Arrow PyCapsule interface")
    with pytest.warns(pseudolink.PseudolinkWarning):
        pd.testing.assert_frame_equal(pseudolink.relink(cohort, relation, **kw), want)


def test_a_column_is_tokenised_with_no_memory_beyond_its_result(tmp_path):
    # The result is the only large allocation: the core writes the tokens
    # into the very buffers pyarrow then owns (C data interface), and reads
    # the input where it is. Measured in a fresh process by its peak
    # resident memory (VmHWM, reset just before the call).
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux's /proc")
    script = r"""
import sys, pyarrow as pa, pandas as pd, pseudolink
key = pseudolink.Key.from_hex("00" * 32)
col = pa.array(["9434765919", "4000000632", "123"] * 200_000)
if sys.argv[1] == "pandas":
    col = pd.Series([9434765919, 4000000632, 123] * 200_000)
key.tokens(col[:100])
def kb(field):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(field + ":")) * 1024
before = kb("VmRSS")
open("/proc/self/clear_refs", "w").write("5")
out = key.tokens(col)
extra = kb("VmHWM") - before
size = (out if sys.argv[1] == "arrow" else pa.array(out.array)).nbytes
print(extra / size)
"""
    for case in ["arrow", "pandas"]:
        r = subprocess.run([sys.executable, "-c", script, case], capture_output=True, text=True, check=True)
        ratio = float(r.stdout)
        # 400,000 tokens are 27 MB; the copies this replaced made it 2-3x.
        assert ratio < 1.3, f"{case}: peak extra memory {ratio:.2f}x the result"


def test_the_gil_is_released_while_a_column_is_worked(key):
    # Another Python thread makes progress while a large column is worked.
    cells = pa.array(["943 476 5919"] * 400_000)
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(1)

    t = threading.Thread(target=tick)
    t.start()
    try:
        before = len(ticks)
        key.tokens(cells)
        during = len(ticks) - before
    finally:
        stop.set()
        t.join()
    assert during > 0


def test_tokens_match_the_command_line_on_a_synth_file(tmp_path):
    r = cli("synth", "--people", "3000", "--events", "0", "--seed", "7", "--out", str(tmp_path / "s"))
    assert r.returncode == 0, r.stderr
    r = cli("tokenise", "-q", "--key", str(EXAMPLE_KEY), str(tmp_path / "s" / "referrals.csv"),
            "--output", str(tmp_path / "cli.csv"), "--rejects", str(tmp_path / "rejects.csv"))
    assert r.returncode == 0, r.stderr
    referrals = pd.read_csv(tmp_path / "s" / "referrals.csv", dtype=str, keep_default_na=False)
    key = pseudolink.Key.from_file(EXAMPLE_KEY)
    ours = key.tokens(referrals["nhs_number"])
    valid = ours.notna()
    cli_out = pd.read_csv(tmp_path / "cli.csv", dtype=str, keep_default_na=False)
    assert list(ours[valid]) == list(cli_out["token"])
    rejects = pd.read_csv(tmp_path / "rejects.csv", dtype=str, keep_default_na=False)
    reasons = key.reasons(referrals["nhs_number"])
    assert list(reasons[reasons.notna()]) == list(rejects["reason"])
    # Rejected rows are the rows without a token (row 1 is the first data row).
    assert [i + 1 for i in range(len(ours)) if not valid.iloc[i]] == [int(x) for x in rejects["row"]]


def test_relink_matches_the_command_line(tmp_path):
    s = tmp_path / "s"
    assert cli("synth", "--people", "2000", "--events", "20000", "--seed", "4", "--test-numbers", "--out", str(s)).returncode == 0
    r = cli("tokenise", "-q", "--key", str(EXAMPLE_KEY), str(s / "referrals.csv"), "--output", str(s / "tokens.csv"))
    assert r.returncode == 0, r.stderr
    (s / "unit-costs.csv").write_text("event_type,unit_cost\nAE,114\nNEL,1758\n")
    common = ["--data-start", "2022-04-01", "--data-end", "2025-03-31", "--within", "14", "--within", "90",
              "--value-column", "los_days"]
    for disclosure in ("hes", "none"):
        r = cli("relink", "-q", "--cohort", str(s / "tokens.csv"), "--usage", str(s / "usage.csv"),
                "--key", str(EXAMPLE_KEY), "--disclosure", disclosure, "--output", str(tmp_path / "cli.csv"),
                "--unit-costs", str(s / "unit-costs.csv"), "--costs", str(tmp_path / "costs.csv"),
                "--service-cost", "1171", "--force", *common)
        assert r.returncode == 0, r.stderr
        key = pseudolink.Key.from_file(EXAMPLE_KEY)
        cohort = pd.read_csv(s / "tokens.csv", dtype=str, keep_default_na=False)
        usage = pl.read_csv(s / "usage.csv", infer_schema_length=0)
        df = pseudolink.relink(
            cohort, usage, key=key, cohort_key_id=key.key_id, disclosure=disclosure,
            data_start="2022-04-01", data_end="2025-03-31", within=[14, 90], value_column="los_days",
            unit_costs=str(s / "unit-costs.csv"), service_cost=1171, typed=False,
        )
        want = pd.read_csv(tmp_path / "cli.csv", dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(df, want)
        # Paths: the usage file streamed by the core, which tokenises as
        # it reads; the same report and summary as from DataFrames.
        by_path = pseudolink.relink(
            str(s / "tokens.csv"), s / "usage.csv", key=key, disclosure=disclosure,
            data_start="2022-04-01", data_end="2025-03-31", within=[14, 90], value_column="los_days",
            unit_costs=str(s / "unit-costs.csv"), service_cost=1171, typed=False,
        )
        pd.testing.assert_frame_equal(by_path, want)
        assert by_path.attrs["summary"].split("\n")[-3:] == df.attrs["summary"].split("\n")[-3:]
        pd.testing.assert_frame_equal(df.attrs["costs"], pd.read_csv(tmp_path / "costs.csv", dtype=str, keep_default_na=False))
        assert "cohort:" in df.attrs["summary"]

        # Typed (the default): numbers are numbers, and every * is in the mask.
        typed = pseudolink.relink(
            cohort, usage, key=key, cohort_key_id=key.key_id, disclosure=disclosure,
            data_start="2022-04-01", data_end="2025-03-31", within=[14, 90], value_column="los_days",
            unit_costs=str(s / "unit-costs.csv"), service_cost=1171,
        )
        for got, text in ((typed, want), (typed.attrs["costs"], df.attrs["costs"])):
            mask = got.attrs["suppressed"]
            pd.testing.assert_frame_equal(mask, text == "*")
            if disclosure == "none":
                assert not mask.values.any()
            for name in text.columns:
                for g, t, hidden in zip(got[name], text[name], mask[name]):
                    if t in ("*", ""):
                        assert pd.isna(g) and hidden == (t == "*"), (name, t)
                    elif pd.api.types.is_numeric_dtype(got[name]):
                        assert float(g) == float(t), (name, g, t)
                    else:
                        assert g == t
        assert str(typed["patients"].dtype) == "Int64" and str(typed["pre_per_patient"].dtype) == "Float64"
        if disclosure == "hes":
            assert typed.attrs["suppressed"].values.any(), "this synth report has hidden cells to check"


def test_relink_with_a_population_and_unit_costs_in_memory_matches_the_command_line(tmp_path):
    # Every input a DataFrame (population with NHS numbers, tokenised in
    # memory; unit costs too): the report, balance and costs are the
    # command's, cell for cell.
    s = tmp_path / "s"
    r = cli("synth", "--population", "4000", "--people", "300", "--events", "30000", "--test-numbers",
            "--seed", "3", "--out", str(s))
    assert r.returncode == 0, r.stderr
    r = cli("tokenise", "-q", "--key", str(EXAMPLE_KEY), str(s / "referrals.csv"), "--output", str(s / "tokens.csv"))
    assert r.returncode == 0, r.stderr
    (s / "unit-costs.csv").write_text("event_type,unit_cost\nAE,114\nNEL,1758\n")
    common = ["--match-on", "age_band", "--match-on", "sex", "--end-date-column", "left_on",
              "--data-start", "2022-04-01", "--data-end", "2025-03-31"]
    r = cli("relink", "-q", "--cohort", str(s / "tokens.csv"), "--usage", str(s / "usage.csv"),
            "--key", str(EXAMPLE_KEY), "--population", str(s / "population.csv"), *common,
            "--output", str(tmp_path / "cli.csv"), "--balance", str(tmp_path / "balance.csv"),
            "--unit-costs", str(s / "unit-costs.csv"), "--costs", str(tmp_path / "costs.csv"))
    assert r.returncode == 0, r.stderr
    read = lambda p: pd.read_csv(p, dtype=str, keep_default_na=False)  # noqa: E731
    key = pseudolink.Key.from_file(EXAMPLE_KEY)
    df = pseudolink.relink(
        read(s / "tokens.csv"), pl.read_csv(s / "usage.csv", infer_schema_length=0), key=key,
        population=pa.Table.from_pandas(read(s / "population.csv")), unit_costs=read(s / "unit-costs.csv"),
        match_on=["age_band", "sex"], end_date_column="left_on", data_start="2022-04-01",
        data_end="2025-03-31", typed=False,
    )
    pd.testing.assert_frame_equal(df, read(tmp_path / "cli.csv"))
    pd.testing.assert_frame_equal(df.attrs["balance"], read(tmp_path / "balance.csv"))
    pd.testing.assert_frame_equal(df.attrs["costs"], read(tmp_path / "costs.csv"))


def test_relink_labels_with_commas_quotes_and_line_breaks_survive_memory(tmp_path):
    # A DataFrame's text reaches the core exactly: the same report as the
    # command on the same table written as a CSV file.
    key = pseudolink.Key.from_file(EXAMPLE_KEY)
    nums = ["9434765919", "4000000632", "9876543210"]
    cohort = pd.DataFrame({"token": [key.token(n) for n in nums], "intervention_date": ["2024-01-01"] * 3,
                           "grp": ["a,b", 'say "hi"', "line\nbreak"]})
    usage = pd.DataFrame({"nhs_number": nums * 3, "event_date": ["2024-02-01"] * 9,
                          "event_type": ["=AE", "x,y", 'caf\u00e9 "q"'] * 3})
    cohort.to_csv(tmp_path / "cohort.csv", index=False)
    usage.to_csv(tmp_path / "usage.csv", index=False)
    kw = ["--disclosure", "none", "--group-by", "grp", "--data-start", "2023-06-01", "--data-end", "2024-06-30"]
    r = cli("relink", "-q", "--no-manifest", "--cohort", str(tmp_path / "cohort.csv"), "--usage",
            str(tmp_path / "usage.csv"), "--key", str(EXAMPLE_KEY), "--output", str(tmp_path / "cli.csv"), *kw)
    assert r.returncode == 0, r.stderr
    df = pseudolink.relink(cohort, usage, key=key, disclosure="none", group_by="grp", data_start="2023-06-01",
                           data_end="2024-06-30", typed=False)
    pd.testing.assert_frame_equal(df, pd.read_csv(tmp_path / "cli.csv", dtype=str, keep_default_na=False))
    assert set(df["grp"]) == {"a,b", 'say "hi"', "line\nbreak", "Total"}
    # A categorical column (Arrow dictionary) is read as its text.
    same = pseudolink.relink(cohort.astype({"grp": "category"}), usage.astype({"event_type": "category"}),
                             key=key, disclosure="none", group_by="grp", data_start="2023-06-01",
                             data_end="2024-06-30", typed=False)
    pd.testing.assert_frame_equal(same, df)


def test_relink_refuses_a_dataframe_with_a_column_named_twice():
    key = pseudolink.Key.from_hex(VECTORS["key_hex"])
    cohort = pd.DataFrame({"token": [key.token("9434765919")], "intervention_date": ["2024-01-01"]})
    usage = pd.DataFrame([["9434765919", "2024-02-01", "AE", "x"]],
                         columns=["nhs_number", "event_date", "event_type", "event_type"])
    with pytest.raises(pseudolink.PseudolinkError, match="more than one column called 'event_type'"):
        pseudolink.relink(cohort, usage, key=key)


def test_relink_event_study_and_disclosure_log_come_back_in_attrs(tmp_path):
    # event_study=True and disclosure_log=True: the command's files, cell
    # for cell, in df.attrs, and no file written anywhere.
    s = tmp_path / "s"
    assert cli("synth", "--people", "1500", "--events", "15000", "--seed", "6", "--test-numbers",
               "--out", str(s)).returncode == 0
    r = cli("tokenise", "-q", "--key", str(EXAMPLE_KEY), str(s / "referrals.csv"), "--output", str(s / "tokens.csv"))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    out.mkdir()
    r = cli("relink", "-q", "--cohort", str(s / "tokens.csv"), "--usage", str(s / "usage.csv"), "--key",
            str(EXAMPLE_KEY), "--data-start", "2022-04-01", "--data-end", "2025-03-31",
            "--output", str(out / "report.csv"), "--event-study", str(out / "months.csv"),
            "--disclosure-log", str(out / "log.csv"))
    assert r.returncode == 0, r.stderr
    read = lambda p: pd.read_csv(p, dtype=str, keep_default_na=False)  # noqa: E731
    key = pseudolink.Key.from_file(EXAMPLE_KEY)
    before = sorted(os.listdir(tmp_path))
    df = pseudolink.relink(read(s / "tokens.csv"), read(s / "usage.csv"), key=key, data_start="2022-04-01",
                           data_end="2025-03-31", event_study=True, disclosure_log=True, typed=False)
    assert sorted(os.listdir(tmp_path)) == before
    pd.testing.assert_frame_equal(df, read(out / "report.csv"))
    pd.testing.assert_frame_equal(df.attrs["event_study"], read(out / "months.csv"))
    pd.testing.assert_frame_equal(df.attrs["disclosure_log"], read(out / "log.csv"))
    assert len(df.attrs["disclosure_log"]) > 0, "this report has withheld cells to log"
    # A path still writes the file (and needs force=True to replace it).
    pseudolink.relink(read(s / "tokens.csv"), read(s / "usage.csv"), key=key, data_start="2022-04-01",
                      data_end="2025-03-31", event_study=str(tmp_path / "m.csv"))
    assert read(tmp_path / "m.csv").equals(read(out / "months.csv"))
    with pytest.raises(pseudolink.PseudolinkError, match="force=True"):
        pseudolink.relink(read(s / "tokens.csv"), read(s / "usage.csv"), key=key, data_start="2022-04-01",
                          data_end="2025-03-31", event_study=str(tmp_path / "m.csv"))


def test_relink_refuses_another_keys_cohort_and_names_missing_columns(tmp_path):
    key = pseudolink.Key.from_file(EXAMPLE_KEY)
    cohort = pd.DataFrame({"token": ["ab" * 32], "intervention_date": ["2024-01-01"], "cohort": ["A"]})
    usage = pd.DataFrame({"nhs_number": ["9434765919"], "event_date": ["2024-02-01"], "event_type": ["AE"]})
    with pytest.raises(pseudolink.PseudolinkError, match="key id mismatch"):
        pseudolink.relink(cohort, usage, key=key, cohort_key_id="0000000000000000")
    with pytest.raises(pseudolink.PseudolinkError, match="no column"):
        pseudolink.relink(cohort, usage, key=key, group_by="practice")
    # Options are checked by the command's own parser, with its messages.
    with pytest.raises(pseudolink.PseudolinkError, match="DAYS must be from 1 to 168"):
        pseudolink.relink(cohort, usage, key=key, within=[0])
    with pytest.raises(ValueError, match="--months"):
        pseudolink.relink(cohort, usage, key=key, months="six")


def _spy_on_the_core(monkeypatch):
    """Records every table handed to the Rust relink core, as text."""
    seen = []
    real = pseudolink._relink

    def spy(args, key=None, tables=None, *rest):
        for t in (tables or {}).values():
            seen.append((t.column_names, str(t.to_pydict())))
        return real(args, key, tables, *rest)

    monkeypatch.setattr(pseudolink, "_relink", spy)
    return seen


def test_relink_never_hands_an_nhs_number_to_the_core(monkeypatch):
    seen = _spy_on_the_core(monkeypatch)
    key = pseudolink.Key.from_file(EXAMPLE_KEY)
    number = "9434765919"
    cohort = pd.DataFrame({"token": [key.token(number)], "intervention_date": ["2024-01-01"], "cohort": ["A"]})
    usage = pd.DataFrame({"nhs_number": [number, "123"], "event_date": ["2024-02-01", "2024-02-02"], "event_type": ["AE", "AE"]})
    df = pseudolink.relink(cohort, usage, key=key, disclosure="none", data_start="2023-06-01", data_end="2024-06-30")
    assert df["post_events"].tolist() == [1, 1]  # group A, then Total
    assert len(seen) == 2, "the cohort and usage tables went to the core in memory"
    assert not any(number in text or "nhs_number" in names for names, text in seen)

    # A raw number kept beside the token, in the cohort and in an already
    # tokenised usage table, is dropped too; the dates are datetime64.
    seen.clear()
    cohort["nhs_number"] = [int(number)]
    cohort["intervention_date"] = pd.to_datetime(cohort["intervention_date"])
    usage = pd.DataFrame({"token": [key.token(number)] * 2, "nhs_number": [number] * 2,
                          "event_date": pd.to_datetime(["2024-02-01", "2024-02-02"]), "event_type": ["AE", "AE"]})
    df = pseudolink.relink(cohort, usage, usage_token_column="token", disclosure="none",
                           data_start="2023-06-01", data_end="2024-06-30")
    assert df["post_events"].tolist() == [2, 2]
    assert len(seen) == 2 and not any(number in text for _, text in seen)

    # Whatever its type: a categorical, a string view, an int32 column.
    seen.clear()
    small = "1234567881"  # fits in an int32
    cohort2 = pd.DataFrame({"token": [key.token(small)], "intervention_date": ["2024-01-01"], "cohort": ["A"],
                            "nhs_cat": pd.Categorical([small]), "nhs_i32": pd.array([int(small)], dtype="int32")})
    usage2 = pa.table({"token": [key.token(small)], "event_date": ["2024-02-01"], "event_type": ["AE"],
                       "nhs_view": pa.array([small], getattr(pa, "string_view", pa.string)())})
    df = pseudolink.relink(cohort2, usage2, usage_token_column="token", disclosure="none",
                           data_start="2023-06-01", data_end="2024-06-30")
    assert df["post_events"].tolist() == [1, 1]
    assert len(seen) == 2 and not any(small in text for _, text in seen), seen


def test_relink_safety_warnings_are_python_warnings_not_stderr(capfd):
    # Regression: the core also printed them on stderr, so a notebook
    # showed each twice and filtering the warning did not hide it.
    key = pseudolink.Key.from_hex(VECTORS["key_hex"])
    cohort = pd.DataFrame({"token": [key.token("9434765919")], "intervention_date": ["2024-01-01"], "cohort": ["A"]})
    usage = pd.DataFrame({"nhs_number": ["9434765919"], "event_date": ["2024-02-01"], "event_type": ["AE"]})
    with pytest.warns(pseudolink.PseudolinkWarning, match="disclosure none"):
        df = pseudolink.relink(cohort, usage, key=key, disclosure="none", data_start="2023-06-01",
                               data_end="2024-06-30")
    assert "disclosure none" in df.attrs["summary"]
    out, err = capfd.readouterr()
    assert err == "" and out == ""


def test_relinks_on_several_threads_at_once_give_their_own_reports(tmp_path):
    # The core runs without the GIL, and relink keeps no shared state
    # (no temporary folder): concurrent calls give what calls one by one do.
    from concurrent.futures import ThreadPoolExecutor

    s = tmp_path / "s"
    assert cli("synth", "--people", "800", "--events", "8000", "--seed", "9", "--test-numbers",
               "--out", str(s)).returncode == 0
    key = pseudolink.Key.from_hex(VECTORS["key_hex"])
    referrals = pd.read_csv(s / "referrals.csv", dtype=str, keep_default_na=False)
    referrals["token"] = key.tokens(referrals["nhs_number"])
    cohort = referrals.dropna(subset=["token"]).drop(columns="nhs_number")
    usage = pd.read_csv(s / "usage.csv", dtype=str, keep_default_na=False)

    def one(months):
        return pseudolink.relink(cohort, usage, key=key, months=months, data_start="2022-04-01",
                                 data_end="2025-03-31", typed=False)

    alone = [one(m) for m in (3, 6, 9, 12)]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(one, (3, 6, 9, 12)))
    for a, b in zip(alone, together):
        pd.testing.assert_frame_equal(a, b)
    assert not alone[0].equals(alone[3]), "different windows give different reports"


def test_relink_leaves_nothing_in_the_temporary_folder(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    key = pseudolink.Key.from_hex(VECTORS["key_hex"])
    before = sorted(os.listdir(tmp_path))
    cohort = pd.DataFrame({"token": [key.token("9434765919")], "intervention_date": ["2024-01-01"], "cohort": ["A"]})
    usage = pd.DataFrame({"nhs_number": ["9434765919"], "event_date": ["2024-02-01"], "event_type": ["AE"]})
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for kind in (lambda d: d, pl.from_pandas, pa.Table.from_pandas):
        with pytest.warns(pseudolink.PseudolinkWarning):
            df = pseudolink.relink(kind(cohort), kind(usage), key=key, disclosure="none",
                                   data_start="2023-06-01", data_end="2024-06-30")
        assert df["post_events"].tolist() == [1, 1]
    assert sorted(os.listdir(tmp_path)) == before


def test_relink_dates_from_datetime64_and_refuses_times_of_day():
    key = pseudolink.Key.from_hex(VECTORS["key_hex"])
    t = key.token("9434765919")
    usage = pd.DataFrame({"token": [t], "event_date": ["2024-02-01"], "event_type": ["AE"]})
    as_text = pd.DataFrame({"token": [t], "intervention_date": ["2024-01-01"], "cohort": ["A"]})
    as_dates = as_text.assign(intervention_date=pd.to_datetime(as_text["intervention_date"]))
    run = lambda c: pseudolink.relink(c, usage, usage_token_column="token", disclosure="none",  # noqa: E731
                                      data_start="2023-06-01", data_end="2024-06-30")
    with pytest.warns(pseudolink.PseudolinkWarning):
        assert run(as_dates).equals(run(as_text))
        as_date_objects = as_text.assign(intervention_date=as_dates["intervention_date"].dt.date)
        assert run(pa.Table.from_pandas(as_date_objects)).equals(run(as_text))
    with pytest.raises(pseudolink.PseudolinkError, match="times of day") as e:
        run(pd.concat([as_text, as_text]).assign(intervention_date=pd.to_datetime(["2024-01-01 00:00", "2024-01-01 09:30"])))
    assert "normalize" in str(e.value) and "data row 2" in str(e.value)


def test_relink_keeps_money_columns_with_places():
    """Regression: the NHS-number scan ran reasons() over a decimal(10,2)
    column, which refuses places, so a usage table with costs failed."""
    import decimal

    key = pseudolink.Key.from_hex(VECTORS["key_hex"])
    t = key.token("9434765919")
    cohort = pd.DataFrame({"token": [t], "intervention_date": ["2024-01-01"], "cohort": ["A"]})
    usage = pa.table({"token": [t], "event_date": ["2024-02-01"], "event_type": ["AE"],
                      "cost": pa.array([decimal.Decimal("12.50")], pa.decimal128(10, 2))})
    with pytest.warns(pseudolink.PseudolinkWarning):
        df = pseudolink.relink(cohort, usage, usage_token_column="token", disclosure="none",
                               data_start="2023-06-01", data_end="2024-06-30")
    assert df["post_events"].tolist() == [1, 1]


def test_relink_refuses_an_nhs_number_column_as_a_label():
    key = pseudolink.Key.from_hex(VECTORS["key_hex"])
    cohort = pd.DataFrame({"token": [key.token("9434765919")], "intervention_date": ["2024-01-01"],
                           "cohort": ["A"], "nhs_number": ["9434765919"]})
    usage = pd.DataFrame({"token": [key.token("9434765919")], "event_date": ["2024-02-01"], "event_type": ["AE"]})
    with pytest.raises(pseudolink.PseudolinkError, match="holds NHS numbers") as e:
        pseudolink.relink(cohort, usage, usage_token_column="token", group_by="nhs_number", disclosure="none",
                          data_start="2023-06-01", data_end="2024-06-30")
    assert "9434765919" not in str(e.value)


# Issue 22, item 1: no silent rounding, ever.

def test_float_columns_are_refused_and_name_the_fix(key):
    n = 4755167507  # float32 turns it into 4755167744, which passes Modulus 11
    for column in (
        pd.Series([float(n)], dtype="float32"),
        pd.Series([float(n)], dtype="float64"),
        pl.Series("nhs_number", [float(n)]),
        pa.array([float(n)], type=pa.float32()),
        pa.array([float(n)], type=pa.float64()),
    ):
        for call in (lambda c: key.tokens(c), lambda c: pseudolink.reasons(c)):
            with pytest.raises(pseudolink.PseudolinkError) as e:
                call(column)
            message = str(e.value)
            assert "float" in message and 'dtype={"nhs_number": str}' in message, message
            assert "4755167507" not in message and "4.755" not in message


def test_a_spreadsheets_scientific_notation_read_by_pandas_is_refused(key, tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("nhs_number\n4.06E+09\n")
    column = pd.read_csv(p)["nhs_number"]
    assert column.dtype == "float64"
    with pytest.raises(pseudolink.PseudolinkError):
        key.tokens(column)
    # Read as text, as the message says: the command line's reason.
    column = pd.read_csv(p, dtype={"nhs_number": str})["nhs_number"]
    assert list(pseudolink.reasons(column)) == ["scientific_notation"]


def test_float64_whole_numbers_only_when_asked(key):
    n = "9434765919"
    got = key.tokens(pd.Series([float(n), float("nan")]), allow_float=True)
    assert got[0] == key.token(n) and pd.isna(got[1])
    # float32 stays refused even when asked: it cannot hold ten digits.
    with pytest.raises(pseudolink.PseudolinkError):
        key.tokens(pa.array([float(n)], type=pa.float32()), allow_float=True)


def test_decimals_with_scale_zero_are_exact(key):
    import decimal

    col = pa.array([decimal.Decimal("9434765919"), None], type=pa.decimal128(10, 0))
    got = key.tokens(col).to_pylist()
    assert got == [key.token("9434765919"), None]
    with pytest.raises(pseudolink.PseudolinkError):
        key.tokens(pa.array([decimal.Decimal("1.5")], type=pa.decimal128(10, 1)))


def test_mixed_object_columns_are_read_cell_by_cell(key):
    # As pd.read_excel gives them: ints, text, None, NaN, and text that is not a number.
    column = pd.Series([9434765919, "943 476 5919", None, float("nan"), "943476591x"], dtype=object)
    reasons = [None if pd.isna(r) else r for r in pseudolink.reasons(column)]
    assert reasons[:2] == [None, None]
    assert reasons[2:] == ["empty", "empty", "invalid_character"]
    tokens = list(key.tokens(column))
    assert tokens[0] == tokens[1] == key.token("9434765919")
    # Regression: an int too large for int64 made pyarrow's fast path raise
    # OverflowError instead of falling back to reading cell by cell.
    huge = pd.Series([10**30, "9434765919"], dtype=object)
    assert [None if pd.isna(r) else r for r in pseudolink.reasons(huge)] == ["wrong_length", None]


def test_missing_values_are_empty_from_every_library():
    for column in (
        pd.Series([None, float("nan")], dtype=object),
        pd.Series(["x", None], dtype="string").iloc[1:],
        pl.Series("n", [None], dtype=pl.String),
        pa.array([None], type=pa.string()),
    ):
        got = pseudolink.reasons(column)
        cells = got.to_pylist() if hasattr(got, "to_pylist") else list(got)
        assert cells == ["empty"] * len(cells) and cells, column


# Issue 22, items 2 and 3: keys from anywhere; safety messages reach notebooks.

def test_keys_from_hex_bytes_and_generate(tmp_path):
    k = pseudolink.Key.from_hex(VECTORS["key_hex"])
    assert k.key_id == VECTORS["key_id"]
    assert pseudolink.Key.from_bytes(bytes.fromhex(VECTORS["key_hex"])).key_id == VECTORS["key_id"]
    for bad in ("", "ab" * 31, "abc", "zz" * 32):
        with pytest.raises(pseudolink.PseudolinkError) as e:
            pseudolink.Key.from_hex(bad)
        assert bad == "" or bad not in str(e.value)
    with pytest.raises(pseudolink.PseudolinkError):
        pseudolink.Key.from_bytes(b"\x00" * 31)
    new = pseudolink.Key.generate()
    p = tmp_path / "new.key"
    new.write_file(p)
    assert (p.stat().st_mode & 0o777) == 0o600
    assert pseudolink.Key.from_file(p).key_id == new.key_id
    with pytest.raises(pseudolink.PseudolinkError):
        new.write_file(p)


def test_a_key_file_others_can_read_is_a_python_warning_or_refused(tmp_path):
    # The public example key, readable by others: a PseudolinkWarning (the
    # category says "warning"; the text does not repeat it), kept in
    # key.warnings. Any other key readable by others: refused.
    example = tmp_path / "example.key"
    example.write_bytes(EXAMPLE_KEY.read_bytes())
    example.chmod(0o644)
    with pytest.warns(pseudolink.PseudolinkWarning, match="can be read by other users") as caught:
        key = pseudolink.Key.from_file(example)
    assert not str(caught[0].message).startswith("warning:")
    assert key.warnings and "chmod 600" in key.warnings[0]
    mine = tmp_path / "mine.key"
    pseudolink.Key.generate().write_file(mine)
    mine.chmod(0o644)
    with pytest.raises(pseudolink.PseudolinkError, match="chmod 600"):
        pseudolink.Key.from_file(mine)


def test_relink_uses_the_key_object_never_its_file(tmp_path):
    p = tmp_path / "k.key"
    pseudolink.Key.generate().write_file(p)
    key = pseudolink.Key.from_file(p)
    p.unlink()  # as with a secret fetched from a vault and deleted
    cohort = pd.DataFrame({"token": [key.token("9434765919")], "intervention_date": ["2024-01-01"], "cohort": ["A"]})
    usage = pd.DataFrame({"nhs_number": ["9434765919"], "event_date": ["2024-02-01"], "event_type": ["AE"]})
    with pytest.warns(pseudolink.PseudolinkWarning, match="NOT fit for release"):
        report = pseudolink.relink(cohort, usage, key=key, disclosure="none", data_start="2023-01-01", data_end="2024-12-31")
    assert "NOT fit for release" in report.attrs["summary"]
    assert key.key_id in report.attrs["summary"]


def test_relink_html_needs_force_to_replace(tmp_path):
    """Regression: force= reached the command as a second --force (every
    call failed), and force=False counted as true."""
    key = pseudolink.Key.from_hex(VECTORS["key_hex"])
    t = key.token("9434765919")
    cohort = pd.DataFrame({"token": [t], "intervention_date": ["2024-01-01"], "cohort": ["A"]})
    usage = pd.DataFrame({"token": [t], "event_date": ["2024-02-01"], "event_type": ["AE"]})
    kw = dict(usage_token_column="token", disclosure="none", data_start="2023-06-01", data_end="2024-06-30")
    html = tmp_path / "report.html"
    with pytest.warns(pseudolink.PseudolinkWarning):
        pseudolink.relink(cohort, usage, html=str(html), force=False, **kw)
        first = html.read_bytes()
        assert b"<html" in first.lower()
        html.write_text("mine")
        with pytest.raises(pseudolink.PseudolinkError, match="force=True"):
            pseudolink.relink(cohort, usage, html=str(html), force=False, **kw)
        assert html.read_text() == "mine"
        pseudolink.relink(cohort, usage, html=str(html), force=True, **kw)
        assert html.read_bytes() == first
