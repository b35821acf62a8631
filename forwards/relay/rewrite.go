package relay

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"io"
	"mime"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file rewrites the header of a message for reverse aliases
// (Config.ReverseAliases): the header only, held in memory (at most
// maxSignedHeader), the body streamed by the caller.

// field is one header field as it came: its name as written (white space
// before the colon dropped) and all of its bytes, the lines that continue
// it (RFC 5322 §2.2.3) and the line endings included. A line that is not a
// field (no colon, or a name with white space in it) has name "".
type field struct {
	name string
	raw  []byte
}

// value returns the field's body unfolded: after the colon, without line
// breaks.
func (f field) value() string {
	_, v, _ := bytes.Cut(f.raw, []byte(":"))
	s := strings.ReplaceAll(string(v), "\r\n", "")
	return strings.ReplaceAll(s, "\n", "")
}

func (f field) is(name string) bool { return strings.EqualFold(f.name, name) }

// renamed returns the field under another name, its body unchanged.
func (f field) renamed(name string) []byte {
	_, v, _ := bytes.Cut(f.raw, []byte(":"))
	return append([]byte(name+":"), v...)
}

// splitHeader splits a header (without its empty line) into fields. A
// last line without a line break gets one (CRLF), so that a field can
// follow it.
func splitHeader(hdr []byte) []field {
	if len(hdr) > 0 && hdr[len(hdr)-1] != '\n' {
		hdr = append(bytes.Clone(hdr), "\r\n"...)
	}
	var fs []field
	for start := 0; start < len(hdr); {
		end := len(hdr)
		if i := bytes.IndexByte(hdr[start:], '\n'); i >= 0 {
			end = start + i + 1
		}
		line := hdr[start:end]
		if (line[0] == ' ' || line[0] == '\t') && len(fs) > 0 {
			last := &fs[len(fs)-1]
			last.raw = hdr[end-len(last.raw)-len(line) : end]
			start = end
			continue
		}
		name := ""
		if c := bytes.IndexByte(line, ':'); c > 0 {
			n := strings.TrimRight(string(line[:c]), " \t")
			if n != "" && !strings.ContainsAny(n, " \t\r\n") {
				name = n
			}
		}
		fs = append(fs, field{name: name, raw: line})
		start = end
	}
	return fs
}

// readHeader reads the header of the message at r: its bytes without the
// empty line, and how many bytes it took with the empty line (where the
// body starts). A message without an empty line is all header. ok is false
// when the header is longer than limit.
func readHeader(r io.Reader, limit int) (hdr []byte, n int, ok bool, err error) {
	buf := make([]byte, 0, 8<<10)
	chunk := make([]byte, 32<<10)
	for {
		m, rerr := r.Read(chunk)
		from := len(buf)
		buf = append(buf, chunk[:m]...)
		if end := headerEnd(buf, from); end >= 0 {
			sep := 1 // the LF of the empty line
			if end >= 2 && buf[end-2] == '\r' {
				sep = 2
			}
			return buf[:end-sep], end, true, nil
		}
		if len(buf) > limit {
			return nil, 0, false, nil
		}
		if rerr == io.EOF {
			return buf, len(buf), true, nil
		}
		if rerr != nil {
			return nil, 0, false, rerr
		}
	}
}

// maxReverse bounds the reverse addresses one forwarded message may make:
// a To: of a thousand addresses should not make a thousand rows. The
// To: and Cc: fields beyond it keep their addresses under X-Original-To
// and X-Original-Cc.
const maxReverse = 50

// maxDisplay bounds the original sender shown in the display name of the
// rewritten From: (in runes).
const maxDisplay = 200

// viaSuffix ends the display name of a rewritten From:.
const viaSuffix = " via catchall"

// ourFields are the fields only the relay writes: any that came with the
// message is dropped.
var ourFields = []string{"X-Original-From", "X-Original-Reply-To", "X-Original-To", "X-Original-Cc", "X-Catchall-Alias"}

// forwardRewriter rewrites the header of forwarded mail for one alias.
type forwardRewriter struct {
	envFrom string                            // the envelope sender ("" null)
	ours    func(addr string) bool            // an address of the relay's domains
	reverse func(addr string) (string, error) // the reverse address of a correspondent (normalised)
	made    int
}

// rewrite returns hdr (without its empty line) rewritten, and whether its
// From: was (it is not when there is no sender to reverse: no usable From:
// and the null sender). The From: becomes "ORIGINAL via catchall"
// <REVERSE>, ORIGINAL the first author's display name and address, or the
// envelope sender when the From: field is missing, repeated or cannot be
// parsed; each original From: is kept as X-Original-From. Each address of
// Reply-To, To and Cc that is not at the relay's domains becomes its
// reverse address, display name kept (groups are flattened); a Reply-To
// that cannot be parsed or has an address that cannot be sent to is kept
// only as X-Original-Reply-To, a To or Cc as X-Original-To or -Cc, so that
// no reply goes around the relay. The original Reply-To is kept as
// X-Original-Reply-To too.
func (fr *forwardRewriter) rewrite(hdr []byte) ([]byte, bool, error) {
	fields := splitHeader(hdr)
	var froms []field
	for _, f := range fields {
		if f.is("From") {
			froms = append(froms, f)
		}
	}
	corr, label := "", ""
	if len(froms) == 1 {
		if list, err := fromParser.ParseList(froms[0].value()); err == nil && len(list) > 0 {
			if a, _, err := plainAddress(list[0].Address); err == nil {
				corr, label = a, list[0].Address
				if n := cleanName(list[0].Name); n != "" {
					label = n + " <" + list[0].Address + ">"
				}
			}
		}
	}
	if corr == "" && fr.envFrom != "" {
		if a, _, err := plainAddress(fr.envFrom); err == nil {
			corr, label = a, fr.envFrom
		}
	}
	if corr == "" {
		return hdr, false, nil
	}
	rev, err := fr.reverse(corr)
	if err != nil {
		return nil, false, err
	}
	fr.made++
	from := (&mail.Address{Name: truncate(label, maxDisplay) + viaSuffix, Address: rev}).String()
	var out bytes.Buffer
	wroteFrom := false
	for i, f := range fields {
		switch {
		case i == 0 && (f.raw[0] == ' ' || f.raw[0] == '\t'):
			// Lines that go on with no field: after the relay's own
			// X-Catchall-Alias they would go on with it.
		case f.name == "":
			out.Write(f.raw)
		case isOurField(f):
		case f.is("From"):
			if !wroteFrom {
				out.WriteString("From: " + from + "\r\n")
				wroteFrom = true
			}
			out.Write(f.renamed("X-Original-From"))
		case f.is("Reply-To"), f.is("To"), f.is("Cc"):
			list, ok, err := fr.addresses(f)
			if err != nil {
				return nil, false, err
			}
			orig := "X-Original-" + canonical(f.name)
			if f.is("Reply-To") {
				out.Write(f.renamed(orig))
			}
			switch {
			case ok && list == nil:
				out.Write(f.raw) // an empty group: nothing to hide
			case ok:
				writeList(&out, canonical(f.name), list)
			case !f.is("Reply-To"):
				out.Write(f.renamed(orig))
			}
		default:
			out.Write(f.raw)
		}
	}
	if !wroteFrom {
		out.WriteString("From: " + from + "\r\n")
	}
	return out.Bytes(), true, nil
}

// addresses returns the addresses of a Reply-To, To or Cc field with those
// not at the relay's domains turned into reverse addresses; ok is false
// when the field cannot be parsed, has an address mail cannot be sent to,
// or would make more than maxReverse reverse addresses.
func (fr *forwardRewriter) addresses(f field) (list []*mail.Address, ok bool, err error) {
	list, perr := fromParser.ParseList(f.value())
	if perr != nil {
		return nil, false, nil
	}
	out := make([]*mail.Address, 0, len(list))
	for _, a := range list {
		addr, _, perr := plainAddress(a.Address)
		if perr != nil {
			return nil, false, nil
		}
		if fr.ours(addr) {
			out = append(out, &mail.Address{Name: cleanName(a.Name), Address: addr})
			continue
		}
		if fr.made >= maxReverse {
			return nil, false, nil
		}
		rev, err := fr.reverse(addr)
		if err != nil {
			return nil, false, err
		}
		fr.made++
		out = append(out, &mail.Address{Name: cleanName(a.Name), Address: rev})
	}
	if len(out) == 0 {
		return nil, true, nil
	}
	return out, true, nil
}

// replyRewriter rewrites the header of a reply the user sent to a reverse
// address, for the alias it goes out from.
type replyRewriter struct {
	alias string
	// user are the user's own addresses (lower case): the alias's
	// forward_to, the default targets and a foreign envelope sender. None
	// of them is left in the header.
	user      []string
	unreverse func(addr string) (string, bool, error) // the correspondent of a reverse address
}

// replyKeep are the fields a reply keeps, besides From, Reply-To, To, Cc,
// Message-ID, In-Reply-To and References (rewritten): every other field
// may name the user's host, network, organisation or domain (Received,
// X-Received, X-OriginatorOrg, Resent-*, Disposition-Notification-To,
// X-Mailer …) and is dropped. The relay adds its own Received line, which
// names neither.
var replyKeep = []string{"Subject", "Date", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"Content-Disposition", "Content-Language", "Content-ID", "Importance", "Priority", "X-Priority"}

// rewrite returns the reply's header (without its empty line) from the
// alias: From: the alias with the user's display name, one From only; only
// the fields of replyKeep and the ones rewritten kept; in Reply-To, To and
// Cc each reverse address turned back into its correspondent and each of
// the user's addresses (a subaddress of one too) into the alias; in
// In-Reply-To and References each message ID at one of the user's domains
// replaced as replyMessageID replaces the Message-ID. Last, any field that
// still names one of the user's addresses (one that could not be parsed, a
// Subject that quotes it, RFC 2047 encoded words decoded) is dropped, and
// a Content-ID that names one of the user's domains.
func (rr *replyRewriter) rewrite(hdr []byte) ([]byte, error) {
	fields := splitHeader(hdr)
	var out bytes.Buffer
	wroteFrom := false
	keep := func(b []byte) {
		if !rr.names(b) {
			out.Write(b)
		}
	}
	for _, f := range fields {
		switch {
		case f.name == "", isOurField(f):
		case f.is("From"):
			if wroteFrom {
				continue
			}
			name := ""
			if list, err := fromParser.ParseList(f.value()); err == nil && len(list) > 0 {
				name = cleanName(list[0].Name)
			}
			if rr.names([]byte(name)) {
				name = ""
			}
			out.WriteString("From: " + (&mail.Address{Name: truncate(name, maxDisplay), Address: rr.alias}).String() + "\r\n")
			wroteFrom = true
		case f.is("Message-ID"):
			out.WriteString("Message-ID: " + replyMessageID(f.value(), rr.alias) + "\r\n")
		case f.is("In-Reply-To"), f.is("References"):
			if ids := rr.msgIDs(f.value()); len(ids) > 0 {
				name := "In-Reply-To"
				if f.is("References") {
					name = "References"
				}
				keep([]byte(name + ": " + strings.Join(ids, "\r\n ") + "\r\n"))
			}
		case f.is("Reply-To"), f.is("To"), f.is("Cc"):
			list, perr := fromParser.ParseList(f.value())
			if perr != nil {
				keep(f.raw)
				continue
			}
			out2 := make([]*mail.Address, 0, len(list))
			for _, a := range list {
				na := &mail.Address{Name: cleanName(a.Name), Address: a.Address}
				if addr, _, err := plainAddress(a.Address); err == nil {
					if rr.isUser(addr) {
						na.Address = rr.alias
					} else if corr, ok, err := rr.unreverse(addr); err != nil {
						return nil, err
					} else if ok {
						na = &mail.Address{Name: unviaName(na.Name, corr), Address: corr}
					}
				}
				if rr.names([]byte(na.Name)) {
					na.Name = ""
				}
				out2 = append(out2, na)
			}
			if len(out2) == 0 {
				keep(f.raw)
				continue
			}
			var b bytes.Buffer
			writeList(&b, canonical(f.name), out2)
			keep(b.Bytes())
		case f.is("Content-ID"):
			if !rr.namesDomain(f.value()) {
				keep(f.raw)
			}
		case isAny(f, replyKeep):
			keep(f.raw)
		}
	}
	if !wroteFrom {
		out.WriteString("From: <" + rr.alias + ">\r\n")
	}
	return out.Bytes(), nil
}

// replyMessageID returns the Message-ID a reply goes out with: the user's
// client names its own domain or host in it (<…@home.example>, or
// <…@laptop.home.example>), which would tell the correspondent who is
// behind the alias. It is replaced by a hash of it at the alias's domain —
// the same for the same original, so a copy sent twice is still recognised
// as one. (The user's client threads the correspondent's answer by its
// subject or not at all: it never saw the new ID.)
func replyMessageID(orig, alias string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(orig)))
	id := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16]))
	_, domain, _ := strings.Cut(alias, "@")
	return "<" + id + "@" + domain + ">"
}

// msgIDs returns the message IDs of an In-Reply-To or References field,
// each one at one of the user's domains (or a host in one) replaced by
// the hash replyMessageID makes of it.
func (rr *replyRewriter) msgIDs(v string) []string {
	var ids []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return ids
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return ids
		}
		id := v[i : i+j+1]
		v = v[i+j+1:]
		if at := strings.LastIndexByte(id, '@'); at >= 0 && rr.isUserDomain(id[at+1:len(id)-1]) {
			id = replyMessageID(id, rr.alias)
		}
		ids = append(ids, id)
	}
}

// domains returns the domains of the user's addresses.
func (rr *replyRewriter) domains() []string {
	var out []string
	for _, u := range rr.user {
		if at := strings.LastIndexByte(u, '@'); at >= 0 && at < len(u)-1 {
			out = append(out, u[at+1:])
		}
	}
	return out
}

// isUserDomain reports whether d is one of the user's domains or a name
// under one.
func (rr *replyRewriter) isUserDomain(d string) bool {
	d = strings.ToLower(strings.TrimSpace(d))
	for _, ud := range rr.domains() {
		if d == ud || strings.HasSuffix(d, "."+ud) {
			return true
		}
	}
	return false
}

// namesDomain reports whether v names one of the user's domains.
func (rr *replyRewriter) namesDomain(v string) bool {
	s := strings.ToLower(decodeWords(v))
	for _, d := range rr.domains() {
		for i := 0; ; {
			j := strings.Index(s[i:], d)
			if j < 0 {
				break
			}
			start, end := i+j, i+j+len(d)
			if (start == 0 || !isAlnum(s[start-1]) && s[start-1] != '-') &&
				(end == len(s) || !isAlnum(s[end]) && s[end] != '-') {
				return true
			}
			i = start + 1
		}
	}
	return false
}

// isUser reports whether addr (normalised) is one of the user's addresses
// or a subaddress of one (me+x@home.example).
func (rr *replyRewriter) isUser(addr string) bool {
	if slicesContains(rr.user, addr) {
		return true
	}
	local, domain, ok := strings.Cut(addr, "@")
	if base, _, plus := strings.Cut(local, "+"); ok && plus {
		return slicesContains(rr.user, base+"@"+domain)
	}
	return false
}

// decodeWords returns s unfolded with its RFC 2047 encoded words decoded
// (those that cannot be are left as they are).
func decodeWords(s string) string {
	s = strings.NewReplacer("\r\n", "", "\n", "").Replace(s)
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	return input, nil // any charset: the address is ASCII
}}

// names reports whether b, unfolded, its encoded words decoded and in any
// case, holds one of the user's addresses: as it is, with comments and
// quotes taken out (me(x)@home.example, "me"@home.example) or with a
// subaddress (me+x@home.example).
func (rr *replyRewriter) names(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	s := strings.ToLower(decodeWords(string(b)))
	for _, v := range []string{s, stripCommentsQuotes(s)} {
		for _, u := range rr.user {
			if containsAddr(v, u) {
				return true
			}
			if local, domain, ok := strings.Cut(u, "@"); ok && local != "" && strings.Contains(v, local+"+") {
				for i := 0; ; {
					j := strings.Index(v[i:], local+"+")
					if j < 0 {
						break
					}
					start := i + j
					k := start + len(local) + 1
					for k < len(v) && isAtext(v[k]) {
						k++
					}
					if (start == 0 || !isAtext(v[start-1])) && strings.HasPrefix(v[k:], "@"+domain) &&
						containsAddr(local+v[k:], u) {
						return true
					}
					i = start + 1
				}
			}
		}
	}
	return false
}

// stripCommentsQuotes takes parenthesised comments, double quotes and
// white space around '@' out of s.
func stripCommentsQuotes(s string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0, c == '"', c == '\\':
		default:
			b.WriteByte(c)
		}
	}
	return strings.NewReplacer(" @", "@", "@ ", "@", "\t@", "@", "@\t", "@").Replace(b.String())
}

// containsAddr reports whether s holds the address addr as a whole: not as
// the end of a longer local part (tome@ for me@) or the start of a longer
// domain.
func containsAddr(s, addr string) bool {
	if addr == "" {
		return false
	}
	for i := 0; i <= len(s)-len(addr); {
		j := strings.Index(s[i:], addr)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(addr)
		before := start == 0 || !isAtext(s[start-1])
		after := end == len(s) || !(isAlnum(s[end]) || s[end] == '-' ||
			s[end] == '.' && end+1 < len(s) && isAlnum(s[end+1]))
		if before && after {
			return true
		}
		i = start + 1
	}
	return false
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c >= 0x80
}

// isAtext: the characters of a dot-atom local part (RFC 5322 §3.2.3).
func isAtext(c byte) bool { return isAlnum(c) || strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0 }

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func isOurField(f field) bool { return isAny(f, ourFields) }

func isAny(f field, names []string) bool {
	for _, n := range names {
		if f.is(n) {
			return true
		}
	}
	return false
}

// canonical writes the names of the address fields the way RFC 5322 does.
func canonical(name string) string {
	switch strings.ToLower(name) {
	case "reply-to":
		return "Reply-To"
	case "to":
		return "To"
	case "cc":
		return "Cc"
	}
	return name
}

// writeList writes an address field, one address per line.
func writeList(out *bytes.Buffer, name string, list []*mail.Address) {
	out.WriteString(name + ": ")
	for i, a := range list {
		if i > 0 {
			out.WriteString(",\r\n ")
		}
		out.WriteString(a.String())
	}
	out.WriteString("\r\n")
}

// cleanName makes a decoded display name safe to write again: valid UTF-8,
// no control characters, white space collapsed.
func cleanName(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// unviaName returns the display name a correspondent had before the relay
// wrote "NAME <ADDRESS> via catchall" into it (a reply quotes it back).
func unviaName(name, corr string) string {
	n, ok := strings.CutSuffix(name, viaSuffix)
	if !ok {
		return name
	}
	if i := strings.LastIndex(n, " <"); i >= 0 && strings.HasSuffix(n, ">") {
		return n[:i]
	}
	if strings.EqualFold(n, corr) {
		return ""
	}
	return n
}

func truncate(s string, runes int) string {
	for i := range s {
		if runes == 0 {
			return s[:i] + "..."
		}
		runes--
	}
	return s
}

// errHeaderTooLarge: a reply whose header is over maxSignedHeader cannot be
// rewritten, and is not sent with the user's address in it.
var errReplyHeader = errors.New("the header of the reply is larger than 1 MB")
