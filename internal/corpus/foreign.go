package corpus

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"time"
)

// ---------------------------------------------------------------- forwarded-in mail

// oldAccount is the user's old freemail account, which forwards everything
// it still receives to the final mailbox.
type oldAccount struct {
	addr string
	via  string // "google" or "webde"
}

// planForwarded adds n messages that people and services sent to the user's
// old freemail account and that account forwarded to the final mailbox. They
// name no alias at the domain.
func (g *generator) planForwarded(n int) int {
	r := g.r
	if n <= 0 {
		return 0
	}
	local := pick(r, []string{"john.smith1983", "johnsmith83", "j.smith1983", "smith.john83"})
	if chance(r, 0.5) {
		g.old = oldAccount{local + "@gmail.com", "google"}
	} else {
		g.old = oldAccount{local + "@web.de", "webde"}
	}
	var svcs []*service
	for i := range services {
		if sv := &services[i]; sv.tag == "disposable" && (sv.lang == "en" || sv.lang == "de") {
			svcs = append(svcs, sv)
		}
	}
	for range n {
		t := daytime(r, randTime(r, g.start, g.end))
		var s *spec
		if chance(r, 0.5) {
			p := g.newPerson(pick(r, []string{"de", "de", "en", "fr"}), "")
			s = g.newSpec(nil, "person", t)
			s.to = []addr{{pick(r, []string{"John Smith", "John", ""}), g.old.addr}}
			g.sentBy(s, p)
			g.personalText(s, p, "John")
			s.subject = g.subject("personal", p.lang, nil, p)
		} else {
			sv := pick(r, svcs)
			tmp := &aliasInfo{svc: sv, addr: g.old.addr}
			g.setupService(tmp)
			s = g.newSpec(nil, "service", t)
			s.svc = sv
			s.from = addr{sv.display, tmp.fromLocal + "@" + sv.mailDom}
			s.mailer = tmp.mailer
			s.svcDKIM = tmp.dkimDom
			s.senderDomain = sv.mailDom
			s.zone = zoneUTC
			s.lang = sv.lang
			s.msgID = g.newID(tmp.mailer.idStyle, sv.mailDom)
			s.body = bodyTransactional
			family := sv.cat
			if sv.cat == "news" || chance(r, 0.4) {
				s.body, s.bulk = bodyNewsletter, true
			}
			if chance(r, 0.15) {
				family = "generic"
			}
			s.subject = g.expand(pick(r, subjectList(family, sv.lang)), sv.lang, tmp, nil)
			s.to = []addr{{"", g.old.addr}}
			s.text = textInfo{seed: r.Uint64(), lang: sv.lang, to: "John", from: sv.display}
		}
		s.kind, s.style = kindForwardedIn, kindForwardedIn
		s.rcpt, s.envRcpt, s.fwdVia = g.old.addr, g.old.addr, g.old.via
		s.rcptVisible = true
		g.apply(s, uopt{})
	}
	return n
}

// writeForwardHops writes the trace of a forwarded-in message: on top what
// the user's server added when the old account's provider handed the message
// on (X-Original-To and Delivered-To of the final mailbox), below what the
// provider added when the message reached the old account (its Delivered-To
// and its Received lines).
func (s *spec) writeForwardHops(b *bytes.Buffer, r *rand.Rand, host, ip, rp string, recv time.Time, d string) {
	e := s.env
	old := s.envRcpt
	qid := strings.ToUpper(fill(r, "%%%%%%%%%%"))
	fwd := recv.Add(-time.Duration(1+r.IntN(20)) * time.Second)
	arrive := fwd.Add(-time.Duration(1+r.IntN(5)) * time.Second)
	tls := "\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\r\n\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\r\n\t(No client certificate requested)"
	if s.date.Year() < 2019 {
		tls = "\r\n\t(using TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits))\r\n\t(No client certificate requested)"
	}
	switch s.fwdVia {
	case "google":
		fhost := fill(r, "mail-??#-f##.google.com")
		fip := randIP(r, "209.85.")
		h(b, "Return-Path", "<"+strings.Replace(old, "@", "+caf_="+strings.Replace(e.final, "@", "=", 1)+"@", 1)+">")
		h(b, "X-Original-To", e.final)
		h(b, "Delivered-To", e.final)
		b.WriteString("Received: from " + fhost + " (" + fhost + " [" + fip + "])" + tls + "\r\n\tby mx." + e.domain +
			" (Postfix) with ESMTPS id " + qid + "\r\n\tfor <" + e.final + ">; " + mailDate(recv) + "\r\n")
		b.WriteString("Received: by " + fhost + " with SMTP id " + fill(r, "?%%%%%%%%%%%##") + "\r\n        for <" + e.final +
			">; " + mailDate(fwd.UTC()) + "\r\n")
		h(b, "X-Forwarded-To", e.final)
		h(b, "X-Forwarded-For", old+" "+e.final)
		h(b, "Delivered-To", old)
		b.WriteString("Received: by 2002:a05:" + fill(r, "%%%%:%%%:b0:%%%:%%%%") + " with SMTP id " + fill(r, "?%%%%%%%%%%%") +
			";\r\n        " + mailDate(fwd.UTC()) + "\r\n")
		h(b, "Return-Path", "<"+rp+">")
		b.WriteString("Received: from " + host + " (" + host + " [" + ip + "])\r\n        by mx.google.com with ESMTPS id " +
			fill(r, "?%%%%%%%%%%%%%.###.####.##.##.##.##") + "\r\n        for <" + old +
			">\r\n        (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256);\r\n        " + mailDate(arrive.UTC()) + "\r\n")
		h(b, "Received-SPF", "pass (google.com: domain of "+rp+" designates "+ip+" as permitted sender) client-ip="+ip+";")
		ar := "mx.google.com;"
		if d != "" {
			ar += "\r\n       dkim=pass header.i=@" + d + " header.s=" + fill(r, "s####") + " header.b=" + b64(r, 8) + ";"
		}
		ar += "\r\n       spf=pass (google.com: domain of " + rp + " designates " + ip + " as permitted sender) smtp.mailfrom=" + rp
		b.WriteString("Authentication-Results: " + ar + "\r\n")
	default: // web.de
		fip := randIP(r, "212.227.15.")
		h(b, "Return-Path", "<"+rp+">")
		h(b, "X-Original-To", e.final)
		h(b, "Delivered-To", e.final)
		b.WriteString("Received: from mout.web.de (mout.web.de [" + fip + "])" + tls + "\r\n\tby mx." + e.domain +
			" (Postfix) with ESMTPS id " + qid + "\r\n\tfor <" + e.final + ">; " + mailDate(recv) + "\r\n")
		b.WriteString("Received: from mxweb1" + fill(r, "##") + " ([10." + fill(r, "#.#.##") + "]) by mout.web.de (mrweb0" +
			fill(r, "##") + ") with ESMTPS (Nemesis) id 1M" + fill(r, "&&&&&&-&&&&&&&&") + " for <" + e.final + ">; " +
			mailDate(berlin(fwd)) + "\r\n")
		h(b, "Delivered-To", old)
		b.WriteString("Received: from " + host + " ([" + ip + "]) by mx-ha.web.de (mxweb1" + fill(r, "##") +
			" [212.227.15." + itoa(between(r, 2, 254)) + "])\r\n\twith ESMTPS (Nemesis) id 1M" + fill(r, "&&&&&&-&&&&&&&&") + " for <" + old +
			">; " + mailDate(berlin(arrive)) + "\r\n")
	}
}

// ---------------------------------------------------------------- foreign messages

// foreignDomains are unrelated domains the foreign messages are addressed to.
var foreignDomains = []string{"python.org", "zzz.org", "example.com", "example.net", "uni-example.de", "lists.example.org"}

// planForeign adds n messages to people at unrelated domains, which reached
// the mailbox without passing the user's server (imported, copied or moved
// there by hand): no delivery header names the domain, and Alias is "".
func (g *generator) planForeign(n int) {
	r := g.r
	var doms []string
	for _, d := range foreignDomains {
		if d != g.env.domain && !strings.HasSuffix(d, "."+g.env.domain) && !strings.HasSuffix(g.env.domain, "."+d) {
			doms = append(doms, d)
		}
	}
	for i := range n {
		p := g.newPerson(pick(r, []string{"de", "en", "en", "fr"}), "")
		f, l := pick(r, firstNames["en"]), pick(r, lastNames["en"])
		dom := pick(r, doms)
		local := pick(r, []string{f.ascii, f.ascii + "." + l.ascii, f.ascii[:1] + l.ascii})
		to := addr{f.disp + " " + l.disp, local + "@" + dom}
		s := g.newSpec(nil, "person", daytime(r, randTime(r, g.start, g.end)))
		s.kind = kindForeign
		s.variant = i
		s.forceFolder = folderInbox
		s.to = []addr{to}
		s.envRcpt = to.email
		g.sentBy(s, p)
		g.personalText(s, p, f.disp)
		s.subject = g.subject("personal", p.lang, nil, p)
		g.specs = append(g.specs, s)
	}
}

// renderForeign writes a foreign message. Every other one (variant even)
// went through the recipient's own server, which added a Received line and,
// below it, a Delivered-To of the foreign address.
func (s *spec) renderForeign(b *bytes.Buffer, r *rand.Rand) {
	if s.variant%2 == 0 {
		host, ip := s.senderHost(r)
		dom := domainOf(s.envRcpt)
		h(b, "Return-Path", "<"+s.from.email+">")
		b.WriteString("Received: from " + host + " (" + host + " [" + ip + "])\r\n\tby mail." + dom + " (Postfix) with ESMTPS id " +
			strings.ToUpper(fill(r, "%%%%%%%%%%")) + "\r\n\tfor <" + s.envRcpt + ">; " + mailDate(s.date.UTC()) + "\r\n")
		h(b, "Delivered-To", s.envRcpt)
		if s.mailer.inner != "" {
			b.WriteString("Received: " + fill(r, s.mailer.inner) + ";\r\n        " + mailDate(inZone(s.date.Add(-s.delay/2), s.zone)) + "\r\n")
		}
	}
	h(b, "From", s.from.String())
	h(b, "To", addrList(s.to))
	h(b, "Subject", encodeText(s.subject, false))
	h(b, "Date", mailDate(inZone(s.date.Add(-s.delay), s.zone)))
	h(b, "Message-ID", s.msgID)
	if s.client != "" {
		b.WriteString(s.client + "\r\n")
	}
	h(b, "MIME-Version", "1.0")
	s.writeBody(b, r)
}
