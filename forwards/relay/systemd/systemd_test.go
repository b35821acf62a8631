package systemd

import (
	"strings"
	"testing"

	"github.com/catchall/catchall/internal/testtools"
)

// TestPackagedUnit: the packaged unit is the manual one from [Unit] on,
// with the binary at /usr/bin.
func TestPackagedUnit(t *testing.T) {
	u := PackagedUnit()
	if strings.Contains(u, ManualBinary) || !strings.Contains(u, "\nExecStart="+PackagedBinary+" relay ") {
		t.Errorf("ExecStart of the packaged unit:\n%s", u)
	}
	body := Unit[strings.Index(Unit, "[Unit]"):]
	if got := strings.ReplaceAll(u[strings.Index(u, "[Unit]"):], PackagedBinary, ManualBinary); got != body {
		t.Errorf("the packaged unit differs from the manual one in more than the binary's path:\n%s", got)
	}
	for _, l := range strings.Split(u[:strings.Index(u, "[Unit]")], "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			t.Errorf("header line %q is not a comment", l)
		}
	}
}

// TestConffile: every key of the sample is commented out in the packaged
// configuration, and uncommenting them gives the sample's lines back.
func TestConffile(t *testing.T) {
	c := Conffile()
	for _, l := range strings.Split(c, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			t.Errorf("line %q is not commented out", l)
		}
	}
	body := c[len(conffileHeader):]
	var back []string
	for _, l := range strings.Split(body, "\n") {
		if k := keyLine.FindString(strings.TrimPrefix(l, "# ")); k != "" && strings.HasPrefix(l, "# ") && strings.Contains(SampleConfig, "\n"+strings.TrimPrefix(l, "# ")+"\n") {
			l = strings.TrimPrefix(l, "# ")
		}
		back = append(back, l)
	}
	if strings.Join(back, "\n") != SampleConfig {
		t.Error("uncommenting the packaged configuration does not give the sample back")
	}
	if n := len(CommentedKey.FindAllString(c, -1)); n < 40 {
		t.Errorf("%d commented keys; the relay has more flags", n)
	}
}

// TestTemplateUnit: catchall-relay@.service is the manual unit with the
// instance's changes (each made exactly once), and the file in this
// directory, for installing by hand, is what TemplateUnit makes.
func TestTemplateUnit(t *testing.T) {
	for _, e := range templateEdits {
		if n := strings.Count(Unit, e[0]); n != 1 {
			t.Errorf("%q occurs %d times in catchall-relay.service, want once", e[0], n)
		}
	}
	u := TemplateUnit(ManualBinary)
	for _, want := range []string{"StateDirectory=catchall-relay/%i\n", "--config /etc/catchall/relay-%i.toml \\\n",
		"--store-password-file ${CREDENTIALS_DIRECTORY}/store-password \\\n", "LoadCredential=store-password:/etc/catchall/store.password\n"} {
		if !strings.Contains(u, want) {
			t.Errorf("the template lacks %q", want)
		}
	}
	if p := TemplateUnit(PackagedBinary); strings.Contains(p, ManualBinary) {
		t.Error("the packaged template runs the manual binary")
	}
	testtools.Golden(t, "catchall-relay@.service", []byte(u), "go test ./forwards/relay/systemd -update")
}
