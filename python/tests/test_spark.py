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
