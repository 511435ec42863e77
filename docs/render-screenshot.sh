#!/usr/bin/env bash
# Regenerates docs/report-screenshot.png: the HTML report of a synthetic
# comparison-group rehearsal (40,000 people, the comparison group, costs,
# bed days and the event study), rendered by headless Chromium (Debian:
# apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
PL=target/release/pseudolink
KEY=keys-example/example.key
W=$(mktemp -d)
$PL synth --population 40000 --people 800 --events 150000 --seed 3 --test-numbers --out "$W" 2>/dev/null
$PL tokenise -q --key $KEY "$W/referrals.csv" --output "$W/tokens.csv" 2>/dev/null
$PL relink -q --cohort "$W/tokens.csv" --usage "$W/usage.csv" --key $KEY \
  --population "$W/population.csv" --match-on age_band --match-on sex --end-date-column left_on \
  --group-by age_band --data-start 2022-04-01 --data-end 2025-03-31 --within 14 --value-column los_days \
  --unit-costs examples/unit-costs.csv --costs "$W/costs.csv" --service-cost 300 \
  --event-study "$W/months.csv" --output "$W/report.csv" --html "$W/report.html" 2>/dev/null
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$W/chromium" --window-size=1200,6400 \
  --screenshot="$PWD/docs/report-screenshot.png" "file://$W/report.html" 2>/dev/null
rm -rf "$W"
