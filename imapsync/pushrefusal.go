package imapsync

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// transient reports whether a refusal may go away by itself (RFC 5530).
func transient(e *imap.Error) bool {
	return busy(e) || e.Code == imap.ResponseCodeServerBug
}

// refusal explains a NO or BAD answer to APPEND.
func refusal(e *imap.Error) error {
	why := ""
	switch e.Code {
	case imap.ResponseCodeTooBig:
		why = "the message is too big for the destination: "
	case imap.ResponseCodeOverQuota:
		why = "the destination account is full: "
	case imap.ResponseCodeLimit:
		why = "the destination hit a limit: "
	case imap.ResponseCodeTryCreate:
		why = "the destination folder does not exist: "
	}
	code := ""
	if e.Code != "" {
		code = "[" + string(e.Code) + "] "
	}
	return fmt.Errorf("refused by the destination: %s%s%s", why, code, e.Text)
}

// permanentRefusal reports whether a NO to APPEND is about the message
// itself, so that no re-run will change it: too big, not parseable, bytes
// the server does not store (Cyrus: NUL, bare newlines). A full account, a
// missing folder or an unexplained NO may go away.
func permanentRefusal(e *imap.Error) bool {
	switch e.Code {
	case imap.ResponseCodeTooBig, imap.ResponseCodeParse, imap.ResponseCodeCannot:
		return true
	case imap.ResponseCodeOverQuota, imap.ResponseCodeTryCreate:
		return false
	}
	t := strings.ToLower(e.Text)
	for _, w := range []string{"too large", "too big", "nul", "bare", "newline", "8bit", "8-bit", "invalid", "syntax", "malformed", "parse"} {
		if strings.Contains(t, w) {
			return true
		}
	}
	return repairableRefusal(e)
}

// repairableRefusal reports whether the destination refused bytes push
// --repair changes: NUL, or line ends that are not CRLF.
func repairableRefusal(e *imap.Error) bool {
	t := strings.ToLower(e.Text)
	for _, w := range []string{"nul", "bare", "newline", "line end", "line-end", "lf", "cr"} {
		if strings.Contains(t, w) && (w != "lf" && w != "cr" || containsWord(t, w)) {
			return true
		}
	}
	return e.Code == imap.ResponseCodeParse && strings.Contains(t, "line")
}

func containsWord(s, w string) bool {
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return !('a' <= r && r <= 'z') }) {
		if f == w {
			return true
		}
	}
	return false
}

// repairMessage returns b with every line end CRLF (a bare LF or a lone
// CR becomes CRLF) and every NUL byte a space — what RFC 5322 allows and
// strict servers store — and whether anything changed.
func repairMessage(b []byte) ([]byte, bool) {
	out := make([]byte, 0, len(b)+len(b)/32)
	changed := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == 0:
			out = append(out, ' ')
			changed = true
		case c == '\r' && i+1 < len(b) && b[i+1] == '\n':
			out = append(out, '\r', '\n')
			i++
		case c == '\r' || c == '\n':
			out = append(out, '\r', '\n')
			changed = true
		default:
			out = append(out, c)
		}
	}
	return out, changed
}

// repair loads m's archived bytes and, when push --repair would change
// them, makes m the repaired message (its size and hash; orig keeps the
// archived message's hash).
func (p *pusher) repair(m *pushMsg) (bool, error) {
	raw, err := os.ReadFile(filepath.Join(p.arc.Dir(), m.e.Path))
	if err != nil {
		return false, err
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != m.archiveSHA() {
		return false, fmt.Errorf("archived file %s changed after it was fetched", m.e.Path)
	}
	fixed, changed := repairMessage(raw)
	if !changed {
		return false, nil
	}
	sum := sha256.Sum256(fixed)
	e := *m.e
	e.Size, e.SHA256 = int64(len(fixed)), hex.EncodeToString(sum[:])
	m.orig, m.e, m.data = m.archiveSHA(), &e, fixed
	return true, nil
}
