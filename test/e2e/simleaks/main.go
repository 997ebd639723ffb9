// Command simleaks waits until the cloud simulator holds no volume,
// snapshot, backup or attachment, and fails naming what is left: after the
// upstream suite has deleted its namespaces, nothing of it may remain in
// the cloud.
//
//	go run ./test/e2e/simleaks -url http://127.0.0.1:8776 -wait 3m
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8776", "the simulator's base URL")
	wait := flag.Duration("wait", 3*time.Minute, "how long deletions may take")
	flag.Parse()
	deadline := time.Now().Add(*wait)
	for {
		left, err := leftovers(*url)
		if err != nil {
			fmt.Fprintln(os.Stderr, "simleaks:", err)
			os.Exit(2)
		}
		if len(left) == 0 {
			fmt.Println("simleaks: the cloud is empty")
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "simleaks: left in the cloud after %s:\n", *wait)
			for _, l := range left {
				fmt.Fprintln(os.Stderr, "  "+l)
			}
			os.Exit(1)
		}
		time.Sleep(2 * time.Second)
	}
}

func leftovers(url string) ([]string, error) {
	resp, err := http.Get(url + "/_sim/state")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /_sim/state: %s", resp.Status)
	}
	var d cloudsim.StateDump
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return nil, err
	}
	return harness.StateLeftovers(d), nil
}
