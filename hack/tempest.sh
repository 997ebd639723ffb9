#!/usr/bin/env bash
# make tempest [TEMPEST_RUNS="generic/v3 nhn/v2"]: OpenStack Tempest's volume
# API tests (tempest.api.volume and cinder_tempest_plugin.api.volume) against
# the simulator, one run per PROFILE/FACE. Prints one line per run:
#   tempest PROFILE/FACE: N passed, N failed, N skipped
# Tests named in hack/tempest/skips.txt are not run and count as skipped.
# TEMPEST_CONCURRENCY (default 2) workers; TEMPEST_REGEX narrows the tests;
# TEMPEST_KEEP=1 keeps the workspace (its path is printed) for its logs.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
runs="${TEMPEST_RUNS:-generic/v3 nhn/v2}"
concurrency="${TEMPEST_CONCURRENCY:-2}"
regex="${TEMPEST_REGEX:-^(tempest\.api\.volume|cinder_tempest_plugin\.api\.volume)\.}"

if ! command -v tempest >/dev/null || ! /usr/bin/python3 -c 'import cinder_tempest_plugin' 2>/dev/null; then
  echo "tempest: installing python3-tempest and cinder-tempest-plugin" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-tempest cinder-tempest-plugin >/dev/null || exit 1
fi

ws=$(mktemp -d -t openblock-tempest.XXXXXX)
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ]; then
    kill "$sim_pid" 2>/dev/null
    wait "$sim_pid" 2>/dev/null
  fi
  sim_pid=""
}
finish() {
  cleanup
  if [ "${TEMPEST_KEEP:-0}" = 1 ]; then
    echo "tempest: workspace kept in $ws" >&2
  else
    rm -rf "$ws"
  fi
}
trap finish EXIT
trap 'exit 130' INT TERM

CGO_ENABLED=0 go build -o "$ws/openblock-cloudsim" ./cmd/openblock-cloudsim || exit 1
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')

status=0
for run in $runs; do
  profile=${run%/*}
  face=${run#*/}
  case $face in
    v3) catalog=volumev3; micro=$'min_microversion = 3.0\nmax_microversion = 3.70' ;;
    v2) catalog=volumev2; micro="" ;;
    *) echo "tempest: unknown face $face (v2 or v3)" >&2; exit 2 ;;
  esac
  dir="$ws/$profile-$face"
  mkdir -p "$dir/sim" "$dir/logs"
  "$ws/openblock-cloudsim" --listen 127.0.0.1:0 --state-dir "$dir/sim" --profile "$profile" \
    --account "tempest1:$password:tempest1" --account "tempest2:$password:tempest2" \
    --account "tempest3:$password:tempest3" --account "tempest4:$password:tempest4" \
    --account "tempest-admin1:$password:tempest-admin:admin,member,reader" \
    --account "tempest-admin2:$password:tempest-admin:admin,member,reader" \
    >"$dir/sim.out" 2>"$dir/sim.log" &
  sim_pid=$!
  base=""
  for _ in $(seq 100); do
    base=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$dir/sim.out" 2>/dev/null | head -1)
    [ -n "$base" ] && break
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$base" ]; then
    echo "tempest $run: the simulator did not start:" >&2
    tail -5 "$dir/sim.log" >&2
    exit 1
  fi
  (cd "$dir" && tempest init --workspace-path "$ws/workspaces.yaml" --name "$profile-$face" "$dir/w" >/dev/null 2>&1) || { echo "tempest init failed" >&2; exit 1; }
  sed -e "s|@WORKSPACE@|$dir|g" -e "s|@BASE@|$base|g" -e "s|@CATALOG@|$catalog|g" \
    hack/tempest/tempest.conf.in | awk -v m="$micro" '$0=="@MICROVERSIONS@"{print m; next} {print}' >"$dir/w/etc/tempest.conf"
  sed -e "s|@PASSWORD@|$password|g" hack/tempest/accounts.yaml.in >"$dir/accounts.yaml"
  chmod 600 "$dir/accounts.yaml"

  # Tests the skip list leaves out count as skipped.
  list() { (cd "$dir/w" && tempest run --list-tests --regex "$regex" "$@" 2>/dev/null | grep -c '^[a-z_]*\.api\.volume'); }
  listed=$(list --exclude-list "$repo/hack/tempest/skips.txt")
  excluded=$(( $(list) - listed ))
  (cd "$dir/w" && tempest run --regex "$regex" --exclude-list "$repo/hack/tempest/skips.txt" \
    --concurrency "$concurrency" >"$dir/run.log" 2>&1)
  rc=$?
  cleanup
  n() { grep -E "^ - $1: [0-9]+" "$dir/run.log" | tail -1 | grep -oE '[0-9]+$' || echo 0; }
  passed=$(n Passed); failed=$(n Failed); skipped=$(n Skipped)
  ran=$((passed + failed + skipped))
  # A class whose setUpClass fails reports one failure for all its tests:
  # count each of them as failed.
  [ $((listed - passed - skipped)) -gt "$failed" ] && failed=$((listed - passed - skipped))
  if [ "$ran" -eq 0 ]; then
    echo "tempest $run: no test ran:" >&2
    tail -20 "$dir/run.log" >&2
    status=1
    continue
  fi
  if [ "$failed" -gt 0 ]; then
    grep -E '^\{[0-9]+\} .* \.\.\. FAILED' "$dir/run.log" | sed -E 's/^\{[0-9]+\} /  FAILED /; s/ \[[^]]*\] \.\.\. FAILED$//' | sort
  fi
  echo "tempest $profile/$face: $passed passed, $failed failed, $((skipped + excluded)) skipped"
  [ "$rc" -ne 0 ] && status=1
done
exit $status
