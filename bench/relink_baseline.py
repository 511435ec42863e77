#!/usr/bin/env python3
"""Baseline for `pseudolink relink`: the same job done the usual way, with pandas.

Reads the tokenised cohort and the usage extract (NHS numbers), tokenises the
usage numbers with Python's hmac, merges, counts pre/post events per person in
N-month windows (pandas DateOffset clamps to month end, like the SPEC), drops
people whose windows leave the data's coverage, and prints exact per-cohort
totals as CSV (no suppression, no p-values) so they can be compared with
`pseudolink relink --disclosure none`.

usage: relink_baseline.py KEYFILE COHORT USAGE [MONTHS] [DATA_START DATA_END]
"""
import hashlib
import hmac
import re
import sys

import pandas as pd


def read_key(path):
    lines = [l.strip() for l in open(path, encoding="utf-8")]
    lines = [l for l in lines if l and not l.startswith("#")]
    return bytes.fromhex(lines[0])


SEP = re.compile(r"[\s\u00a0\u202f\-\u2010-\u2015\u2212]+")


def canonical(cell):
    s = "" if pd.isna(cell) else str(cell)
    s = SEP.sub("", s.strip())
    if s.endswith(".0") and s[:-2].isdigit():
        s = s[:-2]
    if len(s) != 10 or not s.isdigit() or len(set(s)) == 1:
        return None
    total = sum(int(d) * w for d, w in zip(s[:9], range(10, 1, -1)))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    if check == 10 or check != int(s[9]):
        return None
    return s


def parse_dates(col):
    iso = pd.to_datetime(col, format="%Y-%m-%d", errors="coerce")
    uk = pd.to_datetime(col, format="%d/%m/%Y", errors="coerce")
    return iso.fillna(uk)


def main():
    key_path, cohort_path, usage_path = sys.argv[1:4]
    months = int(sys.argv[4]) if len(sys.argv) > 4 else 6
    key = read_key(key_path)

    cohort = pd.read_csv(cohort_path, dtype=str)
    cohort["d"] = parse_dates(cohort["intervention_date"])
    cohort = cohort.sort_values("d", kind="stable").drop_duplicates("token", keep="first")

    usage = pd.read_csv(usage_path, dtype=str)
    usage["e"] = parse_dates(usage["event_date"])
    numbers = usage["nhs_number"].map(canonical)
    usage["token"] = [
        None if n is None else hmac.new(key, n.encode(), hashlib.sha256).hexdigest()
        for n in numbers
    ]
    if len(sys.argv) > 6:
        start, end = pd.Timestamp(sys.argv[5]), pd.Timestamp(sys.argv[6])
    else:
        start, end = usage["e"].min(), usage["e"].max()

    offset = pd.DateOffset(months=months)
    cohort["pre_start"] = cohort["d"] - offset
    cohort["post_end"] = cohort["d"] + offset
    cohort = cohort[(cohort["pre_start"] >= start) & (cohort["post_end"] <= end + pd.Timedelta(days=1))]

    m = usage.merge(cohort[["token", "cohort", "d", "pre_start", "post_end"]], on="token")
    m["pre"] = (m["e"] >= m["pre_start"]) & (m["e"] < m["d"])
    m["post"] = (m["e"] >= m["d"]) & (m["e"] < m["post_end"])
    per_person = m.groupby(["token", "event_type"])[["pre", "post"]].sum().reset_index()
    per_person = per_person.merge(cohort[["token", "cohort"]], on="token")

    rows = []
    types = sorted(usage["event_type"].dropna().unique())
    patients = cohort.groupby("cohort")["token"].count()
    for g in sorted(cohort["cohort"].unique()):
        for t in types:
            p = per_person[(per_person["cohort"] == g) & (per_person["event_type"] == t)]
            rows.append((g, t, int(patients[g]), int(p["pre"].sum()), int(p["post"].sum())))
    for t in types:
        p = per_person[per_person["event_type"] == t]
        rows.append(("Total", t, int(len(cohort)), int(p["pre"].sum()), int(p["post"].sum())))
    print("cohort,event_type,patients,pre_events,post_events")
    for r in rows:
        print(",".join(str(x) for x in r))


if __name__ == "__main__":
    main()
