package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/catchall/catchall/internal/testtools"
)

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Hostile values: each must reach the page as text only.
const (
	scriptAlias  = "<script>window.__pwned=true</script>@x.example"
	imgAlias     = `<img src=x onerror="window.__pwned=true">@x.example`
	breakout     = "</script><script>window.__pwned=true</script>@x.example"
	quotedTarget = `"me"@new.example 'o'@new.example`
	hostileTag   = `personal" onmouseover="window.__pwned=true`
	lineSepAlias = "line\u2028sep\u2029@x.example"
	foreignAlias = "<b>old</b>@gone.x.example"
)

// markers are substrings of the hostile values that must never appear as an
// element or attribute of the parsed page.
var markers = []string{"__pwned", "onerror", "onmouseover", "x.example", "new.example"}

// awkwardPlan has HTML metacharacters (in reasons too), an IDN alias in
// punycode, a blocked alias, a breached alias with dates, an alias without
// dates, confidence or reasons, a breach without a date, confidences below,
// at and above LowConfidence, and a row of a domain that is no longer the
// user's (earlier than every other, breached: it must change neither the
// timeline nor the totals).
func awkwardPlan() *classify.Plan {
	return &classify.Plan{
		Columns: []string{"alias", "tag", "action", "forward_to", "confidence", "reasons", "messages", "first_seen", "last_seen",
			"breaches", "breach_verdict", "domain_status"},
		Rows: []classify.Row{
			{"alias": scriptAlias, "tag": "personal", "action": "forward", "forward_to": quotedTarget, "messages": "3",
				"first_seen": "2019-02-03", "last_seen": "2019-05-30", "breach_verdict": "clean",
				"confidence": "0.95", "reasons": "you replied from it 3 times; no bulk mail"},
			{"alias": imgAlias, "tag": hostileTag, "action": "forward", "forward_to": "me@new.example", "messages": "1",
				"first_seen": "2020-01-01", "last_seen": "2020-01-01", "breach_verdict": "clean",
				"confidence": "0.55", "reasons": `<img src=x onerror="window.__pwned=true"> is a role name; 1 of 1 messages from x.example`},
			{"alias": breakout, "tag": "business", "action": `block"><b>`, "forward_to": "", "messages": "x<y",
				"first_seen": "2018-07-09", "last_seen": "2021-11-12", "breaches": "Evil</script> (2020-05-06)", "breach_verdict": "aggregate<b>",
				"confidence": "0.62", "reasons": "</script><script>window.__pwned=true</script>; 5 of 9 messages from <b>shop</b>"},
			{"alias": "adobe@example.com", "tag": "disposable", "action": "block", "forward_to": "", "messages": "42",
				"first_seen": "2012-01-05", "last_seen": "2020-03-01",
				"breaches": "Adobe (2013-10-04); Collection1 (2019-01-07, spam list)", "breach_verdict": "breached",
				"confidence": "0.88", "reasons": "never given out: only spam; 40 of 42 messages are bulk mail", "domain_status": ""},
			{"alias": "info@xn--mnchen-3ya.de", "tag": "business", "action": "forward", "forward_to": "work@new.example", "messages": "7",
				"first_seen": "2015-06-01", "last_seen": "2024-12-24", "breach_verdict": "clean",
				"confidence": "0.70", "reasons": `"info" is a role name`},
			{"alias": lineSepAlias, "tag": "disposable", "action": "forward", "forward_to": "me@new.example", "messages": "2",
				"first_seen": "2023-03-03", "last_seen": "2023-04-04", "breach_verdict": "leaked",
				"confidence": "0.3", "reasons": "line\u2028sep; no personal or business signal"},
			{"alias": "nodates@example.com", "tag": "personal", "action": "forward", "forward_to": "me@new.example", "messages": "",
				"first_seen": "", "last_seen": "", "breaches": "Mystery", "breach_verdict": ""},
			{"alias": foreignAlias, "tag": "personal", "action": "forward", "forward_to": "me@new.example", "messages": "4",
				"first_seen": "2009-01-01", "last_seen": "2015-01-01", "breaches": "Old (2008-01-01)", "breach_verdict": "breached",
				"confidence": "0.10", "reasons": `<img src=x onerror="window.__pwned=true">; you replied from it 2 times`,
				"domain_status": DomainForeign, "source": classify.SourceManual},
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

// golden compares got with testdata/golden/name, or rewrites it with
// -update (testtools.Golden).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testtools.Golden(t, filepath.Join("testdata", "golden", name), got, "run go test ./classify/report -run Golden -update")
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
			a input select option span colgroup col button svg noscript script details summary ul li`) {
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

// bodyRows returns the rows of the tbody of the table with the given id.
func bodyRows(t *testing.T, doc *html.Node, id string) []*html.Node {
	t.Helper()
	tbl := find(doc, func(n *html.Node) bool { return attr(n, "id") == id })
	if tbl == nil {
		t.Fatalf("no #%s", id)
	}
	tb := find(tbl, func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == "tbody" })
	var out []*html.Node
	for r := tb.FirstChild; r != nil; r = r.NextSibling {
		if r.Type == html.ElementNode && r.Data == "tr" {
			out = append(out, r)
		}
	}
	return out
}

// cells returns the td elements of a row.
func cells(tr *html.Node) []*html.Node {
	var out []*html.Node
	for c := tr.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.Data == "td" {
			out = append(out, c)
		}
	}
	return out
}

// items returns the text of every <li> under n.
func items(n *html.Node) []string {
	var out []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "li" {
			out = append(out, textOf(n))
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func hasClass(n *html.Node, class string) bool {
	return slices.Contains(strings.Fields(attr(n, "class")), class)
}

// TestConfidenceAndReasons: the data carries each row's confidence and
// reasons; "check these first" lists the least sure rows, lowest first,
// with their reasons as escaped text and low ones marked by a class and a
// word.
func TestConfidenceAndReasons(t *testing.T) {
	out := render(t, awkwardPlan(), nil, &Options{Now: fixedNow})
	doc, err := html.Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	d := pageData(t, doc)
	if d.LowBelow != LowConfidence {
		t.Errorf("low_below %v", d.LowBelow)
	}
	by := map[string]*alias{}
	for _, a := range d.Aliases {
		by[a.Alias] = a
	}
	for _, tc := range []struct {
		alias   string
		conf    float64 // -1: none
		percent string
		low     bool
		reasons []string
	}{
		{breakout, 0.62, "62 %", true, []string{"</script><script>window.__pwned=true</script>", "5 of 9 messages from <b>shop</b>"}},
		{"info@xn--mnchen-3ya.de", 0.70, "70 %", false, []string{`"info" is a role name`}},
		{lineSepAlias, 0.3, "30 %", true, []string{"line\u2028sep", "no personal or business signal"}},
		{"adobe@example.com", 0.88, "88 %", false, []string{"never given out: only spam", "40 of 42 messages are bulk mail"}},
		{"nodates@example.com", -1, "", false, []string{}},
	} {
		a := by[tc.alias]
		if a == nil {
			t.Errorf("%q: not in the data", tc.alias)
			continue
		}
		if (tc.conf < 0) != (a.Confidence == nil) || a.Confidence != nil && *a.Confidence != tc.conf ||
			a.Percent() != tc.percent || a.Low() != tc.low || !slices.Equal(a.Reasons, tc.reasons) {
			t.Errorf("%q: confidence %v (%q, low %v), reasons %q; want %v (%q, low %v), %q",
				tc.alias, a.Confidence, a.Percent(), a.Low(), a.Reasons, tc.conf, tc.percent, tc.low, tc.reasons)
		}
	}

	// Check these first: every row with a confidence but the foreign one,
	// lowest first; 0.70 is not low.
	want := []struct {
		alias, conf string
		reasons     []string
	}{
		{lineSepAlias, "30 % low", []string{"line\u2028sep", "no personal or business signal"}},
		{imgAlias, "55 % low", []string{`<img src=x onerror="window.__pwned=true"> is a role name`, "1 of 1 messages from x.example"}},
		{breakout, "62 % low", []string{"</script><script>window.__pwned=true</script>", "5 of 9 messages from <b>shop</b>"}},
		{"info@xn--mnchen-3ya.de", "70 %", []string{`"info" is a role name`}},
		{"adobe@example.com", "88 %", []string{"never given out: only spam", "40 of 42 messages are bulk mail"}},
		{scriptAlias, "95 %", []string{"you replied from it 3 times", "no bulk mail"}},
	}
	rows := bodyRows(t, doc, "check-list")
	if len(rows) != len(want) {
		t.Fatalf("check these first: %d rows, want %d", len(rows), len(want))
	}
	for i, tr := range rows {
		c := cells(tr)
		if len(c) != 6 {
			t.Fatalf("check these first, row %d: %d cells", i, len(c))
		}
		if alias := c[0].FirstChild.Data; alias != want[i].alias || textOf(c[2]) != want[i].conf ||
			!slices.Equal(items(c[5]), want[i].reasons) || hasClass(c[2], "low") != strings.HasSuffix(want[i].conf, " low") {
			t.Errorf("check these first, row %d: %q %q (class %q) %q; want %q %q %q", i, alias, textOf(c[2]), attr(c[2], "class"),
				items(c[5]), want[i].alias, want[i].conf, want[i].reasons)
		}
	}
	if c := cells(rows[3]); textOf(c[0]) != "info@xn--mnchen-3ya.deinfo@münchen.de" || textOf(c[1]) != "business" ||
		textOf(c[3]) != "forward" || textOf(c[4]) != "work@new.example" {
		t.Errorf("check these first, IDN row: %q %q %q %q", textOf(c[0]), textOf(c[1]), textOf(c[3]), textOf(c[4]))
	}
	// The hostile reasons are text: escaped in the page's source.
	for _, esc := range []string{"<li>&lt;/script&gt;&lt;script&gt;window.__pwned=true&lt;/script&gt;</li>",
		"<li>5 of 9 messages from &lt;b&gt;shop&lt;/b&gt;</li>", "<li>&lt;img src=x onerror=&#34;window.__pwned=true&#34;&gt; is a role name</li>",
		"<li>never given out: only spam</li>", "<li>&#34;info&#34; is a role name</li>"} {
		if !bytes.Contains(out, []byte(esc)) {
			t.Errorf("%q not in the page", esc)
		}
	}
	// The table's header has the two columns, confidence sortable.
	th := find(doc, func(n *html.Node) bool { return n.Data == "th" && attr(n, "data-key") == "confidence" })
	if th == nil || find(th, func(n *html.Node) bool { return n.Data == "button" }) == nil {
		t.Error("no sortable confidence column")
	}
	if th := find(doc, func(n *html.Node) bool { return n.Data == "th" && textOf(n) == "reasons" && hasClass(n, "plain") }); th == nil {
		t.Error("no reasons column")
	}

	// No row with a confidence: no section.
	plan := awkwardPlan()
	for _, r := range plan.Rows {
		delete(r, "confidence")
	}
	out = render(t, plan, nil, &Options{Now: fixedNow})
	if bytes.Contains(out, []byte(`id="check"`)) || bytes.Contains(out, []byte("Check these first")) {
		t.Error("check these first without a confidence")
	}
}

// TestCheckFirst: at most CheckFirst rows, lowest confidence first, ties in
// plan order; rows without a confidence (or with a bad one) and rows the
// user edited are left out.
func TestCheckFirst(t *testing.T) {
	plan := &classify.Plan{Columns: []string{"alias", "tag", "action", "forward_to", "confidence", "reasons", "source", "auto_tag",
		"auto_action", "auto_forward_to"}}
	confs := []string{"0.99", "0.5", "0.91", "0.2", "0.5", "0.8", "0.65", "", "0.75", "0.05", "0.3", "0.5", "bogus", "0.9", "1", "1.5", "0.6"}
	for i, c := range confs {
		plan.Rows = append(plan.Rows, classify.Row{"alias": fmt.Sprintf("a%02d@example.com", i), "tag": "business", "action": "forward",
			"forward_to": "me@new.example", "confidence": c, "reasons": fmt.Sprintf("reason %d;; second <%d> ", i, i), "source": "auto",
			"auto_tag": "business", "auto_action": "forward", "auto_forward_to": "me@new.example"})
	}
	plan.Rows[9]["source"] = classify.SourceManual // the lowest, but the user's
	plan.Rows[3]["tag"] = "personal"               // the next lowest: edited
	d := build(plan, nil)
	var got []string
	for _, a := range checkFirst(d.Aliases) {
		got = append(got, strings.TrimSuffix(a.Alias, "@example.com")+" "+a.Percent())
	}
	want := []string{"a10 30 %", "a01 50 %", "a04 50 %", "a11 50 %", "a16 60 %", "a06 65 %", "a08 75 %", "a05 80 %", "a13 90 %", "a02 91 %"}
	if !slices.Equal(got, want) {
		t.Errorf("check first\n got %q\nwant %q", got, want)
	}
	if a := d.Aliases[2]; !slices.Equal(a.Reasons, []string{"reason 2;", "second <2>"}) || a.ReasonText() != "reason 2;; second <2>" ||
		a.ReasonCount() != "2 reasons" {
		t.Errorf("reasons %q (%q, %q)", a.Reasons, a.ReasonText(), a.ReasonCount())
	}
	for _, i := range []int{7, 12, 15} {
		if a := d.Aliases[i]; a.Confidence != nil || a.Percent() != "" || a.Low() {
			t.Errorf("confidence %q read as %q", confs[i], a.Percent())
		}
	}
	if a := d.Aliases[14]; a.Percent() != "100 %" || a.Low() {
		t.Errorf("confidence 1: %q, low %v", a.Percent(), a.Low())
	}
	for in, want := range map[string][]string{"": {}, " ; ": {}, "a": {"a"}, "a; b; c": {"a", "b", "c"}, " a ;  b": {"a", "b"}, "a;b": {"a;b"}} {
		if got := SplitReasons(in); !slices.Equal(got, want) {
			t.Errorf("SplitReasons(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestForeign: rows at a domain that is no longer the user's are in their
// own section, out of the table's data, the totals and the timeline; a plan
// without them has no such section.
func TestForeign(t *testing.T) {
	out := render(t, awkwardPlan(), awkwardInventory(), &Options{Now: fixedNow})
	doc, err := html.Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	d := pageData(t, doc)
	for _, a := range d.Aliases {
		if a.Alias == foreignAlias {
			t.Error("the foreign row is in the table's data")
		}
	}
	if len(d.Aliases) != 7 || d.Start != "2012-01" {
		t.Errorf("%d aliases in the data from %s; want 7 from 2012-01", len(d.Aliases), d.Start)
	}
	sec := find(doc, func(n *html.Node) bool { return attr(n, "id") == "foreign" })
	h2 := find(sec, func(n *html.Node) bool { return n.Data == "h2" })
	if h2 == nil || textOf(h2) != "Not at your domains (left out of every config)" {
		t.Fatal("no section for the foreign rows")
	}
	rows := bodyRows(t, doc, "foreign-list")
	if len(rows) != 1 {
		t.Fatalf("%d foreign rows", len(rows))
	}
	c := cells(rows[0])
	var got []string
	for _, n := range c[:6] {
		got = append(got, textOf(n))
	}
	if want := []string{foreignAlias, "personal", "10 % low", "forward", "4", "2015-01-01"}; !slices.Equal(got, want) {
		t.Errorf("foreign row %q, want %q", got, want)
	}
	det := find(c[6], func(n *html.Node) bool { return n.Data == "details" })
	sum := find(c[6], func(n *html.Node) bool { return n.Data == "summary" })
	if det == nil || sum == nil || textOf(sum) != `<img src=x onerror="window.__pwned=true">; you replied from it 2 times`+"2 reasons" ||
		!slices.Equal(items(det), []string{`<img src=x onerror="window.__pwned=true">`, "you replied from it 2 times"}) {
		t.Errorf("foreign reasons: %q", textOf(c[6]))
	}
	gen := find(doc, func(n *html.Node) bool { return attr(n, "id") == "generated" })
	if !strings.HasSuffix(textOf(gen), ": 7 aliases, 60 messages; 1 more not at your domains.") {
		t.Errorf("generated: %q", textOf(gen))
	}
	if !bytes.Contains(out, []byte("&lt;b&gt;old&lt;/b&gt;@gone.x.example")) {
		t.Error("the foreign alias is not escaped")
	}

	// Without foreign rows (another status, none, no column): no section,
	// every row in the table.
	plan := awkwardPlan()
	plan.Rows[7]["domain_status"] = "Foreign " // not the mark
	plan.Rows[3]["domain_status"] = ""
	out = render(t, plan, nil, &Options{Now: fixedNow})
	doc, _ = html.Parse(bytes.NewReader(out))
	if d := pageData(t, doc); len(d.Aliases) != 8 || bytes.Contains(out, []byte(`id="foreign"`)) || bytes.Contains(out, []byte("not at your domains")) {
		t.Errorf("%d aliases in the data, or a foreign section, for a plan without foreign rows", len(d.Aliases))
	}
	plan.Columns = slices.DeleteFunc(plan.Columns, func(c string) bool { return c == "domain_status" })
	for _, r := range plan.Rows {
		delete(r, "domain_status")
	}
	doc, _ = html.Parse(bytes.NewReader(render(t, plan, nil, &Options{Now: fixedNow})))
	if d := pageData(t, doc); len(d.Aliases) != 8 {
		t.Errorf("%d aliases in the data without a domain_status column", len(d.Aliases))
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
	f.Add("\xd6", "\x9c", "\xba", "\xdc", "0.5") // invalid alone, valid together
	f.Fuzz(func(t *testing.T, alias, tag, target, breaches, first string) {
		plan := &classify.Plan{Rows: []classify.Row{{"alias": alias, "tag": tag, "action": "forward", "forward_to": target,
			"breaches": breaches, "first_seen": first, "breach_verdict": tag, "reasons": breaches + "; " + target, "confidence": first}}}
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
		if utf8.ValidString(alias) && utf8.ValidString(tag) && utf8.ValidString(target) && (a.Alias != alias || a.Tag != tag || a.ForwardTo != target) {
			t.Errorf("data changed: %q %q %q", a.Alias, a.Tag, a.ForwardTo)
		}
		if utf8.ValidString(breaches) && utf8.ValidString(target) && !slices.Equal(a.Reasons, SplitReasons(breaches+"; "+target)) {
			t.Errorf("reasons changed: %q", a.Reasons)
		}
		for _, r := range a.Reasons {
			if r == "" || r != strings.TrimSpace(r) {
				t.Errorf("reason %q", r)
			}
		}
		if c := a.Confidence; c != nil && (*c < 0 || *c > 1) {
			t.Errorf("confidence %v from %q", *c, first)
		}
		for _, h := range ParseBreaches(breaches) {
			if h.Name == "" {
				t.Errorf("ParseBreaches(%q): a breach without a name", breaches)
			}
		}
	})
}

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.csv")
	os.WriteFile(plan, []byte("alias,tag,action,forward_to\nshop@example.org,disposable,block,\nme@example.org,personal,forward,me@new.example\n"), 0o600)
	out := filepath.Join(dir, "report.html")
	burners := []Burner{{Alias: "shop@example.org"}, {Alias: "adobe.x7k2pq@example.org", Service: "adobe"}}
	res, err := Generate(context.Background(), &GenerateOptions{Plan: plan, Out: out, Options: &Options{Burners: burners}})
	if err != nil {
		t.Fatal(err)
	}
	if *res != (Generated{Aliases: 2, Store: true, Burners: 2, Outside: 1}) {
		t.Errorf("result %+v", res)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("page: %v", err)
	}
	if res, err := Generate(context.Background(), &GenerateOptions{Plan: plan, Out: out}); err != nil || res.Store || res.Archive {
		t.Errorf("without store and archive: %+v %v", res, err)
	}
	var ie *classify.InputError
	if _, err := Generate(context.Background(), &GenerateOptions{Plan: filepath.Join(dir, "none.csv"), Out: out}); !errors.As(err, &ie) {
		t.Errorf("no plan: %v, want an InputError", err)
	}
	if _, err := Generate(context.Background(), &GenerateOptions{Plan: plan, Archive: dir, Out: out}); !errors.Is(err, classify.ErrNotArchive) {
		t.Errorf("not an archive: %v", err)
	}
}
