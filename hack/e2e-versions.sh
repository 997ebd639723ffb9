# Versions and paths of the end-to-end environment; sourced by the other
# hack/e2e-*.sh scripts. Everything built is cached under E2E_CACHE, keyed by
# version, outside the checkout.

E2E_CACHE="${E2E_CACHE:-/var/cache/openblock-csi-e2e}"
# The run directory: cluster state (PKI, etcd data, logs, PIDs). It lives
# outside the checkout and is removed by `hack/e2e-cluster.sh down`.
E2E_RUN="${E2E_RUN:-/var/lib/openblock-csi-e2e}"

K8S_VERSION="${K8S_VERSION:-v1.35.4}"
K8S_STAGING_VERSION="v0.${K8S_VERSION#v1.}"
PROVISIONER_VERSION="${PROVISIONER_VERSION:-v6.3.0}"
ATTACHER_VERSION="${ATTACHER_VERSION:-v4.13.0}"
RESIZER_VERSION="${RESIZER_VERSION:-v2.3.0}"
SNAPSHOTTER_VERSION="${SNAPSHOTTER_VERSION:-v8.7.0}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"

K8S_BIN="${E2E_CACHE}/k8s-${K8S_VERSION}/bin"
SIDECAR_DIR="${E2E_CACHE}/sidecars"
# The driver and simulator binaries and the driver image, rebuilt every run.
DRIVER_BUILD="${E2E_CACHE}/driver"
CRD_DIR="${E2E_CACHE}/crds/snapshotter-${SNAPSHOTTER_VERSION}"
TOOLS_BIN="${TOOLS_BIN:-${HOME}/.cache/openblock-csi/bin}"

# Local image names. The repo list makes e2e.test ask for these instead of
# public registries; the chart gets them through its values.
E2E_REGISTRY="localhost/openblock-e2e"
PAUSE_IMAGE="${E2E_REGISTRY}/pause:3.10.1"
# The driver's image is named as `make image` names it.
DRIVER_IMAGE_REPO="localhost/openblock-csi"
DRIVER_IMAGE_TAG="$(cat "$(dirname "${BASH_SOURCE[0]}")/../VERSION")"

# Loopback-only addresses.
E2E_APISERVER_PORT=6443
E2E_ETCD_CLIENT="http://127.0.0.1:2379"
E2E_ETCD_PEER="http://127.0.0.1:2380"
E2E_SIM_ADDR="127.0.0.1:8776"
E2E_POD_CIDR="10.88.0.0/16"
# The node's address: the pod bridge's, on this machine only. The kubelet
# refuses a loopback node IP, and hostNetwork pods (the controller) get the
# node IP as theirs, so their probed endpoints listen there.
E2E_BRIDGE=cni0
E2E_NODE_IP="10.88.0.1"
E2E_SERVICE_CIDR="10.0.0.0/24"
E2E_NODE_NAME="localhost"

KUBELET_DIR=/var/lib/kubelet

# The driver's Helm release.
E2E_DRIVER_NAMESPACE=kube-system
E2E_DRIVER_RELEASE=openblock-csi
