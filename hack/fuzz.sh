#!/usr/bin/env bash
# Runs every fuzz target for a while: hack/fuzz.sh [DURATION] (default 30s).
# Each target runs on its own (go test allows one -fuzz target at a time);
# a crasher is written to the package's testdata/fuzz/<FuzzName>/ and this
# script exits non-zero after the remaining targets ran.
#
# make test runs the same targets over their checked-in seed corpora only.
set -uo pipefail
cd "$(dirname "$0")/.."

fuzztime="${1:-30s}"
pkgs=(./pkg/driver ./pkg/cloud/lunanode ./pkg/cloud/openstack ./pkg/cloudconfig ./pkg/cloudsim)
failed=()
start=$SECONDS
for pkg in "${pkgs[@]}"; do
  [ -f "$pkg/fuzz_test.go" ] || continue
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$pkg/fuzz_test.go" | awk '{print $2}'); do
    echo "fuzz: $pkg $target ($fuzztime)"
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"; then
      failed+=("$pkg $target")
    fi
  done
done
echo "fuzz: done in $((SECONDS - start))s"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz: FAILED %s\n' "${failed[@]}"
  exit 1
fi
