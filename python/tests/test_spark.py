"""Tokenising a Spark DataFrame's column inside the cluster (local[2])
with pseudolink.spark, on a 100,000-row synth file, compared row by row
with the command line's output. Set PSEUDOLINK_REQUIRE_SPARK=1 (CI does)
to fail instead of skipping when pyspark or Java is missing."""

import os
import pathlib
import shutil

import pytest

from test_pseudolink import EXAMPLE_KEY, cli

REQUIRE = os.environ.get("PSEUDOLINK_REQUIRE_SPARK") == "1"


@pytest.fixture(scope="module")
def spark():
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        if REQUIRE:
            pytest.fail("pyspark is not installed, and PSEUDOLINK_REQUIRE_SPARK=1")
        pytest.skip("pyspark is not installed")
    if not shutil.which("java"):
        if REQUIRE:
            pytest.fail("java is not installed, and PSEUDOLINK_REQUIRE_SPARK=1")
        pytest.skip("java is not installed")
    s = (
        SparkSession.builder.master("local[2]")
        .appName("pseudolink-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    yield s
    s.stop()


def test_spark_tokens_match_the_command_line(spark, tmp_path):
    import pseudolink.spark
    from pyspark.sql.types import StringType, StructField, StructType

    out = tmp_path / "s"
    assert cli("synth", "--people", "100000", "--events", "0", "--seed", "21", "--out", str(out)).returncode == 0
    r = cli("tokenise", "-q", "--key", str(EXAMPLE_KEY), str(out / "referrals.csv"),
            "--output", str(tmp_path / "cli.csv"), "--rejects", str(tmp_path / "rejects.csv"))
    assert r.returncode == 0, r.stderr

    # The key goes to the executors as a file; only its name is in the job.
    spark.sparkContext.addFile(str(EXAMPLE_KEY))
    tokens = pseudolink.spark.tokens_udf(pathlib.Path(EXAMPLE_KEY).name)
    reasons = pseudolink.spark.reasons_udf()
    cols = ["referral_id", "nhs_number", "intervention_date", "cohort", "consent"]
    schema = StructType([StructField(c, StringType()) for c in cols])
    df = spark.read.csv(str(out / "referrals.csv"), header=True, schema=schema)
    df = df.withColumn("token", tokens("nhs_number")).withColumn("reason", reasons("nhs_number"))
    got = {row["referral_id"]: (row["token"], row["reason"]) for row in df.select("referral_id", "token", "reason").collect()}

    import csv

    with open(tmp_path / "cli.csv", newline="") as f:
        want_tokens = {row["referral_id"]: row["token"] for row in csv.DictReader(f)}
    with open(out / "referrals.csv", newline="") as f:
        ids = [row["referral_id"] for row in csv.DictReader(f)]
    with open(tmp_path / "rejects.csv", newline="") as f:
        rejected = {ids[int(row["row"]) - 1]: row["reason"] for row in csv.DictReader(f)}
    assert len(got) == len(ids) >= 100_000
    for rid in ids:
        token, reason = got[rid]
        assert token == want_tokens.get(rid), rid
        assert reason == rejected.get(rid), rid


def test_spark_ship_key_from_a_secret(spark):
    """A key from a secrets store (hex), shipped with ship_key: the copies
    are 0600 on the driver and the executor, and the tokens are the Key's."""
    import json

    import pandas as pd
    from pyspark import SparkFiles

    import pseudolink
    import pseudolink.spark

    vectors = json.loads((pathlib.Path(EXAMPLE_KEY).parents[1] / "docs" / "vectors.json").read_text())
    key = pseudolink.Key.from_hex(os.urandom(32).hex())
    name = pseudolink.spark.ship_key(key, spark)
    assert key.key_id in name
    cells = [c["input"] for c in vectors["tokens"]] * 50 + [None, "not a number"]
    df = spark.createDataFrame(pd.DataFrame({"nhs_number": cells}))
    got = [r["token"] for r in df.select(pseudolink.spark.tokens_udf(name)("nhs_number").alias("token")).collect()]
    want = list(key.tokens(pd.Series(cells, dtype=object)).astype(object).where(lambda s: s.notna(), None))
    assert got == want
    assert all(g is not None for g in got[:-2])
    assert os.stat(SparkFiles.get(name)).st_mode & 0o777 == 0o600
    driver_copy = [p for p in pathlib.Path(__import__("tempfile").gettempdir()).glob(f"pseudolink-key-*/{name}")]
    assert len(driver_copy) == 1 and driver_copy[0].stat().st_mode & 0o777 == 0o600
    assert driver_copy[0].parent.stat().st_mode & 0o777 == 0o700
