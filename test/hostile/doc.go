// Package hostile sends the node and controller services requests a
// hostile or confused caller of the driver's socket could send: paths
// outside the kubelet's directory or escaping it through ".." and
// symlinks, another volume's paths, mount options that remount, bind or
// loop-mount, bad topologies, ids and capabilities. It runs the real
// driver binary against the simulator of each backend, inside a private
// mount namespace whose /etc, /usr/bin, /srv and /media are overlays on a
// scratch tmpfs, and checks that every answer carries a code the CSI spec
// allows (the exact one where the spec names it) and that nothing outside
// the driver's own mounts changed: file checksums, the overlays' upper
// directories and the mount table are compared before and after.
//
// Run as root (loop devices, mounts, namespaces); without root it skips
// saying why. One backend: HOSTILE_BACKENDS=lunanode go test ./test/hostile/
package hostile
