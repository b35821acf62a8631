package classify

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/catchall/catchall/internal/corpus"
)

// TestAccuracy tags the generated corpus (all five recipient-header styles)
// and compares with its ground truth: at least 97% of aliases must be tagged
// as labelled. Subaddressed truth aliases (news+heise@) are folded into
// their base (news@), as the inventory counts them.
func TestAccuracy(t *testing.T) {
	for _, seed := range []int64{1, 2} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			c := corpus.Generate(&corpus.Options{Seed: seed, Messages: 4000, HugeSize: 1 << 20})
			dir := filepath.Join(t.TempDir(), "maildir")
			if err := c.WriteMaildir(dir); err != nil {
				t.Fatal(err)
			}
			inv, err := Build(context.Background(), &MaildirSource{Dir: dir}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(inv.Domains, ",") != c.Domain || inv.FinalMailbox != c.FinalMailbox {
				t.Errorf("detected domains %v, final %q; want %s, %s", inv.Domains, inv.FinalMailbox, c.Domain, c.FinalMailbox)
			}
			if acc := score(t, inv, c.Aliases); acc < 0.97 {
				t.Errorf("accuracy %.1f%% is below 97%%", 100*acc)
			}
		})
	}
}

// score tags every alias of inv, compares with the ground truth, logs the
// confusion matrix and the misses, and returns the accuracy.
func score(t *testing.T, inv *Inventory, aliases []corpus.Alias) float64 {
	t.Helper()
	truth := map[string]map[string]int{}
	for _, a := range aliases {
		base, _ := SplitSubaddress(strings.ToLower(a.Address))
		if truth[base] == nil {
			truth[base] = map[string]int{}
		}
		truth[base][a.Tag]++
	}
	cfg := &Config{MainMailbox: "me@new.example"}
	confusion := map[[2]string]int{}
	var wrong []string
	ok, total := 0, 0
	for base, tags := range truth {
		want := ""
		for tag, n := range tags {
			if n > tags[want] {
				want = tag
			}
		}
		got := "missing"
		if s := inv.Aliases[base]; s != nil {
			v := cfg.Classify(s)
			checkReasons(t, s, v)
			got = string(v.Tag)
			if got != want {
				wrong = append(wrong, fmt.Sprintf("%s: %s, want %s (%s)", base, got, want, strings.Join(v.Reasons, "; ")))
			}
		} else {
			wrong = append(wrong, base+": not found")
		}
		confusion[[2]string{want, got}]++
		total++
		if got == want {
			ok++
		}
	}
	for a := range inv.Aliases {
		if truth[a] == nil {
			wrong = append(wrong, a+": found but not in the truth")
		}
	}
	sort.Strings(wrong)
	var b strings.Builder
	fmt.Fprintf(&b, "confusion matrix (rows: truth, columns: tagged)\n%-12s %10s %10s %10s %10s\n", "", "personal", "business", "disposable", "missing")
	for _, want := range []string{"personal", "business", "disposable"} {
		fmt.Fprintf(&b, "%-12s", want)
		for _, got := range []string{"personal", "business", "disposable", "missing"} {
			fmt.Fprintf(&b, " %10d", confusion[[2]string{want, got}])
		}
		b.WriteByte('\n')
	}
	acc := float64(ok) / float64(total)
	fmt.Fprintf(&b, "accuracy %d/%d = %.1f%%", ok, total, 100*acc)
	t.Log(b.String())
	for _, w := range wrong {
		t.Log("  ", w)
	}
	return acc

}
