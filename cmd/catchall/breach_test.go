package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/catchall/catchall/classify"
)

func TestBreachCLI(t *testing.T) {
	var requests atomic.Int32
	list, _ := os.ReadFile("../../classify/breach/testdata/breaches.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		switch {
		case r.URL.Path == "/breaches":
			w.Write(list)
		case r.Header.Get("hibp-api-key") != "good":
			w.WriteHeader(http.StatusUnauthorized)
		case r.URL.Path == "/subscription/status":
			w.Write([]byte(`{"Rpm":6000}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	t.Setenv("HOME", t.TempDir()) // the cache goes to ~/.cache/catchall
	t.Setenv("XDG_CACHE_HOME", "")
	dir := t.TempDir()
	plan := writePlan(t, dir, "alias,tag,action,forward_to,service_domain,first_seen,source,auto_tag,auto_action,auto_forward_to\n"+
		"adobe@example.com,disposable,forward,me@new.example,adobe.com,2012-01-01,auto,disposable,forward,me@new.example\n"+
		"jobs@example.com,business,forward,me@new.example,linkedin.com,2011-01-01,auto,business,forward,me@new.example\n"+
		"new@example.com,disposable,forward,me@new.example,canva.com,2020-01-01,auto,disposable,forward,me@new.example\n")

	code, _, errOut := runCLI(t, nil, "breach", "--plan", plan, "--hibp-url", srv.URL)
	if code != 2 || !strings.Contains(errOut, "catchall breach update") {
		t.Errorf("no list: exit %d %s", code, errOut)
	}
	code, out, errOut := runCLI(t, nil, "breach", "update", "--hibp-url", srv.URL)
	if code != 0 || !strings.Contains(out, "16 breaches saved") || !strings.Contains(out, "Have I Been Pwned") {
		t.Fatalf("update: exit %d %s%s", code, out, errOut)
	}
	before := requests.Load()
	code, out, errOut = runCLI(t, nil, "breach", "--plan", plan, "--hibp-url", srv.URL)
	if code != 0 {
		t.Fatalf("offline: exit %d %s", code, errOut)
	}
	if requests.Load() != before {
		t.Errorf("the offline check sent %d requests", requests.Load()-before)
	}
	for _, want := range []string{"adobe@example.com", "Adobe (2013-10-04)", "block (new)", "flagged only (business)",
		"3 aliases: 2 breached, 0 leaked, 0 aggregate, 0 never given out (spam only), 1 clean; 1 newly blocked",
		"Breach data: Have I Been Pwned (haveibeenpwned.com), CC BY 4.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	p, err := classify.ReadPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	// Blocked by action alone: forward_to stays for the day it is unblocked.
	if r := p.Rows[0]; r["action"] != "block" || r["forward_to"] != "me@new.example" || r["breach_verdict"] != "breached" {
		t.Errorf("adobe row %v", r)
	}

	// Online: a key is required, a bad one is exit 3 and never printed.
	t.Setenv("HIBP_API_KEY", "")
	if code, _, errOut = runCLI(t, nil, "breach", "--plan", plan, "--online", "--hibp-url", srv.URL); code != 2 || !strings.Contains(errOut, "HIBP_API_KEY") {
		t.Errorf("no key: exit %d %s", code, errOut)
	}
	t.Setenv("HIBP_API_KEY", "wrong-secret-key")
	code, out, errOut = runCLI(t, nil, "breach", "--plan", plan, "--online", "--hibp-url", srv.URL, "-v")
	if code != 3 || !strings.Contains(errOut, "refused the API key") || strings.Contains(out+errOut, "wrong-secret-key") {
		t.Errorf("bad key: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut = runCLI(t, nil, "breach", "--plan", plan, "--domain-search"); code != 2 || !strings.Contains(errOut, "--online") {
		t.Errorf("--domain-search without --online: exit %d %s", code, errOut)
	}
}

// TestBreachOfflineHints: without a list, or without a network, the error
// says how to work offline: the list downloaded beforehand, or a copy.
func TestBreachOfflineHints(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HIBP_API_KEY", "a-key")
	const unreachable = "http://127.0.0.1:1" // nothing answers there
	plan := writePlan(t, t.TempDir(), "alias,tag,action,forward_to\nadobe@example.com,disposable,forward,me@new.example\n")
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"breach", "--plan", plan}, 2, []string{"no breach list yet", `"catchall breach update"`, "works offline", "--breaches FILE"}},
		{[]string{"breach", "--plan", plan, "--online", "--hibp-url", unreachable}, 1,
			[]string{"cannot reach haveibeenpwned.com", `"catchall breach update" beforehand`, "--breaches FILE", "leave out --online"}},
		{[]string{"breach", "update", "--hibp-url", unreachable}, 3, []string{"cannot reach haveibeenpwned.com", "--breaches FILE"}},
	} {
		code, _, errOut := runCLI(t, nil, tc.args...)
		if code != tc.code || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%v: exit %d, want %d and one line:\n%s", tc.args, code, tc.code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: no %q in %s", tc.args, w, errOut)
			}
		}
	}
}
