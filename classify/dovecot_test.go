package classify

// Acceptance against the real Dovecot of scripts/test.sh (make test): the
// generated corpus is read three ways — Dovecot's own Maildir of user alice
// (LAYOUT=fs, modified UTF-7 names on disk), of user courier (Maildir++
// dot-folders), and the archive fetched from alice over IMAP — and each must
// give the same inventory, tagged as labelled.

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/imapsync"
	"github.com/catchall/catchall/internal/corpus"
	"github.com/catchall/catchall/internal/testtools"
	"github.com/catchall/catchall/serverurl"
)

func TestDovecotSources(t *testing.T) {
	env := testtools.NeedDovecot(t)
	truth, err := corpus.ReadTruth(env.Corpus)
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(env.Dir, "mail")

	// The archive, fetched from alice.
	arcDir := filepath.Join(t.TempDir(), "archive")
	arc, err := archive.Open(arcDir)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := serverurl.Parse("imap+plain://alice@"+env.IMAPAddr, "imap")
	rep, err := imapsync.Fetch(context.Background(), &imapsync.Server{URL: u, Password: "secret", IdleTimeout: 30 * time.Second}, arc, nil)
	arc.Close()
	if err != nil || len(rep.Failures) > 0 {
		t.Fatalf("fetch: %v %v", err, rep)
	}

	sources := []Source{
		&ArchiveSource{Dir: arcDir},
		&MaildirSource{Dir: filepath.Join(home, "alice", "Maildir")},
		&MaildirSource{Dir: filepath.Join(home, "courier", "Maildir")},
	}
	var first map[string]string
	for _, src := range sources {
		t.Run(src.String(), func(t *testing.T) {
			inv, err := Build(context.Background(), src, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(inv.Summary())
			if inv.FinalMailbox != truth.FinalMailbox || !slices.Equal(inv.Domains, []string{truth.Domain}) {
				t.Errorf("detected %v / %q, want %s / %s", inv.Domains, inv.FinalMailbox, truth.Domain, truth.FinalMailbox)
			}
			// Same aliases, counts and folders whichever way the mail is stored.
			got := map[string]string{}
			folders := map[string]bool{}
			for a, s := range inv.Aliases {
				got[a] = fmt.Sprintf("received %d sent %d", s.Received, s.Sent)
				for f := range s.Folders {
					folders[f] = true
				}
			}
			for _, want := range []string{"Réception/Factures", "Работа", "Archive/2019", "Sent"} {
				if !folders[want] {
					t.Errorf("no alias seen in folder %q (folder names decoded wrongly?)", want)
				}
			}
			if first == nil {
				first = got
			} else {
				for a, v := range first {
					if got[a] != v {
						t.Errorf("%s: %s here, %s in the archive", a, got[a], v)
					}
				}
				if len(got) != len(first) {
					t.Errorf("%d aliases here, %d in the archive", len(got), len(first))
				}
			}
			if acc := score(t, inv, truth.Aliases); acc < 0.95 {
				t.Errorf("accuracy %.1f%% is below 95%%", 100*acc)
			}
		})
	}
}
