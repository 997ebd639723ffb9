package lunanode

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/internal/persist"
)

// Test-only credentials the simulator accepts by default. They have the
// lengths LunaNode issues (16 and 128 characters) and guard nothing.
const (
	DefaultAPIID  = "openblocksim0001"
	DefaultAPIKey = "openblock-simulator-only-test-key-not-a-secret-" +
		"openblock-simulator-only-test-key-not-a-secret-" +
		"openblock-simulator-only-test-key-"
)

// Regions are the regions the volume API documents.
var Regions = []string{"toronto", "montreal", "roubaix"}

// VM is a virtual machine volumes can be attached to.
type VM struct {
	ID     string // UUID, as LunaNode's vm_id
	Region string // "" means any region
}

// Durations of the asynchronous state changes (before TimeScale). Zero means
// the change is done when the call returns.
type Durations struct {
	Create, Attach, Detach, Snapshot, Delete time.Duration
	// Device is how long after an attachment is done the local VM sees the
	// disk (its by-id link appears).
	Device time.Duration
}

// RealisticDurations are in the range a real cloud takes.
var RealisticDurations = Durations{
	Create: 3 * time.Second, Attach: 2 * time.Second, Detach: 2 * time.Second,
	Snapshot: 3 * time.Second, Delete: 2 * time.Second, Device: 300 * time.Millisecond,
}

// Config configures a Handler.
type Config struct {
	// Store keeps the volume data; nil keeps state only (no files).
	Store *disk.Store
	// StatePath is where the state is persisted (JSON, replaced atomically
	// after changes; a call that changed it is answered once the change is
	// on disk) and loaded from at start; "" keeps it in memory.
	StatePath string
	// Credentials maps api_id to api key (16 and 128 characters);
	// {DefaultAPIID: DefaultAPIKey} when empty.
	Credentials map[string]string
	// LocalVMID is the VM that is this machine: attaching to it attaches
	// the volume's file through Store.Attach. It is a known VM even when not
	// listed in VMs (then in every region).
	LocalVMID string
	// VMs are the other VMs volumes can be attached to.
	VMs []VM
	// Durations of state changes, multiplied by TimeScale (<= 0 means 1).
	Durations Durations
	TimeScale float64
	// NonceWindow is how far a nonce may be from the clock (default 5 min).
	NonceWindow time.Duration
	// MaxVolumesPerVM (default 25) and VolumeLimit (volumes per account,
	// 0 = unlimited) are refused past; MaxSizeGiB bounds a volume (default
	// 10000).
	MaxVolumesPerVM int
	VolumeLimit     int
	MaxSizeGiB      int
	// UserID is reported as user_id (default "1").
	UserID string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Stats counts calls per action ("volume/create"), for leak checks and
// benchmarks.
type Stats struct {
	Calls        map[string]int64
	Errors       map[string]int64
	AuthFailures int64
}

// Handler serves the LunaNode API. It is safe for concurrent use.
type Handler struct {
	cfg   Config
	creds map[string]string
	vms   map[string]VM

	mu       sync.Mutex
	st       State
	stats    Stats
	seen     map[string]int64 // api_id|signature -> nonce, for replay checks
	prunedAt int64            // window start of the last sweep of seen
	dirty    bool             // the action changed the state
	closed   bool
	// devices are the local disks still to appear, by volume id.
	devices map[int]*time.Timer
	// commit writes st to StatePath outside mu (nil: kept in memory).
	commit *persist.Committer
}

// NewHandler checks cfg and loads the state from cfg.StatePath if present.
func NewHandler(cfg Config) (*Handler, error) {
	if len(cfg.Credentials) == 0 {
		cfg.Credentials = map[string]string{DefaultAPIID: DefaultAPIKey}
	}
	for id, key := range cfg.Credentials {
		if len(id) != 16 || len(key) != 128 {
			return nil, fmt.Errorf("lunanode sim: credentials need a 16-character api_id and a 128-character key (api_id %q)", id)
		}
	}
	if cfg.TimeScale <= 0 {
		cfg.TimeScale = 1
	}
	if cfg.NonceWindow <= 0 {
		cfg.NonceWindow = 5 * time.Minute
	}
	if cfg.MaxVolumesPerVM <= 0 {
		cfg.MaxVolumesPerVM = 25
	}
	if cfg.MaxSizeGiB <= 0 {
		cfg.MaxSizeGiB = 10000
	}
	if cfg.UserID == "" {
		cfg.UserID = "1"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{
		cfg:     cfg,
		creds:   maps.Clone(cfg.Credentials),
		vms:     map[string]VM{},
		seen:    map[string]int64{},
		stats:   Stats{Calls: map[string]int64{}, Errors: map[string]int64{}},
		st:      State{NextVolumeID: 4682},
		devices: map[int]*time.Timer{},
	}
	for _, vm := range cfg.VMs {
		if vm.Region != "" && !slices.Contains(Regions, vm.Region) {
			return nil, fmt.Errorf("lunanode sim: vm %s: unknown region %q", vm.ID, vm.Region)
		}
		h.vms[vm.ID] = vm
	}
	if cfg.LocalVMID != "" {
		if _, ok := h.vms[cfg.LocalVMID]; !ok {
			h.vms[cfg.LocalVMID] = VM{ID: cfg.LocalVMID}
		}
	}
	if err := h.load(); err != nil {
		return nil, err
	}
	if cfg.StatePath != "" {
		h.commit = persist.New(cfg.StatePath, &h.mu, func() ([]byte, error) { return json.Marshal(&h.st) })
	}
	return h, nil
}

// Close refuses further requests and writes the state. The disk.Store
// belongs to the caller, who closes it.
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	for id, t := range h.devices {
		t.Stop()
		delete(h.devices, id)
	}
	h.mu.Unlock()
	if h.commit == nil {
		return nil
	}
	return h.commit.Close()
}

// markDirty records a change to st made under h.mu (held) and returns its
// generation, for commit.Wait (0 when the state is not persisted).
func (h *Handler) markDirty() uint64 {
	if h.commit == nil {
		return 0
	}
	return h.commit.MarkDirty()
}

// Stats returns a copy of the call counters.
func (h *Handler) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Calls: maps.Clone(h.stats.Calls), Errors: maps.Clone(h.stats.Errors), AuthFailures: h.stats.AuthFailures}
}

// apiError is a refusal LunaNode reports as {"success":"no","error":msg}.
type apiError string

func (e apiError) Error() string { return string(e) }

func errorf(format string, args ...any) error { return apiError(fmt.Sprintf(format, args...)) }

// params are the request's parameters (api_id and api_partialkey removed).
type params map[string]string

type action func(h *Handler, p params) (map[string]any, error)

var actions = map[string]action{
	"volume/create":             (*Handler).volumeCreate,
	"volume/list":               (*Handler).volumeList,
	"volume/info":               (*Handler).volumeInfo,
	"volume/attach":             (*Handler).volumeAttach,
	"volume/detach":             (*Handler).volumeDetach,
	"volume/extend":             (*Handler).volumeExtend,
	"volume/rename":             (*Handler).volumeRename,
	"volume/delete":             (*Handler).volumeDelete,
	"volume/snapshot-create":    (*Handler).snapshotCreate,
	"volume/snapshot-list":      (*Handler).snapshotList,
	"volume/snapshot-replicate": (*Handler).snapshotReplicate,
	"volume/snapshot-delete":    (*Handler).snapshotDelete,
}

// required lists each action's required parameters (from the document).
var required = map[string][]string{
	"volume/create":             {"region", "label", "size"},
	"volume/info":               {"volume_id"},
	"volume/attach":             {"volume_id", "vm_id", "target"},
	"volume/detach":             {"volume_id"},
	"volume/extend":             {"volume_id", "size"},
	"volume/rename":             {"volume_id", "name"},
	"volume/delete":             {"volume_id"},
	"volume/snapshot-create":    {"volume_id", "label"},
	"volume/snapshot-list":      {"region"},
	"volume/snapshot-replicate": {"region", "snapshot_id", "image_name", "dst_region"},
	"volume/snapshot-delete":    {"region", "snapshot_id"},
}

// parsePath finds {category}/{action} after the last "/api/" segment, so the
// handler works mounted at /lunanode/ with or without the prefix stripped.
func parsePath(p string) (category, act string, ok bool) {
	i := strings.LastIndex(p, "/api/")
	if i < 0 {
		if !strings.HasPrefix(p, "api/") {
			return "", "", false
		}
		i = -1
	}
	rest := strings.TrimSuffix(p[i+len("/api/"):], "/")
	category, act, ok = strings.Cut(rest, "/")
	if !ok || category == "" || act == "" || strings.Contains(act, "/") {
		return "", "", false
	}
	return category, act, true
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	category, act, ok := parsePath(r.URL.Path)
	if !ok {
		reply(w, http.StatusNotFound, map[string]any{"success": "no", "error": "unknown API path"})
		return
	}
	name := category + "/" + act
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, map[string]any{"success": "no", "error": "API requests must be POST"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		reply(w, http.StatusBadRequest, map[string]any{"success": "no", "error": "invalid request body"})
		return
	}
	p, authErr := h.authenticate(name+"/", r.PostForm.Get("req"), r.PostForm.Get("signature"), r.PostForm.Get("nonce"))
	code, body, gen := h.serve(name, p, authErr)
	// The answer to a change leaves once the change is on disk; the
	// write happens outside h.mu, so other calls go on meanwhile.
	if gen != 0 {
		if err := h.commit.Wait(gen); err != nil {
			klog.ErrorS(err, "lunanode sim: saving state")
			h.mu.Lock()
			h.stats.Errors[name]++
			h.mu.Unlock()
			code, body = http.StatusInternalServerError, map[string]any{"success": "no", "error": "internal error"}
		}
	}
	reply(w, code, body)
}

// serve runs one authenticated call under h.mu and returns its answer and
// the state generation the answer waits for (0: none).
func (h *Handler) serve(name string, p params, authErr error) (int, map[string]any, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return http.StatusServiceUnavailable, map[string]any{"success": "no", "error": "service unavailable"}, 0
	}
	h.stats.Calls[name]++
	if authErr != nil {
		h.stats.AuthFailures++
		h.stats.Errors[name]++
		return http.StatusOK, map[string]any{"success": "no", "error": authErr.Error()}, 0
	}
	fn, ok := actions[name]
	if !ok {
		h.stats.Errors[name]++
		return http.StatusOK, map[string]any{"success": "no", "error": "invalid category or action: " + name}, 0
	}
	for _, k := range required[name] {
		if strings.TrimSpace(p[k]) == "" {
			h.stats.Errors[name]++
			return http.StatusOK, map[string]any{"success": "no", "error": "missing required parameter: " + k}, 0
		}
	}
	h.settle()
	h.dirty = false
	out, err := fn(h, p)
	var gen uint64
	if h.dirty {
		gen = h.markDirty()
	}
	var ae apiError
	switch {
	case errors.As(err, &ae):
		h.stats.Errors[name]++
		return http.StatusOK, map[string]any{"success": "no", "error": ae.Error()}, gen
	case err != nil:
		h.stats.Errors[name]++
		klog.ErrorS(err, "lunanode sim: internal error", "action", name)
		return http.StatusInternalServerError, map[string]any{"success": "no", "error": "internal error"}, gen
	}
	if out == nil {
		out = map[string]any{}
	}
	out["success"] = "yes"
	return http.StatusOK, out, gen
}

func reply(w http.ResponseWriter, code int, body map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// after is when a change of duration d (scaled) completes.
func (h *Handler) after(d time.Duration) time.Time {
	return h.cfg.Now().Add(time.Duration(float64(d) * h.cfg.TimeScale))
}

func validRegion(r string) bool { return slices.Contains(Regions, r) }

// load reads a saved state and re-exposes volumes attached to the local VM.
func (h *Handler) load() error {
	if h.cfg.StatePath == "" {
		return nil
	}
	data, err := os.ReadFile(h.cfg.StatePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lunanode sim: %w", err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("lunanode sim: state %s: %w", h.cfg.StatePath, err)
	}
	if st.NextVolumeID == 0 {
		st.NextVolumeID = 4682
	}
	h.st = st
	for _, v := range h.st.Volumes {
		if v.AttachedTo != "" && v.AttachedTo == h.cfg.LocalVMID && h.cfg.Store != nil {
			if _, err := h.cfg.Store.Attach(volumeDisk(v.ID), v.Identification); err != nil {
				klog.ErrorS(err, "lunanode sim: re-attaching local volume", "volume", v.ID)
			}
		}
	}
	return nil
}
