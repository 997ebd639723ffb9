#!/usr/bin/env bash
# `make lint` for the Helm chart: helm lint (strict) and helm template with
# the default values and every example values file. Silent on success.
# helm comes from $HELM, $PATH, or ${TOOLS_BIN:-$HOME/.cache/openblock-csi/bin}
# (hack/install-tools.sh puts it there).
set -euo pipefail
cd "$(dirname "$0")/.."

chart=charts/openblock-csi
helm="${HELM:-}"
if [ -z "${helm}" ]; then
	helm="$(command -v helm || true)"
fi
if [ -z "${helm}" ] && [ -x "${TOOLS_BIN:-${HOME}/.cache/openblock-csi/bin}/helm" ]; then
	helm="${TOOLS_BIN:-${HOME}/.cache/openblock-csi/bin}/helm"
fi
if [ -z "${helm}" ]; then
	echo "helm-lint: helm not found; run hack/install-tools.sh (make tools)" >&2
	exit 1
fi

# Helm's own config and cache stay out of the user's home.
scratch="$(mktemp -d)"
trap 'rm -rf "${scratch}"' EXIT
export HELM_CONFIG_HOME="${scratch}/config" HELM_CACHE_HOME="${scratch}/cache" HELM_DATA_HOME="${scratch}/data"

check() {
	local out
	if ! out="$("${helm}" lint --strict --quiet "${chart}" --namespace kube-system "$@" 2>&1)"; then
		echo "helm lint ${chart} $*:" >&2
		echo "${out}" >&2
		return 1
	fi
	if ! out="$("${helm}" template openblock-csi "${chart}" --namespace kube-system \
		--api-versions snapshot.storage.k8s.io/v1 "$@" 2>&1 >/dev/null)"; then
		echo "helm template ${chart} $*:" >&2
		echo "${out}" >&2
		return 1
	fi
}

status=0
check || status=1
for f in "${chart}"/examples/*.yaml; do
	check -f "${f}" || status=1
done
exit "${status}"
