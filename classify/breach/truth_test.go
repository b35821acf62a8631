package breach

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/internal/corpus"
)

// TestGroundTruth runs the whole chain on the generated corpus — Maildir,
// inventory, classify's plan rows, breach with the fixture list (which holds
// the corpus's breaches in the real /breaches shape) — and compares the
// breached and leaked aliases with the ground truth.
func TestGroundTruth(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			c := corpus.Generate(&corpus.Options{Seed: seed, Messages: 3000, HugeMessages: -1})
			dir := filepath.Join(t.TempDir(), "maildir")
			if err := c.WriteMaildir(dir); err != nil {
				t.Fatal(err)
			}
			inv, err := classify.Build(context.Background(), &classify.MaildirSource{Dir: dir}, nil)
			if err != nil {
				t.Fatal(err)
			}
			p := &classify.Plan{}
			p.Merge((&classify.Config{MainMailbox: "me@new.example"}).Rows(inv))
			results := Decide(p, &Input{List: fixture(t)})

			// The truth, as far as mail can show it: a leak is visible once
			// at least two spam messages arrived (one could be chance). A
			// base address that folds several subaddresses (news+heise@,
			// news+spiegel@: one service each) is ambiguous by construction
			// and left out.
			spam := map[string]int{}
			for _, m := range c.Messages {
				if m.Origin == "spam" {
					spam[strings.ToLower(m.Alias)]++
				}
			}
			folded := map[string]int{}
			for _, a := range c.Aliases {
				base, _ := classify.SplitSubaddress(strings.ToLower(a.Address))
				folded[base]++
			}
			wantBreached, wantLeaked, wantNever := map[string]bool{}, map[string]bool{}, map[string]bool{}
			for _, a := range c.Aliases {
				base, _ := classify.SplitSubaddress(strings.ToLower(a.Address))
				switch {
				case folded[base] > 1:
				case a.NeverGiven:
					wantNever[base] = true // only spam: not leaked, never given
				case len(a.Breaches) > 0:
					wantBreached[base] = true
				case !a.Leaked.IsZero() && spam[strings.ToLower(a.Address)] >= 2:
					wantLeaked[base] = true
				}
			}
			gotBreached, gotLeaked, gotNever := map[string]bool{}, map[string]bool{}, map[string]bool{}
			for _, r := range results {
				if folded[r.Alias] > 1 {
					continue
				}
				switch r.Verdict {
				case VerdictBreached:
					gotBreached[r.Alias] = true
				case VerdictLeaked:
					gotLeaked[r.Alias] = true
				case VerdictNeverGiven:
					gotNever[r.Alias] = true
				}
			}
			compare(t, "breached", gotBreached, wantBreached)
			compare(t, "leaked", gotLeaked, wantLeaked)
			compare(t, "never given out", gotNever, wantNever)
		})
	}
}

func compare(t *testing.T, what string, got, want map[string]bool) {
	t.Helper()
	var extra, missing []string
	for a := range got {
		if !want[a] {
			extra = append(extra, a)
		}
	}
	for a := range want {
		if !got[a] {
			missing = append(missing, a)
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	keys := make([]string, 0, len(want))
	for a := range want {
		keys = append(keys, a)
	}
	slices.Sort(keys)
	t.Logf("%s: %d expected %v", what, len(want), keys)
	if len(extra)+len(missing) > 0 {
		t.Errorf("%s: %d wrongly, %d missed: extra %v, missing %v", what, len(extra), len(missing), extra, missing)
	}
}
