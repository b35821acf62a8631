package main

import (
	"context"
	"time"

	"github.com/spf13/pflag"

	"github.com/catchall/catchall/imapsync"
	"github.com/catchall/catchall/internal/cli"
	"github.com/catchall/catchall/internal/secret"
	"github.com/catchall/catchall/internal/serverurl"
)

// serverFlags are the flags that say how to reach one IMAP server.
type serverFlags struct {
	url             string
	passwordFile    string
	passwordCommand string
	tlsCA           string
	timeout         time.Duration
}

func (s *serverFlags) register(fs *pflag.FlagSet, urlFlag, what string) {
	fs.StringVar(&s.url, urlFlag, "", what+" `URL`: imaps://USER@HOST[:PORT], imap://USER@HOST[:PORT] (STARTTLS required) or imap+plain://USER@HOST:PORT (no TLS; loopback and tests only)")
	fs.StringVar(&s.passwordFile, "password-file", "", "read the password from the first line of `FILE` (default: env CATCHALL_PASSWORD)")
	fs.StringVar(&s.passwordCommand, "password-command", "", "run `CMD` with /bin/sh and use the first line it prints as the password")
	fs.StringVar(&s.tlsCA, "tls-ca", "", "trust the CA certificates in PEM `FILE` (a private CA) instead of the system's")
	fs.DurationVar(&s.timeout, "timeout", time.Minute, "give up on a connection when the server sends nothing for this long")
}

// server builds the imapsync.Server from the flags.
func (s *serverFlags) server(ctx context.Context, g *globals, urlFlag string) (*imapsync.Server, error) {
	if s.url == "" {
		return nil, cli.Usagef("--%s is required", urlFlag)
	}
	u, err := serverurl.Parse(s.url, "imap")
	if err != nil {
		return nil, cli.Exit(cli.ExitUsage, err)
	}
	pw, err := secret.Source{Env: "CATCHALL_PASSWORD", File: s.passwordFile, Command: s.passwordCommand}.Get(ctx)
	if err != nil {
		return nil, cli.Exit(cli.ExitUsage, err)
	}
	tlsConfig, err := imapsync.TLSConfigFromCA(s.tlsCA)
	if err != nil {
		return nil, cli.Exit(cli.ExitUsage, err)
	}
	logger, err := cli.Logger(g.stderr, g.logFormat, g.verbose, g.quiet)
	if err != nil {
		return nil, err
	}
	srv := &imapsync.Server{URL: u, Password: pw, TLSConfig: tlsConfig, IdleTimeout: s.timeout, Logger: logger}
	if g.verbose {
		srv.Debug = g.stderr
	}
	return srv, nil
}
