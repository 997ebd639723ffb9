#!/usr/bin/env bash
# Runs every fuzz target for a while: hack/fuzz.sh [DURATION] (default 30s).
# Each target runs on its own (go test allows one -fuzz target at a time);
# a crasher is written to the package's testdata/fuzz/<FuzzName>/ and this
# script exits non-zero after the remaining targets ran.
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" at the end of a -fuzztime window when a worker is slow to stop
# (go.dev/issue/75804, fixed in Go 1.27). That failure writes no input, so
# it is told apart from a finding and the target is run again, at most twice.
#
# make test runs the same targets over their checked-in seed corpora only.
set -uo pipefail
cd "$(dirname "$0")/.."

fuzztime="${1:-30s}"
pkgs=(./pkg/driver ./pkg/cloud/lunanode ./pkg/cloud/openstack ./pkg/cloudconfig ./pkg/cloudsim)
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

corpus_files() { find "$1" -type f 2>/dev/null | sort; }

# run_target PKG TARGET: 0 passed, 1 finding or other failure, 2 coordinator race.
run_target() {
  local pkg="$1" target="$2" dir="$1/testdata/fuzz/$2" before after
  before="$(corpus_files "$dir")"
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] && return 0
  after="$(corpus_files "$dir")"
  if [ "$before" = "$after" ] &&
     grep -qx -- "--- FAIL: ${target} ([0-9.]*s)" "$log" &&
     grep -A1 -- "--- FAIL: ${target} " "$log" | grep -qx '[[:space:]]*context deadline exceeded'; then
    return 2
  fi
  return 1
}

failed=()
start=$SECONDS
for pkg in "${pkgs[@]}"; do
  [ -f "$pkg/fuzz_test.go" ] || continue
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$pkg/fuzz_test.go" | awk '{print $2}'); do
    for attempt in 1 2 3; do
      echo "fuzz: $pkg $target ($fuzztime, attempt $attempt)"
      run_target "$pkg" "$target"
      rc=$?
      [ "$rc" -eq 2 ] && [ "$attempt" -lt 3 ] && {
        echo "fuzz: $target stopped on the coordinator's deadline with no input written; running it again"
        continue
      }
      [ "$rc" -ne 0 ] && failed+=("$pkg $target")
      break
    done
  done
done
echo "fuzz: done in $((SECONDS - start))s"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz: FAILED %s\n' "${failed[@]}"
  exit 1
fi
