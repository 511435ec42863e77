"""pseudolink inside a Spark cluster: pandas UDFs that make exactly the
command line's tokens, column batch by column batch, on the executors.

    import pseudolink, pseudolink.spark

    key = pseudolink.Key.from_hex(dbutils.secrets.get("pseudolink", "team-key"))
    tokens = pseudolink.spark.tokens_udf(pseudolink.spark.ship_key(key))
    df = df.withColumn("token", tokens("nhs_number")).drop("nhs_number")

`ship_key` writes the key, mode 0600, into a new private directory on the
driver's local disk (never DBFS or other shared storage) and ships it
with `addFile`; each executor makes its copy 0600 before reading it, and
loads it once per Python worker (the bytes stay in Rust). A key file that
is already on the driver's local disk can be shipped with
`spark.sparkContext.addFile` and named to `tokens_udf` the same way.
Never put the key in the notebook or the job's code.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile
from typing import Dict

import pandas as pd

import pseudolink

_KEYS: Dict[str, "pseudolink.Key"] = {}


def _key(name: str) -> "pseudolink.Key":
    if name not in _KEYS:
        path = name
        if not os.path.isabs(name) or not os.path.exists(name):
            from pyspark import SparkFiles

            shipped = SparkFiles.get(os.path.basename(name))
            if os.path.exists(shipped):
                # addFile's copy is as readable as the executor's umask
                # allows: make it the job account's alone before reading.
                os.chmod(shipped, 0o600)
                path = shipped
        _KEYS[name] = pseudolink.Key.from_file(path)
    return _KEYS[name]


def ship_key(key: "pseudolink.Key", spark=None) -> str:
    """Ships a Key (from a secret scope, a vault or a file) to every
    executor and returns the name to give `tokens_udf`.

    The driver's copy is written with mode 0600 into a new directory of
    mode 0700 under the local temporary directory, and removed when the
    driver's Python exits; executors make their copies 0600."""
    if spark is None:
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
        if spark is None:
            raise RuntimeError("pseudolink.spark.ship_key: no active Spark session; pass spark=")
    folder = tempfile.mkdtemp(prefix="pseudolink-key-")
    atexit.register(shutil.rmtree, folder, True)
    name = f"pseudolink-{key.key_id}-{secrets.token_hex(4)}.key"
    key.write_file(os.path.join(folder, name))
    spark.sparkContext.addFile(os.path.join(folder, name))
    return name


def _plain(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), None)


def tokens_udf(key_file: str):
    """A pandas UDF giving the token of each cell (null where invalid)."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("string")
    def pseudolink_token(cells: pd.Series) -> pd.Series:
        # Spark runs one task per core: one thread per batch here.
        return _plain(_key(key_file).tokens(cells, threads=1))

    return pseudolink_token


def reasons_udf():
    """A pandas UDF giving the reason code of each cell (null where valid)."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("string")
    def pseudolink_reason(cells: pd.Series) -> pd.Series:
        return _plain(pseudolink.reasons(cells, threads=1))

    return pseudolink_reason
