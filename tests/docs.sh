#!/usr/bin/env bash
# Runs every ```sh block of README.md and the guides in docs/, in order, in
# a fresh clone of this repository, with `pseudolink` on PATH, so that the
# documentation cannot drift from the tool. `cargo build`/`cargo test`
# lines are skipped (CI runs them itself) and `cargo run --release --` is
# the built binary. `pseudolink validate` may exit with 1 (it found invalid
# numbers, as the examples mean it to); any other failure stops the run.
#
#   tests/docs.sh [path/to/pseudolink]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$repo/target/release/pseudolink}"
[ -x "$bin" ] || { echo "docs.sh: build the binary first (cargo build --release)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
ln -s "$bin" "$work/bin/pseudolink"
export PATH="$work/bin:$PATH"
ran=0
# Each document is a walk-through of its own: each runs in its own clone.
for doc in README.md docs/provider-guide.md docs/icb-guide.md docs/python.md docs/development.md; do
  [ -f "$repo/$doc" ] || continue
  cd "$work" && rm -rf "$work/clone"
  git clone -q "$repo" "$work/clone"
  cd "$work/clone"
  # The fenced sh blocks, joined lines (a trailing backslash continues).
  python3 - "$doc" > "$work/commands" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M):
    for line in block.replace("\\\n", " ").splitlines():
        line = line.split("  #")[0].strip()
        if line and not line.startswith("#"):
            print(line)
PY
  while IFS= read -r cmd; do
    case "$cmd" in
      "cargo test"*|"cargo build"*) continue ;;
      "cargo run --release --"*) cmd="pseudolink${cmd#cargo run --release --}" ;;
    esac
    echo "docs.sh: $doc: $cmd" >&2
    set +e
    bash -c "$cmd" > "$work/out" 2> "$work/err"
    code=$?
    set -e
    if [ "$code" -ne 0 ] && ! { [ "$code" -eq 1 ] && [[ "$cmd" == "pseudolink validate"* ]]; }; then
      echo "docs.sh: FAILED (exit $code): $cmd" >&2
      cat "$work/err" >&2
      exit 1
    fi
    ran=$((ran + 1))
  done < "$work/commands"
  # Nothing a documented example writes may be left for git to commit.
  untracked="$(git status --porcelain --untracked-files=all)"
  if [ -n "$untracked" ]; then
    echo "docs.sh: $doc's examples leave files .gitignore does not cover:" >&2
    echo "$untracked" >&2
    exit 1
  fi
done
echo "docs.sh: $ran documented commands ran"
echo "$ran passed, 0 failed"
