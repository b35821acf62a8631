package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/forwards"
	"github.com/catchall/catchall/forwards/dkimkey"
	"github.com/catchall/catchall/forwards/relay"
	"github.com/catchall/catchall/forwards/srs"
	"github.com/catchall/catchall/internal/cli"
	"github.com/catchall/catchall/internal/secret"
)

// dnsResolver is the part of net.Resolver relay check uses; tests give
// their own.
type dnsResolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

func relayCheckCommand(g *globals) *cobra.Command {
	o := &relayOptions{}
	var timeout time.Duration
	var configErr error
	var svcName string
	cmdline := map[string]bool{} // flags given on the command line, not by --config
	cmd := &cobra.Command{
		Use:   "check --config FILE [flags]",
		Short: "Check the relay's configuration without starting it, as postfix check or nginx -t do",
		Long: `Check everything the relay would use, with the same flags and config file
as "catchall relay", without starting it or writing anything: the config
file parses; the flags make a valid configuration (every problem at once);
the plan reads (each bad line named) and which rows would be left out; the
secret files (--dest-password-file, --burner-secret-file, --srs-secret-file,
--dkim-key, --users) exist, can be read, and nobody but their owner may read
them; the certificates load, match their keys and have not expired; the
spool can be written; run as root, that the relay's user (--service-user,
catchall) can read the files the relay opens itself (the plan, the
certificates and keys, the users file) and write the plan's directory
(dashboard edits); the smarthost answers, speaks TLS as its URL says and
takes the login (connect, EHLO, STARTTLS, AUTH, QUIT); and, for each domain,
the DNS: MX, SPF and, with --dkim-key, the DKIM record (a lookup that fails
is a warning: the relay may be checked before the DNS is in place).

One line per problem on stderr, "error: ITEM: PROBLEM; fix: WHAT TO DO"
(or "warning: …" for what does not stop the relay), then "configuration
OK" on stdout when nothing must be fixed. Exit code 0 when the relay can
start with this configuration (warnings allowed), 1 when something must
be fixed, 2 for a usage error such as an unknown flag.

Run it as the relay would be run: under systemd the unit passes --spool
/var/lib/catchall-relay and the secrets as credentials, so name the same
files here.`,
		Example: `  sudo catchall relay check --config /etc/catchall/relay.toml --spool /var/lib/catchall-relay \
      --dest-password-file /etc/catchall/smarthost.password --burner-secret-file /etc/catchall/burner.secret`,
		Args: cobra.NoArgs,
		// The config file is one of the things checked: a key it gets
		// wrong is reported with the rest, not as a usage error.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			cmd.Flags().Visit(func(f *pflag.Flag) { cmdline[f.Name] = true })
			configErr = cli.ApplyConfig(cmd)
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return cli.Usagef("--timeout %s: give a positive duration such as 20s", timeout)
			}
			c := &checker{o: o, timeout: timeout, now: time.Now(), resolver: g.resolver, cmdline: cmdline}
			if c.resolver == nil {
				c.resolver = net.DefaultResolver
			}
			// Only root can tell what another user may read.
			switch {
			case svcName == "":
			case os.Geteuid() != 0:
				c.warn("--service-user "+svcName, "not run as root: whether "+svcName+" can read the plan, certificates and secrets was not checked",
					"run relay check with sudo")
			default:
				if u, err := lookupServiceUser(svcName); err == nil {
					c.svc = u
				} else if cmd.Flags().Changed("service-user") {
					return cli.Usagef("--service-user %s: %v", svcName, err)
				} else {
					c.warn("--service-user "+svcName, "no such user: what the relay's user can read was not checked",
						"install the package (it makes the user), or give --service-user USER, the user the relay runs as")
				}
			}
			path, _ := cmd.Flags().GetString("config")
			problems, keys := splitJoined(configErr)
			for _, e := range problems {
				c.fail("--config "+path, strings.TrimPrefix(strings.TrimPrefix(e.Error(), "config "+path+": "), "reading config "+path+": "),
					`keys are the long flags of "catchall relay" (see catchall relay --help), values in TOML: "text", 10, true, ["a", "b"]`)
			}
			// A file that does not parse set nothing: what it would have
			// set is not missing. One with keys that are wrong set the others.
			if configErr == nil || keys {
				c.run(cmd.Context())
			}
			errs := 0
			for _, f := range c.findings {
				fmt.Fprintln(g.stderr, f)
				if !f.warning {
					errs++
				}
			}
			if errs > 0 {
				return cli.Exit(cli.ExitPartial, fmt.Errorf("relay check: %d %s to fix (listed above)", errs, plural(errs, "problem", "problems")))
			}
			if n := len(c.findings); n > 0 {
				fmt.Fprintf(g.stdout, "configuration OK (%d %s above)\n", n, plural(n, "warning", "warnings"))
			} else {
				fmt.Fprintln(g.stdout, "configuration OK")
			}
			return nil
		},
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().DurationVar(&timeout, "timeout", 20*time.Second, "longest wait for each step with the smarthost and for each DNS answer")
	cmd.Flags().StringVar(&svcName, "service-user", "catchall", "run as root, also check that this `USER` (the relay's) can read the plan, certificates and users file, and write beside the plan")
	return cmd
}

func plural(n int, one, more string) string {
	if n == 1 {
		return one
	}
	return more
}

// splitJoined returns the errors joined (errors.Join) somewhere in err's
// chain and true, or err alone (none for nil) and false.
func splitJoined(err error) ([]error, bool) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			return j.Unwrap(), true
		}
	}
	if err == nil {
		return nil, false
	}
	return []error{err}, false
}

// finding is one line of relay check: the item (a flag and its value, a
// file, a DNS name), what is wrong with it, and how to fix it.
type finding struct {
	warning            bool
	item, problem, fix string
}

func (f finding) String() string {
	level := "error"
	if f.warning {
		level = "warning"
	}
	what := f.item
	if f.problem != "" {
		what += ": " + f.problem
	}
	return level + ": " + oneLine(errors.New(what)) + "; fix: " + f.fix
}

// checker runs the checks of relay check and collects what it finds.
type checker struct {
	o        *relayOptions
	cmdline  map[string]bool // flags given on the command line
	svc      *serviceUser    // nil: not checked (not root, or no such user)
	timeout  time.Duration
	now      time.Time
	resolver dnsResolver
	findings []finding
}

func (c *checker) fail(item, problem, fix string) {
	c.findings = append(c.findings, finding{item: item, problem: problem, fix: fix})
}

func (c *checker) warn(item, problem, fix string) {
	c.findings = append(c.findings, finding{warning: true, item: item, problem: problem, fix: fix})
}

// relayFixes says, per flag, how to fix what relay.Config.Validate (and
// relayOptions.config) find wrong with it.
var relayFixes = map[string]string{
	"--spool":           "give --spool DIR, the directory the relay keeps its queue in (the packaged unit passes /var/lib/catchall-relay)",
	"--smarthost":       `set smarthost = "smtp://USER@HOST:587" (STARTTLS) or "smtps://USER@HOST:465", your new mail host's submission server; a USER with @ is written %40`,
	"--admin":           "listen on loopback (admin = \"127.0.0.1:9125\"), or give --admin-tls-cert, --admin-tls-key and --users",
	"--domain":          "give your domain names, in punycode for an IDN (domain = [\"example.org\"])",
	"--forward-to":      "give full addresses (forward-to = [\"me@new-host.example\"])",
	"--burner-length":   fmt.Sprintf("give a length from %d to %d, the one your burners were made with", relay.MinTagLen, relay.MaxTagLen),
	"--srs-hash-length": fmt.Sprintf("give a length from %d to %d", srs.DefaultHashLen, relay.MaxSRSHashLen),
	"--dkim-key":        "make a key with catchall dkim new --domain D --selector S --out FILE and give --dkim-key FILE with --dkim-selector S",
	"--dkim-selector":   "give the selector the key's DNS record is published under (letters, digits, dots and hyphens)",
	"--breach-watch":    "give a period such as 24h, or 0 for no watch",
	"--breaches":        "give an https:// URL ending in /breaches, a file, or http:// on loopback",
	"--digest":          "give daily, weekly or off",
	"--submission":      "give --tls-cert and --tls-key, or listen on loopback (127.0.0.1:587)",
	"--users":           "give --users FILE and add a user with catchall relay user add NAME --users FILE",
	"--submission-tls":  "give --tls-cert and --tls-key",
	"--tls-cert":        "give the PEM certificate chain and the private key of the same certificate (such as Let's Encrypt's fullchain.pem and privkey.pem)",
	"--admin-tls-cert":  "give the PEM certificate chain and the private key of the same certificate",
	"--store":           "give sqlite:PATH or postgres://USER@HOST[:PORT]/DB?sslmode=verify-full, the password in --store-password-file, env " + relay.StorePasswordEnv + " or ~/.pgpass",
}

// run makes every check.
func (c *checker) run(ctx context.Context) {
	o := c.o
	cfg, problems := o.config(slog.New(slog.DiscardHandler))
	smarthostOK := true
	for _, p := range problems {
		var ce *relay.ConfigError
		if !errors.As(p, &ce) {
			c.fail("configuration", p.Error(), "see catchall relay --help")
			continue
		}
		fix := relayFixes[ce.Field]
		if fix == "" {
			fix = "see " + ce.Field + " in catchall relay --help"
		}
		if ce.Value == "" {
			c.fail(ce.Error(), "", fix) // "--smarthost is required: …"
		} else {
			c.fail(ce.Field+" "+ce.Value, ce.Err.Error(), fix)
		}
		smarthostOK = smarthostOK && ce.Field != "--smarthost"
	}
	if cfg.TLS != nil {
		c.certificate("--tls-cert "+o.tlsCert, cfg.TLS, o.hostname)
		c.privateKey("--tls-key", o.tlsKey)
	}
	if cfg.AdminTLS != nil {
		c.certificate("--admin-tls-cert "+o.adminCert, cfg.AdminTLS, "")
		c.privateKey("--admin-tls-key", o.adminKey)
	}
	if cfg.DKIM != nil {
		c.secretFile("--dkim-key", o.dkimKey)
	}
	if u := cfg.Smarthost; u != nil && u.User != "" {
		c.password(ctx, &cfg)
		smarthostOK = smarthostOK && cfg.SmarthostPassword != ""
	}
	if o.tlsCA != "" {
		tc, err := tlsConfigFromCA(o.tlsCA)
		if err != nil {
			c.fail("--tls-ca "+o.tlsCA, strings.TrimPrefix(err.Error(), "--tls-ca "+o.tlsCA+": "), "give the PEM file of the CA that signed the smarthost's certificate")
			smarthostOK = false
		}
		cfg.SmarthostTLS = tc
	}
	if o.burnerSecret != "" && c.secretFile("--burner-secret-file", o.burnerSecret) {
		if _, err := relay.ReadSecret(o.burnerSecret); err != nil {
			c.fail("--burner-secret-file "+o.burnerSecret, err.Error(), secretFixes["--burner-secret-file"])
		}
	}
	if !o.noSRS {
		path := o.srsSecret
		if path == "" {
			path = filepath.Join(o.spool, "srs.secret") // made at the first start
			if _, err := os.Stat(path); err != nil {
				path = ""
			}
		}
		if path != "" && c.secretFile("--srs-secret-file", path) {
			if _, err := srs.ReadSecrets(path); err != nil {
				c.fail("--srs-secret-file "+path, err.Error(), secretFixes["--srs-secret-file"])
			}
		}
	}
	if o.usersFile != "" && o.usersFile != relay.UsersInStore {
		c.users()
	}
	domains := c.plan(cfg.DefaultTargets)
	c.serviceAccess()
	c.spool()
	if o.store != "" {
		c.store(ctx)
	}
	if cfg.Smarthost != nil && smarthostOK {
		c.smarthost(ctx, cfg)
	}
	c.dns(ctx, domains, cfg.Hostname, cfg.DKIM)
}

// secretFixes says how to make each secret file.
var secretFixes = map[string]string{
	"--dest-password-file":  "printf '%s\\n' 'PASSWORD' | install -m 0600 -o catchall /dev/stdin FILE (the smarthost password, on the first line)",
	"--burner-secret-file":  "head -c 32 /dev/urandom | base64 | install -m 0600 -o catchall /dev/stdin FILE (once: burners made with another secret stop working)",
	"--srs-secret-file":     "head -c 32 /dev/urandom | base64 > FILE, mode 0600 (or leave --srs-secret-file out: the relay makes SPOOL/srs.secret)",
	"--dkim-key":            "catchall dkim new --domain D --selector S --out FILE, and publish the record it prints",
	"--users":               "catchall relay user add NAME --users FILE",
	"--store-password-file": "printf '%s\\n' 'PASSWORD' | install -m 0600 -o catchall /dev/stdin FILE (the store password, on the first line)",
}

// secretFile checks that the secret file of flag can be read and that
// nobody but its owner may read or write it; false when something is
// wrong (said), so that its content need not be checked too.
func (c *checker) secretFile(flag, path string) bool {
	item := flag + " " + path
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			c.fail(item, "does not exist", secretFixes[flag])
		} else {
			c.fail(item, "cannot be read as "+whoami()+": "+err.Error(), "make it readable by the user the relay runs as: chown catchall "+path+" && chmod 0600 "+path)
		}
		return false
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		c.fail(item, err.Error(), secretFixes[flag])
		return false
	}
	if fi.IsDir() {
		c.fail(item, "is a directory", secretFixes[flag])
		return false
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		c.fail(item, fmt.Sprintf("others than its owner may read or change it (mode %04o)", perm), "chmod 0600 "+path)
		return false
	}
	return true
}

// privateKey reports a TLS private key that anyone may read (a group of its
// own, such as ssl-cert, is fine).
func (c *checker) privateKey(flag, path string) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		c.fail(flag+" "+path, fmt.Sprintf("anyone may read this private key (mode %04o)", fi.Mode().Perm()), "chmod 0600 "+path+" (or 0640 with a group of its own, such as Debian's ssl-cert)")
	}
}

// certificate checks the validity dates of the certificate tc holds and,
// when hostname is given, that it is for hostname.
func (c *checker) certificate(item string, tc *tls.Config, hostname string) {
	leaf := tc.Certificates[0].Leaf
	if leaf == nil {
		return
	}
	const day = 24 * time.Hour
	switch {
	case c.now.After(leaf.NotAfter):
		c.fail(item, "the certificate expired on "+leaf.NotAfter.UTC().Format(time.DateOnly), "renew it (certbot renew) or give the current one")
	case c.now.Before(leaf.NotBefore):
		c.fail(item, "the certificate is valid only from "+leaf.NotBefore.UTC().Format(time.DateTime)+" UTC", "check this machine's clock, or give a certificate valid now")
	case leaf.NotAfter.Sub(c.now) < 14*day:
		c.warn(item, fmt.Sprintf("the certificate expires in %d days (%s)", int(leaf.NotAfter.Sub(c.now)/day), leaf.NotAfter.UTC().Format(time.DateOnly)), "renew it (certbot renew), and restart or reload the relay")
	}
	if hostname != "" && leaf.VerifyHostname(hostname) != nil {
		c.warn(item, "the certificate is not for "+hostname+" (--hostname), the name senders connect to", "give a certificate for "+hostname+", the name the MX records point at")
	}
}

// password reads the smarthost password as the relay does, into cfg.
func (c *checker) password(ctx context.Context, cfg *relay.Config) {
	o, u := c.o, cfg.Smarthost
	if o.passFile != "" && o.passCmd == "" && !c.secretFile("--dest-password-file", o.passFile) {
		return
	}
	pw, err := secret.Source{Env: "CATCHALL_DEST_PASSWORD", File: o.passFile, Command: o.passCmd}.Get(ctx)
	switch {
	case errors.Is(err, secret.ErrNoSecret):
		c.fail("--smarthost "+o.smarthost, "names the user "+u.User+" but no password is given",
			"give --dest-password-file FILE (the packaged unit passes /etc/catchall/smarthost.password), --dest-password-command CMD or env CATCHALL_DEST_PASSWORD")
	case err != nil && o.passCmd != "":
		c.fail("--dest-password-command", err.Error(), "make the command print the smarthost password on its first line")
	case err != nil:
		c.fail("--dest-password-file "+o.passFile, err.Error(), secretFixes["--dest-password-file"])
	default:
		cfg.SmarthostPassword = pw
	}
}

// serviceAccess checks, as root, that the relay's user can read the files
// the relay opens itself and write beside its plan (dashboard edits and
// breach-watch blocks replace the plan through a file beside it) and in
// its spool. A secret given on the command line is taken to be one the
// unit hands over as a systemd credential (as the README runs relay check):
// it need only be root's; named in the config file, the relay opens it
// itself. A file named by several flags is reported once.
func (c *checker) serviceAccess() {
	if c.svc == nil {
		return
	}
	o := c.o
	files := []struct{ flag, path string }{
		{"--plan", o.planPath}, {"--tls-cert", o.tlsCert}, {"--tls-key", o.tlsKey},
		{"--admin-tls-cert", o.adminCert}, {"--admin-tls-key", o.adminKey}, {"--tls-ca", o.tlsCA},
	}
	if o.usersFile != relay.UsersInStore {
		files = append(files, struct{ flag, path string }{"--users", o.usersFile})
	}
	if !strings.Contains(o.breaches, "://") {
		files = append(files, struct{ flag, path string }{"--breaches", o.breaches})
	}
	for _, f := range []struct{ flag, path string }{
		{"--dest-password-file", o.passFile}, {"--burner-secret-file", o.burnerSecret}, {"--srs-secret-file", o.srsSecret},
		{"--dkim-key", o.dkimKey}, {"--store-password-file", o.storePassFile},
	} {
		if !c.cmdline[strings.TrimPrefix(f.flag, "--")] {
			files = append(files, f)
		}
	}
	flags := map[string][]string{}
	var paths []string
	for _, f := range files {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			continue // said where the file is checked
		}
		if flags[f.path] == nil {
			paths = append(paths, f.path)
		}
		flags[f.path] = append(flags[f.path], f.flag)
	}
	planRead := false
	for _, p := range paths {
		err := c.svc.may(p, 4)
		if err == nil {
			planRead = planRead || p == o.planPath
			continue
		}
		fix := "let " + c.svc.name + " read it, or copy it somewhere " + c.svc.name + " owns"
		var ae *accessError
		if errors.As(err, &ae) {
			fix = ae.fix() + " (or copy it somewhere " + c.svc.name + " owns)"
		}
		c.fail(strings.Join(flags[p], ", ")+" "+p, err.Error(), fix)
	}
	if planRead {
		if err := c.svc.may(filepath.Dir(o.planPath), 2|1); err != nil {
			c.warn("--plan "+o.planPath, err.Error()+": dashboard edits and breach-watch blocks cannot be saved",
				"keep the plan in the relay's state directory (/var/lib/catchall-relay/plan.csv), which the unit lets it write")
		}
	}
	if fi, err := os.Stat(o.spool); err == nil && fi.IsDir() {
		if err := c.svc.may(o.spool, 2|1); err != nil {
			c.warn("--spool "+o.spool, err.Error(), "chown -R "+c.svc.name+":"+c.svc.name+" "+o.spool+
				" (systemd does so for the unit's StateDirectory when it starts the relay)")
		}
	}
}

// store checks that the store of --store can be reached with the
// password the relay would use (nothing is made or changed in it).
func (c *checker) store(ctx context.Context) {
	o := c.o
	item := "--store " + relay.RedactStoreURL(o.store)
	if _, _, err := relay.ParseStoreURL(o.store); err != nil {
		return // said by Validate
	}
	var pw string
	if o.storePassFile != "" {
		if !c.secretFile("--store-password-file", o.storePassFile) {
			return
		}
		var err error
		if pw, err = (secret.Source{File: o.storePassFile}).Get(ctx); err != nil {
			c.fail("--store-password-file "+o.storePassFile, err.Error(), secretFixes["--store-password-file"])
			return
		}
	}
	if err := relay.PingStore(o.store, pw); err != nil {
		c.fail(item, strings.TrimPrefix(oneLine(err), "store "+relay.RedactStoreURL(o.store)+": "), "start PostgreSQL or correct the URL (host, port, database, user, sslmode); the password comes from --store-password-file, env "+
			relay.StorePasswordEnv+" or ~/.pgpass")
	}
}

// users checks the users file of --submission.
func (c *checker) users() {
	path := c.o.usersFile
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if c.o.submission != "" {
			c.warn("--users "+path, "does not exist: nobody can log in to --submission", secretFixes["--users"])
		}
		return
	}
	if !c.secretFile("--users", path) {
		return
	}
	if _, err := relay.ReadUsers(path); err != nil {
		c.fail("--users "+path, err.Error(), "correct the line, or write the file again with catchall relay user add NAME --users FILE")
	}
}

// plan reads the plan as the relay imports it, without a store, and
// returns the domains the relay serves.
func (c *checker) plan(defaultTo []string) []string {
	o := c.o
	doms := map[string]bool{}
	var out []string
	planOK := true
	add := func(d string) {
		if !doms[d] {
			doms[d] = true
			out = append(out, d)
		}
	}
	for _, d := range o.domains {
		if a, err := forwards.CheckAddress("x@" + d); err == nil {
			add(classify.Domain(a))
		}
	}
	if o.planPath != "" {
		item := "--plan " + o.planPath
		p, err := classify.ReadPlan(o.planPath)
		planOK = err == nil
		switch {
		case errors.Is(err, classify.ErrPlan):
			for _, line := range strings.Split(strings.TrimPrefix(err.Error(), o.planPath+": "+classify.ErrPlan.Error()+": "), "\n") {
				c.fail(item, line, "correct the plan (header alias,tag,action,forward_to; see the README, \"Editing the plan by hand\")")
			}
		case err != nil:
			c.fail(item, err.Error(), "give the plan made by catchall classify (or migrate), readable by the relay's user")
		default:
			in, err := forwards.FromPlan(p, strings.Join(defaultTo, " "), "")
			if err != nil {
				planOK = false
				c.fail(item, err.Error(), "give full addresses in --forward-to")
				break
			}
			for _, s := range in.Skipped {
				fix := "correct the row, or block it"
				if s.Reason == forwards.ReasonNoTarget {
					fix = "fill in its forward_to, or give --forward-to ADDR"
				}
				c.warn(item, "the relay leaves out "+s.String(), fix)
			}
			if len(o.domains) == 0 {
				for _, r := range in.Rules {
					add(classify.Domain(r.Alias))
				}
			}
		}
	}
	if len(out) == 0 && len(o.domains) == 0 && planOK {
		// The relay takes its domains from the store's aliases too: a
		// shared store (checked on its own), or a SQLite file that exists.
		// (A --store that is not a store URL is reported by the store's check.)
		if _, path, err := relay.ParseStoreURL(relay.StoreURL(o.store, o.spool)); err == nil && path != "" && !exists(path) {
			c.fail("--domain", "no domains: none given, and no plan with aliases", `give domain = ["example.org"] (or a plan with --plan)`)
		}
	}
	return out
}

// spool checks that the spool directory can be written, or made.
func (c *checker) spool() {
	dir := c.o.spool
	if dir == "" {
		return // Validate said so
	}
	item := "--spool " + dir
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		parent := filepath.Dir(filepath.Clean(dir))
		for {
			if _, err := os.Stat(parent); err == nil || parent == filepath.Dir(parent) {
				break
			}
			parent = filepath.Dir(parent)
		}
		if unix.Access(parent, unix.W_OK) != nil {
			c.fail(item, "does not exist, and "+whoami()+" cannot make it in "+parent,
				"install -d -m 0700 -o catchall -g catchall "+dir+" (the user the relay runs as; the packaged unit's StateDirectory= makes /var/lib/catchall-relay)")
		}
	case err != nil:
		c.fail(item, err.Error(), "give a directory the relay's user can write")
	case !fi.IsDir():
		c.fail(item, "is not a directory", "give a directory the relay's user can write")
	default:
		f, err := os.CreateTemp(dir, ".relay-check-*")
		if err != nil {
			c.fail(item, "cannot be written by "+whoami()+": "+err.Error(), "chown -R catchall:catchall "+dir+" && chmod 0700 "+dir+" (the user the relay runs as)")
			return
		}
		f.Close()
		os.Remove(f.Name())
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			c.warn(item, fmt.Sprintf("others may look into the queued mail (mode %04o)", perm), "chmod 0700 "+dir)
		}
	}
}

// smarthost connects and logs in to the smarthost as delivery does.
func (c *checker) smarthost(ctx context.Context, cfg relay.Config) {
	err := relay.CheckSmarthost(ctx, cfg, c.timeout)
	if err == nil {
		return
	}
	item := "--smarthost " + c.o.smarthost
	var se *relay.SmarthostError
	if !errors.As(err, &se) {
		c.fail(item, err.Error(), "check --smarthost")
		return
	}
	problem := strings.TrimPrefix(err.Error(), "smarthost "+se.Addr+": ")
	switch {
	case se.Stage == relay.StageConnect:
		c.fail(item, "cannot connect: "+problem, "check the host and port (587 for smtp://, 465 for smtps://) and that this machine may connect out to it")
	case se.Stage == relay.StageTLS && se.Implicit:
		c.fail(item, problem, "check the smarthost's certificate (--tls-ca FILE for a private CA); for STARTTLS on port 587 write smtp://")
	case se.Stage == relay.StageTLS:
		c.fail(item, problem, "check the smarthost's certificate (--tls-ca FILE for a private CA); for TLS from the first byte on port 465 write smtps://")
	case se.Stage == relay.StageEHLO:
		c.fail(item, problem, "check that HOST:PORT in --smarthost is an SMTP server")
	case se.LoginRefused():
		from := "the password (env CATCHALL_DEST_PASSWORD)"
		if c.o.passFile != "" {
			from = "the password in " + c.o.passFile
		} else if c.o.passCmd != "" {
			from = "the password --dest-password-command prints"
		}
		c.fail(item, "the login is refused: "+strings.TrimPrefix(problem, "authentication as "+se.User+": "), "correct the user in --smarthost ("+se.User+", @ written %40) or "+from)
	default:
		c.fail(item, problem, "check that the smarthost offers AUTH PLAIN on this port, after TLS")
	}
}

// dns checks, for each domain, that it has an MX (at hostname, when
// given) and one SPF record and, with dkim, that the DKIM record publishes
// its key. A lookup that fails is a warning; a DKIM record of another key
// is an error (every signature would fail).
func (c *checker) dns(ctx context.Context, domains []string, hostname string, dkim *relay.DKIM) {
	lookupFix := "check that this machine can resolve names, and publish the record"
	for _, d := range domains {
		lctx, cancel := context.WithTimeout(ctx, c.timeout)
		mxs, err := c.resolver.LookupMX(lctx, d)
		cancel()
		item := "DNS " + d + " MX"
		var hosts []string
		for _, mx := range mxs {
			hosts = append(hosts, strings.ToLower(strings.TrimSuffix(mx.Host, ".")))
		}
		switch {
		case err != nil && !isNotFound(err):
			c.warn(item, "lookup failed: "+err.Error(), lookupFix+" "+d+". MX 10 "+orHost(hostname)+".")
		case len(hosts) == 0:
			c.warn(item, "no MX record: mail for "+d+" does not come here", "publish "+d+". MX 10 "+orHost(hostname)+".")
		case hostname != "" && !containsFold(hosts, hostname):
			c.warn(item, "points at "+strings.Join(hosts, ", ")+", not at this relay ("+hostname+")", "when the relay is ready, publish "+d+". MX 10 "+hostname+". instead")
		}

		lctx, cancel = context.WithTimeout(ctx, c.timeout)
		txts, err := c.resolver.LookupTXT(lctx, d)
		cancel()
		item = "DNS " + d + " TXT (SPF)"
		spf := 0
		for _, t := range txts {
			if strings.HasPrefix(strings.ToLower(t), "v=spf1") && (len(t) == 6 || t[6] == ' ') {
				spf++
			}
		}
		switch {
		case err != nil && !isNotFound(err):
			c.warn(item, "lookup failed: "+err.Error(), lookupFix+" your new mail host asks for")
		case spf == 0:
			c.warn(item, "no SPF record: forwarded mail leaves from SRS addresses at "+d+" through the smarthost", "publish the SPF record your new mail host asks for, such as "+d+". TXT \"v=spf1 include:… ~all\"")
		case spf > 1:
			c.warn(item, fmt.Sprintf("%d SPF records: receivers take that as an error (RFC 7208 §4.5)", spf), "merge them into one")
		}

		if dkim == nil {
			continue
		}
		name, err := dkimkey.Name(d, dkim.Selector)
		if err != nil {
			continue // reported as a flag problem
		}
		want, _ := dkimkey.Value(dkim.Key)
		record, _ := dkimkey.Record(d, dkim.Selector, dkim.Key)
		lctx, cancel = context.WithTimeout(ctx, c.timeout)
		txts, err = c.resolver.LookupTXT(lctx, strings.TrimSuffix(name, "."))
		cancel()
		item = "DNS " + strings.TrimSuffix(name, ".") + " TXT (DKIM)"
		var published []string
		for _, t := range txts {
			if strings.Contains(t, "p=") {
				published = append(published, dkimTag(t, "p")) // "" for a revoked key
			}
		}
		switch {
		case err != nil && !isNotFound(err):
			c.warn(item, "lookup failed: "+err.Error(), lookupFix+": "+record)
		case len(published) == 0:
			c.warn(item, "no DKIM record: receivers cannot verify what the relay signs", "publish "+record)
		case !containsFold(published, dkimTag(want, "p")):
			c.fail(item, "publishes another key than --dkim-key "+c.o.dkimKey+": every signature would fail", "publish "+record+" (or give the key the record is for)")
		}
	}
}

// dkimTag returns the value of tag in a DKIM record (RFC 6376 §3.2:
// tag=value pairs separated by ";", white space ignored), "" if absent.
func dkimTag(record, tag string) string {
	for _, kv := range strings.Split(record, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == tag {
			return strings.Join(strings.Fields(v), "")
		}
	}
	return ""
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

func containsFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

func orHost(hostname string) string {
	if hostname == "" {
		return "HOSTNAME-OF-THIS-RELAY"
	}
	return hostname
}

// whoami names the user the check runs as.
func whoami() string {
	if u, err := user.Current(); err == nil {
		return "user " + u.Username
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}
