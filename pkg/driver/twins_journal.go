package driver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/journal"
)

// The controller's twin journal (Config.ControllerStateDir) carries what
// twinState knows across a restart of the container: which creates were
// sent and never answered (their resource may still land) and which
// resources a twin may follow. Without it a restarted controller knows
// nothing of its predecessor's creates, so it lists the project
// (probePredecessor) and takes every early create as one a twin may
// follow, and a twin landing after the CO's delete of the answered
// resource across the restart goes unnoticed. A controller that finds
// the journal trusts it as if it had not restarted; one that finds none
// (a new pod) probes.

// twinJournalFile is the journal's name under the state directory.
const twinJournalFile = "twins.jsonl"

// twinEvent is one line of the journal.
type twinEvent struct {
	At    time.Time `json:"at"`
	Event string    `json:"event"` // eventSent, eventAnswered or eventRemembered
	Kind  string    `json:"kind"`  // volume, snapshot, backup
	Name  string    `json:"name"`
	// Call names one create call (sent, answered).
	Call string `json:"call,omitempty"`
	// ID, Created and Answered are a remembered resource's.
	ID       string    `json:"id,omitempty"`
	Created  time.Time `json:"created,omitzero"`
	Answered bool      `json:"answered,omitempty"`
}

const (
	eventSent       = "sent"       // a create call is about to leave
	eventAnswered   = "answered"   // that call's answer came back
	eventRemembered = "remembered" // a resource a twin may follow
)

// twinJournal is twinState's journal and the ids of its create calls.
type twinJournal struct {
	log   *journal.Journal[twinEvent]
	proc  string // this process, in call ids
	calls atomic.Int64
}

// openTwinJournal opens the journal in dir and gives t what it holds.
// found says whether a predecessor left one (else t must probe).
func (t *twinState) openTwinJournal(dir string) (found bool, err error) {
	now := time.Now()
	log, events, found, err := journal.Open(filepath.Join(dir, twinJournalFile), func(e twinEvent) bool {
		return now.Sub(e.At) <= twinMemory
	})
	if err != nil {
		return false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.replayLocked(events, now)
	t.journal = &twinJournal{log: log, proc: fmt.Sprintf("%d.%d", os.Getpid(), now.UnixNano())}
	return found, nil
}

// replayLocked rebuilds the state the events describe: calls sent and
// never answered within twinHorizon are pending, remembered resources
// are remembered as of their event.
func (t *twinState) replayLocked(events []twinEvent, now time.Time) {
	sent := map[string]twinEvent{}
	for _, e := range events {
		switch e.Event {
		case eventSent:
			sent[e.Call] = e
		case eventAnswered:
			delete(sent, e.Call)
		case eventRemembered:
			t.rememberAtLocked(e.Kind, e.Name, twinRef{id: e.ID, created: e.Created, live: true}, e.Answered, e.At)
		}
	}
	for _, e := range sent {
		if now.Sub(e.At) > twinHorizon {
			continue
		}
		if t.unanswered == nil {
			t.unanswered = map[string]time.Time{}
		}
		key := e.Kind + "/" + e.Name
		if e.At.After(t.unanswered[key]) {
			t.unanswered[key] = e.At
		}
	}
}

// write appends e to the journal, if there is one.
func (t *twinState) write(e twinEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.writeLocked(e)
}

// writeLocked: a journal that cannot be written is dropped (and its file
// removed by the journal), so that a successor probes instead of trusting
// a record with a gap.
func (t *twinState) writeLocked(e twinEvent) {
	if t.journal == nil {
		return
	}
	if err := t.journal.log.Append(e); err != nil {
		klog.ErrorS(err, "Could not write the twin journal; a restart will list the project instead")
		t.journal = nil
	}
}

// sending notes a create of kind under name about to leave, and returns
// what to call with its outcome. Until that call says the answer came,
// the journal has the create as sent and unanswered: a controller killed
// in between leaves its successor the name to watch for a twin.
func (t *twinState) sending(kind, name string) func(error) {
	t.mu.Lock()
	j := t.journal
	t.mu.Unlock()
	call := ""
	if j != nil {
		call = j.proc + "." + strconv.FormatInt(j.calls.Add(1), 10)
		t.write(twinEvent{At: time.Now(), Event: eventSent, Kind: kind, Name: name, Call: call})
	}
	return func(err error) {
		if err != nil {
			t.noteUnanswered(kind + "/" + name)
			return
		}
		if call != "" {
			t.write(twinEvent{At: time.Now(), Event: eventAnswered, Kind: kind, Name: name, Call: call})
		}
	}
}

// closeJournal stops writing the journal; its records stay for a
// successor.
func (t *twinState) closeJournal() {
	t.mu.Lock()
	j := t.journal
	t.journal = nil
	t.mu.Unlock()
	if j != nil {
		j.log.Close()
	}
}

// resumeTwinWatches starts again, for each create a predecessor sent
// without an answer under a name it then answered, the watch for a late
// twin that the predecessor's end cut short: with the answered resource
// deleted meanwhile, only the journal says such a twin is one.
func (c *Controller) resumeTwinWatches(ctx context.Context) {
	kinds := map[string]twinKind{}
	for _, k := range []twinKind{c.volumeTwins(), c.snapshotTwins(), c.backupTwins()} {
		kinds[k.name] = k
	}
	c.twins.mu.Lock()
	var keys []string
	for key, at := range c.twins.unanswered {
		if time.Since(at) <= twinHorizon && c.twins.records[key] != nil {
			keys = append(keys, key)
		}
	}
	c.twins.mu.Unlock()
	for _, key := range keys {
		kindName, name, _ := strings.Cut(key, "/")
		if k, ok := kinds[kindName]; ok {
			c.watchTwins(ctx, k, name)
		}
	}
}
