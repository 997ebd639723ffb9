package driver

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Listen parses endpoint and listens on it; a stale unix socket from a
// previous run is removed first.
func Listen(endpoint string) (net.Listener, error) {
	network, addr, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if err := os.MkdirAll(filepath.Dir(addr), 0o750); err != nil {
			return nil, fmt.Errorf("endpoint %s: %w", endpoint, err)
		}
		if fi, err := os.Lstat(addr); err == nil {
			if fi.Mode()&os.ModeSocket == 0 {
				return nil, fmt.Errorf("endpoint %s: %s exists and is not a socket", endpoint, addr)
			}
			if err := os.Remove(addr); err != nil {
				return nil, fmt.Errorf("endpoint %s: remove stale socket: %w", endpoint, err)
			}
		}
	}
	lis, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", endpoint, err)
	}
	return lis, nil
}

// ParseEndpoint splits a CSI endpoint into network and address.
func ParseEndpoint(endpoint string) (network, addr string, err error) {
	switch {
	case endpoint == "":
		return "", "", errors.New("empty endpoint")
	case strings.HasPrefix(endpoint, "/"):
		return "unix", endpoint, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", "", fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "unix":
		addr = u.Path
		if addr == "" {
			addr = u.Opaque // unix:relative/or/abs form
		}
		if u.Host != "" {
			addr = u.Host + addr
		}
		if addr == "" {
			return "", "", fmt.Errorf("endpoint %q: no socket path", endpoint)
		}
		return "unix", addr, nil
	case "tcp":
		if u.Host == "" {
			return "", "", fmt.Errorf("endpoint %q: no host:port", endpoint)
		}
		return "tcp", u.Host, nil
	}
	return "", "", fmt.Errorf("endpoint %q: scheme must be unix or tcp", endpoint)
}
