package corpus

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// small is the corpus most tests look at.
var small = sync.OnceValue(func() *Corpus {
	return Generate(&Options{Seed: 7, Messages: 400, HugeSize: 256 << 10})
})

func body(t *testing.T, m *Message) []byte {
	t.Helper()
	b, err := io.ReadAll(m.Body())
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return b
}

func digest(t *testing.T, c *Corpus) ([][32]byte, [32]byte) {
	t.Helper()
	all := sha256.New()
	var sums [][32]byte
	for _, m := range c.Messages {
		h := sha256.New()
		if _, err := io.Copy(h, m.Body()); err != nil {
			t.Fatal(err)
		}
		var s [32]byte
		copy(s[:], h.Sum(nil))
		sums = append(sums, s)
		fmt.Fprintf(all, "%s|%v|%d|%d|%s|%s|%x\n", m.Folder, m.Flags, m.Date.Unix(), m.Size, m.Alias, m.Kind, s)
	}
	var s [32]byte
	copy(s[:], all.Sum(nil))
	return sums, s
}

func TestDeterminism(t *testing.T) {
	base := Options{Seed: 42, Messages: 300, HugeSize: 64 << 10}
	_, want := digest(t, Generate(&base))
	tests := []struct {
		name string
		mod  func(o *Options)
		same bool
	}{
		{"same options", func(o *Options) {}, true},
		{"other seed", func(o *Options) { o.Seed = 43 }, false},
		{"seed zero", func(o *Options) { o.Seed = 0 }, false},
		{"other domain", func(o *Options) { o.Domain = "example.org" }, false},
		{"more messages", func(o *Options) { o.Messages = 700 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.mod(&o)
			a, b := Generate(&o), Generate(&o)
			sa, da := digest(t, a)
			sb, db := digest(t, b)
			if da != db || !slices.Equal(sa, sb) {
				t.Fatal("two Generate calls with equal options differ")
			}
			for i, m := range a.Messages {
				n := b.Messages[i]
				if m.Folder != n.Folder || m.Kind != n.Kind || m.Alias != n.Alias || !m.Date.Equal(n.Date) ||
					m.Size != n.Size || !slices.Equal(m.Flags, n.Flags) || m.MessageID != n.MessageID {
					t.Fatalf("message %d differs: %+v vs %+v", i, m, n)
				}
			}
			if !slices.EqualFunc(a.Aliases, b.Aliases, func(x, y Alias) bool {
				return x.Address == y.Address && x.Tag == y.Tag && x.Service == y.Service && x.Leaked.Equal(y.Leaked) &&
					slices.Equal(x.Breaches, y.Breaches) && x.NeverGiven == y.NeverGiven && x.Action == y.Action
			}) {
				t.Fatal("aliases differ")
			}
			if !slices.Equal(a.Domains, b.Domains) || !slices.Equal(a.Folders, b.Folders) {
				t.Fatal("domains or folders differ")
			}
			if (da == want) != tt.same {
				t.Fatalf("digest equal to the base corpus: %v, want %v", da == want, tt.same)
			}
		})
	}
}

func TestSizeMatchesBody(t *testing.T) {
	for i, m := range small().Messages {
		b := body(t, m)
		if int64(len(b)) != m.Size {
			t.Fatalf("message %d (%s): Size %d, Body has %d bytes", i, m.Kind, m.Size, len(b))
		}
		if again := body(t, m); !bytes.Equal(b, again) {
			t.Fatalf("message %d (%s): Body differs between calls", i, m.Kind)
		}
	}
}

func TestKinds(t *testing.T) {
	c := small()
	count := map[string]int{}
	for _, m := range c.Messages {
		count[m.Kind]++
	}
	want := append(append(slices.Clone(styles), kindSent, kindDraft, kindHuge, kindForwardedIn), oddKinds...)
	for _, k := range want {
		t.Run(k, func(t *testing.T) {
			if count[k] == 0 {
				t.Errorf("no message of Kind %q", k)
			}
		})
	}
	if count[kindDupMsgID]%2 != 0 {
		t.Errorf("%d dup-message-id messages, want pairs", count[kindDupMsgID])
	}
	ordinary := 0
	for k, n := range count {
		if !slices.Contains(oddKinds, k) && k != kindHuge {
			ordinary += n
		}
	}
	if ordinary != 400 {
		t.Errorf("%d ordinary messages, want 400", ordinary)
	}
	if count[kindHuge] != 1 {
		t.Errorf("%d huge messages, want 1", count[kindHuge])
	}

	t.Run("NoOdd", func(t *testing.T) {
		c := Generate(&Options{Seed: 7, Messages: 150, HugeMessages: -1, NoOdd: true})
		if len(c.Messages) != 150 {
			t.Errorf("%d messages, want exactly 150", len(c.Messages))
		}
		for _, m := range c.Messages {
			if slices.Contains(oddKinds, m.Kind) || m.Kind == kindHuge {
				t.Errorf("Kind %q present with NoOdd and no huge messages", m.Kind)
			}
		}
	})
}

func TestFolders(t *testing.T) {
	c := small()
	required := []string{"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive/2019", "Archive/2020", "Lists/golang-nuts",
		"Newsletters", "Newsletters/Entwürfe", "Réception/Factures", "Работа", "日本語 フォルダ", "Empty", "Q&A", "Old Mail"}
	for _, f := range required {
		if !slices.Contains(c.Folders, f) {
			t.Errorf("folder %q missing", f)
		}
	}
	if c.Folders[0] != "INBOX" {
		t.Errorf("first folder %q, want INBOX", c.Folders[0])
	}
	for _, p := range []string{"Archive", "Lists", "Réception"} {
		if slices.Contains(c.Folders, p) || !slices.Contains(c.NoSelect, p) {
			t.Errorf("parent %q should be in NoSelect only", p)
		}
	}
	count := map[string]int{}
	for _, m := range c.Messages {
		if !slices.Contains(c.Folders, m.Folder) {
			t.Errorf("message in unlisted folder %q", m.Folder)
		}
		count[m.Folder]++
	}
	for _, f := range c.Folders {
		switch {
		case f == "Empty" && count[f] != 0:
			t.Errorf("Empty holds %d messages", count[f])
		case f != "Empty" && count[f] == 0:
			t.Errorf("folder %q holds no messages", f)
		}
		if f != "INBOX" && count[f] >= count["INBOX"] {
			t.Errorf("folder %q holds %d messages, INBOX only %d", f, count[f], count["INBOX"])
		}
	}
	for _, m := range c.Messages {
		switch m.Kind {
		case kindSent:
			if m.Folder != "Sent" {
				t.Errorf("sent message in %q", m.Folder)
			}
		case kindDraft:
			if m.Folder != "Drafts" || !slices.Contains(m.Flags, `\Draft`) {
				t.Errorf("draft in %q with flags %v", m.Folder, m.Flags)
			}
		}
		if y := m.Date.Year(); strings.HasPrefix(m.Folder, "Archive/") && m.Folder != "Archive/"+fmt.Sprint(y) {
			t.Errorf("message of %d in %s", y, m.Folder)
		}
	}
}

func TestAliases(t *testing.T) {
	c := small()
	if !slices.IsSortedFunc(c.Aliases, func(a, b Alias) int { return strings.Compare(a.Address, b.Address) }) {
		t.Error("aliases not sorted")
	}
	byAddr := map[string]Alias{}
	for _, a := range c.Aliases {
		if _, dup := byAddr[a.Address]; dup {
			t.Errorf("alias %s listed twice", a.Address)
		}
		byAddr[a.Address] = a
		if a.Address != strings.ToLower(a.Address) || !strings.HasSuffix(a.Address, "@"+c.Domain) {
			t.Errorf("bad address %q", a.Address)
		}
		if a.Address == c.FinalMailbox {
			t.Errorf("final mailbox %s listed as an alias", a.Address)
		}
		switch a.Tag {
		case "personal":
			if a.Service != "" {
				t.Errorf("personal alias %s has service %q", a.Address, a.Service)
			}
		case "business", "disposable":
		default:
			t.Errorf("alias %s has tag %q", a.Address, a.Tag)
		}
		if !a.Leaked.IsZero() && a.Tag != "disposable" {
			t.Errorf("%s alias %s leaked", a.Tag, a.Address)
		}
		wantAction := "forward"
		if a.NeverGiven || a.Tag == "disposable" && (len(a.Breaches) > 0 || !a.Leaked.IsZero()) {
			wantAction = "block"
		}
		if a.Action != wantAction {
			t.Errorf("alias %s (%s, never given %v, leaked %v, breaches %v) has action %q, want %q", a.Address, a.Tag,
				a.NeverGiven, a.Leaked, a.Breaches, a.Action, wantAction)
		}
		if a.NeverGiven && (a.Tag != "disposable" || a.Service != "") {
			t.Errorf("never-given alias %+v", a)
		}
	}
	if !slices.Equal(c.Domains, []string{c.Domain}) {
		t.Errorf("Domains %v, want [%s]", c.Domains, c.Domain)
	}
	used := map[string]bool{}
	spamAfterLeak := map[string]bool{}
	for _, m := range c.Messages {
		if m.Alias == "" {
			if m.Kind != kindNoHeader && m.Kind != kindBinary && m.Kind != kindForwardedIn && m.Kind != kindForeign {
				t.Errorf("%s message without alias", m.Kind)
			}
			continue
		}
		if m.Kind == kindForwardedIn || m.Kind == kindForeign {
			t.Errorf("%s message with alias %s", m.Kind, m.Alias)
		}
		a, ok := byAddr[m.Alias]
		if !ok {
			t.Errorf("message alias %s not in Aliases", m.Alias)
			continue
		}
		used[m.Alias] = true
		if m.Origin == "spam" && !a.Leaked.IsZero() {
			if m.Date.Before(a.Leaked) {
				t.Errorf("spam to %s on %v, before the leak on %v", a.Address, m.Date, a.Leaked)
			}
			spamAfterLeak[a.Address] = true
		}
		if m.Origin == "person" && a.Tag != "personal" {
			t.Errorf("mail from a person to %s alias %s", a.Tag, a.Address)
		}
	}
	// Aliases that are only co-recipients must appear in some To or Cc.
	for _, m := range c.Messages {
		if m.Kind != kindToOnly && !slices.Contains(styles, m.Kind) {
			continue
		}
		h := parse(t, m).Header
		for _, a := range append(addresses(t, h, "To"), addresses(t, h, "Cc")...) {
			if strings.HasSuffix(a, "@"+c.Domain) {
				if _, ok := byAddr[a]; !ok {
					t.Errorf("%s in To/Cc is not in Aliases", a)
				}
				used[a] = true
			}
		}
	}
	for _, a := range c.Aliases {
		if !used[a.Address] {
			t.Errorf("alias %s never used", a.Address)
		}
		if !a.Leaked.IsZero() && !spamAfterLeak[a.Address] {
			t.Errorf("alias %s leaked but got no spam", a.Address)
		}
	}
	if len(spamAfterLeak) == 0 {
		t.Error("no leaked alias")
	}
	for _, want := range []string{"john", "anna", "family", "invoices", "support", "sales", "jobs", "press", "info",
		"lists+golang-nuts", "amazon", "github", "news+heise"} {
		if _, ok := byAddr[want+"@"+c.Domain]; !ok {
			t.Errorf("alias %s@ missing", want)
		}
	}
	if a := byAddr["amazon@"+c.Domain]; a.Tag != "disposable" || a.Service != "amazon.de" {
		t.Errorf("amazon@ is %+v", a)
	}
	if a := byAddr["invoices@"+c.Domain]; a.Tag != "business" || a.Service != "" {
		t.Errorf("invoices@ is %+v", a)
	}
	tags := map[string]int{}
	for _, a := range c.Aliases {
		tags[a.Tag]++
	}
	if tags["personal"] == 0 || tags["business"] == 0 || tags["disposable"] < tags["business"] {
		t.Errorf("tag mix %v", tags)
	}
}

func TestDefaults(t *testing.T) {
	c := Generate(nil)
	if c.Domain != "catchall.test" || c.FinalMailbox != "me@catchall.test" {
		t.Errorf("domain %q, final mailbox %q", c.Domain, c.FinalMailbox)
	}
	if n := len(c.Aliases); n < 150 || n > 300 {
		t.Errorf("%d aliases, want 150-300", n)
	}
	ordinary, huge := 0, 0
	for _, m := range c.Messages {
		switch {
		case m.Kind == kindHuge:
			huge++
			if d := m.Size - 8<<20; d < -(8<<20)/50 || d > (8<<20)/50 {
				t.Errorf("huge message of %d bytes, want about 8 MiB", m.Size)
			}
		case !slices.Contains(oddKinds, m.Kind):
			ordinary++
		}
	}
	if ordinary != 2000 || huge != 1 {
		t.Errorf("%d ordinary and %d huge messages, want 2000 and 1", ordinary, huge)
	}
}

// header returns the header part of raw, with CRLF line ends.
func parse(t *testing.T, m *Message) *mail.Message {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(body(t, m)))
	if err != nil {
		t.Fatalf("%s message %s: %v", m.Kind, m.MessageID, err)
	}
	return msg
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func addresses(t *testing.T, h mail.Header, key string) []string {
	t.Helper()
	v := h.Get(key)
	if v == "" || v == "undisclosed-recipients:;" {
		return nil
	}
	l, err := (&mail.AddressParser{WordDecoder: &mime.WordDecoder{}}).ParseList(v)
	if err != nil {
		t.Errorf("%s: %q: %v", key, v, err)
		return nil
	}
	var out []string
	for _, a := range l {
		out = append(out, strings.ToLower(a.Address))
	}
	return out
}

func TestRecipientHeaders(t *testing.T) {
	c := small()
	checks := map[string]func(t *testing.T, m *Message, h mail.Header){
		kindPostfix: func(t *testing.T, m *Message, h mail.Header) {
			if h.Get("X-Original-To") != m.Alias || h.Get("Delivered-To") != c.FinalMailbox {
				t.Errorf("X-Original-To %q, Delivered-To %q", h.Get("X-Original-To"), h.Get("Delivered-To"))
			}
			top := h["Received"][0]
			if !strings.Contains(top, "by mx."+c.Domain+" (Postfix)") || !containsFold(top, "for <"+m.Alias+">") {
				t.Errorf("top Received %q", top)
			}
		},
		kindQmail: func(t *testing.T, m *Message, h mail.Header) {
			if h.Get("Delivered-To") != m.Alias || h.Get("X-Original-To") != "" || h.Get("Envelope-To") != "" {
				t.Errorf("Delivered-To %q", h.Get("Delivered-To"))
			}
		},
		kindExim: func(t *testing.T, m *Message, h mail.Header) {
			if h.Get("Envelope-To") != m.Alias || h.Get("Delivered-To") != "" || h.Get("X-Original-To") != "" {
				t.Errorf("Envelope-to %q", h.Get("Envelope-To"))
			}
		},
		kindReceivedFor: func(t *testing.T, m *Message, h mail.Header) {
			if h.Get("Delivered-To") != "" || h.Get("X-Original-To") != "" || h.Get("Envelope-To") != "" {
				t.Error("a delivery header is present")
			}
			if !containsFold(h["Received"][0], "for <"+m.Alias+">") {
				t.Errorf("top Received %q", h["Received"][0])
			}
		},
		kindToOnly: func(t *testing.T, m *Message, h mail.Header) {
			if d := h.Get("Delivered-To"); d != "" && d != c.FinalMailbox || h.Get("X-Original-To") != "" || h.Get("Envelope-To") != "" {
				t.Error("a delivery header names the alias")
			}
			for _, r := range h["Received"] {
				if containsFold(r, m.Alias) {
					t.Errorf("Received names the alias: %q", r)
				}
			}
			rcpts := append(addresses(t, h, "To"), addresses(t, h, "Cc")...)
			if !slices.Contains(rcpts, m.Alias) {
				t.Errorf("To/Cc %v lack %s", rcpts, m.Alias)
			}
		},
		kindSent: func(t *testing.T, m *Message, h mail.Header) {
			if f := addresses(t, h, "From"); len(f) != 1 || f[0] != m.Alias || h.Get("Received") != "" {
				t.Errorf("From %v, Received %q", f, h.Get("Received"))
			}
		},
		kindDraft: func(t *testing.T, m *Message, h mail.Header) {
			if f := addresses(t, h, "From"); len(f) != 1 || f[0] != m.Alias || h.Get("X-Mozilla-Draft-Info") == "" {
				t.Errorf("From %v", f)
			}
		},
	}
	seen := map[string]int{}
	for _, m := range c.Messages {
		check := checks[m.Kind]
		if check == nil {
			continue
		}
		seen[m.Kind]++
		t.Run(m.Kind, func(t *testing.T) {
			msg := parse(t, m)
			check(t, m, msg.Header)
			if _, err := msg.Header.Date(); err != nil {
				t.Errorf("Date: %v", err)
			}
			if _, err := (&mime.WordDecoder{}).DecodeHeader(msg.Header.Get("Subject")); err != nil {
				t.Errorf("Subject: %v", err)
			}
			if len(addresses(t, msg.Header, "From")) != 1 {
				t.Error("no From address")
			}
		})
	}
	for k := range checks {
		if seen[k] == 0 {
			t.Errorf("no %s message checked", k)
		}
	}
}

// walk decodes every MIME part of an entity.
func walk(t *testing.T, h map[string][]string, r io.Reader, depth int) int {
	t.Helper()
	get := func(k string) string {
		if v := h[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	ct := get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		t.Errorf("Content-Type %q: %v", ct, err)
		return 0
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(r, params["boundary"])
		n := 0
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Errorf("%s: %v", mt, err)
				return n
			}
			n += walk(t, p.Header, p, depth+1)
		}
		if n == 0 {
			t.Errorf("%s without parts", mt)
		}
		return n
	}
	var dec io.Reader = r
	switch strings.ToLower(get("Content-Transfer-Encoding")) {
	case "base64":
		dec = base64.NewDecoder(base64.StdEncoding, r)
	case "quoted-printable":
		dec = quotedprintable.NewReader(r)
	}
	if _, err := io.Copy(io.Discard, dec); err != nil {
		t.Errorf("decode %s part: %v", mt, err)
	}
	return 1
}

func TestMIME(t *testing.T) {
	for _, m := range small().Messages {
		if slices.Contains(oddKinds, m.Kind) {
			continue
		}
		msg := parse(t, m)
		if msg.Header.Get("MIME-Version") != "1.0" {
			t.Errorf("%s: MIME-Version %q", m.Kind, msg.Header.Get("MIME-Version"))
		}
		walk(t, msg.Header, msg.Body, 0)
	}
}

func TestLineEndings(t *testing.T) {
	for _, m := range small().Messages {
		b := body(t, m)
		bare := bytes.Count(b, []byte("\n")) - bytes.Count(b, []byte("\r\n"))
		switch m.Kind {
		case kindBinary:
		case kindBareLF:
			if bytes.Contains(b, []byte("\r")) || bare == 0 {
				t.Errorf("bare-lf message has CR or no LF")
			}
		default:
			if bare != 0 {
				t.Errorf("%s message %s has %d bare LFs", m.Kind, m.MessageID, bare)
			}
			if m.Kind != kindHuge {
				for line := range bytes.SplitSeq(b, []byte("\r\n")) {
					if len(line) > 998 && m.Kind != kindLongLine {
						t.Errorf("%s message has a line of %d bytes", m.Kind, len(line))
						break
					}
				}
			}
		}
	}
}

func TestOddMessages(t *testing.T) {
	c := small()
	hasHeader := func(b []byte, name string) bool {
		head, _, _ := bytes.Cut(b, []byte("\r\n\r\n"))
		head, _, _ = bytes.Cut(head, []byte("\n\n"))
		return bytes.Contains(append([]byte("\n"), head...), []byte("\n"+name+":"))
	}
	checks := map[string]func(b []byte) string{
		kindBareLF: func(b []byte) string {
			if !bytes.Contains(b, []byte("\n\n")) {
				return "no LF-only header/body separator"
			}
			return ""
		},
		kindNUL: func(b []byte) string {
			if bytes.IndexByte(b, 0) < 0 {
				return "no NUL byte"
			}
			return ""
		},
		kind8bitHeader: func(b []byte) string {
			head, _, _ := bytes.Cut(b, []byte("\r\n\r\n"))
			for line := range bytes.SplitSeq(head, []byte("\r\n")) {
				if bytes.HasPrefix(line, []byte("Subject:")) {
					for _, c := range line {
						if c >= 0x80 {
							return ""
						}
					}
					return "Subject is 7-bit: " + string(line)
				}
			}
			return "no Subject"
		},
		kindNoHeader: func(b []byte) string {
			first, _, _ := bytes.Cut(b, []byte("\r\n"))
			if bytes.Contains(first, []byte(":")) || len(first) == 0 {
				return "first line looks like a header: " + string(first)
			}
			return ""
		},
		kindNoMsgID: func(b []byte) string {
			if hasHeader(b, "Message-ID") {
				return "has a Message-ID"
			}
			return ""
		},
		kindBinary: func(b []byte) string {
			if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
				return "not PNG-like"
			}
			return ""
		},
		kindBroken: func(b []byte) string {
			if b[0] != ' ' || !bytes.Contains(b, []byte("\r\nTo: <<<>>>\r\n")) || !bytes.Contains(b, []byte("no colon at all\r\n")) {
				return "not broken enough"
			}
			return ""
		},
		kindLongLine: func(b []byte) string {
			for line := range bytes.SplitSeq(b, []byte("\r\n")) {
				if len(line) == 20000 {
					return ""
				}
			}
			return "no 20,000-byte line"
		},
		kindRFC2047: func(b []byte) string {
			msg, err := mail.ReadMessage(bytes.NewReader(b))
			if err != nil {
				return err.Error()
			}
			s := msg.Header.Get("Subject")
			d, err := (&mime.WordDecoder{CharsetReader: latin1Reader}).DecodeHeader(s)
			if err != nil || !strings.Contains(s, "=?") || d == s {
				return fmt.Sprintf("Subject %q decodes to %q (%v)", s, d, err)
			}
			if !strings.Contains(msg.Header.Get("To"), "=?") {
				return "To display name not encoded"
			}
			return ""
		},
	}
	found := map[string]bool{}
	for _, m := range c.Messages {
		check := checks[m.Kind]
		if check == nil {
			continue
		}
		found[m.Kind] = true
		t.Run(m.Kind, func(t *testing.T) {
			if msg := check(body(t, m)); msg != "" {
				t.Error(msg)
			}
		})
	}
	for k := range checks {
		if !found[k] {
			t.Errorf("no %s message", k)
		}
	}
}

func latin1Reader(charset string, r io.Reader) (io.Reader, error) {
	if !strings.EqualFold(charset, "iso-8859-1") {
		return nil, fmt.Errorf("unknown charset %q", charset)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = rune(c)
	}
	return strings.NewReader(string(rs)), nil
}

func TestMessageIDs(t *testing.T) {
	c := small()
	ids := map[string][]*Message{}
	for _, m := range c.Messages {
		if m.MessageID != "" {
			ids[m.MessageID] = append(ids[m.MessageID], m)
		}
		if m.MessageID == "" && m.Kind != kindNoMsgID && m.Kind != kindNoHeader && m.Kind != kindBinary {
			t.Errorf("%s message without Message-ID", m.Kind)
		}
	}
	for id, ms := range ids {
		switch {
		case len(ms) == 1 && ms[0].Kind == kindDupMsgID:
			t.Errorf("dup-message-id %s occurs once", id)
		case len(ms) > 1:
			if len(ms) != 2 || ms[0].Kind != kindDupMsgID || ms[1].Kind != kindDupMsgID {
				t.Errorf("Message-ID %s used %d times", id, len(ms))
			}
			if bytes.Equal(body(t, ms[0]), body(t, ms[1])) {
				t.Errorf("dup-message-id messages are identical")
			}
		}
	}
}

func TestDates(t *testing.T) {
	c := small()
	lo := time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC)
	hi := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	years := map[int]bool{}
	for i, m := range c.Messages {
		if m.Date.Before(lo) || !m.Date.Before(hi) {
			t.Errorf("date %v out of range", m.Date)
		}
		if m.Date.Nanosecond() != 0 {
			t.Errorf("date %v not whole seconds", m.Date)
		}
		if name, _ := m.Date.Zone(); name != "CET" && name != "CEST" {
			t.Errorf("date %v in zone %q", m.Date, name)
		}
		if i > 0 && m.Date.Before(c.Messages[i-1].Date) {
			t.Errorf("messages not ordered by date at %d", i)
		}
		years[m.Date.Year()] = true
	}
	if len(years) < 12 {
		t.Errorf("dates span only %d years", len(years))
	}
}

func TestHugeStreaming(t *testing.T) {
	const size = 4 << 20
	c := Generate(&Options{Seed: 3, Messages: 20, HugeMessages: 2, HugeSize: size, NoOdd: true})
	n := 0
	for _, m := range c.Messages {
		if m.Kind != kindHuge {
			continue
		}
		n++
		if d := m.Size - size; d < -size/100 || d > size/100 {
			t.Errorf("huge message of %d bytes, want about %d", m.Size, size)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		h := sha256.New()
		got, err := io.CopyBuffer(h, m.Body(), make([]byte, 32<<10))
		runtime.ReadMemStats(&after)
		if err != nil || got != m.Size {
			t.Fatalf("read %d bytes (%v), Size %d", got, err, m.Size)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("reading a %d-byte huge message allocated %d bytes", m.Size, alloc)
		}
		// The attachment decodes and has the announced length.
		msg := parse(t, m)
		_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		mr := multipart.NewReader(msg.Body, params["boundary"])
		parts := 0
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			parts++
			if p.Header.Get("Content-Transfer-Encoding") == "base64" {
				k, err := io.Copy(io.Discard, base64.NewDecoder(base64.StdEncoding, p))
				if err != nil || k != m.spec.hugeRaw {
					t.Errorf("attachment decodes to %d bytes (%v), want %d", k, err, m.spec.hugeRaw)
				}
			}
		}
		if parts != 2 {
			t.Errorf("%d parts, want 2", parts)
		}
	}
	if n != 2 {
		t.Errorf("%d huge messages, want 2", n)
	}
}

func TestWriteMaildir(t *testing.T) {
	c := Generate(&Options{Seed: 11, Messages: 120, HugeSize: 32 << 10})
	dir := filepath.Join(t.TempDir(), "tree")
	if err := c.WriteMaildir(dir); err != nil {
		t.Fatal(err)
	}
	t.Run("messages", func(t *testing.T) {
		for i, m := range c.Messages {
			name := m.FileName(i)
			path := filepath.Join(dir, filepath.FromSlash(m.Folder), "cur", name)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != m.Size || !fi.ModTime().Equal(m.Date) || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: size %d mtime %v mode %v; want %d %v 0600", path, fi.Size(), fi.ModTime(), fi.Mode(), m.Size, m.Date)
			}
			got, _ := os.ReadFile(path)
			if !bytes.Equal(got, body(t, m)) {
				t.Errorf("%s differs from Body()", path)
			}
			_, info, _ := strings.Cut(name, ":2,")
			want := ""
			for _, f := range m.Flags {
				want += map[string]string{`\Seen`: "S", `\Answered`: "R", `\Flagged`: "F", `\Deleted`: "T", `\Draft`: "D"}[f]
			}
			w := []byte(want)
			slices.Sort(w)
			if info != string(w) || !strings.HasPrefix(name, fmt.Sprintf("%d.%d.corpus", m.Date.Unix(), i)) {
				t.Errorf("file %s for flags %v", name, m.Flags)
			}
		}
	})
	t.Run("tree", func(t *testing.T) {
		for _, f := range c.Folders {
			for _, sub := range []string{"cur", "new", "tmp"} {
				if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f), sub)); err != nil || !fi.IsDir() {
					t.Errorf("%s/%s missing: %v", f, sub, err)
				}
			}
		}
		for _, p := range c.NoSelect {
			if _, err := os.Stat(filepath.Join(dir, p, "cur")); err == nil {
				t.Errorf("parent %s is a Maildir", p)
			}
		}
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			want := fs.FileMode(0o600)
			if d.IsDir() {
				want = 0o700
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("keywords.tsv", func(t *testing.T) {
		f, err := os.Open(filepath.Join(dir, "keywords.tsv"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		want := map[string]string{}
		for i, m := range c.Messages {
			if k := keywords(m.Flags); len(k) > 0 {
				want[m.Folder+"/cur/"+m.FileName(i)] = strings.Join(k, " ")
			}
		}
		sc := bufio.NewScanner(f)
		n := 0
		for sc.Scan() {
			rel, kws, ok := strings.Cut(sc.Text(), "\t")
			if !ok || want[rel] != kws {
				t.Errorf("line %q, want %q", sc.Text(), want[rel])
			}
			for _, k := range strings.Fields(kws) {
				if strings.ContainsAny(k, `(){ %*"\]`) || !isASCII(k) {
					t.Errorf("keyword %q is not an IMAP atom", k)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
				t.Error(err)
			}
			n++
		}
		if n != len(want) || n == 0 {
			t.Errorf("%d lines, want %d", n, len(want))
		}
	})
	t.Run("truth.json", func(t *testing.T) {
		tr, err := ReadTruth(dir)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Domain != c.Domain || !slices.Equal(tr.Domains, c.Domains) || tr.FinalMailbox != c.FinalMailbox || !slices.Equal(tr.Folders, c.Folders) ||
			len(tr.Aliases) != len(c.Aliases) || len(tr.Messages) != len(c.Messages) {
			t.Fatalf("truth does not match the corpus")
		}
		for i, a := range tr.Aliases {
			if a.Address != c.Aliases[i].Address || a.Tag != c.Aliases[i].Tag || !a.Leaked.Equal(c.Aliases[i].Leaked) ||
				a.NeverGiven != c.Aliases[i].NeverGiven || a.Action != c.Aliases[i].Action || a.Action == "" {
				t.Errorf("alias %d: %+v vs %+v", i, a, c.Aliases[i])
			}
		}
		for i, tm := range tr.Messages {
			m := c.Messages[i]
			if tm.File != m.Folder+"/cur/"+m.FileName(i) || tm.Size != m.Size || tm.Alias != m.Alias ||
				tm.Kind != m.Kind || !tm.Date.Equal(m.Date) || !slices.Equal(tm.Flags, append([]string{}, m.Flags...)) {
				t.Errorf("message %d: %+v vs %+v", i, tm, m)
			}
		}
	})
	t.Run("rewrite", func(t *testing.T) {
		if err := c.WriteMaildir(dir); err != nil {
			t.Errorf("writing into an existing tree: %v", err)
		}
	})
}

func BenchmarkGenerate20000(b *testing.B) {
	for b.Loop() {
		Generate(&Options{Seed: 1, Messages: 20000})
	}
}
