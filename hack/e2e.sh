#!/usr/bin/env bash
# `make e2e`: the driver on a real single-node Kubernetes cluster, installed
# with its Helm chart, against the cloud simulator; per backend:
#   1. the upstream External Storage suite (e2e.test) with
#      test/e2e/testdriver-<backend>.yaml, summarised as
#      `e2e BACKEND: N passed, N failed, N skipped`;
#   2. the project's own scenarios (go test ./test/e2e).
# The cluster is torn down after each backend, also on failure.
#
#   BACKENDS="cinder-v2 cinder-v3" hack/e2e.sh
#   E2E_FOCUS='provisioning' hack/e2e.sh       # a part of the upstream suite
#   E2E_SCENARIOS=0 / E2E_UPSTREAM=0           # leave one part out
#   E2E_PROCS=1                                # upstream specs one at a time
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
source hack/e2e-versions.sh

BACKENDS="${BACKENDS:-cinder-v2}"
E2E_FOCUS="${E2E_FOCUS:-}"
E2E_SKIP="${E2E_SKIP:-Disruptive|Serial|Slow|\[Feature:}"
ARTIFACTS="${E2E_ARTIFACTS:-${E2E_CACHE}/artifacts}"
E2E_PROCS="${E2E_PROCS:-3}"

log() { echo "e2e: $*" >&2; }
die() { echo "e2e: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (a kubelet, containerd and loop devices run on this machine)"

# Long steps run in the background so that a SIGTERM (CI's timeout) is
# handled at once: the step is stopped and the cluster torn down.
CHILD=""
step() {
	"$@" &
	CHILD=$!
	local rc=0
	wait "${CHILD}" || rc=$?
	CHILD=""
	return "${rc}"
}
on_signal() {
	log "interrupted: stopping and tearing down"
	[ -n "${CHILD}" ] && kill -TERM "${CHILD}" 2>/dev/null && wait "${CHILD}" 2>/dev/null
	exit 143
}
trap on_signal TERM INT

phase() { # phase NAME START: prints how long a phase took
	log "$1: $(( SECONDS - $2 ))s"
	echo "$1 $(( SECONDS - $2 ))s" >>"${ARTIFACTS}/timings"
}

mkdir -p "${ARTIFACTS}"
: >"${ARTIFACTS}/timings"
t=${SECONDS}
step ./hack/e2e-build.sh all
phase build "${t}"

# has_cap BIT: the capability is in this process's bounding set.
has_cap() {
	local bnd
	bnd="$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)"
	(( (16#${bnd} >> $1) & 1 ))
}

# upstream BACKEND: runs e2e.test; prints the summary line.
upstream() {
	local backend="$1" dir="${ARTIFACTS}/${1}" td="${ROOT}/test/e2e/testdriver-${1}.yaml"
	[ -f "${td}" ] || die "no ${td}: the suite needs the driver's capabilities on ${backend}"
	rm -rf "${dir}"
	mkdir -p "${dir}"
	cat >"${dir}/repo-list.yaml" <<EOF
promoterE2eRegistry: ${E2E_REGISTRY}
gcRegistry: ${E2E_REGISTRY}
gcEtcdRegistry: ${E2E_REGISTRY}
sigStorageRegistry: ${E2E_REGISTRY}
dockerLibraryRegistry: ${E2E_REGISTRY}
buildImageRegistry: ${E2E_REGISTRY}
privateRegistry: ${E2E_REGISTRY}
cloudProviderGcpRegistry: ${E2E_REGISTRY}
EOF
	# Growing a mounted ext4 filesystem needs CAP_SYS_RESOURCE (also inside
	# privileged pods: they get no more than this bounding set). Where the
	# backend expands online and the capability is missing, the suite's
	# default filesystem is xfs, so its online expansion specs test what
	# this machine can do; ext4 is still tested by its own patterns. Offline
	# expansion needs no capability: NodeStage grows ext4 before mounting.
	if has_cap 24 || ! grep -qE '^[[:space:]]*onlineExpansion:[[:space:]]*true' "${td}"; then
		cp "${td}" "${dir}/testdriver.yaml"
	else
		log "root lacks CAP_SYS_RESOURCE (ext4 online resize): the suite's default class is openblock-xfs"
		sed 's/FromExistingClassName: openblock-standard/FromExistingClassName: openblock-xfs/' "${td}" >"${dir}/testdriver.yaml"
	fi
	td="${dir}/testdriver.yaml"
	local focus="External.Storage.*block.csi.openblock.io"
	[ -n "${E2E_FOCUS}" ] && focus="${focus}.*${E2E_FOCUS}"
	local -a args=(-kubeconfig="${KUBECONFIG}" -provider=local -storage.testdriver="${td}"
		-ginkgo.focus="${focus}" -ginkgo.skip="${E2E_SKIP}" -ginkgo.no-color
		-report-dir="${dir}" -dump-logs-on-failure=false)
	local -a cmd=("${K8S_BIN}/e2e.test" -ginkgo.timeout=60m)
	# Specs mostly wait on the cluster: a few processes share the 2 cores.
	if [ "${E2E_PROCS}" -gt 1 ]; then
		cmd=("${K8S_BIN}/ginkgo" --procs="${E2E_PROCS}" --timeout=60m --no-color "${K8S_BIN}/e2e.test" --)
	fi
	local rc=0
	KUBE_TEST_REPO_LIST="${dir}/repo-list.yaml" step "${cmd[@]}" "${args[@]}" >"${dir}/e2e.log" 2>&1 || rc=$?
	tail -n 20 "${dir}/e2e.log" | grep -E 'Ran [0-9]+ of|Passed|FAIL' >&2 || true
	[ -f "${dir}/junit_01.xml" ] || { tail -n 40 "${dir}/e2e.log" >&2; die "e2e.test wrote no report (exit ${rc}); log: ${dir}/e2e.log"; }
	go run ./test/e2e/junitsummary -report "${dir}/junit_01.xml" -backend "${backend}" | tee "${dir}/summary"
	local ok=${PIPESTATUS[0]}
	# The suite deleted its namespaces: nothing of it may stay in the cloud.
	go run ./test/e2e/simleaks -url "${E2E_SIM_URL}" -wait 3m >&2 || ok=1
	log "junit report: ${dir}/junit_01.xml, log: ${dir}/e2e.log"
	return "${ok}"
}

# scenarios BACKEND: the project's own end-to-end scenarios.
scenarios() {
	local dir="${ARTIFACTS}/${1}"
	mkdir -p "${dir}"
	local rc=0
	step go test -count=1 -timeout 40m -v ./test/e2e -args -e2e.cluster >"${dir}/scenarios.log" 2>&1 || rc=$?
	grep -E '^(--- |=== RUN|ok|FAIL|PASS)' "${dir}/scenarios.log" | grep -v '=== RUN' >&2 || true
	local passed failed skipped
	passed="$(grep -c '^--- PASS' "${dir}/scenarios.log" || true)"
	failed="$(grep -c '^ *--- FAIL' "${dir}/scenarios.log" || true)"
	skipped="$(grep -c '^ *--- SKIP' "${dir}/scenarios.log" || true)"
	echo "scenarios ${1}: ${passed} passed, ${failed} failed, ${skipped} skipped" | tee "${dir}/scenarios-summary"
	# A skip says why; show it.
	grep -A1 '^ *--- SKIP' "${dir}/scenarios.log" | grep -v '^--$' >&2 || true
	log "scenario log: ${dir}/scenarios.log"
	return "${rc}"
}

status=0
summaries=()
for backend in ${BACKENDS}; do
	log "backend ${backend}"
	trap './hack/e2e-cluster.sh down || true' EXIT
	t=${SECONDS}
	BACKEND="${backend}" E2E_SKIP_BUILD=1 step ./hack/e2e-cluster.sh up
	phase "${backend} cluster-up" "${t}"
	t=${SECONDS}
	step ./hack/e2e-cluster.sh install
	phase "${backend} helm-install" "${t}"
	# shellcheck disable=SC1091
	source "${E2E_RUN}/env"
	if [ "${E2E_UPSTREAM:-1}" != 0 ]; then
		t=${SECONDS}
		upstream "${backend}" || status=1
		phase "${backend} upstream-suite" "${t}"
		summaries+=("$(head -n1 "${ARTIFACTS}/${backend}/summary" 2>/dev/null || echo "e2e ${backend}: no summary")")
	fi
	if [ "${E2E_SCENARIOS:-1}" != 0 ]; then
		t=${SECONDS}
		scenarios "${backend}" || status=1
		phase "${backend} scenarios" "${t}"
		summaries+=("$(cat "${ARTIFACTS}/${backend}/scenarios-summary" 2>/dev/null)")
	fi
	t=${SECONDS}
	./hack/e2e-cluster.sh down || status=1
	trap - EXIT
	phase "${backend} down" "${t}"
done

echo
cat "${ARTIFACTS}/timings"
for s in "${summaries[@]}"; do echo "${s}"; done
exit "${status}"
