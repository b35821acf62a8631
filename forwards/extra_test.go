package forwards

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/catchall/catchall/classify"
)

// The tests of the formats in extra.go. The golden files are rewritten with
// go test ./forwards -run Golden -update (the flag of testtools.Golden).

// xtraInput is the awkward plan of these tests, built here: an IDN domain,
// a subaddress, several targets, blocked aliases, local parts with the
// characters special to regular expressions, shells, HCL (${ and %{),
// lsearch (a leading #) and Exim redirect lists (a target starting with
// |), and a catch-all.
func xtraInput() *Input {
	fwd := classify.ActionForward
	return &Input{
		Rules: []Rule{
			{Alias: "#hash@example.com", Tag: classify.TagDisposable, Action: fwd, Targets: []string{"|pipe@family.example", "#x@family.example"}},
			{Alias: "a=b/c{d}$e^f|g?h*i#j&k%l@example.com", Tag: classify.TagDisposable, Action: fwd, Targets: []string{"me@new.example"}},
			{Alias: "family@example.com", Tag: classify.TagPersonal, Action: fwd, Targets: []string{"me@new.example", "anna@family.example"}},
			{Alias: "leaked@example.com", Tag: classify.TagDisposable, Action: classify.ActionBlock},
			{Alias: "news+heise@example.com", Tag: classify.TagDisposable, Action: fwd, Targets: []string{"me@new.example"}},
			{Alias: "o'brien@example.com", Tag: classify.TagPersonal, Action: fwd, Targets: []string{"o'brien$home@family.example"}},
			{Alias: "price.$%{x}@example.com", Tag: classify.TagDisposable, Action: classify.ActionBlock},
			{Alias: "shop@xn--bcher-kva.example", Tag: classify.TagBusiness, Action: fwd, Targets: []string{"me@new.example"}},
			{Alias: "tpl${x}@example.com", Tag: classify.TagDisposable, Action: fwd, Targets: []string{"me@new.example"}},
			{Alias: "~tilde!bang`x@example.com", Tag: classify.TagDisposable, Action: fwd, Targets: []string{"me@new.example"}},
		},
		Domains:  []string{"example.com", "xn--bcher-kva.example"},
		CatchAll: "catchall@new.example",
	}
}

func xtraGenerate(t *testing.T, f Format, in *Input) *Output {
	t.Helper()
	out, err := f.Generate(in)
	if err != nil {
		t.Fatalf("%s: %v", f.Name(), err)
	}
	return out
}

func xtraFile(t *testing.T, out *Output, name string) []byte {
	t.Helper()
	for _, f := range out.Files {
		if f.Name == name {
			return f.Data
		}
	}
	t.Fatalf("no file %s", name)
	return nil
}

func xtraAll(out *Output) []byte {
	var all []byte
	for _, f := range out.Files {
		all = append(all, f.Data...)
	}
	return all
}

func TestGoldenExtra(t *testing.T) {
	in := xtraInput()
	for _, f := range extraFormats() {
		out := xtraGenerate(t, f, in)
		names := map[string]bool{}
		for _, file := range out.Files {
			if names[file.Name] || strings.ContainsAny(file.Name, "/\\") || file.Name == "INSTALL.txt" {
				t.Errorf("%s: bad or repeated file name %q", f.Name(), file.Name)
			}
			names[file.Name] = true
			golden(t, f.Name(), file.Name, file.Data)
		}
		golden(t, f.Name(), "INSTALL.txt", []byte(out.Install))
		golden(t, f.Name(), "LIMITS.txt", []byte(strings.Join(out.Limits, "\n")+"\n"))
		if _, ok := Formats()[f.Name()]; !ok {
			t.Errorf("%s is not registered", f.Name())
		}
	}
	for _, imp := range extraImporters() {
		if _, ok := Importers()[imp.Name()]; !ok {
			t.Errorf("importer %s is not registered", imp.Name())
		}
	}
	// Generating twice gives the same bytes.
	for _, f := range extraFormats() {
		a, b := xtraGenerate(t, f, in), xtraGenerate(t, f, xtraInput())
		if !bytes.Equal(xtraAll(a), xtraAll(b)) || a.Install != b.Install {
			t.Errorf("%s is not deterministic", f.Name())
		}
	}
}

// xtraRulesString writes rules without their tags, for comparison.
func xtraRulesString(rules []Rule, blocks bool) string {
	var b strings.Builder
	for _, r := range rules {
		if !blocks && r.Action == classify.ActionBlock {
			continue
		}
		fmt.Fprintf(&b, "%s %s %v\n", r.Alias, r.Action, r.Targets)
	}
	return b.String()
}

func TestExtraRoundTrip(t *testing.T) {
	in := xtraInput()
	want := xtraRulesString(in.Rules, true)
	for _, imp := range extraImporters() {
		f := Formats()[imp.Name()]
		out := xtraGenerate(t, f, in)
		variants := map[string][]byte{"as written": xtraAll(out)}
		// The files in the other order, with CRLF, a BOM, blank lines
		// and white space around.
		var rev []byte
		for i := len(out.Files) - 1; i >= 0; i-- {
			rev = append(rev, out.Files[i].Data...)
			rev = append(rev, '\n')
		}
		variants["reversed"] = rev
		crlf := bytes.ReplaceAll(xtraAll(out), []byte("\n"), []byte("\r\n"))
		variants["crlf, bom"] = append([]byte("\ufeff\r\n\r\n"), crlf...)
		var spaced []byte
		for _, l := range strings.Split(string(xtraAll(out)), "\n") {
			spaced = append(spaced, "  "+l+" \t\n\n"...)
		}
		variants["spaced"] = spaced
		for name, data := range variants {
			rules, err := imp.Import(data)
			if err != nil {
				t.Errorf("%s, %s: %v", imp.Name(), name, err)
				continue
			}
			for _, r := range rules {
				if r.Tag != "" {
					t.Errorf("%s: %s has tag %q", imp.Name(), r.Alias, r.Tag)
				}
			}
			if got := xtraRulesString(rules, true); got != want {
				t.Errorf("%s, %s: got\n%s\nwant\n%s", imp.Name(), name, got, want)
			}
		}
	}
}

// TestExtraImportForeign reads configurations written by hand or by the
// services themselves.
func TestExtraImportForeign(t *testing.T) {
	cases := []struct {
		imp  Importer
		data string
		want string
	}{
		{ForwardEmail{}, "$ORIGIN Example.COM.\nforward-email=a:x@y.example, b:z@y.example ,!c,!!d:x@y.example,!!!e,f:!!!,catch@y.example\nforward-email=a:w@y.example\n",
			"a@example.com forward [x@y.example w@y.example]\nb@example.com forward [z@y.example]\nc@example.com block []\nd@example.com block []\ne@example.com block []\nf@example.com block []\n"},
		// dig output, a record spread over lines, other records.
		{ForwardEmail{}, "example.org.\t3600\tIN\tTXT\t\"forward-email=a:x@y.example,\" \"b:z@y.example\"\n" +
			"example.org. 300 IN MX 10 mx1.forwardemail.net.\n_dmarc.example.org. IN TXT \"v=DMARC1; p=none\"\n" +
			"$ORIGIN example.net.\n$TTL 300\n@ IN SOA ns hostmaster (\n 1 ; serial\n 2 3 4 5 )\nsub 60 IN TXT ( \"forward-email=q:r@y.example\"\n )\n" +
			"\"forward-email=s:t@y.example\"\n",
			"a@example.org forward [x@y.example]\nb@example.org forward [z@y.example]\nq@sub.example.net forward [r@y.example]\ns@sub.example.net forward [t@y.example]\n"},
		{ForwardEmail{}, `[{"domain": "example.com", "type": "txt", "value": "forward-email=a:b@c.example"}, {"domain": "example.com", "type": "MX", "value": "x"}]`,
			"a@example.com forward [b@c.example]\n"},
		// SimpleLogin's own export: enabled column, Python booleans.
		{SimpleLogin{}, "alias,note,enabled,mailboxes\nA@Example.com,,True,m@x.example n@x.example\nb@example.com,\"a, note\",False,m@x.example\n",
			"a@example.com forward [m@x.example n@x.example]\nb@example.com block []\n"},
		{Addy{}, "description,alias,recipients\n,a@example.com,\"m@x.example, n@x.example\"\n",
			"a@example.com forward [m@x.example n@x.example]\n"},
	}
	for i, c := range cases {
		rules, err := c.imp.Import([]byte(c.data))
		if err != nil {
			t.Errorf("case %d (%s): %v", i, c.imp.Name(), err)
			continue
		}
		if got := xtraRulesString(rules, true); got != c.want {
			t.Errorf("case %d (%s): got\n%s\nwant\n%s", i, c.imp.Name(), got, c.want)
		}
	}
}

func TestExtraImportErrors(t *testing.T) {
	cases := []struct {
		imp  Importer
		data string
		want string
	}{
		{ForwardEmail{}, "$ORIGIN example.com.\n\nthis is not a record\n", "line 3"},
		{ForwardEmail{}, "forward-email=a:b@c.example\n", "line 1: no domain"},
		{ForwardEmail{}, "$ORIGIN example.com.\n@ IN TXT \"forward-email=/^x$/:b@c.example\"\n", "line 2: \"/^x$/:b@c.example\" is a regular-expression alias"},
		{ForwardEmail{}, "$ORIGIN example.com.\n; ok\n@ IN TXT \"forward-email=a:not-an-address\"\n", "line 3: target of a@example.com"},
		{ForwardEmail{}, "$ORIGIN example.com.\n@ IN TXT \"forward-email=a\\\"b:x@y.example\"\n", "line 2: cannot be forwarded safely"},
		{ForwardEmail{}, "$ORIGIN example.com.\n@ IN TXT \"forward-email=a:x@y.example\n", "line 2: unterminated"},
		{ForwardEmail{}, "$ORIGIN example.com.\n@ IN TXT ( \"forward-email=a:x@y.example\"\n", "line 2: \"(\" is never closed"},
		{ForwardEmail{}, "$ORIGIN example.com.\nforward-email=!a,a:x@y.example\n", "line 2: a@example.com is both blocked and forwarded"},
		{ForwardEmail{}, "[{\"domain\": 1}]", "records JSON on line 1"},
		{ForwardEmail{}, "; nothing\n", "no forward-email= record"},
		{SimpleLogin{}, "alias,note,mailboxes\na@example.com,,m@x.example\nnot an address,,m@x.example\n", "line 3: cannot be forwarded safely"},
		{SimpleLogin{}, "alias,note,mailboxes\n\na@example.com,,\n", "line 3: a@example.com has no mailboxes"},
		{SimpleLogin{}, "a@example.com,,m@x.example\n", "line 1: the first row must be the header"},
		{SimpleLogin{}, "alias,note\na@example.com,x\n", "line 1: the header has no \"mailboxes\" column"},
		{SimpleLogin{}, "alias,note,mailboxes\n\"a@example.com,,m@x.example\n", "line 2"},
		{SimpleLogin{}, "alias,note,enabled,mailboxes\na@example.com,,maybe,m@x.example\n", "line 2: enabled \"maybe\""},
		{Addy{}, "alias,description,recipients\na@example.com,,\"m@x.example,b\"\"@x.example\"\n", "line 2: recipients: cannot be forwarded safely"},
		{Addy{}, "alias,description,recipients\na@example.com,,a@example.com\n", "line 2: a@example.com forwards to itself"},
		{Addy{}, "", "empty"},
	}
	for i, c := range cases {
		_, err := c.imp.Import([]byte(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d (%s): error %v, want %q", i, c.imp.Name(), err, c.want)
		}
	}
}

// xtraMany returns n forward aliases at example.com (every tenth one
// blocked, every seventh with two targets).
func xtraMany(n int, catchAll string) *Input {
	in := &Input{Domains: []string{"example.com"}, CatchAll: catchAll}
	for i := 0; i < n; i++ {
		r := Rule{Alias: fmt.Sprintf("alias-%05d.some-longer-name@example.com", i), Action: classify.ActionForward,
			Targets: []string{fmt.Sprintf("target%d@new-mailbox.example", i%13)}}
		if i%7 == 0 {
			r.Targets = append(r.Targets, "second.target@other-host.example")
		}
		if i%10 == 0 {
			r.Action, r.Targets = classify.ActionBlock, nil
		}
		in.Rules = append(in.Rules, r)
	}
	return in
}

func TestExtraForwardEmailMany(t *testing.T) {
	in := xtraMany(5000, "catchall@new.example")
	out := xtraGenerate(t, ForwardEmail{}, in)
	dns := xtraFile(t, out, "dns.txt")
	quoted := regexp.MustCompile(`"([^"\\]|\\.)*"`)
	n := 0
	for _, l := range strings.Split(string(dns), "\n") {
		if !strings.HasPrefix(l, "@ 3600 IN TXT ") {
			continue
		}
		n++
		ms := quoted.FindAllString(l, -1)
		if len(ms) != 1 {
			t.Fatalf("want one string a record: %s", l)
		}
		v := ms[0][1 : len(ms[0])-1]
		if len(v) > feMaxTXT || !strings.HasPrefix(v, fePrefix) {
			t.Errorf("TXT string of %d bytes: %.60s…", len(v), v)
		}
	}
	var recs []feRecord
	if err := json.Unmarshal(xtraFile(t, out, "records.json"), &recs); err != nil || len(recs) != n || n < 100 {
		t.Fatalf("%d records.json entries, %d dns.txt records: %v", len(recs), n, err)
	}
	for _, r := range recs {
		if len(r.Value) > feMaxTXT {
			t.Errorf("records.json value of %d bytes", len(r.Value))
		}
	}
	for name, data := range map[string][]byte{"dns.txt": dns, "records.json": xtraFile(t, out, "records.json"), "both": xtraAll(out)} {
		rules, err := ForwardEmail{}.Import(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rules) != 5000 || xtraRulesString(rules, true) != xtraRulesString(in.Rules, true) {
			t.Errorf("%s: %d rules back, not the 5000 written", name, len(rules))
		}
	}
}

func TestExtraLimits(t *testing.T) {
	has := func(limits []string, words ...string) bool {
		for _, l := range limits {
			ok := true
			for _, w := range words {
				ok = ok && strings.Contains(l, w)
			}
			if ok {
				return true
			}
		}
		return false
	}
	// Cloudflare: more than 200 rules in a zone, and rules with several
	// targets, of which only the first is written.
	many := xtraMany(250, "")
	out := xtraGenerate(t, Cloudflare{}, many)
	if !has(out.Limits, "200", "example.com has 250") {
		t.Errorf("no limit for 250 rules: %q", out.Limits)
	}
	if !has(out.Limits, "one destination", "alias-00007.some-longer-name@example.com (kept target7@new-mailbox.example, dropped second.target@other-host.example)") {
		t.Errorf("no limit for several targets: %q", out.Limits)
	}
	var rules []cfRule
	if err := json.Unmarshal(xtraFile(t, out, "rules.json"), &rules); err != nil || len(rules) != 250 {
		t.Fatalf("%d rules: %v", len(rules), err)
	}
	for _, r := range rules {
		if len(r.Actions) != 1 || r.Actions[0].Type == "forward" && len(r.Actions[0].Value) != 1 {
			t.Errorf("rule %s: actions %+v", r.Name, r.Actions)
		}
	}
	few := xtraMany(20, "")
	for i := range few.Rules {
		if len(few.Rules[i].Targets) > 1 {
			few.Rules[i].Targets = few.Rules[i].Targets[:1]
		}
	}
	out = xtraGenerate(t, Cloudflare{}, few)
	if has(out.Limits, "200") || has(out.Limits, "one destination") || !has(out.Limits, "verified") || !has(out.Limits, "drop", "550", "deleting these drop rules") {
		t.Errorf("limits of a small plan: %q", out.Limits)
	}
	// procmail always says that it cannot refuse, blocked aliases or not.
	for _, in := range []*Input{xtraInput(), xtraMany(3, ""), {}} {
		out := xtraGenerate(t, Procmail{}, in)
		if !has(out.Limits, "cannot refuse") || !has(out.Limits, "SRS") || !has(out.Limits, "X-Original-To or Delivered-To") {
			t.Errorf("procmail limits: %q", out.Limits)
		}
	}
	// Only the limits that apply.
	plain := &Input{Domains: []string{"example.com"}, Rules: []Rule{{Alias: "a@example.com", Action: classify.ActionForward, Targets: []string{"b@new.example"}}}}
	for _, f := range extraFormats() {
		out := xtraGenerate(t, f, plain)
		for _, l := range out.Limits {
			for _, w := range []string{"block", "catch-all", "more than", "at most", "Debian"} {
				if strings.Contains(l, w) && !(f.Name() == "procmail" && w == "block") {
					t.Errorf("%s: limit about %q for a plan without it: %s", f.Name(), w, l)
				}
			}
		}
	}
	in := xtraInput()
	checks := map[string][][]string{
		"exim":         {{"SRS"}, {"Debian", "#hash@example.com"}},
		"forwardemail": {{"public"}, {"plus-addressing", "news+heise@example.com"}},
		"improvmx":     {{"leaked@example.com, price.$%{x}@example.com", "catch-all", "catchall@new.example"}},
		"simplelogin":  {{"verified"}, {"no enabled column", "2 aliases"}, {"default mailbox", "catchall@new.example"}},
		"addy":         {{"verified"}, {"no active column"}, {"news+heise@example.com", "extension"}},
	}
	for name, want := range checks {
		out := xtraGenerate(t, Formats()[name], in)
		for _, words := range want {
			if !has(out.Limits, words...) {
				t.Errorf("%s: no limit with %q: %q", name, words, out.Limits)
			}
		}
	}
	// An address a spreadsheet would evaluate is left out of the CSV
	// imports, and the limits say so; the others are written.
	for _, f := range []Format{SimpleLogin{}, Addy{}} {
		if !has(xtraGenerate(t, f, xtraNastyInput()).Limits, "left out", "spreadsheet evaluates") || has(xtraGenerate(t, f, in).Limits, "spreadsheet evaluates") {
			t.Errorf("%s: the left-out limit must come exactly when an address starts with = + - @ '", f.Name())
		}
	}
	over := xtraMany(30, "")
	if out := xtraGenerate(t, ImprovMX{}, over); !has(out.Limits, "free plan", "example.com has 27") {
		t.Errorf("improvmx free plan: %q", out.Limits)
	}
}

// xtraNasty is a table of valid local parts made of every special
// character CheckAddress allows, in awkward places.
func xtraNasty() []string {
	specials := "!#$%&'*+-/=?^_`{|}~"
	locals := []string{
		"${x}", "%{x}", "$${x}", "%%{x}", "$", "%", "{", "}", "a$", "a%", "$%{", "%${", "${${x}}",
		"'", "''", "a'b", "'$HOME'", "$HOME", "`id`", "|cat", "/etc/passwd", "#c", "a#b", ":fail:x",
		"^a$", ".*", "a.b", "a+b", "*", "?", "a|b", "(x)", "[x]", "\\<x", "a/b", "=", "~x", "&x", "!x", "!!!x",
		"x!", "/x/", "-", "_", specials, xtraReverse(specials),
	}
	var out []string
	for _, l := range locals {
		if a, err := CheckAddress(l + "@example.com"); err == nil {
			out = append(out, xtraLocal(a))
		}
	}
	for i := 0; i < len(specials); i++ {
		out = append(out, specials[i:i+1]+"q"+specials[i:i+1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func xtraReverse(s string) string {
	b := []byte(s)
	slices.Reverse(b)
	return string(b)
}

func xtraNastyInput() *Input {
	in := &Input{Domains: []string{"example.com"}}
	for i, l := range xtraNasty() {
		r := Rule{Alias: l + "@example.com", Action: classify.ActionForward, Targets: []string{"t" + l + "@new.example"}}
		if i%5 == 0 {
			r.Action, r.Targets = classify.ActionBlock, nil
		}
		in.Rules = append(in.Rules, r)
	}
	slices.SortFunc(in.Rules, func(a, b Rule) int { return strings.Compare(a.Alias, b.Alias) })
	return in
}

func TestExtraNastyTable(t *testing.T) {
	// The table holds only valid local parts, and the characters that
	// CheckAddress refuses are not among them.
	for _, l := range xtraNasty() {
		if strings.ContainsAny(l, "\\\"()[]<>:; ") {
			t.Errorf("the table holds %q", l)
		}
	}
	if n := len(xtraNasty()); n < 60 {
		t.Errorf("only %d nasty local parts", n)
	}
}

// hclDecode reads the quoted strings of an HCL file as HCL would: escapes,
// $${ and %%{; a bare ${ or %{ (an interpolation) is an error.
func hclDecode(src string) ([]string, error) {
	var out []string
	for i := 0; i < len(src); i++ {
		if src[i] == '#' {
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		}
		if src[i] != '"' {
			continue
		}
		var b strings.Builder
		for i++; ; i++ {
			if i >= len(src) || src[i] == '\n' {
				return nil, fmt.Errorf("unterminated string")
			}
			c := src[i]
			if c == '"' {
				break
			}
			switch {
			case c == '\\':
				i++
				switch src[i] {
				case '\\', '"':
					b.WriteByte(src[i])
				case 'n':
					b.WriteByte('\n')
				default:
					return nil, fmt.Errorf("escape \\%c", src[i])
				}
			case (c == '$' || c == '%') && strings.HasPrefix(src[i+1:], string(c)+"{"):
				b.WriteString(string(c) + "{")
				i += 2
			case (c == '$' || c == '%') && src[i+1] == '{':
				return nil, fmt.Errorf("interpolation %q in a string", src[i:min(i+10, len(src))])
			default:
				b.WriteByte(c)
			}
		}
		out = append(out, b.String())
	}
	return out, nil
}

// procmailToGo turns a procmail expression as written by procmailRegexp
// into a Go one, failing on an unquoted special character.
func procmailToGo(re string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(re); i++ {
		c := re[i]
		switch {
		case c == '\\':
			i++
			if i == len(re) || re[i] == '/' || re[i] == '<' || re[i] == '>' {
				return "", fmt.Errorf("bad escape in %q", re)
			}
			b.WriteString(regexp.QuoteMeta(re[i : i+1]))
		case 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_@/", c) >= 0:
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("unquoted %q in %q", c, re)
		}
	}
	return b.String(), nil
}

// xtraLsearch parses an Exim lsearch file as Exim does for these keys.
func xtraLsearch(t *testing.T, data []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			t.Fatalf("continuation line %q", l)
		}
		var key, rest string
		if l[0] == '"' {
			end := strings.IndexByte(l[1:], '"')
			if end < 0 {
				t.Fatalf("unterminated key %q", l)
			}
			key, rest = l[1:end+1], l[end+2:]
			if strings.ContainsAny(key, `\"`) {
				t.Fatalf("escape in key %q", l)
			}
		} else {
			i := strings.IndexAny(l, ": \t")
			key, rest = l[:i], l[i:]
		}
		if !strings.HasPrefix(rest, ": ") {
			t.Fatalf("no colon after the key in %q", l)
		}
		if _, dup := m[key]; dup {
			t.Fatalf("key %q twice", key)
		}
		m[key] = rest[2:]
	}
	return m
}

// xtraEximTargets splits a redirect list as written by eximAddr, checking
// that every item is a plain or quoted address.
func xtraEximTargets(t *testing.T, list string) []string {
	t.Helper()
	var out []string
	for _, item := range strings.Split(list, ", ") {
		if strings.HasPrefix(item, `"`) {
			end := strings.LastIndex(item, `"@`)
			if end <= 0 {
				t.Fatalf("bad quoted item %q", item)
			}
			out = append(out, item[1:end]+item[end+1:])
			continue
		}
		if strings.Trim(xtraLocal(item), "abcdefghijklmnopqrstuvwxyz0123456789._+=-") != "" {
			t.Fatalf("unquoted special in redirect item %q", item)
		}
		out = append(out, item)
	}
	return out
}

// TestExtraInjection writes every nasty local part with every format and
// parses the files back as the host would: each alias must come out whole
// and only in its escaped form.
func TestExtraInjection(t *testing.T) {
	in := xtraNastyInput()
	want := map[string]Rule{}
	for _, r := range in.Rules {
		want[r.Alias] = r
	}
	for _, withCatchAll := range []bool{false, true} {
		in := xtraNastyInput()
		if withCatchAll {
			in.CatchAll = "c'$x@new.example"
		}
		for _, f := range extraFormats() {
			t.Run(fmt.Sprintf("%s/catch-all=%v", f.Name(), withCatchAll), func(t *testing.T) {
				out := xtraGenerate(t, f, in)
				switch f.Name() {
				case "exim":
					m := xtraLsearch(t, xtraFile(t, out, "example.com.lsearch"))
					for _, r := range in.Rules {
						local := xtraLocal(r.Alias)
						if local == "*" && withCatchAll {
							continue // left out, said in the limits
						}
						v, ok := m[local]
						if !ok {
							t.Errorf("no key for %s", r.Alias)
							continue
						}
						if r.Action == classify.ActionBlock {
							if v != eximFail {
								t.Errorf("%s: %q", r.Alias, v)
							}
						} else if got := xtraEximTargets(t, v); !slices.Equal(got, r.Targets) {
							t.Errorf("%s: targets %q", r.Alias, got)
						}
					}
				case "procmail":
					rc := string(xtraFile(t, out, "procmailrc"))
					cond := regexp.MustCompile(`(?m)^\* \^\(X-Original-To\|Delivered-To\):\[ \t\]\*<\?(.*)>\?\[ \t\]\*\$\n(.*)$`)
					found := map[string]bool{}
					for _, mm := range cond.FindAllStringSubmatch(rc, -1) {
						if strings.HasPrefix(mm[1], "[^@") {
							continue // the catch-all
						}
						goRe, err := procmailToGo(mm[1])
						if err != nil {
							t.Error(err)
							continue
						}
						re := regexp.MustCompile("^" + goRe + "$")
						var alias string
						for a := range want {
							if re.MatchString(a) {
								if alias != "" {
									t.Errorf("%q matches %s and %s", mm[1], alias, a)
								}
								alias = a
							}
						}
						if alias == "" {
							continue // the catch-all's own address
						}
						found[alias] = true
						r := want[alias]
						if r.Action == classify.ActionBlock {
							if mm[2] != "/dev/null" {
								t.Errorf("%s: action %q", alias, mm[2])
							}
						} else if got := xtraShellWords(t, strings.TrimPrefix(mm[2], "! ")); !slices.Equal(got, r.Targets) {
							t.Errorf("%s: action %q gives %q", alias, mm[2], got)
						}
					}
					if len(found) != len(in.Rules) {
						t.Errorf("%d of %d aliases have a recipe", len(found), len(in.Rules))
					}
				case "cloudflare":
					strs, err := hclDecode(string(xtraFile(t, out, "main.tf")))
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range in.Rules {
						if !slices.Contains(strs, r.Alias) || !slices.Contains(strs, "catchall: "+r.Alias) {
							t.Errorf("main.tf lacks %s as a whole string", r.Alias)
						}
					}
					names := regexp.MustCompile(`(?m)^resource "cloudflare_email_routing_rule" "([^"]*)" \{$`).FindAllStringSubmatch(string(xtraFile(t, out, "main.tf")), -1)
					seen := map[string]bool{}
					for _, n := range names {
						if !regexp.MustCompile(`^[a-z][a-z0-9_]*$`).MatchString(n[1]) || seen[n[1]] {
							t.Errorf("resource name %q", n[1])
						}
						seen[n[1]] = true
					}
					if len(seen) != len(in.Rules) {
						t.Errorf("%d resources for %d rules", len(seen), len(in.Rules))
					}
					var rules []cfRule
					if err := json.Unmarshal(xtraFile(t, out, "rules.json"), &rules); err != nil {
						t.Fatal(err)
					}
					for i, r := range in.Rules {
						if rules[i].Matchers[0].Value != r.Alias {
							t.Errorf("rules.json: %q for %s", rules[i].Matchers[0].Value, r.Alias)
						}
					}
				case "forwardemail":
					rules, err := ForwardEmail{}.Import(xtraAll(out))
					if err != nil {
						t.Fatal(err)
					}
					var kept []Rule
					for _, r := range in.Rules {
						if l := xtraLocal(r.Alias); strings.HasPrefix(l, "!") || strings.HasPrefix(l, "/") {
							if !strings.Contains(strings.Join(out.Limits, " "), r.Alias) {
								t.Errorf("%s is left out without a word in the limits", r.Alias)
							}
							continue
						}
						kept = append(kept, r)
					}
					if got, w := xtraRulesString(rules, true), xtraRulesString(kept, true); got != w {
						t.Errorf("got\n%s\nwant\n%s", got, w)
					}
				case "improvmx":
					var body imxBulk
					if err := json.Unmarshal(xtraFile(t, out, "aliases.json"), &body); err != nil {
						t.Fatal(err)
					}
					got := map[string]string{}
					for _, a := range body.Aliases {
						got[a.Alias] = a.Forward
					}
					for _, r := range in.Forwarded() {
						if l := xtraLocal(r.Alias); l != "*" && got[l] != strings.Join(r.Targets, ",") {
							t.Errorf("%s: %q", r.Alias, got[l])
						}
					}
					if got["*"] != in.CatchAll {
						t.Errorf("catch-all %q", got["*"])
					}
				case "simplelogin", "addy":
					recs, err := csv.NewReader(bytes.NewReader(xtraAll(out))).ReadAll()
					if err != nil {
						t.Fatal(err)
					}
					// An alias a spreadsheet would evaluate is left out (the
					// service would get it with an apostrophe), and said so.
					var kept []Rule
					for _, r := range in.Rules {
						if strings.ContainsAny(r.Alias[:1], "=+-@'") {
							if !strings.Contains(strings.Join(out.Limits, " "), r.Alias) {
								t.Errorf("%s is left out without a word in the limits", r.Alias)
							}
							continue
						}
						kept = append(kept, r)
					}
					if len(recs) != len(kept)+1 {
						t.Fatalf("%d rows for %d rules", len(recs), len(kept))
					}
					for i, r := range kept {
						if recs[i+1][0] != r.Alias {
							t.Errorf("row %d: %q, want %s", i+1, recs[i+1][0], r.Alias)
						}
					}
					rules, err := Importers()[f.Name()].Import(xtraAll(out))
					if err != nil {
						t.Fatal(err)
					}
					if got, w := xtraRulesString(rules, true), xtraRulesString(kept, true); got != w {
						t.Errorf("got\n%s\nwant\n%s", got, w)
					}
				default:
					t.Fatalf("no injection check for %s", f.Name())
				}
			})
		}
	}
}

// xtraShellWords splits a procmail action line as procmail does for
// the single-quoted words procmailWord writes.
func xtraShellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	in, started := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case in && c == '\'':
			in = false
		case in:
			cur.WriteByte(c)
		case c == '\'':
			in, started = true, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			started = true
		case c == ' ':
			if started {
				words = append(words, cur.String())
				cur.Reset()
				started = false
			}
		default:
			t.Fatalf("unquoted %q in action %q", c, s)
		}
	}
	if in {
		t.Fatalf("unterminated quote in %q", s)
	}
	if started {
		words = append(words, cur.String())
	}
	return words
}

func TestExtraRefusesUnsafeInput(t *testing.T) {
	bad := []*Input{
		{Rules: []Rule{{Alias: `a"b@example.com`, Action: classify.ActionForward, Targets: []string{"x@y.example"}}}},
		{Rules: []Rule{{Alias: "a@example.com", Action: classify.ActionForward, Targets: []string{"x\n@y.example"}}}},
		{Rules: []Rule{{Alias: "A@example.com", Action: classify.ActionForward, Targets: []string{"x@y.example"}}}},
		{Rules: []Rule{{Alias: "a@example.com", Action: classify.ActionForward}}},
		{Rules: []Rule{{Alias: "a@example.com", Action: "keep"}}},
		{CatchAll: "x y@example.com"},
		{Domains: []string{"bad_domain"}},
	}
	for _, f := range extraFormats() {
		for i, in := range bad {
			if _, err := f.Generate(in); err == nil {
				t.Errorf("%s accepted bad input %d", f.Name(), i)
			}
		}
	}
}

func TestExtraNames(t *testing.T) {
	taken := map[string]bool{}
	for _, c := range [][2]string{
		{"news+heise@example.com", "news_heise_example_com"},
		{"news.heise@example.com", "news_heise_example_com_2"},
		{"1st@example.com", "alias_1st_example_com"},
		{"{}@example.com", "example_com"},
		{"${x}@xn--bcher-kva.example", "x_xn_bcher_kva_example"},
		{"", "alias"},
		{"!", "alias_2"},
	} {
		if got := tfName(c[0], taken); got != c[1] {
			t.Errorf("tfName(%q) = %q, want %q", c[0], got, c[1])
		}
	}
	for s, want := range map[string]string{
		"a${b}":   `"a$${b}"`,
		"a%{b}":   `"a%%{b}"`,
		"$${":     `"$$${"`,
		"%%{":     `"%%%{"`,
		`a"\b`:    `"a\"\\b"`,
		"$ % { }": `"$ % { }"`,
	} {
		if got := hclString(s); got != want {
			t.Errorf("hclString(%q) = %s, want %s", s, got, want)
		}
		if back, err := hclDecode(hclString(s)); err != nil || len(back) != 1 || back[0] != s {
			t.Errorf("hclDecode(hclString(%q)) = %q, %v", s, back, err)
		}
	}
}

// eximBinary is Exim from Debian's exim4-daemon-light (exim4, or exim
// elsewhere); CATCHALL_EXIM names another one, such as one unpacked with
// apt-get download and dpkg -x (Exim conflicts with an installed Postfix).
func eximBinary() string {
	if p := os.Getenv("CATCHALL_EXIM"); p != "" {
		return p
	}
	for _, name := range []string{"exim4", "exim"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestExtraEximTool checks the files with Exim itself, without a daemon:
// -bV reads a minimal configuration around the router, -bt routes each
// alias (the targets, or the :fail: text), -bh plays an SMTP session and
// shows the answer to RCPT TO.
func TestExtraEximTool(t *testing.T) {
	exim := eximBinary()
	if exim == "" {
		t.Skip("no exim binary (apt-get install exim4-daemon-light, or CATCHALL_EXIM=path)")
	}
	for _, withCatchAll := range []bool{true, false} {
		in := xtraInput()
		if !withCatchAll {
			in.CatchAll = ""
		}
		out := xtraGenerate(t, Exim{}, in)
		// Exim gives up root for -C files: everything must be readable
		// (and the spool writable) by its own user.
		dir, err := os.MkdirTemp("", "catchall-exim")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		os.Chmod(dir, 0o755)
		os.MkdirAll(filepath.Join(dir, "catchall"), 0o755)
		os.MkdirAll(filepath.Join(dir, "spool"), 0o777)
		os.Chmod(filepath.Join(dir, "spool"), 0o1777)
		// The files as catchall writes them (0600), then installed as
		// INSTALL.txt says: lookup files 0640, group Debian-exim (the user
		// Exim reads them as). As written, Exim cannot read them.
		var lookups []string
		for _, f := range out.Files {
			path := filepath.Join(dir, f.Name)
			if d, ok := strings.CutSuffix(f.Name, ".lsearch"); ok {
				path = filepath.Join(dir, "catchall", d)
				lookups = append(lookups, path)
			} else if f.Name == "catchall-domains" {
				lookups = append(lookups, path)
			}
			if err := os.WriteFile(path, f.Data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		installed := func() {
			t.Helper()
			install := out.Install
			if !strings.Contains(install, "install -m 0640 -g Debian-exim catchall-domains") {
				t.Fatalf("INSTALL.txt does not install the lookup files readable by Exim:\n%s", install)
			}
			grp, err := user.LookupGroup("Debian-exim")
			if err != nil {
				t.Skipf("no Debian-exim group (scripts/test.sh makes it): %v", err)
			}
			gid, _ := strconv.Atoi(grp.Gid)
			for _, p := range lookups {
				if err := os.Chown(p, 0, gid); err != nil {
					t.Fatal(err)
				}
				os.Chmod(p, 0o640)
			}
		}
		router := strings.NewReplacer(eximDir, filepath.Join(dir, "catchall"), eximDomains, filepath.Join(dir, "catchall-domains")).
			Replace(string(xtraFile(t, out, eximRouterFile)))
		conf := fmt.Sprintf(`primary_hostname = test.example
spool_directory = %[1]s/spool
log_file_path = %[1]s/%%slog
acl_smtp_rcpt = check_rcpt
begin acl
check_rcpt:
  require verify = recipient
  accept
begin routers
%[2]s
deliver:
  driver = accept
  transport = null
begin transports
null:
  driver = appendfile
  file = /dev/null
`, dir, router)
		confPath := filepath.Join(dir, "exim.conf")
		os.WriteFile(confPath, []byte(conf), 0o644)
		run := func(stdin string, args ...string) string {
			cmd := exec.Command(exim, append([]string{"-C", confPath}, args...)...)
			cmd.Stdin = strings.NewReader(stdin)
			b, _ := cmd.CombinedOutput()
			return string(b)
		}
		if res := run("", "-bV"); !strings.Contains(res, "Configuration file is "+confPath) {
			t.Fatalf("exim -bV:\n%s", res)
		}
		if os.Getuid() == 0 {
			// Copied with cp, 0600 root: Exim cannot read them and answers
			// no RCPT at all (what a user saw); installed as INSTALL.txt says,
			// it can.
			if smtp := run("EHLO c.example\r\nMAIL FROM:<s@sender.example>\r\nRCPT TO:<leaked@example.com>\r\nQUIT\r\n", "-bh", "192.0.2.1"); strings.Contains(smtp, "\n550 5.1.1 mailbox disabled") {
				t.Errorf("files Exim cannot read gave the plan's answer:\n%s", smtp)
			}
			installed()
		} else {
			for _, p := range lookups {
				os.Chmod(p, 0o644)
			}
		}
		for _, r := range in.Rules {
			res := run("", "-bt", r.Alias)
			if r.Action == classify.ActionBlock {
				if !strings.Contains(res, "undeliverable: 550 5.1.1 mailbox disabled") {
					t.Errorf("%s:\n%s", r.Alias, res)
				}
				continue
			}
			for _, tg := range r.Targets {
				if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(eximAddr(tg)) + `\n\s+<-- ` + regexp.QuoteMeta(r.Alias) + `\n\s+router = deliver`).MatchString(res) {
					t.Errorf("%s does not go to %s:\n%s", r.Alias, tg, res)
				}
			}
		}
		res := run("", "-bt", "someone-new@example.com")
		if withCatchAll != strings.Contains(res, "catchall@new.example\n    <-- someone-new@example.com") {
			t.Errorf("unknown address, catch-all %v:\n%s", withCatchAll, res)
		}
		if !withCatchAll && !strings.Contains(res, "Unrouteable address") {
			t.Errorf("unknown address without catch-all:\n%s", res)
		}
		if res := run("", "-bt", "ADOBE@NOT-HERE.EXAMPLE"); !strings.Contains(res, "router = deliver") {
			t.Errorf("other domains must pass the router by:\n%s", res)
		}
		smtp := run("EHLO client.example\r\nMAIL FROM:<s@sender.example>\r\nRCPT TO:<leaked@example.com>\r\nRCPT TO:<FAMILY@Example.com>\r\nQUIT\r\n", "-bh", "192.0.2.1")
		if !strings.Contains(smtp, "\n550 5.1.1 mailbox disabled") || !strings.Contains(smtp, "\n250 Accepted") {
			t.Errorf("SMTP session:\n%s", smtp)
		}
	}
}

// TestExtraEximParse checks the Exim files without Exim: every alias is
// one lsearch key with its targets or the :fail: text, the catch-all is
// the * key, and the router uses lsearch* only with a catch-all.
func TestExtraEximParse(t *testing.T) {
	for _, withCatchAll := range []bool{true, false} {
		in := xtraInput()
		if !withCatchAll {
			in.CatchAll = ""
		}
		out := xtraGenerate(t, Exim{}, in)
		router := string(xtraFile(t, out, eximRouterFile))
		for _, want := range []string{"driver = redirect", "domains = lsearch;" + eximDomains, "allow_fail", "allow_defer", "no_more",
			"data = ${lookup{$local_part}" + eximLookup(in) + "{" + eximDir + "/$domain_data}}"} {
			if !strings.Contains(router, want) {
				t.Errorf("router lacks %q:\n%s", want, router)
			}
		}
		if strings.Contains(router, "lsearch*") != withCatchAll {
			t.Errorf("lsearch* with catch-all %v:\n%s", withCatchAll, router)
		}
		doms := xtraLsearch(t, xtraFile(t, out, "catchall-domains"))
		for _, d := range in.Domains {
			if doms[d] != d {
				t.Errorf("catchall-domains: %q for %s", doms[d], d)
			}
		}
		for _, d := range in.Domains {
			m := xtraLsearch(t, xtraFile(t, out, d+".lsearch"))
			n := 0
			for _, r := range in.Rules {
				if classify.Domain(r.Alias) != d {
					continue
				}
				n++
				v := m[xtraLocal(r.Alias)]
				if r.Action == classify.ActionBlock && v != eximFail || r.Action == classify.ActionForward && !slices.Equal(xtraEximTargets(t, v), r.Targets) {
					t.Errorf("%s: %q", r.Alias, v)
				}
			}
			if withCatchAll {
				n++
				if m["*"] != "catchall@new.example" {
					t.Errorf("catch-all: %q", m["*"])
				}
			}
			if len(m) != n {
				t.Errorf("%s: %d keys, want %d", d, len(m), n)
			}
		}
	}
	// The alias "*" cannot sit beside the catch-all.
	in := &Input{Domains: []string{"example.com"}, CatchAll: "c@new.example",
		Rules: []Rule{{Alias: "*@example.com", Action: classify.ActionBlock}}}
	out := xtraGenerate(t, Exim{}, in)
	if m := xtraLsearch(t, xtraFile(t, out, "example.com.lsearch")); m["*"] != "c@new.example" || !strings.Contains(strings.Join(out.Limits, " "), "*@example.com") {
		t.Errorf("alias *: %q %q", m, out.Limits)
	}
}

// TestExtraProcmailTool runs the recipes through procmail itself, with a
// stand-in for sendmail that records its arguments.
func TestExtraProcmailTool(t *testing.T) {
	procmail, err := exec.LookPath("procmail")
	if err != nil {
		t.Skip("no procmail (apt-get install procmail)")
	}
	in := xtraNastyInput()
	in.Rules = append(in.Rules, xtraInput().Rules...)
	slices.SortFunc(in.Rules, func(a, b Rule) int { return strings.Compare(a.Alias, b.Alias) })
	in.Rules = slices.CompactFunc(in.Rules, func(a, b Rule) bool { return a.Alias == b.Alias })
	in.Domains = []string{"example.com", "xn--bcher-kva.example"}
	in.CatchAll = "catchall@example.com" // at a plan domain: must not loop
	out := xtraGenerate(t, Procmail{}, in)
	dir := t.TempDir()
	rc := filepath.Join(dir, "procmailrc")
	os.WriteFile(rc, xtraFile(t, out, "procmailrc"), 0o644)
	log := filepath.Join(dir, "sent")
	send := filepath.Join(dir, "sendmail")
	os.WriteFile(send, []byte("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > "+log+"\ncat >/dev/null\n"), 0o755)
	inbox := filepath.Join(dir, "inbox")
	deliver := func(header, rcpt string) (sent []string, kept bool) {
		t.Helper()
		os.Remove(log)
		os.Remove(inbox)
		cmd := exec.Command(procmail, "-m", "SENDMAIL="+send, "SENDMAILFLAGS=-oi", "DEFAULT="+inbox, rc)
		cmd.Stdin = strings.NewReader(header + ": " + rcpt + "\nFrom: someone@sender.example\nSubject: test\n\nhello\n")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("procmail: %v\n%s", err, b)
		}
		if b, err := os.ReadFile(log); err == nil {
			sent = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if len(sent) == 0 || sent[0] != "-oi" {
				t.Fatalf("sendmail called with %q", sent)
			}
			sent = sent[1:]
		}
		_, err := os.Stat(inbox)
		return sent, err == nil
	}
	for i, r := range in.Rules {
		header := []string{"X-Original-To", "Delivered-To"}[i%2]
		rcpt := r.Alias
		if i%3 == 0 {
			rcpt = "<" + rcpt + ">"
		}
		sent, kept := deliver(header, rcpt)
		if r.Action == classify.ActionBlock {
			if sent != nil || kept {
				t.Errorf("blocked %s: sent to %q, kept %v", r.Alias, sent, kept)
			}
		} else if !slices.Equal(sent, r.Targets) || kept {
			t.Errorf("%s: sent to %q, kept %v; want %q", r.Alias, sent, kept, r.Targets)
		}
	}
	for rcpt, want := range map[string][]string{
		"someone-new@example.com":          {"catchall@example.com"},
		"tester.t\t@example.com":           nil, // a tab is no part of an address
		"tester@example.com":               {"catchall@example.com"},
		"x@xn--bcher-kva.example":          {"catchall@example.com"},
		"catchall@example.com":             nil, // the catch-all's own mail stays
		"x" + in.Rules[3].Alias:            {"catchall@example.com"},
		in.Rules[3].Alias + "x":            nil,
		"someone@other.example":            nil,
		"a=b/c{d}$e^f|g?h*i#j&k%l@example": nil,
	} {
		sent, kept := deliver("X-Original-To", rcpt)
		if !slices.Equal(sent, want) || kept != (want == nil) {
			t.Errorf("%s: sent to %q, kept %v; want %q", rcpt, sent, kept, want)
		}
	}
}

// FuzzExtraImport feeds anything to the importers of this group: they may
// refuse it, but what they accept is safe to write again.
func FuzzExtraImport(f *testing.F) {
	for _, imp := range extraImporters() {
		out, _ := Formats()[imp.Name()].Generate(xtraInput())
		f.Add(xtraAll(out))
	}
	f.Add([]byte("$ORIGIN example.com.\nsub IN TXT ( \"forward-email=!!a,b:c@d.example\" ; x\n )\n[{\"domain\":\"example.com\",\"type\":\"TXT\",\"value\":\"forward-email=x:y@z.example\"}]\n"))
	f.Add([]byte("alias,note,enabled,mailboxes\n\"a@example.com\",\"x\"\"y\",False,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, imp := range extraImporters() {
			rules, ok := safeImport(t, imp, data)
			if !ok {
				continue
			}
			for _, r := range rules {
				if r.Action == classify.ActionForward && len(r.Targets) == 0 || r.Action == classify.ActionBlock && len(r.Targets) > 0 {
					t.Fatalf("%s: %+v", imp.Name(), r)
				}
				for _, tg := range r.Targets {
					if _, err := CheckAddress(tg); err != nil {
						t.Fatalf("%s imported an unsafe target %q", imp.Name(), tg)
					}
				}
			}
			in := &Input{Rules: rules}
			if err := xtraCheck(in); err != nil {
				t.Fatalf("%s: imported rules fail the check: %v", imp.Name(), err)
			}
		}
	})
}
