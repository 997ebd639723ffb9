// Package mountopt decides which mount options a caller may hand the node
// plugin. Mount flags arrive from StorageClasses, PersistentVolumes and,
// on the node socket, from anyone who can reach it; they end up as
// `mount -o`. Options that change what is mounted or where (remount, bind,
// move, loop, helpers) would let a request act on mounts the driver did not
// make, so they are refused wherever a capability is accepted: CreateVolume,
// ValidateVolumeCapabilities, NodeStageVolume and NodePublishVolume all call
// Check.
package mountopt

import (
	"fmt"
	"regexp"
	"strings"
)

// syntax is the only shape accepted: a name, optionally "=value", from a
// charset with no separators, quotes, spaces or shell metacharacters.
var syntax = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*(=[A-Za-z0-9_.:/+@-]*)?$`)

// denied names options (compared case-insensitively, without "=value")
// that change the mount's source, its place, its propagation or the
// program that performs it.
var denied = map[string]string{
	"remount":     "changes an existing mount",
	"bind":        "mounts another path",
	"rbind":       "mounts another path",
	"move":        "moves a mount",
	"loop":        "mounts a file through a loop device",
	"offset":      "is a loop device option",
	"sizelimit":   "is a loop device option",
	"encryption":  "is a loop device option",
	"helper":      "runs a mount helper",
	"source":      "names another source",
	"target":      "names another target",
	"shared":      "changes mount propagation",
	"rshared":     "changes mount propagation",
	"slave":       "changes mount propagation",
	"rslave":      "changes mount propagation",
	"private":     "changes mount propagation",
	"rprivate":    "changes mount propagation",
	"unbindable":  "changes mount propagation",
	"runbindable": "changes mount propagation",
	"make-shared": "changes mount propagation",
	"user":        "lets unprivileged users unmount",
	"users":       "lets unprivileged users unmount",
	"owner":       "lets the device's owner mount",
	"group":       "lets the device's group mount",
}

// deniedPrefixes are option families handled by mount(8) itself or its
// helpers rather than by the filesystem.
var deniedPrefixes = map[string]string{
	"x-":     "is read by mount helpers, not the filesystem",
	"make-":  "changes mount propagation",
	"loop=":  "mounts a file through a loop device",
	"nofail": "hides a failed mount",
}

// Error says which option was refused and why.
type Error struct {
	Option string
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("mount option %q is not allowed: %s", e.Option, e.Reason)
}

// Check validates mount flags as CSI carries them: each string may itself
// be a comma-separated list. The first bad option is returned as *Error.
func Check(flags []string) error {
	for _, f := range flags {
		for _, o := range strings.Split(f, ",") {
			if err := checkOne(o); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkOne(o string) error {
	if o == "" {
		return &Error{Option: o, Reason: "empty option (a stray comma?)"}
	}
	if !syntax.MatchString(o) {
		return &Error{Option: o, Reason: "an option is name or name=value of letters, digits and _ . - (values also : / + @)"}
	}
	lower := strings.ToLower(o)
	name, _, _ := strings.Cut(lower, "=")
	if why, ok := denied[name]; ok {
		return &Error{Option: o, Reason: why}
	}
	for p, why := range deniedPrefixes {
		if strings.HasPrefix(lower, p) {
			return &Error{Option: o, Reason: why}
		}
	}
	return nil
}
