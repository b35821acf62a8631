package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/catchall/catchall/forwards/relay/systemd"
)

// TestConffileHasEveryRelayFlag: the packaged /etc/catchall/relay.toml
// names every flag of catchall relay as a commented-out key, and with the
// keys uncommented it is a config file the relay takes (each key once,
// each value of its flag's type).
func TestConffileHasEveryRelayFlag(t *testing.T) {
	conf := systemd.Conffile()
	keys := map[string]int{}
	var uncommented []string
	for _, m := range systemd.CommentedKey.FindAllStringSubmatch(conf, -1) {
		keys[m[1]]++
		uncommented = append(uncommented, m[1]+" = "+m[2])
	}
	relay, _, err := newRoot(&globals{stdout: os.Stdout, stderr: os.Stderr}).Find([]string{"relay"})
	if err != nil {
		t.Fatal(err)
	}
	relay.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && keys[f.Name] == 0 {
			t.Errorf("--%s is not in the packaged relay.toml as \"# %s = …\" (add it to forwards/relay/systemd/relay.toml)", f.Name, f.Name)
		}
	})
	for k, n := range keys {
		if n > 1 {
			t.Errorf("key %s is in the packaged relay.toml %d times", k, n)
		}
	}

	// relay check reports the config file's problems as "--config FILE: …".
	path := filepath.Join(t.TempDir(), "relay.toml")
	if err := os.WriteFile(path, []byte(strings.Join(uncommented, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, errOut := runCheck(t, &fakeDNS{err: errors.New("offline")}, "--config", path, "--timeout", "1ms")
	if strings.Contains(errOut, "error: --config ") {
		t.Errorf("the packaged relay.toml, uncommented, is not a config of catchall relay:\n%s", errOut)
	}
}
