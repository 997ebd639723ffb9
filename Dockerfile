# syntax=docker/dockerfile:1
#
# The openblock-csi image: the driver binary plus the tools the node plugin
# runs on the host's block devices (mkfs/fsck/resize for ext4, xfs and btrfs,
# blkid, udevadm, mount). One image serves the controller (non-root) and the
# node plugin (the Helm chart runs that container privileged as root).
#
# Size target: under 120 MB uncompressed — debian:bookworm-slim ~75 MB, the
# xfs/btrfs/udev tools and their libraries ~15 MB once the parts below are
# trimmed, the stripped static binary ~15-25 MB. Check with
#   docker build -t openblock-csi:dev . && docker image ls openblock-csi:dev
#
# Build arguments: VERSION (reported by the binary), GO_VERSION.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS builder
WORKDIR /src
# Modules first, so source edits do not refetch them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/openblock-csi ./cmd/openblock-csi

FROM debian:bookworm-slim
# e2fsprogs: mkfs.ext4, e2fsck, resize2fs, tune2fs
# xfsprogs: mkfs.xfs, xfs_repair, xfs_growfs, xfs_admin
# btrfs-progs: mkfs.btrfs, btrfs filesystem resize
# util-linux: blkid, blockdev, lsblk, findmnt; mount: mount, umount
# udev: udevadm trigger/settle for the disk's by-id link
#
# xfsprogs depends on python3 and ICU only for xfs_scrub/xfs_scrub_all, which
# the driver never runs: it is installed without them (about 60 MB less),
# with the libraries mkfs.xfs, xfs_growfs and xfs_io do link. udev's hardware
# database goes too: udevadm needs none to trigger and settle. dpkg therefore
# records xfsprogs' python3 dependency as unmet; images built FROM this one
# that use apt-get must expect that.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      e2fsprogs \
      btrfs-progs \
      util-linux \
      mount \
      udev \
      libinih1 liburcu8 libdevmapper1.02.1 libedit2 \
 && cd /tmp \
 && apt-get download xfsprogs \
 && dpkg --force-depends --install xfsprogs_*.deb \
 && rm -f xfsprogs_*.deb /usr/sbin/xfs_scrub /usr/sbin/xfs_scrub_all \
 && rm -rf /lib/udev/hwdb.d /usr/lib/udev/hwdb.d /etc/udev/hwdb.bin \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/* \
      /usr/share/doc/* /usr/share/man/* /usr/share/locale/* /usr/share/info/* \
 && mkfs.ext4 -V && mkfs.xfs -V && xfs_growfs -V && mkfs.btrfs --version \
 && blkid -V && udevadm --version

COPY --from=builder /out/openblock-csi /usr/local/bin/openblock-csi

LABEL org.opencontainers.image.title="openblock-csi" \
      org.opencontainers.image.description="CSI driver for cloud block storage (NHN Cloud, OpenStack Cinder, Lunanode)" \
      org.opencontainers.image.source="https://github.com/openblock-csi/openblock-csi"

# Non-root by default; the node DaemonSet overrides this with runAsUser: 0.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/openblock-csi"]
