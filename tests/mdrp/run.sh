#!/usr/bin/env bash
# tests/mdrp/run.sh - the MDRP simulator on small hand-made instances
# (instances/*): for both policies, the run must succeed, tests/mdrp/check.py
# must find the solution feasible, and the number of delivered orders must be
# the one in the instance's expect.txt (worked out by hand from its shifts).
# Then a solution broken on purpose (a pickup before ready, a drop-off
# sequence swapped) must be rejected, so the checker is known to bite.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${RXD_BUILD_DIR:-$ROOT/build}/loadtest/mdrpsim/mdrp
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for inst in "$HERE"/instances/*/; do
  name=$(basename "$inst")
  want=$(awk '$1 == "delivered" {print $2}' "$inst/expect.txt")
  for policy in greedy batch; do
    sol=$OUT/$name-$policy
    "$BIN" --policy "$policy" "$inst" "$sol" > "$sol.log" || fail "$name $policy: mdrp exited $?"
    python3 "$HERE/check.py" "$inst" "$sol" || fail "$name $policy: infeasible"
    got=$(($(wc -l < "$sol/solution_info_orders.txt") - 1))
    [ "$got" = "$want" ] || fail "$name $policy: delivered $got, expected $want"
    echo "ok $name $policy: $got delivered"
  done
done

# The checker must reject broken solutions.
sol=$OUT/bundle-batch
broken=$OUT/broken
mkdir -p "$broken"
cp "$sol"/solution_info_*.txt "$broken/"
awk 'NR == 2 {$2 = $2 - 30} {print}' "$sol/solution_info_assignments.txt" > "$broken/solution_info_assignments.txt"
if python3 "$HERE/check.py" "$HERE/instances/bundle" "$broken" > "$OUT/broken.log"; then
  fail "check.py accepted a pickup before ready"
fi
cp "$sol"/solution_info_*.txt "$broken/"
awk 'NF > 4 && !done {t = $4; $4 = $5; $5 = t; done = 1} {print}' "$sol/solution_info_assignments.txt" > "$broken/solution_info_assignments.txt"
grep -q . "$broken/solution_info_assignments.txt"
if cmp -s "$sol/solution_info_assignments.txt" "$broken/solution_info_assignments.txt"; then
  fail "the bundle instance produced no bundle to swap"
fi
if python3 "$HERE/check.py" "$HERE/instances/bundle" "$broken" > "$OUT/broken.log"; then
  fail "check.py accepted drop-offs out of the assigned sequence"
fi
echo "ok check.py rejects broken solutions"
