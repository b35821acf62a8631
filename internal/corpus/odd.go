package corpus

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"mime"
	"slices"
	"strings"
	"unicode/utf8"
)

// ---------------------------------------------------------------- odd messages

// oddAlias picks an alias for an odd message: personal or a service.
func (g *generator) oddAlias() *aliasInfo {
	for {
		a := g.pickActive()
		if a.cat == catPersonal || a.cat == catService && a.welcomed {
			return a
		}
	}
}

// oddBase plans an ordinary message to a and returns it for modification.
func (g *generator) oddBase(a *aliasInfo) *spec {
	o := uopt{folder: folderInbox, max: 1}
	if a.cat == catService {
		g.serviceMsg(a, o)
	} else {
		g.thread(a, pick(g.r, a.contacts), o, "personal", "person", bodyPersonal, 1)
	}
	return g.specs[len(g.specs)-1]
}

var (
	utf8Subjects   = []string{"Grüße aus München – Ihre Bestellung", "Ваш заказ отправлен", "Ihre Rechnung für März ✓", "週末の写真"}
	latin1Subjects = []string{"Rückfrage zur Rechnung für Jürgen", "Réservation confirmée à Zürich", "Grüße aus Köln", "Ihre Bestellung bei Müller & Söhne"}
	oddNames       = []string{"Jürgen Müller", "Café Zürich", "Søren Kierkegård", "Hélène Dubois"}
)

// planOdd adds the malformed and binary messages, each Kind at least once.
func (g *generator) planOdd() {
	r := g.r
	n := 1 + g.o.Messages/1000
	for _, k := range oddKinds {
		if k == kindForeign {
			g.planForeign(n + 2)
			continue
		}
		for i := range n {
			switch k {
			case kindNoHeader, kindBinary:
				s := g.newSpec(nil, "", daytime(r, randTime(r, g.start, g.end)))
				s.kind = k
				s.incoming = false
				s.forceFolder = folderInbox
				g.specs = append(g.specs, s)
			case kindDupMsgID:
				s1 := g.oddBase(g.oddAlias())
				s2 := g.oddBase(g.oddAlias())
				delete(g.ids, strings.Trim(s2.msgID, "<>"))
				s2.msgID = s1.msgID
				s1.kind, s2.kind = k, k
			default:
				s := g.oddBase(g.oddAlias())
				s.kind = k
				s.variant = i
				switch k {
				case kindNUL:
					s.body = bodyNUL
				case kindLongLine:
					s.body = bodyLongLine
				case kindBroken:
					s.style = kindQmail
				case kind8bitHeader:
					if i%2 == 1 {
						s.subject = pick(r, latin1Subjects)
					} else {
						s.subject = pick(r, utf8Subjects)
					}
					s.from.name = pick(r, oddNames)
				case kindRFC2047:
					if !s.rcptVisible {
						s.toGroup, s.to, s.rcptVisible = "", []addr{{"", s.alias.header}}, true
					}
					s.subject = pick(r, append(slices.Clone(utf8Subjects), "Grüße aus Köln 🎉 – Ihre Bestellung ist unterwegs"))
					if i%3 == 1 {
						s.subject = pick(r, latin1Subjects)
					}
					s.from.name = pick(r, oddNames)
				}
			}
		}
	}
}

func (s *spec) renderNoHeader(b *bytes.Buffer, r *rand.Rand) {
	txt := "Hello John\n\n" + paragraph(r, "en", 3, 8) + "\n\n" + paragraph(r, "en", 2, 6) + "\n\nBye"
	writeLines(b, wrap(txt, 72))
}

func (s *spec) renderBinary(b *bytes.Buffer, r *rand.Rand) {
	b.WriteString("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	var dim [8]byte
	binary.BigEndian.PutUint32(dim[:4], uint32(between(r, 16, 4000)))
	binary.BigEndian.PutUint32(dim[4:], uint32(between(r, 16, 4000)))
	b.Write(dim[:])
	b.WriteString("\x08\x06\x00\x00\x00")
	b.Write(randBytes(r, between(r, 2000, 40000)))
	b.WriteString("\x00\x00\x00\x00IEND\xaeB`\x82")
}

func (s *spec) renderBroken(b *bytes.Buffer, r *rand.Rand) {
	host, ip := s.senderHost(r)
	b.WriteString("    continued from nowhere, this folded line comes first\r\n")
	h(b, "Return-Path", "<"+s.from.email+">")
	h(b, "Delivered-To", s.alias.addr)
	b.WriteString("Received: from " + host + " (HELO " + host + ") (" + ip + ")\r\n  by mail." + s.env.domain +
		" with SMTP; " + qmailDate(s.date) + "\r\n")
	b.WriteString("This header line has no colon at all\r\n")
	h(b, "From", s.from.String())
	b.WriteString("To: <<<>>>\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(s.subject))
	b.WriteString("Subject: =?UTF-8?B?" + enc[:len(enc)/2] + "\r\n")
	h(b, "Date", mailDate(inZone(s.date.Add(-s.delay), s.zone)))
	if s.msgID != "" {
		h(b, "Message-ID", s.msgID)
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n")
	b.WriteString("X-Broken: \r\n")
	b.WriteString("\r\n")
	writeLines(b, wrap(personalText(s.text), 72))
}

// qLatin1 Q-encodes s as ISO-8859-1.
func qLatin1(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c < 128 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".,-!", c)):
			b.WriteRune(c)
		case c < 256:
			b.WriteString("=" + strings.ToUpper(hex2(byte(c))))
		default:
			b.WriteString("=3F")
		}
	}
	return b.String()
}

func hex2(c byte) string { return string([]byte{hexchars[c>>4], hexchars[c&15]}) }

func fitsLatin1(s string) bool {
	for _, c := range s {
		if c >= 256 {
			return false
		}
	}
	return true
}

// rfc2047Subject encodes a subject in one of several RFC 2047 styles.
func rfc2047Subject(variant int, subj string) string {
	switch {
	case variant%3 == 1 && fitsLatin1(subj):
		return "Re: =?ISO-8859-1?Q?" + qLatin1(subj) + "?="
	case variant%3 == 2:
		return strings.ToLower("=?UTF-8?Q?") + strings.TrimSuffix(strings.TrimPrefix(mime.QEncoding.Encode("UTF-8", subj), "=?UTF-8?q?"), "?=") + "?= (2)"
	}
	// Two adjacent B words, split on a rune boundary.
	half := len(subj) / 2
	for half < len(subj) && !utf8.RuneStart(subj[half]) {
		half++
	}
	return "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(subj[:half])) + "?= =?UTF-8?B?" +
		base64.StdEncoding.EncodeToString([]byte(subj[half:])) + "?="
}

// rfc2047Name encodes a display name.
func rfc2047Name(variant int, name string) string {
	if variant%2 == 0 && fitsLatin1(name) {
		return "=?iso-8859-1?q?" + qLatin1(name) + "?="
	}
	return "=?utf-8?b?" + base64.StdEncoding.EncodeToString([]byte(name)) + "?="
}

// ---------------------------------------------------------------- huge messages

var hugeAttachments = []struct{ name, ctype, magic string }{
	{"urlaub-fotos.zip", "application/zip", "PK\x03\x04\x14\x00\x00\x00\x08\x00"},
	{"hochzeit.mp4", "video/mp4", "\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"},
	{"backup-2019.tar.gz", "application/gzip", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"},
	{"scans.pdf", "application/pdf", "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"},
}

var hugeSubjects = []string{"Fotos vom Urlaub", "Das Video von der Hochzeit", "Backup wie besprochen", "All the photos!", "Scans of the documents"}

// planHuge adds the huge messages.
func (g *generator) planHuge() {
	r := g.r
	for i := range g.o.HugeMessages {
		a := g.mainPersonal()
		if i%2 == 1 {
			if f := g.findActive(func(a *aliasInfo) bool { return a.local == "family" }); f != nil {
				a = f
			}
		}
		p := pick(r, a.contacts)
		s := g.fromPerson(a, p, g.when(a, uopt{}), "person")
		s.kind = kindHuge
		s.body = bodyHuge
		s.style = kindPostfix
		s.forceFolder = folderInbox
		s.subject = pick(r, hugeSubjects)
		s.variant = r.IntN(len(hugeAttachments))
		s.attach = hugeAttachments[s.variant].name
		g.specs = append(g.specs, s)
	}
}

// prepareHuge renders the small head and tail of a huge message and sizes its
// attachment so that the whole is about HugeSize bytes.
func (g *generator) prepareHuge(s *spec) {
	var b bytes.Buffer
	r := newRand(s.seed, 0x5eed)
	s.writeHead(&b, r)
	bd := s.boundary(r)
	att := hugeAttachments[s.variant]
	b.WriteString("Content-Type: multipart/mixed;\r\n\tboundary=\"" + bd + "\"\r\n\r\n--" + bd + "\r\n")
	textPart("plain", wrap(personalText(s.text), 76), "")(&b)
	b.WriteString("--" + bd + "\r\nContent-Type: " + att.ctype + "; name=\"" + s.attach + "\"\r\n" +
		"Content-Disposition: attachment; filename=\"" + s.attach + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	s.prefix = bytes.Clone(b.Bytes())
	s.suffix = []byte("--" + bd + "--\r\n")
	target := g.o.HugeSize - int64(len(s.prefix)+len(s.suffix))
	raw := target / 78 * 57
	if rem := target % 78; rem > 6 {
		raw += (rem - 2) / 4 * 3
	}
	s.hugeRaw = max(raw, int64(len(att.magic)))
}

// base64Len is the size of n bytes base64-encoded in 76-character CRLF lines.
func base64Len(n int64) int64 {
	l := n / 57 * 78
	if rem := n % 57; rem > 0 {
		l += (rem+2)/3*4 + 2
	}
	return l
}

// hugeReader streams the base64 lines of a huge attachment: seeded random
// bytes behind a file-type magic number.
type hugeReader struct {
	src   *rand.PCG
	left  int64
	magic string
	raw   [64]byte
	line  [80]byte
	pend  []byte
}

func newHugeReader(s *spec) io.Reader {
	return &hugeReader{src: rand.NewPCG(s.seed, 0xb16b16), left: s.hugeRaw, magic: hugeAttachments[s.variant].magic}
}

func (h *hugeReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(h.pend) == 0 {
			if h.left == 0 {
				if n == 0 {
					return 0, io.EOF
				}
				return n, nil
			}
			k := int(min(57, h.left))
			for i := 0; i < 64; i += 8 {
				binary.LittleEndian.PutUint64(h.raw[i:], h.src.Uint64())
			}
			if h.magic != "" {
				copy(h.raw[:], h.magic)
				h.magic = ""
			}
			m := base64.StdEncoding.EncodedLen(k)
			base64.StdEncoding.Encode(h.line[:], h.raw[:k])
			h.line[m] = '\r'
			h.line[m+1] = '\n'
			h.pend = h.line[:m+2]
			h.left -= int64(k)
		}
		c := copy(p[n:], h.pend)
		h.pend = h.pend[c:]
		n += c
	}
	return n, nil
}
