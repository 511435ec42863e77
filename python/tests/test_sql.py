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
# Keys SPEC section 2 refuses: empty, odd digits, 31 bytes, not hex.
BAD_KEYS = ["", "ab" * 31 + "a", "ab" * 31, "zz" * 32, "ab" * 32 + "a"]
PG_LOG: list = []


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


def test_duckdb_refuses_bad_keys_without_quoting_them(duck):
    import duckdb

    for bad in [*BAD_KEYS, None]:
        with pytest.raises(duckdb.Error) as e:
            duck.execute("SELECT pseudolink_token('9434765919', ?)", [bad]).fetchall()
        assert "at least 32 bytes" in str(e.value)
        assert not bad or bad not in str(e.value)


def test_duckdb_long_keys_are_hmac(duck):
    """Keys longer than the 64-byte block are hashed first (RFC 2104),
    as the command line and Python's hmac do."""
    import hashlib
    import hmac

    for n in (32, 64, 65, 100):
        k = bytes(range(n))
        got = duck.execute("SELECT pseudolink_token('9434765919', ?)", [k.hex()]).fetchone()[0]
        assert got == hmac.new(k, b"9434765919", hashlib.sha256).hexdigest(), n


def test_duckdb_integer_columns_match_the_command_line(duck, tmp_path):
    """read_csv detects BIGINT for an all-digit column: that works; a
    DOUBLE or DECIMAL with places raises, never quoting a value."""
    import duckdb

    cells, want = cli_tokens(tmp_path)
    digits = [(c, w) for c, w in zip(cells, want) if c.isdigit() and len(c) == 10 and c[0] != "0"]
    path = tmp_path / "ints.csv"
    path.write_text("nhs_number\n" + "".join(f"{c}\n" for c, _ in digits))
    rel = duck.read_csv(str(path))
    assert rel.types[0] == "BIGINT"
    got = duck.execute(
        f"SELECT pseudolink_token(nhs_number, ?) FROM read_csv('{path}')", [key_hex(EXAMPLE_KEY)]
    ).fetchall()
    assert [g[0] for g in got] == [w for _, w in digits]
    got = duck.execute(
        f"SELECT pseudolink_token(CAST(nhs_number AS DECIMAL(18,0)), ?) FROM read_csv('{path}')",
        [key_hex(EXAMPLE_KEY)],
    ).fetchall()
    assert [g[0] for g in got] == [w for _, w in digits]
    for typ in ("DOUBLE", "FLOAT", "DECIMAL(18,2)"):
        with pytest.raises(duckdb.Error) as e:
            duck.execute(
                f"SELECT pseudolink_token(CAST(nhs_number AS {typ}), ?) FROM read_csv('{path}')",
                [key_hex(EXAMPLE_KEY)],
            ).fetchall()
        assert "may have been rounded" in str(e.value) and "VARCHAR" in str(e.value)
        assert not any(c in str(e.value) for c, _ in digits)


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
    PG_LOG[:] = [os.path.join(base, "log")]
    run(pg_ctl, "-D", data, "-w", "-l", PG_LOG[0], "-o",
        f"-k {sock} -p {port} -c listen_addresses='' -c log_statement=all", "start")
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


def test_postgres_refuses_bad_keys_without_quoting_them(pg):
    import psycopg

    for bad in [b"", bytes(31), None]:
        with pytest.raises(psycopg.Error) as e:
            pg.execute("SELECT pseudolink_token('9434765919', %s)", [bad]).fetchall()
        assert "at least 32 bytes" in str(e.value)
    long = bytes(range(100))
    import hashlib
    import hmac

    got = pg.execute("SELECT pseudolink_token('9434765919', %s)", [long]).fetchone()[0]
    assert got == hmac.new(long, b"9434765919", hashlib.sha256).hexdigest()


def test_postgres_column_types(pg):
    import psycopg

    k = bytes.fromhex(VECTORS["key_hex"])
    want = VECTORS["tokens"][0]
    n = int(want["input"])
    for typ in ("bigint", "numeric(10,0)", "numeric"):
        got = pg.execute(f"SELECT pseudolink_token(%s::{typ}, %s)", [n, k]).fetchone()[0]
        assert got == want["token"], typ
    for typ in ("double precision", "real", "numeric(12,2)"):
        with pytest.raises(psycopg.Error) as e:
            pg.execute(f"SELECT pseudolink_token(%s::{typ}, %s)", [n, k]).fetchall()
        assert "rounded" in (e.value.diag.message_hint or ""), typ
        assert str(n) not in str(e.value)


def test_postgres_stored_key_stays_out_of_query_text(pg):
    """The key goes in over COPY; an analyst role tokenises by key id, but
    can neither read the key table nor find the key in the server log or
    pg_stat_activity; a bad key is refused without being quoted."""
    import psycopg

    import hashlib
    import hmac

    # A key of its own: the other tests bind the example key as a
    # parameter, which log_statement=all writes to the log.
    hexkey = os.urandom(32).hex()
    kid_want = hmac.new(bytes.fromhex(hexkey), b"pseudolink key id", hashlib.sha256).hexdigest()[:16]
    with pg.cursor().copy("COPY pseudolink_keys (key_hex) FROM STDIN") as copy:
        copy.write_row(["  " + hexkey.upper() + " "])
    with pg.cursor().copy("COPY pseudolink_keys (key_hex) FROM STDIN") as copy:
        copy.write_row([hexkey])  # a second load is harmless
    kid = pg.execute("SELECT key_id FROM pseudolink_keys").fetchall()
    assert kid == [(kid_want,)]
    for bad in BAD_KEYS:
        with pytest.raises(psycopg.Error) as e:
            with pg.cursor().copy("COPY pseudolink_keys (key_hex) FROM STDIN") as copy:
                copy.write_row([bad])
        assert "at least 32 bytes" in str(e.value)
        said = f"{e.value} {e.value.diag.message_detail} {e.value.diag.context}"
        assert not bad or bad not in said.lower()

    pg.execute("DROP ROLE IF EXISTS analyst")
    pg.execute("CREATE ROLE analyst")
    pg.execute("GRANT EXECUTE ON FUNCTION pseudolink_token_by_id(text, text) TO analyst")
    pg.execute("SET ROLE analyst")
    try:
        for case in VECTORS["tokens"]:
            got = pg.execute("SELECT pseudolink_token_by_id(%s, %s)", [case["input"], kid_want]).fetchone()[0]
            want = hmac.new(bytes.fromhex(hexkey), case["canonical"].encode(), hashlib.sha256).hexdigest()
            assert got == want, case
        with pytest.raises(psycopg.Error) as e:
            pg.execute("SELECT pseudolink_token_by_id('9434765919', '0000000000000000')").fetchall()
        assert "no key with that key id" in str(e.value)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            pg.execute("SELECT key_hex FROM pseudolink_keys").fetchall()
        queries = " ".join(q or "" for (q,) in pg.execute("SELECT query FROM pg_stat_activity").fetchall())
        assert hexkey not in queries.lower()
    finally:
        pg.execute("RESET ROLE")
    pg.execute("DROP OWNED BY analyst")
    pg.execute("DROP ROLE analyst")
    pg.execute("DELETE FROM pseudolink_keys")
    log = open(PG_LOG[0]).read().lower() if os.access(PG_LOG[0], os.R_OK) else ""
    assert hexkey not in log
    assert kid_want in log  # the log is the one the statements went to
