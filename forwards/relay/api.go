package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/catchall/catchall/classify"
)

// ActivityDays is how many days the admin API's counts and daily series
// cover (today's included).
const ActivityDays = 30

// maxAPIBody bounds a request body of the admin API.
const maxAPIBody = 64 << 10

// aliasPatch is the body of PATCH /api/aliases/{alias}.
type aliasPatch struct {
	Action    *string `json:"action"`
	ForwardTo *string `json:"forward_to"`
	Tag       *string `json:"tag"`
	Note      *string `json:"note"`
}

// burnerRequest is the body of POST /api/burners.
type burnerRequest struct {
	Service string `json:"service"`
	Note    string `json:"note"`
	Domain  string `json:"domain"`
}

// decodeJSON reads one JSON object from body into v: unknown fields, a
// second value, or more than maxAPIBody bytes are errors.
func decodeJSON(body io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(body, maxAPIBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.InputOffset() > maxAPIBody {
		return fmt.Errorf("body over %d bytes", maxAPIBody)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("one JSON object expected, more follows")
	}
	return nil
}

// apiRoutes adds the JSON API to mux.
func (r *Relay) apiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/aliases", r.apiAliases)
	mux.HandleFunc("PATCH /api/aliases/{alias}", r.apiPatchAlias)
	mux.HandleFunc("POST /api/burners", r.apiNewBurner)
	mux.HandleFunc("GET /api/refusals", r.apiRefusals)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(b.Bytes())
}

// apiError answers {"error": msg} with code.
func apiError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// aliasObjects returns the API's view of every alias: one object per plan
// row (every column as a string) and one for each alias of the store the
// plan does not have ("in_plan": false), with the activity of the last
// ActivityDays days. only, when not empty, keeps just that alias.
func (r *Relay) aliasObjects(only string) ([]map[string]any, error) {
	var rows []classify.Row
	if r.cfg.Plan != "" {
		p, err := classify.ReadPlan(r.cfg.Plan)
		if err != nil {
			return nil, err
		}
		rows = p.Rows
	}
	act, err := r.store.Activity(r.cfg.Clock.Now(), ActivityDays)
	if err != nil {
		return nil, err
	}
	burners, err := r.store.Burners()
	if err != nil {
		return nil, err
	}
	notes := map[string]string{}
	for _, b := range burners {
		notes[b.Address] = b.Note
	}
	inPlan := map[string]bool{}
	out := []map[string]any{}
	add := func(row classify.Row, planned bool) {
		alias := row.Alias()
		if only != "" && alias != only {
			return
		}
		o := map[string]any{}
		for k, v := range row {
			o[k] = v
		}
		o["in_plan"] = planned
		if row["note"] == "" {
			o["note"] = notes[alias]
		}
		a := act[alias]
		if a == nil {
			a = &Activity{Daily: make([]int, ActivityDays)}
		}
		o["messages_30d"], o["refused_30d"], o["daily"] = a.Forwarded, a.Refused, a.Daily
		o["last_seen"] = ""
		if !a.LastSeen.IsZero() {
			o["last_seen"] = a.LastSeen.UTC().Format(time.RFC3339)
		}
		if v := row["breach_verdict"]; v != "" {
			o["breach"] = map[string]string{"verdict": v, "date": latestDate(row["breaches"])}
		}
		out = append(out, o)
	}
	for _, row := range rows {
		inPlan[row.Alias()] = true
		add(row, true)
	}
	r.store.mu.RLock()
	var extra []*Alias
	for addr, a := range r.store.aliases {
		if !inPlan[addr] {
			extra = append(extra, a)
		}
	}
	r.store.mu.RUnlock()
	slices.SortFunc(extra, func(a, b *Alias) int { return strings.Compare(a.Address, b.Address) })
	for _, a := range extra {
		add(classify.Row{"alias": a.Address, "tag": string(a.Tag), "action": string(a.Action),
			"forward_to": strings.Join(a.Targets, " "), "source": a.Source, "note": a.Note}, false)
	}
	return out, nil
}

var dateRE = regexp.MustCompile(`\d{4}-\d{2}-\d{2}`)

// latestDate returns the latest YYYY-MM-DD date in s, "" if none.
func latestDate(s string) string {
	var best string
	for _, d := range dateRE.FindAllString(s, -1) {
		best = max(best, d)
	}
	return best
}

func (r *Relay) apiAliases(w http.ResponseWriter, _ *http.Request) {
	objs, err := r.aliasObjects("")
	if err != nil {
		r.log.Error("admin api: listing aliases", "err", err)
		apiError(w, http.StatusInternalServerError, "the aliases cannot be read; see the relay's log")
		return
	}
	writeJSON(w, http.StatusOK, objs)
}

func (r *Relay) apiPatchAlias(w http.ResponseWriter, req *http.Request) {
	alias := req.PathValue("alias")
	if a, ok := classify.NormalizeAddress(alias); ok {
		alias = a
	}
	var p aliasPatch
	if err := decodeJSON(req.Body, &p); err != nil {
		apiError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	err := r.EditPlan(map[string]AliasEdit{alias: {Action: p.Action, ForwardTo: p.ForwardTo, Tag: p.Tag, Note: p.Note}})
	switch {
	case errors.Is(err, ErrUnknownAlias):
		apiError(w, http.StatusNotFound, err.Error())
		return
	case errors.Is(err, ErrInvalidEdit):
		apiError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		r.log.Error("admin api: editing the plan", "alias", alias, "err", err)
		apiError(w, http.StatusInternalServerError, "the plan cannot be edited; see the relay's log")
		return
	}
	r.log.Info("plan edited through the admin API", "alias", alias)
	objs, err := r.aliasObjects(alias)
	if err != nil || len(objs) == 0 {
		apiError(w, http.StatusInternalServerError, "edited, but the alias cannot be read back")
		return
	}
	writeJSON(w, http.StatusOK, objs[0])
}

func (r *Relay) apiNewBurner(w http.ResponseWriter, req *http.Request) {
	var b burnerRequest
	if err := decodeJSON(req.Body, &b); err != nil {
		apiError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	if r.cfg.Burner == nil {
		apiError(w, http.StatusBadRequest, "the relay has no burner secret (--burner-secret-file)")
		return
	}
	rt := r.rt.Load()
	domain := strings.ToLower(strings.TrimSuffix(b.Domain, "."))
	if domain == "" {
		domain = r.firstDomain()
	} else if !rt.domains[domain] {
		apiError(w, http.StatusBadRequest, "domain "+b.Domain+" is not one of the relay's")
		return
	}
	if len(rt.defaults) == 0 {
		apiError(w, http.StatusBadRequest, "no default target for new burners (--forward-to)")
		return
	}
	note := strings.TrimSpace(b.Note)
	if err := checkNote(note); err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	addr, err := r.cfg.Burner.Address(b.Service, domain)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := r.cfg.Clock.Now()
	if err := r.store.AddBurner(addr, ServiceOf(addr), note, now); err != nil {
		r.log.Error("admin api: new burner", "err", err)
		apiError(w, http.StatusInternalServerError, "the burner cannot be recorded; see the relay's log")
		return
	}
	// Registered now, so that its first mail finds it like any alias.
	if err := r.store.Register(&Alias{Address: addr, Tag: classify.TagDisposable, Action: classify.ActionForward,
		Targets: slices.Clone(rt.defaults), Source: SourceBurner, Created: now}); err != nil {
		r.log.Error("admin api: new burner", "err", err)
		apiError(w, http.StatusInternalServerError, "the burner cannot be recorded; see the relay's log")
		return
	}
	r.log.Info("new burner through the admin API", "alias", addr)
	writeJSON(w, http.StatusOK, map[string]string{"alias": addr})
}

// firstDomain returns the first of Config.Domains, or the first of the
// plan's domains in order.
func (r *Relay) firstDomain() string {
	if len(r.cfg.Domains) > 0 {
		if a, err := classify.SafeAddress("x@" + r.cfg.Domains[0]); err == nil {
			return classify.Domain(a)
		}
	}
	var ds []string
	for d := range r.rt.Load().domains {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds[0]
}
