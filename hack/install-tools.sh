#!/usr/bin/env bash
# Installs the tools the chart tests and `make lint` need into a cache
# directory outside the checkout, building them from the Go module proxy
# (no binary downloads). Already installed tools at the pinned version are
# kept. Prints the directory; add it to PATH or set HELM=<dir>/helm.
#
#   hack/install-tools.sh            # installs into ${TOOLS_BIN:-$HOME/.cache/openblock-csi/bin}
#   TOOLS_BIN=/opt/tools hack/install-tools.sh
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
TOOLS_BIN="${TOOLS_BIN:-${HOME}/.cache/openblock-csi/bin}"

mkdir -p "${TOOLS_BIN}"

helm_version() {
	"$1" version --template '{{.Version}}' 2>/dev/null || true
}

helm_bin="${TOOLS_BIN}/helm"
# Not `have="$( [ -x … ] && … )"`: under set -e a failed test in the
# substitution fails the assignment, and with it the script, on every machine
# that has no helm yet.
have=""
if [ -x "${helm_bin}" ]; then
	have="$(helm_version "${helm_bin}")"
fi
# helm built by `go install` has no VCS stamp and reports only major.minor
# (v3.22 for v3.22.0).
if [ -n "${have}" ] && { [ "${have}" = "${HELM_VERSION}" ] || [ "${have}" = "${HELM_VERSION%.*}" ]; }; then
	echo "helm ${have} already in ${TOOLS_BIN}" >&2
else
	echo "building helm ${HELM_VERSION} from the Go module proxy (about 1-3 minutes)..." >&2
	# Outside any module, so the project's go.mod is not touched.
	scratch="$(mktemp -d)"
	trap 'rm -rf "${scratch}"' EXIT
	(cd "${scratch}" && GOFLAGS= GOBIN="${TOOLS_BIN}" go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}")
	echo "helm $(helm_version "${helm_bin}") installed in ${TOOLS_BIN}" >&2
fi

echo "${TOOLS_BIN}"
