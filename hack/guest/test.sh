#!/usr/bin/env bash
# `make guest-test`: builds (or finds cached) the guest, runs test/guest
# against it and prints one line per backend/bus, then checks that no QEMU,
# run directory, loop device or mount of the run is left.
set -uo pipefail
cd "$(dirname "$0")/../.."
log="$(mktemp /tmp/openblock-guest-test.XXXXXX.log)"
./hack/guest/build.sh >/dev/null || exit 1
GUEST_TEST=1 OPENBLOCK_CSI_BINARY="${PWD}/bin/openblock-csi" GUEST_SETS="${GUEST_SETS:-}" \
	go test -count=1 -timeout 30m ./test/guest -run '^TestGuest$' -v >"${log}" 2>&1
rc=$?
grep -E "^guest [^ ]+( timing| csi-sanity)?: " "${log}"
left=""
pgrep -a qemu-system >/dev/null && left+=" qemu:$(pgrep -d, qemu-system)"
# The guests' run directories (os.MkdirTemp "guest-"), not any file so named.
rundirs="$(find "${TMPDIR:-/tmp}" -maxdepth 1 -type d -name 'guest-[0-9]*' 2>/dev/null | tr '\n' ' ')"
[ -n "${rundirs}" ] && left+=" rundirs:${rundirs}"
losetup -a 2>/dev/null | grep -q guest && left+=" loops"
if [ -n "${left}" ]; then echo "guest-test: left behind:${left}"; rc=1; fi
if [ "${rc}" != 0 ]; then
	grep -E -e '--- (FAIL|SKIP)' -e '_test.go:[0-9]+:' "${log}" | grep -v '^\s*\[' | tail -40
	echo "guest-test: FAILED (full log: ${log})"
	exit "${rc}"
fi
grep -E -e "--- SKIP" "${log}" || true
rm -f "${log}"
