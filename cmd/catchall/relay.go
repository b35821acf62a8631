package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/forwards"
	"github.com/catchall/catchall/forwards/dkimkey"
	"github.com/catchall/catchall/forwards/relay"
	"github.com/catchall/catchall/forwards/srs"
	"github.com/catchall/catchall/internal/cli"
	"github.com/catchall/catchall/internal/csvsafe"
	"github.com/catchall/catchall/internal/secret"
	"github.com/catchall/catchall/serverurl"
)

// defaultSpool is $STATE_DIRECTORY (set by systemd's StateDirectory=) or
// ~/.local/state/catchall/relay.
func defaultSpool() string {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		return strings.Split(d, ":")[0]
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "catchall", "relay")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "catchall", "relay")
	}
	return "catchall-relay"
}

// relayOptions are the flags of catchall relay, which relay check takes too.
type relayOptions struct {
	store, storePassFile                                                string
	storeStale                                                          time.Duration
	listen, admin, planPath, spool, smarthost, passFile, passCmd, tlsCA string
	burnerSecret, srsSecret, tlsCert, tlsKey, hostname                  string
	adminCert, adminKey                                                 string
	dkimKey, dkimSelector                                               string
	submission, usersFile                                               string
	submissionTLS, reverseAliases                                       bool
	breachWatch                                                         time.Duration
	breaches, digest                                                    string
	domains, forwardTo                                                  []string
	catchAll, noSRS                                                     bool
	burnerLen, maxRcpt, maxConns, ratePerMin, workers                   int
	srsHashLen, maxTotal, maxBad                                        int
	maxSize                                                             int64
	idle, retryMin, retryMax, maxAge, maxSession                        time.Duration
}

func relayCommand(g *globals) *cobra.Command {
	o := &relayOptions{}
	cmd := &cobra.Command{
		Use:   "relay --domain D --smarthost URL [--plan FILE]",
		Short: "Run the burner-alias SMTP relay: forward every wanted alias, refuse the leaked ones",
		Long: `Run an SMTP server for your domains (point their MX here) that forwards each
alias as the plan says, to the smarthost — your new mail host's SMTP server.

Per recipient, at RCPT time:
  forward alias              accepted, forwarded to its forward_to
  blocked alias              550 5.1.1 (refused, never accepted and dropped)
  signed burner (new)        accepted and registered as a new disposable alias
                             (SERVICE.TAG@domain, see "catchall burner new")
  anything else at a domain  550 5.1.1, or the catch-all with --catch-all
  any other domain           554 5.7.1 relay access denied (no AUTH here)

--submission ADDR opens a second port for your mail client: after AUTH PLAIN
as a user of --users (see "catchall relay user add"), it may send to anyone
with any address of your domains as envelope sender and From: (553 5.7.1
otherwise); a new address is registered as an alias forwarding to
--forward-to, so replies come back. AUTH is offered over TLS only (STARTTLS
with --tls-cert, or TLS from the start with --submission-tls), or on
loopback; failed logins are slowed and, after 5 in 15 minutes, that address
gets 454 for AUTH for 15 minutes.

A message gets 250 only once it is fsynced to the spool (file and directory);
it is then delivered to the smarthost with retries (jittered exponential
backoff up to --retry-max) for up to --max-age. A message that cannot be
delivered is reported to its sender only when the sender's SPF authorises
the address that sent it (no backscatter). Envelope senders are rewritten
with SRS (compatible with postsrsd) so that SPF passes at the destination;
bounces to SRS addresses go back to the original sender.

DATA with a bare LF, a bare CR or CR CR LF is refused (SMTP smuggling).
After --max-bad-recipients (10) refused recipients a session gets 421 to
everything (guessing of burner tags and SRS hashes); SRS addresses take
bounces (null sender) only.
A failed message nobody can be told about is kept in SPOOL/failed.
Every forwarded message gets a Received: line and X-Catchall-Alias: <alias>.
With --dkim-key and --dkim-selector, a message whose From: is at one of the
domains is DKIM-signed for that domain (see "catchall dkim new"); when the
key fails to sign, such mail waits in the queue rather than go out unsigned.

With --reverse-aliases, forwarded mail comes From: "Sender <their@address>
via catchall" <ra-XXXX@alias-domain>, a reverse address that stands for
that sender towards that alias (Reply-To, To and Cc of other domains get
theirs too; the original From: is kept in X-Original-From), and is signed
with --dkim-key. A reply to a reverse address goes to the sender from the
alias, with no header naming your address: through --submission, or on
port 25 from the alias's forward_to address when its SPF passes for the
sending host or a DKIM signature of its domain verifies; anyone else gets
550 5.7.1.

The plan (--plan) is imported on SIGHUP and whenever its content changes
(at start too, unless this relay already imported that content into its
store: a restart never undoes an import or edit made elsewhere since);
"catchall relay import" fills the store without it. The smarthost password
comes from env CATCHALL_DEST_PASSWORD, --dest-password-file or
--dest-password-command. --admin serves /metrics (Prometheus), /healthz
(JSON: queue age, smarthost, store, breach list; 503 when a person is
needed) and the admin API (list aliases with their last 30 days, edit
action, forward_to, tag and note in the plan and the store, make burners):
on loopback without a login; elsewhere only over HTTPS (--admin-tls-cert)
for the --users, who log in with POST /login.

With --breach-watch, the relay reads the breach list (--breaches) at start
and then every DURATION and judges the plan's aliases with it as "catchall
breach" does: a newly breached disposable alias is blocked in the plan file,
a personal or business one flagged; rows you edited are left alone. The
digest (--digest) reports new breaches, new burners, the aliases refusing
the most and deliveries deferred or failed, once a day or week. SIGTERM stops accepting, lets sessions in flight
finish and exits; whatever is queued is delivered after the next start.

"catchall relay check", with the same flags and config file, checks a
configuration without starting the relay.`,
		Example: `  catchall relay --listen :25 --domain example.org --plan plan.csv \
      --smarthost smtp://me%40example.org@smtp.new-host.example \
      --burner-secret-file /etc/catchall/burner.secret --admin 127.0.0.1:9125`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := g.logger()
			if err != nil {
				return err
			}
			cfg, problems := o.config(logger)
			if err := errors.Join(problems...); err != nil {
				return cli.Exit(cli.ExitUsage, err)
			}
			u := cfg.Smarthost
			if u.User != "" {
				pw, err := secret.Source{Env: "CATCHALL_DEST_PASSWORD", File: o.passFile, Command: o.passCmd}.Get(cmd.Context())
				if err != nil {
					return cli.Exit(cli.ExitUsage, fmt.Errorf("smarthost password: %w", err))
				}
				cfg.SmarthostPassword = pw
			}
			if o.storePassFile != "" {
				pw, err := secret.Source{File: o.storePassFile}.Get(cmd.Context())
				if err != nil {
					return cli.Exit(cli.ExitUsage, fmt.Errorf("store password: %w", err))
				}
				cfg.StorePassword = pw
			}
			if cfg.SmarthostTLS, err = tlsConfigFromCA(o.tlsCA); err != nil {
				return cli.Exit(cli.ExitUsage, err)
			}
			if u.Security == serverurl.SecurityNone {
				logger.Warn("the smarthost connection is not encrypted (smtp+plain): use it on loopback only", "smarthost", u.Addr())
			}
			cfg.Burner = nil
			if o.burnerSecret != "" {
				sec, err := relay.ReadSecret(o.burnerSecret)
				if err != nil {
					return cli.Exit(cli.ExitUsage, err)
				}
				cfg.Burner = &relay.Signer{Secret: sec, Len: o.burnerLen}
			}
			cfg.SRS = nil
			if !o.noSRS {
				if o.srsSecret == "" {
					o.srsSecret = filepath.Join(o.spool, "srs.secret")
					if err := ensureSecretFile(o.srsSecret); err != nil {
						return cli.Exit(cli.ExitUsage, err)
					}
				}
				secs, err := srs.ReadSecrets(o.srsSecret)
				if err != nil {
					return cli.Exit(cli.ExitUsage, err)
				}
				cfg.SRS = &srs.Codec{Secrets: secs, HashLen: o.srsHashLen}
			}
			r, err := relay.New(cfg)
			if errors.Is(err, relay.ErrNoDomains) {
				return cli.Usagef("no domains: give --domain or a plan with aliases")
			}
			if err != nil {
				return cli.Exit(cli.ExitUsage, err)
			}
			defer r.Close()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						if err := r.Reload(); err != nil {
							logger.Error("reload failed; keeping the aliases loaded before", "err", err)
						} else {
							logger.Info("reloaded", "aliases", r.Store().Len())
						}
					}
				}
			}()
			err = r.Run(ctx)
			if errors.Is(cmd.Context().Err(), context.Canceled) && err == nil {
				logger.Info("stopped")
				return nil
			}
			return err
		},
	}
	o.addFlags(cmd.Flags())
	cmd.AddCommand(relayCheckCommand(g), relayImportCommand(g), relayStatsCommand(g), relayExportCommand(g), relayUserCommand(g))
	return cmd
}

// config is the relay.Config the flags describe, with the STARTTLS and
// admin certificates and the DKIM key loaded, but none of the secrets (the
// smarthost password, the burner and SRS secrets). problems are all the
// problems found, each a *relay.ConfigError naming the flag.
func (o *relayOptions) config(logger *slog.Logger) (cfg relay.Config, problems []error) {
	bad := func(flag, value string, err error) {
		problems = append(problems, &relay.ConfigError{Field: flag, Value: value, Err: err})
	}
	var u *serverurl.URL
	if o.smarthost != "" {
		var err error
		if u, err = serverurl.ParseFor(o.smarthost, "smtp", "CATCHALL_DEST_PASSWORD, --dest-password-file or --dest-password-command"); err != nil {
			bad("--smarthost", "", err)
		}
	}
	cfg = relay.Config{
		Listen: o.listen, Submission: o.submission, SubmissionTLS: o.submissionTLS, Users: o.usersFile, Admin: o.admin, Domains: o.domains, Spool: o.spool, Store: o.store, StoreStale: o.storeStale, Plan: o.planPath, Smarthost: u,
		CatchAll: o.catchAll, ReverseAliases: o.reverseAliases, Hostname: o.hostname, MaxSize: o.maxSize, MaxRecipients: o.maxRcpt, MaxBadRcpts: o.maxBad,
		MaxConnsPerIP: o.maxConns, MaxConns: o.maxTotal, MaxSession: o.maxSession, RatePerMinute: o.ratePerMin, IdleTimeout: o.idle, Workers: o.workers,
		RetryMin: o.retryMin, RetryMax: o.retryMax, MaxAge: o.maxAge, Logger: logger,
		BreachWatch: o.breachWatch, Breaches: o.breaches, Digest: o.digest,
		// The lengths are checked even when unused; the secrets are read
		// once the config is known to be good (an SRS secret may be
		// created).
		Burner: &relay.Signer{Len: o.burnerLen}, SRS: &srs.Codec{HashLen: o.srsHashLen},
	}
	for _, t := range o.forwardTo {
		cfg.DefaultTargets = append(cfg.DefaultTargets, strings.Fields(t)...)
	}
	if cfg.Digest == "off" {
		cfg.Digest = relay.DigestOff
	}
	for _, c := range []struct {
		cert, key, flag string
		to              **tls.Config
	}{{o.tlsCert, o.tlsKey, "--tls", &cfg.TLS}, {o.adminCert, o.adminKey, "--admin-tls", &cfg.AdminTLS}} {
		if (c.cert == "") != (c.key == "") {
			bad(c.flag+"-cert", "", fmt.Errorf("and %s-key: give both, or neither", c.flag))
		} else if c.cert != "" {
			cert, err := tls.LoadX509KeyPair(c.cert, c.key)
			if err != nil {
				bad(c.flag+"-cert", c.cert, err)
				continue
			}
			*c.to = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
	}
	if (o.dkimKey == "") != (o.dkimSelector == "") {
		bad("--dkim-key", "", errors.New("and --dkim-selector: give both, or neither"))
	} else if o.dkimKey != "" {
		key, err := dkimkey.Load(o.dkimKey)
		if err != nil {
			bad("--dkim-key", o.dkimKey, err)
		} else {
			cfg.DKIM = &relay.DKIM{Key: key, Selector: o.dkimSelector}
		}
	}
	if err := relayFlagNames(cfg.Validate()); err != nil {
		list, _ := splitJoined(err)
		for _, p := range list {
			var ce *relay.ConfigError
			if errors.As(p, &ce) && ce.Field == "--smarthost" && u == nil && o.smarthost != "" {
				continue // not "required": given, and said why it is no URL
			}
			problems = append(problems, p)
		}
	}
	return cfg, problems
}

// addFlags defines the flags of catchall relay on fs.
func (o *relayOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.listen, "listen", ":25", "SMTP listen `ADDR`")
	fs.StringSliceVar(&o.domains, "domain", nil, "a `DOMAIN` the relay receives mail for (repeat; default: the domains of the plan's aliases)")
	fs.StringVar(&o.planPath, "plan", "", "import the plan `FILE` when its content changes (at start only if this relay has not imported that content into its store before) and on SIGHUP")
	fs.StringVar(&o.spool, "spool", defaultSpool(), "spool `DIR`: relay.db (aliases, statistics), queue/, tmp/")
	fs.StringVar(&o.store, "store", "", storeFlagHelp)
	fs.StringVar(&o.storePassFile, "store-password-file", "", storePasswordFileHelp)
	fs.DurationVar(&o.storeStale, "store-stale", relay.DefaultStoreStale, "while the store is unreachable, answer RCPT from the aliases in memory for this long, then 451 (signed burners still taken; -1s: no limit)")
	fs.StringVar(&o.smarthost, "smarthost", "", "deliver to `URL`: smtp://[USER@]HOST[:587] (STARTTLS required), smtps://… or smtp+plain://HOST:PORT (loopback only)")
	fs.StringVar(&o.passFile, "dest-password-file", "", "smarthost password from the first line of `FILE` (default: env CATCHALL_DEST_PASSWORD)")
	fs.StringVar(&o.passCmd, "dest-password-command", "", "smarthost password from the first line `CMD` prints")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "trust the CA certificates in PEM `FILE` for the smarthost")
	fs.StringVar(&o.burnerSecret, "burner-secret-file", "", "accept signed burners made with the secret in `FILE` (see burner new)")
	fs.IntVar(&o.burnerLen, "burner-length", relay.DefaultTagLen, "characters in a burner's tag")
	fs.IntVar(&o.srsHashLen, "srs-hash-length", 8, "characters of the SRS hash (postsrsd's default is 4; longer cannot be guessed by trying)")
	fs.StringVar(&o.srsSecret, "srs-secret-file", "", "SRS secrets, one per line, the first signs (postsrsd's format; default SPOOL/srs.secret, created if missing)")
	fs.BoolVar(&o.noSRS, "no-srs", false, "do not rewrite envelope senders (SPF will fail at the destination for most senders)")
	fs.BoolVar(&o.catchAll, "catch-all", false, "accept unknown aliases of the domains too, for --forward-to")
	fs.StringSliceVar(&o.forwardTo, "forward-to", nil, "where plan rows with an empty forward_to, new burners and the catch-all go: `ADDR` (default for burners and the catch-all: the plan's most common forward_to; rows with an empty forward_to are left out without it)")
	fs.StringVar(&o.admin, "admin", "", "serve /metrics, /healthz and the JSON API (/api/aliases, /api/burners) on `ADDR`: loopback, or any address with --admin-tls-cert and --users (then with a login)")
	fs.StringVar(&o.adminCert, "admin-tls-cert", "", "speak HTTPS on --admin with the PEM certificate chain in `FILE`")
	fs.StringVar(&o.adminKey, "admin-tls-key", "", "the PEM private key for --admin-tls-cert")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "offer STARTTLS with the PEM certificate chain in `FILE`")
	fs.StringVar(&o.tlsKey, "tls-key", "", "the PEM private key for --tls-cert")
	fs.StringVar(&o.dkimKey, "dkim-key", "", "DKIM-sign mail sent through --submission whose From: is at one of the domains, with the key in `FILE` (see dkim new)")
	fs.StringVar(&o.dkimSelector, "dkim-selector", "", "the `SELECTOR` the --dkim-key's record is published under")
	fs.StringVar(&o.submission, "submission", "", "also listen on `ADDR` (such as :587) for your mail client to send as your aliases after AUTH (needs --users, and --tls-cert unless on loopback)")
	fs.BoolVar(&o.submissionTLS, "submission-tls", false, "speak TLS from the first byte on --submission (port 465) instead of STARTTLS")
	fs.StringVar(&o.usersFile, "users", "", "the users `FILE` of --submission (catchall relay user add), read again on SIGHUP and when it changes; \"store\": the users in the store (relay user add --store), which every relay sharing it sees")
	fs.BoolVar(&o.reverseAliases, "reverse-aliases", false, "forwarded mail comes From: a reverse address at the alias's domain (the sender in its display name), so that your replies go out from the alias (see the README)")
	fs.DurationVar(&o.breachWatch, "breach-watch", 0, "every `DURATION` (such as 24h; 0: never), read the breach list again and judge the plan's aliases as \"catchall breach\" does: a newly breached disposable alias is blocked, others flagged (see the README)")
	fs.StringVar(&o.breaches, "breaches", relay.DefaultBreachesURL, "the breach list of --breach-watch: a `URL|FILE` (the JSON of GET /api/v3/breaches; https, or http on loopback)")
	fs.StringVar(&o.digest, "digest", relay.DigestWeekly, "send one digest to --forward-to: `daily|weekly|off` (08:00 UTC; weekly on Mondays), none when nothing happened")
	fs.StringVar(&o.hostname, "hostname", "", "name in the greeting and Received: lines (default: the host name)")
	fs.Int64Var(&o.maxSize, "max-size", 50<<20, "largest message in `BYTES` (552 beyond)")
	fs.IntVar(&o.maxRcpt, "max-recipients", 100, "recipients per message")
	fs.IntVar(&o.maxBad, "max-bad-recipients", relay.DefaultMaxBadRcpts, "refused recipients after which a session gets 421 to everything (-1: no limit)")
	fs.IntVar(&o.maxConns, "max-connections-per-ip", 20, "simultaneous connections from one address, an IPv6 /64 counting as one (-1: no limit)")
	fs.IntVar(&o.maxTotal, "max-connections", relay.DefaultMaxConns, "simultaneous connections in all (-1: no limit)")
	fs.IntVar(&o.ratePerMin, "rate-limit", 600, "messages and refused recipients per minute from one address (an IPv6 /64 counts as one), 450 beyond (0: no limit)")
	fs.DurationVar(&o.idle, "idle-timeout", 5*time.Minute, "drop a connection that sends nothing for this long (a slow DATA that moves is never cut)")
	fs.DurationVar(&o.maxSession, "max-session", relay.DefaultMaxSession, "longest a connection may last, however busy (-1s: no bound)")
	fs.IntVar(&o.workers, "workers", 4, "simultaneous deliveries to the smarthost")
	fs.DurationVar(&o.retryMin, "retry-min", time.Minute, "first retry after a temporary failure")
	fs.DurationVar(&o.retryMax, "retry-max", time.Hour, "longest wait between retries")
	fs.DurationVar(&o.maxAge, "max-age", 5*24*time.Hour, "give up on a message after this long")
}

// storeFlagHelp is the help of every --store flag.
const storeFlagHelp = "the alias store `URL`: sqlite:PATH (default: SPOOL/relay.db) or postgres://USER@HOST[:PORT]/DB, shared by several relays (password: env " +
	relay.StorePasswordEnv + ", ~/.pgpass or PGPASSFILE)"

// relayStoreFlags are the --store and --store-password-file flags of the
// relay's tools (import, stats, export, user, burner new, report).
type relayStoreFlags struct{ url, passwordFile string }

// storePasswordFileHelp is the help of every --store-password-file flag.
const storePasswordFileHelp = "the PostgreSQL store's password from the first line of `FILE` (default: env " + relay.StorePasswordEnv + ", ~/.pgpass)"

// register adds the flags to fs; help is --store's.
func (s *relayStoreFlags) register(fs *pflag.FlagSet, help string) {
	fs.StringVar(&s.url, "store", "", help)
	fs.StringVar(&s.passwordFile, "store-password-file", "", storePasswordFileHelp)
}

// open opens the relay store: the one of --store, or the SQLite store of
// spool, which must be there.
func (s relayStoreFlags) open(spool string) (*relay.Store, error) {
	if s.url == "" {
		if _, err := os.Stat(filepath.Join(spool, "relay.db")); err != nil {
			return nil, cli.Usagef("no relay store in %s (give --spool, or --store)", spool)
		}
	}
	return s.openURL(relay.StoreURL(s.url, spool))
}

// openURL opens the store URL u with the password of
// --store-password-file; a URL that is not one is a usage error.
func (s relayStoreFlags) openURL(u string) (*relay.Store, error) {
	if _, _, err := relay.ParseStoreURL(u); err != nil {
		return nil, cli.Usagef("--store %s: %v", relay.RedactStoreURL(u), err)
	}
	password := ""
	if s.passwordFile != "" {
		var err error
		if password, err = (secret.Source{File: s.passwordFile}).Get(context.Background()); err != nil {
			return nil, cli.Exit(cli.ExitUsage, fmt.Errorf("store password: %w", err))
		}
	}
	return relay.OpenStoreWith(u, password)
}

// relayFlags are the flags of the relay.Config fields Validate names.
var relayFlags = map[string]string{
	"Spool": "--spool", "Smarthost": "--smarthost", "Admin": "--admin", "Domains": "--domain",
	"DefaultTargets": "--forward-to", "Burner.Len": "--burner-length", "SRS.HashLen": "--srs-hash-length",
	"DKIM.Key": "--dkim-key", "DKIM.Selector": "--dkim-selector",
	"BreachWatch": "--breach-watch", "Breaches": "--breaches", "Digest": "--digest",
	"Submission": "--submission", "SubmissionTLS": "--submission-tls", "Users": "--users", "Store": "--store", "TLS": "--tls-cert", "AdminTLS": "--admin-tls-cert",
}

// relayFlagNames names the flags in the problems relay.Config.Validate
// found, instead of the Config fields.
func relayFlagNames(err error) error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	var problems []error
	for _, e := range j.Unwrap() {
		var ce *relay.ConfigError
		if errors.As(e, &ce) && relayFlags[ce.Field] != "" {
			named := *ce
			named.Field = relayFlags[ce.Field]
			e = &named
		}
		problems = append(problems, e)
	}
	return errors.Join(problems...)
}

// ensureSecretFile creates path with a new random secret (0600) unless it
// exists.
func ensureSecretFile(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b := make([]byte, 32)
	rand.Read(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(b) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func relayImportCommand(g *globals) *cobra.Command {
	var planPath, spool string
	var sf relayStoreFlags
	var forwardTo []string
	cmd := &cobra.Command{
		Use:   "import --plan FILE [--spool DIR | --store URL]",
		Short: "Load the plan into the relay's alias store",
		Long: `Load the plan into the relay's alias store (SPOOL/relay.db, or --store): new
aliases are added, changed ones replaced, aliases no longer in the plan
removed; burners the relay registered stay. A running relay picks the change
up within seconds; relays sharing a PostgreSQL store within a second.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if planPath == "" {
				return cli.Usagef("--plan is required")
			}
			_, statErr := os.Stat(filepath.Join(spool, "relay.db"))
			st, err := sf.openURL(relay.StoreURL(sf.url, spool))
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := relay.ImportPlan(st, planPath, forwardTo)
			if err != nil {
				return cli.Exit(cli.ExitUsage, err)
			}
			for _, s := range res.Skipped {
				fmt.Fprintf(g.stderr, "catchall: relay import: left out %s\n", leftOut(s))
			}
			where := spool
			if sf.url != "" {
				where = st.Name()
			} else if statErr != nil {
				where += " (a new store: give the relay this --spool)"
			}
			fmt.Fprintf(g.stdout, "%s: %s; %d aliases in %s\n", planPath, res, st.Len(), where)
			if len(res.Skipped) > 0 {
				return cli.Exit(cli.ExitPartial, fmt.Errorf("%d rows left out (listed above); the others are imported", len(res.Skipped)))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&planPath, "plan", "", "the plan `FILE`")
	cmd.Flags().StringVar(&spool, "spool", defaultSpool(), "spool `DIR`")
	sf.register(cmd.Flags(), storeFlagHelp)
	cmd.Flags().StringSliceVar(&forwardTo, "forward-to", nil, "forward rows with an empty forward_to go to `ADDR` (as the relay's --forward-to)")
	return cmd
}

func relayStatsCommand(g *globals) *cobra.Command {
	var spool, format string
	var sf relayStoreFlags
	cmd := &cobra.Command{
		Use:   "stats [--spool DIR] [--store URL] [--format table|csv|json]",
		Short: "Per alias: messages forwarded, refused, deferred, failed and sent, and when last seen",
		Long: `Per alias: messages forwarded, refused (blocked aliases), deferred (delivery
attempts to retry), failed and sent from it (--submission), and when mail for
it last came or left; then the number
of messages waiting in the queue. Counts are written by the relay every two
seconds and when it stops.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := sf.open(spool)
			if err != nil {
				return err
			}
			defer st.Close()
			rows, err := st.Stats()
			if err != nil {
				return err
			}
			queued := 0
			if ents, err := os.ReadDir(filepath.Join(spool, "queue")); err == nil {
				for _, e := range ents {
					if !strings.Contains(e.Name(), ".") {
						queued++
					}
				}
			}
			last := func(s relay.Stat) string {
				if s.LastSeen.IsZero() {
					return ""
				}
				return s.LastSeen.UTC().Format(time.RFC3339)
			}
			switch format {
			case "json":
				type row struct {
					Alias     string `json:"alias"`
					Tag       string `json:"tag"`
					Action    string `json:"action"`
					Source    string `json:"source"`
					Forwarded int64  `json:"forwarded"`
					Refused   int64  `json:"refused"`
					Deferred  int64  `json:"deferred"`
					Failed    int64  `json:"failed"`
					Sent      int64  `json:"sent"`
					LastSeen  string `json:"last_seen"`
				}
				out := []row{}
				for _, s := range rows {
					out = append(out, row{s.Alias, s.Tag, s.Action, s.Source, s.Forwarded, s.Refused, s.Deferred, s.Failed, s.Sent, last(s)})
				}
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"aliases": out, "queued": queued})
			case "csv":
				w := csv.NewWriter(g.stdout)
				w.Write([]string{"alias", "tag", "action", "source", "forwarded", "refused", "deferred", "failed", "sent", "last_seen"})
				for _, s := range rows {
					w.Write(csvsafe.Record([]string{s.Alias, s.Tag, s.Action, s.Source, strconv.FormatInt(s.Forwarded, 10), strconv.FormatInt(s.Refused, 10),
						strconv.FormatInt(s.Deferred, 10), strconv.FormatInt(s.Failed, 10), strconv.FormatInt(s.Sent, 10), last(s)}))
				}
				w.Flush()
				return w.Error()
			case "table":
				tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ALIAS\tTAG\tACTION\tSOURCE\tFORWARDED\tREFUSED\tDEFERRED\tFAILED\tSENT\tLAST SEEN")
				for _, s := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Alias, s.Tag, s.Action, s.Source, s.Forwarded, s.Refused, s.Deferred, s.Failed, s.Sent, last(s))
				}
				tw.Flush()
				fmt.Fprintf(g.stdout, "\n%d aliases, %d messages queued\n", len(rows), queued)
				return nil
			default:
				return cli.Usagef("--format %q: table, csv or json", format)
			}
		},
	}
	cmd.Flags().StringVar(&spool, "spool", defaultSpool(), "spool `DIR`")
	sf.register(cmd.Flags(), storeFlagHelp)
	cmd.Flags().StringVar(&format, "format", "table", "table, csv or json")
	return cmd
}

func burnerCommand(g *globals) *cobra.Command {
	var domain, secretFile, note, spool string
	var sf relayStoreFlags
	var length int
	cmd := &cobra.Command{
		Use:   "burner",
		Short: "Make signed burner addresses the relay accepts without a plan entry",
	}
	newCmd := &cobra.Command{
		Use:   "new SERVICE --domain D --burner-secret-file F [--note TEXT] [--spool DIR | --store URL]",
		Short: "Print a new burner address for SERVICE",
		Long: `Print SERVICE.TAG@DOMAIN, where TAG is the first --length characters of the
base32 HMAC-SHA256 of the lower-case service name under your secret. Give it
to the service; the relay (started with the same --burner-secret-file)
accepts it on first use and registers it as a disposable alias. Without the
secret nobody can make one: a guess is refused before DATA.

The burner is also recorded in the relay's store (SPOOL/relay.db) with the
service, --note (which site got it, why) and the time: "catchall relay
export" puts it into the plan, and "catchall report --spool" shows it. The
store is the relay's --spool; on the default spool it is used only when a
relay store is there already. When it cannot be written the address is
still printed, with a warning (none for a burner without --note when the
default spool has no store).

Make a secret once: head -c 32 /dev/urandom | base64 > burner.secret`,
		Example: "  catchall burner new adobe --domain example.org --burner-secret-file ~/.config/catchall/burner.secret --note \"Adobe ID, 2025\"",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if domain == "" || secretFile == "" {
				return cli.Usagef("--domain and --burner-secret-file are required")
			}
			if length < relay.MinTagLen || length > relay.MaxTagLen {
				return cli.Usagef("--length must be between %d and %d", relay.MinTagLen, relay.MaxTagLen)
			}
			d, err := forwards.CheckAddress("x@" + domain)
			if err != nil {
				return cli.Usagef("--domain %s: not a domain name", domain)
			}
			sec, err := relay.ReadSecret(secretFile)
			if err != nil {
				return cli.Exit(cli.ExitUsage, err)
			}
			s := relay.Signer{Secret: sec, Len: length}
			addr, err := s.Address(args[0], strings.TrimPrefix(d, "x@"))
			if err != nil {
				return cli.Exit(cli.ExitUsage, err)
			}
			note = cleanNote(note)
			fmt.Fprintln(g.stdout, addr)
			// Without a note, a missing store on the default spool (no relay
			// here) is nothing to warn about.
			if err := recordBurner(spool, sf, cmd.Flags().Changed("spool"), addr, relay.ServiceOf(addr), note); err != nil &&
				(note != "" || !errors.Is(err, errNoStore)) {
				what := "the burner was not recorded"
				if note != "" {
					what = "the burner and its note were not recorded"
				}
				fmt.Fprintf(g.stderr, "catchall: burner new: warning: %s: %v\n", what, err)
			}
			return nil
		},
	}
	newCmd.Flags().StringVar(&domain, "domain", "", "the `DOMAIN` of the address")
	newCmd.Flags().StringVar(&secretFile, "burner-secret-file", "", "the secret `FILE` the relay uses")
	newCmd.Flags().IntVar(&length, "length", relay.DefaultTagLen, "characters in the tag (the relay's --burner-length)")
	newCmd.Flags().StringVar(&note, "note", "", "`TEXT` kept with the burner in the relay's store: which site got the address, and why")
	newCmd.Flags().StringVar(&spool, "spool", defaultSpool(), "record the burner in the relay store of this spool `DIR`")
	sf.register(newCmd.Flags(), "record the burner in this store `URL` (the relay's --store) instead")
	cmd.AddCommand(newCmd)
	return cmd
}

// cleanNote makes a note one line: control characters become spaces, and
// spaces around it go.
func cleanNote(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s))
}

var errNoStore = errors.New("no relay store")

// recordBurner records a burner made by burner new in the store (store,
// or that of spool). A store is made only in a spool given with --spool
// (explicit): on the default spool, one where no relay runs would be of no
// use.
func recordBurner(spool string, sf relayStoreFlags, explicit bool, addr, service, note string) error {
	if !explicit && sf.url == "" {
		if _, err := os.Stat(filepath.Join(spool, "relay.db")); err != nil {
			return fmt.Errorf("%w in %s (give the relay's --spool or --store)", errNoStore, spool)
		}
	}
	st, err := sf.openURL(relay.StoreURL(sf.url, spool))
	if err != nil {
		return err
	}
	return errors.Join(st.AddBurner(addr, service, note, time.Now()), st.Close())
}

func relayExportCommand(g *globals) *cobra.Command {
	var planPath, spool string
	var sf relayStoreFlags
	cmd := &cobra.Command{
		Use:   "export --plan FILE [--spool DIR | --store URL]",
		Short: "Put the relay's burners into the plan, with their notes and first and last mail",
		Long: `Merge the burners of the relay's store (SPOOL/relay.db: made with "catchall
burner new", or registered by the relay on their first mail) into the plan
file (CSV, or JSON for *.json; created if missing). Each burner is one row:
tag disposable, action and forward_to as in the store (an empty forward_to,
the default target, for a burner no mail has come to yet), source burner,
service_domain the service name, and the columns note, first_seen and
last_seen (YYYY-MM-DD: its first and last accepted message).

A burner already in the plan keeps the tag, action and forward_to you gave
it (as a row of classify does: source manual, or values other than the
auto_tag, auto_action and auto_forward_to recorded for it); its note,
first_seen and last_seen are refreshed. Other rows and columns are left as
they are, and the file is not rewritten when nothing changed. Prints one
line: N burners: A added, U refreshed.`,
		Example: "  sudo -u catchall catchall relay export --plan /var/lib/catchall-relay/plan.csv --spool /var/lib/catchall-relay",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if planPath == "" {
				return cli.Usagef("--plan is required")
			}
			st, err := sf.open(spool)
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := relay.ExportPlan(st, planPath)
			if errors.Is(err, classify.ErrPlan) {
				return cli.Exit(cli.ExitUsage, err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s: %s\n", planPath, res)
			return nil
		},
	}
	cmd.Flags().StringVar(&planPath, "plan", "", "the plan `FILE` (CSV, or JSON for *.json)")
	cmd.Flags().StringVar(&spool, "spool", defaultSpool(), "spool `DIR`")
	sf.register(cmd.Flags(), storeFlagHelp)
	return cmd
}
