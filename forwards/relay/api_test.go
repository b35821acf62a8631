package relay

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/catchall/catchall/classify"
)

// apiCall sends one request to h and returns the code and the body.
func apiCall(t *testing.T, h http.Handler, method, url, body string, hdr ...string) (int, string, *http.Response) {
	t.Helper()
	req := httptest.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "RemoteAddr" {
			req.RemoteAddr = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec.Result()
}

func aliasesOf(t *testing.T, h http.Handler) map[string]map[string]any {
	t.Helper()
	code, body, _ := apiCall(t, h, "GET", "http://127.0.0.1:9125/api/aliases", "")
	if code != 200 {
		t.Fatalf("GET /api/aliases: %d %s", code, body)
	}
	var objs []map[string]any
	if err := json.Unmarshal([]byte(body), &objs); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, o := range objs {
		out[o["alias"].(string)] = o
	}
	return out
}

func rcptCode(t *testing.T, addr, rcpt string) int {
	t.Helper()
	c := dialRelay(t, addr)
	defer c.conn.Close()
	c.cmd("MAIL FROM:<someone@sender.test>")
	return c.cmd("RCPT TO:<" + rcpt + ">")
}

func TestAdminAPIEditTakesEffect(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	tr := startRelay(t, cfg)
	h := tr.AdminHandler()
	const url = "http://127.0.0.1:9125/api/aliases/"

	got := aliasesOf(t, h)
	if len(got) != 4 || got["shop@example.org"]["action"] != "forward" || len(got["shop@example.org"]["daily"].([]any)) != ActivityDays {
		t.Fatalf("aliases: %v", got)
	}
	if code, body, _ := apiCall(t, h, "PATCH", url+"shop@example.org", `{"action":"block","note":"spam since May"}`); code != 200 ||
		!strings.Contains(body, `"action": "block"`) || !strings.Contains(body, `"note": "spam since May"`) {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	if code := rcptCode(t, tr.addr, "shop@example.org"); code != 550 {
		t.Errorf("RCPT to a blocked alias: %d, want 550", code)
	}
	plan, _ := os.ReadFile(cfg.Plan)
	if !strings.Contains(string(plan), "shop@example.org,disposable,block,me@dest.test,spam since May\n") {
		t.Errorf("plan file:\n%s", plan)
	}
	if a, _ := tr.Store().Lookup("shop@example.org"); a.Action != classify.ActionBlock || a.Note != "spam since May" {
		t.Errorf("store: %+v", a)
	}
	if code, body, _ := apiCall(t, h, "PATCH", url+"shop@example.org", `{"action":"forward","forward_to":"Me@Dest.test, other@dest.test"}`); code != 200 {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	if code := rcptCode(t, tr.addr, "shop@example.org"); code != 250 {
		t.Errorf("RCPT to an unblocked alias: %d, want 250", code)
	}
	if code, body, _ := apiCall(t, h, "PATCH", url+"leaked@example.org", `{"action":"forward","forward_to":"me@dest.test"}`); code != 200 {
		t.Fatalf("PATCH: %d %s", code, body)
	}

	// The changes survive a restart on the same spool and plan.
	tr.stop(t)
	tr2 := startRelay(t, cfg)
	if code := rcptCode(t, tr2.addr, "leaked@example.org"); code != 250 {
		t.Errorf("after a restart: RCPT %d, want 250", code)
	}
	if a, _ := tr2.Store().Lookup("shop@example.org"); strings.Join(a.Targets, " ") != "me@dest.test other@dest.test" {
		t.Errorf("after a restart: %+v", a)
	}
	h = tr2.AdminHandler()

	// Refused: nothing written.
	before, _ := os.ReadFile(cfg.Plan)
	for _, c := range []struct {
		name, method, path, body string
		hdr                      []string
		want                     int
	}{
		{"unknown alias", "PATCH", "nobody@example.org", `{"action":"block"}`, nil, 404},
		{"bad JSON", "PATCH", "shop@example.org", `{"action":`, nil, 400},
		{"unknown field", "PATCH", "shop@example.org", `{"actoin":"block"}`, nil, 400},
		{"two objects", "PATCH", "shop@example.org", `{} {}`, nil, 400},
		{"not a string", "PATCH", "shop@example.org", `{"action":true}`, nil, 400},
		{"bad action", "PATCH", "shop@example.org", `{"action":"drop"}`, nil, 400},
		{"bad tag", "PATCH", "shop@example.org", `{"tag":"secret"}`, nil, 400},
		{"bad target", "PATCH", "shop@example.org", `{"forward_to":"me@dest.test, nobody"}`, nil, 400},
		{"no target", "PATCH", "shop@example.org", `{"forward_to":""}`, nil, 400},
		{"note on two lines", "PATCH", "shop@example.org", `{"note":"a\nb"}`, nil, 400},
		{"form body", "PATCH", "shop@example.org", `{"action":"block"}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
		{"text body", "PATCH", "shop@example.org", `{"action":"block"}`, []string{"Content-Type", "text/plain"}, 415},
		{"other origin", "PATCH", "shop@example.org", `{"action":"block"}`, []string{"Origin", "http://evil.test"}, 403},
		{"other port", "PATCH", "shop@example.org", `{"action":"block"}`, []string{"Origin", "http://127.0.0.1:80"}, 403},
		{"null origin", "PATCH", "shop@example.org", `{"action":"block"}`, []string{"Origin", "null"}, 403},
		{"rebound name", "PATCH", "shop@example.org", `{"action":"block"}`, []string{"Host", "evil.test:9125", "Origin", "http://evil.test:9125"}, 403},
	} {
		code, body, _ := apiCall(t, h, c.method, url+c.path, c.body, c.hdr...)
		if code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
	}
	if after, _ := os.ReadFile(cfg.Plan); !bytes.Equal(before, after) {
		t.Errorf("a refused edit changed the plan:\n%s", after)
	}
	if code, _, _ := apiCall(t, h, "GET", "http://evil.test:9125/api/aliases", "", "Host", "evil.test:9125"); code != 403 {
		t.Errorf("GET under a rebound name: %d, want 403", code)
	}
	if code, body, _ := apiCall(t, h, "PATCH", url+"shop@example.org", `{"tag":"business"}`, "Origin", "http://localhost:9125"); code != 200 {
		t.Errorf("own origin: %d %s", code, body)
	}
	for _, p := range []string{"/metrics", "/healthz", "/api/session"} {
		if code, _, _ := apiCall(t, h, "GET", "http://127.0.0.1:9125"+p, ""); code != 200 {
			t.Errorf("GET %s on loopback: %d", p, code)
		}
	}
	if code, body, _ := apiCall(t, h, "GET", "http://evil.test:9125/healthz", "", "Host", "evil.test:9125"); code != 403 {
		t.Errorf("/healthz under a rebound name: %d %s, want 403", code, body)
	}
}

func TestAdminAPIBurners(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.DefaultTargets = []string{"me@dest.test"}
	tr := startRelay(t, cfg)
	h := tr.AdminHandler()
	const url = "http://127.0.0.1:9125/api/burners"
	code, body, _ := apiCall(t, h, "POST", url, `{"service":"Shop-Two","note":"the bike shop"}`)
	var res struct{ Alias string }
	if code != 200 || json.Unmarshal([]byte(body), &res) != nil || !strings.HasPrefix(res.Alias, "shop-two.") || !strings.HasSuffix(res.Alias, "@example.org") {
		t.Fatalf("POST: %d %s", code, body)
	}
	if code := rcptCode(t, tr.addr, res.Alias); code != 250 {
		t.Errorf("RCPT to the new burner: %d", code)
	}
	bs, _ := tr.Store().Burners()
	if len(bs) != 1 || bs[0].Note != "the bike shop" || bs[0].Entry == nil {
		t.Errorf("burners: %+v", bs)
	}
	if o := aliasesOf(t, h)[res.Alias]; o == nil || o["note"] != "the bike shop" || o["in_plan"] != false {
		t.Errorf("listed as %v", o)
	}
	for _, c := range []struct{ body string }{{`{"service":"x","domain":"elsewhere.test"}`}, {`{"service":"a b"}`}, {`{"service":"x","extra":1}`}} {
		if code, body, _ := apiCall(t, h, "POST", url, c.body); code != 400 {
			t.Errorf("%s: %d %s", c.body, code, body)
		}
	}
	tr.stop(t)
	cfg.Burner = nil
	h = startRelay(t, cfg).AdminHandler()
	if code, body, _ := apiCall(t, h, "POST", url, `{"service":"x"}`); code != 400 {
		t.Errorf("without a secret: %d %s", code, body)
	}
}

// TestAdminAPIActivity: counts per alias per day, on the relay's clock.
func TestAdminAPIActivity(t *testing.T) {
	sk := newSink(t)
	tr := startRelay(t, testConfig(t, sk.addr))
	h := tr.AdminHandler()
	for range 2 {
		if err := sendMail(t, tr.addr, "news@shop.test", []string{"shop@example.org"}, simpleMessage); err != nil {
			t.Fatal(err)
		}
	}
	sk.wait(2)
	if code := rcptCode(t, tr.addr, "leaked@example.org"); code != 550 {
		t.Fatalf("RCPT %d", code)
	}
	tr.settle(t)
	now := tr.clock.Now()
	got := aliasesOf(t, h)
	shop, leaked := got["shop@example.org"], got["leaked@example.org"]
	daily := shop["daily"].([]any)
	if shop["messages_30d"] != 2.0 || shop["refused_30d"] != 0.0 || daily[len(daily)-1] != 2.0 || daily[0] != 0.0 ||
		shop["last_seen"] != now.UTC().Format(time.RFC3339) {
		t.Errorf("shop: %v", shop)
	}
	if leaked["refused_30d"] != 1.0 || leaked["messages_30d"] != 0.0 {
		t.Errorf("leaked: %v", leaked)
	}
	if got["bank@example.org"]["last_seen"] != "" {
		t.Errorf("bank: %v", got["bank@example.org"])
	}
	tr.advance(t, 29*24*time.Hour)
	if d := aliasesOf(t, h)["shop@example.org"]["daily"].([]any); d[0] != 2.0 {
		t.Errorf("29 days on: %v", d)
	}
	tr.advance(t, 24*time.Hour)
	shop = aliasesOf(t, h)["shop@example.org"]
	if shop["messages_30d"] != 0.0 || shop["last_seen"] != now.UTC().Format(time.RFC3339) {
		t.Errorf("30 days on: %v", shop)
	}
	var rows int
	tr.Store().db.QueryRow(`SELECT count(*) FROM daily`).Scan(&rows)
	if rows != 2 {
		t.Errorf("%d rows in daily, want one per alias and day", rows)
	}
}

// TestAdminRemoteLogin: off loopback, a session, its CSRF token and the
// login limit.
func TestAdminRemoteLogin(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.Admin, cfg.AdminTLS, cfg.Users = "192.0.2.1:9125", &tls.Config{}, writeUsers(t)
	cfg.AuthFailures, cfg.AuthLockout = 3, 10*time.Minute
	tr := startRelay(t, cfg)
	h := tr.AdminHandler()
	const base = "https://relay.test"
	from := func(ip string) []string { return []string{"RemoteAddr", ip + ":5000", "Origin", base} }

	for _, p := range []string{"/api/aliases", "/metrics", "/api/session"} {
		if code, _, _ := apiCall(t, h, "GET", base+p, ""); code != 401 {
			t.Errorf("GET %s without a login: %d, want 401", p, code)
		}
	}
	if code, body, _ := apiCall(t, h, "GET", base+"/healthz", ""); code != 200 || strings.TrimSpace(body) != "{\n  \"status\": \"ok\"\n}" {
		t.Errorf("/healthz without a login: %d %s, want the status only", code, body)
	}
	if code, _, _ := apiCall(t, h, "PATCH", base+"/api/aliases/shop@example.org", `{"action":"block"}`); code != 401 {
		t.Errorf("PATCH without a login: %d", code)
	}
	if code, _, _ := apiCall(t, h, "POST", base+"/login", `{"user":"me","password":"x"}`, "Origin", "https://evil.test"); code != 403 {
		t.Errorf("login from another origin: %d", code)
	}
	for i := range 3 {
		if code, _, _ := apiCall(t, h, "POST", base+"/login", `{"user":"me","password":"wrong"}`, from("198.51.100.7")...); code != 401 {
			t.Errorf("wrong password %d: %d", i, code)
		}
	}
	if code, _, _ := apiCall(t, h, "POST", base+"/login", `{"user":"me","password":"`+testPassword+`"}`, from("198.51.100.7")...); code != 429 {
		t.Errorf("login after a flood: %d, want 429", code)
	}
	code, body, _ := apiCall(t, h, "POST", base+"/login", "", append(from("203.0.113.9"), "Content-Type", "application/x-www-form-urlencoded")...)
	if code != 401 {
		t.Errorf("empty form: %d %s", code, body)
	}
	req := httptest.NewRequest("POST", base+"/login", strings.NewReader("user=me&password="+strings.ReplaceAll(testPassword, " ", "+")))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "203.0.113.9:5000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	var login struct{ CSRF string }
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &login) != nil || len(login.CSRF) != 43 {
		t.Fatalf("login from elsewhere: %d %s", rec.Code, rec.Body)
	}
	cs := res.Cookies()
	if len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || len(cs[0].Value) != 43 ||
		!cs[0].Expires.Equal(tr.clock.Now().Add(AdminSessionTTL).Truncate(time.Second)) {
		t.Fatalf("cookie %+v", cs)
	}
	if strings.Contains(tr.logs.String(), testPassword) || strings.Contains(tr.logs.String(), cs[0].Value) || strings.Contains(tr.logs.String(), login.CSRF) {
		t.Error("a secret in the log")
	}
	cookie := []string{"Cookie", sessionCookie + "=" + cs[0].Value, "Origin", base}
	if code, body, _ := apiCall(t, h, "GET", base+"/api/session", "", cookie...); code != 200 || !strings.Contains(body, login.CSRF) {
		t.Errorf("session: %d %s", code, body)
	}
	if code, body, _ := apiCall(t, h, "GET", base+"/healthz", "", cookie...); code != 200 || !strings.Contains(body, `"queue_messages"`) {
		t.Errorf("/healthz logged in: %d %s, want all of Health", code, body)
	}
	for _, p := range []string{"/api/aliases", "/metrics"} {
		if code, _, _ := apiCall(t, h, "GET", base+p, "", cookie...); code != 200 {
			t.Errorf("GET %s logged in: %d", p, code)
		}
	}
	if code, _, _ := apiCall(t, h, "PATCH", base+"/api/aliases/shop@example.org", `{"action":"block"}`, cookie...); code != 403 {
		t.Errorf("PATCH without the CSRF token: %d, want 403", code)
	}
	if code, _, _ := apiCall(t, h, "PATCH", base+"/api/aliases/shop@example.org", `{"action":"block"}`, append(cookie, "X-CSRF-Token", "x")...); code != 403 {
		t.Errorf("PATCH with a wrong CSRF token: %d, want 403", code)
	}
	if code, body, _ := apiCall(t, h, "PATCH", base+"/api/aliases/shop@example.org", `{"action":"block"}`, append(cookie, "X-CSRF-Token", login.CSRF)...); code != 200 {
		t.Errorf("PATCH with the CSRF token: %d %s", code, body)
	}
	// The flooded address may try again once the lockout has passed.
	tr.advance(t, 10*time.Minute)
	if code, _, _ := apiCall(t, h, "POST", base+"/login", `{"user":"me","password":"`+testPassword+`"}`, from("198.51.100.7")...); code != 200 {
		t.Errorf("login after the lockout: %d", code)
	}
	tr.advance(t, AdminSessionTTL)
	if code, _, _ := apiCall(t, h, "GET", base+"/api/aliases", "", cookie...); code != 401 {
		t.Errorf("an expired session: %d, want 401", code)
	}
}

// TestAdminLoginParallel: wrong logins sent together from one address are
// held to the limit (each attempt is reserved before the password is
// checked), not all checked because none had failed yet.
func TestAdminLoginParallel(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.Admin, cfg.AdminTLS, cfg.Users = "192.0.2.1:9125", &tls.Config{}, writeUsers(t)
	cfg.AuthFailures, cfg.AuthLockout = 3, 10*time.Minute
	h := startRelay(t, cfg).AdminHandler()
	const base, n = "https://relay.test", 40
	start := make(chan struct{})
	codes := make(chan int, n)
	for range n {
		go func() {
			<-start
			req := httptest.NewRequest("POST", base+"/login", strings.NewReader(`{"user":"me","password":"wrong"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Origin", base)
			req.RemoteAddr = "198.51.100.7:5000"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			codes <- rec.Code
		}()
	}
	close(start)
	count := map[int]int{}
	for range n {
		count[<-codes]++
	}
	if count[401] > 3 || count[401]+count[429] != n {
		t.Errorf("%d parallel wrong logins with a limit of 3: %v, want at most 3 checked (401), the rest 429", n, count)
	}
	if code, _, _ := apiCall(t, h, "POST", base+"/login", `{"user":"me","password":"`+testPassword+`"}`, "RemoteAddr", "198.51.100.7:5000", "Origin", base); code != 429 {
		t.Errorf("login after the parallel flood: %d, want 429", code)
	}
}

// TestAdminSessionRevoked: a session ends on POST /logout (with its CSRF
// token), when its user gets a new password, and when the user is removed.
func TestAdminSessionRevoked(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.Admin, cfg.AdminTLS, cfg.Users = "192.0.2.1:9125", &tls.Config{}, writeUsers(t)
	tr := startRelay(t, cfg)
	h := tr.AdminHandler()
	const base = "https://relay.test"
	login := func() (cookie []string, csrf string) {
		t.Helper()
		code, body, res := apiCall(t, h, "POST", base+"/login", `{"user":"me","password":"`+testPassword+`"}`, "Origin", base)
		var l struct{ CSRF string }
		if code != 200 || json.Unmarshal([]byte(body), &l) != nil || len(res.Cookies()) != 1 {
			t.Fatalf("login: %d %s", code, body)
		}
		return []string{"Cookie", sessionCookie + "=" + res.Cookies()[0].Value, "Origin", base}, l.CSRF
	}
	alive := func(cookie []string) bool {
		t.Helper()
		code, _, _ := apiCall(t, h, "GET", base+"/api/aliases", "", cookie...)
		return code == 200
	}
	rewrite := func(edit func(u *Users)) {
		t.Helper()
		u, err := ReadUsers(cfg.Users)
		if err != nil {
			t.Fatal(err)
		}
		edit(u)
		if err := WriteUsers(cfg.Users, u); err != nil {
			t.Fatal(err)
		}
		if err := tr.Reload(); err != nil {
			t.Fatal(err)
		}
	}

	cookie, csrf := login()
	if code, _, _ := apiCall(t, h, "POST", base+"/logout", "{}", cookie...); code != 403 || !alive(cookie) {
		t.Errorf("logout without the CSRF token: %d, or the session ended", code)
	}
	code, _, res := apiCall(t, h, "POST", base+"/logout", "{}", append(cookie, "X-CSRF-Token", csrf)...)
	if cs := res.Cookies(); code != 200 || len(cs) != 1 || cs[0].MaxAge >= 0 || cs[0].Value != "" {
		t.Errorf("logout: %d %v", code, cs)
	}
	if alive(cookie) {
		t.Error("the session outlived its logout")
	}

	cookie, _ = login()
	other, _ := login()
	hash, err := HashPassword("a new password")
	if err != nil {
		t.Fatal(err)
	}
	rewrite(func(u *Users) { u.Set(testUser, hash) })
	if alive(cookie) || alive(other) {
		t.Error("a session outlived its user's new password")
	}

	hash, _ = HashPassword(testPassword)
	rewrite(func(u *Users) { u.Set(testUser, hash) })
	cookie, _ = login()
	rewrite(func(u *Users) { u.Set("other", hash) })
	if !alive(cookie) {
		t.Error("a session ended when another user was added")
	}
	rewrite(func(u *Users) { u.Delete(testUser) })
	if alive(cookie) {
		t.Error("a session outlived its user's removal")
	}
}

// TestAdminServerTimeouts: the admin listener cuts off slow and idle
// clients and bounds the header.
func TestAdminServerTimeouts(t *testing.T) {
	hs := adminServer(http.NotFoundHandler())
	if hs.ReadHeaderTimeout != 10*time.Second || hs.ReadTimeout != 30*time.Second || hs.WriteTimeout != 60*time.Second ||
		hs.IdleTimeout != 60*time.Second || hs.MaxHeaderBytes != 64<<10 {
		t.Errorf("admin server limits: %+v", hs)
	}
}

// TestAdminAPINoteChars: notes with control or invisible formatting
// characters are refused (400) and the plan left alone; a PATCH that
// changes nothing ({} or the values the row has) does not write the plan.
func TestAdminAPINoteChars(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.DefaultTargets = []string{"me@dest.test"}
	tr := startRelay(t, cfg)
	h := tr.AdminHandler()
	const url = "http://127.0.0.1:9125/api/aliases/shop@example.org"
	if code, body, _ := apiCall(t, h, "PATCH", url, `{"note":"café ok"}`); code != 200 {
		t.Fatalf("PATCH a plain note: %d %s", code, body)
	}
	fi, err := os.Stat(cfg.Plan)
	if err != nil {
		t.Fatal(err)
	}
	for _, note := range []string{`a\u0000b`, `a\u000bb`, `a\u2028b`, `gpj.\u202Eexe`, `a\u200bb`, `a\u0085b`, `a\u2066b`} {
		if code, body, _ := apiCall(t, h, "PATCH", url, `{"note":"`+note+`"}`); code != 400 {
			t.Errorf("PATCH note %s: %d %s, want 400", note, code, body)
		}
		if code, body, _ := apiCall(t, h, "POST", "http://127.0.0.1:9125/api/burners", `{"service":"shop","note":"`+note+`"}`); code != 400 {
			t.Errorf("burner note %s: %d %s, want 400", note, code, body)
		}
	}
	for _, patch := range []string{`{}`, `{"note":"café ok"}`, `{"action":"forward","tag":"disposable","note":" café ok "}`} {
		if code, body, _ := apiCall(t, h, "PATCH", url, patch); code != 200 {
			t.Errorf("PATCH %s: %d %s", patch, code, body)
		}
	}
	if now, err := os.Stat(cfg.Plan); err != nil || !os.SameFile(fi, now) {
		t.Error("the plan was written again though nothing changed")
	}
}

func TestAdminConfigValidate(t *testing.T) {
	cfg := testConfig(t, "127.0.0.1:25")
	cfg.Admin = "192.0.2.1:9125"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "AdminTLS") {
		t.Errorf("remote admin without TLS: %v", err)
	}
	cfg.AdminTLS = &tls.Config{}
	if err := cfg.Validate(); err == nil {
		t.Error("remote admin without users: no error")
	}
	cfg.Users = "users"
	if err := cfg.Validate(); err != nil {
		t.Errorf("remote admin with TLS and users: %v", err)
	}
}

// TestEditPlanKeepsOtherLines: lines not edited keep their bytes, whatever
// their quoting, spacing and line ends; a new column goes at the end.
func TestEditPlanKeepsOtherLines(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	odd := "alias , tag,action,forward_to\r\nshop@example.org , disposable,forward,\"me@dest.test\"\r\n\r\n" +
		"Bank@Example.org,business,forward,  me@dest.test\r\nleaked@example.org,disposable,block\r\n"
	if err := writeFile(cfg.Plan, odd); err != nil {
		t.Fatal(err)
	}
	tr := startRelay(t, cfg)
	if err := tr.EditPlan(map[string]AliasEdit{"leaked@example.org": {Note: ptr("=cmd, \"quoted\"")}}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(cfg.Plan)
	want := "alias,tag,action,forward_to,note\r\nshop@example.org , disposable,forward,\"me@dest.test\"\r\n\r\n" +
		"Bank@Example.org,business,forward,  me@dest.test\r\nleaked@example.org,disposable,block,,\"'=cmd, \"\"quoted\"\"\"\r\n"
	if string(got) != want {
		t.Errorf("plan:\n%q\nwant\n%q", got, want)
	}
	if a, _ := tr.Store().Lookup("leaked@example.org"); a.Note != "=cmd, \"quoted\"" {
		t.Errorf("store note %q", a.Note)
	}
	if err := tr.EditPlan(map[string]AliasEdit{"nobody@example.org": {}}); err == nil {
		t.Error("an unknown alias: no error")
	}
}

func ptr(s string) *string { return &s }

// TestAdminAPIRandomEdits makes 1,000 random edits, valid and not, through
// the API; then the plan, the store and the relay's answers agree with
// what the API said it did.
func TestAdminAPIRandomEdits(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	var plan strings.Builder
	plan.WriteString("alias,tag,action,forward_to,note\n")
	var aliases []string
	for i := range 20 {
		a := fmt.Sprintf("a%02d@example.org", i)
		aliases = append(aliases, a)
		fmt.Fprintf(&plan, "%s,personal,forward,me@dest.test,\n", a)
	}
	if err := writeFile(cfg.Plan, plan.String()); err != nil {
		t.Fatal(err)
	}
	cfg.MaxBadRcpts = -1
	tr := startRelay(t, cfg)
	h := tr.AdminHandler()
	type state struct{ tag, action, to, note string }
	model := map[string]*state{}
	for _, a := range aliases {
		model[a] = &state{"personal", "forward", "me@dest.test", ""}
	}
	rng := rand.New(rand.NewPCG(1, 16))
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	oks := 0
	for i := range 1000 {
		alias := pick(append(aliases, "nobody@example.org", "A05@EXAMPLE.ORG")...)
		body := map[string]any{}
		if rng.IntN(2) == 0 {
			body["action"] = pick("forward", "block", "drop", "", "Forward")
		}
		if rng.IntN(2) == 0 {
			body["tag"] = pick("personal", "business", "disposable", "", "secret")
		}
		if rng.IntN(3) == 0 {
			body["forward_to"] = pick("me@dest.test", "Other@Dest.test, me@dest.test", "", "nobody", "x@[1.2.3.4]", "a@b.test c@d.test")
		}
		if rng.IntN(3) == 0 {
			body["note"] = pick("", "plain", "with, comma", `"quoted"`, "=SUM(A1)", "  spaced  ", "two\nlines", "ünïcode", "'apostrophe", strings.Repeat("n", 1001))
		}
		if rng.IntN(50) == 0 {
			body["bogus"] = 1
		}
		b, _ := json.Marshal(body)
		code, resp, _ := apiCall(t, h, "PATCH", "http://127.0.0.1:9125/api/aliases/"+alias, string(b))
		key := strings.ToLower(alias)
		switch {
		case code == 200:
			oks++
			m := model[key]
			if v, ok := body["action"]; ok {
				m.action = v.(string)
			}
			if v, ok := body["tag"]; ok {
				m.tag = v.(string)
			}
			if v, ok := body["forward_to"]; ok {
				var ts []string
				for _, f := range strings.FieldsFunc(strings.ToLower(v.(string)), func(c rune) bool { return c == ',' || c == ' ' }) {
					if !slices.Contains(ts, f) {
						ts = append(ts, f)
					}
				}
				m.to = strings.Join(ts, " ")
			}
			if v, ok := body["note"]; ok {
				m.note = strings.TrimSpace(v.(string))
			}
		case code == 404 && model[key] == nil, code == 400:
		default:
			t.Fatalf("edit %d %s %s: %d %s", i, alias, b, code, resp)
		}
	}
	if oks < 100 {
		t.Errorf("only %d edits went through", oks)
	}
	p, err := classify.ReadPlan(cfg.Plan)
	if err != nil {
		t.Fatal(err)
	}
	c := dialRelay(t, tr.addr)
	c.cmd("MAIL FROM:<someone@sender.test>")
	for _, row := range p.Rows {
		m := model[row.Alias()]
		got := state{row["tag"], row["action"], row["forward_to"], row["note"]}
		if got != *m {
			t.Errorf("plan %s: %+v, want %+v", row.Alias(), got, *m)
		}
		a, ok := tr.Store().Lookup(row.Alias())
		if !ok {
			t.Errorf("store: no %s", row.Alias())
			continue
		}
		st := state{string(a.Tag), string(a.Action), strings.Join(a.Targets, " "), a.Note}
		if m.action == "block" {
			st.to = m.to // the store keeps no targets of a blocked alias
		}
		if st != *m {
			t.Errorf("store %s: %+v, want %+v", row.Alias(), st, *m)
		}
		want := 250
		if m.action == "block" {
			want = 550
		}
		if code := c.cmd("RCPT TO:<" + row.Alias() + ">"); code != want {
			t.Errorf("RCPT %s (%s): %d, want %d", row.Alias(), m.action, code, want)
		}
		c.cmd("RSET")
		c.cmd("MAIL FROM:<someone@sender.test>")
	}
}

// FuzzAPIBody decodes request bodies of the admin API; a PATCH body that
// decodes and applies is written to a plan and read back unchanged.
func FuzzAPIBody(f *testing.F) {
	for _, s := range []string{`{"action":"block"}`, `{"note":"=x, \"y\""}`, `{"forward_to":"a@b.test, c@d.test","tag":"business"}`,
		`{"service":"s","note":"n","domain":"example.org"}`, `{"action":null}`, `{} {}`, `[`, `{"note":"'\t"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var b burnerRequest
		decodeJSON(bytes.NewReader(body), &b)
		var e aliasPatch
		if decodeJSON(bytes.NewReader(body), &e) != nil {
			return
		}
		const file = "alias,tag,action,forward_to\nshop@example.org,personal,forward,me@dest.test\nbank@example.org,business,block,\n"
		p, err := classify.ParsePlan([]byte(file), false)
		if err != nil {
			t.Fatal(err)
		}
		n := len(p.Columns)
		if applyEdit(p, p.Rows[0], AliasEdit(e)) != nil {
			return
		}
		out, err := spliceCSV([]byte(file), p, n, map[int]bool{0: true})
		if err != nil {
			t.Fatal(err)
		}
		q, err := classify.ParsePlan(out, false)
		if err != nil {
			t.Fatalf("%q: %v", out, err)
		}
		for _, c := range []string{"alias", "tag", "action", "forward_to", "note"} {
			if q.Rows[0][c] != p.Rows[0][c] {
				t.Errorf("%s: %q read back as %q", c, p.Rows[0][c], q.Rows[0][c])
			}
		}
		if !strings.HasSuffix(string(out), "\nbank@example.org,business,block,\n") {
			t.Errorf("the row not edited changed: %q", out)
		}
	})
}
