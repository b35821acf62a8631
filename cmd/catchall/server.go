package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/catchall/catchall/imapsync"
	"github.com/catchall/catchall/internal/cli"
	"github.com/catchall/catchall/internal/secret"
	"github.com/catchall/catchall/serverurl"
)

// account names the flags and the environment variable that say how to
// reach one side of the migration, with their help texts.
type account struct {
	urlFlag, fileFlag, commandFlag, env string
	schemesHelp, fileHelp, commandHelp  string
}

const imapSchemes = "imaps://USER@HOST[:PORT], imap://USER@HOST[:PORT] (STARTTLS required) or imap+plain://USER@HOST:PORT"

var (
	// source is the old account: fetch, verify --from, migrate --from.
	source = account{urlFlag: "from", fileFlag: "password-file", commandFlag: "password-command", env: "CATCHALL_PASSWORD",
		schemesHelp: imapSchemes + " (no TLS; loopback and tests only)",
		fileHelp:    "read the password from the first line of `FILE` (default: env CATCHALL_PASSWORD)",
		commandHelp: "run `CMD` with /bin/sh and use the first line it prints as the password"}
	// destination is the new account: push, verify --to, migrate --to.
	destination = account{urlFlag: "to", fileFlag: "dest-password-file", commandFlag: "dest-password-command", env: "CATCHALL_DEST_PASSWORD",
		schemesHelp: imapSchemes,
		fileHelp:    "destination password from the first line of `FILE` (default: env CATCHALL_DEST_PASSWORD)",
		commandHelp: "destination password from the first line `CMD` prints"}
)

// serverFlags are the flags that say how to reach one IMAP account: its
// URL and where its password comes from.
type serverFlags struct {
	account
	url, passwordFile, passwordCommand string
}

// register adds the account's flags; what starts the URL's help.
func (s *serverFlags) register(fs *pflag.FlagSet, what string) {
	s.registerHelp(fs, what+" `URL`: "+s.schemesHelp, s.fileHelp, s.commandHelp)
}

// registerHelp adds the account's flags with these help texts.
func (s *serverFlags) registerHelp(fs *pflag.FlagSet, urlHelp, fileHelp, commandHelp string) {
	fs.StringVar(&s.url, s.urlFlag, "", urlHelp)
	fs.StringVar(&s.passwordFile, s.fileFlag, "", fileHelp)
	fs.StringVar(&s.passwordCommand, s.commandFlag, "", commandHelp)
}

// folderFlags choose the folders of the old account: --folder, --exclude.
type folderFlags struct {
	include, exclude []string
}

// register adds the flags; verb says what is done with the folders.
func (f *folderFlags) register(fs *pflag.FlagSet, verb string) {
	fs.StringArrayVar(&f.include, "folder", nil, verb+" only folders matching `GLOB` (repeatable)")
	fs.StringArrayVar(&f.exclude, "exclude", nil, "leave out folders matching `GLOB` (repeatable)")
}

// connFlags are how a connection is made, whichever account it goes to.
type connFlags struct {
	tlsCA   string
	timeout time.Duration
}

// defaultTimeout is --timeout's default.
const defaultTimeout = time.Minute

func (c *connFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.tlsCA, "tls-ca", "", "trust the CA certificates in PEM `FILE` (a private CA) instead of the system's")
	fs.DurationVar(&c.timeout, "timeout", defaultTimeout, "give up on a connection when the server sends nothing for this long")
}

// server builds the imapsync.Server from the flags.
func (s *serverFlags) server(ctx context.Context, g *globals, conn connFlags) (*imapsync.Server, error) {
	if s.url == "" {
		return nil, cli.Usagef("--%s is required", s.urlFlag)
	}
	u, err := serverurl.ParseFor(s.url, "imap", fmt.Sprintf("%s, --%s or --%s", s.env, s.fileFlag, s.commandFlag))
	if err != nil {
		return nil, cli.Exit(cli.ExitUsage, err)
	}
	pw, err := secret.Source{Env: s.env, File: s.passwordFile, Command: s.passwordCommand}.Get(ctx)
	if err != nil {
		return nil, cli.Exit(cli.ExitUsage, err)
	}
	tlsConfig, err := tlsConfigFromCA(conn.tlsCA)
	if err != nil {
		return nil, cli.Exit(cli.ExitUsage, err)
	}
	logger, err := g.logger()
	if err != nil {
		return nil, err
	}
	srv := &imapsync.Server{URL: u, Password: pw, TLSConfig: tlsConfig, IdleTimeout: conn.timeout, Logger: logger}
	if g.verbose {
		srv.Debug = g.stderr
	}
	return srv, nil
}

// explain adds to a refused login where the password came from and the
// other ways to give it.
func (s *serverFlags) explain(err error) error {
	if !errors.Is(err, imapsync.ErrAuth) {
		return err
	}
	ways := []string{"env " + s.env, "--" + s.fileFlag + " FILE", "--" + s.commandFlag + " CMD"}
	used := 0
	switch {
	case s.passwordFile != "":
		used, ways[1] = 1, "--"+s.fileFlag+" "+s.passwordFile
	case s.passwordCommand != "":
		used = 2
	}
	from := ways[used]
	others := append(append([]string(nil), ways[:used]...), ways[used+1:]...)
	return fmt.Errorf("%w; the password came from %s (or give it with %s)", err, from, strings.Join(others, " or "))
}

// tlsConfigFromCA returns a TLS configuration trusting the PEM certificates
// in caFile (--tls-ca) and nothing else (a private CA), or nil for "".
func tlsConfigFromCA(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading --tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
