package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// The readers below are the node's identity sources, shared by Resolve and
// the doctor. Their errors say what went wrong, not which source: callers
// know which reader they called and label the error themselves. Errors about
// a file are *fs.PathError, so a caller that already names the file can
// take just the reason (PathError.Err).

// Document is the part of meta_data.json the driver uses.
type Document struct {
	UUID             string `json:"uuid"`
	AvailabilityZone string `json:"availability_zone"`
}

// errEmptyDocument rejects a meta_data.json that tells nothing: passing it
// over lets the next source answer.
var errEmptyDocument = errors.New("meta_data.json has neither uuid nor availability_zone")

// FromService asks the metadata service (o.ServiceURL, o.Timeout, o.Client)
// for meta_data.json. A timeout is reported as "no answer within <timeout>"
// and a transport error without Go's `Get "URL": ` prefix.
func FromService(ctx context.Context, o Options) (*Document, error) {
	base := o.ServiceURL
	switch base {
	case "":
		base = DefaultServiceURL
	case "-":
		return nil, errors.New("disabled")
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: timeout}
	} else if client.Timeout > 0 && client.Timeout < timeout {
		timeout = client.Timeout // so that a timeout is reported as the one that struck
	}
	reqCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := strings.TrimRight(base, "/") + "/" + metaDataPath
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up; that is not the service's fault.
			return nil, ctx.Err()
		}
		var ue *url.Error
		if reqCtx.Err() != nil || (errors.As(err, &ue) && ue.Timeout()) {
			return nil, fmt.Errorf("no answer within %s", timeout)
		}
		if ue != nil {
			return nil, ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s returned %s", u, resp.Status)
	}
	return decode(io.LimitReader(resp.Body, 1<<20))
}

// FromConfigDrive reads meta_data.json from a config drive mounted at dir.
func FromConfigDrive(dir string) (*Document, error) {
	f, err := os.Open(filepath.Join(dir, metaDataPath))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decode(io.LimitReader(f, 1<<20))
}

func decode(r io.Reader) (*Document, error) {
	var d Document
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return nil, fmt.Errorf("meta_data.json: %w", err)
	}
	if d.UUID == "" && d.AvailabilityZone == "" {
		return nil, errEmptyDocument
	}
	return &d, nil
}

// FromProductUUID reads the DMI product UUID at path, which libvirt under
// Nova sets to the instance UUID. Some firmware reports it upper-case (Nova
// ids are lower-case) and some reports all zeros, which is no server's id:
// registering it would send every such node's attachments to one bogus id.
func FromProductUUID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	u := strings.ToLower(strings.TrimSpace(string(b)))
	if strings.Trim(u, "0-") == "" {
		return "", &fs.PathError{Op: "read", Path: path, Err: errors.New("empty or all-zero UUID")}
	}
	return u, nil
}
