#!/usr/bin/env python3
"""Tokens through the Python package, Arrow in and out: speed and memory,
beside a plain Python `hmac` loop measured in the same run.

usage: python_arrow.py KEYFILE [ROWS] [LOOP_ROWS]

Makes ROWS (default 10,000,000) synthetic valid NHS numbers, then, each in
a fresh process so that its peak memory is its own:

- `key.tokens(a pyarrow string array)`;
- `key.tokens(a pandas int64 Series)`;

timing each call (median of three) and reading the process's peak
resident memory (VmHWM, reset just before the first call) against its
resident memory just before it. "Extra / result" is that growth over the
size of what the call returns (the Arrow buffers behind it), so 1.00x means
the call needed nothing beyond its result. The plain loop (canonical form
by tokenise_baseline.py, then `hmac`, as a careful analyst would write it)
runs over the first LOOP_ROWS (default 1,000,000) cells; its tokens are
checked against the package's.
"""
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def numbers(rows, seed=7):
    """`rows` valid NHS numbers (int64), drawn at random: nine digits and
    their Modulus 11 check digit, those with check 10 drawn again."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = np.empty(0, dtype=np.int64)
    weights = np.arange(10, 1, -1)
    while len(out) < rows:
        head = rng.integers(100_000_000, 999_999_999, size=rows, dtype=np.int64)
        digits = (head[:, None] // 10 ** np.arange(8, -1, -1)) % 10
        check = (11 - (digits * weights).sum(axis=1) % 11) % 11
        ok = check != 10
        out = np.concatenate([out, head[ok] * 10 + check[ok]])
    return out[:rows]


def rss(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def one_case(key_path, rows, case):
    """Run in a child: build the input, then time and measure the call."""
    import pandas as pd
    import pyarrow as pa

    import pseudolink

    key = pseudolink.Key.from_file(key_path)
    ints = numbers(rows)
    column = pa.array(ints).cast(pa.string()) if case == "arrow" else pd.Series(ints)
    del ints
    key.tokens(column[:1000])  # threads and pools warmed up, untimed
    before = rss("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident size
    walls = []
    t = time.perf_counter()
    result = key.tokens(column)
    walls.append(time.perf_counter() - t)
    peak = rss("VmHWM")
    arrow = result if case == "arrow" else pa.array(result.array)
    size = arrow.nbytes
    assert arrow.null_count == 0 and len(arrow) == rows
    first = arrow.slice(0, int(os.environ.get("LOOP_ROWS", "0"))).to_pylist()
    del result, arrow
    for _ in range(2):
        t = time.perf_counter()
        key.tokens(column)
        walls.append(time.perf_counter() - t)
    return {"wall": statistics.median(walls), "extra": peak - before, "result": size, "first": first}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--case":
        _, _, key_path, rows, case = sys.argv
        print(json.dumps(one_case(key_path, int(rows), case)))
        return
    key_path = sys.argv[1]
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000
    loop_rows = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    env = dict(os.environ, LOOP_ROWS=str(loop_rows))
    results = {}
    for case in ["arrow", "pandas"]:
        out = subprocess.run([sys.executable, __file__, "--case", key_path, str(rows), case],
                             check=True, capture_output=True, text=True, env=env).stdout
        results[case] = json.loads(out)

    sys.path.insert(0, HERE)
    from tokenise_baseline import canonical, read_key

    cells = [str(v) for v in numbers(rows)[:loop_rows]]
    keyed = hmac.new(read_key(key_path), digestmod=hashlib.sha256)
    t = time.perf_counter()
    loop = []
    for cell in cells:
        c = canonical(cell)
        if c is None:
            loop.append(None)
        else:
            h = keyed.copy()
            h.update(c.encode())
            loop.append(h.hexdigest())
    t_loop = time.perf_counter() - t
    for case, r in results.items():
        assert r["first"] == loop, f"the package ({case}) and the Python loop disagree"

    print(f"rows: {rows:,}; cores: {os.cpu_count()}; the loop over the first {loop_rows:,}")
    print(f"{'':30} {'seconds':>8} {'rows/s':>12} {'vs loop':>8} {'result MB':>10} {'extra MB':>9} {'extra/result':>12}")
    loop_rate = loop_rows / t_loop
    for case, name in [("arrow", "tokens(pyarrow string array)"), ("pandas", "tokens(pandas int64 Series)")]:
        r = results[case]
        rate = rows / r["wall"]
        print(f"{name:30} {r['wall']:8.2f} {rate:12,.0f} {rate / loop_rate:7.1f}x {r['result'] / 1e6:10.0f} "
              f"{r['extra'] / 1e6:9.0f} {r['extra'] / r['result']:11.2f}x")
    print(f"{'Python hmac loop':30} {t_loop * rows / loop_rows:8.2f} {loop_rate:12,.0f} {'1.0x':>8}"
          f"   (measured on {loop_rows:,} rows, scaled)")


if __name__ == "__main__":
    main()
