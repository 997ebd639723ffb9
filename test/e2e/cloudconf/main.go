// Command cloudconf writes the driver's cloud config for one backend against
// the simulator, and prints the backend's simulator settings as shell
// assignments, so hack/e2e-cluster.sh plays the same clouds as test/harness.
//
//	go run ./test/e2e/cloudconf -backend cinder-v2 -url http://127.0.0.1:8776 -out cloud.conf
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/openblock-csi/openblock-csi/test/harness"
)

func main() {
	backend := flag.String("backend", "cinder-v2", "backend name (see test/harness)")
	url := flag.String("url", "http://127.0.0.1:8776", "the simulator's base URL")
	out := flag.String("out", "cloud.conf", "where to write the cloud config")
	flag.Parse()
	b, err := harness.Lookup(*backend)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cloudconf:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, []byte(b.CloudConfig(*url)), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "cloudconf:", err)
		os.Exit(1)
	}
	multi := ""
	if b.MultiAttach {
		multi = harness.MultiattachType
	}
	fmt.Printf("BACKEND=%s\nPROFILE=%s\nZONE=%s\nSERVER_ID=%s\nBACKUPS=%t\nLUNANODE=%t\nRETYPE=%t\nMULTIATTACH_TYPE=%s\n",
		b.Name, b.Profile, b.Zone, harness.LocalServerID, b.Backups, b.Lunanode, b.Retype, multi)
}
