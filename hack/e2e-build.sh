#!/usr/bin/env bash
# Builds what the end-to-end cluster runs, from the Go module proxy and this
# machine's Debian packages, into ${E2E_CACHE} (outside the checkout):
#
#   k8s-<version>/bin/   kube-apiserver, kube-controller-manager, kube-scheduler,
#                        kubelet, kubectl, e2e.test, ginkgo, agnhost (hack/e2e-tools)
#   sidecars/<name>-<version>/<name>   csi-provisioner, csi-attacher,
#                        csi-resizer, csi-snapshotter, snapshot-controller
#   crds/snapshotter-<version>/        VolumeSnapshot (and group snapshot) CRDs
#   images/<version>/    pause, busybox, agnhost, nginx stand-in and sidecar
#                        image tarballs
#
# Anything already in the cache is kept; remove a directory to rebuild it.
# The driver's own binaries are rebuilt on every run into ${E2E_CACHE}/driver,
# and its image is the one `make image` builds from the root Dockerfile.
#
#   hack/e2e-build.sh            # everything
#   hack/e2e-build.sh cache      # only the cached, versioned parts
#   hack/e2e-build.sh driver     # only the driver binaries and image
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
source hack/e2e-versions.sh

log() { echo "e2e-build: $*" >&2; }
die() { echo "e2e-build: FAILED: $*" >&2; exit 1; }

mkdir -p "${E2E_CACHE}/logs" "${K8S_BIN}" "${SIDECAR_DIR}"
# Builds are long and the machine is shared: lower priority, logs to files.
NICE=(nice -n 10)

# run NAME CMD...: runs a build step with its output in a log file; on
# failure the log's tail says why.
run() {
	local name="$1"; shift
	local logf="${E2E_CACHE}/logs/${name}.log" start=${SECONDS}
	if ! "$@" >"${logf}" 2>&1; then
		tail -n 30 "${logf}" >&2
		die "${name} (full log: ${logf})"
	fi
	log "${name}: $(( SECONDS - start ))s"
}

# The cluster's runtime and the node tools come from Debian's packages.
E2E_PACKAGES=(containerd runc etcd-server etcd-client iptables conntrack socat
	containernetworking-plugins busybox-static openssl curl file
	e2fsprogs xfsprogs btrfs-progs util-linux mount udev)
install_packages() {
	local p missing=()
	for p in "${E2E_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "${p}" 2>/dev/null | grep -q "install ok installed" || missing+=("${p}")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] || die "packages missing and not root to install them: ${missing[*]}"
	log "apt-get install ${missing[*]}"
	local logf="${E2E_CACHE}/logs/apt.log"
	{ DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"${logf}" 2>&1 ||
		{ tail -n 20 "${logf}" >&2; die "apt-get install ${missing[*]} (full log: ${logf})"; }
}

k8s_ldflags() {
	local v="${K8S_VERSION}" minor
	minor="${v#v1.}"; minor="${minor%%.*}"
	local x=""
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		x+=" -X ${pkg}.gitVersion=${v} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean"
	done
	echo "-s -w${x}"
}

build_k8s() {
	local tools="${ROOT}/hack/e2e-tools" ld
	ld="$(k8s_ldflags)"
	grep -q "k8s.io/kubernetes ${K8S_VERSION}" "${tools}/go.mod" ||
		die "hack/e2e-tools/go.mod does not require k8s.io/kubernetes ${K8S_VERSION}"
	local c
	for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
		[ -x "${K8S_BIN}/${c}" ] && continue
		run "${c}" env -C "${tools}" CGO_ENABLED=0 "${NICE[@]}" go build -trimpath -ldflags "${ld}" \
			-o "${K8S_BIN}/${c}.tmp" "k8s.io/kubernetes/cmd/${c}"
		mv "${K8S_BIN}/${c}.tmp" "${K8S_BIN}/${c}"
	done
	if [ ! -x "${K8S_BIN}/agnhost" ]; then
		run agnhost env -C "${tools}" CGO_ENABLED=0 "${NICE[@]}" go build -trimpath -ldflags "${ld}" \
			-o "${K8S_BIN}/agnhost.tmp" k8s.io/kubernetes/test/images/agnhost
		mv "${K8S_BIN}/agnhost.tmp" "${K8S_BIN}/agnhost"
	fi
	# The ginkgo CLI runs e2e.test in parallel processes.
	if [ ! -x "${K8S_BIN}/ginkgo" ]; then
		run ginkgo env -C "${tools}" CGO_ENABLED=0 "${NICE[@]}" go build -trimpath -ldflags "-s -w" \
			-o "${K8S_BIN}/ginkgo.tmp" github.com/onsi/ginkgo/v2/ginkgo
		mv "${K8S_BIN}/ginkgo.tmp" "${K8S_BIN}/ginkgo"
	fi
	if [ ! -x "${K8S_BIN}/e2e.test" ]; then
		run e2e.test env -C "${tools}" CGO_ENABLED=0 "${NICE[@]}" go test -c -trimpath -ldflags "${ld}" \
			-o "${K8S_BIN}/e2e.test.tmp" k8s.io/kubernetes/test/e2e
		mv "${K8S_BIN}/e2e.test.tmp" "${K8S_BIN}/e2e.test"
	fi
}

# module_dir MODULE@VERSION: a writable copy of the module's source (their
# replace directives keep `go install` from building them in place).
module_dir() {
	local mod="$1" dst="${E2E_CACHE}/src/${1//\//_}" dir
	if [ ! -f "${dst}/go.mod" ]; then
		# Outside any module: the project's go.mod and go.sum stay untouched.
		dir="$(env -C "${E2E_CACHE}" go mod download -json "${mod}" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
		[ -n "${dir}" ] && [ -d "${dir}" ] || die "go mod download ${mod}: not served by the module proxy"
		rm -rf "${dst}.tmp"
		mkdir -p "$(dirname "${dst}")"
		cp -r "${dir}" "${dst}.tmp"
		chmod -R u+w "${dst}.tmp"
		mv "${dst}.tmp" "${dst}"
	fi
	echo "${dst}"
}

# build_sidecar NAME MODULE VERSION [PREPARE-FUNCTION]
build_sidecar() {
	local name="$1" mod="$2" ver="$3" prep="${4:-}"
	local out="${SIDECAR_DIR}/${name}-${ver}/${name}" src
	[ -x "${out}" ] && return 0
	src="$(module_dir "${mod}@${ver}")"
	[ -n "${prep}" ] && "${prep}" "${src}"
	mkdir -p "$(dirname "${out}")"
	run "${name}-${ver}" env -C "${src}" CGO_ENABLED=0 GOFLAGS=-mod=mod "${NICE[@]}" go build -trimpath \
		-ldflags "-s -w -X main.version=${ver}" -o "${out}.tmp" "./cmd/${name}"
	mv "${out}.tmp" "${out}"
}

# The snapshotter's go.mod points its client module at ./client, which the
# module zip does not carry: use the published client module instead.
snapshotter_prep() {
	env -C "$1" go mod edit \
		-dropreplace=github.com/kubernetes-csi/external-snapshotter/client/v8 \
		-require=github.com/kubernetes-csi/external-snapshotter/client/v8@"${SNAPSHOTTER_VERSION}"
}

build_sidecars() {
	build_sidecar csi-provisioner github.com/kubernetes-csi/external-provisioner/v6 "${PROVISIONER_VERSION}"
	build_sidecar csi-attacher github.com/kubernetes-csi/external-attacher/v4 "${ATTACHER_VERSION}"
	build_sidecar csi-resizer github.com/kubernetes-csi/external-resizer/v2 "${RESIZER_VERSION}"
	build_sidecar csi-snapshotter github.com/kubernetes-csi/external-snapshotter/v8 "${SNAPSHOTTER_VERSION}" snapshotter_prep
	build_sidecar snapshot-controller github.com/kubernetes-csi/external-snapshotter/v8 "${SNAPSHOTTER_VERSION}" snapshotter_prep
}

fetch_crds() {
	[ -f "${CRD_DIR}/.complete" ] && return 0
	local src
	src="$(module_dir "github.com/kubernetes-csi/external-snapshotter/client/v8@${SNAPSHOTTER_VERSION}")"
	mkdir -p "${CRD_DIR}"
	cp "${src}"/config/crd/*.yaml "${CRD_DIR}/"
	rm -f "${CRD_DIR}/kustomization.yaml"
	touch "${CRD_DIR}/.complete"
	log "CRDs: $(ls "${CRD_DIR}" | tr '\n' ' ')"
}

build_helm() {
	TOOLS_BIN="${TOOLS_BIN}" HELM_VERSION="${HELM_VERSION}" ./hack/install-tools.sh >/dev/null
}

IMAGE_TOOL="${E2E_CACHE}/bin/image"
build_image_tool() {
	mkdir -p "${E2E_CACHE}/bin"
	# Tiny; rebuilt so edits to the tool apply.
	env -C hack/e2e-tools/image CGO_ENABLED=0 go build -trimpath -o "${IMAGE_TOOL}" . ||
		die "building hack/e2e-tools/image"
	env -C hack/e2e-tools/image CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "${E2E_CACHE}/bin/pause" ./pause ||
		die "building the pause binary"
}

# busybox_links DIR: -link flags for every busybox applet under DIR.
busybox_links() {
	local a
	for a in $(/bin/busybox --list); do
		printf -- '-link\n%s/%s=/bin/busybox\n' "$1" "${a}"
	done
}

# Images every run shares: built once per version.
build_static_images() {
	local dir="${E2E_CACHE}/images/${K8S_VERSION}"
	mkdir -p "${dir}"
	[ -x /bin/busybox ] || die "/bin/busybox missing: apt-get install busybox-static"
	local -a bb
	mapfile -t bb < <(busybox_links /bin)
	[ "${PAUSE_IMAGE##*:}" = "$(e2e_image_tag Pause)" ] || die "PAUSE_IMAGE ${PAUSE_IMAGE} is not the pause e2e.test asks for"
	[ -f "${dir}/pause.tar" ] || "${IMAGE_TOOL}" -tag "${PAUSE_IMAGE}" -o "${dir}/pause.tar" \
		-file "${E2E_CACHE}/bin/pause=/pause" -entrypoint /pause
	# What e2e.test asks for (test/utils/image/manifest.go) under the local
	# registry of the repo list: busybox, agnhost, and busybox standing in
	# for nginx (the storage specs only need a long-running shell).
	local b
	for b in busybox:"$(e2e_image_tag BusyBox)" nginx:"$(e2e_image_tag Nginx)"; do
		[ -f "${dir}/${b%%:*}.tar" ] || "${IMAGE_TOOL}" -tag "${E2E_REGISTRY}/${b}" -o "${dir}/${b%%:*}.tar" \
			-file /bin/busybox "${bb[@]}" -dir /tmp=1777 -cmd /bin/sh
	done
	[ -f "${dir}/agnhost.tar" ] || "${IMAGE_TOOL}" -tag "${E2E_REGISTRY}/agnhost:$(e2e_image_tag Agnhost)" -o "${dir}/agnhost.tar" \
		-file "${K8S_BIN}/agnhost=/agnhost" -file /bin/busybox "${bb[@]}" -dir /tmp=1777 -entrypoint /agnhost
	local s v
	for s in csi-provisioner:"${PROVISIONER_VERSION}" csi-attacher:"${ATTACHER_VERSION}" \
		csi-resizer:"${RESIZER_VERSION}" csi-snapshotter:"${SNAPSHOTTER_VERSION}" \
		snapshot-controller:"${SNAPSHOTTER_VERSION}"; do
		v="${s#*:}"; s="${s%%:*}"
		[ -f "${dir}/${s}-${v}.tar" ] || "${IMAGE_TOOL}" -tag "${E2E_REGISTRY}/${s}:${v}" -o "${dir}/${s}-${v}.tar" \
			-file "${SIDECAR_DIR}/${s}-${v}/${s}=/${s}" -dir /tmp=1777 -entrypoint "/${s}"
	done
}

# e2e_image_tag CONFIG: the tag e2e.test asks for, by its name in
# test/utils/image/manifest.go (Agnhost, BusyBox, Nginx, Pause).
e2e_image_tag() {
	local tag
	tag="$(sed -n "s/.*configs\[$1\] = Config{[^,]*, \"[^\"]*\", \"\([^\"]*\)\"}.*/\1/p" \
		"$(go env GOMODCACHE)/k8s.io/kubernetes@${K8S_VERSION}/test/utils/image/manifest.go")"
	[ -n "${tag}" ] || die "no ${1} image in k8s.io/kubernetes@${K8S_VERSION}/test/utils/image/manifest.go"
	echo "${tag}"
}

# The driver's host-side binaries (the simulator runs on the host), and the
# image users deploy: the root Dockerfile as `make image` builds it. With
# E2E_IMAGE_ARCHIVE set (CI passes the one it just built) that archive is
# used as it is.
build_driver() {
	local out="${DRIVER_BUILD}"
	mkdir -p "${out}"
	# E2E_DRIVER_GOFLAGS: extra flags for this build only (e.g. -race, -overlay).
	# shellcheck disable=SC2086
	CGO_ENABLED=0 go build -trimpath ${E2E_DRIVER_GOFLAGS:-} -ldflags "-s -w -X main.version=${DRIVER_IMAGE_TAG}" \
		-o "${out}/" ./cmd/openblock-csi ./cmd/openblock-cloudsim || die "building the driver"
	local archive="${E2E_IMAGE_ARCHIVE:-}"
	if [ -z "${archive}" ]; then
		IMAGE_PLATFORMS="linux/$(go env GOHOSTARCH)" ./hack/image/build.sh >&2 || die "make image"
		archive="bin/openblock-csi-${DRIVER_IMAGE_TAG}-linux-$(go env GOHOSTARCH).oci.tar"
	fi
	[ -f "${archive}" ] || die "no image archive ${archive}"
	cp "${archive}" "${out}/openblock-csi.tar"
	log "driver image: ${archive} ($(du -h "${archive}" | cut -f1))"
}

what="${1:-all}"
case "${what}" in
cache)
	install_packages; build_k8s; build_sidecars; fetch_crds; build_helm; build_image_tool; build_static_images ;;
sidecars)
	build_sidecars; fetch_crds ;;
driver)
	install_packages; build_driver ;;
all)
	install_packages; build_k8s; build_sidecars; fetch_crds; build_helm; build_image_tool; build_static_images; build_driver ;;
*)
	die "usage: $0 [all|cache|driver]" ;;
esac
