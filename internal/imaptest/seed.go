package imaptest

import (
	"fmt"
	"io"

	"github.com/catchall/catchall/internal/corpus"
)

// Seed creates every folder of c on the server (empty ones included) and
// appends every message with its flags and date.
func (s *Server) Seed(c *corpus.Corpus) error {
	for _, f := range c.Folders {
		if err := s.CreateMailbox(f); err != nil {
			return fmt.Errorf("creating %q: %w", f, err)
		}
	}
	for _, m := range c.Messages {
		raw, err := io.ReadAll(m.Body())
		if err != nil {
			return err
		}
		if _, err := s.Append(m.Folder, raw, m.Flags, m.Date); err != nil {
			return fmt.Errorf("appending to %q: %w", m.Folder, err)
		}
	}
	return nil
}
