package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/jonboulle/clockwork"

	"github.com/catchall/catchall/forwards"
	"github.com/catchall/catchall/forwards/dkimkey"
	"github.com/catchall/catchall/forwards/srs"
	"github.com/catchall/catchall/serverurl"
)

// Config is everything the relay needs. The zero values of the limits
// mean the defaults below.
type Config struct {
	Listen string // SMTP listen address (Run only)
	// Admin is the admin HTTP listen address (Run only; "" for none):
	// /metrics, /healthz and the JSON API (AdminHandler). On loopback
	// nothing needs a login; any other address needs AdminTLS and Users,
	// and then every page but /healthz needs a login.
	Admin string
	// AdminTLS makes the admin listener speak TLS (HTTPS); required when
	// Admin is not a loopback address.
	AdminTLS *tls.Config
	Domains  []string // the user's domains; empty means the domains of the plan's aliases
	Spool    string   // spool directory: relay.db, queue/, tmp/
	Plan     string   // plan file, imported when its content changes and on Reload; "" to use the store as it is
	// Store is the alias store's URL (ParseStoreURL): "" is the SQLite
	// file SPOOL/relay.db; a postgres:// URL is a store several relays
	// share (each with its own Spool). See StorePasswordEnv.
	Store string
	// StorePassword is the PostgreSQL store's password; "" means
	// StorePasswordEnv, ~/.pgpass or PGPASSFILE.
	StorePassword string
	// StoreStale is how long RCPT is answered from the aliases in memory
	// while the store cannot be reached; after that, 451 4.3.0 (signed
	// burners are still taken). 0 means DefaultStoreStale; negative: no
	// limit.
	StoreStale time.Duration
	// StoreResync is how often every alias is read again from the store
	// whether or not it announced a change (the safety net behind
	// PostgreSQL's notifications); 0 means DefaultStoreResync.
	StoreResync time.Duration

	Smarthost         *serverurl.URL // where everything is delivered
	SmarthostPassword string         // for AUTH when Smarthost.User is set
	SmarthostTLS      *tls.Config    // nil: the system's roots, ServerName from the URL

	// DKIM signs the mail users send through Submission or to reverse
	// addresses with a From: at one of Domains, and forwarded mail whose
	// From: the relay rewrote (ReverseAliases), never a forwarded From: as
	// it came; nil: nothing is signed.
	DKIM *DKIM

	// ReverseAliases rewrites forwarded mail so that replies go through
	// the relay: From: becomes a reverse address at the alias's domain
	// (the original sender in its display name, and in X-Original-From),
	// Reply-To, To and Cc addresses of other domains reverse addresses
	// too; such mail is DKIM-signed (with DKIM). false: forwarded mail
	// keeps its header (reverse addresses made before still take replies).
	ReverseAliases bool

	Burner         *Signer    // nil: no signed burners
	SRS            *srs.Codec // nil: envelope senders are not rewritten (SPF will fail at the destination)
	CatchAll       bool       // accept unknown aliases of Domains for DefaultTargets
	DefaultTargets []string   // where new burners and the catch-all go; empty means the plan's most common forward_to

	TLS *tls.Config // STARTTLS on the listener; nil for none

	// Submission is the listen address of the submission port (Run only;
	// "" for none), where the users of Users send mail to anywhere as any
	// address of Domains after AUTH. It offers STARTTLS with TLS, or
	// speaks TLS from the first byte with SubmissionTLS; without TLS it
	// must be a loopback address.
	Submission    string
	SubmissionTLS bool
	// Users is the users file (ReadUsers): re-read on Reload and when it
	// changes; UsersInStore ("store") means the accounts in the store
	// (catchall relay user add --store), which every relay sharing it
	// sees. Required with Submission.
	Users string
	// AuthFailures is how many failed AUTH attempts a client address (an
	// IPv6 /64) may make in AuthLockout before it is told 454 for AUTH
	// until AuthLockout has passed since its last failure; each failure is
	// answered only after AuthDelay times the failures so far (at most 5
	// times). Zero values mean DefaultAuthFailures, DefaultAuthLockout and
	// DefaultAuthDelay; a negative AuthDelay means none.
	AuthFailures  int
	AuthLockout   time.Duration
	AuthDelay     time.Duration
	Hostname      string // for the greeting and Received:; "" means os.Hostname
	MaxSize       int64  // bytes; default 50 MB
	MaxRecipients int    // per message; default 100
	// MaxBadRcpts is how many refused recipients a session may have before
	// every further command is refused unexamined (guessing of burner tags
	// and SRS hashes); 0 means DefaultMaxBadRcpts, -1 no limit.
	MaxBadRcpts   int
	MaxConnsPerIP int // default 20; negative: no limit (IPv6 clients count per /64)
	// MaxSession bounds how long one connection may last, however busy;
	// 0 means DefaultMaxSession, negative no bound.
	MaxSession time.Duration
	// MaxConns bounds all connections at once (421 beyond); 0 means
	// DefaultMaxConns, negative no limit.
	MaxConns      int
	RatePerMinute int // messages and refused recipients per minute per IPv4 address or IPv6 /64; 0: no limit
	IdleTimeout   time.Duration

	Workers  int           // concurrent deliveries; default 4
	RetryMin time.Duration // first retry; default 1 minute
	RetryMax time.Duration // longest wait between attempts; default 1 hour
	MaxAge   time.Duration // give up after; default 5 days

	Logger   *slog.Logger
	Resolver spf.DNSResolver // for the SPF check that decides whether a bounce may go to the sender; nil: the system's
	// BreachWatch is how often the relay reads the breach list (Breaches)
	// again and judges every alias of the plan with it as catchall breach
	// does (see BreachWatch in the package doc); 0: never.
	BreachWatch time.Duration
	// Breaches is the breach list: an http(s) URL ending in /breaches, or
	// a file (the JSON of GET /api/v3/breaches); "" means
	// DefaultBreachesURL, HIBP's public list (no key needed).
	Breaches string
	// Digest is how often a digest goes to DefaultTargets: DigestDaily
	// (08:00 UTC) or DigestWeekly (Monday 08:00 UTC); DigestOff ("") never.
	Digest string

	// Clock times retries, expiry, rate limits, plan polling and the
	// statistics; nil means the real clock. Socket deadlines (IdleTimeout,
	// MaxSession) always run on real time.
	Clock clockwork.Clock
}

// defaults fills in the zero values, and normalises DefaultTargets.
func (c *Config) defaults() {
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.StoreStale == 0 {
		c.StoreStale = DefaultStoreStale
	}
	if c.StoreResync <= 0 {
		c.StoreResync = DefaultStoreResync
	}
	if c.MaxSize == 0 {
		c.MaxSize = 50 << 20
	}
	if c.MaxBadRcpts == 0 {
		c.MaxBadRcpts = DefaultMaxBadRcpts
	}
	if c.MaxRecipients == 0 {
		c.MaxRecipients = 100
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxSession == 0 {
		c.MaxSession = DefaultMaxSession
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = 20
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.AuthFailures <= 0 {
		c.AuthFailures = DefaultAuthFailures
	}
	if c.AuthLockout <= 0 {
		c.AuthLockout = DefaultAuthLockout
	}
	if c.AuthDelay == 0 {
		c.AuthDelay = DefaultAuthDelay
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.RetryMin <= 0 {
		c.RetryMin = time.Minute
	}
	if c.RetryMax <= 0 {
		c.RetryMax = time.Hour
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 5 * 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	targets := make([]string, 0, len(c.DefaultTargets))
	for _, t := range c.DefaultTargets {
		if n, err := forwards.CheckAddress(t); err == nil {
			targets = append(targets, n) // lower case, punycode
		}
	}
	c.DefaultTargets = targets
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
		if c.Hostname == "" {
			c.Hostname = "localhost"
		}
	}
}

// ConfigError is one problem Validate found: the Config field (as
// "Burner.Len"), the value when it helps, and what is wrong with it.
type ConfigError struct {
	Field string
	Value string
	Err   error
}

// Error reads "Field Value: Err", or "Field Err" without a value (an Err
// such as "must be between 6 and 26").
func (e *ConfigError) Error() string {
	if e.Value == "" {
		return e.Field + " " + e.Err.Error()
	}
	return e.Field + " " + e.Value + ": " + e.Err.Error()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// Store defaults (Config.StoreStale, Config.StoreResync).
const (
	DefaultStoreStale  = 15 * time.Minute
	DefaultStoreResync = 5 * time.Minute
)

// UsersInStore is the Config.Users value that means the store's users.
const UsersInStore = "store"

// ErrNoDomains is returned by New and Reload when the config names no
// domains and the plan has no aliases to take them from.
var ErrNoDomains = errors.New("no domains: none configured and the plan has no aliases")

// Validate returns every problem of the config at once, each a
// *ConfigError, joined (errors.Join); nil when the relay can run with it.
// It checks what can be checked without opening anything: a spool and a
// smarthost are given; a password is never sent to the smarthost
// unencrypted, except on loopback; the admin listener is on loopback, or
// has TLS and users to log in; the
// domains and default targets are addresses every target can take; the
// burner tag and SRS hash lengths cannot be guessed by trying; the
// submission port has a users file, and TLS unless it is on loopback
// (passwords never cross a network in the clear).
func (c *Config) Validate() error {
	var problems []error
	bad := func(field, value string, format string, args ...any) {
		problems = append(problems, &ConfigError{Field: field, Value: value, Err: fmt.Errorf(format, args...)})
	}
	if c.Spool == "" {
		bad("Spool", "", "is required: the relay keeps its queue and store there")
	}
	if c.Store != "" {
		if _, _, err := ParseStoreURL(c.Store); err != nil {
			bad("Store", RedactStoreURL(c.Store), "%w", err)
		}
	}
	switch u := c.Smarthost; {
	case u == nil:
		bad("Smarthost", "", "is required: the relay delivers everything there")
	case u.User != "" && u.Security == serverurl.SecurityNone && !isLoopback(u.Host):
		bad("Smarthost", u.Addr(), "a password is never sent unencrypted to another machine; use smtp:// (STARTTLS) or smtps://")
	}
	if c.Admin != "" {
		host, _, err := net.SplitHostPort(c.Admin)
		if err != nil || host != "" && net.ParseIP(host) == nil || !adminLoopback(c.Admin) && (c.AdminTLS == nil || c.Users == "") {
			bad("Admin", c.Admin, "give a loopback address such as 127.0.0.1:9125, or IP:PORT with a certificate (AdminTLS) and users to log in (Users)")
		}
	}
	for _, d := range c.Domains {
		if _, err := forwards.CheckAddress("x@" + d); err != nil {
			bad("Domains", d, "not a domain name")
		}
	}
	for _, t := range c.DefaultTargets {
		if _, err := forwards.CheckAddress(t); err != nil {
			problems = append(problems, &ConfigError{Field: "DefaultTargets", Err: err})
		}
	}
	if c.Burner != nil && c.Burner.Len != 0 && (c.Burner.Len < MinTagLen || c.Burner.Len > MaxTagLen) {
		bad("Burner.Len", "", "must be between %d and %d (shorter tags can be guessed)", MinTagLen, MaxTagLen)
	}
	if c.DKIM != nil {
		if err := dkimkey.Check(c.DKIM.Key); err != nil {
			problems = append(problems, &ConfigError{Field: "DKIM.Key", Err: err})
		}
		if err := dkimkey.CheckSelector(c.DKIM.Selector); err != nil {
			problems = append(problems, &ConfigError{Field: "DKIM.Selector", Err: err})
		}
	}
	if c.SRS != nil && c.SRS.HashLen != 0 && (c.SRS.HashLen < srs.DefaultHashLen || c.SRS.HashLen > MaxSRSHashLen) {
		bad("SRS.HashLen", "", "must be between %d and %d", srs.DefaultHashLen, MaxSRSHashLen)
	}
	if c.Submission != "" {
		host, _, err := net.SplitHostPort(c.Submission)
		switch {
		case err != nil:
			bad("Submission", c.Submission, "give HOST:PORT, such as :587")
		case c.TLS == nil && !isLoopback(host):
			bad("Submission", c.Submission, "passwords are never taken unencrypted from another machine: give a certificate (TLS) or a loopback address")
		}
		if c.Users == "" {
			bad("Users", "", "is required with a submission port: the users who may send")
		}
	}
	if c.BreachWatch < 0 {
		bad("BreachWatch", c.BreachWatch.String(), "must not be negative (0 turns the watch off)")
	}
	if u := c.Breaches; (strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) && !strings.HasSuffix(u, "/breaches") {
		bad("Breaches", u, "a URL must name the list itself, ending in /breaches (as %s)", DefaultBreachesURL)
	}
	// A list read in clear from another machine could be rewritten on the
	// way, and the watch blocks aliases on what it says.
	if u, err := url.Parse(c.Breaches); err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		bad("Breaches", c.Breaches, "the breach list blocks aliases: read it over https (or from a file), not in clear from another machine")
	}
	switch c.Digest {
	case DigestOff, DigestDaily, DigestWeekly:
	default:
		bad("Digest", c.Digest, "give daily, weekly or off")
	}
	if c.SubmissionTLS && c.TLS == nil {
		bad("SubmissionTLS", "", "needs a certificate (TLS)")
	}
	return errors.Join(problems...)
}

// MaxSRSHashLen is the longest SRS hash the relay makes.
const MaxSRSHashLen = 20

// isLoopback reports whether host is a loopback address or localhost.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
