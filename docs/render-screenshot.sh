#!/usr/bin/env bash
# Regenerates docs/report-screenshot.png: a 6,000-person synthetic rehearsal
# rendered by headless Chromium (Debian: apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
PL=target/release/pseudolink
KEY=keys-example/example.key
W=$(mktemp -d)
$PL synth --people 6000 --events 40000 --seed 1 --test-numbers --out "$W" 2>/dev/null
$PL tokenise -q --key $KEY "$W/referrals.csv" --output "$W/tokens.csv"
$PL relink -q --cohort "$W/tokens.csv" --usage "$W/usage.csv" --key $KEY \
  --data-start 2022-04-01 --data-end 2025-03-31 --within 14 --within 90 --value-column los_days \
  --unit-costs examples/unit-costs.csv --service-cost 1171 --output "$W/report.csv" --html "$W/report.html"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$W/chromium" --window-size=1200,3400 \
  --screenshot="$PWD/docs/report-screenshot.png" "file://$W/report.html"
rm -rf "$W"
