package localstreams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/devicepass/devicepass/shared/lifecycle"
)

// FileSink appends every event it is given to a file, one JSON object a
// line: the local runner's sink (`tail -f .local/events.jsonl`).
type FileSink struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

// NewFileSink opens (creating it, mode 0600) the file at path for appending.
func NewFileSink(path string) (*FileSink, error) {
	if path == "" {
		return nil, errors.New("localstreams: NewFileSink needs a path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("event sink: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("event sink: %w", err)
	}
	return &FileSink{f: f, path: path}, nil
}

// Path returns the file's path.
func (s *FileSink) Path() string { return s.path }

// Publish appends ev as one line, written at once.
func (s *FileSink) Publish(_ context.Context, ev lifecycle.Event) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("event sink is closed")
	}
	if _, err := s.f.Write(line); err != nil {
		return fmt.Errorf("append to %s: %w", s.path, err)
	}
	return nil
}

// Close closes the file.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
