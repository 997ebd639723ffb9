package guest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// AgentPort is where hack/guest/agent listens in the guest.
const AgentPort = 7000

// RunRequest and RunResult are the agent's wire format.
type RunRequest struct {
	Argv  []string `json:"argv"`
	Stdin []byte   `json:"stdin,omitempty"`
}

type RunResult struct {
	Stdout []byte `json:"stdout"`
	Stderr []byte `json:"stderr"`
	Exit   int    `json:"exit"`
	Error  string `json:"error,omitempty"`
}

// Agent is the guest's agent at its host address: what another process
// (a csi-sanity child) needs to run commands in a guest it did not boot.
type Agent string

// Agent is this guest's agent.
func (vm *VM) Agent() Agent { return Agent(vm.Addr(AgentPort)) }

// Run runs a command in the guest through the agent and returns its
// standard output; a non-zero exit is an error carrying its stderr.
func (vm *VM) Run(ctx context.Context, argv ...string) (string, error) {
	return vm.Agent().RunStdin(ctx, nil, argv...)
}

// RunStdin is Run with data on the command's standard input.
func (vm *VM) RunStdin(ctx context.Context, stdin []byte, argv ...string) (string, error) {
	return vm.Agent().RunStdin(ctx, stdin, argv...)
}

// Run runs a command in the guest; see VM.Run.
func (a Agent) Run(ctx context.Context, argv ...string) (string, error) {
	return a.RunStdin(ctx, nil, argv...)
}

// RunStdin is Run with data on the command's standard input.
func (a Agent) RunStdin(ctx context.Context, stdin []byte, argv ...string) (string, error) {
	body, _ := json.Marshal(RunRequest{Argv: argv, Stdin: stdin})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+string(a)+"/run", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("guest agent: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("guest agent: %s", resp.Status)
	}
	var res RunResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return "", fmt.Errorf("guest agent: %w", err)
	}
	if res.Error != "" || res.Exit != 0 {
		return string(res.Stdout), fmt.Errorf("guest: %s: exit %d %s: %s", strings.Join(argv, " "), res.Exit, res.Error, strings.TrimSpace(string(res.Stderr)))
	}
	return string(res.Stdout), nil
}
