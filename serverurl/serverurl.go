// Package serverurl parses the server URLs of the catchall contract.
//
// # Schemes
//
//	imaps://USER@HOST[:PORT]       implicit TLS, default port 993
//	imap://USER@HOST[:PORT]        STARTTLS required, default port 143
//	imap+plain://USER@HOST:PORT    no TLS at all (loopback and test servers only)
//	smtps:// smtp:// smtp+plain:// the same three for SMTP (465, 587, port required)
//
// A USER that contains "@" is percent-encoded ("me%40example.com"). A password
// in the URL is refused: passwords come from the environment, a file or a
// command (see package secret), never from anything that lands in shell history.
//
// The package is public, not under internal/, because imapsync.Server and
// relay.Config hold a *URL: a program outside this module must be able to
// make one to use them.
package serverurl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Security says how a connection is protected.
type Security string

// The three ways to reach a server.
const (
	SecurityTLS      Security = "tls"      // implicit TLS from the first byte
	SecurityStartTLS Security = "starttls" // plain connection upgraded with STARTTLS, which must be offered
	SecurityNone     Security = "none"     // no TLS; credentials cross the network in clear text
)

// ErrInvalid is wrapped by every error Parse returns.
var ErrInvalid = errors.New("invalid server URL")

// URL is a parsed server URL. Host never contains a port; Port is never zero.
type URL struct {
	Protocol string   // "imap" or "smtp"
	Security Security // how the connection is protected
	User     string   // login name, percent-decoded; may be empty for SMTP
	Host     string   // host name or IP address, without brackets
	Port     int      // TCP port
}

type scheme struct {
	protocol    string
	security    Security
	defaultPort int // 0: the port is required
}

var schemes = map[string]scheme{
	"imaps":      {"imap", SecurityTLS, 993},
	"imap":       {"imap", SecurityStartTLS, 143},
	"imap+plain": {"imap", SecurityNone, 0},
	"smtps":      {"smtp", SecurityTLS, 465},
	"smtp":       {"smtp", SecurityStartTLS, 587},
	"smtp+plain": {"smtp", SecurityNone, 0},
}

// Parse parses s, which must use one of the schemes of protocol ("imap" or
// "smtp"), or any scheme when protocol is empty.
func Parse(s, protocol string) (*URL, error) {
	return ParseFor(s, protocol, "CATCHALL_PASSWORD, --password-file or --password-command")
}

// ParseFor is Parse for a command whose password comes from elsewhere than
// fetch's: passwordFrom names those sources in the error about a password
// in the URL (e.g. "CATCHALL_DEST_PASSWORD, --dest-password-file or
// --dest-password-command").
func ParseFor(s, protocol, passwordFrom string) (*URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		if r := redact(s); r != s {
			// The parser's own message may quote part of the password.
			return nil, fmt.Errorf("%w %q: not a valid URL; a password in the URL would end up in shell history anyway: use %s", ErrInvalid, r, passwordFrom)
		}
		return nil, fmt.Errorf("%w %q: %v", ErrInvalid, redact(s), errors.Unwrap(err))
	}
	sc, ok := schemes[strings.ToLower(u.Scheme)]
	if !ok || (protocol != "" && sc.protocol != protocol) {
		var want []string
		for name, sc := range schemes {
			if protocol == "" || sc.protocol == protocol {
				want = append(want, name+"://")
			}
		}
		slices.Sort(want)
		return nil, fmt.Errorf("%w %q: scheme must be one of %s", ErrInvalid, redact(s), strings.Join(want, ", "))
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, fmt.Errorf("%w %q: expected %s://USER@HOST[:PORT]", ErrInvalid, redact(s), u.Scheme)
	}
	if _, set := u.User.Password(); set {
		return nil, fmt.Errorf("%w %q: a password in the URL would end up in shell history; use %s", ErrInvalid, redact(s), passwordFrom)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w %q: unexpected path, query or fragment", ErrInvalid, redact(s))
	}
	out := &URL{Protocol: sc.protocol, Security: sc.security, Host: u.Hostname()}
	if u.User != nil {
		out.User = u.User.Username()
	}
	if sc.protocol == "imap" && out.User == "" {
		return nil, fmt.Errorf("%w %q: the user name is missing (%s://USER@HOST)", ErrInvalid, redact(s), u.Scheme)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w %q: bad port %q", ErrInvalid, redact(s), p)
		}
		out.Port = n
	} else if sc.defaultPort != 0 {
		out.Port = sc.defaultPort
	} else {
		return nil, fmt.Errorf("%w %q: %s:// needs an explicit port", ErrInvalid, redact(s), u.Scheme)
	}
	return out, nil
}

// Addr returns "host:port", suitable for net.Dial.
func (u *URL) Addr() string {
	return net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
}

// String returns the URL in its canonical form (never with a password).
func (u *URL) String() string {
	var name string
	for n, sc := range schemes {
		if sc.protocol == u.Protocol && sc.security == u.Security {
			name = n
		}
	}
	user := ""
	if u.User != "" {
		user = url.PathEscape(u.User) + "@"
	}
	return name + "://" + user + u.Addr()
}

// redact hides a password someone put into a URL against the advice.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return redactRaw(s)
	}
	if u.User == nil {
		return s
	}
	if _, set := u.User.Password(); !set {
		return s
	}
	return u.Redacted()
}

// redactRaw hides the password of a URL the parser refuses: whatever
// follows the first ':' of the user information (before the last '@' of
// the authority) is replaced.
func redactRaw(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	auth := rest
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		auth = rest[:j]
	}
	at := strings.LastIndexByte(auth, '@')
	if at < 0 {
		return s
	}
	user, _, hasPass := strings.Cut(auth[:at], ":")
	if !hasPass {
		return s
	}
	return s[:i+3] + user + ":xxxxx" + rest[at:]
}
