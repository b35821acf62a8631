package main

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
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

// TestUnitLetsRelayWritePlan: the relay writes its plan (dashboard edits,
// the breach watch) through a temporary file beside it, and the unit's
// ProtectSystem=strict makes everything read-only but its state directory
// and ReadWritePaths: the sample config's plan must be in one of them, in
// the manual unit and the packaged one.
func TestUnitLetsRelayWritePlan(t *testing.T) {
	m := regexp.MustCompile(`(?m)^plan = "([^"]+)"`).FindStringSubmatch(systemd.SampleConfig)
	if m == nil {
		t.Fatal("the sample config names no plan")
	}
	plan := m[1]
	for name, unit := range map[string]string{"manual": systemd.Unit, "packaged": systemd.PackagedUnit()} {
		if !strings.Contains(unit, "\nProtectSystem=strict\n") {
			t.Errorf("%s unit: not ProtectSystem=strict", name)
		}
		var writable []string
		for _, line := range strings.Split(unit, "\n") {
			k, v, _ := strings.Cut(line, "=")
			switch k {
			case "StateDirectory":
				for _, d := range strings.Fields(v) {
					writable = append(writable, "/var/lib/"+d)
				}
			case "ReadWritePaths":
				for _, d := range strings.Fields(v) {
					writable = append(writable, strings.TrimPrefix(d, "-"))
				}
			}
		}
		ok := false
		for _, d := range writable {
			ok = ok || filepath.Dir(plan) == d || strings.HasPrefix(plan, d+"/")
		}
		if !ok {
			t.Errorf("%s unit: the plan %s is not in a directory the relay may write (%v)", name, plan, writable)
		}
	}
}
