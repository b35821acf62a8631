// Command demo is `make demo`: it starts an embedded IMAP server (go-imap's
// memory server, in this process, on 127.0.0.1) holding a generated catch-all
// mailbox, and runs the real catchall binary against it: fetch, a second
// fetch that finds nothing new, verify, aliases, classify and breach (on a
// bundled sample of the breach list). No network, no root, no system
// packages. Then it lists the aliases and writes the plan. The archive is
// left in OUT/archive, the plan in OUT/plan.csv.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/catchall/catchall/internal/corpus"
	"github.com/catchall/catchall/internal/imaptest"
)

func main() {
	bin := flag.String("catchall", "bin/catchall", "the catchall binary to run")
	out := flag.String("out", "demo-out", "output directory")
	messages := flag.Int("messages", 2000, "ordinary messages in the generated mailbox")
	flag.Parse()
	if err := run(*bin, *out, *messages); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(bin, out string, messages int) error {
	c := corpus.Generate(&corpus.Options{Seed: 1, Messages: messages, HugeSize: 4 << 20})
	srv, err := imaptest.Start(nil)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Seed(c); err != nil {
		return err
	}
	fmt.Printf("demo: embedded IMAP server on %s holds a catch-all mailbox for %s: %d messages in %d folders, %d aliases\n",
		srv.Addr, c.Domain, len(c.Messages), len(c.Folders), len(c.Aliases))

	arch := filepath.Join(out, "archive")
	if err := os.RemoveAll(arch); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return err
	}
	steps := [][]string{
		{"fetch", "--from", srv.URL(), "--archive", arch, "--quiet"},
		{"fetch", "--from", srv.URL(), "--archive", arch, "--quiet"},
		{"verify", "--from", srv.URL(), "--archive", arch, "--quiet"},
		{"aliases", "--archive", arch},
		{"classify", "--archive", arch, "--plan", filepath.Join(out, "plan.csv"), "--main-mailbox", "me@new-host.example"},
		// A sample of the public breach list (real breaches, HIBP's format):
		// the demo must not touch the network. Users run "catchall breach update".
		{"breach", "--plan", filepath.Join(out, "plan.csv"), "--breaches", "classify/breach/testdata/breaches.json"},
	}
	for _, args := range steps {
		fmt.Printf("\n$ catchall %s\n", shellJoin(args))
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "CATCHALL_PASSWORD="+srv.Password, "CATCHALL_DEMO=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("catchall %s: %w", args[0], err)
		}
	}
	fmt.Printf("\ndemo: the archive is in %s (one Maildir per folder, index.db beside them; `mutt -f %s/INBOX` reads it)\n", arch, arch)
	fmt.Printf("demo: the plan is %s: review tag, action and forward_to, then run classify again — your edits are kept\n", filepath.Join(out, "plan.csv"))
	return nil
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
