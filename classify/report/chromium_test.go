//go:build unix

package report

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/internal/testtools"
)

// The browser test runs the page in Debian's chromium (apt-get install
// chromium) when CATCHALL_TEST_TOOLS=1; it fails if chromium is missing
// then. It loads each page with #selftest:QUERY, which makes the page sort
// and filter itself through its own controls and report in <pre
// id="selftest">, read back with --dump-dom; and it takes a screenshot, kept
// in CATCHALL_TEST_ARTIFACTS when that is set.

// runChromium runs headless chromium with a fresh profile and returns its
// stdout and how long it took.
func runChromium(t *testing.T, bin, size string, args ...string) ([]byte, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	profile := t.TempDir()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--user-data-dir=" + profile, "--window-size=" + size, "--virtual-time-budget=10000"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, lastLines(stderr.String(), 20))
	}
	return out, took
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// sortCheck is what the #selftest hook reports of one sort by a column.
type sortCheck struct {
	MS         float64
	Dir        int
	First      string
	DomFirst   string `json:"dom_first"`
	Ordered    bool
	DomOrdered bool `json:"dom_ordered"`
}

// selftest is what the page's #selftest hook reports.
type selftest struct {
	Rows, View, Rendered int
	LoadMS               float64   `json:"load_ms"`
	PageMS               float64   `json:"page_ms"`
	SortMessages         sortCheck `json:"sort_messages"`
	SortAlias            sortCheck `json:"sort_alias"`
	SortAliasDesc        struct {
		Dir      int
		First    string
		DomFirst string `json:"dom_first"`
	} `json:"sort_alias_desc"`
	Filter struct {
		MS         float64
		Q          string
		Count      int
		CountText  string `json:"count_text"`
		Rendered   int
		AllMatch   bool     `json:"all_match"`
		Aliases    []string `json:"aliases"`
		TextIntact bool     `json:"text_intact"`
	}
	VerdictFilter struct {
		Count       int
		AllBreached bool `json:"all_breached"`
		Rendered    int
	} `json:"verdict_filter"`
	SortConfidence struct {
		Dir       int
		First     string
		DomFirst  string `json:"dom_first"`
		Ordered   bool
		DomText   string   `json:"dom_text"`
		DomCells  []string `json:"dom_cells"`
		LowMarked bool     `json:"low_marked"`
	} `json:"sort_confidence"`
	Timeline struct {
		Rows, Cells, Breaches, Spans, Years int
		Width                               int
		FirstAlias                          string `json:"first_alias"`
	}
	// Reasons: the first drawn row with reasons, opened by a click on its
	// summary.
	Reasons struct {
		Found         bool
		Alias         string
		ClosedHeights bool    `json:"closed_heights"` // every drawn row RH high before
		ClosedVisible bool    `json:"closed_visible"` // the list is in sight while closed
		Remembered    bool    // the script saw the toggle
		Extra         float64 // how much taller the row is open
		Open          bool
		OpenHeight    float64 `json:"open_height"`
		Items, Want   []string
		ListVisible   bool `json:"list_visible"`
		BodyHeight    bool `json:"body_height"` // the table's body is the rows plus the extra
		OpenRedrawn   bool `json:"open_redrawn"`
		Last          string
		LastDrawn     string `json:"last_drawn"`
		LastVisible   bool   `json:"last_visible"`
		BodyHeightEnd bool   `json:"body_height_end"`
	}
	Pwned  bool
	Errors []string
}

// expectFilter counts the aliases the page's filter keeps for q: those with
// q in the alias, its Unicode form, note, tag, action, forward_to, verdict,
// a breach ("Name YYYY-MM-DD") or a reason.
func expectFilter(d *data, q string) []string {
	q = strings.ToLower(q)
	var out []string
	for _, a := range d.Aliases {
		parts := []string{a.Alias, a.Unicode, a.Note, a.Tag, a.Action, a.ForwardTo, a.Verdict}
		for _, h := range a.Breaches {
			parts = append(parts, strings.TrimSpace(h.Name+" "+h.Date))
		}
		parts = append(parts, a.Reasons...)
		if strings.Contains(strings.ToLower(strings.Join(parts, "\n")), q) {
			out = append(out, a.Alias)
		}
	}
	return out
}

// checkPage writes the page, runs its self-test in chromium, checks the
// report against the data, and takes a screenshot if shot is not "".
func checkPage(t *testing.T, bin, name string, plan *classify.Plan, inv *classify.Inventory, q, shot string) {
	t.Helper()
	dir := t.TempDir()
	page := filepath.Join(dir, name+".html")
	if err := WriteFile(page, plan, inv, &Options{Title: name, Now: fixedNow}); err != nil {
		t.Fatal(err)
	}
	d := build(plan, inv)
	u := (&url.URL{Scheme: "file", Path: page, Fragment: "selftest:" + q}).String()
	out, took := runChromium(t, bin, "1400,1000", "--dump-dom", u)
	doc, err := html.Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	pre := find(doc, func(n *html.Node) bool { return attr(n, "id") == "selftest" })
	if pre == nil {
		t.Fatalf("%s: no self-test report in the page (did the script run?):\n%s", name, lastLines(string(out), 30))
	}
	var st selftest
	if err := json.Unmarshal([]byte(textOf(pre)), &st); err != nil {
		t.Fatalf("%s: self-test report: %v\n%s", name, err, textOf(pre))
	}
	t.Logf("%s: %d aliases: chromium ran %v; page script done %.0f ms after navigation (init %.0f ms); sort by messages %.1f ms, by alias %.1f ms; filter %.1f ms",
		name, st.Rows, took.Round(time.Millisecond), st.PageMS, st.LoadMS, st.SortMessages.MS, st.SortAlias.MS, st.Filter.MS)

	if len(st.Errors) > 0 || st.Pwned {
		t.Errorf("%s: script errors %q, injected script ran: %v", name, st.Errors, st.Pwned)
	}
	n := len(d.Aliases) // the foreign rows are not in the table
	if st.Rows != n || st.View != n || st.Rendered == 0 || st.Rendered > min(n, 80) {
		t.Errorf("%s: %d rows, %d in view, %d drawn; want %d rows, all in view, only those visible drawn", name, st.Rows, st.View, st.Rendered, n)
	}
	byMessages := slices.Clone(d.Aliases)
	slices.SortStableFunc(byMessages, func(a, b *alias) int { return cmp.Or(b.Messages-a.Messages, strings.Compare(a.Alias, b.Alias)) })
	sm := st.SortMessages
	if sm.Dir != -1 || !sm.Ordered || !sm.DomOrdered || sm.First != byMessages[0].Alias || sm.DomFirst != sm.First {
		t.Errorf("%s: sort by messages: %+v; want %s first", name, sm, byMessages[0].Alias)
	}
	aliases := make([]string, len(d.Aliases))
	for i, a := range d.Aliases {
		aliases[i] = a.Alias
	}
	slices.Sort(aliases)
	sa := st.SortAlias
	if sa.Dir != 1 || !sa.Ordered || !sa.DomOrdered || sa.First != aliases[0] || sa.DomFirst != aliases[0] {
		t.Errorf("%s: sort by alias: %+v; want %q first", name, sa, aliases[0])
	}
	if sd := st.SortAliasDesc; sd.Dir != -1 || sd.First != aliases[len(aliases)-1] || sd.DomFirst != sd.First {
		t.Errorf("%s: sort by alias, descending: %+v; want %q first", name, sd, aliases[len(aliases)-1])
	}
	want := expectFilter(d, q)
	slices.Sort(want)
	f := st.Filter
	if f.Q != q || f.Count != len(want) || len(want) == 0 || f.Rendered != min(len(want), f.Rendered) || f.Rendered == 0 ||
		!f.AllMatch || !f.TextIntact || !slices.Equal(f.Aliases, want[:min(len(want), len(f.Aliases))]) ||
		!strings.Contains(f.CountText, fmt.Sprintf("%d of %d aliases", len(want), n)) {
		t.Errorf("%s: filter %q: %+v; want %d aliases: %.300q", name, q, f, len(want), want)
	}
	breached := 0
	for _, a := range d.Aliases {
		if a.Verdict == "breached" {
			breached++
		}
	}
	if vf := st.VerdictFilter; vf.Count != breached || !vf.AllBreached || vf.Rendered != min(breached, vf.Rendered) || vf.Rendered == 0 {
		t.Errorf("%s: verdict filter: %+v; want %d breached aliases", name, vf, breached)
	}
	// Sorted by confidence: lowest first, rows without one last; a low one
	// says so in words.
	byConf := slices.Clone(d.Aliases)
	crank := func(a *alias) float64 {
		if a.Confidence == nil {
			return 2
		}
		return *a.Confidence
	}
	slices.SortStableFunc(byConf, func(a, b *alias) int {
		return cmp.Or(cmp.Compare(crank(a), crank(b)), strings.Compare(a.Alias, b.Alias))
	})
	sc := st.SortConfidence
	wantText := byConf[0].Percent()
	if wantText == "" {
		wantText = "—"
	}
	if sc.Dir != 1 || !sc.Ordered || sc.First != byConf[0].Alias || sc.DomFirst != sc.First || !sc.LowMarked || sc.DomText != wantText {
		t.Errorf("%s: sort by confidence: %+v; want %q (%s) first", name, sc, byConf[0].Alias, wantText)
	}
	for i, c := range sc.DomCells[:min(len(sc.DomCells), len(byConf))] {
		want := byConf[i].Percent()
		if byConf[i].Low() {
			want += " low"
		}
		if want == "" {
			want = "—"
		}
		if c != want {
			t.Errorf("%s: confidence cell %d: %q, want %q", name, i, c, want)
		}
	}
	// A row's reasons open (the browser's <details>), stay open when the
	// table is drawn again, and the table still reaches its last row.
	rs := st.Reasons
	if !rs.Found || !rs.ClosedHeights || rs.ClosedVisible || !rs.Remembered || !rs.Open || rs.Extra <= 0 ||
		rs.OpenHeight < 24+rs.Extra-1 || len(rs.Want) == 0 || !slices.Equal(rs.Items, rs.Want) || !rs.ListVisible ||
		!rs.BodyHeight || !rs.OpenRedrawn || rs.Last == "" || rs.LastDrawn != rs.Last || !rs.LastVisible || !rs.BodyHeightEnd {
		t.Errorf("%s: opening a row's reasons: %+v", name, rs)
	}
	tl := st.Timeline
	if tl.Rows == 0 || tl.Rows > 80 || tl.Spans == 0 || tl.Breaches == 0 || tl.Years == 0 || tl.Width < 1000 ||
		(inv != nil) != (tl.Cells > 0) {
		t.Errorf("%s: timeline: %+v", name, tl)
	}
	noDataMarkup(t, name, doc)

	if shot == "" {
		return
	}
	// The page itself, and screenshots: the usual window, and one tall
	// enough to show the timeline too.
	arts := testtools.ArtifactDir(t)
	if raw, err := os.ReadFile(page); err != nil || os.WriteFile(filepath.Join(arts, name+".html"), raw, 0o644) != nil {
		t.Errorf("%s: cannot keep the page in %s", name, arts)
	}
	for _, s := range []struct{ file, size string }{{shot + ".png", "1400,1000"}, {shot + "-tall.png", "1400,2400"}} {
		png := filepath.Join(arts, s.file)
		runChromium(t, bin, s.size, "--screenshot="+png, (&url.URL{Scheme: "file", Path: page}).String())
		checkPNG(t, png)
		t.Logf("%s: screenshot %s", name, png)
	}
}

// noDataMarkup checks that the page as the browser built it has no element
// or attribute made from the data.
func noDataMarkup(t *testing.T, name string, doc *html.Node) {
	t.Helper()
	allowed := map[string]bool{}
	for _, e := range strings.Fields(`html head meta title style body header h1 h2 p section div table thead tbody tr th td
		a input select option span colgroup col button svg noscript script pre text rect path title details summary ul li`) {
		allowed[e] = true
	}
	scripts := 0
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if !allowed[n.Data] {
				t.Errorf("%s: unexpected element <%s> in the rendered page", name, n.Data)
			}
			if n.Data == "script" {
				scripts++
			}
			for _, a := range n.Attr {
				for _, m := range markers {
					if strings.Contains(a.Key, m) || a.Key != "title" && strings.Contains(a.Val, m) {
						t.Errorf("%s: <%s %s=%q> comes from the data", name, n.Data, a.Key, a.Val)
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if scripts != 2 {
		t.Errorf("%s: %d script elements in the rendered page, want 2", name, scripts)
	}
}

// checkPNG decodes the screenshot and checks that it shows something.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("screenshot %s is %v", path, b)
	}
	colours := map[[4]uint32]int{}
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, bl, a}]++
		}
	}
	// Text, badges, heat cells and breach marks: many colours, and the page
	// background does not fill everything.
	top := 0
	for _, n := range colours {
		top = max(top, n)
	}
	total := ((b.Dx() + 2) / 3) * ((b.Dy() + 2) / 3)
	if len(colours) < 16 || top > total*98/100 {
		t.Errorf("screenshot %s looks blank: %d colours, the commonest covers %d of %d samples", path, len(colours), top, total)
	}
}

// bigPlan makes n aliases over 15 years, with per-month counts, breaches on
// every tenth alias and a hostile alias every thousand.
func bigPlan(n int) (*classify.Plan, *classify.Inventory) {
	r := rand.New(rand.NewPCG(8, 5000))
	services := []string{"shop", "news", "bank", "travel", "game", "forum", "cloud", "mail", "store", "club"}
	tags := []classify.Tag{classify.TagPersonal, classify.TagBusiness, classify.TagDisposable}
	plan := &classify.Plan{Columns: []string{"alias", "tag", "action", "forward_to", "confidence", "reasons", "messages", "first_seen",
		"last_seen", "breaches", "breach_verdict", "domain_status"}}
	inv := &classify.Inventory{Aliases: map[string]*classify.Stats{}}
	epoch := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		alias := fmt.Sprintf("%s%04d@example.com", services[r.IntN(len(services))], i)
		if i%1000 == 999 {
			alias = fmt.Sprintf(`<img src=x onerror="window.__pwned=true">%d@x.example`, i)
		}
		first := epoch.AddDate(0, 0, r.IntN(12*365))
		last := first.AddDate(0, 0, r.IntN(4*365))
		s := &classify.Stats{Alias: alias, First: first, Last: last, Months: map[string]int{}}
		for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
			if r.IntN(3) == 0 || m == first {
				c := 1 + r.IntN(40)
				s.Months[m.Format("2006-01")] += c
				s.Received += c
			}
		}
		inv.Aliases[alias] = s
		tag := tags[r.IntN(len(tags))]
		row := classify.Row{"alias": alias, "tag": string(tag), "action": "forward", "forward_to": "me@new.example",
			"messages": fmt.Sprint(s.Received), "first_seen": first.Format(time.DateOnly), "last_seen": last.Format(time.DateOnly),
			"breach_verdict": "clean"}
		switch {
		case i%10 == 0:
			bd := first.AddDate(0, 0, r.IntN(int(last.Sub(first).Hours()/24)+1))
			row["breaches"] = fmt.Sprintf("%s (%s)", strings.ToUpper(services[i%len(services)][:1])+services[i%len(services)][1:], bd.Format(time.DateOnly))
			row["breach_verdict"] = "breached"
		case i%17 == 0:
			row["breach_verdict"] = "leaked"
		}
		if tag == classify.TagDisposable && row["breach_verdict"] != "clean" {
			row["action"], row["forward_to"] = "block", ""
		}
		if i%29 != 5 {
			row["confidence"] = fmt.Sprintf("%.2f", 0.3+0.7*r.Float64())
		}
		if i%13 != 7 {
			reasons := []string{fmt.Sprintf("%d of %d messages from %s.example", r.IntN(s.Received+1), s.Received, services[i%len(services)])}
			if r.IntN(2) == 0 {
				reasons = append(reasons, "no bulk mail", fmt.Sprintf("you replied from it %d times", 1+r.IntN(9)))
			}
			if i%1000 == 999 {
				reasons = append(reasons, `<img src=x onerror="window.__pwned=true"> is a role name`)
			}
			row["reasons"] = strings.Join(reasons, "; ")
		}
		if i%700 == 3 {
			row["domain_status"] = DomainForeign
		}
		plan.Rows = append(plan.Rows, row)
	}
	slices.SortFunc(plan.Rows, func(a, b classify.Row) int { return strings.Compare(a.Alias(), b.Alias()) })
	return plan, inv
}

func TestChromiumReport(t *testing.T) {
	bin := testtools.NeedChromium(t)
	start := time.Now()
	checkPage(t, bin, "small", awkwardPlan(), awkwardInventory(), "<script>", "report-small")
	checkPage(t, bin, "small-plan-only", awkwardPlan(), nil, "example.com", "")
	checkPage(t, bin, "notes", burnerPlan(), nil, "adobe id", "") // found by its note
	plan, inv := bigPlan(5000)
	checkPage(t, bin, "aliases-5000", plan, inv, "news1", "report-5000")
	t.Logf("browser test took %v", time.Since(start).Round(time.Millisecond))
}
