package guest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
)

// qmp is a client of QEMU's machine protocol: commands answered in
// order of their ids, events handed to whoever waits for them.
type qmp struct {
	conn net.Conn
	enc  *json.Encoder

	mu      sync.Mutex
	nextID  int
	pending map[int]chan qmpReply
	waiters []*eventWaiter
	err     error // set once the connection is gone
}

type qmpReply struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	ID    *int            `json:"id"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

type eventWaiter struct {
	match func(name string, data json.RawMessage) bool
	ch    chan struct{}
}

func dialQMP(ctx context.Context, path string) (*qmp, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	q := &qmp{conn: conn, enc: json.NewEncoder(conn), pending: map[int]chan qmpReply{}}
	r := bufio.NewReader(conn)
	if _, err := r.ReadBytes('\n'); err != nil { // the greeting
		conn.Close()
		return nil, fmt.Errorf("qmp greeting: %w", err)
	}
	go q.read(r)
	if _, err := q.call(ctx, "qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *qmp) read(r *bufio.Reader) {
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			q.mu.Lock()
			q.err = fmt.Errorf("qmp connection closed: %w", err)
			for id, ch := range q.pending {
				close(ch)
				delete(q.pending, id)
			}
			q.mu.Unlock()
			return
		}
		var m qmpReply
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		q.mu.Lock()
		if m.Event != "" {
			keep := q.waiters[:0]
			for _, w := range q.waiters {
				if w.match(m.Event, m.Data) {
					close(w.ch)
				} else {
					keep = append(keep, w)
				}
			}
			q.waiters = keep
		} else if m.ID != nil {
			if ch, ok := q.pending[*m.ID]; ok {
				ch <- m
				delete(q.pending, *m.ID)
			}
		}
		q.mu.Unlock()
	}
}

// call runs one command and returns its result or QEMU's error.
func (q *qmp) call(ctx context.Context, cmd string, args any) (json.RawMessage, error) {
	q.mu.Lock()
	if q.err != nil {
		q.mu.Unlock()
		return nil, q.err
	}
	q.nextID++
	id := q.nextID
	ch := make(chan qmpReply, 1)
	q.pending[id] = ch
	msg := map[string]any{"execute": cmd, "id": id}
	if args != nil {
		msg["arguments"] = args
	}
	err := q.enc.Encode(msg)
	q.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("qmp %s: %w", cmd, err)
	}
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("qmp %s: %w", cmd, ctx.Err())
	case m, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("qmp %s: %w", cmd, q.closedErr())
		}
		if m.Error != nil {
			return nil, fmt.Errorf("qmp %s: %s: %s", cmd, m.Error.Class, m.Error.Desc)
		}
		return m.Return, nil
	}
}

func (q *qmp) closedErr() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	return errors.New("qmp connection closed")
}

// expect registers interest in an event before the command that causes it
// is sent; the returned channel closes when it arrives.
func (q *qmp) expect(match func(name string, data json.RawMessage) bool) <-chan struct{} {
	w := &eventWaiter{match: match, ch: make(chan struct{})}
	q.mu.Lock()
	q.waiters = append(q.waiters, w)
	q.mu.Unlock()
	return w.ch
}

func (q *qmp) close() error { return q.conn.Close() }
