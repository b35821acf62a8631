package imapsync

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// The connection toolkit of Fetch, Push, Verify and VerifyDest: the
// connections of a run (connSet), the wait before a retry (backoff), the
// selected mailbox of a connection, and the kind of error that ends a run
// instead of a connection (localError).

// conn is a client connection with its capabilities.
type conn struct {
	*imapclient.Client
	raw *watchdogConn
	// guard filters what the server sends (see guard); its BadNames and
	// LimitError explain failures imapclient reports only as text.
	guard *guard
	// selected is the remote name of the mailbox SELECT or EXAMINE opened,
	// "" if none, and uidValid its UIDVALIDITY. Only setSelected writes
	// them: selectMailbox and unselect are the ways to change them.
	selected string
	uidValid uint32
}

func (c *conn) setSelected(name string, uidValidity uint32) {
	c.selected, c.uidValid = name, uidValidity
}

// selectMailbox opens name on c: SELECT, or EXAMINE with opts.ReadOnly. The
// mailbox is c's selected one only once the server said OK: while the
// command runs, and after it failed, nothing is (RFC 3501 §6.3.1: a failed
// SELECT leaves no mailbox selected).
func (c *conn) selectMailbox(name string, opts *imap.SelectOptions) (*imap.SelectData, error) {
	c.setSelected("", 0)
	data, err := c.Select(name, opts).Wait()
	if err != nil {
		return nil, err
	}
	c.setSelected(name, data.UIDValidity)
	return data, nil
}

// ensureSelected is selectMailbox unless name is c's selected mailbox
// already; then it sends nothing and returns nil data.
func (c *conn) ensureSelected(name string, opts *imap.SelectOptions) (*imap.SelectData, error) {
	if c.selected == name {
		return nil, nil
	}
	return c.selectMailbox(name, opts)
}

// canUnselect reports whether the server has UNSELECT (RFC 3691), which
// leaves a mailbox in one command that changes nothing.
func (c *conn) canUnselect() bool {
	return c.Caps().Has(imap.CapUnselect) || c.Caps().Has(imap.CapIMAP4rev2)
}

// unselect leaves the selected mailbox without changing it: UNSELECT where
// the server has it, else EXAMINE of a mailbox that cannot exist, which
// fails and so leaves nothing selected (RFC 3501 §6.3.1; CLOSE would
// expunge a mailbox selected read-write). A refusal leaves nothing selected
// either; only a broken connection is an error.
func (c *conn) unselect() error {
	var err error
	if c.canUnselect() {
		err = c.Unselect().Wait()
		c.setSelected("", 0)
	} else {
		_, err = c.selectMailbox("catchall-no-such-folder-"+strconv.FormatInt(time.Now().UnixNano(), 36), &imap.SelectOptions{ReadOnly: true})
	}
	if err != nil && !errors.As(err, new(*imap.Error)) {
		return err
	}
	return nil
}

// connSet is the open connections of one run. When the run's context ends
// they are all closed at once, which also ends a read in progress: nothing
// else interrupts go-imap waiting for the server.
type connSet struct {
	srv    *Server
	stop   func() bool
	mu     sync.Mutex
	open   map[*conn]bool
	opened int
}

// newConnSet returns an empty set whose connections are closed when ctx
// ends; close undoes that.
func newConnSet(ctx context.Context, srv *Server) *connSet {
	s := &connSet{srv: srv, open: map[*conn]bool{}}
	s.stop = context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for c := range s.open {
			c.raw.Conn.Close()
		}
	})
	return s
}

// close stops watching the context; the connections stay as they are.
func (s *connSet) close() { s.stop() }

// dial connects, logs in and adds the connection to the set. A connection
// that became ready just as ctx ended is closed at once: its first command
// fails.
func (s *connSet) dial(ctx context.Context) (*conn, error) {
	c, err := s.srv.dial(ctx, nil)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.open[c] = true
	s.opened++
	s.mu.Unlock()
	if ctx.Err() != nil {
		c.raw.Conn.Close()
	}
	return c, nil
}

// hangUp closes c (see closeConn) and removes it from the set.
func (s *connSet) hangUp(c *conn) {
	s.mu.Lock()
	delete(s.open, c)
	s.mu.Unlock()
	closeConn(c)
}

// count returns how many connections the set has opened.
func (s *connSet) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened
}

// closeConn closes a connection, waiting at most 10 seconds for go-imap's
// reader to stop (it never does if it waits for a literal nobody reads). It
// reports whether the reader stopped.
func closeConn(c *conn) bool {
	c.raw.Conn.Close()
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	select {
	case <-closed:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

// abandon closes a connection whose FETCH broke off and releases the command,
// waiting a bounded time for go-imap's decoder to stop.
func abandon(c *conn, cmd *imapclient.FetchCommand) {
	if closeConn(c) {
		cmd.Close()
	}
	// else the decoder is stuck; leave the command to it rather than race.
}

// isClosed reports whether c's connection has ended.
func isClosed(c *conn) bool {
	select {
	case <-c.Closed():
		return true
	default:
		return false
	}
}

// backoff is the wait before a retry: first before the first one, doubled
// for every further one, never more than max.
type backoff struct {
	first, max time.Duration
}

// delay returns the wait before retry n (counted from 1).
func (b backoff) delay(n int) time.Duration {
	d := b.first
	for i := 1; i < n && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// sleep waits d. If ctx ends first, it returns at once with ctx.Err().
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// localError is a failure of this machine (the archive: disk full, too many
// open files, its index), not of the server or the connection: retrying on
// another connection does not help, and the run ends. errors.As finds it,
// errors.Is its cause.
type localError struct {
	what string // what failed, as the message starts
	err  error
}

func (e *localError) Error() string { return e.what + ": " + e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// isLocal reports whether err is, or wraps, a localError.
func isLocal(err error) bool {
	return errors.As(err, new(*localError))
}

// transferDefaults are what fetch and push take for the options they share
// when they are zero (or negative); the backoff's first wait is one second.
type transferDefaults struct {
	connections, batchMessages int
	batchBytes                 int64
	retries                    int
}

func (d transferDefaults) apply(connections, batchMessages *int, batchBytes *int64, retries *int, backoff *time.Duration) {
	orDefault(connections, d.connections)
	orDefault(batchMessages, d.batchMessages)
	orDefault(batchBytes, d.batchBytes)
	orDefault(retries, d.retries)
	orDefault(backoff, time.Second)
}

func orDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// orDiscard returns log, or a logger that discards for nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
