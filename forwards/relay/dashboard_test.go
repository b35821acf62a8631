package relay

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDashboardPage: GET / on loopback is the page, with its CSP and the
// alias table; off loopback, the login form until a login through it.
func TestDashboardPage(t *testing.T) {
	sk := newSink(t)
	tr := startRelay(t, testConfig(t, sk.addr))
	h := tr.AdminHandler()
	code, body, res := apiCall(t, h, "GET", "http://127.0.0.1:9125/", "")
	if code != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %s", code, res.Header)
	}
	if rp := res.Header.Get("Referrer-Policy"); rp != "same-origin" || !strings.Contains(body, `<meta name="referrer" content="same-origin">`) {
		t.Errorf("Referrer-Policy %q (no-referrer makes Chromium send Origin: null on the login form)", rp)
	}
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, want := range []string{`<table id="tbl">`, `data-alias="shop@example.org"`, `aria-label="block shop@example.org"`,
		`aria-label="unblock leaked@example.org"`, `<polyline points="0.0,15.0 `, `<script src="/static/dashboard.js" defer></script>`, `id="burner-form"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "style=") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Error("inline script or style, or a link elsewhere, in the page")
	}
	for _, p := range []string{"/static/dashboard.js", "/static/dashboard.css"} {
		if code, _, _ := apiCall(t, h, "GET", "http://127.0.0.1:9125"+p, ""); code != 200 {
			t.Errorf("GET %s: %d", p, code)
		}
	}
	if code, _, _ := apiCall(t, h, "GET", "http://evil.test:9125/", "", "Host", "evil.test:9125"); code != 403 {
		t.Errorf("GET / under a rebound name: %d, want 403", code)
	}

	cfg := testConfig(t, sk.addr)
	cfg.Admin, cfg.AdminTLS, cfg.Users = "192.0.2.1:9125", &tls.Config{}, writeUsers(t)
	h = startRelay(t, cfg).AdminHandler()
	const base = "https://relay.test"
	code, body, res = apiCall(t, h, "GET", base+"/", "")
	if code != 401 || !strings.Contains(body, `<form method="post" action="/login">`) || strings.Contains(body, "shop@example.org") ||
		res.Header.Get("Content-Security-Policy") != dashboardCSP || res.Header.Get("Referrer-Policy") != "same-origin" {
		t.Fatalf("GET / without a session: %d %s", code, body)
	}
	if code, _, _ := apiCall(t, h, "GET", base+"/static/dashboard.css", ""); code != 200 {
		t.Errorf("the style sheet without a session: %d", code)
	}
	login := func(pw string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", base+"/login", strings.NewReader("next=%2F&user=me&password="+strings.ReplaceAll(pw, " ", "+")))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := login("wrong"); rec.Code != 401 || !strings.Contains(rec.Body.String(), "wrong user or password") || !strings.Contains(rec.Body.String(), "<form") {
		t.Errorf("a wrong password through the form: %d %s", rec.Code, rec.Body)
	}
	rec := login(testPassword)
	cs := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" || len(cs) != 1 {
		t.Fatalf("login through the form: %d %s", rec.Code, rec.Header())
	}
	if code, body, _ := apiCall(t, h, "GET", base+"/", "", "Cookie", sessionCookie+"="+cs[0].Value); code != 200 || !strings.Contains(body, `data-alias="shop@example.org"`) {
		t.Errorf("GET / logged in: %d", code)
	}
}

// TestAdminAPIRefusals: what the relay refused, grouped by recipient and
// reason, with the senders.
func TestAdminAPIRefusals(t *testing.T) {
	sk := newSink(t)
	tr := startRelay(t, testConfig(t, sk.addr))
	c := dialRelay(t, tr.addr)
	for _, from := range []string{"a@spam.test", "b@spam.test", "a@spam.test"} {
		c.cmd("MAIL FROM:<" + from + ">")
		if code := c.cmd("RCPT TO:<leaked@example.org>"); code != 550 {
			t.Fatalf("RCPT to a blocked alias: %d", code)
		}
		c.cmd("RSET")
	}
	c.cmd("MAIL FROM:<a@spam.test>")
	c.cmd("RCPT TO:<x@elsewhere.test>")
	code, body, _ := apiCall(t, tr.AdminHandler(), "GET", "http://127.0.0.1:9125/api/refusals", "")
	var got Refusals
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || len(got.Groups) != 2 {
		t.Fatalf("GET /api/refusals: %d %s", code, body)
	}
	var blocked *RefusalGroup
	for i, g := range got.Groups {
		if g.Rcpt == "leaked@example.org" {
			blocked = &got.Groups[i]
		}
	}
	if blocked == nil || blocked.Count != 3 || blocked.Senders != 2 || strings.Join(blocked.From, " ") != "a@spam.test b@spam.test" ||
		!strings.HasPrefix(blocked.Reply, "550 ") || got.ByReason[blocked.Reason] != 3 {
		t.Errorf("refusals: %s", body)
	}
}
