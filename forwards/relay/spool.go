package relay

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Envelope is what the relay knows about an accepted message besides its
// bytes. It is the first line of the spool file.
type Envelope struct {
	ID       string    `json:"id"`
	Received time.Time `json:"received"`
	ClientIP string    `json:"client_ip,omitempty"`
	Helo     string    `json:"helo,omitempty"`
	TLS      bool      `json:"tls,omitempty"`
	From     string    `json:"from"`               // the original envelope sender; "" is the null sender
	UTF8     bool      `json:"smtputf8,omitempty"` // MAIL FROM had SMTPUTF8
	Body     string    `json:"body,omitempty"`     // MAIL FROM BODY= (7BIT, 8BITMIME)
	Groups   []Group   `json:"groups"`
	// DSN marks a delivery status notification the relay made itself: it is
	// sent from the null sender and never answered by another.
	DSN bool `json:"dsn,omitempty"`
	// Submitted marks a message an authenticated user sent through the
	// submission port: From is their alias, and a failure report goes
	// back to it.
	Submitted bool `json:"submitted,omitempty"`
}

// Group is one alias of a message and the addresses it goes to; each group
// is delivered in its own SMTP transaction, with its own X-Catchall-Alias.
type Group struct {
	Alias   string   `json:"alias"`
	Targets []string `json:"targets"`
	Kind    string   `json:"kind,omitempty"`
	// dkim is set at RCPT on a KindReply group whose sender's SPF did not
	// pass: the message needs a DKIM signature of its From: domain.
	dkim bool
	// denied is set at RCPT on a KindReply group whose envelope sender
	// is not an address the alias forwards to: refused at the end of DATA.
	denied bool
}

// Group kinds.
const (
	KindAlias = ""    // mail for an alias of the plan, a burner or the catch-all
	KindSRS   = "srs" // a bounce to an SRS address, going back to the original sender
	KindDSN   = "dsn" // a delivery status notification the relay made
	// KindSend is a message a user sent from Alias through the submission
	// port, going to Targets (anywhere), from Alias itself (no SRS).
	KindSend = "send"
	// KindReply is the user's reply to a reverse address (Config.ReverseAliases):
	// it goes to the correspondent (Targets) from Alias itself (no SRS),
	// with a header that no longer names the user's own addresses.
	KindReply = "reply"
	// KindDigest is the digest the relay sends to the default targets
	// (Config.Digest), from the null sender like a DSN.
	KindDigest = "digest"
)

// Failure is a recipient that cannot be delivered.
type Failure struct {
	Alias  string `json:"alias"`
	Target string `json:"target"`
	Status string `json:"status"` // enhanced status code, e.g. 5.1.1
	Reason string `json:"reason"`
}

// State is the delivery progress of a spooled message, kept beside it as
// ID.state once the first attempt did not finish it.
type State struct {
	Attempts  int       `json:"attempts"`
	Next      time.Time `json:"next"`
	Done      []string  `json:"done,omitempty"` // "alias target" pairs delivered
	Failed    []Failure `json:"failed,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

func (st *State) done(alias, target string) bool {
	k := alias + " " + target
	for _, d := range st.Done {
		if d == k {
			return true
		}
	}
	for _, f := range st.Failed {
		if f.Alias == alias && f.Target == target {
			return true
		}
	}
	return false
}

const spoolMagic = "CATCHALL-SPOOL 1 "

// Spool is the relay's durable queue: one file per accepted message in
// SPOOL/queue, written to SPOOL/tmp, fsynced, renamed into place and the
// directory fsynced before the client hears 250.
type Spool struct {
	dir, queue, tmp, corrupt string
	dirSync                  *dirSyncer
}

// OpenSpool creates the spool's directories (0700) and removes the
// leftovers of receptions that never completed (their clients were never
// told 250).
func OpenSpool(dir string) (*Spool, error) {
	sp := &Spool{dir: dir, queue: filepath.Join(dir, "queue"), tmp: filepath.Join(dir, "tmp"), corrupt: filepath.Join(dir, "corrupt")}
	for _, d := range []string{dir, sp.queue, sp.tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	sp.dirSync = &dirSyncer{dir: sp.queue}
	sp.dirSync.cond = sync.NewCond(&sp.dirSync.mu)
	ents, err := os.ReadDir(sp.tmp)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, e := range ents {
		os.Remove(filepath.Join(sp.tmp, e.Name()))
	}
	return sp, nil
}

// NewID returns a new message ID: time-ordered and unique.
func NewID() string {
	var b [5]byte
	rand.Read(b[:])
	return strconv.FormatInt(time.Now().UnixMicro(), 36) + hex.EncodeToString(b[:])
}

// validID reports whether id can name a spool file.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// SpoolWriter receives one message.
type SpoolWriter struct {
	sp   *Spool
	id   string
	f    *os.File
	w    *bufio.Writer
	n    int64
	done bool
}

// Create starts a spool file for env.
func (sp *Spool) Create(env *Envelope) (*SpoolWriter, error) {
	head, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(sp.tmp, env.ID), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	w := &SpoolWriter{sp: sp, id: env.ID, f: f, w: bufio.NewWriterSize(f, 64<<10)}
	w.w.WriteString(spoolMagic)
	w.w.Write(head)
	w.w.WriteByte('\n')
	return w, nil
}

// Write appends message bytes.
func (w *SpoolWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
}

// Size returns the message bytes written so far.
func (w *SpoolWriter) Size() int64 { return w.n }

// Commit makes the message durable: file fsync, rename into the queue,
// directory fsync. Only after Commit returns nil may the client hear 250.
func (w *SpoolWriter) Commit() error {
	if w.done {
		return errors.New("spool: already committed")
	}
	w.done = true
	tmp := w.f.Name()
	err := w.w.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(w.sp.queue, w.id))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("spool: %w", err)
	}
	if err := w.sp.dirSync.Sync(); err != nil {
		// The rename may or may not survive a crash, and the client will
		// send the message again: take this copy back so that it is not
		// delivered twice.
		os.Remove(filepath.Join(w.sp.queue, w.id))
		return fmt.Errorf("spool: syncing the queue directory: %w", err)
	}
	return nil
}

// Abort drops an uncommitted message.
func (w *SpoolWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}

// List returns the IDs of the queued messages, oldest first, and removes
// state files whose message is gone.
func (sp *Spool) List() ([]string, error) {
	ents, err := os.ReadDir(sp.queue)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	have := map[string]bool{}
	var ids []string
	for _, e := range ents {
		if validID(e.Name()) {
			ids = append(ids, e.Name())
			have[e.Name()] = true
		}
	}
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".state"); ok && !have[id] {
			os.Remove(filepath.Join(sp.queue, e.Name()))
		}
	}
	return ids, nil
}

// Open returns the envelope of a queued message and its file, positioned
// at the first message byte.
func (sp *Spool) Open(id string) (*Envelope, *os.File, error) {
	f, err := os.Open(filepath.Join(sp.queue, id))
	if err != nil {
		return nil, nil, err
	}
	env, off, err := readEnvelope(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("spool file %s: %w", id, err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	return env, f, nil
}

// errCorrupt marks a spool file whose content cannot be a message of ours
// (as opposed to one that could not be read just now).
var errCorrupt = errors.New("corrupt spool file")

// readEnvelope parses the first line of a spool file.
func readEnvelope(r io.Reader) (*Envelope, int64, error) {
	br := bufio.NewReaderSize(r, 4096)
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		var more []byte
		more, err = br.ReadBytes('\n')
		line = append(bytes.Clone(line), more...)
	}
	if err == io.EOF {
		return nil, 0, fmt.Errorf("%w: no envelope line", errCorrupt)
	}
	if err != nil {
		return nil, 0, err // a read error: the file may be fine
	}
	rest, ok := bytes.CutPrefix(line, []byte(spoolMagic))
	if !ok {
		return nil, 0, fmt.Errorf("%w: not a catchall spool file", errCorrupt)
	}
	var env Envelope
	if err := json.Unmarshal(rest, &env); err != nil {
		return nil, 0, fmt.Errorf("%w: envelope: %v", errCorrupt, err)
	}
	if !validID(env.ID) || len(env.Groups) == 0 {
		return nil, 0, fmt.Errorf("%w: envelope without ID or recipients", errCorrupt)
	}
	return &env, int64(len(line)), nil
}

// LoadState returns the saved state of id, or a zero State.
func (sp *Spool) LoadState(id string) (State, error) {
	var st State
	b, err := os.ReadFile(filepath.Join(sp.queue, id+".state"))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("state of %s: %w", id, err)
	}
	return st, nil
}

// SaveState writes the state of id durably.
func (sp *Spool) SaveState(id string, st *State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(sp.tmp, id+".state")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(sp.queue, id+".state"))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("saving delivery state: %w", err)
	}
	return sp.dirSync.Sync()
}

// Remove deletes a delivered message and its state. The directory is not
// fsynced: should a power cut undo the removal, the message goes out again
// (a duplicate), which is the safe direction; Postfix does the same.
func (sp *Spool) Remove(id string) error {
	err := os.Remove(filepath.Join(sp.queue, id))
	os.Remove(filepath.Join(sp.queue, id+".state"))
	return err
}

// Quarantine moves an unreadable spool file to SPOOL/corrupt, where an
// operator can look at it; nothing is ever deleted unread.
func (sp *Spool) Quarantine(id string) error { return sp.moveOut(id, sp.corrupt) }

// Keep moves a message that failed for good and could not be reported to
// its sender (null or untrusted sender) to SPOOL/failed, with its state
// (the reasons): a message that was answered 250 never just disappears.
func (sp *Spool) Keep(id string) error { return sp.moveOut(id, filepath.Join(sp.dir, "failed")) }

func (sp *Spool) moveOut(id, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	os.Rename(filepath.Join(sp.queue, id+".state"), filepath.Join(dir, id+".state"))
	return os.Rename(filepath.Join(sp.queue, id), filepath.Join(dir, id))
}

// dirSyncer fsyncs a directory on behalf of many writers at once: a caller
// returns after an fsync that started after its call, and concurrent
// callers share one.
type dirSyncer struct {
	dir                  string
	mu                   sync.Mutex
	cond                 *sync.Cond
	requested, completed uint64
	running              bool
	err                  error
}

func (d *dirSyncer) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requested++
	ticket := d.requested
	for d.completed < ticket {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		target := d.requested
		d.mu.Unlock()
		err := syncDir(d.dir)
		d.mu.Lock()
		d.running = false
		d.completed = target
		d.err = err
		d.cond.Broadcast()
	}
	return d.err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	return err
}
