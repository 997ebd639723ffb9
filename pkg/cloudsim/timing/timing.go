// Package timing holds the simulator's operation durations and the time-scale
// factor shared by every simulated cloud, so all faces speed up together.
package timing

import (
	"fmt"
	"time"
)

// Profile is how long each asynchronous operation takes before its
// transitional state ("creating", "attaching", ...) ends.
type Profile struct {
	Create   time.Duration `json:"create"`
	Attach   time.Duration `json:"attach"`
	Detach   time.Duration `json:"detach"`
	Snapshot time.Duration `json:"snapshot"`
	Backup   time.Duration `json:"backup"`
	Restore  time.Duration `json:"restore"`
	Delete   time.Duration `json:"delete"`
	Extend   time.Duration `json:"extend"`
	// Device is how long after the cloud reports an attachment done the
	// guest sees the disk (hotplug, then udev making the by-id link). A
	// node that looks once, right after ControllerPublish, finds nothing.
	Device time.Duration `json:"device"`
}

// Fast is for tests: every operation completes within tens of milliseconds.
var Fast = Profile{
	Create:   20 * time.Millisecond,
	Attach:   20 * time.Millisecond,
	Detach:   20 * time.Millisecond,
	Snapshot: 30 * time.Millisecond,
	Backup:   50 * time.Millisecond,
	Restore:  50 * time.Millisecond,
	Delete:   20 * time.Millisecond,
	Extend:   20 * time.Millisecond,
	Device:   30 * time.Millisecond,
}

// Realistic approximates a public cloud under light load.
var Realistic = Profile{
	Create:   2 * time.Second,
	Attach:   1 * time.Second,
	Detach:   1 * time.Second,
	Snapshot: 3 * time.Second,
	Backup:   10 * time.Second,
	Restore:  10 * time.Second,
	Delete:   1 * time.Second,
	Extend:   1 * time.Second,
	Device:   300 * time.Millisecond,
}

// Named returns the profile called name ("fast" or "realistic"; "" is fast).
func Named(name string) (Profile, error) {
	switch name {
	case "", "fast":
		return Fast, nil
	case "realistic":
		return Realistic, nil
	}
	return Profile{}, fmt.Errorf("unknown timing profile %q (want fast or realistic)", name)
}

// Scaled divides every duration by scale (scale <= 0 means 1).
func (p Profile) Scaled(scale float64) Profile {
	if scale <= 0 || scale == 1 {
		return p
	}
	f := func(d time.Duration) time.Duration { return time.Duration(float64(d) / scale) }
	return Profile{
		Create: f(p.Create), Attach: f(p.Attach), Detach: f(p.Detach), Snapshot: f(p.Snapshot),
		Backup: f(p.Backup), Restore: f(p.Restore), Delete: f(p.Delete), Extend: f(p.Extend),
		Device: f(p.Device),
	}
}

// Rate multiplies a calls-per-second rate by scale (scale <= 0 means 1).
func Rate(perSecond, scale float64) float64 {
	if scale <= 0 {
		return perSecond
	}
	return perSecond * scale
}
