// Command agent runs in the test guest and runs commands for the host's
// tests (write a file into a mounted filesystem, list /dev/disk/by-id),
// over HTTP on a port the guest forwards to the host's 127.0.0.1 only.
// It is a test fixture: the guest is a throwaway VM with no other network.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net/http"
	"os/exec"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/guest"
)

func main() {
	listen := flag.String("listen", ":7000", "address to serve on")
	flag.Parse()
	http.HandleFunc("/run", func(w http.ResponseWriter, r *http.Request) {
		var req guest.RunRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Argv) == 0 {
			http.Error(w, "want {argv: [...]}", http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, req.Argv[0], req.Argv[1:]...)
		var out, errb bytes.Buffer
		cmd.Stdin = bytes.NewReader(req.Stdin)
		cmd.Stdout, cmd.Stderr = &out, &errb
		res := guest.RunResult{}
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				res.Exit = ee.ExitCode()
			} else {
				res.Exit, res.Error = -1, err.Error()
			}
		}
		res.Stdout, res.Stderr = out.Bytes(), errb.Bytes()
		_ = json.NewEncoder(w).Encode(res)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
