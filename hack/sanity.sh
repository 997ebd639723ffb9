#!/usr/bin/env bash
# make sanity [BACKENDS="cinder-v1 lunanode"]: csi-sanity against the driver
# on each backend's simulator (a second run per Cinder backend with
# backup-class snapshots, and on cinder-v2 and cinder-v3 one with raw block
# volumes of a multi-attach type plus the multi-node specs). Prints one
# line per backend run:
#   sanity BACKEND: N passed, N failed, N skipped (simulator 413s: N)
set -uo pipefail
cd "$(dirname "$0")/.."
backends="${*:-}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
SANITY_BACKENDS="${backends// /,}" go test -count=1 -v -timeout 30m -run 'TestSanity$' ./test/sanity/ >"$log" 2>&1
status=$?
if [ $status -ne 0 ]; then
  grep -E -- '--- FAIL|FAIL:|panic|Error' "$log" | head -40
fi
# The refused calls (route and count) come before their backend's line.
grep -E '^[[:space:]]*sanity [a-z0-9/-]+: |[[:space:]]413: ' "$log" | sed -E 's/^[[:space:]]+//; s/^.*[[:space:]](413: )/  \1/'
exit $status
