#!/usr/bin/env bash
# Builds the peer driver that `make bench-peer` measures ours against:
# cloud-provider-openstack's cinder-csi-plugin, pinned, from the Go module
# proxy, in a scratch module outside the project's go.mod (as
# hack/install-tools.sh builds helm), into a cache outside the checkout.
# A binary already built at the pinned version is kept. Prints its path.
#
#   hack/peer-build.sh                  # into ${PEER_CACHE:-/var/cache/openblock-csi-peer}
#   PEER_CACHE=/tmp/peer hack/peer-build.sh
set -euo pipefail

PEER_VERSION="${PEER_VERSION:-v1.36.0}"
# The Kubernetes release the peer's go.mod pins (k8s.io/kubernetes v1.36.0);
# its staging modules are published as v0.36.0.
K8S_VERSION="${K8S_VERSION:-v1.36.0}"
STAGING_VERSION="v0${K8S_VERSION#v1}"
PEER_CACHE="${PEER_CACHE:-/var/cache/openblock-csi-peer}"
PEER_MODULE="k8s.io/cloud-provider-openstack"
PEER_PACKAGE="${PEER_MODULE}/cmd/cinder-csi-plugin"

bin="${PEER_CACHE}/cinder-csi-plugin-${PEER_VERSION}"
if [ -x "${bin}" ]; then
	echo "cinder-csi-plugin ${PEER_VERSION} already in ${PEER_CACHE}" >&2
	echo "${bin}"
	exit 0
fi
mkdir -p "${PEER_CACHE}"

echo "building cinder-csi-plugin ${PEER_VERSION} from the Go module proxy (several minutes on a cold cache)..." >&2
scratch="$(mktemp -d)"
trap 'rm -rf "${scratch}"' EXIT
cd "${scratch}"
export GOFLAGS=-mod=mod GOWORK=off
go mod init openblock-csi-peer-build >/dev/null 2>&1

# k8s.io/kubernetes requires its staging modules at v0.0.0 and points them
# at ./staging with replace directives, which do not apply outside its own
# module: every one of them is replaced here by its published version.
k8s_mod="$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
staging="$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "${k8s_mod}")"
if [ -z "${staging}" ]; then
	echo "no staging modules found in ${k8s_mod}" >&2
	exit 1
fi
for m in ${staging}; do
	go mod edit -replace "${m}=${m}@${STAGING_VERSION}"
done

go get "${PEER_MODULE}@${PEER_VERSION}" >&2
# The version stamp its own release build sets, so --version answers.
CGO_ENABLED=0 go build -trimpath -ldflags "-X ${PEER_MODULE}/pkg/version.Version=${PEER_VERSION}" \
	-o "${scratch}/cinder-csi-plugin" "${PEER_PACKAGE}"
mv "${scratch}/cinder-csi-plugin" "${bin}"
echo "cinder-csi-plugin ${PEER_VERSION} built into ${PEER_CACHE}" >&2
echo "${bin}"
