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
// alias (RFC 5429), then the catch-all. The rules test the envelope
// recipient, never a header a sender can write (To:, X-Original-To:,
// Delivered-To:), so the server must deliver with the alias as envelope
// recipient: INSTALL.txt gives the two Postfix → Dovecot setups that do.
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
	first := "example.com"
	if len(in.Domains) > 0 {
		first = in.Domains[0]
	}
	install := fmt.Sprintf(sieveInstall, strings.Join(in.Domains, " "), first)
	limits := []string{
		"Sieve runs at delivery, after the mail was accepted: a blocked alias's \"reject\" sends a rejection message to the sender instead of refusing at SMTP time (use the Postfix access map for a real 550).",
		"Redirected mail keeps its envelope sender unless the server rewrites it (SRS): forwarded mail may fail SPF or DMARC at the target.",
	}
	return &Output{Files: []File{{Name: "catchall.sieve", Data: b.Bytes()}}, Install: install, Limits: limits}, nil
}

// sieveInstall is INSTALL.txt of the Sieve format; %[1]s is the plan's
// domains, %[2]s the first of them. Both delivery paths, and the naive
// setup it warns about, run end to end with a real Postfix and Dovecot in
// TestToolsSieveDelivery (scripts/testenv/mailstack.sh).
const sieveInstall = `Installing the Sieve script
===========================

The script decides by the envelope recipient: the address the sending server
gave in RCPT TO (the alias), not the To: header, which anyone can write. So
the alias must still be the envelope recipient when Dovecot runs the script.

What goes wrong with the usual catch-all: a virtual_alias_maps line such as
"@%[2]s USER@%[2]s" makes Postfix rewrite every alias to the
mailbox's address before it delivers. Dovecot's LMTP then sees only that
address (it does not announce DSN, so Postfix sends no ORCPT with the
alias): no rule matches, nothing is redirected or rejected, and all mail
stays in the mailbox. Set up delivery as in step 3 (a) or (b) instead.

Below, for Postfix and Dovecot with Pigeonhole on Debian 12 (Postfix 3.7,
Dovecot 2.3): USER is the Dovecot user of the mailbox that receives the
domains' mail (doveadm user USER shows its uid, gid, home and mail), owned
by vmail:vmail, home /var/vmail/USER. Use your own values.

1. Install Pigeonhole (and for (a) the LMTP server) and turn Sieve on at
   delivery:

     apt-get install dovecot-sieve dovecot-lmtpd

   /etc/dovecot/conf.d/20-lmtp.conf:  protocol lmtp {
                                        mail_plugins = $mail_plugins sieve
                                      }
   /etc/dovecot/conf.d/15-lda.conf:   protocol lda {
                                        mail_plugins = $mail_plugins sieve
                                      }

   Debian's 90-sieve.conf already has
   "sieve = file:~/sieve;active=~/.dovecot.sieve", which step 2 uses.

2. In the mailbox's home, as its owner:

     mkdir -p ~/sieve && cp catchall.sieve ~/sieve/catchall.sieve
     ln -sf sieve/catchall.sieve ~/.dovecot.sieve
     sievec ~/sieve/catchall.sieve

   (or upload it with ManageSieve, e.g. from your mail client).

3. Deliver the domains to Dovecot in ONE of these two ways. Do not keep a
   catch-all line for the domains in virtual_alias_maps with (a).

   (a) LMTP, with the alias as the envelope recipient up to Dovecot.

       /etc/postfix/main.cf (the domains are virtual mailbox domains, and
       only that: not in mydestination, virtual_alias_domains or
       relay_domains; with no virtual_mailbox_maps every address of them
       is accepted and handed to Dovecot unchanged):

         virtual_mailbox_domains = %[1]s
         virtual_transport = lmtp:unix:private/dovecot-lmtp

       /etc/dovecot/conf.d/10-master.conf, the socket Postfix connects to
       (in its queue directory, /var/spool/postfix):

         service lmtp {
           unix_listener /var/spool/postfix/private/dovecot-lmtp {
             mode = 0600
             user = postfix
             group = postfix
           }
         }

       Dovecot's LMTP looks every recipient up as a user, with the whole
       address ("alias@%[2]s"). Make each one the mailbox with a
       static userdb AFTER the existing ones: the line
       "!include auth-catchall.conf.ext" at the end of
       /etc/dovecot/conf.d/10-auth.conf, and
       /etc/dovecot/conf.d/auth-catchall.conf.ext:

         userdb {
           driver = static
           args = uid=vmail gid=vmail home=/var/vmail/USER mail=maildir:~/Maildir allow_all_users=yes
         }

       (mail= is the mailbox's mail location, without %%u or %%n: with
       Debian's default mail_location each alias would get an INBOX of
       its own, /var/mail/ALIAS.) A name no earlier userdb knows is then this
       mailbox, and the script sees the alias as envelope "to". Keep
       auth_username_format = %%Lu (the default): with %%Ln an alias whose
       local part is a system user's name would be that user's.

   (b) dovecot-lda, which takes the alias as an argument (-a).

       /etc/postfix/master.cf:

         dovecot   unix  -       n       n       -       -       pipe
           flags=DRhu user=vmail:vmail argv=/usr/lib/dovecot/dovecot-lda -f ${sender} -a ${original_recipient} -d USER

       /etc/postfix/main.cf:

         virtual_mailbox_domains = %[1]s
         virtual_transport = dovecot
         dovecot_destination_recipient_limit = 1

       dovecot-lda runs as the mailbox's owner (user=vmail:vmail, never
       root) and delivers to USER (-d); -a ${original_recipient} is the
       address before any rewriting, so here a catch-all in
       virtual_alias_maps does no harm. The recipient limit of 1 makes
       ${original_recipient} one address. (With the domains in
       mydestination instead, the setting is mailbox_transport = dovecot,
       with -d ${user}: the pipe then runs as vmail for every local user,
       so all their mail must belong to vmail.) If the log says
       "net_connect_unix(/run/dovecot/stats-writer) failed: Permission
       denied", let the owner write stats (10-master.conf):

         service stats {
           unix_listener stats-writer {
             user = vmail
             group = dovecot
             mode = 0660
           }
         }

   Either way the script runs once per recipient: a message to two
   addresses that it keeps is stored twice.

4. Apply and test:

     postfix check && postfix reload && systemctl restart dovecot
     sieve-test -a ALIAS ~/sieve/catchall.sieve some-message.eml

   then send a message to a forwarded alias: Dovecot's log
   (/var/log/mail.log, or journalctl -t dovecot) says "sieve: ... redirect
   action: forwarded to <TARGET>". "stored mail into mailbox 'INBOX'"
   instead means the script did not see the alias as envelope recipient.

Hosts with a Sieve editor (Fastmail, mailbox.org, Proton's filters are not
Sieve-complete) accept the script pasted as a custom rule.
`

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
