// Package chart holds the tests of the Helm chart (charts/openblock-csi) and
// of the plain manifests rendered from it (deploy/kubernetes).
//
// They run the helm binary: $HELM, else helm on $PATH, else the one
// hack/install-tools.sh puts in ${TOOLS_BIN:-$HOME/.cache/openblock-csi/bin}.
// Without helm they skip and say so, unless REQUIRE_HELM is set (CI), in
// which case they fail.
//
// Regenerate the golden files and deploy/kubernetes after a chart change:
//
//	go test ./test/chart/ -update
package chart
