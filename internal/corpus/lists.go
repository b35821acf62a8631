package corpus

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"time"
)

// mailingList is a mailing list the user subscribed to with an alias of his
// own. List mail is addressed To the list, never to the alias, which only the
// delivery headers name.
type mailingList struct {
	name   string // list name, "golang-nuts"
	addr   string // posting address: the To of list mail
	toName string // display name of addr in To
	id     string // List-Id without the brackets
	domain string // registrable domain of the list host: the alias's Service
	prefix string // subject tag, "" if none
	folder string // folder all its mail goes to; "" for the usual ones
	mailer string // key of mailers: the list server
	topic  string // expand placeholder for thread subjects
}

var (
	listGoNuts = &mailingList{name: "golang-nuts", addr: "golang-nuts@googlegroups.com", toName: "golang-nuts",
		id: "golang-nuts.googlegroups.com", domain: "googlegroups.com", prefix: "[go-nuts] ", folder: folderGoNuts,
		mailer: "groups", topic: "{gotopic}"}
	listDebianUser = &mailingList{name: "debian-user", addr: "debian-user@lists.debian.org",
		id: "debian-user.lists.debian.org", domain: "debian.org", mailer: "debian", topic: "{debtopic}"}
)

var debTopics = []string{"apt upgrade leaves the system without network", "Bookworm: interface names changed after upgrade",
	"systemd-resolved and /etc/resolv.conf", "Which file system for a small NAS?", "nvidia driver broken after kernel update",
	"Debian %d on an old ThinkPad", "cron job does not run", "sudo or su -?", "LUKS on a second disk", "Trixie release date?",
	"Printer not found with CUPS", "How to pin a package version"}

// listThread is a thread on a's mailing list.
func (g *generator) listThread(a *aliasInfo, o uopt) int {
	r := g.r
	l := a.list
	n := threadLen(r) + 1
	if o.max > 0 {
		n = min(n, o.max)
	}
	t := g.when(a, o)
	subj := l.prefix + g.expand(l.topic, "en", a, nil)
	to := addr{l.toName, l.addr}
	var prev *spec
	var refs []string
	count := 0
	for i := range n {
		if i > 0 && !g.later(&t, 10, 2*24*60) {
			break
		}
		var s *spec
		p := g.newPerson(pick(r, []string{"en", "en", "de", "ru", "ja", "fr"}), "")
		if i > 0 && chance(r, 0.08) {
			s = g.fromUser(a, p, t, kindSent)
			s.to = []addr{to}
			s.lang = "en"
			s.text.to = "all"
			s.text.lang = "en"
		} else {
			s = g.newSpec(a, "list", t)
			s.from = addr{p.disp, p.addr}
			s.to = []addr{to}
			s.mailer = mailers[l.mailer]
			s.senderDomain = l.domain
			s.zone = p.zone
			s.lang = "en"
			s.msgID = g.newID(p.mailer.idStyle, domainOf(p.addr))
			s.body = bodyList
			s.text = textInfo{seed: r.Uint64(), lang: "en", to: "all", from: p.first}
		}
		s.list = l
		s.subject = subj
		if prev != nil {
			s.subject = "Re: " + subj
			s.replyTo(prev, refs)
		}
		refs = append(refs, s.msgID)
		g.applyOpening(s, o, i == 0)
		prev = s
		count++
	}
	return count
}

// listReturnPath is the envelope sender of list mail to rcpt.
func (s *spec) listReturnPath(r *rand.Rand, rcpt string) string {
	if s.list.mailer == "debian" {
		loc, dom, _ := strings.Cut(rcpt, "@")
		return "bounce-debian-user=" + loc + "=" + dom + "@lists.debian.org"
	}
	return s.list.name + "+bnc" + fill(r, "^^^***************************") + "@" + s.list.domain
}

// writeListHop writes the list server's own Received line.
func (s *spec) writeListHop(b *bytes.Buffer, r *rand.Rand, hop time.Time) {
	switch s.list.mailer {
	case "groups":
		b.WriteString("Received: by mail-sor-f" + fill(r, "##") + ".google.com with SMTP id " + fill(r, "?%%%%%%%%%%%") +
			"\r\n        for <" + s.list.addr + ">; " + mailDate(hop) + "\r\n")
	case "debian":
		b.WriteString("Received: from localhost (localhost [127.0.0.1])\r\n\tby bendel.debian.org (Postfix) with QMQP\r\n\tid " +
			strings.ToUpper(fill(r, "%%%%%%%%%%")) + "; " + mailDate(hop.UTC()) + "\r\n")
	}
}

func (s *spec) writeListHeaders(b *bytes.Buffer, r *rand.Rand) {
	l := s.list
	if l.mailer == "debian" {
		h(b, "X-Mailing-List", "<"+l.addr+"> archive/latest/"+itoa(between(r, 100000, 999999)))
		h(b, "X-Loop", l.addr)
		h(b, "List-Id", "<"+l.id+">")
		h(b, "List-URL", "<https://lists.debian.org/"+l.name+"/>")
		h(b, "List-Post", "<mailto:"+l.addr+">")
		h(b, "List-Help", "<mailto:"+l.name+"-request@lists.debian.org?subject=help>")
		h(b, "List-Subscribe", "<mailto:"+l.name+"-request@lists.debian.org?subject=subscribe>")
		h(b, "List-Unsubscribe", "<mailto:"+l.name+"-request@lists.debian.org?subject=unsubscribe>")
		h(b, "Precedence", "list")
		h(b, "Resent-Message-ID", "<"+fill(r, "**********")+"@bendel.debian.org>")
		h(b, "Resent-From", l.addr)
		h(b, "List-Archive", "<https://lists.debian.org/msgid-search/"+strings.Trim(s.msgID, "<>")+">")
		h(b, "Resent-Sender", l.name+"-request@lists.debian.org")
		return
	}
	h(b, "X-Original-Sender", s.from.email)
	b.WriteString("X-Original-Authentication-Results: gmr-mx.google.com;\r\n       dkim=pass header.i=@" +
		domainOf(s.from.email) + ";\r\n       spf=pass (google.com: domain of " + s.from.email + " designates " +
		randIP(r, "209.85.") + " as permitted sender) smtp.mailfrom=" + s.from.email + "\r\n")
	h(b, "Precedence", "list")
	h(b, "Mailing-list", "list "+l.addr+"; contact "+l.name+"+owners@googlegroups.com")
	h(b, "List-ID", "<"+l.id+">")
	h(b, "X-Spam-Checked-In-Group", l.addr)
	h(b, "X-Google-Group-Id", "332403668183")
	h(b, "List-Post", "<https://groups.google.com/group/"+l.name+"/post>, <mailto:"+l.addr+">")
	h(b, "List-Help", "<https://groups.google.com/support/>, <mailto:"+l.name+"+help@googlegroups.com>")
	h(b, "List-Archive", "<https://groups.google.com/group/"+l.name)
	h(b, "List-Subscribe", "<https://groups.google.com/group/"+l.name+"/subscribe>, <mailto:"+l.name+"+subscribe@googlegroups.com>")
	h(b, "List-Unsubscribe", "<mailto:googlegroups-manage+332403668183+unsubscribe@googlegroups.com>, <https://groups.google.com/group/"+l.name+"/subscribe>")
}

// listBody is the text of a list message.
func (s *spec) listBody(r *rand.Rand) string {
	txt := wrap(personalText(s.text), 72)
	debian := s.list.mailer == "debian"
	if chance(r, 0.4) {
		if debian {
			txt += "\n\n    $ sudo apt update && sudo apt full-upgrade\n    $ journalctl -b -p err\n    $ uname -a"
		} else {
			txt += "\n\n    func main() {\n        ch := make(chan int)\n        go func() { ch <- 42 }()\n        fmt.Println(<-ch)\n    }"
		}
	}
	if s.quote != nil {
		txt += "\n\n" + quoteBlock(s.quote, "en")
	}
	if !debian {
		txt += "\n\n-- \nYou received this message because you are subscribed to the Google Groups \"" + s.list.name + "\" group.\n" +
			"To unsubscribe from this group and stop receiving emails from it, send an email to " + s.list.name + "+unsubscribe@googlegroups.com.\n" +
			"To view this discussion visit https://groups.google.com/d/msgid/" + s.list.name + "/" + strings.Trim(s.msgID, "<>") + "."
	}
	return txt
}
