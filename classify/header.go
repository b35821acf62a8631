package classify

import (
	"bytes"
	"io"
	"strings"
)

// MaxHeader bounds how much of a message is read to find its header.
const MaxHeader = 256 << 10

// Field is one header field, unfolded, in the order it appears.
type Field struct {
	Name  string // as written, e.g. "X-Original-To"
	Value string // unfolded, surrounding white space removed
}

// Is reports whether the field's name is name, ignoring case.
func (f Field) Is(name string) bool { return strings.EqualFold(f.Name, name) }

// ParseHeader splits the header of a raw message into fields, in order. It
// never fails: it stops at the first empty line (CRLF or bare LF), at
// MaxHeader bytes or at the end of the data; lines without a colon are
// skipped, a continuation line before any field is ignored, and any bytes are
// kept as they are (8-bit header text is not an error).
func ParseHeader(b []byte) []Field {
	var fields []Field
	scanHeader(b, nil, func(name, value []byte) {
		fields = append(fields, Field{Name: string(name), Value: string(value)})
	})
	return fields
}

// scanHeader calls fn for each header field of b, as ParseHeader describes,
// without allocating: name and value are only valid during the call (folded
// values are unfolded into scratch).
func scanHeader(b []byte, scratch []byte, fn func(name, value []byte)) []byte {
	if len(b) > MaxHeader {
		b = b[:MaxHeader]
	}
	var name, value []byte
	folded := false
	flush := func() {
		if name != nil {
			fn(name, bytes.TrimSpace(value))
			name, value, folded = nil, nil, false
		}
	}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			break // end of header
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name != nil {
				if !folded {
					scratch = append(scratch[:0], value...)
					folded = true
				}
				scratch = append(scratch, ' ')
				scratch = append(scratch, bytes.TrimSpace(line)...)
				value = scratch
			}
			continue
		}
		flush()
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			continue // not a field
		}
		n := bytes.TrimSpace(line[:i])
		if len(n) == 0 || bytes.ContainsAny(n, " \t") {
			continue // not a field; an mbox "From " line is skipped here too
		}
		name, value = n, line[i+1:]
	}
	flush()
	return scratch
}

// ReadHeader reads from r up to and including the empty line that ends the
// header (or MaxHeader bytes, or the end of r) and returns those bytes.
func ReadHeader(r io.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for len(buf) < MaxHeader {
		if cap(buf)-len(buf) < 4<<10 {
			buf = append(buf, make([]byte, max(16<<10, cap(buf)))...)[:len(buf)]
		}
		start := max(0, len(buf)-3)
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if i := headerEnd(buf[start:]); i >= 0 {
			return buf[:start+i], nil
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// headerEnd returns the length of the header in b including the empty line,
// or -1 if b holds no empty line.
func headerEnd(b []byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 3
		}
	}
	if len(b) > 0 && b[0] == '\n' {
		return 1
	}
	if len(b) > 1 && b[0] == '\r' && b[1] == '\n' {
		return 2
	}
	return -1
}
