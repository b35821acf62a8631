// Package pipeline remembers which steps of a multi-step run (catchall
// migrate) are done, and for which inputs, so that a re-run skips a step
// whose inputs have not changed and redoes exactly the steps that depend on
// something that did.
//
// # State file
//
// A JSON object, written atomically with mode 0600:
//
//	{"version": 1, "steps": {"classify": {"inputs": "<hex sha256>", "done": "<RFC 3339>"}}}
//
// A step's inputs fingerprint is whatever the caller hashes with Hasher:
// file contents, settings, an archive's fingerprint. Deleting the file
// makes every step run again.
package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/internal/safeio"
)

// State is the record of done steps, loaded from and saved to one file.
type State struct {
	path  string
	Steps map[string]Step `json:"steps"`
	Ver   int             `json:"version"`
}

// Step is one done step: the fingerprint of its inputs and when it finished.
type Step struct {
	Inputs string    `json:"inputs"`
	Done   time.Time `json:"done"`
}

// Load reads the state file at path; a missing file is an empty state.
func Load(path string) (*State, error) {
	s := &State{path: path, Steps: map[string]Step{}, Ver: 1}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, s); err != nil {
		// A damaged state only costs a re-run of every step.
		return &State{path: path, Steps: map[string]Step{}, Ver: 1}, nil
	}
	if s.Steps == nil {
		s.Steps = map[string]Step{}
	}
	return s, nil
}

// Current reports whether step was done with exactly these inputs.
func (s *State) Current(step, inputs string) bool {
	st, ok := s.Steps[step]
	return ok && st.Inputs == inputs
}

// Mark records step as done with inputs and saves the state.
func (s *State) Mark(step, inputs string, now time.Time) error {
	s.Steps[step] = Step{Inputs: inputs, Done: now.UTC().Truncate(time.Second)}
	return s.save()
}

// Forget drops step, so that it runs next time whatever its inputs.
func (s *State) Forget(step string) error {
	delete(s.Steps, step)
	return s.save()
}

func (s *State) save() error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return safeio.WriteFile(s.path, append(data, '\n'))
}

// Hasher builds an inputs fingerprint from labelled parts.
type Hasher struct {
	parts map[string]string
	err   error
}

// NewHasher returns an empty fingerprint.
func NewHasher() *Hasher { return &Hasher{parts: map[string]string{}} }

// String adds a setting.
func (h *Hasher) String(label, v string) *Hasher {
	h.parts[label] = "s:" + v
	return h
}

// File adds the contents of a file; a missing file counts as absent, not
// as an error.
func (h *Hasher) File(label, path string) *Hasher {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		h.parts[label] = "absent"
		return h
	}
	if err != nil {
		h.err = errors.Join(h.err, err)
		return h
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		h.err = errors.Join(h.err, fmt.Errorf("reading %s: %w", path, err))
		return h
	}
	h.parts[label] = "f:" + hex.EncodeToString(sum.Sum(nil))
	return h
}

// Archive adds what an archive's mail is, as far as the later steps can
// tell ([archive.Fingerprint]): a fetch that found nothing new leaves it
// unchanged.
func (h *Hasher) Archive(label, dir string) *Hasher {
	fp, err := archive.Fingerprint(dir)
	if err != nil {
		h.err = errors.Join(h.err, err)
		return h
	}
	h.parts[label] = "a:" + fp
	return h
}

// Sum returns the fingerprint, or the first error met while building it.
func (h *Hasher) Sum() (string, error) {
	if h.err != nil {
		return "", h.err
	}
	keys := make([]string, 0, len(h.parts))
	for k := range h.parts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	sum := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(sum, "%q=%q\n", k, h.parts[k])
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}
