// Package node tests the driver's CSI Node service on real block devices:
// the driver serves on a unix socket in the test process, a gRPC client
// calls it as kubelet would, and the real node.Host formats, mounts, binds,
// grows and measures loop devices found through virtio-<serial> links in a
// private by-id directory. Every test needs root and skips without it (or
// without a filesystem's mkfs tool), saying why.
//
// Mount points live under $TMPDIR/openblock-csi-test/node-*, so after a run
//
//	grep -c test/node /proc/self/mountinfo
//
// must print 0; each test unmounts and detaches all it created, also when it
// fails.
//
//	sudo go test -count=1 -v ./test/node/
package node
