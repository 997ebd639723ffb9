#!/usr/bin/env bash
# Makes sure the Dockerfile's two build-stage bases are in buildah's local
# storage. Each is used as found there, else pulled, else (no registry
# reachable, as on a machine that only reaches package mirrors) stood in for
# under the same name, made from Debian packages:
#   debian:bookworm-slim  mmdebstrap --variant=minbase bookworm, from this
#                         machine's apt sources
#   golang:1.26-bookworm  that, plus the Go toolchain `go env GOROOT` names
#                         (it must be Go 1.26)
# The final image holds neither base (it starts FROM scratch), so a stand-in
# changes only how the binary and the tool tree are made, not what ships.
#
#   hack/image/bases.sh GO_IMAGE BASE_IMAGE
set -euo pipefail
GO_IMAGE="$1" BASE_IMAGE="$2"
log() { echo "image: $*" >&2; }
die() { echo "image: FAILED: $*" >&2; exit 1; }

have() { buildah inspect --type image "$1" >/dev/null 2>&1; }
pull() { timeout 120 buildah pull --quiet "$1" >/dev/null 2>&1; }

scratch="$(mktemp -d)"
ctr=""
cleanup() {
	[ -n "${ctr}" ] && buildah rm "${ctr}" >/dev/null 2>&1
	rm -rf "${scratch}"
}
trap cleanup EXIT

debian_standin() {
	command -v mmdebstrap >/dev/null ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null ||
		die "mmdebstrap is not installed and could not be"
	local sources
	sources="$(ls /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)"
	[ -n "${sources}" ] || sources=/etc/apt/sources.list
	log "making ${BASE_IMAGE} from Debian packages (mmdebstrap, ${sources})"
	SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-0}" mmdebstrap --quiet --variant=minbase --mode=root \
		--format=tar bookworm "${scratch}/base.tar" "${sources}" ||
		die "mmdebstrap bookworm failed"
	ctr="$(buildah from scratch)"
	buildah add --quiet "${ctr}" "${scratch}/base.tar" / >/dev/null
	buildah config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${ctr}"
	buildah commit --quiet "${ctr}" "${BASE_IMAGE}" >/dev/null
	buildah rm "${ctr}" >/dev/null
	ctr=""
}

golang_standin() {
	local goroot want have_v
	goroot="$(go env GOROOT)"
	want="${GO_IMAGE##*:}"; want="go${want%%-*}"
	have_v="$(go env GOVERSION)"
	[[ "${have_v}" == "${want}" || "${have_v}" == "${want}".* ]] ||
		die "no ${GO_IMAGE} to pull, and this machine's Go is ${have_v}, not ${want}"
	log "making ${GO_IMAGE} from ${BASE_IMAGE} and ${goroot} (${have_v})"
	ctr="$(buildah from --pull=never "${BASE_IMAGE}")"
	buildah copy --quiet "${ctr}" "${goroot}" /usr/local/go >/dev/null
	buildah config --env GOLANG_VERSION="${have_v#go}" --env GOPATH=/go \
		--env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--workingdir /go "${ctr}"
	buildah commit --quiet "${ctr}" "${GO_IMAGE}" >/dev/null
	buildah rm "${ctr}" >/dev/null
	ctr=""
}

if ! have "${BASE_IMAGE}"; then
	pull "${BASE_IMAGE}" && log "pulled ${BASE_IMAGE}" || debian_standin
fi
if ! have "${GO_IMAGE}"; then
	pull "${GO_IMAGE}" && log "pulled ${GO_IMAGE}" || golang_standin
fi
