package report

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/classify/breach"
	"github.com/catchall/catchall/internal/corpus"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Hostile values: each must reach the page as text only.
const (
	scriptAlias  = "<script>window.__pwned=true</script>@x.example"
	imgAlias     = `<img src=x onerror="window.__pwned=true">@x.example`
	breakout     = "</script><script>window.__pwned=true</script>@x.example"
	quotedTarget = `"me"@new.example 'o'@new.example`
	hostileTag   = `personal" onmouseover="window.__pwned=true`
	lineSepAlias = "line\u2028sep\u2029@x.example"
)

// markers are substrings of the hostile values that must never appear as an
// element or attribute of the parsed page.
var markers = []string{"__pwned", "onerror", "onmouseover", "x.example", "new.example"}

// awkwardPlan has HTML metacharacters, an IDN alias in punycode, a blocked
// alias, a breached alias with dates, an alias without dates and a breach
// without a date.
func awkwardPlan() *classify.Plan {
	return &classify.Plan{
		Columns: []string{"alias", "tag", "action", "forward_to", "messages", "first_seen", "last_seen", "breaches", "breach_verdict"},
		Rows: []classify.Row{
			{"alias": scriptAlias, "tag": "personal", "action": "forward", "forward_to": quotedTarget, "messages": "3",
				"first_seen": "2019-02-03", "last_seen": "2019-05-30", "breach_verdict": "clean"},
			{"alias": imgAlias, "tag": hostileTag, "action": "forward", "forward_to": "me@new.example", "messages": "1",
				"first_seen": "2020-01-01", "last_seen": "2020-01-01", "breach_verdict": "clean"},
			{"alias": breakout, "tag": "business", "action": `block"><b>`, "forward_to": "", "messages": "x<y",
				"first_seen": "2018-07-09", "last_seen": "2021-11-12", "breaches": "Evil</script> (2020-05-06)", "breach_verdict": "aggregate<b>"},
			{"alias": "adobe@example.com", "tag": "disposable", "action": "block", "forward_to": "", "messages": "42",
				"first_seen": "2012-01-05", "last_seen": "2020-03-01",
				"breaches": "Adobe (2013-10-04); Collection1 (2019-01-07, spam list)", "breach_verdict": "breached"},
			{"alias": "info@xn--mnchen-3ya.de", "tag": "business", "action": "forward", "forward_to": "work@new.example", "messages": "7",
				"first_seen": "2015-06-01", "last_seen": "2024-12-24", "breach_verdict": "clean"},
			{"alias": lineSepAlias, "tag": "disposable", "action": "forward", "forward_to": "me@new.example", "messages": "2",
				"first_seen": "2023-03-03", "last_seen": "2023-04-04", "breach_verdict": "leaked"},
			{"alias": "nodates@example.com", "tag": "personal", "action": "forward", "forward_to": "me@new.example", "messages": "",
				"first_seen": "", "last_seen": "", "breaches": "Mystery", "breach_verdict": ""},
		},
	}
}

// awkwardInventory gives per-month counts for some aliases of awkwardPlan.
func awkwardInventory() *classify.Inventory {
	return &classify.Inventory{Aliases: map[string]*classify.Stats{
		"adobe@example.com": {Alias: "adobe@example.com", Received: 42, Months: map[string]int{
			"2012-01": 5, "2013-10": 20, "2014-02": 1, "2020-03": 16}},
		"info@xn--mnchen-3ya.de": {Alias: "info@xn--mnchen-3ya.de", Received: 7, Months: map[string]int{
			"2015-06": 3, "2024-12": 4, "bogus": 9}},
		scriptAlias: {Alias: scriptAlias, Received: 3, Months: map[string]int{"2019-02": 1, "2019-05": 2}},
		"nodates@example.com": {Alias: "nodates@example.com", Received: 5, First: time.Date(2016, 4, 5, 23, 0, 0, 0, time.FixedZone("", -3600*5)),
			Last: time.Date(2017, 8, 9, 0, 0, 0, 0, time.UTC), Months: map[string]int{"2016-04": 2, "2017-08": 3}},
	}}
}

func render(t *testing.T, plan *classify.Plan, inv *classify.Inventory, opts *Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, plan, inv, opts); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./classify/report -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test ./classify/report -run Golden -update after checking the change):\n--- got\n%.3000s", path, got)
	}
}

func TestGolden(t *testing.T) {
	opts := &Options{Title: "Report <for> \"me\" & co", Now: fixedNow}
	for _, tc := range []struct {
		name string
		inv  *classify.Inventory
	}{
		{"plan-only.html", nil},
		{"with-archive.html", awkwardInventory()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := render(t, awkwardPlan(), tc.inv, opts)
			golden(t, tc.name, out)
			if again := render(t, awkwardPlan(), tc.inv, opts); !bytes.Equal(out, again) {
				t.Error("two runs on the same input differ")
			}
		})
	}
}

// pageData extracts and decodes the JSON block.
func pageData(t *testing.T, doc *html.Node) *data {
	t.Helper()
	var d data
	n := find(doc, func(n *html.Node) bool {
		return n.Type == html.ElementNode && n.Data == "script" && attr(n, "type") == "application/json"
	})
	if n == nil || n.FirstChild == nil {
		t.Fatal("no JSON data block")
	}
	if err := json.Unmarshal([]byte(n.FirstChild.Data), &d); err != nil {
		t.Fatalf("data block: %v", err)
	}
	return &d
}

func find(n *html.Node, ok func(*html.Node) bool) *html.Node {
	if ok(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, ok); f != nil {
			return f
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func TestInjection(t *testing.T) {
	for _, inv := range []*classify.Inventory{nil, awkwardInventory()} {
		out := render(t, awkwardPlan(), inv, &Options{Title: `</title><script>window.__pwned=true</script>`, Now: fixedNow})
		doc, err := html.Parse(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		allowed := map[string]bool{}
		for _, e := range strings.Fields(`html head meta title style body header h1 h2 p section div table thead tbody tr th td
			a input select option span colgroup col button svg noscript script`) {
			allowed[e] = true
		}
		var scripts []*html.Node
		var walk func(*html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode {
				if !allowed[n.Data] {
					t.Errorf("unexpected element <%s>", n.Data)
				}
				if n.Data == "script" {
					scripts = append(scripts, n)
				}
				for _, a := range n.Attr {
					for _, m := range markers {
						if strings.Contains(a.Key, m) || strings.Contains(a.Val, m) {
							t.Errorf("<%s> attribute %s=%q comes from the data", n.Data, a.Key, a.Val)
						}
					}
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(doc)
		if len(scripts) != 2 || attr(scripts[0], "type") != "application/json" || attr(scripts[1], "type") != "" ||
			attr(scripts[1], "src") != "" || scripts[1].FirstChild == nil || scripts[1].FirstChild.Data != scriptJS {
			t.Fatalf("want exactly the JSON block and the page's own script, got %d script elements", len(scripts))
		}
		// The raw JSON block: nothing that could end it or start markup.
		start := bytes.Index(out, []byte(`<script type="application/json" id="data">`))
		end := bytes.Index(out[start:], []byte("</script>"))
		raw := out[start+len(`<script type="application/json" id="data">`) : start+end]
		if i := bytes.IndexAny(raw, "<>&\u2028\u2029"); i >= 0 {
			t.Errorf("unescaped %q in the JSON block", raw[i:i+1])
		}
		// Outside the JSON block, data appears only as escaped text.
		rest := append(slices.Clone(out[:start]), out[start+end:]...)
		for _, bad := range []string{"<script>window", "<img", "<b>", `" onmouseover`} {
			if bytes.Contains(rest, []byte(bad)) {
				t.Errorf("%q appears outside the JSON block", bad)
			}
		}
		// The data survives exactly.
		d := pageData(t, doc)
		var got []string
		for _, a := range d.Aliases {
			got = append(got, a.Alias)
		}
		if !slices.Contains(got, breakout) || !slices.Contains(got, lineSepAlias) || d.Aliases[0].ForwardTo != quotedTarget {
			t.Errorf("data block does not round-trip: %q", got)
		}
		title := find(doc, func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == "title" })
		if textOf(title) != `</title><script>window.__pwned=true</script>` {
			t.Errorf("title %q", textOf(title))
		}
	}
}

// TestNoExternalResources: the only URL is the attribution's link.
func TestNoExternalResources(t *testing.T) {
	out := string(render(t, awkwardPlan(), awkwardInventory(), &Options{Now: fixedNow}))
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)\b(src|href|action|srcset|poster|data)\s*=\s*["']?[^"'\s>]*:`),
		regexp.MustCompile(`(?i)\b(src|href)\s*=\s*["']?//`),
		regexp.MustCompile(`(?i)@import`),
		regexp.MustCompile(`(?i)url\(`),
		regexp.MustCompile(`(?i)\bfetch\(|XMLHttpRequest|WebSocket|EventSource|sendBeacon|\.src\s*=|importScripts`),
	} {
		for _, m := range re.FindAllString(out, -1) {
			if m != `href="https:` {
				t.Errorf("resource reference %q", m)
			}
		}
	}
	if n := strings.Count(out, "https://"); n != 1 || !strings.Contains(out, `<a href="`+AttributionURL+`" rel="noopener noreferrer"`) {
		t.Errorf("%d https:// URLs; want only the attribution link", n)
	}
	if strings.Contains(out, "http://") && strings.Count(out, "http://") != strings.Count(out, "'http://www.w3.org/2000/svg'") {
		t.Error("http:// URL other than the SVG namespace")
	}
	if !strings.Contains(out, `http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; script-src &#39;sha256-`) {
		t.Error("no Content-Security-Policy")
	}
	for _, part := range []string{scriptJS, styleCSS} {
		if !strings.Contains(out, part) {
			t.Error("the page's script or style was altered on the way in: its CSP hash would not match")
		}
	}
}

func TestAttribution(t *testing.T) {
	doc, err := html.Parse(bytes.NewReader(render(t, awkwardPlan(), nil, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p := find(doc, func(n *html.Node) bool { return attr(n, "id") == "attribution" })
	if p == nil || textOf(p) != breach.Attribution {
		t.Fatalf("attribution: want %q", breach.Attribution)
	}
	a := find(p, func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == "a" })
	if a == nil || attr(a, "href") != "https://haveibeenpwned.com/" {
		t.Error("the attribution does not link to haveibeenpwned.com")
	}

	// No breach data: no attribution.
	plan := awkwardPlan()
	for _, r := range plan.Rows {
		delete(r, "breaches")
		delete(r, "breach_verdict")
	}
	out := render(t, plan, nil, &Options{Now: fixedNow})
	if bytes.Contains(out, []byte("Have I Been Pwned")) || bytes.Contains(out, []byte("haveibeenpwned")) {
		t.Error("attribution without breach data")
	}
}

func TestData(t *testing.T) {
	doc, err := html.Parse(bytes.NewReader(render(t, awkwardPlan(), awkwardInventory(), &Options{Now: fixedNow})))
	if err != nil {
		t.Fatal(err)
	}
	d := pageData(t, doc)
	if d.Start != "2012-01" || d.Months != 12*12+12 || d.MaxMonth != 20 || !d.Archive {
		t.Errorf("range %s + %d months, max %d", d.Start, d.Months, d.MaxMonth)
	}
	by := map[string]*alias{}
	for _, a := range d.Aliases {
		by[a.Alias] = a
	}
	adobe := by["adobe@example.com"]
	if !slices.Equal(adobe.Months, []int{0, 5, 21, 20, 25, 1, 98, 16}) || adobe.Messages != 42 ||
		!slices.Equal(adobe.Breaches, []Hit{{"Adobe", "2013-10-04", ""}, {"Collection1", "2019-01-07", "spam list"}}) {
		t.Errorf("adobe: %+v", adobe)
	}
	if a := by["info@xn--mnchen-3ya.de"]; a.Unicode != "info@münchen.de" || len(a.Months) != 4 {
		t.Errorf("IDN alias: %+v", a)
	}
	// Dates and messages from the inventory where the plan has none.
	if a := by["nodates@example.com"]; a.First != "2016-04-06" || a.Last != "2017-08-09" || a.Messages != 5 ||
		!slices.Equal(a.Breaches, []Hit{{Name: "Mystery"}}) {
		t.Errorf("nodates: %+v", a)
	}
	if a := by[breakout]; a.Messages != 0 || a.Breaches[0] != (Hit{"Evil</script>", "2020-05-06", ""}) {
		t.Errorf("breakout: %+v", a)
	}

	// Plan only: no month counts, dates of the plan only.
	doc, _ = html.Parse(bytes.NewReader(render(t, awkwardPlan(), nil, &Options{Now: fixedNow})))
	d = pageData(t, doc)
	for _, a := range d.Aliases {
		if len(a.Months) != 0 || a.Alias == "nodates@example.com" && (a.First != "" || a.Messages != 0) {
			t.Errorf("plan only: %+v", a)
		}
	}
	if d.Archive || d.Start != "2012-01" {
		t.Errorf("plan only: archive %v, start %s", d.Archive, d.Start)
	}
}

func TestTotals(t *testing.T) {
	doc, err := html.Parse(bytes.NewReader(render(t, awkwardPlan(), nil, &Options{Now: fixedNow})))
	if err != nil {
		t.Fatal(err)
	}
	rows := func(id string) []string {
		var out []string
		tb := find(doc, func(n *html.Node) bool { return attr(n, "id") == id })
		for tr := tb.LastChild; tr != nil; tr = tr.PrevSibling { // tbody
			if tr.Type == html.ElementNode && tr.Data == "tbody" {
				for r := tr.FirstChild; r != nil; r = r.NextSibling {
					if r.Type == html.ElementNode {
						var cells []string
						for c := r.FirstChild; c != nil; c = c.NextSibling {
							cells = append(cells, textOf(c))
						}
						out = append(out, strings.Join(cells, "|"))
					}
				}
			}
		}
		return out
	}
	wantTags := []string{"personal|2|3|2|0|0", "business|2|7|1|0|0", "disposable|2|44|1|1|2", hostileTag + "|1|1|1|0|0"}
	if got := rows("tag-totals"); !slices.Equal(got, wantTags) {
		t.Errorf("tag totals\n got %q\nwant %q", got, wantTags)
	}
	wantVerdicts := []string{"breached|1|42|0|1", "leaked|1|2|1|0", "clean|3|11|3|0", "not checked|1|0|1|0", "aggregate<b>|1|0|0|0"}
	if got := rows("verdict-totals"); !slices.Equal(got, wantVerdicts) {
		t.Errorf("verdict totals\n got %q\nwant %q", got, wantVerdicts)
	}
}

// TestParseBreaches reads what catchall breach writes.
func TestParseBreaches(t *testing.T) {
	plan := &classify.Plan{Columns: []string{"alias", "tag", "action", "forward_to", "first_seen", "service_domain"}, Rows: []classify.Row{
		{"alias": "adobe@example.com", "tag": "disposable", "action": "forward", "forward_to": "me@new.example", "first_seen": "2011-01-01", "service_domain": "adobe.com"},
	}}
	breach.Decide(plan, &breach.Input{Accounts: map[string][]breach.Breach{"adobe@example.com": {
		{Name: "Adobe", BreachDate: "2013-10-04", IsVerified: true},
		{Name: "Weird (Name); Co", BreachDate: "2019-01-07", IsSpamList: true},
		{Name: "NoDate", IsVerified: true},
	}}})
	got := ParseBreaches(plan.Rows[0]["breaches"])
	want := []Hit{{"Adobe", "2013-10-04", ""}, {"Weird (Name)", "", ""}, {"Co", "2019-01-07", "spam list"}, {"NoDate", "", ""}}
	// "; " inside a breach name cannot be told from the separator; the rest
	// must come back exactly.
	if !slices.Equal(got, want) {
		t.Errorf("ParseBreaches(%q)\n got %+v\nwant %+v", plan.Rows[0]["breaches"], got, want)
	}
	for in, want := range map[string][]Hit{
		"":                         nil,
		"Adobe (2013-10-04)":       {{"Adobe", "2013-10-04", ""}},
		"A (B) (2001-02-03, weak)": {{"A (B)", "2001-02-03", "weak"}},
		"A (not a date)":           {{"A (not a date)", "", ""}},
	} {
		if got := ParseBreaches(in); !slices.Equal(got, want) {
			t.Errorf("ParseBreaches(%q) = %+v, want %+v", in, got, want)
		}
	}
}

// TestInventoryMonths reads a generated mailbox with classify.Build: the
// per-month counts add up to the messages received and reach the page.
func TestInventoryMonths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "maildir")
	if err := corpus.Generate(&corpus.Options{Seed: 8, Messages: 600, HugeMessages: -1}).WriteMaildir(dir); err != nil {
		t.Fatal(err)
	}
	inv, err := classify.Build(context.Background(), &classify.MaildirSource{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	withMonths := 0
	for _, s := range inv.Aliases {
		sum := 0
		for m, n := range s.Months {
			if _, err := time.Parse("2006-01", m); err != nil || m < s.First.UTC().Format("2006-01") || m > s.Last.UTC().Format("2006-01") {
				t.Errorf("%s: month %q outside %v..%v", s.Alias, m, s.First, s.Last)
			}
			sum += n
		}
		if sum > s.Received || s.Received > 0 && sum == 0 {
			t.Errorf("%s: months add up to %d, received %d", s.Alias, sum, s.Received)
		}
		if sum > 0 {
			withMonths++
		}
	}
	if withMonths < 20 {
		t.Fatalf("only %d aliases with month counts", withMonths)
	}
	plan := &classify.Plan{}
	plan.Merge((&classify.Config{}).Rows(inv))
	doc, err := html.Parse(bytes.NewReader(render(t, plan, inv, &Options{Now: fixedNow})))
	if err != nil {
		t.Fatal(err)
	}
	d := pageData(t, doc)
	cells := 0
	for _, a := range d.Aliases {
		cells += len(a.Months) / 2
		for i := 0; i+1 < len(a.Months); i += 2 {
			if a.Months[i] < 0 || a.Months[i] >= d.Months || a.Months[i+1] <= 0 {
				t.Errorf("%s: month cell %d,%d outside 0..%d", a.Alias, a.Months[i], a.Months[i+1], d.Months)
			}
		}
	}
	if len(d.Aliases) != len(plan.Rows) || cells < withMonths {
		t.Errorf("%d aliases, %d month cells", len(d.Aliases), cells)
	}
}

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.html")
	if err := WriteFile(path, awkwardPlan(), nil, &Options{Now: fixedNow}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, render(t, awkwardPlan(), nil, &Options{Now: fixedNow})) {
		t.Error("WriteFile and Write differ")
	}
	if err := Write(&bytes.Buffer{}, nil, nil, nil); err == nil {
		t.Error("Write with no plan: no error")
	}
}

// FuzzWrite: whatever the plan holds, the page has exactly its two scripts,
// the JSON block cannot be broken out of, and the data comes back exactly.
func FuzzWrite(f *testing.F) {
	f.Add(scriptAlias, hostileTag, quotedTarget, "Evil</script> (2020-05-06)", "2019-02-03")
	f.Add(breakout, "personal", "", "A (B) (2001-02-03, weak); C", "")
	f.Add(lineSepAlias, "<!--", "<![CDATA[", "]]>", "2019-13-45")
	f.Fuzz(func(t *testing.T, alias, tag, target, breaches, first string) {
		plan := &classify.Plan{Rows: []classify.Row{{"alias": alias, "tag": tag, "action": "forward", "forward_to": target,
			"breaches": breaches, "first_seen": first, "breach_verdict": tag}}}
		out := render(t, plan, nil, &Options{Title: alias, Now: fixedNow})
		doc, err := html.Parse(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		scripts := 0
		var walk func(*html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode && n.Data == "script" {
				scripts++
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(doc)
		if scripts != 2 {
			t.Fatalf("%d script elements", scripts)
		}
		d := pageData(t, doc)
		if len(d.Aliases) != 1 {
			t.Fatalf("%d aliases in the data", len(d.Aliases))
		}
		a := d.Aliases[0]
		if utf8.ValidString(alias+tag+target) && (a.Alias != alias || a.Tag != tag || a.ForwardTo != target) {
			t.Errorf("data changed: %q %q %q", a.Alias, a.Tag, a.ForwardTo)
		}
		for _, h := range ParseBreaches(breaches) {
			if h.Name == "" {
				t.Errorf("ParseBreaches(%q): a breach without a name", breaches)
			}
		}
	})
}
