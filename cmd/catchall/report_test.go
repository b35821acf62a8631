package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/catchall/catchall/internal/imaptest"
)

// reportData decodes the JSON block of a written report.
func reportData(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<script type="application/json" id="data">([^<]*)</script>`).FindSubmatch(raw)
	if m == nil {
		t.Fatalf("%s: no data block", path)
	}
	var d map[string]any
	if err := json.Unmarshal(m[1], &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestReportCLI(t *testing.T) {
	dir := t.TempDir()
	plan := writePlan(t, dir, "alias,tag,action,forward_to,messages,first_seen,last_seen,breaches,breach_verdict\n"+
		"adobe@example.com,disposable,block,,3,2012-01-05,2020-03-01,Adobe (2013-10-04),breached\n"+
		"jobs@example.com,business,forward,me@new.example,1,2019-01-01,2019-01-01,,clean\n")
	out := filepath.Join(dir, "report.html")

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"report", "--out", out}, 2, "--plan is required"},
		{[]string{"report", "--plan", plan}, 2, "--out is required"},
		{[]string{"report", "--plan", filepath.Join(dir, "nope.csv"), "--out", out}, 2, "nope.csv"},
		{[]string{"report", "--plan", plan, "--out", out, "extra"}, 2, "unknown command"},
		{[]string{"report", "--plan", plan, "--out", out, "--archive", dir}, 1, "is not an archive"},
		{[]string{"report", "--plan", plan, "--out", filepath.Join(dir, "no", "such", "dir", "r.html")}, 1, "writing report"},
	} {
		code, _, errOut := runCLI(t, nil, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d, %q; want %d, %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a failed run wrote the report")
	}

	code, stdout, errOut := runCLI(t, nil, "report", "--plan", plan, "--out", out, "--title", "<b>mine</b>")
	if code != 0 || stdout != "wrote "+out+": 2 aliases from the plan\n" {
		t.Fatalf("exit %d, %q %s", code, stdout, errOut)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("report file: %v, mode %v", err, fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(out)
	for _, want := range []string{"<title>&lt;b&gt;mine&lt;/b&gt;</title>", "Have I Been Pwned", `"alias":"adobe@example.com"`, `"date":"2013-10-04"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if d := reportData(t, out); d["archive"] != false {
		t.Errorf("plan only: archive %v", d["archive"])
	}
}

// TestReportCLIArchive fetches a small mailbox and reports on it: the month
// counts come from the archive.
func TestReportCLIArchive(t *testing.T) {
	srv, err := imaptest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for i, m := range []struct {
		to   string
		date time.Time
	}{
		{"adobe@example.com", time.Date(2019, 3, 4, 10, 0, 0, 0, time.UTC)},
		{"adobe@example.com", time.Date(2019, 3, 20, 10, 0, 0, 0, time.UTC)},
		{"adobe@example.com", time.Date(2020, 7, 1, 10, 0, 0, 0, time.UTC)},
		{"jobs@example.com", time.Date(2021, 1, 2, 10, 0, 0, 0, time.UTC)},
	} {
		raw := fmt.Sprintf("Delivered-To: me@example.com\r\nX-Original-To: %s\r\nFrom: news@adobe.com\r\nTo: %s\r\nDate: %s\r\nSubject: m%d\r\nMessage-ID: <m%d@adobe.com>\r\n\r\nbody\r\n",
			m.to, m.to, m.date.Format(time.RFC1123Z), i, i)
		if _, err := srv.Append("INBOX", []byte(raw), nil, m.date); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	archive := filepath.Join(dir, "archive")
	if code, out, errOut := runCLI(t, map[string]string{"CATCHALL_PASSWORD": srv.Password}, "fetch", "--from", srv.URL(), "--archive", archive, "--quiet"); code != 0 {
		t.Fatalf("fetch: exit %d %s%s", code, out, errOut)
	}
	plan := writePlan(t, dir, "alias,tag,action,forward_to\n"+
		"adobe@example.com,disposable,forward,me@new.example\n"+
		"jobs@example.com,business,forward,me@new.example\n")
	out := filepath.Join(dir, "report.html")
	code, stdout, errOut := runCLI(t, nil, "report", "--plan", plan, "--archive", archive, "--out", out)
	if code != 0 || stdout != "wrote "+out+": 2 aliases from the plan and 4 messages of the archive\n" {
		t.Fatalf("exit %d, %q %s", code, stdout, errOut)
	}
	d := reportData(t, out)
	aliases := d["aliases"].([]any)
	adobe, jobs := aliases[0].(map[string]any), aliases[1].(map[string]any)
	// 2019-03 is month 0: two messages; 2020-07 is month 16: one.
	if d["archive"] != true || d["start"] != "2019-03" || fmt.Sprint(adobe["months"]) != "[0 2 16 1]" || adobe["messages"] != 3.0 ||
		adobe["first"] != "2019-03-04" || adobe["last"] != "2020-07-01" || fmt.Sprint(jobs["months"]) != "[22 1]" {
		t.Errorf("data: start %v, adobe %v, jobs %v", d["start"], adobe, jobs)
	}
	if strings.Contains(mustRead(t, out), "Have I Been Pwned") {
		t.Error("attribution without breach data")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReportCLISpool: with --spool the page lists the relay's burners that
// the plan does not have, and a burner row of the plan shows its note.
func TestReportCLISpool(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "burner.secret")
	os.WriteFile(secret, []byte("a-secret-of-enough-length\n"), 0o600)
	spool := filepath.Join(dir, "spool")
	var addrs []string
	for _, b := range [][2]string{{"shop", "the <corner> shop"}, {"news", "weekly news"}} {
		code, out, errOut := runCLI(t, nil, "burner", "new", b[0], "--domain", "example.com", "--burner-secret-file", secret, "--spool", spool, "--note", b[1])
		if code != 0 || errOut != "" {
			t.Fatalf("burner new: exit %d %s", code, errOut)
		}
		addrs = append(addrs, strings.TrimSpace(out))
	}
	plan := writePlan(t, dir, "alias,tag,action,forward_to,source\n"+
		"jobs@example.com,business,forward,me@new.example,auto\n"+
		addrs[0]+",disposable,forward,me@new.example,burner\n")
	out := filepath.Join(dir, "report.html")
	if code, _, errOut := runCLI(t, nil, "report", "--plan", plan, "--spool", filepath.Join(dir, "none"), "--out", out); code != 2 || !strings.Contains(errOut, "no relay store") {
		t.Errorf("--spool without a store: exit %d %q", code, errOut)
	}
	code, stdout, errOut := runCLI(t, nil, "report", "--plan", plan, "--spool", spool, "--out", out)
	if code != 0 || stdout != "wrote "+out+": 2 aliases from the plan and 2 burners of the relay store (1 not in the plan)\n" {
		t.Fatalf("exit %d, %q %s", code, stdout, errOut)
	}
	page := mustRead(t, out)
	for _, want := range []string{`<section id="burners">`, `<td class="alias">` + addrs[1] + `</td><td>news</td><td class="bnote">weekly news</td>`} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(page, `<td class="alias">`+addrs[0]) {
		t.Error("a burner of the plan is listed among those not in it")
	}
	for _, a := range reportData(t, out)["aliases"].([]any) {
		a := a.(map[string]any)
		if want := map[string]any{addrs[0]: "the <corner> shop", "jobs@example.com": nil}[a["alias"].(string)]; a["note"] != want {
			t.Errorf("%s: note %v, want %v", a["alias"], a["note"], want)
		}
	}
}
