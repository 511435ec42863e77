#!/usr/bin/env python3
"""Simulation study of the comparison group's estimate (docs/SPEC.md section 8).

For every population size, true effect and `--match-on` set, over many
seeds: `synth --population` makes a population whose referrals follow peaks
of use, with a known true effect per referred person; `relink
--population --disclosure none` estimates it. The table reports, per event
type, the estimate's mean bias against synth's truth, the standard error of
that mean bias, the estimate's spread (SD over seeds), the coverage of the
95% interval, and how many cases went unmatched.

Run on demand (not in CI; about 20 minutes on 2 cores at the defaults):

    cargo build --release
    python3 bench/validate_comparison.py --seeds 30 > docs/validation-table.md

CI runs a small fixed version (tests/comparison.rs) that fails when the mean
bias over its seeds exceeds 3 standard errors of that mean.
"""
import argparse
import csv
import math
import os
import re
import subprocess
import sys
import tempfile

KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
MATCH_SETS = {
    "age_band+sex": ["age_band", "sex"],
    "deprivation_decile": ["deprivation_decile"],
    "age_band+sex+deprivation_decile": ["age_band", "sex", "deprivation_decile"],
}


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode not in (0, 1):
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    return out


def one(binary, work, size, people, effect, seed, sets):
    """Returns {set: {type: (estimate, lo, hi, truth)}}, unmatched per set."""
    sim = os.path.join(work, "sim")
    truth_text = run([binary, "synth", "--population", str(size), "--people", str(people),
                      "--events", str(size * 4), "--effect", str(effect), "--seed", str(seed),
                      "--test-numbers", "--force", "--out", sim]).stderr
    # The truth: the expected effect on these people, PCT% of their
    # counterfactual post-window events (the realized removals are one
    # draw of it, printed as the per-person effect). Bias is measured
    # against it, population by population.
    truth, realized = {}, {}
    for m in re.finditer(r"true effect on (\w+) per referred person: (-?[\d.]+) "
                         r"\(post-window events (\d+) with the effect, (\d+) without, over (\d+)",
                         truth_text):
        realized[m.group(1)] = float(m.group(2))
        truth[m.group(1)] = -effect / 100 * int(m.group(4)) / int(m.group(5))
    key = os.path.join(work, "k.key")
    with open(key, "w") as f:
        f.write(KEY + "\n")
    os.chmod(key, 0o600)
    tokens = os.path.join(work, "tokens.csv")
    run([binary, "tokenise", "--key", key, os.path.join(sim, "referrals.csv"),
         "--output", tokens, "--force", "-q"])
    results = {}
    for name in sets:
        report = os.path.join(work, "report.csv")
        cmd = [binary, "relink", "--cohort", tokens, "--usage", os.path.join(sim, "usage.csv"),
               "--key", key, "--population", os.path.join(sim, "population.csv"),
               "--data-start", "2022-04-01", "--data-end", "2025-03-31",
               "--end-date-column", "left_on",
               "--disclosure", "none", "--output", report, "--force", "-q",
               "--seed", str(seed)]
        for col in MATCH_SETS[name]:
            cmd += ["--match-on", col]
        run(cmd)
        with open(report, newline="") as f:
            rows = list(csv.DictReader(f))
        got = {}
        for r in rows:
            if r["cohort"] == "Total":
                lo = float(r["did_ci_low"]) if r["did_ci_low"] else float("nan")
                hi = float(r["did_ci_high"]) if r["did_ci_high"] else float("nan")
                t = r["event_type"]
                got[t] = (float(r["did_per_patient"]), lo, hi, truth[t],
                          int(r["patients"]) - int(r["matched_cases"]), realized[t])
        results[name] = got
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/pseudolink")
    ap.add_argument("--sizes", default="40000,200000")
    ap.add_argument("--effects", default="0,30")
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--sets", default=",".join(MATCH_SETS))
    args = ap.parse_args()
    sets = args.sets.split(",")
    print("| population | referred | effect | --match-on | type | runs | mean bias | SE of bias | SD | mean half-width | coverage | coverage of each population's own effect | unmatched |")
    print("|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as work:
        for size in [int(s) for s in args.sizes.split(",")]:
            people = size // 50
            for effect in [float(e) for e in args.effects.split(",")]:
                acc = {}
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    res = one(args.bin, work, size, people, effect, seed, sets)
                    for name, got in res.items():
                        for t, v in got.items():
                            acc.setdefault((name, t), []).append(v)
                for (name, t), vals in sorted(acc.items()):
                    bias = [v[0] - v[3] for v in vals]
                    n = len(bias)
                    mb = sum(bias) / n
                    sd = math.sqrt(sum((b - mb) ** 2 for b in bias) / (n - 1)) if n > 1 else float("nan")
                    # The estimand: the average effect on a referred person
                    # under this design (the mean over populations of each
                    # one's expected effect). Each population's own effect
                    # is one draw around it.
                    patt = sum(v[3] for v in vals) / n
                    cov = sum(1 for v in vals if v[1] <= patt <= v[2]) / n
                    cov_sample = sum(1 for v in vals if v[1] <= v[3] <= v[2]) / n
                    unmatched = sum(v[4] for v in vals) / n
                    half = sum((v[2] - v[1]) / 2 for v in vals) / n
                    print(f"| {size:,} | {people:,} | {effect:g}% | {name} | {t} | {n} | {mb:+.4f} | {sd / math.sqrt(n):.4f} | {sd:.4f} | {half:.4f} | {cov:.2f} | {cov_sample:.2f} | {unmatched:.1f} |", flush=True)


if __name__ == "__main__":
    main()
