// Package corpus generates a realistic, deterministic catch-all mailbox for
// tests and benchmarks: years of mail delivered to one real mailbox through
// hundreds of aliases at the user's own domain, with the ground truth of which
// alias every message was sent to and what kind of alias it is.
//
// The same [Options] always give byte-identical messages; nothing is read from
// the clock, the environment or the network. [Generate] builds the corpus in
// memory (ordinary bodies are rendered on demand from a per-message seed, so
// memory stays small) and [Corpus.WriteMaildir] writes it as a Maildir tree
// that scripts/testenv can load into a real IMAP server.
//
// # Aliases
//
// The user, John Smith, gave every website its own address at his domain.
// With the default options the corpus holds roughly 150 to 300 aliases
// (fewer when Messages is small, because only aliases that received mail are
// listed), each tagged as in [Alias]:
//
//   - personal: john@, john.smith@, anna@, family@, kids@, … written to by
//     people at freemail providers (gmail.com, yahoo.com, outlook.com, web.de,
//     gmx.net, mail.ru, …) in threads with In-Reply-To/References, "Re:"
//     subjects, quoting and mail-client User-Agent/X-Mailer headers, and
//     answered from the same alias (the Sent folder). Service is "".
//   - business: role aliases (invoices@, billing@, support@, sales@, jobs@,
//     press@, info@, postmaster@, …; Service "") receiving mail from customers,
//     suppliers, applicants, journalists and DMARC reporters, and aliases given
//     to business services (github@, stripe@, hetzner@, aws@, …) and some
//     generated shops used as suppliers (shop-<name>@).
//   - disposable: aliases given to websites (adobe@, linkedin@, netflix@,
//     amazon@, ebay@, db@ for bahn.de, facebook@ mailing from facebookmail.com,
//     shop-<name>@, …), some with a year suffix (spotify2016@), some as a
//     subaddress (news+heise@, which is listed as its own alias), and the
//     mailing-list subscription lists+golang-nuts@. They receive bulk mail
//     through ESPs (Amazon SES, SendGrid, Mailchimp, Salesforce Marketing
//     Cloud, SparkPost, Mailgun, CleverReach or the service's own servers) with
//     List-Unsubscribe, Precedence: bulk, Feedback-ID, ESP Received hops and
//     DKIM-Signature headers whose d= is the service's domain.
//
// Service is the registrable domain of the service (amazon.co.uk, bahn.de,
// googlegroups.com), which is not always the domain mail comes from. Senders
// write amazon@ as "Amazon@<domain>" and paypal@ as "PayPal@<domain>" in their
// headers; [Alias.Address] is always lower case. About one disposable alias in
// seven leaks: from [Alias.Leaked] on it also receives spam from unrelated
// senders (Origin "spam"). Role aliases such as info@ get some spam too, but
// are not marked as leaked.
//
// Every service alias (disposable or business) was created when its first
// message arrived: the service's welcome or confirm-your-address message.
// Nothing reaches the alias before it, so a tool can read the creation date
// from the mail.
//
// # Breaches
//
// [Breaches] is a table of real, public data breaches (as listed by Have I
// Been Pwned). A breach hits an alias when its Domain is the alias's Service
// and it happened after the alias was created; [Alias.Breaches] names them.
// A breached alias leaks 15 to 90 days after its earliest breach (unless it
// leaked before) and gets at least three spam messages from then on. For
// Adobe, Canva and Dailymotion the corpus always holds a year-suffixed alias
// created before the breach (adobe2012@) and one created after it
// (adobe2016@), both disposable and kept to the end; those pairs only leak
// through their breach. With fewer than 2000 Messages some of these
// guarantees (spam after the leak, the pairs' mail) may be cut short.
//
// # Recipient headers
//
// Every received message names its alias in exactly one style, which is its
// Kind. The user's mail host changed software over the years, so the style
// depends mostly on the date (qmail until 2014, Exim 2015–2018, Postfix from
// 2019), with the other styles mixed in:
//
//   - "postfix": X-Original-To: alias, Delivered-To: FinalMailbox and a top
//     "Received: from … by mx.<Domain> (Postfix) … for <alias>" line.
//   - "qmail": Delivered-To: alias.
//   - "exim": Envelope-to: alias (and Delivery-date).
//   - "received-for": only a "Received: … by mx1.<Domain> … for <alias>" line
//     added by the user's server.
//   - "to-only": only To or Cc name the alias. To may hold several addresses at
//     the domain (Alias is then the first) or be "undisclosed-recipients:;"
//     with the alias in Cc; Delivered-To, when present, is FinalMailbox.
//
// The other Kinds are "sent" (in Sent, From an alias to people; Alias is the
// From alias), "draft" (in Drafts), "huge" and the odd Kinds below. Mailing-
// list mail and BCC'd newsletters do not name the alias in To, so they never
// have Kind "to-only".
//
// # Folders
//
// "INBOX" (most messages), "Sent", "Drafts", "Trash", "Junk", "Archive/2019",
// "Archive/2020", "Lists/golang-nuts", "Newsletters", "Old Mail" (a space),
// "Q&A" (the modified UTF-7 trap), "Réception/Factures", "Empty" (never any
// message), "Работа" and "日本語 フォルダ". The parents "Archive", "Lists" and
// "Réception" hold no messages and are not Maildirs (\Noselect on a server);
// they are listed in [Corpus.NoSelect], not in [Corpus.Folders].
//
// # Messages
//
// Dates run from 2012 to October 2025. Ordinary messages use CRLF line
// endings and are mostly 1–30 KB: plain text, multipart/alternative with HTML
// (quoted-printable), and multipart/mixed with small PDF or ZIP attachments
// (invoices, CVs, DMARC reports). Subjects and display names use RFC 2047
// where they are not ASCII. Message-IDs are unique except for the
// "dup-message-id" pairs.
//
// # Odd messages
//
// Unless [Options.NoOdd] is set, each of these Kinds is present at least once
// (more with more Messages), in INBOX:
//
//   - "bare-lf": LF line endings only.
//   - "nul": NUL bytes in the body.
//   - "8bit-header": raw UTF-8 or ISO-8859-1 bytes in Subject and From.
//   - "no-header": body text only, no header fields at all (Alias "").
//   - "no-message-id": no Message-ID field.
//   - "dup-message-id": two different messages sharing one Message-ID.
//   - "binary": random bytes that are not mail, starting like a PNG (Alias "").
//   - "broken-header": a folded line at the very start, a line without a
//     colon, "To: <<<>>>" and an unterminated encoded word; the alias is in
//     Delivered-To.
//   - "long-line": a single 20,000-byte line.
//   - "rfc2047": encoded words (B and Q, UTF-8 and ISO-8859-1) in Subject,
//     From and the To display name.
//
// # Huge messages
//
// [Options.HugeMessages] messages of Kind "huge" carry one base64 attachment
// so that the message is about [Options.HugeSize] bytes. They are never held
// in memory: [Message.Body] streams them from a seeded generator, and their
// Size is computed arithmetically.
package corpus

import (
	"bytes"
	"io"
	"strings"
	"time"
)

// Options controls Generate. A nil *Options means all defaults.
type Options struct {
	// Seed makes the corpus deterministic: the same Options give byte-identical
	// output, a different Seed a different mailbox. Zero is a valid seed.
	Seed int64
	// Messages is the number of ordinary messages, including sent messages and
	// drafts but not the odd and huge ones. Zero means 2000; negative means none.
	Messages int
	// Domain is the user's catch-all domain. Empty means "catchall.test".
	Domain string
	// FinalMailbox is the real mailbox everything was delivered to, as it
	// appears in Delivered-To. Empty means "me@" + Domain.
	FinalMailbox string
	// HugeMessages is the number of very large messages. Zero means 1; negative
	// means none.
	HugeMessages int
	// HugeSize is the approximate size in bytes of each huge message. Zero or
	// negative means 8 MiB.
	HugeSize int64
	// NoOdd leaves out the malformed and binary messages, which are included
	// by default.
	NoOdd bool
}

// Message is one message of the corpus with its ground truth.
type Message struct {
	// Folder is the UTF-8 folder name, with "/" as the hierarchy separator and
	// "INBOX" for the inbox.
	Folder string
	// Flags are the IMAP flags: system flags such as \Seen, \Answered,
	// \Flagged, \Deleted and \Draft first, then keywords such as $Forwarded,
	// Junk or $label1, sorted.
	Flags []string
	// Date is the INTERNALDATE, with second precision, in the user's zone
	// (CET/CEST).
	Date time.Time
	// Size is the exact length of Body().
	Size int64
	// Alias is the ground truth: the lower-case alias the message was sent to
	// (or, for "sent" and "draft", sent from); "" if it cannot be known, as for
	// the "no-header" and "binary" Kinds.
	Alias string
	// Kind says how the message names its alias or what is odd about it; see
	// the package documentation for the list.
	Kind string
	// Origin says who wrote the message: "person", "business", "service",
	// "list", "spam", "self" (sent and drafts) or "" (messages that are not
	// mail at all).
	Origin string
	// MessageID is the Message-ID field as written, angle brackets included;
	// "" if the message has none.
	MessageID string

	spec *spec
}

// Body returns the raw message bytes as a fresh reader each call. Huge
// messages are generated on the fly and never held in memory whole.
func (m *Message) Body() io.Reader {
	s := m.spec
	if s.kind == kindHuge {
		return io.MultiReader(bytes.NewReader(s.prefix), newHugeReader(s), bytes.NewReader(s.suffix))
	}
	var b bytes.Buffer
	b.Grow(int(m.Size))
	s.render(&b)
	return bytes.NewReader(b.Bytes())
}

// Alias is one address at the user's domain that received (or sent) mail.
type Alias struct {
	// Address is the lower-case full address.
	Address string `json:"address"`
	// Tag is "personal", "business" or "disposable".
	Tag string `json:"tag"`
	// Service is the registrable domain of the service that was given the
	// address; "" for personal and role aliases.
	Service string `json:"service"`
	// Leaked is when unrelated spam started to arrive at the address; zero if
	// it never leaked.
	Leaked time.Time `json:"leaked,omitzero"`
	// Breaches are the Names of the breaches in [Breaches] whose Domain is
	// Service and whose Date is after the alias was created, sorted; empty for
	// personal and role aliases. The alias's creation is the date of its first
	// message, the service's welcome.
	Breaches []string `json:"breaches,omitempty"`
}

// Corpus is a generated mailbox.
type Corpus struct {
	// Domain is the user's catch-all domain.
	Domain string
	// FinalMailbox is the real mailbox everything was delivered to.
	FinalMailbox string
	// Folders lists every selectable folder, empty ones included, "INBOX" first.
	Folders []string
	// NoSelect lists the hierarchy-only parents of Folders, which hold no
	// messages and are not Maildirs.
	NoSelect []string
	// Messages are all messages, ordered by Date.
	Messages []*Message
	// Aliases is the ground truth, sorted by Address: every alias some message
	// was sent to or from.
	Aliases []Alias
}

// Folder names.
const (
	folderInbox    = "INBOX"
	folderSent     = "Sent"
	folderDrafts   = "Drafts"
	folderTrash    = "Trash"
	folderJunk     = "Junk"
	folderArch2019 = "Archive/2019"
	folderArch2020 = "Archive/2020"
	folderGoNuts   = "Lists/golang-nuts"
	folderNews     = "Newsletters"
	folderOld      = "Old Mail"
	folderQA       = "Q&A"
	folderFactures = "Réception/Factures"
	folderEmpty    = "Empty"
	folderWork     = "Работа"
	folderJapanese = "日本語 フォルダ"
)

// allFolders is Corpus.Folders.
var allFolders = []string{folderInbox, folderSent, folderDrafts, folderTrash, folderJunk, folderArch2019,
	folderArch2020, folderGoNuts, folderNews, folderOld, folderQA, folderFactures, folderEmpty, folderWork,
	folderJapanese}

// noSelect is Corpus.NoSelect.
var noSelect = []string{"Archive", "Lists", "Réception"}

// Kinds.
const (
	kindPostfix     = "postfix"
	kindQmail       = "qmail"
	kindExim        = "exim"
	kindReceivedFor = "received-for"
	kindToOnly      = "to-only"
	kindSent        = "sent"
	kindDraft       = "draft"
	kindHuge        = "huge"
	kindBareLF      = "bare-lf"
	kindNUL         = "nul"
	kind8bitHeader  = "8bit-header"
	kindNoHeader    = "no-header"
	kindNoMsgID     = "no-message-id"
	kindDupMsgID    = "dup-message-id"
	kindBinary      = "binary"
	kindBroken      = "broken-header"
	kindLongLine    = "long-line"
	kindRFC2047     = "rfc2047"
)

// styles are the recipient-header Kinds of received ordinary messages.
var styles = []string{kindPostfix, kindQmail, kindExim, kindReceivedFor, kindToOnly}

// oddKinds are the Kinds left out by Options.NoOdd.
var oddKinds = []string{kindBareLF, kindNUL, kind8bitHeader, kindNoHeader, kindNoMsgID, kindDupMsgID,
	kindBinary, kindBroken, kindLongLine, kindRFC2047}

func (o *Options) normalized() Options {
	var n Options
	if o != nil {
		n = *o
	}
	switch {
	case n.Messages == 0:
		n.Messages = 2000
	case n.Messages < 0:
		n.Messages = 0
	}
	if n.Domain == "" {
		n.Domain = "catchall.test"
	}
	n.Domain = strings.ToLower(n.Domain)
	if n.FinalMailbox == "" {
		n.FinalMailbox = "me@" + n.Domain
	}
	switch {
	case n.HugeMessages == 0:
		n.HugeMessages = 1
	case n.HugeMessages < 0:
		n.HugeMessages = 0
	}
	if n.HugeSize <= 0 {
		n.HugeSize = 8 << 20
	}
	return n
}

// Generate builds a corpus from opts; nil means defaults. It is deterministic:
// equal Options give equal corpora, byte for byte.
func Generate(opts *Options) *Corpus {
	o := opts.normalized()
	g := newGenerator(o)
	g.buildPool()
	g.chooseActive()
	g.planOrdinary()
	if !o.NoOdd {
		g.planOdd()
	}
	g.planHuge()
	g.assignStyles()
	g.assignFolders()
	g.assignFlags()
	return g.finish()
}
