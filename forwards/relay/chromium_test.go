//go:build unix

package relay

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/catchall/catchall/internal/testtools"
)

// The dashboard's browser test drives Debian's chromium (apt-get install
// chromium), headless, through chromedp when CATCHALL_TEST_TOOLS=1,
// against an in-process relay whose admin handler listens on 127.0.0.1.
// Every request elsewhere goes to a proxy that is not there, so nothing
// leaves the machine. A full-page screenshot after each step is kept in
// CATCHALL_TEST_ARTIFACTS when that is set.

const dashPlan = `alias,tag,action,forward_to,note,breach_verdict,breaches
shop@example.org,disposable,forward,me@dest.test,bike shop,,
bank@example.org,business,forward,me@dest.test,,,
two@example.org,personal,forward,me@dest.test other@dest.test,,,
leaked@example.org,disposable,block,,,breached,Adobe 2013-10-04
news@example.org,business,forward,me@dest.test,newsletter,,
friend@example.org,personal,forward,me@dest.test,old school friend,,
`

// rcptBecomes polls RCPT to rcpt until it is answered want, for at most a
// second.
func rcptBecomes(t *testing.T, addr, rcpt string, want int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		code := rcptCode(t, addr, rcpt)
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("RCPT %s: %d, want %d within a second", rcpt, code, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestChromiumDashboard(t *testing.T) {
	bin := testtools.NeedChromium(t)
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.DefaultTargets = []string{"me@dest.test"}
	cfg.MaxBadRcpts = -1
	if err := writeFile(cfg.Plan, dashPlan); err != nil {
		t.Fatal(err)
	}
	tr := startRelay(t, cfg)
	admin := httptest.NewServer(tr.AdminHandler())
	t.Cleanup(admin.Close)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.ProxyServer("http://127.0.0.1:9"), // loopback is never proxied; everything else fails
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 20*time.Second)
	t.Cleanup(cancel)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		t.Logf("screenshot %s", testtools.WriteArtifact(t, "dashboard-"+name+".png", png))
	}
	visible := func() int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#tbl tbody tr:not([hidden])").length`))
		if err != nil {
			t.Fatalf("counting rows: %v", err)
		}
		return n
	}
	// choose sets a control's value as choosing an option or clearing
	// the field does: with an input event.
	choose := func(sel, v string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(e => { e.value = %q; return e.dispatchEvent(new Event("input", {bubbles: true})) })(document.querySelector(%q))`, v, sel))(ctx, tg)
			return err
		})
	}
	load := func() {
		t.Helper()
		run("load", chromedp.Navigate(admin.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`html[data-ready="1"]`)))
	}
	load()
	if n := visible(); n != 6 {
		t.Fatalf("%d rows shown, want 6", n)
	}
	shot("1-loaded")

	// (a) One click blocks, another unblocks; the next RCPT hears it.
	run("block", chromedp.Click(chromedp.CSS(`button[aria-label="block shop@example.org"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="unblock shop@example.org"]`)))
	rcptBecomes(t, tr.addr, "shop@example.org", 550)
	shot("2-blocked")
	run("unblock", chromedp.Click(chromedp.CSS(`button[aria-label="unblock shop@example.org"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="block shop@example.org"]`)))
	rcptBecomes(t, tr.addr, "shop@example.org", 250)
	shot("3-unblocked")

	// An edit in place: Enter saves; a bad one shows the relay's 400 in the row.
	run("edit note", chromedp.SendKeys(chromedp.CSS(`input[aria-label="note of bank@example.org"]`), "the bank"+kb.Enter))
	eventually(t, "the note saved", func() bool { a, _ := tr.Store().Lookup("bank@example.org"); return a.Note == "the bank" })
	run("bad target", chromedp.SendKeys(chromedp.CSS(`input[aria-label="forward_to of bank@example.org"]`), "nobody, "+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-alias="bank@example.org"] .err:not(:empty)`)))
	rowErr := text(`tr[data-alias="bank@example.org"] .err`)
	if !strings.HasPrefix(rowErr, "400: ") {
		t.Errorf("error in the row: %q", rowErr)
	}
	shot("4-edit-error")
	run("escape", chromedp.SendKeys(chromedp.CSS(`input[aria-label="forward_to of bank@example.org"]`), kb.Escape))
	if v := eval(`document.querySelector('input[aria-label="forward_to of bank@example.org"]').value`); v != "me@dest.test" {
		t.Errorf("after Escape the field holds %q", v)
	}

	// (b) A burner through the form; its address takes mail at once.
	run("burner", chromedp.SendKeys(chromedp.CSS(`#b-service`), "bikeshop"), chromedp.SendKeys(chromedp.CSS(`#b-note`), "new saddle"),
		chromedp.Click(chromedp.CSS(`#burner-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#burner-out`)), chromedp.WaitVisible(chromedp.CSS(`#burner-copy`)))
	addr := text(`#burner-addr`)
	if !strings.HasPrefix(addr, "bikeshop.") || !strings.HasSuffix(addr, "@example.org") {
		t.Fatalf("burner shown: %q", addr)
	}
	rcptBecomes(t, tr.addr, addr, 250)
	if bs, _ := tr.Store().Burners(); len(bs) != 1 || bs[0].Address != addr || bs[0].Note != "new saddle" {
		t.Errorf("burners: %+v", bs)
	}
	run("burner row", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr[data-alias=%q]`, addr))))
	shot("5-burner")

	// (c) The tag filter and the search narrow the rows.
	if n := visible(); n != 7 {
		t.Errorf("%d rows shown with the burner, want 7", n)
	}
	run("tag filter", choose("#f-tag", "personal"))
	if n := visible(); n != 2 {
		t.Errorf("%d rows tagged personal, want 2", n)
	}
	run("search", chromedp.SendKeys(chromedp.CSS(`#q`), "school"))
	if n := visible(); n != 1 {
		t.Errorf("%d personal rows matching school, want 1", n)
	}
	shot("6-filtered")
	run("verdict filter", choose("#f-tag", ""), choose("#q", ""), choose("#f-verdict", "breached"))
	if n := visible(); n != 1 {
		t.Errorf("%d breached rows, want 1", n)
	}

	// (d) Keyboard only: Tab to the search, type, Tab to the row's button, Enter.
	load()
	active := `(e => e.id || e.getAttribute("aria-label") || e.textContent)(document.activeElement)`
	run("tab to search", chromedp.KeyEvent(kb.Tab))
	focus := eval(active)
	if focus != "q" {
		t.Fatalf("the first Tab focused %q, want the search", focus)
	}
	run("type", chromedp.KeyEvent("bank"))
	var path []string
	for len(path) < 30 && focus != "block bank@example.org" {
		run("tab", chromedp.KeyEvent(kb.Tab))
		focus = eval(active)
		path = append(path, focus)
	}
	want := []string{"f-tag", "f-action", "f-verdict", "alias", "tag", "action", "forward_to", "note", "messages", "last seen", "refused", "breach",
		"tag of bank@example.org", "forward_to of bank@example.org", "note of bank@example.org", "block bank@example.org"}
	if strings.Join(path, "|") != strings.Join(want, "|") {
		t.Fatalf("Tab went through %q, want %q", path, want)
	}
	shot("7-keyboard-focus")
	run("enter", chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS(`button[aria-label="unblock bank@example.org"]`)))
	rcptBecomes(t, tr.addr, "bank@example.org", 550)
	shot("8-keyboard-blocked")
}
