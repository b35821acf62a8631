// Command debfiles writes the relay's systemd unit and configuration as the
// Debian package installs them (package forwards/relay/systemd: the unit
// running /usr/bin/catchall, relay.toml with every key commented out), for
// scripts/deb.sh.
//
// Usage:
//
//	go run ./scripts/debfiles -unit FILE -template FILE -conffile FILE
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/catchall/catchall/forwards/relay/systemd"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "debfiles:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("debfiles", flag.ContinueOnError)
	unit := fs.String("unit", "", "write the packaged catchall-relay.service to `FILE`")
	template := fs.String("template", "", "write the packaged catchall-relay@.service to `FILE`")
	conffile := fs.String("conffile", "", "write the packaged relay.toml to `FILE`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *unit == "" || *template == "" || *conffile == "" || fs.NArg() > 0 {
		return errors.New("usage: debfiles -unit FILE -template FILE -conffile FILE")
	}
	if err := os.WriteFile(*unit, []byte(systemd.PackagedUnit()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(*template, []byte(systemd.TemplateUnit(systemd.PackagedBinary)), 0o644); err != nil {
		return err
	}
	return os.WriteFile(*conffile, []byte(systemd.Conffile()), 0o644)
}
