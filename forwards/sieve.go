package forwards

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/catchall/catchall/classify"
)

// Sieve writes one Sieve script (RFC 5228) for the mailbox that receives the
// domain's mail: a redirect per forwarded alias (RFC 5228 §4.2, :copy from
// RFC 3894 for all but the last of several targets), a reject per blocked
// alias (RFC 5429), then the catch-all.
type Sieve struct{}

// Name implements Format.
func (Sieve) Name() string { return "sieve" }

// sieveQuote returns s as a Sieve quoted string (RFC 5228 §2.4.2).
func sieveQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Generate implements Format.
func (Sieve) Generate(in *Input) (*Output, error) {
	var b bytes.Buffer
	b.WriteString("# Sieve script written by catchall: one rule per alias of the plan.\n")
	b.WriteString(`require ["envelope", "copy", "reject"];` + "\n\n")
	for _, r := range in.Rules {
		fmt.Fprintf(&b, "if envelope :is \"to\" %s {\n", sieveQuote(r.Alias))
		if r.Action == classify.ActionBlock {
			b.WriteString("    reject \"Mailbox disabled\";\n")
		} else {
			for i, t := range r.Targets {
				if i < len(r.Targets)-1 {
					fmt.Fprintf(&b, "    redirect :copy %s;\n", sieveQuote(t))
				} else {
					fmt.Fprintf(&b, "    redirect %s;\n", sieveQuote(t))
				}
			}
		}
		b.WriteString("    stop;\n}\n")
	}
	if in.CatchAll != "" {
		fmt.Fprintf(&b, "\n# Every other address: the catch-all.\nredirect %s;\n", sieveQuote(in.CatchAll))
	} else {
		b.WriteString("\n# Every other address: kept in this mailbox.\n")
	}
	install := `Installing the Sieve script
===========================

With Dovecot and Pigeonhole (Debian: apt-get install dovecot-sieve), in the
account that receives the domain's mail:

  1. Copy catchall.sieve to ~/sieve/catchall.sieve and make it the active
     script:  ln -sf sieve/catchall.sieve ~/.dovecot.sieve
     (or upload it with ManageSieve, e.g. from your mail client).
  2. Check it compiles:  sievec ~/sieve/catchall.sieve
  3. Test an alias:  sieve-test -a ALIAS ~/sieve/catchall.sieve some-message.eml

Hosts with a Sieve editor (Fastmail, mailbox.org, Proton's filters are not
Sieve-complete) accept the script pasted as a custom rule.
`
	limits := []string{
		"Sieve runs at delivery, after the mail was accepted: a blocked alias's \"reject\" sends a rejection message to the sender instead of refusing at SMTP time (use the Postfix access map for a real 550).",
		"Redirected mail keeps its envelope sender unless the server rewrites it (SRS): forwarded mail may fail SPF or DMARC at the target.",
	}
	return &Output{Files: []File{{Name: "catchall.sieve", Data: b.Bytes()}}, Install: install, Limits: limits}, nil
}

var (
	sieveIf      = regexp.MustCompile(`^if\s+envelope\s+(?::comparator\s+"[^"]*"\s+)?:is\s+"to"\s+"((?:[^"\\]|\\.)*)"\s*\{$`)
	sieveAction  = regexp.MustCompile(`^(redirect(?:\s+:copy)?|reject)\s+"((?:[^"\\]|\\.)*)"\s*;$`)
	sieveUnquote = strings.NewReplacer(`\\`, `\`, `\"`, `"`)
)

// Import implements Importer for the subset of Sieve that Generate writes:
// "if envelope :is "to" "ALIAS" { redirect …; reject …; stop; }" blocks.
// Anything else is an error naming the line: catchall does not guess.
func (Sieve) Import(data []byte) ([]Rule, error) {
	var rules []Rule
	var cur *Rule
	for n, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		at := n + 1
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "require "):
		case cur == nil && sieveIf.MatchString(line):
			alias, err := CheckAddress(sieveUnquote.Replace(sieveIf.FindStringSubmatch(line)[1]))
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", at, err)
			}
			cur = &Rule{Alias: alias, Action: classify.ActionForward}
		case cur != nil && sieveAction.MatchString(line):
			m := sieveAction.FindStringSubmatch(line)
			if m[1] == "reject" {
				cur.Action = classify.ActionBlock
				continue
			}
			t, err := CheckAddress(sieveUnquote.Replace(m[2]))
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", at, err)
			}
			cur.Targets = append(cur.Targets, t)
		case cur != nil && (line == "stop;" || line == "keep;"):
		case cur != nil && line == "}":
			if cur.Action == classify.ActionBlock {
				cur.Targets = nil
			}
			rules = append(rules, *cur)
			cur = nil
		case cur == nil && sieveAction.MatchString(line):
			// the catch-all redirect at the end
		default:
			return nil, fmt.Errorf("line %d: %q is not part of the Sieve subset catchall writes", at, line)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("the rule for %s is not closed", cur.Alias)
	}
	return rules, nil
}
