package relay

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/catchall/catchall/forwards"
)

// DKIM is the key the relay signs outgoing mail with (Config.DKIM), made
// by "catchall dkim new" and read with dkimkey.Load.
//
// A message the user sent through the submission port (a KindSend group),
// a reply to a reverse address (KindReply) and forwarded mail whose From:
// the relay replaced with a reverse address (Config.ReverseAliases) are
// signed when the From: field names addresses of one domain of the relay's
// domains (compared in lower-case punycode): d= that domain,
// s= Selector, relaxed/relaxed, the header fields of dkimHeaderKeys.
// Forwarded mail with the From: it came with is never signed, whatever
// that From: claims (a forgery would be vouched for). Any other message goes out unsigned, and so does one whose header is larger
// than maxSignedHeader or that has no body separator (the signer needs the
// empty line).
//
// When the key fails to sign (a broken key, no randomness), the message is
// deferred, not sent unsigned: mail from the user's domains without a
// signature fails DMARC at the destination and may be rejected or filed as
// spam without anyone being told, while a deferred message waits in the
// spool (until Config.MaxAge) for the operator, who is told once, at ERROR,
// until a signature works again.
//
// The signature's t= is the real time: go-msgauth's signer reads
// time.Now and cannot be given Config.Clock.
type DKIM struct {
	Key      crypto.Signer // Ed25519, or RSA of at least 1024 bits (dkimkey.Check)
	Selector string        // the public key is at Selector._domainkey.DOMAIN
}

// dkimHeaderKeys are the header fields signed (RFC 6376 §5.4.1). From is
// named twice, once more than a message may have (RFC 5322 §3.6), so that a
// From: added on the way breaks the signature (oversigning, RFC 6376
// §8.15). The fields a message lacks are listed all the same, which signs
// their absence (§5.4.2).
var dkimHeaderKeys = []string{"From", "From", "To", "Cc", "Subject", "Date", "Message-ID",
	"Reply-To", "MIME-Version", "Content-Type", "In-Reply-To", "References"}

// maxSignedHeader bounds the header the relay holds to decide whether a
// message is signed (go-msgauth's signer holds the header too).
const maxSignedHeader = 1 << 20

// errUnsigned stops reading a message that is not to be signed.
var errUnsigned = errors.New("not signed")

// ErrDKIMKey is wrapped by the error of a delivery deferred because the
// DKIM key failed to sign.
var ErrDKIMKey = errors.New("the DKIM key failed to sign")

// sign returns the DKIM-Signature field (with its CRLF) for the message
// outgoing writes: the header fields the relay adds or changes, then the
// spooled message, exactly as they are sent afterwards. It is "" for a
// message not to be signed. outgoing is called once and streams: only the
// header is held in memory.
func (r *Relay) sign(outgoing func(io.Writer) error) (string, error) {
	if r.cfg.DKIM == nil {
		return "", nil
	}
	sw := &signWriter{r: r}
	err := outgoing(sw)
	if errors.Is(err, errUnsigned) {
		return "", nil
	}
	if sw.signer == nil {
		if err != nil {
			return "", err
		}
		if d := r.dkimDomain(sw.hdr); d != "" {
			r.log.Warn("not DKIM-signed: the message has no empty line after its header", "domain", d)
		}
		return "", nil
	}
	cerr := sw.signer.Close() // after a failed write too: it ends the signer's goroutine
	switch {
	case err != nil:
		return "", fmt.Errorf("DKIM signing: %w", err)
	case sw.key.err != nil:
		if r.dkimFailing.CompareAndSwap(false, true) {
			r.log.Error("the DKIM key cannot sign: mail from your domains waits in the queue until the key is fixed", "err", oneLine(sw.key.err))
		}
		return "", fmt.Errorf("%w: %w", ErrDKIMKey, sw.key.err)
	case cerr != nil:
		return "", fmt.Errorf("DKIM signing: %w", cerr)
	}
	if r.dkimFailing.CompareAndSwap(true, false) {
		r.log.Info("the DKIM key signs again")
	}
	return sw.signer.Signature(), nil
}

// signWriter holds the header of the message written to it until it ends;
// then it stops the writing with errUnsigned, or starts a signer for the
// From: domain and passes everything on to it.
type signWriter struct {
	r      *Relay
	hdr    []byte
	key    *keyUse
	signer *dkim.Signer
}

func (w *signWriter) Write(p []byte) (int, error) {
	if w.signer != nil {
		return w.signer.Write(p)
	}
	from := len(w.hdr)
	w.hdr = append(w.hdr, p...)
	end := headerEnd(w.hdr, from)
	if end < 0 {
		if len(w.hdr) > maxSignedHeader {
			if d := w.r.dkimDomain(w.hdr); d != "" {
				w.r.log.Warn("not DKIM-signed: header too large", "domain", d, "limit", maxSignedHeader)
			}
			return 0, errUnsigned
		}
		return len(p), nil
	}
	domain := w.r.dkimDomain(w.hdr[:end])
	if domain == "" {
		return 0, errUnsigned
	}
	w.key = &keyUse{Signer: w.r.cfg.DKIM.Key}
	s, err := dkim.NewSigner(&dkim.SignOptions{
		Domain:                 domain,
		Selector:               w.r.cfg.DKIM.Selector,
		Signer:                 w.key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             dkimHeaderKeys,
	})
	if err != nil {
		return 0, err
	}
	w.signer = s
	if _, err := s.Write(w.hdr); err != nil {
		return 0, err
	}
	w.hdr = nil
	return len(p), nil
}

// headerEnd returns the length of the header in b, its empty line
// included, or -1 when b does not hold all of it; from is where new bytes
// start (the search goes back over a line break split between writes).
func headerEnd(b []byte, from int) int {
	if bytes.HasPrefix(b, []byte("\r\n")) || bytes.HasPrefix(b, []byte("\n")) {
		return bytes.IndexByte(b, '\n') + 1 // no header fields at all
	}
	from = max(0, from-3)
	crlf := bytes.Index(b[from:], []byte("\n\r\n"))
	lf := bytes.Index(b[from:], []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		return from + crlf + 3
	case lf >= 0:
		return from + lf + 2
	}
	return -1
}

// keyUse is the DKIM key, remembering whether it failed to sign.
type keyUse struct {
	crypto.Signer
	err error
}

func (k *keyUse) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := k.Signer.Sign(rand, digest, opts)
	k.err = err
	return sig, err
}

// fromParser leaves RFC 2047 words in unknown charsets as they are: only
// the addresses matter here.
var fromParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, input io.Reader) (io.Reader, error) { return input, nil },
}}

// dkimDomain returns the domain (lower case, punycode) the message with
// header hdr is signed for: that of the addresses of its one From: field
// when they are all at one domain of the relay's; "" otherwise (no From:,
// two of them, one that does not parse, a stranger's domain).
func (r *Relay) dkimDomain(hdr []byte) string {
	return fromDomain(hdr, r.rt.Load().domains)
}

func fromDomain(hdr []byte, ours map[string]bool) string {
	m, err := mail.ReadMessage(io.MultiReader(bytes.NewReader(hdr), strings.NewReader("\r\n")))
	if err != nil {
		return ""
	}
	fields := m.Header["From"]
	if len(fields) != 1 {
		return ""
	}
	addrs, err := fromParser.ParseList(fields[0])
	if err != nil || len(addrs) == 0 {
		return ""
	}
	domain := ""
	for _, a := range addrs {
		at := strings.LastIndexByte(a.Address, '@')
		if at < 0 {
			return ""
		}
		n, err := forwards.CheckAddress("x@" + a.Address[at+1:])
		if err != nil {
			return ""
		}
		d := strings.TrimPrefix(n, "x@")
		if domain != "" && d != domain {
			return ""
		}
		domain = d
	}
	if !ours[domain] {
		return ""
	}
	return domain
}
