package report

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/catchall/catchall/classify"
)

const (
	hostileNote   = `<img src=x onerror="window.__pwned=true"> Adobe ID`
	breakoutNote  = "</script><script>window.__pwned=true</script> newsletter"
	shopBurner    = "shop.abcdef@example.com"
	newBurner     = "news.qwerty@example.com"
	idleIDNBurner = "idle.zzzzzz@xn--mnchen-3ya.de"
)

// burnerPlan is awkwardPlan with a note column (a hostile note on one
// row) and a burner row without a note, whose note is in the store.
func burnerPlan() *classify.Plan {
	p := awkwardPlan()
	p.Columns = append(p.Columns, "source", "note", "service_domain")
	for _, r := range p.Rows {
		if r.Alias() == "adobe@example.com" {
			r["note"] = hostileNote
		}
	}
	p.Rows = append(p.Rows, classify.Row{"alias": shopBurner, "tag": "disposable", "action": "forward", "forward_to": "me@new.example",
		"first_seen": "2025-05-01", "last_seen": "2025-06-01", "source": "burner", "service_domain": "shop", "note": ""})
	return p
}

// storeBurners: one in the plan, two not (one never mailed, at an IDN
// domain), in no particular order.
func storeBurners() []Burner {
	return []Burner{
		{Alias: newBurner, Service: "news", Note: breakoutNote, Created: time.Date(2025, 7, 1, 23, 30, 0, 0, time.FixedZone("", -3600*2)),
			FirstMail: time.Date(2025, 7, 3, 8, 0, 0, 0, time.UTC), LastMail: time.Date(2025, 9, 9, 8, 0, 0, 0, time.UTC), Forwarded: 3, Refused: 1},
		{Alias: shopBurner, Service: "shop", Note: "the corner shop", Created: time.Date(2025, 4, 30, 0, 0, 0, 0, time.UTC),
			FirstMail: time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), LastMail: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), Forwarded: 9},
		{Alias: idleIDNBurner, Service: "idle", Created: time.Date(2025, 8, 8, 0, 0, 0, 0, time.UTC)},
	}
}

func TestGoldenBurners(t *testing.T) {
	opts := &Options{Title: "Report <for> \"me\" & co", Now: fixedNow, Burners: storeBurners()}
	out := render(t, burnerPlan(), nil, opts)
	golden(t, "with-burners.html", out)
	if again := render(t, burnerPlan(), nil, opts); !bytes.Equal(out, again) {
		t.Error("two runs on the same input differ")
	}
}

// TestBurners: the store's burners outside the plan are listed, plan rows
// show their note (the store's when the plan has none), and every note is
// text.
func TestBurners(t *testing.T) {
	out := render(t, burnerPlan(), nil, &Options{Now: fixedNow, Burners: storeBurners()})
	doc, err := html.Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	d := pageData(t, doc)
	notes := map[string]string{}
	for _, a := range d.Aliases {
		notes[a.Alias] = a.Note
	}
	if notes["adobe@example.com"] != hostileNote || notes[shopBurner] != "the corner shop" || notes["info@xn--mnchen-3ya.de"] != "" {
		t.Errorf("notes in the data: %q", notes)
	}
	if _, ok := notes[newBurner]; ok {
		t.Error("a burner outside the plan is in the table's data")
	}

	sec := find(doc, func(n *html.Node) bool { return attr(n, "id") == "burners" })
	if sec == nil {
		t.Fatal("no burners section")
	}
	if h2 := find(sec, func(n *html.Node) bool { return n.Data == "h2" }); h2 == nil || textOf(h2) != "Burners" {
		t.Error("the burners section has no heading")
	}
	if p := find(sec, func(n *html.Node) bool { return n.Data == "p" }); p == nil || !strings.Contains(textOf(p), "(2 of 3)") ||
		!strings.Contains(textOf(p), "catchall relay export") {
		t.Errorf("legend %q", textOf(p))
	}
	rows := bodyRows(t, doc, "burner-list")
	var got [][]string
	for _, tr := range rows {
		var line []string
		for _, c := range cells(tr) {
			line = append(line, textOf(c))
		}
		got = append(got, line)
	}
	want := [][]string{
		{idleIDNBurner + "idle.zzzzzz@münchen.de", "idle", "—", "2025-08-08", "—", "—", "0", "0"},
		{newBurner, "news", breakoutNote, "2025-07-02", "2025-07-03", "2025-09-09", "3", "1"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("burner rows\n got %q\nwant %q", got, want)
	}
	// The notes reach the page as text only.
	start := bytes.Index(out, []byte(`<script type="application/json" id="data">`))
	end := start + bytes.Index(out[start:], []byte("</script>"))
	rest := append(slices.Clone(out[:start]), out[end:]...)
	for _, bad := range []string{"<script>window", "<img"} {
		if bytes.Contains(rest, []byte(bad)) {
			t.Errorf("%q appears outside the JSON block", bad)
		}
	}
	for _, esc := range []string{`<span class="note">&lt;img src=x onerror=&#34;window.__pwned=true&#34;&gt; Adobe ID</span>`,
		`<td class="bnote">&lt;/script&gt;&lt;script&gt;window.__pwned=true&lt;/script&gt; newsletter</td>`} {
		if !bytes.Contains(out, []byte(esc)) {
			t.Errorf("%q not in the page", esc)
		}
	}
	scripts := 0
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Data == "script" {
				scripts++
			}
			if n.Data == "img" {
				t.Error("an <img> element from a note")
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if scripts != 2 {
		t.Errorf("%d script elements", scripts)
	}
	ns := find(doc, func(n *html.Node) bool { return n.Data == "noscript" })
	if ns == nil || !strings.Contains(textOf(ns), "those not at your domains and the burners do not") {
		t.Errorf("noscript: %q", textOf(ns))
	}

	// No store: no section. A store whose burners are all in the plan, or
	// none: the section says so.
	out = render(t, burnerPlan(), nil, &Options{Now: fixedNow})
	if bytes.Contains(out, []byte(`id="burners"`)) || bytes.Contains(out, []byte("the burners")) {
		t.Error("a burners section without a store")
	}
	if !bytes.Contains(out, []byte(`<span class="note">&lt;img`)) || bytes.Contains(out, []byte("the corner shop")) {
		t.Error("without a store: the plan's note is shown and only it")
	}
	for _, tc := range []struct {
		burners []Burner
		want    string
	}{
		{storeBurners()[1:2], "Every burner of the relay's store (1) is in the plan."},
		{[]Burner{}, "The relay's store has no burners."},
	} {
		out := render(t, burnerPlan(), nil, &Options{Now: fixedNow, Burners: tc.burners})
		if !bytes.Contains(out, []byte(tc.want)) || bytes.Contains(out, []byte(`id="burner-list"`)) {
			t.Errorf("%d burners: lacks %q or has a list", len(tc.burners), tc.want)
		}
	}
}
