#!/usr/bin/env bash
# Benchmark pseudolink against plain-Python baselines on the same files, in
# the same run, and check that the outputs agree.
#
#   bench/run.sh            1M referrals; 200k-person cohort with 2M usage rows
#   bench/run.sh --large    also 10M referrals
#   bench/run.sh --work DIR put the data in DIR (default: /dev/shm, else /tmp)
#   bench/run.sh --repeat N run pseudolink N times (default 3) and report the
#                           median wall time; the baselines run once (they
#                           take minutes)
#
# Prints a table of wall time, rows/s, peak memory (from /usr/bin/time -v)
# and the speed-up over each baseline. Needs python3 with pandas for the
# relink baseline (pip install pandas). Outputs go to a RAM disk by default,
# so the numbers measure the work, not the disk (pseudolink fsyncs its
# outputs; the baselines do not).
set -euo pipefail
cd "$(dirname "$0")/.."

LARGE=0
WORK=""
REPEAT=3
while [ $# -gt 0 ]; do
  case "$1" in
    --large) LARGE=1 ;;
    --work) WORK="$2"; shift ;;
    --repeat) REPEAT="$2"; shift ;;
    *) echo "usage: bench/run.sh [--large] [--work DIR] [--repeat N]" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$WORK" ]; then
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then WORK=/dev/shm/pseudolink-bench; else WORK=/tmp/pseudolink-bench; fi
fi
mkdir -p "$WORK"
[ -x /usr/bin/time ] || { echo "bench/run.sh needs /usr/bin/time (Debian: apt-get install time)" >&2; exit 2; }
python3 -c "import pandas" 2>/dev/null || { echo "the relink baseline needs pandas: pip install pandas" >&2; exit 2; }

cargo build --release --quiet
PL="$PWD/target/release/pseudolink"
KEY="$PWD/keys-example/example.key"
THREADS=$(nproc)

RESULTS="$WORK/results.tsv"
: > "$RESULTS"

# run [-n TIMES] [-o OUTPUT] NAME ROWS CMD...: time a command (TIMES runs,
# default 1), record the median wall seconds and the largest peak RSS.
# OUTPUT (and its manifest) is deleted before each run, untimed, so that no
# run pays for freeing the last run's file (on a RAM disk, replacing a 1 GB
# file costs about 0.1 s of system time).
run() {
  local times=1 output=""
  if [ "$1" = -n ]; then times="$2"; shift 2; fi
  if [ "$1" = -o ]; then output="$2"; shift 2; fi
  local name="$1" rows="$2"; shift 2
  local log="$WORK/$name.time" walls="" wall rss=0 r i
  for ((i = 1; i <= times; i++)); do
    if [ -n "$output" ]; then rm -f "$output" "$output.manifest.json"; fi
    /usr/bin/time -v "$@" > /dev/null 2> "$log" || { cat "$log" >&2; echo "FAILED: $name" >&2; exit 1; }
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$log")
    r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
    walls="$walls $wall"
    if [ "$r" -gt "$rss" ]; then rss="$r"; fi
  done
  wall=$(echo $walls | tr ' ' '\n' | sort -n | awk '{w[NR]=$1} END {print w[int((NR+1)/2)]}')
  printf '%s\t%s\t%s\t%s\n' "$name" "$rows" "$wall" "$rss" >> "$RESULTS"
  echo "  $name: ${wall}s (runs:$walls), peak $((rss / 1024)) MiB" >&2
}

rows_of() { echo $(( $(wc -l < "$1") - 1 )); }
# people_of TOKENS: distinct people in a tokenised file (rows less repeats),
# from its manifest.
people_of() {
  awk -F': *' '/"rows_tokenised"/ {r=$2} /"duplicate_numbers"/ {d=$2}
    END {gsub(/[^0-9]/, "", r); gsub(/[^0-9]/, "", d); print r - d}' "$1.manifest.json"
}

tokenise_pair() {
  local label="$1" input="$2" rows
  rows=$(rows_of "$input")
  echo "tokenise $label ($rows rows)" >&2
  run -n "$REPEAT" -o "$WORK/tok-$label.csv" "tokenise-$label" "$rows" "$PL" tokenise -q --threads "$THREADS" --key "$KEY" "$input" --output "$WORK/tok-$label.csv"
  run -o "$WORK/py-$label.csv" "python-$label" "$rows" python3 bench/tokenise_baseline.py "$KEY" "$input" "$WORK/py-$label.csv"
  cmp -s "$WORK/tok-$label.csv" "$WORK/py-$label.csv" || { echo "MISMATCH: tokenise outputs differ ($label)" >&2; exit 1; }
  echo "  outputs agree byte for byte" >&2
}

gen() { # gen DIR PEOPLE EVENTS
  if [ ! -s "$1/usage.csv" ]; then "$PL" synth --people "$2" --events "$3" --seed 42 --out "$1" --force 2>/dev/null; fi
}

# 1. Tokenise: 1M referrals (and 10M with --large).
gen "$WORK/ref1m" 1000000 0
tokenise_pair 1m "$WORK/ref1m/referrals.csv"
if [ "$LARGE" = 1 ]; then
  gen "$WORK/ref10m" 10000000 0
  tokenise_pair 10m "$WORK/ref10m/referrals.csv"
fi

# 2. Relink: 200k-person cohort, ~2M usage rows; and, for the memory slope
#    (bytes per cohort person), a 50k cohort and the 1M referrals' tokens as
#    a cohort, both against the 50k cohort's usage file (the same file, so
#    the only difference is the cohort; the wide span keeps the allocator's
#    noise small).
relink_pair() {
  local label="$1" dir="$2" rows
  "$PL" tokenise -q --key "$KEY" "$dir/referrals.csv" --output "$dir/tokens.csv" --force
  rows=$(rows_of "$dir/usage.csv")
  echo "relink $label ($rows usage rows)" >&2
  run -n "$REPEAT" "relink-$label" "$rows" "$PL" relink -q --threads "$THREADS" --cohort "$dir/tokens.csv" --usage "$dir/usage.csv" \
      --key "$KEY" --disclosure none --output "$dir/report.csv" --force
  run "pandas-$label" "$rows" sh -c "python3 bench/relink_baseline.py '$KEY' '$dir/tokens.csv' '$dir/usage.csv' > '$dir/pandas.csv'"
  cut -d, -f1-5 "$dir/report.csv" | diff -q - "$dir/pandas.csv" > /dev/null \
    || { echo "MISMATCH: relink counts differ from pandas ($label)" >&2; diff <(cut -d, -f1-5 "$dir/report.csv") "$dir/pandas.csv" >&2; exit 1; }
  echo "  counts agree with pandas" >&2
}
gen "$WORK/rel200k" 200000 2000000
relink_pair 200k "$WORK/rel200k"
# The same job with every SPEC section 7 option on: the target is at most
# 1.5 times the plain run's time and 150 bytes a cohort person.
ALL=(--within 14 --within 90 --value-column los_days --unit-costs "$PWD/examples/unit-costs.csv" --service-cost 1171)
run -n "$REPEAT" "relink-200k-all" "$(rows_of "$WORK/rel200k/usage.csv")" "$PL" relink -q --threads "$THREADS" \
    --cohort "$WORK/rel200k/tokens.csv" --usage "$WORK/rel200k/usage.csv" --key "$KEY" --disclosure none \
    --output "$WORK/rel200k/report-all.csv" --costs "$WORK/rel200k/costs.csv" --force "${ALL[@]}"
cut -d, -f1-5 "$WORK/rel200k/report-all.csv" | diff -q - <(cut -d, -f1-5 "$WORK/rel200k/report.csv") > /dev/null \
  || { echo "MISMATCH: the counts with section 7 options differ from the plain run" >&2; exit 1; }
gen "$WORK/rel50k" 50000 500000
"$PL" tokenise -q --key "$KEY" "$WORK/rel50k/referrals.csv" --output "$WORK/rel50k/tokens.csv" --force
run -n "$REPEAT" "relink-50k" "$(rows_of "$WORK/rel50k/usage.csv")" "$PL" relink -q --threads "$THREADS" \
    --cohort "$WORK/rel50k/tokens.csv" --usage "$WORK/rel50k/usage.csv" --key "$KEY" --output "$WORK/rel50k/report.csv" --force
echo "relink memory: 50k and 1M-person cohorts, same usage file" >&2
run -n "$REPEAT" "relink-1m-cohort" "$(rows_of "$WORK/rel50k/usage.csv")" "$PL" relink -q --threads "$THREADS" \
    --cohort "$WORK/tok-1m.csv" --usage "$WORK/rel50k/usage.csv" --key "$KEY" --output "$WORK/rel1m-report.csv" --force
for c in 50k:"$WORK/rel50k/tokens.csv" 1m-cohort:"$WORK/tok-1m.csv"; do
  run -n "$REPEAT" "relink-$(echo "${c%%:*}")-all" "$(rows_of "$WORK/rel50k/usage.csv")" "$PL" relink -q --threads "$THREADS" \
      --cohort "${c#*:}" --usage "$WORK/rel50k/usage.csv" --key "$KEY" --output "$WORK/rel-all-report.csv" \
      --costs "$WORK/rel-all-costs.csv" --force "${ALL[@]}"
done
P1M=$(people_of "$WORK/tok-1m.csv")

# 3. Comparison group (relink --population): a 1M-person population with
#    about 6,000 referrals and 20M usage rows; and, for memory per
#    usage event, 1M people with 10M rows, and per population person, 1M
#    and 500k people with 100k rows.
genpop() { # genpop DIR POPULATION EVENTS
  if [ ! -s "$1/usage.csv" ]; then
    "$PL" synth --population "$2" --people 6000 --events "$3" --seed 42 --out "$1" --force 2>/dev/null
  fi
  "$PL" tokenise -q --key "$KEY" "$1/referrals.csv" --output "$1/tokens.csv" --force
}
compare() { # compare NAME DIR [TIMES]
  run -n "${3:-1}" "$1" "$(rows_of "$2/usage.csv")" "$PL" relink -q --threads "$THREADS" --cohort "$2/tokens.csv" \
      --usage "$2/usage.csv" --key "$KEY" --population "$2/population.csv" \
      --match-on age_band --match-on sex --match-on deprivation_decile \
      --data-start 2022-04-01 --data-end 2025-03-31 --output "$2/report.csv" --balance "$2/balance.csv" --force
}
echo "comparison group: 1M population, 6,000 referrals, 20M usage rows" >&2
genpop "$WORK/pop1m" 1000000 20000000
compare relink-population-1m "$WORK/pop1m" "$REPEAT"
genpop "$WORK/pop1m-10m" 1000000 10000000
compare relink-population-1m-10m "$WORK/pop1m-10m"
genpop "$WORK/pop1m-small" 1000000 100000
compare relink-population-1m-small "$WORK/pop1m-small"
genpop "$WORK/pop500k-small" 500000 100000
compare relink-population-500k-small "$WORK/pop500k-small"
E20=$(rows_of "$WORK/pop1m/usage.csv")
E10=$(rows_of "$WORK/pop1m-10m/usage.csv")
P50=$(people_of "$WORK/rel50k/tokens.csv")

# 4. The Python package on the largest referrals file, when it is installed
#    (pip install ./python): against a plain Python hmac loop, and Arrow in
#    and out on synthetic numbers (bench/python_arrow.py).
if python3 -c "import pseudolink" 2>/dev/null; then
  if [ "$LARGE" = 1 ]; then PYIN="$WORK/ref10m/referrals.csv"; else PYIN="$WORK/ref1m/referrals.csv"; fi
  echo "python package: key.tokens on $PYIN" >&2
  python3 bench/python_tokens.py "$KEY" "$PYIN" >&2
  # Arrow in and out: speed and peak memory over the result's size.
  if [ "$LARGE" = 1 ]; then PYROWS=10000000; else PYROWS=1000000; fi
  python3 bench/python_arrow.py "$KEY" "$PYROWS" >&2
fi

# 3. The table.
echo
echo "pseudolink: median of $REPEAT runs; baselines: one run"
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr); threads: $THREADS; data in $WORK"
awk -F'\t' -v p1m="$P1M" -v p50="$P50" -v e20="$E20" -v e10="$E10" '
  { name[NR]=$1; rows[$1]=$2; wall[$1]=$3; rss[$1]=$4; order[NR]=$1 }
  END {
    printf "%-22s %12s %9s %13s %10s %s\n", "run", "rows", "wall s", "rows/s", "peak MiB", "vs baseline"
    for (i = 1; i <= NR; i++) {
      n = order[i]
      rate = (wall[n] > 0) ? rows[n] / wall[n] : 0
      base = ""
      if (n ~ /^tokenise-/) { b = n; sub(/^tokenise-/, "python-", b); if (wall[n] > 0) base = sprintf("%.1fx faster than Python", wall[b] / wall[n]) }
      if (n ~ /^relink-200k$/) { if (wall[n] > 0) base = sprintf("%.1fx faster than pandas", wall["pandas-200k"] / wall[n]) }
      if (n ~ /^relink-200k-all$/) { if (wall["relink-200k"] > 0) base = sprintf("%.2fx the plain run", wall[n] / wall["relink-200k"]) }
      printf "%-22s %12d %9.2f %13.0f %10.1f %s\n", n, rows[n], wall[n], rate, rss[n] / 1024, base
    }
    if (p1m > p50) {
      slope = (rss["relink-1m-cohort"] - rss["relink-50k"]) * 1024 / (p1m - p50)
      printf "\nrelink memory: %.0f bytes per cohort person (peak RSS slope between cohorts of %d and %d people, same usage file)\n", slope, p50, p1m
      slope = (rss["relink-1m-cohort-all"] - rss["relink-50k-all"]) * 1024 / (p1m - p50)
      printf "relink memory with every section 7 option: %.0f bytes per cohort person\n", slope
      ev = (rss["relink-population-1m"] - rss["relink-population-1m-10m"]) * 1024 / (e20 - e10)
      pp = (rss["relink-population-1m-small"] - rss["relink-population-500k-small"]) * 1024 / 500000
      printf "comparison group memory: %.1f bytes per usage event, %.0f bytes per population person\n", ev, pp
    }
  }' "$RESULTS"
