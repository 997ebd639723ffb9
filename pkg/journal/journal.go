// Package journal keeps a process's records in a file that outlives it:
// one JSON record per line, appended with a single write each, so that a
// process killed at any instant leaves every record it appended whole
// (except perhaps a torn last line, which Open drops).
//
// The file is for a successor on the same disk (a container restarted in
// its pod); a process that finds no file knows nothing and must find out
// another way.
package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Journal appends records of type T to one file. Methods are safe for
// concurrent use.
type Journal[T any] struct {
	path string

	mu     sync.Mutex
	f      *os.File
	broken error
}

// maxLine bounds one record; a longer line is taken as damage.
const maxLine = 1 << 20

// Open reads the records at path, keeps those keep accepts (in order),
// writes them back as the file's whole content and opens it for
// appending. found says whether the file existed: a missing file means no
// predecessor wrote one. A line that does not decode (torn by a kill in
// mid-write) is dropped; so is everything after it, which a later
// process could not have written in order.
func Open[T any](path string, keep func(T) bool) (j *Journal[T], kept []T, found bool, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, false, err
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, nil, false, err
	default:
		found = true
		kept = decode(b, keep)
	}
	if err := rewrite(path, kept); err != nil {
		return nil, nil, found, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, found, err
	}
	return &Journal[T]{path: path, f: f}, kept, found, nil
}

func decode[T any](b []byte, keep func(T) bool) []T {
	var out []T
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var rec T
		if err := json.Unmarshal(line, &rec); err != nil {
			break
		}
		if keep == nil || keep(rec) {
			out = append(out, rec)
		}
	}
	return out
}

// rewrite replaces path with recs through a temporary file and a rename,
// so that a kill leaves either the old content or the new.
func rewrite[T any](path string, recs []T) error {
	var buf bytes.Buffer
	for _, r := range recs {
		line, err := json.Marshal(r)
		if err != nil {
			return err
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Append writes rec as one line. After a failed write the journal is
// broken: the file is removed, so that a successor finds none rather than
// one with a record missing, and every later Append fails.
func (j *Journal[T]) Append(rec T) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.broken != nil {
		return j.broken
	}
	if _, err := j.f.Write(line); err != nil {
		j.broken = fmt.Errorf("journal %s: %w", j.path, err)
		j.f.Close()
		if rmErr := os.Remove(j.path); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			j.broken = fmt.Errorf("%w (and removing it: %v)", j.broken, rmErr)
		}
		return j.broken
	}
	return nil
}

// Close closes the file; the records stay for a successor.
func (j *Journal[T]) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.broken != nil {
		return nil
	}
	j.broken = errors.New("journal closed")
	return j.f.Close()
}
