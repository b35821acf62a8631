package forwards

// Checks with the real tools from Debian, run by scripts/test.sh (make test)
// which installs them: Postfix's postmap resolves every alias of the awkward
// plan to exactly its targets (and blocked ones to REJECT), Pigeonhole's
// sievec compiles the script and sieve-test, with each alias as envelope
// recipient, performs exactly the expected redirects or reject. Dovecot's
// tools refuse to run as root: they run as the test user.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/internal/testtools"
)

// writeOut writes a format's files into a directory the test user can read.
func writeOut(t *testing.T, out *Output) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "catchall-tools")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	for _, f := range out.Files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPostmap(t *testing.T) {
	testtools.NeedTools(t, "postmap")
	in, _ := awkwardInput(t).For(Postfix{}) // what Postfix can take
	out, _ := Postfix{}.Generate(in)
	dir := writeOut(t, out)
	pf := testtools.NewPostfix(t)
	if b, err := pf.Postmap(filepath.Join(dir, "virtual"), filepath.Join(dir, "access")).CombinedOutput(); err != nil {
		t.Fatalf("postmap: %v\n%s", err, b)
	}
	query := func(table, key string) (string, bool) {
		b, err := pf.Postmap("-q", key, "hash:"+filepath.Join(dir, table)).Output()
		return strings.TrimSpace(string(b)), err == nil
	}
	for _, r := range in.Rules {
		v, inVirtual := query("virtual", r.Alias)
		a, inAccess := query("access", r.Alias)
		switch r.Action {
		case classify.ActionForward:
			if !inVirtual || v != strings.Join(r.Targets, ", ") || inAccess {
				t.Errorf("%s: virtual %q (%v), access %q (%v); want %v", r.Alias, v, inVirtual, a, inAccess, r.Targets)
			}
		case classify.ActionBlock:
			if inVirtual || !inAccess || a != "550 5.1.1 Mailbox disabled" {
				t.Errorf("%s: virtual %q (%v), access %q (%v); want 550 5.1.1", r.Alias, v, inVirtual, a, inAccess)
			}
		}
	}
	if v, ok := query("virtual", "@example.com"); !ok || v != "catchall@new.example" {
		t.Errorf("catch-all: %q %v", v, ok)
	}
	// The signed-burner shape, with Debian's postfix-pcre.
	if b, _ := pf.Postconf("-m").Output(); !strings.Contains(string(b), "pcre") {
		t.Skip("postfix-pcre not installed: virtual.pcre not checked")
	}
	for key, want := range map[string]string{
		"adobe.abcdef@example.com":               "me@new.example",
		"ADOBE.AB2DEF@Example.COM":               "me@new.example",
		"my_shop-1.zz7777@xn--bcher-kva.example": "me@new.example",
		"adobe.abcde1@example.com":               "", // 1 is not base32
		"adobe.abcdefg@example.com":              "",
		"adobe@example.com":                      "",
		"a.b.abcdef@example.com":                 "",
		"adobe.abcdef@elsewhere.example":         "",
		"adobe.abcdef@example.com.evil.example":  "",
	} {
		b, err := pf.Postmap("-q", key, "pcre:"+filepath.Join(dir, "virtual.pcre")).Output()
		if got := strings.TrimSpace(string(b)); got != want || (err == nil) != (want != "") {
			t.Errorf("virtual.pcre %s = %q (%v), want %q", key, got, err, want)
		}
	}
}

var sieveAct = regexp.MustCompile(`(?m)^ \* (redirect message to: <([^>]*)>|reject message with reason: (.*))$`)

func TestSieveTools(t *testing.T) {
	testtools.NeedTools(t, "sievec", "sieve-test", "runuser")
	in := awkwardInput(t)
	out, _ := Sieve{}.Generate(in)
	dir := writeOut(t, out)
	script := filepath.Join(dir, "catchall.sieve")
	msg := filepath.Join(dir, "message.eml")
	os.WriteFile(msg, []byte("From: someone@sender.example\r\nTo: x@example.com\r\nSubject: test\r\n\r\nhello\r\n"), 0o644)
	dc := testtools.NewDovecot(t)
	run := func(tool string, args ...string) string {
		t.Helper()
		b, err := dc.Command(tool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	run("sievec", script, filepath.Join(dc.Dir, "catchall.svbin"))
	check := func(rcpt string, wantRedirects []string, wantReject bool) {
		t.Helper()
		res := run("sieve-test", "-r", rcpt, script, msg)
		var redirects []string
		reject := false
		for _, m := range sieveAct.FindAllStringSubmatch(res, -1) {
			if m[2] != "" {
				redirects = append(redirects, m[2])
			} else {
				reject = true
			}
		}
		if !slices.Equal(redirects, wantRedirects) || reject != wantReject {
			t.Errorf("%s: redirects %q reject %v; want %q %v\n%s", rcpt, redirects, reject, wantRedirects, wantReject, res)
		}
	}
	for _, r := range in.Rules {
		if r.Action == classify.ActionBlock {
			check(r.Alias, nil, true)
		} else {
			check(r.Alias, r.Targets, false)
		}
	}
	check("someone-new@example.com", []string{"catchall@new.example"}, false)
	check("ADOBE@EXAMPLE.COM", []string{"me@new.example"}, false) // addresses compare case-insensitively
}

// TestToolsHostilePlan: a plan with the rows a hostile sender can make,
// among good ones. What each format writes, Postfix's postmap and
// Pigeonhole's sieve-test resolve exactly as the plan says for every row
// the format took, and find nothing for the rows it left out.
func TestToolsHostilePlan(t *testing.T) {
	testtools.NeedTools(t, "postmap", "sievec", "sieve-test", "runuser")
	p, err := classify.ParsePlan([]byte("alias,tag,action,forward_to\n"+
		"good@example.com,personal,forward,me@new.example\n"+
		"gone@example.com,disposable,block,me@new.example\n"+
		"a/../../b@example.com,disposable,forward,\n"+
		"#x@example.com,disposable,block,\n"+
		"\"\"\"quoted local\"\"@example.com\",personal,forward,\n"+
		"j\xc3\xb6rg@example.com,personal,forward,\n"+
		strings.Repeat("l", 300)+"@example.com,disposable,forward,\n"+
		"'=1+2@example.com,disposable,forward,\n"+
		"\"'+cmd|'/ccalc'!a0@example.com\",disposable,block,\n"+
		"@x,disposable,block,\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	in, err := FromPlan(p, "me@new.example", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Skipped) != 5 {
		t.Errorf("skipped %v, want the 5 rows no format can take", in.Skipped)
	}
	msg := []byte("From: someone@sender.example\r\nTo: x@example.com\r\nSubject: test\r\n\r\nhello\r\n")
	for _, f := range []Format{Postfix{}, Sieve{}} {
		fin, skipped := in.For(f)
		out, err := f.Generate(fin)
		if err != nil {
			t.Fatal(err)
		}
		dir := writeOut(t, out)
		// What the tool does with an address: "forward T…", "block" or "".
		var resolve func(alias string) string
		switch f.(type) {
		case Postfix:
			pf := testtools.NewPostfix(t)
			if b, err := pf.Postmap(filepath.Join(dir, "virtual"), filepath.Join(dir, "access")).CombinedOutput(); err != nil {
				t.Fatalf("postmap: %v\n%s", err, b)
			}
			resolve = func(alias string) string {
				if b, err := pf.Postmap("-q", alias, "hash:"+filepath.Join(dir, "access")).Output(); err == nil && strings.HasPrefix(string(b), "550 ") {
					return "block"
				}
				if b, err := pf.Postmap("-q", alias, "hash:"+filepath.Join(dir, "virtual")).Output(); err == nil {
					return "forward " + strings.ReplaceAll(strings.TrimSpace(string(b)), ", ", " ")
				}
				return ""
			}
		case Sieve:
			dc := testtools.NewDovecot(t)
			os.WriteFile(filepath.Join(dir, "message.eml"), msg, 0o644)
			script := filepath.Join(dir, "catchall.sieve")
			if b, err := dc.Command("sievec", script, filepath.Join(dc.Dir, "c.svbin")).CombinedOutput(); err != nil {
				t.Fatalf("sievec: %v\n%s", err, b)
			}
			resolve = func(alias string) string {
				b, err := dc.Command("sieve-test", "-r", alias, script, filepath.Join(dir, "message.eml")).CombinedOutput()
				if err != nil && strings.Contains(string(b), "Invalid -r parameter") {
					return "" // not even an address to Pigeonhole: no rule can match it
				}
				if err != nil {
					return "error: " + string(b)
				}
				var to []string
				for _, m := range sieveAct.FindAllStringSubmatch(string(b), -1) {
					if m[2] == "" {
						return "block"
					}
					to = append(to, m[2])
				}
				if len(to) == 0 {
					return ""
				}
				return "forward " + strings.Join(to, " ")
			}
		}
		for _, r := range fin.Rules {
			want := "block"
			if r.Action == classify.ActionForward {
				want = "forward " + strings.Join(r.Targets, " ")
			}
			if got := resolve(r.Alias); got != want {
				t.Errorf("%s: %s → %q, want %q", f.Name(), r.Alias, got, want)
			}
		}
		for _, s := range append(in.Skipped, skipped...) {
			if s.Alias == "@x" || !strings.Contains(s.Alias, "@") {
				continue
			}
			if got := resolve(s.Alias); got != "" {
				t.Errorf("%s: the left-out %s → %q, want nothing", f.Name(), s.Alias, got)
			}
		}
	}
}

// TestToolsPostfixSMTP installs the generated maps in a real, private
// Postfix (scripts/testenv/postfix.sh) and checks what it answers at RCPT,
// with swaks: 250 for every forwarded alias, 550 5.1.1 for every blocked
// one, and for an unknown address 550 (no catch-all) or 250 (catch-all).
func TestToolsPostfixSMTP(t *testing.T) {
	testtools.NeedTools(t, "postmap", "swaks")
	if os.Getuid() != 0 {
		t.Skip("the private Postfix needs root")
	}
	for _, catchAll := range []bool{false, true} {
		t.Run(fmt.Sprintf("catch-all %v", catchAll), func(t *testing.T) {
			in := awkwardInput(t)
			if !catchAll {
				in.CatchAll = ""
			}
			fin, skipped := in.For(Postfix{})
			out, err := Postfix{}.Generate(fin)
			if err != nil {
				t.Fatal(err)
			}
			files := writeOut(t, out)
			addr := testtools.StartPostfix(t, "POSTFIX_VIRTUAL="+filepath.Join(files, "virtual"), "POSTFIX_ACCESS="+filepath.Join(files, "access"),
				"POSTFIX_DOMAIN="+strings.Join(in.Domains, " "), fmt.Sprintf("POSTFIX_SMTP_PORT=%d", testtools.FreePort(t)), fmt.Sprintf("POSTFIX_RELAY_PORT=%d", testtools.FreePort(t)))
			rcpt := func(to string) string {
				b, _ := exec.Command("swaks", "--timeout", "20", "--server", addr, "--from", "x@sender.test", "--to", to, "--quit-after", "RCPT").CombinedOutput()
				s := string(b)
				i := strings.Index(s, "-> RCPT TO:")
				if i < 0 {
					return "no RCPT: " + s
				}
				m := regexp.MustCompile(`(?m)^<(?:-|\*\*) +(\d{3}(?: \d\.\d\.\d)?)`).FindStringSubmatch(s[i:])
				if m == nil {
					return "no reply: " + s[i:]
				}
				return m[1]
			}
			// What Postfix cannot take is left out, and Postfix refuses it.
			for _, sk := range skipped {
				if got := rcpt(sk.Alias); !strings.HasPrefix(got, "5") {
					t.Errorf("RCPT %s (left out: %s): %s, want a refusal", sk.Alias, sk.Reason, got)
				}
			}
			for _, r := range fin.Rules {
				want := "250 2.1.5"
				if r.Action == classify.ActionBlock {
					want = "550 5.1.1"
				}
				if got := rcpt(r.Alias); got != want {
					t.Errorf("RCPT %s: %s, want %s", r.Alias, got, want)
				}
			}
			unknown := "550 5.1.1"
			if catchAll {
				unknown = "250 2.1.5"
			}
			if got := rcpt("nobody-in-the-plan@example.com"); got != unknown {
				t.Errorf("RCPT to an address not in the plan: %s, want %s", got, unknown)
			}
			if got := rcpt("x@elsewhere.example"); !strings.HasPrefix(got, "554") {
				t.Errorf("RCPT to another domain: %s, want 554 (relay access denied)", got)
			}
		})
	}
}
