package breach

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/catchall/catchall/classify"
)

// DefaultTTL is how long online answers are reused from the cache.
const DefaultTTL = 7 * 24 * time.Hour

// Cache keeps the breach list and online answers on disk, 0700/0600.
type Cache struct {
	Dir string
}

// ErrNoCache is wrapped by DefaultCache's error: the user has no cache
// directory (no $HOME).
var ErrNoCache = errors.New("no cache directory")

// DefaultCache returns the cache in the user's cache directory
// (~/.cache/catchall on Linux).
func DefaultCache() (*Cache, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoCache, err)
	}
	return &Cache{Dir: filepath.Join(dir, "catchall")}, nil
}

// ListPath is where `breach update` keeps the breach list.
func (c *Cache) ListPath() string { return filepath.Join(c.Dir, "breaches.json") }

func (c *Cache) write(name string, data []byte) error {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return err
	}
	return classify.WriteFileAtomic(filepath.Join(c.Dir, name), data)
}

// SaveList stores a downloaded breach list (the raw JSON).
func (c *Cache) SaveList(raw []byte) error { return c.write("breaches.json", raw) }

// LoadList reads a breach list file.
func LoadList(path string) ([]Breach, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	list, err := ParseBreaches(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return list, nil
}

// answer is one cached online answer.
type answer struct {
	Checked  time.Time           `json:"checked"`
	Breaches []Breach            `json:"breaches,omitempty"` // per address
	Locals   map[string][]string `json:"locals,omitempty"`   // per domain: local part → breach names
}

func (c *Cache) loadAnswers() map[string]answer {
	m := map[string]answer{}
	if c == nil {
		return m
	}
	if data, err := os.ReadFile(filepath.Join(c.Dir, "answers.json")); err == nil {
		json.Unmarshal(data, &m)
	}
	return m
}

func (c *Cache) saveAnswers(m map[string]answer) error {
	if c == nil {
		return nil
	}
	data, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	return c.write("answers.json", data)
}

// Options configures Check.
type Options struct {
	// List is the breach list for the offline check (and for the dates of
	// domain-search answers); nil skips the offline check.
	List []Breach
	// Online asks HIBP with Client; nothing is sent otherwise.
	Online bool
	// DomainSearch asks once per domain (GET /breacheddomain) instead of once
	// per alias.
	DomainSearch bool
	Client       *Client
	Cache        *Cache        // online answers are cached here; nil: not cached
	TTL          time.Duration // DefaultTTL when zero
	Logger       *slog.Logger
}

// Check cross-checks the plan and updates its breach columns (see Decide).
func Check(ctx context.Context, p *classify.Plan, opts *Options) ([]Result, error) {
	in := &Input{List: opts.List}
	if opts.Online {
		accounts, err := online(ctx, p, opts)
		if err != nil {
			return nil, err
		}
		in.Accounts = accounts
	}
	return Decide(p, in), nil
}

// online collects HIBP's answers for every alias of the plan.
func online(ctx context.Context, p *classify.Plan, opts *Options) (map[string][]Breach, error) {
	ttl := opts.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cache := opts.Cache.loadAnswers()
	fresh := func(key string) (answer, bool) {
		a, ok := cache[key]
		return a, ok && time.Since(a.Checked) < ttl
	}
	c := opts.Client
	paced := false
	pace := func() error {
		if paced {
			return nil
		}
		paced = true
		rpm, err := c.Subscription(ctx)
		if err == nil {
			log.Info("haveibeenpwned.com subscription", "requests_per_minute", rpm)
		}
		return err
	}
	byName := map[string]Breach{}
	for _, b := range opts.List {
		byName[strings.ToLower(b.Name)] = b
	}
	accounts := map[string][]Breach{}
	defer func() { opts.Cache.saveAnswers(cache) }()
	if opts.DomainSearch {
		domains := map[string]bool{}
		for _, r := range p.Rows {
			domains[classify.Domain(r.Alias())] = true
		}
		names := make([]string, 0, len(domains))
		for d := range domains {
			names = append(names, d)
		}
		slices.Sort(names)
		for _, d := range names {
			key := "domain:" + d
			a, ok := fresh(key)
			if !ok {
				if err := pace(); err != nil {
					return nil, err
				}
				locals, err := c.Domain(ctx, d)
				if err != nil {
					return nil, fmt.Errorf("searching %s: %w", d, err)
				}
				a = answer{Checked: time.Now().UTC(), Locals: locals}
				cache[key] = a
			}
			for _, r := range p.Rows {
				if classify.Domain(r.Alias()) != d {
					continue
				}
				local, _, _ := strings.Cut(r.Alias(), "@")
				var list []Breach
				for _, name := range a.Locals[local] {
					b, ok := byName[strings.ToLower(name)]
					if !ok {
						b = Breach{Name: name, IsVerified: true}
					}
					list = append(list, b)
				}
				accounts[r.Alias()] = list
			}
		}
		return accounts, nil
	}
	for i, r := range p.Rows {
		addr := r.Alias()
		key := "account:" + addr
		a, ok := fresh(key)
		if !ok {
			if err := pace(); err != nil {
				return nil, err
			}
			list, _, err := c.Account(ctx, addr)
			if err != nil {
				return nil, fmt.Errorf("looking up %s: %w", addr, err)
			}
			a = answer{Checked: time.Now().UTC(), Breaches: list}
			cache[key] = a
			if (i+1)%25 == 0 {
				log.Info("haveibeenpwned.com lookups", "done", i+1, "of", len(p.Rows))
				opts.Cache.saveAnswers(cache) // a long run keeps what it learnt
			}
		}
		accounts[addr] = a.Breaches
	}
	return accounts, nil
}

// WriteTable writes the results as a table with a summary line and, since
// it shows HIBP data, the attribution.
func WriteTable(w io.Writer, results []Result, hibp bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ALIAS\tSERVICE\tBREACHES\tVERDICT\tACTION")
	var notes []string
	for _, r := range results {
		if r.Verdict != VerdictLeaked {
			for _, n := range r.Notes {
				notes = append(notes, r.Alias+": "+n)
			}
		}
		if r.Verdict == VerdictClean {
			continue
		}
		action := ""
		switch {
		case r.Blocked:
			action = "block (new)"
		case r.Pinned:
			action = "kept as you set it"
		case r.wantsBlock():
			action = "block"
		default:
			action = "flagged only (" + r.Tag + ")"
		}
		detail := joinHits(r.Hits)
		if detail == "" && r.Verdict == VerdictLeaked {
			detail = "leak signal since " + r.LeakSince
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Alias, r.Service, detail, r.Verdict, action)
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(w, "note:", n)
	}
	fmt.Fprintln(w, Summary(results))
	if hibp {
		fmt.Fprintln(w, Attribution)
	}
}

// Summary is the one line WriteTable ends with: the aliases per verdict,
// how many were newly blocked and how many the user pinned.
func Summary(results []Result) string {
	counts := map[Verdict]int{}
	blocked, pinned := 0, 0
	for _, r := range results {
		counts[r.Verdict]++
		switch {
		case r.Verdict == VerdictClean:
		case r.Blocked:
			blocked++
		case r.Pinned:
			pinned++
		}
	}
	return fmt.Sprintf("%d aliases: %d breached, %d leaked, %d aggregate, %d never given out (spam only), %d clean; %d newly blocked, %d pinned by you and left as they are",
		len(results), counts[VerdictBreached], counts[VerdictLeaked], counts[VerdictAggregate], counts[VerdictNeverGiven], counts[VerdictClean], blocked, pinned)
}
