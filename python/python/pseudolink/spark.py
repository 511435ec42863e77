"""pseudolink inside a Spark cluster: pandas UDFs that make exactly the
command line's tokens, column batch by column batch, on the executors.

    from pyspark import SparkFiles
    import pseudolink.spark

    spark.sparkContext.addFile("/secure/team.key")       # shipped to every executor
    tokens = pseudolink.spark.tokens_udf("team.key")      # a name from addFile, or a path
    df = df.withColumn("token", tokens("nhs_number")).drop("nhs_number")

Each executor loads the key once per Python worker (the bytes stay in
Rust) and tokenises each Arrow batch in one call. The key file must be
readable only by the job's account: see the README on where a key may be
kept. Never put the key in the notebook or the job's code.
"""

from __future__ import annotations

import os
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
                path = shipped
        _KEYS[name] = pseudolink.Key.from_file(path)
    return _KEYS[name]


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
