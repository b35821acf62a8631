package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/classify/breach"
	"github.com/catchall/catchall/classify/report"
	"github.com/catchall/catchall/forwards"
	"github.com/catchall/catchall/imapsync"
	"github.com/catchall/catchall/internal/cli"
	"github.com/catchall/catchall/internal/pipeline"
)

// migrateFlags are migrate's settings; every step's options are made from
// them.
type migrateFlags struct {
	src, dst              serverFlags
	archive, out          string
	domains               []string
	forwardTo, businessTo string
	formats               string
	catchAll              string
	breaches              string
	online, noFetch       bool
	splitBy               string
	tlsCA                 string
	folders, exclude      []string
	connections           int
	relayConfig           string
}

const migrateStateFile = ".catchall-migrate.json"

func migrateCommand(g *globals) *cobra.Command {
	f := migrateFlags{src: serverFlags{account: source}, dst: serverFlags{account: destination}}
	cmd := &cobra.Command{
		Use:   "migrate --from URL --archive DIR [--domain D]... [--to URL] [--out DIR]",
		Short: "The whole migration in one command: fetch, classify, breach, forwards, report, push",
		Long: `Run every step of the migration in order, each one resumable, skipping what
is already done:

  1 fetch     download the account into the archive (only what is new)
  2 classify  the plan OUT/plan.csv: every alias, tagged (your edits are kept)
  3 breach    check the plan against breach data (offline list; --online asks
              haveibeenpwned.com with HIBP_API_KEY)
  4 forwards  configs for the new host in OUT/configs/<format>/ (--formats)
  5 report    OUT/report.html, one self-contained page to review the plan
  6 push      upload the archive to the new account (only with --to)

A step runs only when something it depends on changed since it last
finished (the record is OUT/` + migrateStateFile + `): after you edit the plan, a
re-run regenerates the breach columns, the configs and the report and leaves
the rest alone; new mail in the account re-runs everything after fetch.
--no-fetch works offline from the archive as it is.

Each step's own output is kept in OUT/logs/<step>.log; the end is a summary:
aliases and their tags, how many are breached or leaked, what was written
where, and what to do next. Exit code 1 when a step finished with failures
(the later steps still run on what there is), 2 or 3 when a step could not
run at all (the migration stops there; run it again once fixed).`,
		Example: "  CATCHALL_PASSWORD=... catchall migrate --from imaps://me%40example.org@imap.old-host.example \\\n" +
			"      --archive ~/mail-archive --out ~/catchall-out --forward-to me@new-host.example",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.archive == "" || f.out == "" {
				return cli.Usagef("--archive and --out are required")
			}
			if f.src.url == "" && !f.noFetch {
				return cli.Usagef("--from is required (or --no-fetch to work from the archive as it is)")
			}
			if f.splitBy != "" && f.dst.url == "" {
				return cli.Usagef("--split-by applies to push: give --to too")
			}
			splitBy, err := parseSplitBy(f.splitBy)
			if err != nil {
				return err
			}
			if !f.noFetch || f.dst.url != "" {
				if err := checkConnections(f.connections); err != nil {
					return err
				}
			}
			formats, err := forwards.ParseFormats(f.formats)
			if err != nil {
				return cli.Usagef("--formats: %v", err)
			}
			if err := checkAddressFlags("--forward-to", f.forwardTo, "--catch-all", f.catchAll); err != nil {
				return err
			}
			if f.online && os.Getenv("HIBP_API_KEY") == "" {
				return cli.Usagef("--online needs the API key in env HIBP_API_KEY")
			}
			if f.noFetch {
				if _, err := os.Stat(filepath.Join(f.archive, archive.IndexFile)); err != nil {
					return cli.Usagef("--no-fetch: %s is not an archive (no %s): run migrate without --no-fetch first", f.archive, archive.IndexFile)
				}
			}
			if err := os.MkdirAll(f.out, 0o700); err != nil {
				return cli.Exit(cli.ExitUsage, err)
			}
			m := &migration{g: g, cmd: cmd, f: &f, plan: filepath.Join(f.out, "plan.csv"), splitBy: splitBy, formats: formats}
			return m.run()
		},
	}
	fs := cmd.Flags()
	f.src.registerHelp(fs, "the old account `URL` (as for fetch)", "the old account's password from the first line of `FILE` (default: env CATCHALL_PASSWORD)",
		"the old account's password from the first line `CMD` prints")
	f.dst.registerHelp(fs, "upload the archive to this new account `URL` at the end (as for push)",
		"the new account's password from `FILE` (default: env CATCHALL_DEST_PASSWORD)", "the new account's password from the first line `CMD` prints")
	fs.StringVar(&f.archive, "archive", "", "the archive `DIR` (created if missing)")
	fs.StringVar(&f.out, "out", "catchall-out", "write the plan, configs, report and logs into `DIR`")
	fs.StringArrayVar(&f.domains, "domain", nil, "the catch-all `DOMAIN` (repeatable; default: detected from the mail)")
	fs.StringVar(&f.forwardTo, "forward-to", "", "where forwarded aliases go: your new `ADDR` (classify's --main-mailbox, forwards' --to)")
	fs.StringVar(&f.businessTo, "business-to", "", "where business aliases go (default: --forward-to)")
	fs.StringVar(&f.formats, "formats", "postfix,sieve,csv", "forwarding config `FORMATS` to write (see catchall forwards --help)")
	fs.StringVar(&f.catchAll, "catch-all", "", "in the configs, mail to unknown addresses goes to `ADDR` (default: refused)")
	fs.StringVar(&f.breaches, "breaches", "", "breach list `FILE` (default: the one \"catchall breach update\" saved)")
	fs.BoolVar(&f.online, "online", false, "breach step: ask haveibeenpwned.com too (API key in env HIBP_API_KEY)")
	fs.BoolVar(&f.noFetch, "no-fetch", false, "skip fetch: work from the archive as it is")
	fs.StringVar(&f.splitBy, "split-by", "", "push: file mail by `alias` or `tag` instead of the original folders")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "trust the CA certificates in PEM `FILE` for the old account")
	fs.StringArrayVar(&f.folders, "folder", nil, "fetch only folders matching `GLOB` (repeatable)")
	fs.StringArrayVar(&f.exclude, "exclude", nil, "fetch: leave out folders matching `GLOB` (repeatable)")
	fs.StringVar(&f.relayConfig, "relay-config", "/etc/catchall/relay.toml", "the relay's config `FILE`: when it names another plan, the summary says that one is the master")
	fs.IntVar(&f.connections, "connections", 4, "parallel IMAP connections for fetch and push")
	return cmd
}

// migration is one run of migrate.
type migration struct {
	g       *globals
	cmd     *cobra.Command
	f       *migrateFlags
	plan    string
	splitBy classify.SplitBy
	formats []forwards.Format
	state   *pipeline.State
	partial []string // steps that finished with failures
	ran     []string
	skipped []string
	notes   []string
}

// step is one stage: how it runs, what it depends on, whether it writes
// the plan (then its record is taken after it ran).
type step struct {
	name string
	// run does the step: what the command of the same name prints on
	// stdout goes to out (kept in OUT/logs/STEP.log), its warnings to
	// stderr; it returns the lines migrate shows of it. nil: this run
	// does not take the step.
	run        func(ctx context.Context, out io.Writer) (summary []string, err error)
	inputs     func() *pipeline.Hasher
	always     bool   // run whatever the record says (fetch)
	output     string // must exist for the record to count
	writesPlan bool
}

func (m *migration) run() error {
	var err error
	m.state, err = pipeline.Load(filepath.Join(m.f.out, migrateStateFile))
	if err != nil {
		return cli.Exit(cli.ExitUsage, err)
	}
	if err := os.MkdirAll(filepath.Join(m.f.out, "logs"), 0o700); err != nil {
		return cli.Exit(cli.ExitUsage, err)
	}
	var steps []step
	for _, s := range m.steps() {
		if s.run != nil { // a step this run does not take (push without --to) is not counted
			steps = append(steps, s)
		}
	}
	for i, s := range steps {
		if err := m.cmd.Context().Err(); err != nil {
			return err
		}
		in, err := s.inputs().Sum()
		if err != nil {
			return cli.Exit(cli.ExitPartial, fmt.Errorf("%s: %w", s.name, err))
		}
		if !s.always && m.state.Current(s.name, in) && (s.output == "" || exists(s.output)) {
			m.skipped = append(m.skipped, s.name)
			m.progress("[%d/%d] %s: up to date", i+1, len(steps), s.name)
			continue
		}
		m.progress("[%d/%d] %s", i+1, len(steps), s.name)
		code := m.exec(s)
		switch code {
		case cli.ExitOK:
		case cli.ExitPartial:
			m.partial = append(m.partial, s.name)
		default:
			m.state.Forget(s.name)
			hint := ""
			if s.name == "fetch" && code == cli.ExitConnect && exists(filepath.Join(m.f.archive, archive.IndexFile)) {
				hint = "; if the old account is gone, add --no-fetch to go on with the archive as it is"
			}
			return cli.Exit(code, fmt.Errorf("migrate stopped at %s (its error is above, its output in %s); run migrate again once it is fixed%s",
				s.name, filepath.Join(m.f.out, "logs", s.name+".log"), hint))
		}
		m.ran = append(m.ran, s.name)
		if code == cli.ExitOK {
			if s.writesPlan {
				// The record is of the plan as this step left it, so that the
				// next run skips it unless the plan changed since.
				if in, err = s.inputs().Sum(); err != nil {
					return err
				}
			}
			if err := m.state.Mark(s.name, in, time.Now()); err != nil {
				return err
			}
		} else {
			m.state.Forget(s.name)
		}
	}
	m.summary()
	if len(m.partial) > 0 {
		return cli.Exit(cli.ExitPartial, fmt.Errorf("finished, but %s had failures (listed above)", strings.Join(m.partial, ", ")))
	}
	return nil
}

func (m *migration) steps() []step {
	f := m.f
	arch := func() *pipeline.Hasher { return pipeline.NewHasher().Archive("archive", f.archive) }
	var out []step

	fetch := step{name: "fetch", always: true, inputs: pipeline.NewHasher}
	if !f.noFetch {
		fetch.run = func(ctx context.Context, out io.Writer) ([]string, error) {
			rep, err := fetchArchive(ctx, m.g, &f.src, connFlags{tlsCA: f.tlsCA, timeout: defaultTimeout}, f.archive,
				imapsync.FetchOptions{Include: f.folders, Exclude: f.exclude, Connections: f.connections})
			err = reportFetch(out, m.g.stderr, rep, err, false)
			if rep == nil {
				return nil, err
			}
			return []string{fetchLine(rep)}, err
		}
	}
	out = append(out, fetch)

	out = append(out, step{name: "classify", output: m.plan, run: func(ctx context.Context, out io.Writer) ([]string, error) {
		res, err := classify.Run(ctx, &classify.RunOptions{Source: &classify.ArchiveSource{Dir: f.archive}, Domains: f.domains, Plan: m.plan,
			Config: &classify.Config{MainMailbox: strings.ToLower(f.forwardTo), BusinessMailbox: strings.ToLower(f.businessTo)}})
		if err != nil {
			return nil, inventoryError(err, "run migrate without --no-fetch")
		}
		printClassify(out, res, m.plan)
		return classifySummary(res, m.plan), nil
	}, inputs: func() *pipeline.Hasher {
		return arch().String("domains", strings.Join(f.domains, " ")).String("to", f.forwardTo+" "+f.businessTo)
	}})

	list := f.breaches
	if list == "" {
		if c, err := breach.DefaultCache(); err == nil {
			list = c.ListPath()
		}
	}
	br := step{name: "breach", writesPlan: true, inputs: func() *pipeline.Hasher {
		return pipeline.NewHasher().File("plan", m.plan).File("list", list).String("online", fmt.Sprint(f.online))
	}}
	if f.online || f.breaches != "" || exists(list) {
		// A --breaches FILE that is not there is breach's to refuse (exit 2);
		// online, a missing list is only the offline half missing.
		opts := &breach.ApplyOptions{Plan: m.plan, List: list, Online: f.online, APIKey: os.Getenv("HIBP_API_KEY")}
		if f.online {
			opts.List = f.breaches
		}
		br.run = func(ctx context.Context, out io.Writer) ([]string, error) {
			var err error
			if opts.Logger, err = m.g.logger(); err != nil {
				return nil, err
			}
			results, err := breach.Apply(ctx, opts)
			if err != nil {
				return nil, breachError(err)
			}
			breach.WriteTable(out, results, true)
			return []string{breach.Summary(results)}, nil
		}
	} else {
		m.notes = append(m.notes, `breach: skipped — no breach list yet. Run "catchall breach update" (downloads the public list), or give --breaches FILE, then migrate again.`)
	}
	out = append(out, br)

	configs := filepath.Join(f.out, "configs")
	out = append(out, step{name: "forwards", output: configs, run: func(_ context.Context, out io.Writer) ([]string, error) {
		res, err := forwards.Generate(&forwards.GenerateOptions{Plan: m.plan, Formats: m.formats, Out: configs, DefaultTo: f.forwardTo, CatchAll: f.catchAll})
		err = reportForwards(out, m.g.stderr, res, err)
		var sum []string
		if res != nil {
			for _, fr := range res.Formats {
				sum = append(sum, formatLine(fr))
			}
		}
		return sum, err
	}, inputs: func() *pipeline.Hasher {
		return pipeline.NewHasher().File("plan", m.plan).String("formats", f.formats).String("to", f.forwardTo+" "+f.catchAll)
	}})

	page := filepath.Join(f.out, "report.html")
	out = append(out, step{name: "report", output: page, run: func(ctx context.Context, out io.Writer) ([]string, error) {
		res, err := report.Generate(ctx, &report.GenerateOptions{Plan: m.plan, Archive: f.archive, Out: page})
		if err != nil {
			return nil, inventoryError(err, "run migrate without --no-fetch")
		}
		line := reportLine(page, res)
		fmt.Fprintln(out, line)
		return []string{line}, nil
	}, inputs: func() *pipeline.Hasher { return arch().File("plan", m.plan) }})

	push := step{name: "push", inputs: func() *pipeline.Hasher {
		// Not the plan: the journal keeps pushed mail where it went, so a
		// plan edit would only cost a run that appends nothing.
		return arch().String("to", f.dst.url).String("split", f.splitBy)
	}}
	if f.dst.url != "" {
		push.run = func(ctx context.Context, out io.Writer) ([]string, error) {
			planFile := ""
			if m.splitBy != classify.SplitNone {
				planFile = m.plan
			}
			t, err := openPushTarget(ctx, m.g, &f.dst, connFlags{timeout: defaultTimeout}, f.archive, m.splitBy, planFile)
			if err != nil {
				return nil, err
			}
			defer t.arc.Close()
			rep, err := t.push(ctx, m.g, imapsync.PushOptions{Connections: f.connections})
			err = reportPush(out, m.g.stderr, rep, err, false, false)
			if rep == nil {
				return nil, err
			}
			return []string{pushLine(rep)}, err
		}
	}
	out = append(out, push)
	return out
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// exec runs one step, with what it prints kept in OUT/logs/STEP.log and
// its summary lines shown; errors go to stderr as they happen.
func (m *migration) exec(s step) int {
	var out bytes.Buffer
	summary, err := s.run(m.cmd.Context(), &out)
	code := exitCode(m.g.stderr, err)
	logPath := filepath.Join(m.f.out, "logs", s.name+".log")
	if err := os.WriteFile(logPath, out.Bytes(), 0o600); err != nil {
		fmt.Fprintf(m.g.stderr, "catchall: migrate: writing %s: %v\n", logPath, err)
	}
	if !m.g.quiet {
		for _, l := range summary {
			fmt.Fprintf(m.g.stdout, "    %s\n", l)
		}
	}
	return code
}

func (m *migration) progress(format string, args ...any) {
	if !m.g.quiet {
		fmt.Fprintf(m.g.stdout, format+"\n", args...)
	}
}

// summary says what the migration found and wrote, and what to do next.
func (m *migration) summary() {
	w := m.g.stdout
	fmt.Fprintln(w)
	plan, err := classify.ReadPlan(m.plan)
	if err != nil {
		fmt.Fprintf(w, "no plan yet (%v)\n", err)
		return
	}
	tags, blocked := plan.Counts()
	fmt.Fprintf(w, "%d aliases: %d personal, %d business, %d disposable; %d to forward, %d to block\n",
		len(plan.Rows), tags["personal"], tags["business"], tags["disposable"], len(plan.Rows)-blocked, blocked)
	verdicts := map[string]int{}
	hasBreach := false
	for _, r := range plan.Rows {
		if v := r["breach_verdict"]; v != "" {
			verdicts[v]++
			hasBreach = true
		}
	}
	if hasBreach {
		fmt.Fprintf(w, "breach check: %d breached, %d leaked, %d only in aggregate lists, %d never given out, %d clean\n",
			verdicts["breached"], verdicts["leaked"], verdicts["aggregate"], verdicts["never-given"], verdicts["clean"])
	}
	top := topAliases(plan, 10)
	if len(top) > 0 {
		fmt.Fprintln(w, "busiest aliases:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  ALIAS\tTAG\tACTION\tMESSAGES\tBREACH")
		for _, r := range top {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", r["alias"], r["tag"], r["action"], r["messages"], r["breach_verdict"])
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "written:\n  %s\tthe archive (Maildir per folder + index.db)\n  %s\tthe plan: review tag, action, forward_to\n", m.f.archive, m.plan)
	if exists(filepath.Join(m.f.out, "configs")) {
		fmt.Fprintf(w, "  %s\tconfigs, one directory per format, each with INSTALL.txt\n", filepath.Join(m.f.out, "configs"))
	}
	if exists(filepath.Join(m.f.out, "report.html")) {
		fmt.Fprintf(w, "  %s\topen it in a browser\n", filepath.Join(m.f.out, "report.html"))
	}
	fmt.Fprintf(w, "  %s\teach step's full output\n", filepath.Join(m.f.out, "logs"))
	if len(m.skipped) > 0 {
		fmt.Fprintf(w, "up to date, not run again: %s\n", strings.Join(m.skipped, ", "))
	}
	for _, n := range m.notes {
		fmt.Fprintln(w, n)
	}
	if hasBreach {
		fmt.Fprintln(w, breach.Attribution)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "next:")
	fmt.Fprintf(w, "  1. review %s (or the report); edit tag, action, forward_to — your edits are kept\n", m.plan)
	fmt.Fprintf(w, "  2. run this command again: only what depends on the plan is regenerated\n")
	fmt.Fprintf(w, "  3. install the configs (see %s)\n", filepath.Join(m.f.out, "configs", "*", "INSTALL.txt"))
	if master := m.relayPlan(); master != "" {
		fmt.Fprintf(w, "  4. the relay (%s) serves %s: that file is the master plan now — edit it there;\n", m.f.relayConfig, master)
		fmt.Fprintf(w, "     bring this run's tags and breach blocks over with \"catchall classify --archive %s --plan %s\" and \"catchall breach --plan %s\" (your edits there are kept)\n",
			m.f.archive, master, master)
	} else {
		fmt.Fprintf(w, "  4. or point your MX at \"catchall relay --plan %s\" to keep burner addresses alive\n", m.plan)
	}
	if m.f.dst.url == "" {
		fmt.Fprintln(w, "  5. upload the history to the new account: migrate again with --to URL (or catchall push)")
	}
}

// relayPlan is the plan file the relay's config names, when there is a
// config and it names another file than this run's plan; "" otherwise.
func (m *migration) relayPlan() string {
	var cfg struct {
		Plan string `toml:"plan"`
	}
	if m.f.relayConfig == "" {
		return ""
	}
	if _, err := toml.DecodeFile(m.f.relayConfig, &cfg); err != nil || cfg.Plan == "" {
		return ""
	}
	a, _ := filepath.Abs(cfg.Plan)
	b, _ := filepath.Abs(m.plan)
	if a == b {
		return ""
	}
	return cfg.Plan
}

// topAliases returns the n rows with the most messages.
func topAliases(plan *classify.Plan, n int) []classify.Row {
	rows := append([]classify.Row(nil), plan.Rows...)
	num := func(r classify.Row) int {
		var v int
		fmt.Sscan(r["messages"], &v)
		return v
	}
	sort.SliceStable(rows, func(i, j int) bool { return num(rows[i]) > num(rows[j]) })
	if len(rows) > n {
		rows = rows[:n]
	}
	return rows
}
