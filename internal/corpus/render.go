package corpus

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"html"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"
)

// bodyKind is what a message body looks like.
type bodyKind int

const (
	bodyPersonal bodyKind = iota
	bodySent
	bodyBiz
	bodyInvoice
	bodyApplication
	bodyDMARC
	bodyTransactional
	bodyNewsletter
	bodyList
	bodySpam
	bodyNUL
	bodyLongLine
	bodyHuge
)

// addr is a display name and an address.
type addr struct{ name, email string }

func (a addr) String() string {
	if a.name == "" {
		return a.email
	}
	return encodeName(a.name) + " <" + a.email + ">"
}

// encodeName makes a display name header-safe: RFC 2047 for non-ASCII,
// quoting for specials.
func encodeName(n string) string {
	if !isASCII(n) {
		return mime.QEncoding.Encode("utf-8", n)
	}
	if strings.ContainsAny(n, `()<>[]:;@\,."`) {
		return `"` + strings.ReplaceAll(n, `"`, `\"`) + `"`
	}
	return n
}

func addrList(l []addr) string {
	s := make([]string, len(l))
	for i, a := range l {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// spec is the plan of one message: everything its bytes are rendered from.
type spec struct {
	env          *env
	seq          int
	kind         string
	style        string // recipient-header style of received messages
	origin       string
	body         bodyKind
	seed         uint64
	date         time.Time     // INTERNALDATE
	delay        time.Duration // Date: precedes delivery by this much
	zone         zone          // sender's zone for Date:
	folder       string
	forceFolder  string
	flags        []string
	alias        *aliasInfo
	others       []*aliasInfo // further aliases in To
	rcpt         string       // the alias as the sender wrote it
	envRcpt      string       // envelope recipient at the sender's server: the alias, the old account (forwarded-in) or the foreign address
	fwdVia       string       // forwarded-in: mailer key of the old account's provider
	incoming     bool
	rcptVisible  bool // To or Cc name the alias
	answered     bool
	bulk         bool
	from         addr
	to, cc       []addr
	toGroup      string
	subject      string
	msgID        string
	inReplyTo    string
	refs         []string
	lang         string
	mailer       *mailer
	senderDomain string
	client       string
	svc          *service
	svcDKIM      string       // DKIM d= of service mail
	list         *mailingList // list mail and the user's posts to a list
	noDKIM       bool         // spam without any DKIM signature
	welcome      bool         // the first message to a service alias, at its creation
	text         textInfo
	quote        *quoteInfo
	attach       string
	variant      int
	hugeRaw      int64
	prefix       []byte
	suffix       []byte
}

var (
	crlf = []byte("\r\n")
	lf   = []byte("\n")
)

// wholeRenderers write the kinds of message that have a writer of their own
// instead of writeHead and writeBody.
var wholeRenderers = map[string]func(*spec, *bytes.Buffer, *rand.Rand){
	kindNoHeader: (*spec).renderNoHeader,
	kindBinary:   (*spec).renderBinary,
	kindBroken:   (*spec).renderBroken,
	kindForeign:  (*spec).renderForeign,
}

// render writes the whole message (for huge messages: nothing; see prepareHuge).
func (s *spec) render(b *bytes.Buffer) {
	start := b.Len()
	r := newRand(s.seed, 0x5eed)
	if whole := wholeRenderers[s.kind]; whole != nil {
		whole(s, b, r)
		return
	}
	s.writeHead(b, r)
	s.writeBody(b, r)
	if s.kind == kindBareLF {
		out := bytes.ReplaceAll(b.Bytes()[start:], crlf, lf)
		b.Truncate(start)
		b.Write(out)
	}
}

// h writes a header field, folding long values at spaces outside quotes.
func h(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteString(": ")
	col := len(name) + 2
	if col+len(value) <= 78 {
		b.WriteString(value)
		b.WriteString("\r\n")
		return
	}
	inQ := false
	word := 0
	first := true
	flush := func(w string) {
		if w == "" {
			return
		}
		switch {
		case first:
			first = false
		case col+1+len(w) > 78:
			b.WriteString("\r\n ")
			col = 1
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	for i := 0; i < len(value); i++ {
		switch value[i] {
		case '"':
			if i == 0 || value[i-1] != '\\' {
				inQ = !inQ
			}
		case ' ':
			if !inQ {
				flush(value[word:i])
				word = i + 1
			}
		}
	}
	flush(value[word:])
	b.WriteString("\r\n")
}

func b64(r *rand.Rand, n int) string {
	const set = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = set[r.IntN(64)]
	}
	return string(buf)
}

func randBytes(r *rand.Rand, n int) []byte {
	buf := make([]byte, (n+7)/8*8)
	for i := 0; i < len(buf); i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], r.Uint64())
	}
	return buf[:n]
}

// ---------------------------------------------------------------- trace

func (s *spec) senderHost(r *rand.Rand) (host, ip string) {
	if s.mailer.key == "spam" {
		ip = randIP(r, "")
		if chance(r, 0.5) {
			return "mail." + s.senderDomain, ip
		}
		return "host-" + strings.ReplaceAll(ip, ".", "-") + "." + pick(r, []string{"dynamic.ttnet.com.tr",
			"static.vnpt.vn", "pool.telefonica.de", "broadband.kyivstar.net", "res.spectrum.com"}), ip
	}
	return fill(r, s.mailer.host), randIP(r, s.mailer.ip)
}

func (s *spec) returnPath(r *rand.Rand) string {
	switch s.origin {
	case "list":
		return s.listReturnPath(r, s.envRcpt)
	case "service":
		if s.svc == nil {
			return s.from.email
		}
	default:
		return s.from.email
	}
	loc, dom, _ := strings.Cut(s.envRcpt, "@")
	switch s.mailer.key {
	case "ses":
		return "0102" + fill(r, "%%%%%%%%%%%%-%%%%%%%%-%%%%-%%%%-%%%%-%%%%%%%%%%%%-000000") + "@eu-west-1.amazonses.com"
	case "sg":
		return "bounces+" + fill(r, "#######-%%%%-") + loc + "=" + dom + "@em" + fill(r, "####") + "." + s.svc.domain
	case "mc":
		return "bounce-mc.us" + fill(r, "#_#########.#######-") + loc + "=" + dom + "@mail" + fill(r, "###.atl###") + ".mcdlv.net"
	case "sfmc":
		return "bounce-" + fill(r, "##_HTML-#########-#######-#######-###") + "@bounce." + s.svc.mailDom
	case "sp":
		return "msprvs1=" + fill(r, "*****************") + "=bounces-" + fill(r, "#####") + "@spmta.sparkpostmail.com"
	case "mg":
		return "bounce+" + fill(r, "%%%%%%.%%%%%%-") + loc + "=" + dom + "@mg." + s.svc.domain
	case "cr":
		return "bounce-" + fill(r, "######-###-########") + "@bounce.crsend.com"
	}
	return "bounce-" + fill(r, "%%%%%%%%%%") + "@" + s.svc.mailDom
}

func googleSelector(y int) string {
	switch {
	case y < 2017:
		return "20120113"
	case y < 2021:
		return "20161025"
	case y < 2023:
		return "20210112"
	}
	return "20230601"
}

// dkim returns the d= and s= of the sender's DKIM signature, "" if unsigned.
func (s *spec) dkim() (d, sel string) {
	y := s.date.Year()
	m := s.mailer
	switch s.origin {
	case "list":
		if s.list.mailer == "groups" {
			return s.list.domain, googleSelector(y)
		}
		return "", "" // the list server does not sign
	case "spam":
		if s.seed%3 == 0 && !s.noDKIM {
			return s.senderDomain, "default"
		}
		return "", ""
	case "service":
		if s.svc != nil {
			return s.svcDKIM, m.selector
		}
	}
	if m.selector == "" || y < 2013 && m.key != "google" {
		return "", ""
	}
	d = domainOf(s.from.email)
	sel = m.selector
	switch m.key {
	case "google":
		sel = googleSelector(y)
		if d == "googlemail.com" {
			d = "gmail.com"
		}
	case "m365":
		if s.seed%2 == 0 {
			sel = "selector2"
		}
	}
	return d, sel
}

func writeDKIM(b *bytes.Buffer, r *rand.Rand, d, sel string, t time.Time, hdrs string) {
	b.WriteString("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=" + d + ";\r\n\ts=" + sel +
		"; t=" + itoa(int(t.Unix())) + ";\r\n\tbh=" + b64(r, 43) + "=;\r\n\th=" + hdrs + ";\r\n\tb=")
	sig := b64(r, 342) + "=="
	for len(sig) > 0 {
		n := min(70, len(sig))
		b.WriteString(sig[:n])
		sig = sig[n:]
		if len(sig) > 0 {
			b.WriteString("\r\n\t ")
		}
	}
	b.WriteString("\r\n")
}

func qmailDate(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04:05 -0000") }

// writeTrace writes the fields the user's server and the sender's hops added.
func (s *spec) writeTrace(b *bytes.Buffer, r *rand.Rand) {
	host, ip := s.senderHost(r)
	rp := s.returnPath(r)
	recv := berlin(s.date.Add(-time.Duration(r.IntN(3)) * time.Second))
	d, sel := s.dkim()
	if s.style == kindForwardedIn {
		s.writeForwardHops(b, r, host, ip, rp, recv, d)
	} else {
		s.writeDelivery(b, r, host, ip, rp, recv, d)
	}
	s.writeSenderHops(b, r, host, d, sel)
}

// writeDelivery writes the fields the user's server added when it received
// the message from host, naming the alias in s.style.
func (s *spec) writeDelivery(b *bytes.Buffer, r *rand.Rand, host, ip, rp string, recv time.Time, d string) {
	e := s.env
	y := s.date.Year()
	qid := strings.ToUpper(fill(r, pick(r, []string{"%%%%%%%%%%", "4^^^^^#^^^^z^", "%%%%%%%%%%%"})))
	tls := ""
	if y >= 2015 {
		tls = "\r\n\t(using TLSv1." + pick(r, []string{"2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)", "3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\r\n\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256"}) + ")\r\n\t(No client certificate requested)"
	}
	with := "ESMTP"
	if y >= 2015 {
		with = "ESMTPS"
	}
	switch s.style {
	case kindPostfix:
		h(b, "Return-Path", "<"+rp+">")
		h(b, "X-Original-To", s.alias.addr)
		h(b, "Delivered-To", e.final)
		b.WriteString("Received: from " + host + " (" + host + " [" + ip + "])" + tls + "\r\n\tby mx." + e.domain +
			" (Postfix) with " + with + " id " + qid + "\r\n\tfor <" + s.rcpt + ">; " + mailDate(recv) + "\r\n")
	case kindQmail:
		h(b, "Return-Path", "<"+rp+">")
		h(b, "Delivered-To", s.alias.addr)
		h(b, "Received", "(qmail "+itoa(between(r, 1000, 99999))+" invoked from network); "+qmailDate(recv))
		b.WriteString("Received: from " + host + " (HELO " + host + ") (" + ip + ")\r\n  by mail." + e.domain +
			" with SMTP; " + qmailDate(recv) + "\r\n")
	case kindExim:
		h(b, "Return-path", "<"+rp+">")
		h(b, "Envelope-to", s.alias.addr)
		h(b, "Delivery-date", recv.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
		b.WriteString("Received: from " + host + " ([" + ip + "]:" + itoa(between(r, 1024, 65000)) + ")\r\n\tby mx." + e.domain +
			" with esmtps  (TLS1.2) tls TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\r\n\t(Exim 4." + itoa(between(r, 86, 94)) +
			")\r\n\t(envelope-from <" + rp + ">)\r\n\tid " + fill(r, "1^?^?^?-000#^?-#?") + "; " +
			recv.Format("Mon, 02 Jan 2006 15:04:05 -0700") + "\r\n")
	case kindReceivedFor:
		h(b, "Return-Path", "<"+rp+">")
		b.WriteString("Received: from " + host + " (" + host + " [" + ip + "])\r\n\tby mx1." + e.domain +
			" (OpenSMTPD) with " + with + " id " + fill(r, "%%%%%%%%") + " (TLSv1.3:TLS_AES_256_GCM_SHA384:256:NO)\r\n\tfor <" +
			s.rcpt + ">;\r\n\t" + mailDate(recv) + "\r\n")
	case kindToOnly:
		if chance(r, 0.5) {
			h(b, "Delivered-To", e.final)
		}
		h(b, "Return-Path", "<"+rp+">")
		b.WriteString("Received: from " + host + " (" + host + " [" + ip + "])" + tls + "\r\n\tby mx." + e.domain +
			" (Postfix) with " + with + " id " + qid + ";\r\n\t" + mailDate(recv) + "\r\n")
	}
	if y >= 2014 && s.style != kindQmail {
		ar := "mx." + e.domain + ";\r\n\tspf=pass (sender IP is " + ip + ") smtp.mailfrom=" + domainOf(rp)
		if s.origin == "spam" {
			ar = "mx." + e.domain + ";\r\n\tspf=" + pick(r, []string{"softfail", "none", "neutral"}) + " smtp.mailfrom=" + domainOf(rp)
		}
		if d != "" {
			ar += ";\r\n\tdkim=pass (2048-bit key) header.d=" + d + " header.i=@" + d + " header.b=" + b64(r, 8)
		}
		if y >= 2017 && s.origin != "spam" && (s.origin != "list" || d != "") {
			ar += ";\r\n\tdmarc=pass (p=" + pick(r, []string{"none", "reject", "quarantine"}) + " dis=none) header.from=" + domainOf(s.from.email)
		}
		b.WriteString("Authentication-Results: " + ar + "\r\n")
	}
}

// writeSenderHops writes what the sender's own servers added: internal
// Received lines and DKIM signatures.
func (s *spec) writeSenderHops(b *bytes.Buffer, r *rand.Rand, host, d, sel string) {
	sent := inZone(s.date.Add(-s.delay), s.zone)
	hop := inZone(s.date.Add(-s.delay/2), s.zone)
	if s.mailer.inner != "" {
		b.WriteString("Received: " + fill(r, s.mailer.inner) + ";\r\n        " + mailDate(hop) + "\r\n")
	}
	switch s.mailer.key {
	case "google":
		h(b, "X-Google-Smtp-Source", b64(r, 64))
		b.WriteString("X-Received: by 2002:a17:906:" + fill(r, "%%%%:b0:%%%:%%%%") + " with SMTP id " +
			fill(r, "?%%%%%%%%%%%##") + ".##.#;\r\n        " + mailDate(hop) + "\r\n")
	case "groups", "debian":
		s.writeListHop(b, r, hop)
	case "sg", "mc", "sfmc", "own", "company", "cr", "mg", "sp":
		if chance(r, 0.6) {
			b.WriteString("Received: from [127.0.0.1] (localhost [127.0.0.1])\r\n\tby " + host + " (" +
				pick(r, []string{"Postfix", "PowerMTA(TM) v5.0r6", "Haraka/2.8.25", "MTA"}) + ") with ESMTP id " +
				strings.ToUpper(fill(r, "%%%%%%%%%%")) + ";\r\n\t" + mailDate(sent) + "\r\n")
		}
	}
	if d != "" {
		writeDKIM(b, r, d, sel, sent, "From:To:Subject:Date:Message-ID:MIME-Version:Content-Type")
	}
	if s.mailer.espDKIM != "" && s.origin == "service" {
		writeDKIM(b, r, s.mailer.espDKIM, pick(r, []string{"smtpapi", "s1", "mte1", "k2"}), sent, "From:To:Subject:Date:Feedback-ID")
	}
}

// ---------------------------------------------------------------- header fields

func encodeText(t string, bEnc bool) string {
	if isASCII(t) {
		return t
	}
	if bEnc {
		return mime.BEncoding.Encode("UTF-8", t)
	}
	return mime.QEncoding.Encode("utf-8", t)
}

// latin1 converts s to ISO-8859-1 bytes, replacing what does not fit.
func latin1(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c < 256 {
			b.WriteByte(byte(c))
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

func (s *spec) subjectField() string {
	switch s.kind {
	case kind8bitHeader:
		if s.variant%2 == 1 {
			return latin1(s.subject)
		}
		return s.subject
	case kindRFC2047:
		return rfc2047Subject(s.variant, s.subject)
	}
	k := ""
	if s.mailer != nil {
		k = s.mailer.key
	}
	return encodeText(s.subject, k == "google" || k == "outlook" || k == "m365" || k == "ses" || k == "sg" || s.lang == "ja")
}

func (s *spec) fromField() string {
	switch s.kind {
	case kind8bitHeader:
		if s.variant%2 == 1 {
			return latin1(s.from.name) + " <" + s.from.email + ">"
		}
		return `"` + s.from.name + `" <` + s.from.email + ">"
	case kindRFC2047:
		return rfc2047Name(s.variant, s.from.name) + " <" + s.from.email + ">"
	}
	return s.from.String()
}

func (s *spec) toField() string {
	if s.toGroup != "" {
		return s.toGroup
	}
	if s.kind == kindRFC2047 && len(s.to) > 0 {
		t := s.to[0]
		return rfc2047Name(s.variant+1, pick(newRand(s.seed, 3), []string{"John Smith", "Jöhn Smïth", "Jean Müller-Lüdenscheidt"})) + " <" + t.email + ">"
	}
	return addrList(s.to)
}

// writeHead writes trace and header fields up to, not including, Content-Type.
func (s *spec) writeHead(b *bytes.Buffer, r *rand.Rand) {
	if !s.incoming {
		s.writeUserHeaders(b, r)
		return
	}
	s.writeTrace(b, r)
	sent := inZone(s.date.Add(-s.delay), s.zone)
	date := mailDate(sent)
	if s.origin == "person" && s.mailer.key == "google" {
		h(b, "MIME-Version", "1.0")
		if s.inReplyTo != "" {
			h(b, "References", strings.Join(s.refs, " "))
			h(b, "In-Reply-To", s.inReplyTo)
		}
		h(b, "From", s.fromField())
		h(b, "Date", sent.Format("Mon, 2 Jan 2006 15:04:05 -0700"))
		if s.msgID != "" && s.kind != kindNoMsgID {
			h(b, "Message-ID", s.msgID)
		}
		h(b, "Subject", s.subjectField())
		h(b, "To", s.toField())
		if len(s.cc) > 0 {
			h(b, "Cc", addrList(s.cc))
		}
		return
	}
	h(b, "From", s.fromField())
	if s.origin == "list" && s.list.mailer == "groups" {
		h(b, "Sender", s.list.addr)
	}
	h(b, "To", s.toField())
	if len(s.cc) > 0 {
		h(b, "Cc", addrList(s.cc))
	}
	if s.svc != nil && chance(r, 0.2) {
		h(b, "Reply-To", s.svc.display+" Support <support@"+s.svc.domain+">")
	}
	h(b, "Subject", s.subjectField())
	h(b, "Date", date)
	if s.msgID != "" && s.kind != kindNoMsgID {
		h(b, "Message-ID", s.msgID)
	}
	if s.inReplyTo != "" {
		h(b, "In-Reply-To", s.inReplyTo)
		h(b, "References", strings.Join(s.refs, " "))
	}
	if s.client != "" {
		b.WriteString(s.client + "\r\n")
	}
	switch {
	case s.origin == "list":
		s.writeListHeaders(b, r)
	case s.origin == "spam":
		if chance(r, 0.5) {
			h(b, "X-Mailer", pick(r, []string{"PHPMailer 5.2.22 (https://github.com/PHPMailer/PHPMailer)", "Microsoft Outlook Express 6.00.2900.5512", "The Bat! (v3.51.10) Professional"}))
		}
		if chance(r, 0.3) {
			h(b, "X-Priority", "1 (Highest)")
		}
		if s.bulk {
			h(b, "List-Unsubscribe", "<http://"+s.senderDomain+"/unsub.php?e="+fill(r, "%%%%%%%%%%%%")+">")
		}
	case s.origin == "service" && s.svc != nil:
		s.writeBulkHeaders(b, r)
	}
	h(b, "MIME-Version", "1.0")
}

func (s *spec) writeUserHeaders(b *bytes.Buffer, r *rand.Rand) {
	sent := berlin(s.date.Add(-s.delay))
	if s.msgID != "" {
		h(b, "Message-ID", s.msgID)
	}
	h(b, "Date", sent.Format("Mon, 2 Jan 2006 15:04:05 -0700"))
	h(b, "MIME-Version", "1.0")
	h(b, "User-Agent", strings.TrimPrefix(s.client, "User-Agent: "))
	if s.lang == "de" {
		h(b, "Content-Language", "de-DE")
	} else {
		h(b, "Content-Language", "en-US")
	}
	if s.subject != "" {
		h(b, "Subject", encodeText(s.subject, false))
	}
	h(b, "To", s.toField())
	if len(s.refs) > 0 {
		h(b, "References", strings.Join(s.refs, " "))
	}
	h(b, "From", s.from.String())
	if s.inReplyTo != "" {
		h(b, "In-Reply-To", s.inReplyTo)
	}
	if s.kind == kindDraft {
		h(b, "X-Mozilla-Draft-Info", "internal/draft; vcard=0; receipt=0; DSN=0; uuencode=0; attachmentreminder=0; deliveryformat=1")
		h(b, "X-Identity-Key", "id"+itoa(1+int(s.seed%4)))
	}
}

func (s *spec) writeBulkHeaders(b *bytes.Buffer, r *rand.Rand) {
	sv := s.svc
	y := s.date.Year()
	if s.bulk {
		h(b, "List-Unsubscribe", "<https://"+sv.mailDom+"/unsubscribe?u="+fill(r, "&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&")+
			">, <mailto:unsubscribe-"+fill(r, "%%%%%%%%%%%%%%%%")+"@"+sv.mailDom+">")
		if y >= 2019 {
			h(b, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
		}
		h(b, "Precedence", "bulk")
	}
	switch s.mailer.key {
	case "ses":
		h(b, "Feedback-ID", "1.eu-west-1."+b64(r, 43)+"=:AmazonSES")
		h(b, "X-SES-Outgoing", s.date.UTC().Format("2006.01.02")+"-"+randIP(r, "54.240."))
	case "sg":
		h(b, "X-SG-EID", b64(r, 120))
		h(b, "X-SG-ID", b64(r, 60))
		if s.bulk {
			h(b, "Feedback-ID", fill(r, "#######")+":SG")
		}
	case "mc":
		h(b, "X-Mailer", "MailChimp Mailer - **CID"+fill(r, "%%%%%%%%%%")+"**")
		h(b, "X-MC-User", fill(r, "%%%%%%%%%%%%%%%%%%%%%%%%%"))
		h(b, "Feedback-ID", fill(r, "#########:#########.#######:us#:mc"))
	case "sfmc":
		h(b, "X-SFMC-Stack", itoa(between(r, 1, 11)))
		h(b, "x-job", fill(r, "#######_########"))
		h(b, "Feedback-ID", fill(r, "########:########:###.###.###.###:SFMC"))
	case "sp":
		h(b, "X-MSFBL", b64(r, 80))
		h(b, "Feedback-ID", fill(r, "##########")+":sparkpost")
	case "mg":
		h(b, "X-Mailgun-Sid", b64(r, 60))
		h(b, "X-Mailgun-Tag", pick(r, []string{"newsletter", "transactional", "digest"}))
		h(b, "Feedback-ID", fill(r, "%%%%%%%%%%%%")+":mailgun")
	case "cr":
		h(b, "X-CSA-Complaints", "csa-complaints@eco.de")
		h(b, "Feedback-ID", fill(r, "######")+":"+fill(r, "#######")+":cleverreach")
	default:
		if s.bulk {
			h(b, "Feedback-ID", pick(r, []string{"newsletter", "campaign", "promo", "digest"})+":"+fill(r, "#####")+":"+sv.alias+":"+sv.domain)
		}
	}
	if s.bulk && chance(r, 0.3) {
		h(b, "X-Campaign-ID", fill(r, "%%%%%%%%-%%%%"))
	}
	if chance(r, 0.2) {
		h(b, "X-Auto-Response-Suppress", "OOF, AutoReply")
	}
}

// ---------------------------------------------------------------- MIME parts

// part writes its own header fields, an empty line and its content.
type part func(b *bytes.Buffer)

// writeLines writes text ("\n" line ends) with CRLF line ends and a final CRLF.
func writeLines(b *bytes.Buffer, text string) {
	for line := range strings.SplitSeq(text, "\n") {
		b.WriteString(line)
		b.WriteString("\r\n")
	}
}

func writeQP(b *bytes.Buffer, text string) {
	w := quotedprintable.NewWriter(b)
	w.Write([]byte(text))
	w.Close()
	b.WriteString("\r\n")
}

func writeB64(b *bytes.Buffer, data []byte) {
	var line [78]byte
	for len(data) > 0 {
		n := min(57, len(data))
		m := base64.StdEncoding.EncodedLen(n)
		base64.StdEncoding.Encode(line[:], data[:n])
		b.Write(line[:m])
		b.WriteString("\r\n")
		data = data[n:]
	}
}

// textPart is a text part; cte "" picks 7bit for ASCII and quoted-printable otherwise.
func textPart(subtype, text, cte string) part {
	return func(b *bytes.Buffer) {
		charset := "UTF-8"
		if cte == "" {
			cte = "quoted-printable"
			if isASCII(text) && !hasLongLine(text, 900) {
				cte = "7bit"
				charset = "us-ascii"
			}
		}
		b.WriteString("Content-Type: text/" + subtype + "; charset=\"" + charset + "\"\r\n")
		b.WriteString("Content-Transfer-Encoding: " + cte + "\r\n\r\n")
		switch cte {
		case "quoted-printable":
			writeQP(b, text)
		case "base64":
			writeB64(b, []byte(strings.ReplaceAll(text, "\n", "\r\n")))
		default:
			writeLines(b, text)
		}
	}
}

func hasLongLine(text string, n int) bool {
	for line := range strings.SplitSeq(text, "\n") {
		if len(line) >= n {
			return true
		}
	}
	return false
}

func attachPart(ctype, filename string, data []byte) part {
	return func(b *bytes.Buffer) {
		b.WriteString("Content-Type: " + ctype + "; name=\"" + filename + "\"\r\n")
		b.WriteString("Content-Disposition: attachment; filename=\"" + filename + "\"\r\n")
		b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
		writeB64(b, data)
	}
}

func mimeMultipart(subtype, boundary string, parts ...part) part {
	return func(b *bytes.Buffer) {
		b.WriteString("Content-Type: multipart/" + subtype + ";\r\n\tboundary=\"" + boundary + "\"\r\n\r\n")
		if strings.HasPrefix(boundary, "----=") {
			b.WriteString("This is a multi-part message in MIME format.\r\n")
		}
		for _, p := range parts {
			b.WriteString("--" + boundary + "\r\n")
			p(b)
		}
		b.WriteString("--" + boundary + "--\r\n")
	}
}

func (s *spec) boundary(r *rand.Rand) string {
	k := ""
	if s.mailer != nil {
		k = s.mailer.key
	}
	switch k {
	case "google", "groups":
		return "000000000000" + fill(r, "%%%%%%%%%%%%%%%%")
	case "outlook", "m365":
		return "_000_" + fill(r, "^^#PR0#MB####^^^^^^^^^^^^^^^^^^") + "_"
	case "sfmc":
		return "----=_Part_" + fill(r, "#######_#########.#############")
	case "":
		return "------------" + fill(r, "^^^^^^^^^^^^^^^^^^^^^^^^")
	}
	return "=_" + fill(r, "%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%")
}

func fakePDF(r *rand.Rand, size int) []byte {
	head := "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n4 0 obj\n<< /Length " +
		itoa(size) + " /Filter /FlateDecode >>\nstream\n"
	tail := "\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
	out := make([]byte, 0, len(head)+size+len(tail))
	out = append(out, head...)
	out = append(out, randBytes(r, size)...)
	return append(out, tail...)
}

func fakeZip(r *rand.Rand, size int) []byte {
	return append([]byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"), randBytes(r, size)...)
}

// ---------------------------------------------------------------- bodies

func (s *spec) writeBody(b *bytes.Buffer, r *rand.Rand) {
	var p part
	switch s.body {
	case bodyPersonal:
		p = s.personalBody(r)
	case bodySent:
		txt := wrap(personalText(s.text), 72)
		if s.quote != nil {
			txt += "\n\n" + quoteBlock(s.quote, s.lang)
		}
		if s.kind == kindDraft {
			txt = wrap(paragraph(r, s.lang, 1, 3), 72)
		}
		p = func(b *bytes.Buffer) {
			cte := "8bit"
			if isASCII(txt) {
				cte = "7bit"
			}
			b.WriteString("Content-Type: text/plain; charset=UTF-8; format=flowed\r\nContent-Transfer-Encoding: " + cte + "\r\n\r\n")
			writeLines(b, txt)
		}
	case bodyBiz, bodyInvoice, bodyApplication:
		p = s.bizBody(r)
	case bodyDMARC:
		txt := "This is an aggregate report from " + domainOf(s.from.email) + ".\n\nReport domain: " + s.env.domain +
			"\nSubmitter: " + domainOf(s.from.email) + "\nReport-ID: " + s.subject[strings.LastIndexByte(s.subject, ' ')+1:] + "\n"
		p = mimeMultipart("mixed", s.boundary(r), textPart("plain", txt, ""),
			attachPart("application/zip", s.attach, fakeZip(r, between(r, 400, 2000))))
	case bodyTransactional, bodyNewsletter:
		p = s.serviceBody(r)
	case bodyList:
		p = textPart("plain", s.listBody(r), "")
	case bodySpam:
		p = s.spamBody(r)
	case bodyNUL:
		txt := []byte(wrap(paragraph(r, "en", 4, 10), 72))
		for i := 0; i < len(txt); i += between(r, 20, 200) {
			txt[i] = 0
		}
		txt = append(txt, make([]byte, between(r, 1, 64))...)
		p = func(b *bytes.Buffer) {
			b.WriteString("Content-Type: text/plain; charset=\"iso-8859-1\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
			b.Write(bytes.ReplaceAll(txt, lf, crlf))
			b.WriteString("\r\n")
		}
	case bodyLongLine:
		p = func(b *bytes.Buffer) {
			b.WriteString("Content-Type: text/html; charset=\"us-ascii\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
			b.WriteString("<html><body>\r\n")
			b.WriteString(longLine(r, 20000))
			b.WriteString("\r\n</body></html>\r\n")
		}
	}
	p(b)
}

// longLine returns exactly n bytes of HTML without a line break.
func longLine(r *rand.Rand, n int) string {
	var sb strings.Builder
	sb.WriteString("<div>")
	for sb.Len() < n-6 {
		sb.WriteString(`<span style="color:#333333">`)
		sb.WriteString(sentence(r, "en"))
		sb.WriteString("</span> ")
	}
	out := sb.String()[:n-6]
	return out + "</div>"
}

func (s *spec) personalBody(r *rand.Rand) part {
	txt := personalText(s.text)
	quoted := ""
	if s.quote != nil {
		quoted = quoteBlock(s.quote, s.lang)
	}
	plain := wrap(txt, 72)
	if quoted != "" {
		plain += "\n\n" + quoted
	}
	k := s.mailer.key
	if (k == "google" || k == "outlook" || k == "icloud" || k == "m365") && chance(r, 0.7) || k == "yahoo" {
		var hb strings.Builder
		hb.WriteString(`<div dir="ltr">`)
		for line := range strings.SplitSeq(txt, "\n") {
			if line == "" {
				hb.WriteString("<div><br></div>")
			} else {
				hb.WriteString("<div>" + html.EscapeString(line) + "</div>")
			}
			hb.WriteString("\n")
		}
		hb.WriteString("</div>\n")
		if quoted != "" {
			attr, rest, _ := strings.Cut(quoted, "\n")
			hb.WriteString(`<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">` + html.EscapeString(attr) +
				"<br></div><blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex\">")
			for line := range strings.SplitSeq(rest, "\n") {
				hb.WriteString(html.EscapeString(strings.TrimPrefix(strings.TrimPrefix(line, ">"), " ")) + "<br>\n")
			}
			hb.WriteString("</blockquote></div>\n")
		}
		return mimeMultipart("alternative", s.boundary(r), textPart("plain", plain, ""), textPart("html", hb.String(), ""))
	}
	cte := ""
	if !isASCII(plain) && chance(r, 0.5) {
		cte = "8bit"
	}
	if s.lang == "ja" {
		cte = "base64"
	}
	return textPart("plain", plain, cte)
}

func (s *spec) bizBody(r *rand.Rand) part {
	org := ""
	from := s.from.name
	if from == "" {
		from = strings.Split(s.from.email, "@")[0]
	}
	lang := s.lang
	greet := "Sir or Madam"
	if lang == "de" {
		greet = "Damen und Herren"
	}
	if s.alias != nil && s.alias.cat == catPersonal {
		greet = "Mr Smith"
	}
	if s.mailer != nil && (s.mailer.key == "m365" || s.mailer.key == "company") {
		org = from
		if i := strings.LastIndexByte(s.from.email, '@'); i > 0 {
			org = upperFirst(strings.Split(s.from.email[i+1:], ".")[0])
		}
	}
	intro := ""
	switch s.body {
	case bodyInvoice:
		amount := itoa(between(r, 12, 4800)) + "," + fill(r, "##")
		if lang == "de" {
			intro = "anbei erhalten Sie unsere Rechnung über " + amount + " EUR. Bitte überweisen Sie den Betrag innerhalb von 14 Tagen."
		} else {
			intro = "Please find attached our invoice for EUR " + amount + ", payable within 14 days."
		}
	case bodyApplication:
		org = ""
	}
	txt := bizText(r, lang, greet, intro, from, org)
	if s.quote != nil {
		txt += "\n\n" + quoteBlock(s.quote, lang)
	}
	txt = wrap(txt, 72)
	var main part = textPart("plain", txt, "")
	if chance(r, 0.3) {
		htm := "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head><body>\n<p>" +
			strings.ReplaceAll(html.EscapeString(txt), "\n", "<br>\n") + "</p>\n</body></html>"
		main = mimeMultipart("alternative", s.boundary(r), textPart("plain", txt, ""), textPart("html", htm, ""))
	}
	switch s.body {
	case bodyInvoice:
		return mimeMultipart("mixed", s.boundary(r), main, attachPart("application/pdf", s.attach, fakePDF(r, between(r, 4000, 20000))))
	case bodyApplication:
		if s.incoming {
			parts := []part{main, attachPart("application/pdf", pick(r, []string{"Lebenslauf.pdf", "CV.pdf", "Resume_2019.pdf"}), fakePDF(r, between(r, 5000, 16000)))}
			if chance(r, 0.4) {
				parts = append(parts, attachPart("application/pdf", "Zeugnisse.pdf", fakePDF(r, between(r, 3000, 9000))))
			}
			return mimeMultipart("mixed", s.boundary(r), parts...)
		}
	}
	return main
}

// serviceBody is a transactional message or a newsletter.
func (s *spec) serviceBody(r *rand.Rand) part {
	sv := s.svc
	lang := s.lang
	blocks := between(r, 2, 4)
	if s.body == bodyNewsletter {
		blocks = between(r, 5, 16)
	}
	click := "https://" + pick(r, []string{"click.", "links.", "t.", "email.", ""}) + sv.mailDom
	var tb, hb strings.Builder
	hb.WriteString("<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n")
	hb.WriteString("<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n")
	hb.WriteString("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\" /><title>" + html.EscapeString(s.subject) + "</title>\n")
	hb.WriteString("<style type=\"text/css\">body{margin:0;padding:0;background:#f4f4f4;} table{border-collapse:collapse;} " +
		"img{border:0;display:block;} .btn{background:#0a66c2;color:#ffffff;border-radius:4px;padding:10px 18px;text-decoration:none;} " +
		"@media only screen and (max-width:600px){.container{width:100% !important;} .col{display:block !important;width:100% !important;}}</style>\n")
	hb.WriteString("</head><body><table role=\"presentation\" width=\"100%\" bgcolor=\"#f4f4f4\"><tr><td align=\"center\">\n")
	hb.WriteString("<table class=\"container\" role=\"presentation\" width=\"600\" bgcolor=\"#ffffff\">\n")
	hb.WriteString("<tr><td style=\"padding:20px;\"><a href=\"" + click + "/?qs=" + fill(r, "%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%") +
		"\"><img src=\"https://" + sv.mailDom + "/img/logo-" + fill(r, "%%%%%%") + ".png\" width=\"160\" alt=\"" + html.EscapeString(sv.display) + "\" /></a></td></tr>\n")
	tb.WriteString(sv.display + "\n\n")
	greet := map[string]string{"de": "Hallo John,", "fr": "Bonjour John,", "ja": "John様", "ru": "Здравствуйте, John!"}[lang]
	if greet == "" {
		greet = "Hi John,"
	}
	tb.WriteString(greet + "\n\n")
	for i := range blocks {
		title := sentence(r, lang)
		para := paragraph(r, lang, 2, 5)
		link := click + "/ls/click?upn=" + fill(r, "&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&")
		tb.WriteString(strings.ToUpper(title) + "\n" + wrap(para, 72) + "\n" + link + "\n\n")
		hb.WriteString("<tr><td class=\"col\" style=\"padding:10px 20px;font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:20px;color:#333333;\">")
		if s.body == bodyNewsletter && i%2 == 0 {
			hb.WriteString("<img src=\"https://" + sv.mailDom + "/img/" + fill(r, "%%%%%%%%%%%%%%%%") + ".jpg\" width=\"560\" alt=\"\" style=\"width:100%;max-width:560px;\" />")
		}
		hb.WriteString("<h2 style=\"font-size:20px;margin:0 0 8px 0;\">" + html.EscapeString(title) + "</h2><p style=\"margin:0 0 12px 0;\">" +
			html.EscapeString(para) + "</p><a class=\"btn\" href=\"" + link + "\" target=\"_blank\">" + pick(r, []string{"Read more", "Mehr erfahren", "Shop now", "View", "Jetzt ansehen"}) +
			"</a></td></tr>\n")
	}
	unsub := click + "/unsubscribe?e=" + fill(r, "&&&&&&&&&&&&&&&&&&&&&&&&")
	foot := "This email was sent to " + s.rcpt + " because you signed up at " + sv.domain + ".\nUnsubscribe: " + unsub
	if lang == "de" {
		foot = "Diese E-Mail wurde an " + s.rcpt + " gesendet, weil Sie sich bei " + sv.domain + " registriert haben.\nAbmelden: " + unsub
	}
	if chance(r, 0.3) {
		foot = "Unsubscribe: " + unsub // many do not name the recipient
	}
	foot += "\n© " + itoa(s.date.Year()) + " " + sv.display + fill(r, ", ## Main Street, #####")
	tb.WriteString(foot + "\n")
	hb.WriteString("<tr><td style=\"padding:20px;font-size:11px;color:#888888;\">" + strings.ReplaceAll(html.EscapeString(foot), "\n", "<br />") + "</td></tr>\n")
	hb.WriteString("</table><img src=\"" + click + "/open.gif?o=" + fill(r, "%%%%%%%%%%%%%%%%%%%%") + "\" width=\"1\" height=\"1\" alt=\"\" /></td></tr></table></body></html>")
	var main part
	if chance(r, 0.15) {
		main = textPart("html", hb.String(), "quoted-printable")
	} else {
		cte := ""
		if lang == "ja" {
			cte = "base64"
		}
		main = mimeMultipart("alternative", s.boundary(r), textPart("plain", tb.String(), cte), textPart("html", hb.String(), "quoted-printable"))
	}
	if s.attach != "" {
		return mimeMultipart("mixed", s.boundary(r), main, attachPart("application/pdf", s.attach, fakePDF(r, between(r, 3000, 15000))))
	}
	return main
}

func (s *spec) spamBody(r *rand.Rand) part {
	link := "http://" + pick(r, []string{"", "www.", "secure-"}) + s.senderDomain + "/" + fill(r, "?????/?%%%%%%%%%%")
	txt := paragraph(r, s.lang, 2, 6) + "\n\n" + link + "\n"
	if chance(r, 0.4) {
		return textPart("plain", wrap(txt, 72), "")
	}
	htm := "<html><body style=\"font-family:Arial\"><p>" + html.EscapeString(paragraph(r, s.lang, 2, 6)) +
		"</p><p><a href=\"" + link + "\"><b>" + pick(r, []string{"CLICK HERE", "Claim now", "Verify account", "Jetzt bestätigen"}) +
		"</b></a></p><img src=\"http://" + s.senderDomain + "/t.gif?" + fill(r, "%%%%%%%%") + "\"></body></html>"
	if chance(r, 0.5) {
		return textPart("html", htm, "base64")
	}
	return textPart("html", htm, "quoted-printable")
}
