package forwards

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/catchall/catchall/classify"
)

// Exim writes a redirect router and one lsearch file per domain: a
// blocked alias fails at RCPT time with Exim's :fail: (550 5.1.1), the
// catch-all is the lsearch* default key, and without it unknown local
// parts fail too (no_more: "550 Unrouteable address").
type Exim struct{}

// Name implements Format.
func (Exim) Name() string { return "exim" }

const (
	eximDir        = "/etc/exim4/catchall"
	eximDomains    = "/etc/exim4/catchall-domains"
	eximRouterFile = "190_catchall_aliases"
	eximFail       = ":fail: 550 5.1.1 mailbox disabled"
	// eximDebianRefused are the characters that Debian's default RCPT ACL
	// (CHECK_RCPT_LOCAL_LOCALPARTS = ^[.] : ^.*[@%!/|`#&?]) refuses in a
	// local part at a local domain.
	eximDebianRefused = "%!/|`#&?"
)

// eximKey quotes an lsearch key. Keys end at a colon or white space and a
// line starting with # is a comment; within double quotes only \ and "
// are special, and CheckAddress allows neither.
func eximKey(local string) string { return `"` + local + `"` }

// eximAddr writes a target for a redirect list: a local part with anything
// beyond letters, digits and . _ + = - is quoted (RFC 5322 quoted-string,
// the same address) so that Exim cannot read it as a pipe (|…), a file
// (/…), a comment (#…) or an include.
func eximAddr(addr string) string {
	local, domain, _ := strings.Cut(addr, "@")
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("._+=-", c) >= 0) {
			return `"` + local + `"@` + domain
		}
	}
	return addr
}

// eximLookup is the lsearch type: lsearch* makes the "*" key the default,
// for the catch-all.
func eximLookup(in *Input) string {
	if in.CatchAll != "" {
		return "lsearch*"
	}
	return "lsearch"
}

// eximRouter returns the router, reading its files under dir and domains.
func eximRouter(in *Input, domainsFile, dir string) string {
	unknown := "mail to other local parts of these domains fails (no_more: 550 Unrouteable address)"
	if in.CatchAll != "" {
		unknown = "the \"*\" key of each file is the catch-all (lsearch*)"
	}
	return fmt.Sprintf(`# Exim router written by catchall: the aliases of the plan, read from one
# lsearch file per domain in %[3]s/ (local part: targets, or
# :fail: for a blocked alias, refused at RCPT time with 550 5.1.1);
# %[4]s.
# It must come before the router that looks up remote domains (dnslookup).
catchall_aliases:
  debug_print = "R: catchall_aliases for $local_part@$domain"
  driver = redirect
  domains = lsearch;%[1]s
  # $domain_data is the domain as found in the list above: untainted,
  # so it may name a file.
  data = ${lookup{$local_part}%[2]s{%[3]s/$domain_data}}
  allow_fail
  allow_defer
  no_more
`, domainsFile, eximLookup(in), dir, unknown)
}

// Generate implements Format.
func (Exim) Generate(in *Input) (*Output, error) {
	if err := xtraCheck(in); err != nil {
		return nil, err
	}
	out := &Output{}
	out.Files = append(out.Files, File{Name: eximRouterFile, Data: []byte(eximRouter(in, eximDomains, eximDir))})

	var doms bytes.Buffer
	doms.WriteString("# Domains whose aliases the catchall_aliases router handles (Exim lsearch).\n")
	var starAliases, refused []string
	var copies []string
	for _, d := range xtraDomains(in) {
		fmt.Fprintf(&doms, "%s: %s\n", d, d)
		var b bytes.Buffer
		fmt.Fprintf(&b, "# Exim lsearch file written by catchall: the aliases of %s.\n", d)
		fmt.Fprintf(&b, "# Installed as %s/%s; read at every message, no reload needed.\n", eximDir, d)
		for _, r := range xtraRulesOf(in, d) {
			local := xtraLocal(r.Alias)
			if local == "*" && in.CatchAll != "" {
				starAliases = append(starAliases, r.Alias)
				continue
			}
			if strings.ContainsAny(local, eximDebianRefused) {
				refused = append(refused, r.Alias)
			}
			if r.Action == classify.ActionBlock {
				fmt.Fprintf(&b, "%s: %s\n", eximKey(local), eximFail)
				continue
			}
			var ts []string
			for _, t := range r.Targets {
				ts = append(ts, eximAddr(t))
			}
			fmt.Fprintf(&b, "%s: %s\n", eximKey(local), strings.Join(ts, ", "))
		}
		if in.CatchAll != "" {
			fmt.Fprintf(&b, "# Every other local part: the catch-all.\n*: %s\n", eximAddr(in.CatchAll))
		}
		name := d + ".lsearch"
		out.Files = append(out.Files, File{Name: name, Data: b.Bytes()})
		copies = append(copies, fmt.Sprintf("     install -m 0640 -g Debian-exim %s %s/%s", name, eximDir, d))
	}
	out.Files = append(out.Files, File{Name: "catchall-domains", Data: doms.Bytes()})

	domains := strings.Join(xtraDomains(in), ":")
	out.Install = fmt.Sprintf(`Installing the Exim configuration
=================================

Files: %[1]s (the router), catchall-domains (the domains it handles)
and one lsearch file per domain (DOMAIN.lsearch).

1. Install the lookup files so that Exim can read them (catchall writes
   every file 0600; Exim reads them as its own user, Debian-exim on
   Debian — elsewhere use the group Exim runs as, e.g. exim or mail):

     mkdir -p %[2]s
     install -m 0640 -g Debian-exim catchall-domains %[3]s
%[4]s

2. Install the router before the router that looks up remote domains
   (dnslookup):
   - Debian, split configuration (dc_use_split_config='true' in
     /etc/exim4/update-exim4.conf.conf):
       install -m 0644 %[1]s /etc/exim4/conf.d/router/%[1]s
   - Debian, single file: paste the file into
     /etc/exim4/exim4.conf.template right after "begin routers".
   - Elsewhere: paste it into the routers section of the file that
     "exim -bP configure_file" names, right after "begin routers".

3. Let Exim accept mail for the domains: on Debian add them to
   dc_other_hostnames in /etc/exim4/update-exim4.conf.conf, e.g.
     dc_other_hostnames='%[5]s'
   elsewhere add them to "domainlist local_domains".

4. Check and activate:
     Debian:     update-exim4.conf && exim4 -bV >/dev/null && systemctl restart exim4
     elsewhere:  exim -bV >/dev/null && systemctl restart exim

5. Test without sending mail: "exim -bt ALIAS" shows where mail to ALIAS
   goes; for a blocked alias it says "undeliverable: 550 5.1.1 mailbox
   disabled". "exim -bh 192.0.2.1" plays an SMTP session and shows the
   real answer to RCPT TO.

The lsearch files are read at every message: edit them any time, no
reload needed. Point the MX records at this server only after the test
(%[6]s).
`, eximRouterFile, eximDir, eximDomains, strings.Join(copies, "\n"), domains, strings.Join(xtraDomains(in), ", "))

	out.Limits = append(out.Limits, "Exim forwards with the original envelope sender unless SRS is set up: forwarded mail may fail SPF and DMARC at the targets.")
	if len(refused) > 0 {
		out.Limits = append(out.Limits, fmt.Sprintf("Debian's default RCPT ACL refuses local parts with any of %s at local domains (the macro CHECK_RCPT_LOCAL_LOCALPARTS, a guard for the local-user routers): %s would be refused before this router runs, unless you relax that macro in /etc/exim4/conf.d/main/000_localmacros (e.g. CHECK_RCPT_LOCAL_LOCALPARTS = ^[.] : ^.*[@]).", eximDebianRefused, xtraPlural(len(refused), "alias")+" ("+xtraList(refused)+")"))
	}
	if len(starAliases) > 0 {
		out.Limits = append(out.Limits, fmt.Sprintf("In an lsearch* file the key \"*\" is the default, so the alias %s cannot be told apart from the catch-all: it is left out and its mail goes to the catch-all %s.", xtraList(starAliases), in.CatchAll))
	}
	return out, nil
}
