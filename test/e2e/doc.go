// Package e2e holds the project's end-to-end scenarios: the driver installed
// with its Helm chart on a real single-node cluster (hack/e2e-cluster.sh),
// with the cloud simulator as the cloud. The tests talk to the API server
// through kubectl and to the simulator's /_sim/state, and skip unless
// -e2e.cluster is given:
//
//	hack/e2e-cluster.sh up && hack/e2e-cluster.sh install
//	source <(hack/e2e-cluster.sh env)
//	go test -v ./test/e2e -args -e2e.cluster
//
// `make e2e` does all of it and also runs the upstream External Storage
// suite with testdriver-<backend>.yaml.
package e2e
