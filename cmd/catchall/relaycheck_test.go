package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/catchall/catchall/forwards/dkimkey"
	"github.com/catchall/catchall/internal/testtools"
)

// checkSmarthost is an in-process smarthost on 127.0.0.1 that takes AUTH
// PLAIN as relay with the password "right".
type checkSmarthost struct{ auth bool }

func (s *checkSmarthost) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *checkSmarthost) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "relay" || pass != "right" {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication failed"}
		}
		s.auth = true
		return nil
	}), nil
}
func (s *checkSmarthost) Mail(string, *smtp.MailOptions) error { return smtp.ErrAuthRequired }
func (s *checkSmarthost) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *checkSmarthost) Data(r io.Reader) error               { return nil }
func (s *checkSmarthost) Reset()                               {}
func (s *checkSmarthost) Logout() error                        { return nil }

func startCheckSmarthost(t *testing.T) string {
	t.Helper()
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &checkSmarthost{}, nil }))
	srv.Domain, srv.AllowInsecureAuth = "smarthost.test", true
	srv.ErrorLog = smtpDiscardLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

type smtpDiscardLog struct{}

func (smtpDiscardLog) Printf(string, ...any) {}
func (smtpDiscardLog) Println(...any)        {}

// fakeDNS answers from its maps; a name not in them does not exist. With
// err set, every lookup fails with it (no network).
type fakeDNS struct {
	mx  map[string][]*net.MX
	txt map[string][]string
	err error
}

func (f *fakeDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if f.err != nil {
		return nil, f.err
	}
	if v, ok := f.mx[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	if f.err != nil {
		return nil, f.err
	}
	if v, ok := f.txt[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// writeCert writes a self-signed certificate for name, valid from
// notBefore to notAfter, and its key, as PEM files in dir.
func writeCert(t *testing.T, dir, prefix, name string, notBefore, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	c, _ := testtools.CertFor(t, name, notBefore, notAfter)
	return testtools.WriteCert(t, dir, prefix, c)
}

// runCheck runs catchall relay check with args and the resolver dns.
func runCheck(t *testing.T, dns dnsResolver, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	g := &globals{stdout: &out, stderr: &errOut, resolver: dns}
	if !slices.Contains(args, "--service-user") {
		// Whether the machine has a user catchall (the package installed)
		// must not change the answer: only TestRelayCheckServiceUser asks.
		args = append(args, "--service-user", "")
	}
	code = runWith(t.Context(), g, append([]string{"relay", "check"}, args...), strings.NewReader(""))
	return code, out.String(), errOut.String()
}

// TestRelayCheck: a good configuration passes ("configuration OK", exit 0,
// nothing on stderr); each broken item is named once, with its fix, and
// exit 1; what does not stop the relay (a DNS lookup that fails, a plan row
// left out) is a warning and exit 0.
func TestRelayCheck(t *testing.T) {
	t.Setenv("CATCHALL_DEST_PASSWORD", "")
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	smarthost := startCheckSmarthost(t)
	const nobody = "127.0.0.1:1" // nothing listens there

	now := time.Now()
	cert, key := writeCert(t, dir, "mx", "mx.example.org", now.Add(-time.Hour), now.Add(90*24*time.Hour))
	oldCert, oldKey := writeCert(t, dir, "old", "mx.example.org", now.Add(-100*24*time.Hour), now.Add(-24*time.Hour))
	_, otherKey := writeCert(t, dir, "other", "mx.example.org", now.Add(-time.Hour), now.Add(90*24*time.Hour))
	dkimFile := filepath.Join(dir, "dkim.key")
	dk, err := dkimkey.Create(dkimFile, dkimkey.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	dkimValue, _ := dkimkey.Value(dk)
	otherDK, _ := dkimkey.New(dkimkey.Ed25519)
	otherValue, _ := dkimkey.Value(otherDK)
	spool := filepath.Join(dir, "spool")
	os.Mkdir(spool, 0o700)

	good := map[string]string{
		"domain":             "example.org",
		"hostname":           "mx.example.org",
		"spool":              spool,
		"plan":               write("plan.csv", "alias,tag,action,forward_to\nshop@example.org,disposable,forward,me@dest.test\n", 0o644),
		"smarthost":          "smtp+plain://relay@" + smarthost,
		"dest-password-file": write("smarthost.password", "right\n", 0o600),
		"burner-secret-file": write("burner.secret", "a-secret-of-enough-length\n", 0o600),
		"tls-cert":           cert,
		"tls-key":            key,
		"dkim-key":           dkimFile,
		"dkim-selector":      "s1",
		"admin":              "127.0.0.1:9125",
		"forward-to":         "me@dest.test",
	}
	dns := func() *fakeDNS {
		return &fakeDNS{
			mx: map[string][]*net.MX{"example.org": {{Host: "mx.example.org.", Pref: 10}}},
			txt: map[string][]string{
				"example.org":               {"v=spf1 include:_spf.new-host.example ~all", "google-site-verification=x"},
				"s1._domainkey.example.org": {dkimValue},
			},
		}
	}
	args := func(set map[string]string) []string {
		var out []string
		for k, v := range good {
			if nv, ok := set[k]; ok {
				v = nv
			}
			if v != "" {
				out = append(out, "--"+k, v)
			}
		}
		for k, v := range set {
			if _, ok := good[k]; !ok {
				out = append(out, "--"+k, v)
			}
		}
		return out
	}

	code, out, errOut := runCheck(t, dns(), args(nil)...)
	if code != 0 || out != "configuration OK\n" || errOut != "" {
		t.Fatalf("a good configuration: exit %d %q\n%s", code, out, errOut)
	}

	for _, tc := range []struct {
		name     string
		set      map[string]string
		dns      func(*fakeDNS)
		prepDKIM bool   // the DKIM key file readable by all
		item     string // the start of the one error line, after "error: "
		fixes    string // in the fix
	}{
		{name: "unknown config key", set: map[string]string{"config": write("bad.toml", "smarthost-url = \"x\"\n", 0o644)},
			item: "--config " + filepath.Join(dir, "bad.toml") + `: unknown key "smarthost-url"`, fixes: "keys are the long flags"},
		{name: "config not TOML", set: map[string]string{"config": write("broken.toml", "listen = \n", 0o644)},
			item: "--config " + filepath.Join(dir, "broken.toml"), fixes: "values in TOML"},
		{name: "no smarthost", set: map[string]string{"smarthost": ""}, item: "--smarthost is required", fixes: `smarthost = "smtp://USER@HOST:587"`},
		{name: "smarthost URL", set: map[string]string{"smarthost": "http://" + smarthost}, item: "--smarthost invalid server URL", fixes: "smtps://USER@HOST:465"},
		{name: "password in clear", set: map[string]string{"smarthost": "smtp+plain://relay@mx.example.net:25"}, item: "--smarthost mx.example.net:25: a password is never sent unencrypted", fixes: "STARTTLS"},
		{name: "wrong password", set: map[string]string{"dest-password-file": write("wrong.password", "wrong\n", 0o600)},
			item: "--smarthost smtp+plain://relay@" + smarthost + ": the login is refused", fixes: "the password in " + filepath.Join(dir, "wrong.password")},
		{name: "smarthost down", set: map[string]string{"smarthost": "smtp+plain://relay@" + nobody}, item: "--smarthost smtp+plain://relay@" + nobody + ": cannot connect", fixes: "check the host and port"},
		{name: "no STARTTLS", set: map[string]string{"smarthost": "smtp://relay@" + smarthost}, item: "--smarthost smtp://relay@" + smarthost + ": STARTTLS", fixes: "smtps://"},
		{name: "no password", set: map[string]string{"dest-password-file": ""}, item: "--smarthost smtp+plain://relay@" + smarthost + ": names the user relay but no password", fixes: "--dest-password-file FILE"},
		{name: "password file missing", set: map[string]string{"dest-password-file": filepath.Join(dir, "none")}, item: "--dest-password-file " + filepath.Join(dir, "none") + ": does not exist", fixes: "install -m 0600"},
		{name: "password file readable", set: map[string]string{"dest-password-file": write("open.password", "right\n", 0o644)},
			item: "--dest-password-file " + filepath.Join(dir, "open.password") + ": others than its owner may read or change it (mode 0644)", fixes: "chmod 0600"},
		{name: "burner secret missing", set: map[string]string{"burner-secret-file": filepath.Join(dir, "none")}, item: "--burner-secret-file " + filepath.Join(dir, "none") + ": does not exist", fixes: "head -c 32 /dev/urandom"},
		{name: "burner secret short", set: map[string]string{"burner-secret-file": write("short.secret", "short\n", 0o600)}, item: "--burner-secret-file " + filepath.Join(dir, "short.secret") + ": burner secret: the first line", fixes: "head -c 32 /dev/urandom"},
		{name: "burner secret group", set: map[string]string{"burner-secret-file": write("group.secret", "a-secret-of-enough-length\n", 0o640)}, item: "--burner-secret-file " + filepath.Join(dir, "group.secret") + ": others than its owner", fixes: "chmod 0600"},
		{name: "SRS secret readable", set: map[string]string{"srs-secret-file": write("srs.secret", "a-secret-of-enough-length\n", 0o604)}, item: "--srs-secret-file " + filepath.Join(dir, "srs.secret") + ": others than its owner", fixes: "chmod 0600"},
		{name: "DKIM key readable", prepDKIM: true, item: "--dkim-key " + dkimFile + ": others than its owner", fixes: "chmod 0600"},
		{name: "DKIM selector alone", set: map[string]string{"dkim-key": ""}, item: "--dkim-key and --dkim-selector: give both", fixes: "catchall dkim new"},
		{name: "plan line", set: map[string]string{"plan": write("bad.csv", "alias,tag,action,forward_to\nshop@example.org,friend,forward,me@dest.test\n", 0o644)},
			item: "--plan " + filepath.Join(dir, "bad.csv") + `: line 2: tag "friend"`, fixes: "correct the plan"},
		{name: "plan missing", set: map[string]string{"plan": filepath.Join(dir, "none.csv")}, item: "--plan " + filepath.Join(dir, "none.csv"), fixes: "the plan made by catchall classify"},
		{name: "no domains", set: map[string]string{"domain": "", "plan": ""}, item: "--domain: no domains", fixes: `domain = ["example.org"]`},
		{name: "bad domain", set: map[string]string{"domain": "exa mple.org"}, item: "--domain exa mple.org: not a domain name", fixes: "punycode"},
		{name: "admin elsewhere", set: map[string]string{"admin": "0.0.0.0:9125"}, item: "--admin 0.0.0.0:9125", fixes: "--admin-tls-cert"},
		{name: "digest", set: map[string]string{"digest": "hourly"}, item: "--digest hourly", fixes: "daily, weekly or off"},
		{name: "certificate expired", set: map[string]string{"tls-cert": oldCert, "tls-key": oldKey}, item: "--tls-cert " + oldCert + ": the certificate expired", fixes: "renew"},
		{name: "key of another certificate", set: map[string]string{"tls-key": otherKey}, item: "--tls-cert " + cert + ": tls: private key does not match public key", fixes: "the private key of the same certificate"},
		{name: "certificate without key", set: map[string]string{"tls-key": ""}, item: "--tls-cert and --tls-key: give both", fixes: "PEM certificate chain"},
		{name: "spool is a file", set: map[string]string{"spool": write("spoolfile", "", 0o600)}, item: "--spool " + filepath.Join(dir, "spoolfile") + ": is not a directory", fixes: "a directory the relay's user can write"},
		{name: "submission without users", set: map[string]string{"submission": "127.0.0.1:5870"}, item: "--users is required with a submission port", fixes: "catchall relay user add"},
		{name: "store down", set: map[string]string{"store": "postgres://catchall@" + nobody + "/catchall?sslmode=disable"},
			item: "--store postgres://catchall@" + nobody + "/catchall?sslmode=disable: failed to connect", fixes: "start PostgreSQL or correct the URL"},
		{name: "store down, its aliases the domains", set: map[string]string{"store": "postgres://catchall@" + nobody + "/catchall?sslmode=disable", "domain": "", "plan": ""},
			item: "--store postgres://catchall@" + nobody + "/catchall?sslmode=disable: failed to connect", fixes: "start PostgreSQL or correct the URL"},
		{name: "store URL with a password", set: map[string]string{"store": "postgres://catchall:hunter2@db.example/catchall"},
			item: "--store postgres://catchall:xxxxx@db.example/catchall: the URL holds a password", fixes: "the password in --store-password-file"},
		{name: "store password readable", set: map[string]string{"store": "postgres://catchall@" + nobody + "/catchall", "store-password-file": write("store.password", "pw\n", 0o644)},
			item: "--store-password-file " + filepath.Join(dir, "store.password") + ": others than its owner", fixes: "chmod 0600"},
		{name: "DKIM record of another key", dns: func(f *fakeDNS) { f.txt["s1._domainkey.example.org"] = []string{otherValue} },
			item: "DNS s1._domainkey.example.org TXT (DKIM): publishes another key", fixes: "publish s1._domainkey.example.org. IN TXT \"" + dkimValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prepDKIM {
				os.Chmod(dkimFile, 0o644)
				defer os.Chmod(dkimFile, 0o600)
			}
			d := dns()
			if tc.dns != nil {
				tc.dns(d)
			}
			code, out, errOut := runCheck(t, d, args(tc.set)...)
			var errs []string
			for _, l := range strings.Split(errOut, "\n") {
				if strings.HasPrefix(l, "error: ") {
					errs = append(errs, l)
				}
			}
			if code != 1 || out != "" || len(errs) != 1 || !strings.HasPrefix(errs[0], "error: "+tc.item) ||
				!strings.Contains(errs[0][strings.Index(errs[0], "; fix: "):], tc.fixes) {
				t.Errorf("exit %d %q, want 1 and one line \"error: %s…; fix: …%s…\":\n%s", code, out, tc.item, tc.fixes, errOut)
			}
			if !strings.HasSuffix(errOut, "catchall: relay check: 1 problem to fix (listed above)\n") {
				t.Errorf("last line:\n%s", errOut)
			}
		})
	}

	// Warnings: the relay can start.
	for _, tc := range []struct {
		name  string
		set   map[string]string
		dns   func(*fakeDNS)
		lines []string
	}{
		{name: "offline", dns: func(f *fakeDNS) {
			f.err = &net.DNSError{Err: "server misbehaving", Name: "example.org", IsTemporary: true}
		},
			lines: []string{"warning: DNS example.org MX: lookup failed", "warning: DNS example.org TXT (SPF): lookup failed", "warning: DNS s1._domainkey.example.org TXT (DKIM): lookup failed"}},
		{name: "MX elsewhere, no SPF, no DKIM record", dns: func(f *fakeDNS) {
			f.mx["example.org"] = []*net.MX{{Host: "mx.old-host.example.", Pref: 10}}
			f.txt = map[string][]string{}
		}, lines: []string{"warning: DNS example.org MX: points at mx.old-host.example, not at this relay (mx.example.org); fix: when the relay is ready, publish example.org. MX 10 mx.example.org. instead",
			"warning: DNS example.org TXT (SPF): no SPF record", "warning: DNS s1._domainkey.example.org TXT (DKIM): no DKIM record", "; fix: publish s1._domainkey.example.org. IN TXT \"v=DKIM1; k=ed25519; p="}},
		{name: "row left out", set: map[string]string{"forward-to": "", "plan": write("empty-target.csv", "alias,tag,action,forward_to\nshop@example.org,disposable,forward,\nold@example.org,disposable,block,\n", 0o644)},
			lines: []string{"warning: --plan " + filepath.Join(dir, "empty-target.csv") + ": the relay leaves out shop@example.org", "fix: fill in its forward_to, or give --forward-to ADDR"}},
		{name: "certificate for another name", set: map[string]string{"hostname": "relay.example.org"},
			lines: []string{"warning: --tls-cert " + cert + ": the certificate is not for relay.example.org", "warning: DNS example.org MX: points at mx.example.org, not at this relay (relay.example.org)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dns()
			if tc.dns != nil {
				tc.dns(d)
			}
			code, out, errOut := runCheck(t, d, args(tc.set)...)
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if code != 0 || !strings.HasPrefix(out, "configuration OK (") || strings.Contains(errOut, "error: ") {
				t.Errorf("exit %d %q, want 0 and warnings:\n%s", code, out, errOut)
			}
			for _, want := range tc.lines {
				if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, want) }) {
					t.Errorf("no line with %q:\n%s", want, errOut)
				}
			}
		})
	}
}

// TestRelayCheckWritesNothing: relay check writes nothing: no SRS secret
// and no spool are made where the relay would make them.
func TestRelayCheckWritesNothing(t *testing.T) {
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	code, _, errOut := runCheck(t, &fakeDNS{err: errors.New("offline")}, "--domain", "example.org", "--smarthost", "smtp+plain://127.0.0.1:1", "--spool", spool, "--timeout", "2s")
	if code != 1 || !strings.Contains(errOut, "cannot connect") {
		t.Errorf("exit %d:\n%s", code, errOut)
	}
	if _, err := os.Stat(spool); err == nil {
		t.Error("relay check made the spool")
	}
}

// TestRelayCheckServiceUser: run as root, relay check tells when the
// relay's user cannot read the plan (a directory above it it cannot
// enter), and warns when it cannot write beside the plan (dashboard edits
// would fail); a plan the user owns passes. (nobody stands for the relay's
// user.)
func TestRelayCheckServiceUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root can check what another user may read (make test runs as root)")
	}
	t.Setenv("CATCHALL_DEST_PASSWORD", "")
	nobody, err := lookupServiceUser("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	smarthost := startCheckSmarthost(t)
	top := t.TempDir()
	os.Chmod(top, 0o755)
	os.Chmod(filepath.Dir(top), 0o755) // testing's own directory above it
	planText := "alias,tag,action,forward_to\nshop@example.org,disposable,forward,me@dest.test\n"
	mk := func(dir string, mode os.FileMode, owner bool) string {
		t.Helper()
		d := filepath.Join(top, dir)
		os.MkdirAll(d, mode)
		os.Chmod(d, mode)
		p := filepath.Join(d, "plan.csv")
		os.WriteFile(p, []byte(planText), 0o600)
		if owner {
			os.Chown(d, int(nobody.uid), -1)
			os.Chown(p, int(nobody.uid), -1)
		}
		return p
	}
	closed := mk("closed", 0o700, false)
	readOnly := mk("readonly", 0o755, false)
	os.Chmod(readOnly, 0o644)
	owned := mk("owned", 0o700, true)
	spool := filepath.Join(top, "spool")
	os.Mkdir(spool, 0o700)
	os.Chown(spool, int(nobody.uid), -1)
	// certbot's layout: live/ holds links into archive/, which nobody
	// cannot enter.
	archive := mk("archive", 0o700, false)
	os.MkdirAll(filepath.Join(top, "live"), 0o755)
	linked := filepath.Join(top, "live", "plan.csv")
	os.Symlink(archive, linked)
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.org": {{Host: "mx.example.org.", Pref: 10}}},
		txt: map[string][]string{"example.org": {"v=spf1 -all"}}}
	check := func(plan string) (int, string) {
		code, _, errOut := runCheck(t, dns, "--domain", "example.org", "--hostname", "mx.example.org", "--spool", spool,
			"--smarthost", "smtp+plain://"+smarthost, "--plan", plan, "--service-user", "nobody")
		return code, errOut
	}
	if code, out := check(closed); code != 1 || !strings.Contains(out, "error: --plan "+closed+": nobody cannot enter "+filepath.Dir(closed)) ||
		!strings.Contains(out, "fix: chgrp nobody "+filepath.Dir(closed)+" && chmod g+x "+filepath.Dir(closed)) {
		t.Errorf("plan in a directory nobody cannot enter: exit %d\n%s", code, out)
	} else if strings.Contains(out, "warning:") {
		t.Errorf("a plan nobody cannot read is also warned about:\n%s", out)
	}
	if code, out := check(readOnly); code != 0 || !strings.Contains(out, "warning: --plan "+readOnly+": nobody cannot write in "+filepath.Dir(readOnly)) ||
		!strings.Contains(out, "dashboard edits and breach-watch blocks cannot be saved") {
		t.Errorf("plan nobody can read but not replace: exit %d\n%s", code, out)
	}
	if code, out := check(owned); code != 0 || strings.Contains(out, "nobody") {
		t.Errorf("plan nobody owns: exit %d\n%s", code, out)
	}
	if code, out := check(linked); code != 1 || !strings.Contains(out, "error: --plan "+linked+": nobody cannot enter "+filepath.Dir(archive)) {
		t.Errorf("plan linked into a directory nobody cannot enter: exit %d\n%s", code, out)
	}
	os.Chown(spool, 0, -1)
	if code, out := check(owned); code != 0 || !strings.Contains(out, "warning: --spool "+spool+": nobody cannot write in "+spool) {
		t.Errorf("spool nobody cannot write: exit %d\n%s", code, out)
	}
}
