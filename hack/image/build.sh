#!/usr/bin/env bash
# `make image`: builds the root Dockerfile with buildah, daemonless (vfs
# storage, chroot isolation), into one OCI archive per platform under bin/,
# and prints each archive with its uncompressed size.
#
#   IMAGE_PLATFORMS="linux/amd64"   # default: linux/amd64 linux/arm64
#   SOURCE_DATE_EPOCH=...           # default: the last commit's time; the
#                                   # same commit and epoch give the same digest
#   IMAGE_REPRODUCE=1               # build each platform twice and fail
#                                   # unless both give the same digest
#
# Needs root (buildah's vfs storage and chroot). buildah and mmdebstrap come
# from Debian and are installed when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
log() { echo "image: $*" >&2; }
die() { echo "image: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (buildah with vfs storage and chroot isolation)"
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot

missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
if [ ${#missing[@]} -gt 0 ]; then
	log "apt-get install ${missing[*]}"
	{ DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/dev/null ||
		die "apt-get install ${missing[*]}"
fi

PLATFORMS="${IMAGE_PLATFORMS:-linux/amd64 linux/arm64}"
VERSION="${VERSION:-$(cat VERSION)}"
REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then REVISION="${REVISION}-dirty"; fi
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
CREATED="$(date -u -d "@${SOURCE_DATE_EPOCH}" +%Y-%m-%dT%H:%M:%SZ)"
GO_IMAGE="${GO_IMAGE:-golang:1.26-bookworm}"
BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"

./hack/image/bases.sh "${GO_IMAGE}" "${BASE_IMAGE}"

# Go modules come from this machine's module cache, served to the build
# as a file:// proxy: the build reaches no module proxy of its own.
go mod download
modcache="$(go env GOMODCACHE)/cache/download"

mkdir -p bin
imagetool="$(mktemp -d)/imagetool"
trap 'rm -rf "$(dirname "${imagetool}")"' EXIT
CGO_ENABLED=0 go build -o "${imagetool}" ./hack/image/imagetool

# build PLATFORM ARCHIVE
build() {
	local platform="$1" out="$2" arch="${1#linux/}"
	local name="localhost/openblock-csi:${VERSION}-${arch}"
	buildah bud --quiet --layers=false --pull=never --timestamp "${SOURCE_DATE_EPOCH}" \
		--platform "${platform}" --build-arg BUILDPLATFORM="linux/$(go env GOHOSTARCH)" --build-arg TARGETOS=linux --build-arg TARGETARCH="${arch}" \
		--build-arg VERSION="${VERSION}" --build-arg REVISION="${REVISION}" --build-arg CREATED="${CREATED}" \
		--build-arg GO_IMAGE="${GO_IMAGE}" --build-arg BASE_IMAGE="${BASE_IMAGE}" \
		--build-arg GOPROXY=file:///goproxy --volume "${modcache}:/goproxy:ro" \
		-f Dockerfile -t "${name}" . >/dev/null
	rm -f "${out}"
	buildah push --quiet "${name}" "oci-archive:${out}:localhost/openblock-csi:${VERSION}" >/dev/null
	# The archive is the product: vfs storage would keep a full copy of
	# every build otherwise.
	buildah rmi "${name}" >/dev/null
}

for platform in ${PLATFORMS}; do
	arch="${platform#linux/}"
	out="bin/openblock-csi-${VERSION}-linux-${arch}.oci.tar"
	start=${SECONDS}
	log "building ${platform} (SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH}, version ${VERSION}, revision ${REVISION})"
	build "${platform}" "${out}"
	digest="$("${imagetool}" digest "${out}")"
	if [ "${IMAGE_REPRODUCE:-0}" = 1 ]; then
		again="$(dirname "${imagetool}")/again.oci.tar"
		build "${platform}" "${again}"
		digest2="$("${imagetool}" digest "${again}")"
		[ "${digest}" = "${digest2}" ] || die "${platform}: two builds of one tree gave ${digest} and ${digest2}"
		log "${platform}: built twice, the same digest ${digest}"
	fi
	size="$("${imagetool}" size "${out}")"
	echo "image: ${out} ${platform} $(( size / 1000000 )) MB uncompressed (${size} bytes), ${digest}, $(( SECONDS - start ))s"
done
