package driver

import (
	"path/filepath"

	"github.com/openblock-csi/openblock-csi/pkg/node"
)

// Node paths: every staging and target path is resolved (symlinks
// included) and must lie inside the kubelet's directories, outside the
// driver's and the kubelet's own sockets and state; a path that is not is
// refused with InvalidArgument before anything on the host changes.

// openState opens the node's roots and ledger as cfg says.
func (n *Node) openState(cfg Config) error {
	dirs := cfg.KubeletDirs
	if len(dirs) == 0 {
		dirs = []string{DefaultKubeletDir}
	}
	state := cfg.StateDir
	if state == "" {
		state = filepath.Join(dirs[0], "plugins", cfg.Name, "node-state")
	}
	// Inside the kubelet's directory, volumes go under pods/ and
	// plugins/kubernetes.io/; the driver's own socket and state, and the
	// kubelet's sockets, are never a place to mount.
	exclude := []string{state}
	for _, dir := range dirs {
		exclude = append(exclude, filepath.Join(dir, "plugins", cfg.Name), filepath.Join(dir, "plugins_registry"),
			filepath.Join(dir, "device-plugins"), filepath.Join(dir, "pod-resources"))
	}
	roots, err := node.NewRoots(dirs, exclude)
	if err != nil {
		return err
	}
	l, err := node.OpenLedger(state)
	if err != nil {
		return err
	}
	n.roots, n.ledger = roots, l
	return nil
}

// nodePath checks a staging or target path and returns its resolved form:
// InvalidArgument unless it lies inside the kubelet's directories.
func (n *Node) nodePath(field, p string) (string, error) {
	if err := checkPath(field, p); err != nil {
		return "", err
	}
	res, err := n.roots.Resolve(p)
	if err != nil {
		return "", invalid("%s: %v", field, err)
	}
	return res, nil
}

// volumeRecord finds the record of volID at a volume path for stats,
// expansion and health: NotFound when the path is outside the kubelet's
// directories or does not hold this volume.
func (n *Node) volumeRecord(volID, path string) (string, node.Record, error) {
	if checkPath("volume path", path) != nil {
		return "", node.Record{}, notFound("volume %s is not at %q (not an absolute path)", volID, path)
	}
	res, err := n.roots.Resolve(path)
	if err != nil {
		return "", node.Record{}, notFound("volume %s is not at %s: %v", volID, path, err)
	}
	rec, ok, err := n.ledger.Get(res)
	if err != nil {
		return "", node.Record{}, failed(err, "reading the node's record of %s", res)
	}
	if !ok || rec.VolumeID != volID {
		return "", node.Record{}, notFound("volume %s is not staged or published at %s", volID, path)
	}
	return res, rec, nil
}
