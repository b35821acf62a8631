package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/catchall/catchall/forwards/dkimkey"
	"github.com/catchall/catchall/internal/cli"
)

func dkimCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dkim",
		Short: "Make the key the relay DKIM-signs your domains' mail with",
	}
	var domain, selector, out, typ string
	newCmd := &cobra.Command{
		Use:   "new --domain D --selector S --out FILE [--type rsa|ed25519]",
		Short: "Write a new DKIM private key and print the DNS record to publish",
		Long: `Write a new DKIM private key to --out (PEM, PKCS#8, mode 0600; an existing
file is never replaced) and print the TXT record to publish in the zone of
--domain, for example:

  s2025._domainkey.example.org. IN TXT "v=DKIM1; k=rsa; p=MIIBIjAN…" "…"

An RSA key's record is longer than one DNS string (255 bytes) and is printed
as several quoted strings, which DNS servers and verifiers join.

--type rsa (2048 bits, the default) is verified by every receiver;
ed25519 (RFC 8463) is short, but a receiver that does not know it sees an
unsigned message, and DMARC fails. Then run the relay with --dkim-key FILE
--dkim-selector S: it signs mail whose From: is at any of its domains, so
publish the record at each of them (the same key serves them all).`,
		Example: "  catchall dkim new --domain example.org --selector s2025 --out /etc/catchall/dkim.key",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if domain == "" || selector == "" || out == "" {
				return cli.Usagef("--domain, --selector and --out are required")
			}
			if err := dkimkey.CheckSelector(selector); err != nil {
				return cli.Usagef("--selector: %v", err)
			}
			t := dkimkey.Type(typ)
			if t != dkimkey.RSA && t != dkimkey.Ed25519 {
				return cli.Usagef("--type %q: give rsa or ed25519", typ)
			}
			if _, err := dkimkey.Name(domain, selector); err != nil {
				return cli.Usagef("--domain %s: not a domain name", domain)
			}
			key, err := dkimkey.Create(out, t)
			if errors.Is(err, fs.ErrExist) {
				return cli.Exit(cli.ExitUsage, err)
			}
			if err != nil {
				return err
			}
			rec, err := dkimkey.Record(domain, selector, key)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, rec)
			return nil
		},
	}
	fs := newCmd.Flags()
	fs.StringVar(&domain, "domain", "", "the `DOMAIN` the record is published in (IDN in any form; printed in punycode)")
	fs.StringVar(&selector, "selector", "", "the `SELECTOR`: the record goes to SELECTOR._domainkey.DOMAIN (a new one for each new key)")
	fs.StringVar(&out, "out", "", "write the private key to the new `FILE` (0600)")
	fs.StringVar(&typ, "type", string(dkimkey.DefaultType), "key `TYPE`: rsa (2048 bits, verified everywhere) or ed25519")
	cmd.AddCommand(newCmd)
	return cmd
}
