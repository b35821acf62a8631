package report

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/catchall/catchall/classify"
)

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.csv")
	os.WriteFile(plan, []byte("alias,tag,action,forward_to\nshop@example.org,disposable,block,\nme@example.org,personal,forward,me@new.example\n"), 0o600)
	out := filepath.Join(dir, "report.html")
	burners := []Burner{{Alias: "shop@example.org"}, {Alias: "adobe.x7k2pq@example.org", Service: "adobe"}}
	res, err := Generate(context.Background(), &GenerateOptions{Plan: plan, Out: out, Options: &Options{Burners: burners}})
	if err != nil {
		t.Fatal(err)
	}
	if *res != (Generated{Aliases: 2, Store: true, Burners: 2, Outside: 1}) {
		t.Errorf("result %+v", res)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("page: %v", err)
	}
	if res, err := Generate(context.Background(), &GenerateOptions{Plan: plan, Out: out}); err != nil || res.Store || res.Archive {
		t.Errorf("without store and archive: %+v %v", res, err)
	}
	var ie *classify.InputError
	if _, err := Generate(context.Background(), &GenerateOptions{Plan: filepath.Join(dir, "none.csv"), Out: out}); !errors.As(err, &ie) {
		t.Errorf("no plan: %v, want an InputError", err)
	}
	if _, err := Generate(context.Background(), &GenerateOptions{Plan: plan, Archive: dir, Out: out}); !errors.Is(err, classify.ErrNotArchive) {
		t.Errorf("not an archive: %v", err)
	}
}
