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
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q python3-tempest cinder-tempest-plugin >/dev/null ||
    { apt-get update -qq && apt-get install -y -q python3-tempest cinder-tempest-plugin >/dev/null; } || exit 1
fi

ws=$(mktemp -d -t openblock-tempest.XXXXXX)
sim_pid=""
tempest_pid=""
cleanup() {
  # The tempest run is a process group of its own (setsid): stop all of it.
  if [ -n "$tempest_pid" ]; then
    kill -- -"$tempest_pid" 2>/dev/null
    wait "$tempest_pid" 2>/dev/null
  fi
  tempest_pid=""
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
  # NHN Cloud publishes no backup API: Tempest skips its backup tests there.
  backup=true exts=os-extended-snapshot-attributes,os-vol-host-attr,os-quota-sets,backups
  if [ "$profile" = nhn ]; then
    backup=false exts=${exts%,backups}
  fi
  dir="$ws/$profile-$face"
  # Tempest's lock directory and temporary files stay in the workspace.
  mkdir -p "$dir/sim" "$dir/logs" "$dir/tmp"
  # The accounts of accounts.yaml, in a file: no password on a command line.
  (umask 077; printf '%s\n' "tempest1:$password:tempest1" "tempest2:$password:tempest2" \
    "tempest3:$password:tempest3" "tempest4:$password:tempest4" \
    "tempest-admin1:$password:tempest-admin:admin,member,reader" \
    "tempest-admin2:$password:tempest-admin:admin,member,reader" >"$dir/sim-accounts")
  "$ws/openblock-cloudsim" --listen 127.0.0.1:0 --state-dir "$dir/sim" --profile "$profile" \
    --accounts-file "$dir/sim-accounts" >"$dir/sim.out" 2>"$dir/sim.log" &
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
  (cd "$dir" && TMPDIR="$dir/tmp" tempest init --workspace-path "$ws/workspaces.yaml" --name "$profile-$face" "$dir/w" >/dev/null 2>&1) || { echo "tempest init failed" >&2; exit 1; }
  sed -e "s|@WORKSPACE@|$dir|g" -e "s|@BASE@|$base|g" -e "s|@CATALOG@|$catalog|g" \
    -e "s|@BACKUP@|$backup|g" -e "s|@EXTENSIONS@|$exts|g" \
    hack/tempest/tempest.conf.in | awk -v m="$micro" '$0=="@MICROVERSIONS@"{print m; next} {print}' >"$dir/w/etc/tempest.conf"
  (umask 077; sed -e "s|@PASSWORD@|$password|g" hack/tempest/accounts.yaml.in >"$dir/accounts.yaml")

  # Tests the skip list leaves out count as skipped.
  list() { (cd "$dir/w" && TMPDIR="$dir/tmp" tempest run --list-tests --regex "$regex" "$@" 2>/dev/null | grep '^[a-z_]*\.api\.volume' | sed 's/\[.*//'); }
  list --exclude-list "$repo/hack/tempest/skips.txt" >"$dir/listed"
  excluded=$(( $(list | wc -l) - $(wc -l <"$dir/listed") ))
  # In the background and waited for, so that a signal stops it at once.
  (cd "$dir/w" && TMPDIR="$dir/tmp" exec setsid tempest run --regex "$regex" --exclude-list "$repo/hack/tempest/skips.txt" \
    --concurrency "$concurrency" >"$dir/run.log" 2>&1) &
  tempest_pid=$!
  wait "$tempest_pid"
  rc=$?
  tempest_pid=""
  cleanup
  # One line per test; a class whose setUpClass fails or is skipped
  # reports one line for all its tests: count each of them.
  read -r passed failed skipped < <(awk -v listed="$dir/listed" '
    BEGIN { while ((getline t < listed) > 0) { n = split(t, p, "."); cls = substr(t, 1, length(t) - length(p[n]) - 1); count[cls]++ } }
    /^\{[0-9]+\} / {
      res = ($0 ~ /\.\.\. ok$/) ? "p" : ($0 ~ /\.\.\. FAILED$/) ? "f" : ($0 ~ /\.\.\. SKIPPED/) ? "s" : ""
      if (res == "") next
      w = 1
      if (match($0, /^\{[0-9]+\} (setUpClass|tearDownClass) \(/)) {
        if ($0 ~ /tearDownClass/) { if (res == "f") r["f"]++; next }
        c = $0; sub(/^\{[0-9]+\} setUpClass \(/, "", c); sub(/\).*$/, "", c); w = count[c] ? count[c] : 1
      }
      r[res] += w
    }
    END { printf "%d %d %d\n", r["p"], r["f"], r["s"] }' "$dir/run.log")
  if [ $((passed + failed + skipped)) -eq 0 ]; then
    echo "tempest $run: no test ran:" >&2
    tail -20 "$dir/run.log" >&2
    status=1
    continue
  fi
  if [ "$failed" -gt 0 ]; then
    grep -E '^\{[0-9]+\} .* \.\.\. FAILED$' "$dir/run.log" | sed -E 's/^\{[0-9]+\} /  FAILED /; s/\[[^]]*\]//g; s/ +\.\.\. FAILED$//' | sort
  fi
  echo "tempest $profile/$face: $passed passed, $failed failed, $((skipped + excluded)) skipped"
  [ "$rc" -ne 0 ] && status=1
done
exit $status
