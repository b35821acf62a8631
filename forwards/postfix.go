package forwards

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/catchall/catchall/classify"
)

// Postfix writes a virtual alias map, an access map refusing blocked
// aliases at RCPT time, and the main.cf settings that use them.
type Postfix struct{}

// Name implements Format.
func (Postfix) Name() string { return "postfix" }

const postfixDir = "/etc/postfix/catchall"

// Generate implements Format.
func (Postfix) Generate(in *Input) (*Output, error) {
	in, unsafe := withoutUnsafe(Postfix{}, in)
	var virtual, access, maincf, pcre bytes.Buffer
	fmt.Fprintf(&virtual, "# Postfix virtual alias map written by catchall: alias → targets.\n# postmap %s/virtual after every change.\n", postfixDir)
	for _, r := range in.Forwarded() {
		fmt.Fprintf(&virtual, "%s\t%s\n", r.Alias, strings.Join(r.Targets, ", "))
	}
	if in.CatchAll != "" {
		for _, d := range in.Domains {
			fmt.Fprintf(&virtual, "@%s\t%s\n", d, in.CatchAll)
		}
	}
	fmt.Fprintf(&access, "# Postfix recipient access map written by catchall: blocked aliases are\n# refused at RCPT time, never accepted and dropped. Postfix answers exactly\n# \"550 5.1.1 Mailbox disabled\" (the code is written out: a bare REJECT\n# would answer access_map_reject_code, 554 by default).\n# postmap %s/access after every change.\n", postfixDir)
	for _, r := range in.Blocked() {
		fmt.Fprintf(&access, "%s\t550 5.1.1 Mailbox disabled\n", r.Alias)
	}
	fmt.Fprintf(&pcre, "# Postfix PCRE map written by catchall: the signed-burner shape SERVICE.TAG@domain.\n")
	pcreMaps := ""
	if b := in.Burners; b != nil {
		doms := make([]string, len(in.Domains))
		for i, d := range in.Domains {
			doms[i] = regexp.QuoteMeta(d)
		}
		fmt.Fprintf(&pcre, "# Postfix cannot check the signature: every address of this shape is accepted.\n# (Postfix PCRE tables match case-insensitively by default.)\n")
		fmt.Fprintf(&pcre, "/^[a-z0-9_-]{1,48}\\.[a-z2-7]{%d}@(%s)$/\t%s\n", b.TagLen, strings.Join(doms, "|"), strings.Join(b.Targets, ", "))
		pcreMaps = ", pcre:" + postfixDir + "/virtual.pcre"
	} else {
		fmt.Fprintf(&pcre, "# Not in use: give catchall forwards --burners to accept burner-shaped addresses.\n")
	}
	fmt.Fprintf(&maincf, `# main.cf settings for the aliases catchall manages (postconf -e each line).
virtual_alias_domains = %s
virtual_alias_maps = hash:%s/virtual%s
# Blocked aliases are refused before anything else; unknown addresses are
# refused by Postfix itself (User unknown in virtual alias table)%s.
smtpd_recipient_restrictions = check_recipient_access hash:%s/access, permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
# Rewrite the envelope sender of forwarded mail (SRS) so that SPF passes at
# the targets: postsrsd listens on these ports (apt-get install postsrsd).
sender_canonical_maps = tcp:localhost:10001
sender_canonical_classes = envelope_sender
recipient_canonical_maps = tcp:localhost:10002
recipient_canonical_classes = envelope_recipient, header_recipient
# Refuse SMTP smuggling (bare LF in DATA), Postfix 3.9 and the 3.5–3.8 backports.
smtpd_forbid_bare_newline = normalize
smtpd_forbid_bare_newline_exclusions = $mynetworks
`, strings.Join(in.Domains, ", "), postfixDir, pcreMaps, catchAllNote(in), postfixDir)

	install := fmt.Sprintf(`Installing the Postfix configuration
====================================

1. Copy the maps and build their databases:

     mkdir -p %[1]s
     cp virtual access virtual.pcre %[1]s/
     postmap %[1]s/virtual %[1]s/access

   (virtual.pcre, used only with --burners, needs the postfix-pcre package.)

2. Add the settings of main.cf.snippet to /etc/postfix/main.cf (or run
   "postconf -e" with each line). If main.cf already sets
   smtpd_recipient_restrictions, put "check_recipient_access
   hash:%[1]s/access" first in your list instead.

3. Install postsrsd for SRS (Debian: apt-get install postsrsd) so that
   forwarded mail passes SPF and DMARC at the targets.

4. Check and reload:

     postfix check && postfix reload

5. Test: "postmap -q ALIAS hash:%[1]s/virtual" prints the targets,
   "postmap -q ALIAS hash:%[1]s/access" prints "550 5.1.1 Mailbox disabled"
   for a blocked alias: what Postfix answers at RCPT.

Point the MX records of %[2]s at this server only after the test.
`, postfixDir, strings.Join(in.Domains, ", "))
	var limits []string
	if in.Burners != nil {
		limits = append(limits, fmt.Sprintf("Postfix cannot check a burner's signature: virtual.pcre accepts every address shaped SERVICE.TAG@domain (TAG: %d base32 characters), a catch-all limited to that shape; only catchall relay refuses guessed burners.", in.Burners.TagLen))
	} else {
		limits = append(limits, "Signed burner addresses (SERVICE.TAG@domain) are not accepted: add --burners to accept their shape (Postfix cannot check the signature; catchall relay can).")
	}
	if in.CatchAll == "" {
		limits = append(limits, "Without a catch-all (--catch-all ADDR), mail to addresses not in the plan is refused: new aliases must be added to the plan first.")
	}
	return &Output{
		Files: []File{
			{Name: "virtual", Data: virtual.Bytes()},
			{Name: "access", Data: access.Bytes()},
			{Name: "virtual.pcre", Data: pcre.Bytes()},
			{Name: "main.cf.snippet", Data: maincf.Bytes()},
		},
		Install: install,
		Limits:  append(limits, unsafe...),
	}, nil
}

func catchAllNote(in *Input) string {
	if in.CatchAll != "" {
		return ",\n# except that the catch-all line at the end of virtual accepts them"
	}
	return ""
}

// Import implements Importer: it reads a virtual map ("alias target,
// target") and an access map ("alias 550 …" or "alias REJECT …"), given together or apart.
// Catch-all lines (@domain) and comments are skipped.
func (Postfix) Import(data []byte) ([]Rule, error) {
	var rules []Rule
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue // comments
		}
		key, rest, ok := strings.Cut(strings.Join(strings.Fields(line), " "), " ")
		if postfixRegexpKey.MatchString(key) {
			continue // a regular-expression entry (virtual.pcre)
		}
		if !ok {
			return nil, fmt.Errorf("line %d: %q has no target", n, line)
		}
		if strings.HasPrefix(key, "@") {
			continue // catch-all
		}
		alias, err := CheckAddress(key)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		verb := strings.ToUpper(strings.Fields(rest)[0])
		if verb == "REJECT" || strings.HasPrefix(verb, "5") || verb == "DISCARD" {
			rules = append(rules, Rule{Alias: alias, Action: classify.ActionBlock})
			continue
		}
		r := Rule{Alias: alias, Action: classify.ActionForward}
		for _, t := range strings.FieldsFunc(rest, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' }) {
			a, err := CheckAddress(t)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			r.Targets = append(r.Targets, a)
		}
		rules = append(rules, r)
	}
	return rules, sc.Err()
}

// postfixRegexpKey is the key of a PCRE or regexp table entry: /…/flags.
var postfixRegexpKey = regexp.MustCompile(`^/.*/[a-zA-Z]*$`)

// CheckRule implements RuleChecker: a line of a Postfix map that starts
// with '#' is a comment, so such an alias cannot be a key (the catch-all
// would accept what the plan blocks); and Postfix refuses local parts with
// % or ! from outside before any map is read.
func (Postfix) CheckRule(r Rule) error {
	if strings.HasPrefix(r.Alias, "#") {
		return errors.New("a Postfix map key cannot start with # (the line would be a comment)")
	}
	// allow_untrusted_routing = no (the default, and wise): Postfix refuses
	// user%host@domain and user!host@domain from outside as relay
	// attempts (554 5.7.1), whatever the maps say.
	if local, _, _ := strings.Cut(r.Alias, "@"); strings.ContainsAny(local, "%!") {
		return errors.New("Postfix refuses a local part with % or ! from outside (sender-specified routing: 554 5.7.1), so no map can forward it; it is refused either way")
	}
	return nil
}
