package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestLoggerBoundsValues: a huge folder name or error text from a server
// is logged shortened, with its size.
func TestLoggerBoundsValues(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		log, err := Logger(&buf, format, false, false)
		if err != nil {
			t.Fatal(err)
		}
		huge := strings.Repeat("é", 1<<20)
		log.Info("listing", "folder", huge, "err", errors.New(huge), "n", 3)
		if buf.Len() > 4*MaxLogValue {
			t.Errorf("%s: logged %d bytes for a 2 MiB name", format, buf.Len())
		}
		if !strings.Contains(buf.String(), "(2097152 bytes)") || !strings.Contains(buf.String(), "n=3") && !strings.Contains(buf.String(), `"n":3`) {
			t.Errorf("%s: %s", format, buf.String()[:min(buf.Len(), 200)])
		}
	}
}
