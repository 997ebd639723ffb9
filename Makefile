# openblock-csi — the contract commands (see README.md).
SHELL := /bin/bash
GO ?= go
BACKEND ?= cinder-v2
BIN := bin
# The release version (the file VERSION): what the binary reports, the
# image's version label and the chart's appVersion.
VERSION ?= $(shell cat VERSION)
LDFLAGS := -s -w -X main.version=$(VERSION)
TOOLS_BIN ?= $(HOME)/.cache/openblock-csi/bin
# mkfs.*, blkid, losetup, e2fsck and the like live in the sbin directories,
# which a non-root user's PATH lacks (Debian): without them the tests that
# format image files would skip for want of tools that are installed.
export PATH := $(TOOLS_BIN):$(PATH):/usr/local/sbin:/usr/sbin:/sbin
SOAK_MINUTES ?= 2
# SOAK_SEED reruns a soak's random choices (0: from the clock; printed either way).
SOAK_SEED ?= 0
FUZZTIME ?= 30s

.PHONY: all build test demo sanity bench bench-scale bench-peer soak fuzz lint tools clean e2e image tempest guest-test

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

tools:
	./hack/install-tools.sh

# Unit, integration, chart and sanity tests. Root-only tests skip cleanly
# (saying why) when not run as root.
# The Dockerfile built with buildah (vfs, chroot; as root) into
# bin/openblock-csi-$(VERSION)-linux-ARCH.oci.tar for linux/amd64 and
# linux/arm64 (IMAGE_PLATFORMS to choose). test/image checks the archives.
image:
	VERSION=$(VERSION) ./hack/image/build.sh

test: build
	OPENBLOCK_CSI_BINARY=$(CURDIR)/$(BIN)/openblock-csi $(GO) test -count=1 -timeout 25m ./...

demo: build
	$(GO) run ./test/demo --backend $(BACKEND) --driver $(BIN)/openblock-csi

sanity:
	./hack/sanity.sh $(BACKENDS)

# OpenStack Tempest's volume API tests against the simulator: Cinder v3 on
# the generic profile, v2 on nhn (TEMPEST_RUNS to choose). See hack/tempest.sh.
tempest:
	./hack/tempest.sh

bench: build
	$(GO) run ./test/bench --driver $(BIN)/openblock-csi

# 1,000 volumes over 100 nodes in a project of 10,000 more, and a paged
# ListVolumes over all of them (test/bench, scenario scale).
bench-scale: build
	$(GO) run ./test/bench --driver $(BIN)/openblock-csi --scenarios scale

# The lifecycle side by side with cloud-provider-openstack's cinder-csi-plugin
# (pinned in hack/peer-build.sh, built from the Go module proxy once and
# cached in PEER_CACHE): 30 volumes at once over 3 servers, Cinder v3 on the
# generic profile, on the fast and the realistic timing.
PEER_CACHE ?= /var/cache/openblock-csi-peer
bench-peer: build
	peer=$$(PEER_CACHE=$(PEER_CACHE) ./hack/peer-build.sh) && \
	$(GO) run ./test/bench --driver $(BIN)/openblock-csi --peer "$$peer" --backend cinder-v3 --volumes 30 --volumes-per-node 10

soak: build
	OPENBLOCK_CSI_BINARY=$(CURDIR)/$(BIN)/openblock-csi $(GO) test -count=1 -timeout $$(( $(SOAK_MINUTES) * 2 + 10 ))m ./test/soak -run TestSoak -soak.minutes=$(SOAK_MINUTES) -soak.seed=$(SOAK_SEED) -v

fuzz:
	./hack/fuzz.sh $(FUZZTIME)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@$(GO) vet ./...
	@$(GO) run ./hack/sizes pkg/driver pkg/node pkg/cloud pkg/cloudsim
	@$(GO) run ./hack/layering
	@./hack/helm-lint.sh

# End-to-end, as root: a loopback-only single-node Kubernetes on this machine
# (built from the Go module proxy, cached in E2E_CACHE, default
# /var/cache/openblock-csi-e2e),
# the driver installed with its Helm chart, the upstream External Storage
# suite and the scenarios of test/e2e, per backend. See hack/e2e.sh.
E2E_BACKENDS ?= cinder-v2
e2e:
	BACKENDS="$(E2E_BACKENDS)" ./hack/e2e.sh

clean:
	rm -rf $(BIN)

# The node plugin in a real guest kernel (QEMU TCG, as root): disks the
# simulated cloud hot-plugs, found by udev, grown online, pulled. Builds the
# guest first (hack/guest/build.sh, cached in GUEST_CACHE, default
# /var/cache/openblock-csi-guest). One line per backend/bus; GUEST_SETS
# chooses (e.g. "cinder-v2/virtio-blk cinder-v3/virtio-blk").
guest-test: build
	./hack/guest/test.sh
