// Command demo is `make demo`: it starts an embedded IMAP server (go-imap's
// memory server, in this process, on 127.0.0.1) holding a generated catch-all
// mailbox, and runs the real catchall binary against it: migrate (fetch,
// classify, breach on a bundled sample of the breach list, forwards, report),
// migrate again (everything up to date), then the plan's alias table. No network,
// no root, no system packages. Everything is left in OUT: archive/,
// plan.csv, configs/, report.html, logs/.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/internal/corpus"
	"github.com/catchall/catchall/internal/imaptest"
)

func main() {
	bin := flag.String("catchall", "bin/catchall", "the catchall binary to run")
	out := flag.String("out", "demo-out", "output directory")
	messages := flag.Int("messages", 2000, "ordinary messages in the generated mailbox")
	flag.Parse()
	if err := run(os.Stdout, *bin, *out, *messages); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(stdout io.Writer, bin, out string, messages int) error {
	c := corpus.Generate(&corpus.Options{Seed: 1, Messages: messages, HugeSize: 4 << 20})
	srv, err := imaptest.Start(nil)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Seed(c); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo: an embedded IMAP server on 127.0.0.1 holds a catch-all mailbox for %s: %d messages in %d folders, %d aliases\n",
		c.Domain, len(c.Messages), len(c.Folders), len(c.Aliases))

	arch := filepath.Join(out, "archive")
	for _, p := range []string{arch, filepath.Join(out, ".catchall-migrate.json"), filepath.Join(out, "plan.csv"), filepath.Join(out, "configs")} {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return err
	}
	migrate := []string{"migrate", "--from", srv.URL(), "--archive", arch, "--out", out,
		"--forward-to", "me@new-host.example",
		// A sample of the public breach list (real breaches, HIBP's format):
		// the demo must not touch the network. Users run "catchall breach update".
		"--breaches", "classify/breach/testdata/breaches.json"}
	steps := [][]string{
		migrate,
		// Run again: fetch finds nothing new, every other step is up to date.
		migrate,
	}
	for _, args := range steps {
		fmt.Fprintf(stdout, "\n$ catchall %s\n", strings.ReplaceAll(shellJoin(args), srv.URL(), "imap+plain://demo@127.0.0.1:PORT"))
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "CATCHALL_PASSWORD="+srv.Password, "CATCHALL_DEMO=1")
		// The server's port changes from run to run; the output should not.
		w := &replacer{w: stdout, old: srv.Addr, new: "127.0.0.1:PORT"}
		cmd.Stdout, cmd.Stderr = w, w
		err := cmd.Run()
		w.Flush()
		if err != nil {
			return fmt.Errorf("catchall %s: %w", args[0], err)
		}
	}
	plan, err := classify.ReadPlan(filepath.Join(out, "plan.csv"))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nThe plan, %d aliases:\n", len(plan.Rows))
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ALIAS\tTAG\tACTION\tFORWARD_TO\tMESSAGES\tFIRST\tLAST\tBREACH")
	for _, r := range plan.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r["alias"], r["tag"], r["action"], r["forward_to"],
			r["messages"], r["first_seen"], r["last_seen"], r["breach_verdict"])
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\ndemo: everything is in %s: archive/ (Maildir per folder + index.db; `mutt -f %s/INBOX` reads it), plan.csv, configs/, report.html, logs/\n", out, arch)
	fmt.Fprintf(stdout, "demo: review %s — edit tag, action and forward_to — and run the same migrate again: your edits are kept, and only what depends on the plan is regenerated\n", filepath.Join(out, "plan.csv"))
	return nil
}

// replacer writes to w with every old replaced by new, line by line.
type replacer struct {
	w        io.Writer
	old, new string
	buf      []byte
}

func (r *replacer) Write(p []byte) (int, error) {
	r.buf = append(r.buf, p...)
	if i := bytes.LastIndexByte(r.buf, '\n'); i >= 0 {
		if _, err := r.w.Write(bytes.ReplaceAll(r.buf[:i+1], []byte(r.old), []byte(r.new))); err != nil {
			return 0, err
		}
		r.buf = append(r.buf[:0], r.buf[i+1:]...)
	}
	return len(p), nil
}

// Flush writes what is left.
func (r *replacer) Flush() {
	r.w.Write(bytes.ReplaceAll(r.buf, []byte(r.old), []byte(r.new)))
	r.buf = r.buf[:0]
}

func shellJoin(args []string) string {
	s := ""
	for i, a := range args {
		if i > 0 {
			s += " "
		}
		s += a
	}
	return s
}
