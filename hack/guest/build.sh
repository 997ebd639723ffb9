#!/usr/bin/env bash
# Builds the guest that `make guest-test` boots under QEMU: Debian's cloud
# kernel and an initramfs root made from Debian packages (busybox, a real
# systemd-udevd with the persistent-storage rules and scsi_id, the node tools
# the image ships, the module subset of modules.txt). The project's own
# binaries are not in it: pkg/cloudsim/guest appends them at boot as a
# second initramfs archive, so a rebuilt driver needs no rebuilt guest.
#
# The result is cached outside the checkout, keyed by a hash of the inputs
# (this directory, the image's tool and package lists, the packages'
# versions): ${GUEST_CACHE:-/var/cache/openblock-csi-guest}/<key>/{vmlinuz,initrd.img}
# and the link <cache>/current. Nothing goes into the host's /boot. Prints
# the guest's directory last. qemu-system-x86 is installed when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
CACHE="${GUEST_CACHE:-/var/cache/openblock-csi-guest}"
log() { echo "guest: $*" >&2; }
die() { echo "guest: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (apt-get for qemu-system-x86)"
if ! command -v qemu-system-x86_64 >/dev/null; then
	log "apt-get install qemu-system-x86"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		-o DPkg::Lock::Timeout=600 qemu-system-x86 >/dev/null ||
		die "apt-get install qemu-system-x86"
fi

list() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$@"; }
kernel_pkg="$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}')"
[ -n "${kernel_pkg}" ] || die "no kernel package behind linux-image-cloud-amd64 (apt-get update?)"
pkgs=($(list "${root}/hack/image/packages.txt") busybox-static kmod "${kernel_pkg}")
# What decides the result: the recipe files and each package's version.
versions="$(apt-cache policy "${pkgs[@]}" | awk '/^[^ ]/{p=$1} /Candidate:/{print p, $2}')"
key="$( { cat "${here}/build.sh" "${here}/init" "${here}/guest-tools.txt" "${here}/modules.txt" \
	"${root}/hack/image/node-tools.txt" "${root}/hack/image/packages.txt"; echo "${versions}"; } |
	sha256sum | cut -c1-16)"
out="${CACHE}/${key}"
if [ -f "${out}/initrd.img" ] && [ -f "${out}/vmlinuz" ]; then
	ln -sfn "${key}" "${CACHE}/current"
	log "cached: ${out}"
	echo "${out}"
	exit 0
fi

mkdir -p "${CACHE}/debs"
work="$(mktemp -d "${CACHE}/build.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
log "downloading ${#pkgs[@]} packages"
(cd "${CACHE}/debs" && apt-get download -q -o APT::Sandbox::User=root "${pkgs[@]}" >/dev/null) || die "apt-get download"
sysroot="${work}/sysroot"
mkdir -p "${sysroot}"
for p in "${pkgs[@]}"; do
	deb="$(ls -t "${CACHE}/debs/${p}"_*.deb | head -1)"
	dpkg-deb -x "${deb}" "${sysroot}"
done
kver="${kernel_pkg#linux-image-}"
[ -f "${sysroot}/boot/vmlinuz-${kver}" ] || die "no vmlinuz-${kver} in ${kernel_pkg}"

# The root: every program with what it loads (imagetool, as the image does).
rootfs="${work}/rootfs"
CGO_ENABLED=0 go build -C "${root}" -o "${work}/imagetool" ./hack/image/imagetool
list "${root}/hack/image/node-tools.txt" "${here}/guest-tools.txt" >"${work}/tools.txt"
echo busybox >>"${work}/tools.txt"
rules=()
for r in 50-udev-default 60-block 60-persistent-storage 80-drivers; do
	rules+=(-file "/lib/udev/rules.d/${r}.rules")
done
"${work}/imagetool" rootfs -sysroot "${sysroot}" -out "${rootfs}" -tools "${work}/tools.txt" \
	-file /etc/mke2fs.conf "${rules[@]}"

# The module subset with its dependencies, indexed by the unpacked kmod
# (the package ships no index; the host may have no kmod).
ln -s "${sysroot}/bin/kmod" "${work}/depmod"
"${work}/depmod" -b "${sysroot}" "${kver}"
mods="${sysroot}/lib/modules/${kver}"
declare -A want=()
add() {
	local rel="$1" dep
	[ -n "${want[${rel}]:-}" ] && return
	want[${rel}]=1
	for dep in $(awk -F': ' -v m="${rel}" '$1==m{print $2}' "${mods}/modules.dep"); do add "${dep}"; done
}
for m in $(list "${here}/modules.txt"); do
	rel="$(awk -F: -v m="${m}" '{n=$1; sub(/.*\//,"",n); sub(/\.ko.*/,"",n); gsub(/-/,"_",n)} n==m{print $1; exit}' "${mods}/modules.dep")"
	if [ -z "${rel}" ]; then
		grep -q "/${m//_/[_-]}\.ko" "${mods}/modules.builtin" || die "module ${m}: neither a module nor built in"
		continue
	fi
	add "${rel}"
done
gmods="${rootfs}/usr/lib/modules/${kver}"
for rel in "${!want[@]}"; do
	install -D -m 0644 "${mods}/${rel}" "${gmods}/${rel}"
done
cp "${mods}"/modules.{order,builtin,builtin.modinfo} "${gmods}/"
"${work}/depmod" -b "${rootfs}" "${kver}"

install -m 0755 "${here}/init" "${rootfs}/init"
list "${here}/modules.txt" >"${rootfs}/etc/guest-modules"
mkdir -p "${rootfs}"/{etc/udev,run,tmp,proc,sys,dev,mnt,var/lib/kubelet}
printf 'root:x:0:0:root:/root:/bin/sh\n' >"${rootfs}/etc/passwd"
printf 'root:x:0:\ndisk:x:6:\n' >"${rootfs}/etc/group"
: >"${rootfs}/etc/fstab"

mkdir -p "${work}/out"
# The guest's own busybox-static writes the archive: the host may have no
# cpio (a fresh machine has neither cpio nor busybox).
(cd "${rootfs}" && find . | LC_ALL=C sort | "${sysroot}/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -6) >"${work}/out/initrd.img"
cp "${sysroot}/boot/vmlinuz-${kver}" "${work}/out/vmlinuz"
echo "${kver}" >"${work}/out/kernel-version"
echo "${versions}" >"${work}/out/packages"
rm -rf "${out}"
mv "${work}/out" "${out}"
ln -sfn "${key}" "${CACHE}/current"
log "built ${out}: $(du -h "${out}/initrd.img" | cut -f1) initramfs, kernel ${kver}"
echo "${out}"
