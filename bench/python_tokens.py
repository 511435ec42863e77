#!/usr/bin/env python3
"""Tokenising a whole column through the Python package, against a plain
Python `hmac` loop on the same cells, in the same run.

usage: python_tokens.py KEYFILE REFERRALS_CSV [ROWS]

Reads the `nhs_number` column (untimed) as a pyarrow array and as a pandas
Series, then times `key.tokens(...)` on each (the median of three runs) and
one pass of the loop a careful analyst would write (`canonical` from
tokenise_baseline.py, then hmac), and checks that all three agree.
"""
import hashlib
import hmac
import statistics
import sys
import time

import pyarrow.csv as pacsv

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from tokenise_baseline import canonical, read_key  # noqa: E402

import pseudolink  # noqa: E402


def timed(f, repeat=3):
    walls, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        walls.append(time.perf_counter() - t)
    return statistics.median(walls), out


def main():
    key_path, path = sys.argv[1], sys.argv[2]
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else None
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={"nhs_number": "string"},
                                                                       include_columns=["nhs_number"]))
    arr = table.column("nhs_number").combine_chunks()
    if rows:
        arr = arr.slice(0, rows)
    series = arr.to_pandas()
    n = len(arr)
    key = pseudolink.Key.from_file(key_path)
    t_arrow, tok_arrow = timed(lambda: key.tokens(arr))
    t_pandas, tok_pandas = timed(lambda: key.tokens(series))
    keyed = hmac.new(read_key(key_path), digestmod=hashlib.sha256)

    def loop():
        out = []
        for cell in series:
            c = canonical(cell or "")
            if c is None:
                out.append(None)
            else:
                h = keyed.copy()
                h.update(c.encode())
                out.append(h.hexdigest())
        return out

    t_python, tok_python = timed(loop, repeat=1)
    assert tok_arrow.to_pylist() == tok_python, "the package and the Python loop disagree"
    import pandas as pd

    assert [None if pd.isna(x) else x for x in tok_pandas.tolist()] == tok_python
    print(f"rows: {n}")
    for name, t in [("pseudolink, pyarrow array", t_arrow), ("pseudolink, pandas Series", t_pandas),
                    ("Python hmac loop", t_python)]:
        print(f"{name:28} {t:8.2f} s {n / t:14,.0f} rows/s  {t_python / t:6.1f}x the loop")


if __name__ == "__main__":
    main()
