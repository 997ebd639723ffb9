// Package soak runs randomized volume lifecycles against the real driver
// binary and the cloud simulator of every backend, with faults injected and
// the controller killed with SIGKILL at random, then checks the invariants
// against the simulator's own state: nothing left behind, no request name
// served by two volumes, every byte written read back intact.
//
//	go test ./test/soak -run TestSoak -v                    # short (~2 min)
//	go test ./test/soak -run TestSoak -v -soak.minutes=30   # long
//	go test ./test/soak -run TestSoak -v -soak.seed=42 -soak.backends=cinder-v3
//
// Node steps (stage, publish, write and read back a pattern) need root: the
// simulator backs attached volumes with loop devices only then. Without root
// the control-plane lifecycles still run and the test says what it skipped.
package soak
