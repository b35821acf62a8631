// Package imaptest runs IMAP servers for tests and the demo: the in-process
// go-imap memory server on 127.0.0.1, and TCP fault injectors (a proxy that
// cuts connections mid-stream, a server that stops answering).
package imaptest

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// Server is an in-memory IMAP server listening on 127.0.0.1.
type Server struct {
	Addr     string // host:port
	Username string
	Password string
	User     *imapmemserver.User

	srv *imapserver.Server
	ln  net.Listener
}

// Options configures Start; nil means defaults.
type Options struct {
	Username string      // default "alice"
	Password string      // default "secret"
	Caps     imap.CapSet // default IMAP4rev1 NAMESPACE UIDPLUS LIST-STATUS MOVE
	Debug    io.Writer   // protocol transcript, if not nil
	// TLSConfig, when not nil, makes the server offer STARTTLS with it.
	TLSConfig *tls.Config
}

// Start starts a memory server with one user on 127.0.0.1 and a free port.
func Start(opts *Options) (*Server, error) {
	if opts == nil {
		opts = &Options{}
	}
	s := &Server{Username: opts.Username, Password: opts.Password}
	if s.Username == "" {
		s.Username = "alice"
	}
	if s.Password == "" {
		s.Password = "secret"
	}
	caps := opts.Caps
	if caps == nil {
		caps = imap.CapSet{
			imap.CapIMAP4rev1: {}, imap.CapNamespace: {}, imap.CapUIDPlus: {},
			imap.CapListStatus: {}, imap.CapMove: {},
		}
	}
	mem := imapmemserver.New()
	s.User = imapmemserver.NewUser(s.Username, s.Password)
	if err := s.User.Create("INBOX", nil); err != nil {
		return nil, err
	}
	mem.AddUser(s.User)
	s.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
		DebugWriter:  opts.Debug,
		TLSConfig:    opts.TLSConfig,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.ln, s.Addr = ln, ln.Addr().String()
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// URL returns the imap+plain URL of the server's user.
func (s *Server) URL() string { return fmt.Sprintf("imap+plain://%s@%s", s.Username, s.Addr) }

// Append adds a message to mailbox (created if missing, with parents).
func (s *Server) Append(mailbox string, raw []byte, flags []string, date time.Time) (imap.UID, error) {
	if err := s.CreateMailbox(mailbox); err != nil {
		return 0, err
	}
	fl := make([]imap.Flag, len(flags))
	for i, f := range flags {
		fl[i] = imap.Flag(f)
	}
	data, err := s.User.Append(mailbox, literal{bytes.NewReader(raw), int64(len(raw))}, &imap.AppendOptions{Flags: fl, Time: date})
	if err != nil {
		return 0, err
	}
	return data.UID, nil
}

// CreateMailbox creates mailbox if it does not exist.
func (s *Server) CreateMailbox(mailbox string) error {
	if mailbox == "INBOX" {
		return nil
	}
	err := s.User.Create(mailbox, nil)
	if e, ok := err.(*imap.Error); ok && e.Code == imap.ResponseCodeAlreadyExists {
		return nil
	}
	return err
}

type literal struct {
	*bytes.Reader
	size int64
}

func (l literal) Size() int64 { return l.size }

// Proxy forwards TCP connections to a target and cuts the first Cuts of them
// after CutAfter bytes from the server, to test resuming after a dropped
// connection.
type Proxy struct {
	Addr string

	ln       net.Listener
	target   string
	cutAfter int64
	mu       sync.Mutex
	cuts     int
	conns    int
}

// StartProxy starts a proxy on 127.0.0.1 for target that cuts the first cuts
// connections after cutAfter bytes received from the server.
func StartProxy(target string, cuts int, cutAfter int64) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), ln: ln, target: target, cutAfter: cutAfter, cuts: cuts}
	go p.serve()
	return p, nil
}

// Connections returns how many connections the proxy has accepted.
func (p *Proxy) Connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns
}

// Close stops accepting connections.
func (p *Proxy) Close() error { return p.ln.Close() }

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns++
		cut := p.cuts > 0
		if cut {
			p.cuts--
		}
		p.mu.Unlock()
		go p.handle(c, cut)
	}
}

func (p *Proxy) handle(c net.Conn, cut bool) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		io.Copy(up, c)
		up.Close()
	}()
	if cut {
		io.CopyN(c, up, p.cutAfter)
		return // both ends close: the client sees the connection drop mid-response
	}
	io.Copy(c, up)
}

// Silent is a server that accepts connections and then never answers (or,
// with Greet, sends the greeting and the login reply and then goes silent):
// a hung server.
type Silent struct {
	Addr string
	ln   net.Listener
	mu   sync.Mutex
	open []net.Conn
}

// StartSilent starts a silent server on 127.0.0.1. With greet it says hello
// and accepts any login, then never answers again.
func StartSilent(greet bool) (*Silent, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Silent{Addr: ln.Addr().String(), ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			if greet {
				go func() {
					io.WriteString(c, "* OK [CAPABILITY IMAP4rev1] hello\r\n")
					buf := make([]byte, 4096)
					n, _ := c.Read(buf)
					if tag, _, ok := bytes.Cut(buf[:n], []byte(" ")); ok {
						fmt.Fprintf(c, "%s OK [CAPABILITY IMAP4rev1] logged in\r\n", tag)
					}
					io.Copy(io.Discard, c) // and never answer again
				}()
			}
		}
	}()
	return s, nil
}

// Close closes the listener and every connection.
func (s *Silent) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.open {
		c.Close()
	}
	return s.ln.Close()
}
