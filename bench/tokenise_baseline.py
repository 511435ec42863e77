#!/usr/bin/env python3
"""Baseline for `pseudolink tokenise`: plain Python, csv module plus hmac.

The script a careful analyst would write: read the CSV, canonicalise and
Modulus-11-check each NHS number, replace it in place by
HMAC-SHA256(key, digits) as lowercase hex, write rejects aside. Written to
agree byte for byte with pseudolink on well-formed input (LF line endings,
minimal quoting), so the benchmark can compare outputs.

usage: tokenise_baseline.py KEYFILE INPUT OUTPUT [NHS_COLUMN]
"""
import csv
import hashlib
import hmac
import re
import sys

SEP = re.compile(r"(?<=\d)[ \u00a0\u202f\-\u2010-\u2015\u2212]+(?=\d)")
WEIGHTS = range(10, 1, -1)


def read_key(path):
    lines = [l.strip() for l in open(path, encoding="utf-8")]
    lines = [l for l in lines if l and not l.startswith("#")]
    return bytes.fromhex(lines[0])


def canonical(cell):
    s = cell.strip()
    if not (len(s) == 10 and s.isdigit()):
        s = SEP.sub("", s)
        if s.endswith(".0") and s[:-2].isdigit():
            s = s[:-2]
    if len(s) != 10 or not s.isdigit() or s == s[0] * 10:
        return None
    check = 11 - sum(int(d) * w for d, w in zip(s, WEIGHTS)) % 11
    check = 0 if check == 11 else check
    return s if check != 10 and check == int(s[9]) else None


def main():
    key = read_key(sys.argv[1])
    column = sys.argv[4] if len(sys.argv) > 4 else "nhs_number"
    keyed = hmac.new(key, digestmod=hashlib.sha256)
    with open(sys.argv[2], newline="", encoding="utf-8") as fin, open(
        sys.argv[3], "w", newline="", encoding="utf-8"
    ) as fout:
        reader = csv.reader(fin)
        writer = csv.writer(fout, lineterminator="\n")
        header = next(reader)
        col = header.index(column)
        header[col] = "token"
        writer.writerow(header)
        rejected = 0
        for row in reader:
            n = canonical(row[col])
            if n is None:
                rejected += 1
                continue
            h = keyed.copy()
            h.update(n.encode())
            row[col] = h.hexdigest()
            writer.writerow(row)
    print(f"rejected {rejected}", file=sys.stderr)


if __name__ == "__main__":
    main()
