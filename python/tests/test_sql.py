"""The SQL recipes (sql/) against docs/vectors.json and the command line:
DuckDB in process, and PostgreSQL on a real server that this test starts
and stops itself (Debian's `postgresql` package). Set
PSEUDOLINK_REQUIRE_SQL=1 (CI does) to fail instead of skipping when an
engine is missing."""

import glob
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import pandas as pd
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "docs" / "vectors.json").read_text())
EXAMPLE_KEY = ROOT / "keys-example" / "example.key"
REQUIRE = os.environ.get("PSEUDOLINK_REQUIRE_SQL") == "1"


def key_hex(path) -> str:
    """The key as hex, read from the key file at run time (as the recipes
    say: never written into SQL)."""
    return next(l.strip() for l in open(path) if l.strip() and not l.startswith("#"))


def missing(what: str):
    if REQUIRE:
        pytest.fail(f"{what} is not available, and PSEUDOLINK_REQUIRE_SQL=1")
    pytest.skip(f"{what} is not available")


def cli_tokens(tmp_path) -> tuple[list, list]:
    """Cells of a synth referrals file, and the command line's token for
    each (None for rejected rows)."""
    from test_pseudolink import cli

    out = tmp_path / "s"
    assert cli("synth", "--people", "1500", "--events", "0", "--seed", "8", "--out", str(out)).returncode == 0
    r = cli("tokenise", "-q", "--key", str(EXAMPLE_KEY), str(out / "referrals.csv"),
            "--output", str(tmp_path / "t.csv"), "--rejects", str(tmp_path / "r.csv"))
    assert r.returncode == 0, r.stderr
    cells = list(pd.read_csv(out / "referrals.csv", dtype=str, keep_default_na=False)["nhs_number"])
    tokens = list(pd.read_csv(tmp_path / "t.csv", dtype=str)["token"])
    rejected = {int(x) for x in pd.read_csv(tmp_path / "r.csv", dtype=str)["row"]}
    it = iter(tokens)
    want = [None if i + 1 in rejected else next(it) for i in range(len(cells))]
    return cells, want


# DuckDB


@pytest.fixture(scope="module")
def duck():
    try:
        import duckdb
    except ImportError:
        missing("duckdb")
    con = duckdb.connect()
    con.execute((ROOT / "sql" / "duckdb.sql").read_text())
    return con


def test_duckdb_vectors(duck):
    duck.execute("SET VARIABLE pseudolink_key = ?", [VECTORS["key_hex"]])
    assert duck.execute("SELECT pseudolink_key_id(getvariable('pseudolink_key'))").fetchone()[0] == VECTORS["key_id"]
    for case in VECTORS["tokens"]:
        got = duck.execute("SELECT pseudolink_token(?, getvariable('pseudolink_key'))", [case["input"]]).fetchone()[0]
        assert got == case["token"], case
    for case in VECTORS["rejects"]:
        assert duck.execute("SELECT pseudolink_canonical(?)", [case["input"]]).fetchone()[0] is None, case
    duck.execute("RESET VARIABLE pseudolink_key")


def test_duckdb_matches_the_command_line(duck, tmp_path):
    cells, want = cli_tokens(tmp_path)
    df = pd.DataFrame({"nhs_number": cells})
    duck.register("referrals", df)
    got = duck.execute("SELECT pseudolink_token(nhs_number, ?) FROM referrals", [key_hex(EXAMPLE_KEY)]).fetchall()
    assert [g[0] for g in got] == want


# PostgreSQL


def _pg_bin(name: str):
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if isinstance(found, list):
        return found[-1] if found else None
    return found


@pytest.fixture(scope="module")
def pg():
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        missing("PostgreSQL (initdb, pg_ctl)")
    try:
        import psycopg
    except ImportError:
        missing("psycopg")
    base = tempfile.mkdtemp(prefix="pseudolink-pg-")
    data, sock = os.path.join(base, "data"), os.path.join(base, "sock")
    os.makedirs(sock)
    as_user: list = []
    if os.geteuid() == 0:
        # PostgreSQL will not run as root: run it as the postgres user.
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    run = lambda *a: subprocess.run([*as_user, *a], check=True, capture_output=True, text=True)  # noqa: E731
    run(initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
    port = "54329"
    run(pg_ctl, "-D", data, "-w", "-l", os.path.join(base, "log"), "-o",
        f"-k {sock} -p {port} -c listen_addresses=''", "start")
    try:
        con = psycopg.connect(host=sock, port=port, user="postgres", dbname="postgres", autocommit=True)
        con.execute((ROOT / "sql" / "postgres.sql").read_text())
        yield con
        con.close()
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_postgres_vectors(pg):
    k = VECTORS["key_hex"]
    assert pg.execute("SELECT pseudolink_key_id(decode(%s, 'hex'))", [k]).fetchone()[0] == VECTORS["key_id"]
    for case in VECTORS["tokens"]:
        got = pg.execute("SELECT pseudolink_token(%s, decode(%s, 'hex'))", [case["input"], k]).fetchone()[0]
        assert got == case["token"], case
    for case in VECTORS["rejects"]:
        assert pg.execute("SELECT pseudolink_canonical(%s)", [case["input"]]).fetchone()[0] is None, case


def test_postgres_matches_the_command_line(pg, tmp_path):
    cells, want = cli_tokens(tmp_path)
    pg.execute("CREATE TEMP TABLE referrals (row_no int, nhs_number text)")
    with pg.cursor().copy("COPY referrals FROM STDIN") as copy:
        for i, c in enumerate(cells):
            copy.write_row((i, c))
    got = pg.execute(
        "SELECT pseudolink_token(nhs_number, decode(%s, 'hex')) FROM referrals ORDER BY row_no",
        [key_hex(EXAMPLE_KEY)],
    ).fetchall()
    assert [g[0] for g in got] == want
