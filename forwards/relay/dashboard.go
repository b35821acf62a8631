package relay

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The dashboard (GET /) is one page rendered here with html/template from
// the API's own data (aliasObjects, Health, the refusals), with a script
// and a style sheet from web/ under /static/: no CDN, nothing inline, so
// the page works without a network and under dashboardCSP. The script
// filters, sorts and edits through the JSON API.

//go:embed web/page.html web/login.html web/dashboard.js web/dashboard.css
var webFS embed.FS

// dashboardPage is page.html; its template "login" is the login form.
var dashboardPage = template.Must(template.New("page.html").Funcs(template.FuncMap{"sparkline": sparkline, "seen": seenText}).
	ParseFS(webFS, "web/page.html", "web/login.html"))

// dashboardCSP is the Content-Security-Policy of the dashboard and its
// login form: the listener's own script, style and API, nothing else.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// dashboardRoutes adds GET / and its static files to mux.
func (r *Relay) dashboardRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", r.dashboard)
	for _, name := range []string{"dashboard.js", "dashboard.css"} {
		data, _ := webFS.ReadFile("web/" + name)
		ctype := "text/css; charset=utf-8"
		if strings.HasSuffix(name, ".js") {
			ctype = "text/javascript; charset=utf-8"
		}
		mux.HandleFunc("GET /static/"+name, func(w http.ResponseWriter, _ *http.Request) {
			pageHeaders(w, ctype)
			w.Write(data)
		})
	}
}

// pageHeaders sets what every page and file of the dashboard carries.
func pageHeaders(w http.ResponseWriter, ctype string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // not no-referrer: with it Chromium sends "Origin: null" on the login form's POST, which sameOrigin refuses
	h.Set("Cache-Control", "no-store")
}

// dashRow is one alias of the dashboard's table.
type dashRow struct {
	Alias, Tag, Action, ForwardTo, Note, LastSeen, Verdict, BreachDate string
	Messages, Refused                                                  int
	Daily                                                              []int
	InPlan                                                             bool
}

// dashView is the page template's input.
type dashView struct {
	Rows                   []dashRow
	Tags, Actions, Verdict []string
	Health                 Health
	Refusals               Refusals
	Now                    string
}

func (r *Relay) dashboard(w http.ResponseWriter, _ *http.Request) {
	objs, err := r.aliasObjects("")
	if err != nil {
		r.log.Error("dashboard: listing aliases", "err", err)
		http.Error(w, "the aliases cannot be read; see the relay's log", http.StatusInternalServerError)
		return
	}
	v := dashView{Health: r.Health(), Refusals: r.refusals.snapshot(), Now: r.cfg.Clock.Now().UTC().Format("2006-01-02 15:04 UTC"),
		Tags: []string{"personal", "business", "disposable"}, Actions: []string{"forward", "block"}}
	for _, o := range objs {
		s := func(k string) string { x, _ := o[k].(string); return x }
		row := dashRow{Alias: s("alias"), Tag: s("tag"), Action: s("action"), ForwardTo: s("forward_to"), Note: s("note"),
			LastSeen: s("last_seen"), InPlan: o["in_plan"] == true}
		row.Messages, _ = o["messages_30d"].(int)
		row.Refused, _ = o["refused_30d"].(int)
		row.Daily, _ = o["daily"].([]int)
		if b, ok := o["breach"].(map[string]string); ok {
			row.Verdict, row.BreachDate = b["verdict"], b["date"]
		}
		for _, p := range []struct {
			list *[]string
			v    string
		}{{&v.Tags, row.Tag}, {&v.Actions, row.Action}, {&v.Verdict, row.Verdict}} {
			if p.v != "" && !slices.Contains(*p.list, p.v) {
				*p.list = append(*p.list, p.v)
			}
		}
		v.Rows = append(v.Rows, row)
	}
	slices.Sort(v.Verdict)
	var b bytes.Buffer
	if err := dashboardPage.Execute(&b, v); err != nil {
		r.log.Error("dashboard", "err", err)
		http.Error(w, "the page cannot be made; see the relay's log", http.StatusInternalServerError)
		return
	}
	pageHeaders(w, "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

// loginForm answers code with the login form of a remote admin listener,
// msg (if any) above it.
func loginForm(w http.ResponseWriter, code int, msg string) {
	var b bytes.Buffer
	dashboardPage.ExecuteTemplate(&b, "login", msg)
	pageHeaders(w, "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(b.Bytes())
}

// Sparkline geometry, in SVG user units.
const sparkW, sparkH = 60, 16

// sparkline returns the points of an SVG polyline of daily counts, scaled
// to the largest (a flat line at the bottom when all are zero).
func sparkline(daily []int) string {
	top := 1
	for _, n := range daily {
		top = max(top, n)
	}
	var b strings.Builder
	for i, n := range daily {
		x := 0.0
		if len(daily) > 1 {
			x = float64(i) * sparkW / float64(len(daily)-1)
		}
		y := sparkH - 1 - float64(n)*(sparkH-2)/float64(top)
		fmt.Fprintf(&b, "%s,%s ", strconv.FormatFloat(x, 'f', 1, 64), strconv.FormatFloat(y, 'f', 1, 64))
	}
	return strings.TrimSpace(b.String())
}

// seenText shows an RFC 3339 time as "YYYY-MM-DD HH:MM" (UTC), "never" for "".
func seenText(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04")
}
