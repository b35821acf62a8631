package imapsync

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/catchall/catchall/internal/mutf7"
)

// maxNameLiteral bounds every literal the server sends that is not a message
// body or a section of one: folder names, quoted strings sent as literals,
// STATUS or ID data. go-imap reads such a literal whole into memory before
// it looks at it, so without a bound a hostile or broken server answering
// LIST with a name of 3 GiB makes the client hold it several times over.
const maxNameLiteral = 64 << 10

// guardBuffer is the read buffer of a guard; a response line longer than
// this passes through in pieces.
const guardBuffer = 64 << 10

// LimitError means the server sent a literal larger than the client accepts
// where no message body belongs (see maxNameLiteral). The connection is
// closed; the same command would get the same answer, so it is not retried.
type LimitError struct {
	Size, Limit int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("the server sent a literal of %d bytes where a name or string belongs (the limit is %d); it is broken or hostile, so the connection was closed", e.Size, e.Limit)
}

// guard sits between a server connection (after TLS) and imapclient, which
// reads the server's responses through it. It passes the stream on as it
// is, except that it
//
//   - refuses, with a LimitError, a literal above maxNameLiteral unless it
//     is a message body (FETCH BODY[…], BINARY[…], RFC822…), which streams
//     through whatever its size;
//   - drops a LIST, LSUB or STATUS response whose mailbox name is not valid
//     modified UTF-7 (RFC 3501 §5.1.3, e.g. "Q&A"), which imapclient cannot
//     decode and answers by closing the connection — the name is kept for
//     BadNames, so that one folder is reported while every other is fetched;
//   - may first hand imapclient a greeting of its own (after a STARTTLS done
//     by dial, whose real greeting came before TLS).
//
// It understands no more of IMAP than where literals are and how the
// responses it filters begin.
type guard struct {
	net.Conn
	r     *bufio.Reader
	limit int64

	pending []byte // bytes for the next Reads
	body    int64  // bytes of a literal still to pass straight through
	err     error  // the stream's end: passed on once pending is empty

	atStart bool   // the next byte starts a response
	kind    int    // of the current response: kindOther, kindFetch, kindName
	tail    []byte // the current line since the last literal, its last tailSize bytes
	asm     []byte // a kindName response being assembled
	buf     []byte // backing store of pending

	mu  sync.Mutex // guards err (also read by conn.cause) and bad
	bad []string
}

const (
	kindOther = iota
	kindFetch // "* n FETCH": literals after a body section may be of any size
	kindName  // "* LIST", "* LSUB", "* STATUS": assembled and checked whole
)

// tailSize is how much of a line guard keeps to recognise a body literal:
// enough for "BODY.PEEK[HEADER.FIELDS (…)]<…> {n}" in the usual cases, and
// a longer section specifier only makes its literal count as a name.
const tailSize = 512

func newGuard(c net.Conn, greeting string) *guard {
	g := &guard{Conn: c, r: bufio.NewReaderSize(c, guardBuffer), limit: maxNameLiteral, atStart: true}
	if greeting != "" {
		g.pending = []byte(greeting)
	}
	return g
}

// BadNames returns the mailbox names guard dropped, as the server sent
// them (bounded in length for messages).
func (g *guard) BadNames() []string {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.bad...)
}

func (g *guard) Read(p []byte) (int, error) {
	for {
		if len(g.pending) > 0 {
			n := copy(p, g.pending)
			g.pending = g.pending[n:]
			return n, nil
		}
		if g.body > 0 {
			n, err := g.r.Read(p[:min(int64(len(p)), g.body)])
			g.body -= int64(n)
			return n, err
		}
		if err := g.failed(); err != nil {
			return 0, err
		}
		err := g.next()
		g.mu.Lock()
		g.err = err
		g.mu.Unlock()
	}
}

func (g *guard) failed() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// next reads the next piece of the stream: a line, or the part of a line up
// to a literal, or (for a name response) the whole response.
func (g *guard) next() error {
	seg, err := g.r.ReadSlice('\n')
	if len(seg) == 0 {
		return err
	}
	if g.atStart {
		g.kind = responseKind(seg)
		g.tail = g.tail[:0]
		g.asm = g.asm[:0]
	}
	g.atStart = false
	if err == bufio.ErrBufferFull || (err != nil && len(seg) > 0 && seg[len(seg)-1] != '\n') {
		// A long line (or the last bytes before the connection ended).
		g.keepTail(seg)
		if g.kind == kindName {
			if len(g.asm)+len(seg) > int(g.limit) {
				return &LimitError{Size: int64(len(g.asm) + len(seg)), Limit: g.limit}
			}
			g.asm = append(g.asm, seg...)
			return nil
		}
		g.emit(seg)
		if err == bufio.ErrBufferFull {
			return nil
		}
		return err
	}
	size, ok := literalAt(seg)
	if !ok {
		// The response ends with this line.
		g.atStart = true
		if g.kind == kindName {
			g.asm = append(g.asm, seg...)
			g.checkName(g.asm)
			return nil
		}
		g.emit(seg)
		return nil
	}
	if g.kind == kindName {
		if int64(len(g.asm)+len(seg))+size > g.limit {
			return &LimitError{Size: size, Limit: g.limit}
		}
		g.asm = append(g.asm, seg...)
		start := len(g.asm)
		g.asm = append(g.asm, make([]byte, size)...)
		if _, err := io.ReadFull(g.r, g.asm[start:]); err != nil {
			return err
		}
		g.tail = g.tail[:0]
		return nil
	}
	g.keepTail(seg)
	if size > g.limit && !(g.kind == kindFetch && bodyLiteral(g.tail)) {
		return &LimitError{Size: size, Limit: g.limit}
	}
	g.emit(seg)
	g.body = size
	g.tail = g.tail[:0]
	return nil
}

// emit queues a copy of b for the reader (b belongs to the bufio.Reader).
func (g *guard) emit(b []byte) {
	g.buf = append(g.buf[:0], b...)
	g.pending = g.buf
}

func (g *guard) keepTail(seg []byte) {
	g.tail = append(g.tail, seg...)
	if len(g.tail) > tailSize {
		g.tail = append(g.tail[:0], g.tail[len(g.tail)-tailSize:]...)
	}
}

// checkName passes a LIST/LSUB/STATUS response on unless its mailbox name
// is one imapclient cannot decode.
func (g *guard) checkName(resp []byte) {
	name, ok := responseMailbox(resp)
	if !ok || validMailboxName(name) {
		g.emit(resp)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	n := boundName(string(name))
	if len(g.bad) < 1000 && !slices.Contains(g.bad, n) { // LIST-STATUS names it twice
		g.bad = append(g.bad, n)
	}
}

// responseKind tells from the start of a response which kind it is.
func responseKind(line []byte) int {
	rest, ok := bytes.CutPrefix(line, []byte("* "))
	if !ok {
		return kindOther
	}
	word, _, _ := bytes.Cut(rest, []byte(" "))
	switch {
	case bytes.EqualFold(word, []byte("LIST")), bytes.EqualFold(word, []byte("LSUB")), bytes.EqualFold(word, []byte("STATUS")):
		return kindName
	}
	if _, err := strconv.ParseUint(string(word), 10, 32); err == nil {
		after, _ := bytes.CutPrefix(rest[len(word):], []byte(" "))
		if len(after) >= 5 && bytes.EqualFold(after[:5], []byte("FETCH")) {
			return kindFetch
		}
	}
	return kindOther
}

// literalAt returns the size of the literal a line announces ("… {123}\r\n"
// or "{123+}"), if it does.
func literalAt(line []byte) (int64, bool) {
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	digits := bytes.TrimSuffix(line[open+1:len(line)-1], []byte("+"))
	if len(digits) == 0 || len(digits) > 19 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// bodyLiteral reports whether the literal announced at the end of line is a
// message body or part of one: it follows a section ("BODY[…]",
// "BINARY[…]<0>") or RFC822, RFC822.HEADER, RFC822.TEXT.
func bodyLiteral(line []byte) bool {
	line = bytes.TrimRight(line, "\r\n")
	line = bytes.TrimRight(line[:bytes.LastIndexByte(line, '{')], " ")
	if n := len(line); n > 0 && line[n-1] == '>' { // partial: "]<0>"
		if i := bytes.LastIndexByte(line, '<'); i >= 0 {
			line = line[:i]
		}
	}
	if n := len(line); n > 0 && line[n-1] == ']' {
		return true
	}
	i := bytes.LastIndexAny(line, " (")
	item := bytes.ToUpper(line[i+1:])
	switch string(item) {
	case "RFC822", "RFC822.HEADER", "RFC822.TEXT":
		return true
	}
	return false
}

// responseMailbox returns the raw mailbox name of a LIST, LSUB or STATUS
// response: "* LIST (attrs) delim NAME …", "* STATUS NAME (…)".
func responseMailbox(resp []byte) ([]byte, bool) {
	p := &tokens{b: resp}
	p.word() // "*": responseKind saw it
	start := p.i + 1
	if !p.word() { // "LIST", "LSUB", "STATUS"
		return nil, false
	}
	verb := resp[start:p.i]
	if !bytes.EqualFold(verb, []byte("STATUS")) {
		if _, ok := p.next(); !ok { // attributes
			return nil, false
		}
		if _, ok := p.next(); !ok { // delimiter
			return nil, false
		}
	}
	return p.next()
}

// tokens reads the items of one response: atoms, quoted strings, literals,
// parenthesised lists (as one token).
type tokens struct {
	b []byte
	i int
}

func (p *tokens) skipSpace() {
	for p.i < len(p.b) && p.b[p.i] == ' ' {
		p.i++
	}
}

func (p *tokens) word() bool {
	p.skipSpace()
	start := p.i
	for p.i < len(p.b) && p.b[p.i] != ' ' && p.b[p.i] != '\r' {
		p.i++
	}
	return p.i > start
}

// next returns the next token's value: a string's content unquoted, a
// literal's bytes, an atom or a whole parenthesised list as they stand.
func (p *tokens) next() ([]byte, bool) {
	p.skipSpace()
	if p.i >= len(p.b) {
		return nil, false
	}
	switch p.b[p.i] {
	case '"':
		var out []byte
		for p.i++; p.i < len(p.b); p.i++ {
			switch c := p.b[p.i]; c {
			case '\\':
				if p.i+1 < len(p.b) {
					p.i++
					out = append(out, p.b[p.i])
				}
			case '"':
				p.i++
				return out, true
			default:
				out = append(out, c)
			}
		}
		return nil, false
	case '{':
		end := bytes.Index(p.b[p.i:], []byte("\n"))
		if end < 0 {
			return nil, false
		}
		size, ok := literalAt(p.b[p.i : p.i+end+1])
		start := p.i + end + 1
		if !ok || int64(len(p.b)-start) < size {
			return nil, false
		}
		p.i = start + int(size)
		return p.b[start:p.i], true
	case '(':
		start, depth := p.i, 0
		for ; p.i < len(p.b); p.i++ {
			switch p.b[p.i] {
			case '(':
				depth++
			case ')':
				if depth--; depth == 0 {
					p.i++
					return p.b[start:p.i], true
				}
			case '"':
				if _, ok := p.next(); !ok {
					return nil, false
				}
				p.i--
			case '{':
				if _, ok := p.next(); !ok {
					return nil, false
				}
				p.i--
			}
		}
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) && p.b[p.i] != ' ' && p.b[p.i] != '\r' && p.b[p.i] != '(' && p.b[p.i] != ')' {
		p.i++
	}
	return p.b[start:p.i], p.i > start
}

// validMailboxName reports whether go-imap can decode name: INBOX in any
// case, else valid modified UTF-7 (raw UTF-8 is tolerated, as go-imap does).
func validMailboxName(name []byte) bool {
	if bytes.EqualFold(name, []byte("INBOX")) {
		return true
	}
	_, err := mutf7.Decode(string(name))
	return err == nil
}

// boundName shortens a name from the server for messages and logs.
func boundName(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}

// errBadName is the failure of a folder whose name guard dropped.
var errBadName = errors.New("the server sends this folder's name in invalid modified UTF-7 (RFC 3501 §5.1.3), so it cannot be opened by name; the other folders are not affected. Rename it on the server (e.g. in webmail) and run again")

// cause returns the guard's LimitError when it is why err happened (imapclient
// reports it only as text), else err.
func (c *conn) cause(err error) error {
	if err == nil || c == nil || c.guard == nil {
		return err
	}
	c.guard.mu.Lock()
	defer c.guard.mu.Unlock()
	var lim *LimitError
	if errors.As(c.guard.err, &lim) {
		return lim
	}
	return err
}
