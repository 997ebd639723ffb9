#!/usr/bin/env bash
# A loopback-only, single-node Kubernetes cluster on this machine, with the
# cloud simulator as its cloud, for the end-to-end tests.
#
#   hack/e2e-cluster.sh up        build (cached) and start everything
#   hack/e2e-cluster.sh install   helm install the driver with the e2e values
#   hack/e2e-cluster.sh down      stop and remove everything `up` made, and
#                                 check the machine is as it was found
#   hack/e2e-cluster.sh status    what is running
#   hack/e2e-cluster.sh env       shell exports for kubectl and the tests
#
# BACKEND (default cinder-v2) picks the simulated cloud. Needs root: the
# kubelet, containerd and the simulator's loop devices do. Everything listens
# on 127.0.0.1; state lives in ${E2E_RUN}, binaries in ${E2E_CACHE}.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
source hack/e2e-versions.sh
source hack/e2e-pki.sh
source hack/e2e-teardown.sh

BACKEND="${BACKEND:-cinder-v2}"
CTR_SOCK="${E2E_RUN}/containerd/containerd.sock"
export PATH="${K8S_BIN}:${TOOLS_BIN}:${PATH}"

log() { echo "e2e-cluster: $*" >&2; }
die() { echo "e2e-cluster: FAILED: $*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "needs root (kubelet, containerd, loop devices)"; }

# start NAME CMD...: starts a daemon in its own session with its log in
# logs/NAME.log and its PID (and name, to recognise it later) in pids/NAME.
start() {
	local name="$1"; shift
	mkdir -p "${E2E_RUN}/logs" "${E2E_RUN}/pids"
	setsid "$@" >"${E2E_RUN}/logs/${name}.log" 2>&1 </dev/null &
	echo "$! $(basename "$1")" >"${E2E_RUN}/pids/${name}"
}

# wait_for WHAT SECONDS CMD...: retries CMD until it succeeds.
wait_for() {
	local what="$1" secs="$2"; shift 2
	local end=$(( SECONDS + secs ))
	until "$@" >/dev/null 2>&1; do
		[ ${SECONDS} -lt ${end} ] || die "${what} not ready after ${secs}s (logs: ${E2E_RUN}/logs)"
		sleep 1
	done
}

check_ports_free() {
	local p busy=""
	for p in 2379 2380 "${E2E_APISERVER_PORT}" 10248 10250 10257 10259 "${E2E_SIM_ADDR##*:}"; do
		ss -Hltn "sport = :${p}" | grep -q . && busy+=" ${p}"
	done
	[ -z "${busy}" ] || die "ports in use:${busy} (another cluster or an earlier run: hack/e2e-cluster.sh down)"
}

start_etcd() {
	mkdir -p "${E2E_RUN}/etcd"
	start etcd etcd --name e2e --data-dir "${E2E_RUN}/etcd" \
		--listen-client-urls "${E2E_ETCD_CLIENT}" --advertise-client-urls "${E2E_ETCD_CLIENT}" \
		--listen-peer-urls "${E2E_ETCD_PEER}" --initial-advertise-peer-urls "${E2E_ETCD_PEER}" \
		--initial-cluster "e2e=${E2E_ETCD_PEER}"
	wait_for etcd 60 curl -fsS "${E2E_ETCD_CLIENT}/health"
}

start_containerd() {
	local d="${E2E_RUN}/containerd"
	mkdir -p "${d}/root" "${d}/state" "${E2E_RUN}/cni/net.d" "${E2E_RUN}/cni/ipam" "${E2E_RUN}/runc"
	cat >"${d}/config.toml" <<EOF
version = 2
root = "${d}/root"
state = "${d}/state"
[grpc]
  address = "${CTR_SOCK}"
[plugins."io.containerd.internal.v1.opt"]
  path = "${d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails with
  # "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${E2E_RUN}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${E2E_RUN}/cni/net.d"
EOF
	# No gateway and no masquerading: pods talk to nothing outside the node,
	# so the host's forwarding and NAT stay untouched. The node's address on
	# the bridge is kept out of the pods' range.
	cat >"${E2E_RUN}/cni/net.d/10-e2e.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "${E2E_BRIDGE}",
      "isGateway": false,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "${E2E_POD_CIDR}", "gateway": "${E2E_NODE_IP}"}]],
        "dataDir": "${E2E_RUN}/cni/ipam"
      }
    }
  ]
}
EOF
	# The bridge exists before any pod, with the node's address on it.
	ip link add "${E2E_BRIDGE}" type bridge
	ip addr add "${E2E_NODE_IP}/${E2E_POD_CIDR#*/}" dev "${E2E_BRIDGE}"
	ip link set "${E2E_BRIDGE}" up
	# containerd, its shims and the containers run in a PID and mount
	# namespace of their own whose PID 1 is a small init (the pause binary,
	# it reaps orphaned shims). "Host PID" pods see that init as PID 1: the
	# upstream suite's host-exec helper enters PID 1's mount namespace, which
	# this machine's own init refuses (it holds a capability root here lacks).
	# Stopping the namespace's init ends every process in it, and its mounts
	# (rootfs, shm, network namespaces) go with it. /proc is private to it;
	# every other mount keeps its propagation, so the shared kubelet dir is
	# shared with the host.
	start containerd unshare --pid --fork --mount-proc --propagation unchanged --kill-child \
		sh -c 'containerd --config "$1" & exec "$2"' sh "${d}/config.toml" "${E2E_CACHE}/bin/pause"
	wait_for containerd 60 ctr -a "${CTR_SOCK}" version
}

import_images() {
	local t
	for t in "${E2E_CACHE}/images/${K8S_VERSION}"/*.tar "${DRIVER_BUILD}/openblock-csi.tar"; do
		ctr -a "${CTR_SOCK}" -n k8s.io images import --no-unpack=false "${t}" >/dev/null ||
			die "importing ${t}"
	done
	log "images: $(ctr -a "${CTR_SOCK}" -n k8s.io images ls -q | grep -c .) imported"
}

start_control_plane() {
	local pki="${E2E_RUN}/pki"
	start kube-apiserver kube-apiserver \
		--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="${E2E_APISERVER_PORT}" \
		--etcd-servers="${E2E_ETCD_CLIENT}" \
		--tls-cert-file="${pki}/apiserver.crt" --tls-private-key-file="${pki}/apiserver.key" \
		--client-ca-file="${pki}/ca.crt" \
		--kubelet-client-certificate="${pki}/apiserver-kubelet.crt" --kubelet-client-key="${pki}/apiserver-kubelet.key" \
		--kubelet-preferred-address-types=Hostname \
		--service-account-issuer=https://kubernetes.default.svc \
		--service-account-key-file="${pki}/sa.pub" --service-account-signing-key-file="${pki}/sa.key" \
		--service-cluster-ip-range="${E2E_SERVICE_CIDR}" \
		--authorization-mode=Node,RBAC --allow-privileged=true \
		--endpoint-reconciler-type=none --profiling=false
	wait_for kube-apiserver 120 kubectl --kubeconfig "${E2E_RUN}/admin.kubeconfig" get --raw /readyz
	start kube-controller-manager kube-controller-manager \
		--kubeconfig="${E2E_RUN}/controller-manager.kubeconfig" \
		--authentication-kubeconfig="${E2E_RUN}/controller-manager.kubeconfig" \
		--authorization-kubeconfig="${E2E_RUN}/controller-manager.kubeconfig" \
		--bind-address=127.0.0.1 --leader-elect=false \
		--service-account-private-key-file="${pki}/sa.key" --root-ca-file="${pki}/ca.crt" \
		--use-service-account-credentials=true --profiling=false
	start kube-scheduler kube-scheduler \
		--kubeconfig="${E2E_RUN}/scheduler.kubeconfig" \
		--authentication-kubeconfig="${E2E_RUN}/scheduler.kubeconfig" \
		--authorization-kubeconfig="${E2E_RUN}/scheduler.kubeconfig" \
		--bind-address=127.0.0.1 --leader-elect=false --profiling=false
}

install_snapshot_crds() {
	kubectl apply --server-side -f "${CRD_DIR}" >/dev/null || die "applying the snapshot CRDs"
	kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
	start snapshot-controller "${SIDECAR_DIR}/snapshot-controller-${SNAPSHOTTER_VERSION}/snapshot-controller" \
		--kubeconfig="${E2E_RUN}/snapshot-controller.kubeconfig" --leader-election=false --v=2
}

# The node plugin mounts with Bidirectional propagation: the kubelet's root
# must be a shared mount (/ here is private), before containerd's mount
# namespace is made so that it is shared there too.
share_kubelet_dir() {
	mkdir -p "${KUBELET_DIR}"
	mount --bind "${KUBELET_DIR}" "${KUBELET_DIR}"
	mount --make-rshared "${KUBELET_DIR}"
}

start_kubelet() {
	local pki="${E2E_RUN}/pki"
	mkdir -p "${E2E_RUN}/kubelet-pki" "${E2E_RUN}/pod-logs" "${E2E_RUN}/volume-plugins"
	cat >"${E2E_RUN}/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://${CTR_SOCK}
podLogsDir: ${E2E_RUN}/pod-logs
volumePluginDir: ${E2E_RUN}/volume-plugins
tlsCertFile: ${pki}/kubelet-serving.crt
tlsPrivateKeyFile: ${pki}/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${pki}/ca.crt}
authorization: {mode: Webhook}
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 250
EOF
	# The kubelet adds iptables "canary" chains when it finds iptables; the
	# cluster needs none (no kube-proxy, no NAT), so it runs with a PATH
	# without iptables and the host's firewall stays as it was.
	local bin="${E2E_RUN}/kubelet-path" d f
	mkdir -p "${bin}"
	for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
		for f in "${d}"/*; do
			case "${f##*/}" in iptables* | ip6tables* | arptables* | ebtables* | xtables*) continue ;; esac
			[ -x "${f}" ] && [ ! -e "${bin}/${f##*/}" ] && ln -s "${f}" "${bin}/${f##*/}"
		done
	done
	(
		export PATH="${bin}"
		start kubelet "${K8S_BIN}/kubelet" --config="${E2E_RUN}/kubelet.yaml" --kubeconfig="${E2E_RUN}/kubelet.kubeconfig" \
			--hostname-override="${E2E_NODE_NAME}" --node-ip="${E2E_NODE_IP}" --cert-dir="${E2E_RUN}/kubelet-pki" --v=2
	)
	wait_for "node ${E2E_NODE_NAME}" 120 kubectl get node "${E2E_NODE_NAME}"
	kubectl wait --for=condition=Ready "node/${E2E_NODE_NAME}" --timeout=120s >/dev/null ||
		die "node not Ready (logs: ${E2E_RUN}/logs/kubelet.log)"
	# The default ServiceAccount must exist before pods can be made.
	wait_for "default ServiceAccount" 60 kubectl -n default get serviceaccount default
}

# backend_env: BACKEND's profile, zone and cloud config, from test/harness.
backend_env() {
	go run ./test/e2e/cloudconf -backend "${BACKEND}" -url "http://${E2E_SIM_ADDR}" -out "${E2E_RUN}/cloud.conf" \
		>"${E2E_RUN}/backend.env" || die "unknown backend ${BACKEND}"
	# shellcheck disable=SC1091
	source "${E2E_RUN}/backend.env"
}

start_sim() {
	backend_env
	mkdir -p "${E2E_RUN}/sim" "${E2E_RUN}/by-id"
	# A cloud with multi-attach gets its operator's multi-attach type.
	local multi=()
	if [ -n "${MULTIATTACH_TYPE:-}" ]; then
		multi=(--multiattach-type "${MULTIATTACH_TYPE}")
	fi
	start cloudsim "${DRIVER_BUILD}/openblock-cloudsim" --listen "${E2E_SIM_ADDR}" \
		--state-dir "${E2E_RUN}/sim" --by-id-dir "${E2E_RUN}/by-id" \
		--local-server-id "${SERVER_ID}" --server "${SERVER_ID}:${ZONE}:${E2E_NODE_NAME}" \
		--profile "${PROFILE}" --timing fast "${multi[@]}"
	wait_for cloudsim 30 curl -fsS "http://${E2E_SIM_ADDR}/_sim/state"
	log "simulator: ${BACKEND} (profile ${PROFILE}, zone ${ZONE}) on ${E2E_SIM_ADDR}"
}

up() {
	need_root
	if [ -d "${E2E_RUN}" ]; then
		die "${E2E_RUN} exists: a cluster is up or an earlier run failed; run: hack/e2e-cluster.sh down"
	fi
	check_ports_free
	if [ -z "${E2E_SKIP_BUILD:-}" ]; then
		./hack/e2e-build.sh all
	fi
	local t0=${SECONDS}
	mkdir -p "${E2E_RUN}"
	record_before
	# From here a failure leaves things for `down` to clean: say so.
	trap 'log "up failed; clean up with: hack/e2e-cluster.sh down"' ERR
	make_pki
	export KUBECONFIG="${E2E_RUN}/admin.kubeconfig"
	start_etcd
	share_kubelet_dir
	start_containerd
	import_images
	start_control_plane
	start_kubelet
	install_snapshot_crds
	start_sim
	write_env
	log "up in $(( SECONDS - t0 ))s: export KUBECONFIG=${KUBECONFIG}"
}

write_env() {
	cat >"${E2E_RUN}/env" <<EOF
export KUBECONFIG=${E2E_RUN}/admin.kubeconfig
export PATH=${K8S_BIN}:${TOOLS_BIN}:\$PATH
export E2E_RUN=${E2E_RUN}
export E2E_BACKEND=${BACKEND}
export E2E_SIM_URL=http://${E2E_SIM_ADDR}
export E2E_DRIVER_NAMESPACE=${E2E_DRIVER_NAMESPACE}
export E2E_DRIVER_RELEASE=${E2E_DRIVER_RELEASE}
EOF
}

# values: the chart's values for this environment.
write_values() {
	# shellcheck disable=SC1091
	source "${E2E_RUN}/backend.env"
	# A class of the cloud's multi-attach type, for shared raw block claims.
	local shared=""
	if [ -n "${MULTIATTACH_TYPE:-}" ]; then
		shared="  - name: openblock-shared-block
    reclaimPolicy: Delete
    volumeBindingMode: WaitForFirstConsumer
    parameters: {type: ${MULTIATTACH_TYPE}}"
	fi
	cat >"${E2E_RUN}/values-e2e.yaml" <<EOF
image:
  repository: ${DRIVER_IMAGE_REPO}
  tag: ${DRIVER_IMAGE_TAG}
  pullPolicy: Never
logLevel: 4
kubeconfig:
  enabled: true
  hostPath: ${E2E_RUN}/driver-controller.kubeconfig
controller:
  replicas: 1
  # It reaches the API server and the simulator on 127.0.0.1. As a
  # hostNetwork pod its address (probed by the kubelet) is the node's:
  # its endpoints listen there, on the pod bridge, not on every address.
  hostNetwork: true
  metricsPort: 18080
  extraArgs: [--http-endpoint=${E2E_NODE_IP}:18080]
node:
  # The node plugin needs no network: it stays in the pod network.
  hostNetwork: false
  byIdDir: ${E2E_RUN}/by-id
  zone: ${ZONE}
  # The simulated server takes 26 volumes, as the cloud's do.
  extraArgs: [--node-id=${SERVER_ID}, --metadata-url=-, --max-volumes-per-node=26]
  registrar:
    useBuiltin: true
sidecars:
  provisioner:
    image: {repository: ${E2E_REGISTRY}/csi-provisioner, tag: ${PROVISIONER_VERSION}, pullPolicy: Never}
    httpPort: 18090
    extraArgs: [--http-endpoint=${E2E_NODE_IP}:18090]
  attacher:
    image: {repository: ${E2E_REGISTRY}/csi-attacher, tag: ${ATTACHER_VERSION}, pullPolicy: Never}
    httpPort: 18091
    extraArgs: [--http-endpoint=${E2E_NODE_IP}:18091]
  resizer:
    image: {repository: ${E2E_REGISTRY}/csi-resizer, tag: ${RESIZER_VERSION}, pullPolicy: Never}
    httpPort: 18092
    # ModifyVolume for a PVC's VolumeAttributesClass (GA, on by default;
    # named so the scenario's dependency is explicit).
    extraArgs: [--http-endpoint=${E2E_NODE_IP}:18092, --feature-gates=VolumeAttributesClass=true]
  snapshotter:
    image: {repository: ${E2E_REGISTRY}/csi-snapshotter, tag: ${SNAPSHOTTER_VERSION}, pullPolicy: Never}
    httpPort: 18093
    extraArgs: [--http-endpoint=${E2E_NODE_IP}:18093]
  # Not served by the module proxy: the kubelet probes the driver's /healthz.
  livenessProbe:
    enabled: false
storageClasses:
  - name: openblock-standard
    reclaimPolicy: Delete
    volumeBindingMode: WaitForFirstConsumer
    allowVolumeExpansion: true
    parameters:
      csi.storage.k8s.io/fstype: ext4
  - name: openblock-xfs
    reclaimPolicy: Delete
    volumeBindingMode: WaitForFirstConsumer
    allowVolumeExpansion: true
    parameters:
      csi.storage.k8s.io/fstype: xfs
  - name: openblock-topology
    reclaimPolicy: Delete
    volumeBindingMode: WaitForFirstConsumer
    allowVolumeExpansion: true
    parameters: {}
    allowedTopologies:
      - matchLabelExpressions:
          - key: topology.block.csi.openblock.io/zone
            values: [${ZONE}]
${shared}
volumeSnapshotClasses:
  classes:
    - name: openblock-snapshot
      deletionPolicy: Delete
      parameters: {type: snapshot}
    - name: openblock-backup
      deletionPolicy: Delete
      parameters: {type: backup}
EOF
}

install_driver() {
	need_root
	[ -f "${E2E_RUN}/env" ] || die "the cluster is not up"
	# shellcheck disable=SC1091
	source "${E2E_RUN}/env"
	write_values
	local chart="${ROOT}/charts/openblock-csi" ns="${E2E_DRIVER_NAMESPACE}"
	# The objects must pass the real API server's strict validation.
	# Hooks (the `helm test` pod) are left out: `helm install` does not
	# create them, and they need their ServiceAccount to exist.
	helm template "${E2E_DRIVER_RELEASE}" "${chart}" -n "${ns}" -f "${E2E_RUN}/values-e2e.yaml" --no-hooks \
		--api-versions snapshot.storage.k8s.io/v1 >"${E2E_RUN}/chart-rendered.yaml" || die "helm template"
	kubectl apply --dry-run=server --validate=strict -f "${E2E_RUN}/chart-rendered.yaml" >"${E2E_RUN}/logs/dry-run.log" 2>&1 ||
		{ cat "${E2E_RUN}/logs/dry-run.log" >&2; die "the chart's objects fail server-side strict validation"; }
	log "chart: $(grep -c . "${E2E_RUN}/logs/dry-run.log") objects pass kubectl apply --dry-run=server --validate=strict"
	# As a user does: the cloud config Secret first, then the chart.
	kubectl -n "${ns}" create secret generic openblock-csi-cloud-config \
		--from-file=cloud.conf="${E2E_RUN}/cloud.conf" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
	helm upgrade --install "${E2E_DRIVER_RELEASE}" "${chart}" -n "${ns}" -f "${E2E_RUN}/values-e2e.yaml" \
		--wait --timeout 5m >"${E2E_RUN}/logs/helm.log" 2>&1 ||
		{ cat "${E2E_RUN}/logs/helm.log" >&2; kubectl -n "${ns}" get pods -o wide >&2 || true; die "helm install"; }
	wait_for "CSINode registration" 120 sh -c \
		"kubectl get csinode ${E2E_NODE_NAME} -o jsonpath='{.spec.drivers[*].name}' | grep -q block.csi.openblock.io"
	log "driver installed with helm (release ${E2E_DRIVER_RELEASE} in ${ns}), registered on node ${E2E_NODE_NAME}"
}

status() {
	local f pid name
	for f in "${E2E_RUN}"/pids/*; do
		[ -f "${f}" ] || continue
		read -r pid name <"${f}"
		if pid_is "${pid}" "${name}"; then echo "running  $(basename "${f}") pid ${pid}"; else echo "stopped  $(basename "${f}")"; fi
	done
}

case "${1:-}" in
up) up ;;
install) install_driver ;;
down) need_root; down ;;
status) status ;;
env) [ -f "${E2E_RUN}/env" ] && cat "${E2E_RUN}/env" || die "the cluster is not up" ;;
*) echo "usage: $0 up|install|down|status|env" >&2; exit 2 ;;
esac
