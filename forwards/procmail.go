package forwards

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/catchall/catchall/classify"
)

// Procmail writes a .procmailrc for the mailbox that receives all of the
// domains' mail: one recipe per alias matching the recipient header the
// server added (X-Original-To or Delivered-To), forwarding with "!" or
// dropping into /dev/null, then the catch-all.
type Procmail struct{}

// Name implements Format.
func (Procmail) Name() string { return "procmail" }

// procmailRegexp quotes an address for a procmail regular expression:
// every character but letters, digits and - _ @ / gets a backslash. The
// slash stays bare because \/ is procmail's match operator (and \< \>
// are its word boundaries; CheckAddress allows no < or > anyway).
func procmailRegexp(addr string) string {
	var b strings.Builder
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_@/", c) >= 0) {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// procmailWord quotes one argument of a "!" action line: procmail expands
// $VARIABLES and reads quotes like a shell there, so each address is put
// in single quotes; a quote inside ends the quoted part, is escaped with
// a backslash and opens a new one, as in sh.
func procmailWord(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// procmailHeader is the condition matching one recipient address in the
// headers the delivering server adds. The [ \t] classes hold a space and
// a real tab character: procmail's expressions know no \t.
func procmailHeader(re string) string {
	return "^(X-Original-To|Delivered-To):[ \t]*<?" + re + ">?[ \t]*$"
}

// Generate implements Format.
func (Procmail) Generate(in *Input) (*Output, error) {
	if err := xtraCheck(in); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`# procmail recipes written by catchall: one per alias of the plan.
# Each matches the recipient address that the server receiving the mail
# put in X-Original-To or Delivered-To; forwarded aliases go on with "!",
# blocked ones are dropped into /dev/null (procmail runs after the mail
# was accepted: it cannot refuse it). Mail matching no recipe stays in
# this mailbox.
`)
	for _, r := range in.Rules {
		fmt.Fprintf(&b, "\n# %s\n:0\n* %s\n", r.Alias, procmailHeader(procmailRegexp(r.Alias)))
		if r.Action == classify.ActionBlock {
			b.WriteString("/dev/null\n")
			continue
		}
		var words []string
		for _, t := range r.Targets {
			words = append(words, procmailWord(t))
		}
		fmt.Fprintf(&b, "! %s\n", strings.Join(words, " "))
	}
	domains := xtraDomains(in)
	if in.CatchAll != "" && len(domains) > 0 {
		var alts []string
		for _, d := range domains {
			alts = append(alts, procmailRegexp(d))
		}
		fmt.Fprintf(&b, "\n# Every other address of the plan's domains: the catch-all (but not\n# the catch-all address itself, which would loop).\n:0\n* %s\n* ! %s\n! %s\n",
			procmailHeader("[^@<> \t]+@("+strings.Join(alts, "|")+")"),
			procmailHeader(procmailRegexp(in.CatchAll)),
			procmailWord(in.CatchAll))
	}

	out := &Output{Files: []File{{Name: "procmailrc", Data: b.Bytes()}}}
	out.Install = fmt.Sprintf(`Installing the procmail recipes
===============================

In the account whose mailbox receives all mail of %[1]s:

1. Copy the recipes:

     cp procmailrc ~/.procmailrc-catchall

   and include them from ~/.procmailrc (create it if needed), before any
   recipe that files mail away:

     INCLUDERC=$HOME/.procmailrc-catchall

2. Make sure mail is delivered through procmail. Many hosts do already
   (Debian's Exim when ~/.procmailrc exists, Postfix with mailbox_command
   set to procmail); otherwise put this line into ~/.forward:

     "|exec /usr/bin/procmail"

3. Check that the host adds the recipient header: open a message sent to
   one of the aliases and look for "X-Original-To:" or "Delivered-To:"
   with the alias in it. Without it no recipe matches.

4. Test without sending mail, with a saved message (.eml) whose
   X-Original-To header you edit to name an alias; SENDMAIL=/bin/echo
   prints the targets instead of forwarding:

     procmail -m SENDMAIL=/bin/echo VERBOSE=on LOGFILE=/dev/stderr ~/.procmailrc-catchall < message.eml
`, strings.Join(domains, ", "))

	out.Limits = append(out.Limits,
		"procmail runs after the mail was delivered to the mailbox, so it cannot refuse anything: mail to a blocked alias is accepted and then dropped (/dev/null), and the sender is never told the address is gone.",
		"procmail forwards with the original envelope sender and no SRS: forwarded mail may fail SPF and DMARC at the targets.",
		"The recipes rely on the X-Original-To or Delivered-To header that the receiving server adds: where it is missing, or names another address (mail that already passed another forwarder), no recipe matches and the mail stays in the mailbox.",
	)
	if in.CatchAll != "" {
		out.Limits = append(out.Limits, fmt.Sprintf("The catch-all recipe sees only mail that the host delivers to this mailbox: unknown addresses that the host refuses never reach %s.", in.CatchAll))
	}
	return out, nil
}
