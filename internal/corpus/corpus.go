// Package corpus generates a realistic, deterministic catch-all mailbox for
// tests and benchmarks: years of mail delivered to one real mailbox through
// hundreds of aliases at the user's own domain, with the ground truth of which
// alias every message was sent to and what kind of alias it is.
//
// The same [Options] always give byte-identical messages; nothing is read from
// the clock, the environment or the network. [Generate] builds the corpus in
// memory (ordinary bodies are rendered on demand from a per-message seed, so
// memory stays small) and [Corpus.WriteMaildir] writes it as a Maildir tree
// that scripts/testenv can load into a real IMAP server, with the ground
// truth in truth.json ([Truth]). [Corpus.Domains] lists the user's own
// domains; today that is just [Corpus.Domain].
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
//     press@, info@, postmaster@, abuse@, …; Service "") receiving mail from
//     customers, suppliers, applicants, journalists and DMARC reporters. Every
//     role alias has real correspondence: at least one thread in which someone
//     at an organisation (or an applicant) writes to it and the user answers
//     from it (Sent, From the alias, In-Reply-To), so no role alias gets only
//     spam. Also business: about one in three (at least one) of the aliases
//     given to business services (github@, stripe@, hetzner@, aws@, …, and
//     generated shops used as suppliers, shop-<name>@), namely those the user
//     really corresponded from: besides the service's own mail they hold one
//     thread in which the user writes one to three times from the alias to a
//     person at the service's domain (a support ticket, a question about an
//     invoice) and that person answers each message from a mail client
//     (X-Mailer or User-Agent, In-Reply-To, "Re:").
//   - disposable: aliases given to websites (adobe@, linkedin@, netflix@,
//     amazon@, ebay@, db@ for bahn.de, facebook@ mailing from facebookmail.com,
//     shop-<name>@, …), some with a year suffix (spotify2016@), some as a
//     subaddress (news+heise@, which is listed as its own alias), and the
//     other two thirds of the business-service aliases, which were mere
//     signups (welcome or confirm-your-address, receipts, notifications, all
//     from the one service; never written from). They receive bulk mail
//     through ESPs (Amazon SES, SendGrid, Mailchimp, Salesforce Marketing
//     Cloud, SparkPost, Mailgun, CleverReach or the service's own servers) with
//     List-Unsubscribe, Precedence: bulk, Feedback-ID, ESP Received hops and
//     DKIM-Signature headers whose d= is the service's domain. Also disposable:
//     the mailing-list subscriptions and the never-given aliases (below).
//
// Service is the registrable domain of the service (amazon.co.uk, bahn.de,
// googlegroups.com), which is not always the domain mail comes from. Senders
// write amazon@ as "Amazon@<domain>" and paypal@ as "PayPal@<domain>" in their
// headers; [Alias.Address] is always lower case. About one disposable service
// alias in seven leaks: from [Alias.Leaked] on it also receives spam from
// unrelated senders (Origin "spam"). Role aliases such as info@ get some spam
// too, but are not marked as leaked.
//
// Every service alias (disposable or business) was created when its first
// message arrived: the service's welcome or confirm-your-address message.
// Nothing reaches the alias before it, so a tool can read the creation date
// from the mail.
//
// The correspondence of role and business-service aliases is planned after
// one message or thread for every alias, so in very small corpora (about 100
// Messages or fewer) the budget may run out before some of it is written.
//
// # Mailing lists
//
// Two list subscriptions are disposable aliases: lists+golang-nuts@ (Service
// googlegroups.com, filed in "Lists/golang-nuts") and either
// lists+debian-user@ or debian@ (Service debian.org, subscribed to
// debian-user@lists.debian.org, filed like ordinary mail). List mail carries
// List-Id (List-ID for Google Groups), Precedence: list and the other List-*
// fields, comes from the list server (Return-Path at the list host) and has
// To: the list's address; the alias is named only in the delivery headers,
// so list mail is never "to-only". Now and then the user posts to the list
// from the alias (Sent).
//
// # Never-given aliases
//
// Spammers guess addresses at the domain that the user never gave to
// anyone: role names that are not real aliases of this corpus (admin@,
// webmaster@, test@, office@, contact@, hello@, marketing@, postmaster2@,
// root@, web@, shop@, mail@, newsletter@, kontakt@, service@, whichever the
// corpus does not use) and random strings (k7xq2m@, jsmith.87@, a1b2c3d@,
// sarah42@). There are 6 to 12 of them for 2000 Messages, scaled by
// (Messages/2000)^0.4 and at least 4 from 500 Messages on. [Alias.NeverGiven]
// marks them; their Tag is "disposable", Service "", Leaked the date of their
// first message and Action "block". Each receives 2 to 8 messages and nothing
// else: spam (Origin "spam"), each message from a different made-up sender
// domain, none with a DKIM signature of the sender, no welcome, never
// answered, never sent from. About 70% of them are in "Junk", the rest in
// "INBOX". They name the alias in one of the recipient-header styles below,
// like other received mail.
//
// # Actions
//
// [Alias.Action] is what the user wants done with an alias: "block" for the
// never-given aliases and for disposable aliases that have Breaches or a
// Leaked date, "forward" for every other alias (all personal and business
// aliases, postmaster@ and abuse@ included).
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
// Every received message to an alias names its alias in exactly one style,
// which is its Kind. The user's mail host changed software over the years,
// so the style depends mostly on the date (qmail until 2014, Exim 2015–2018,
// Postfix from 2019), with the other styles mixed in:
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
// Some mail was sent to the alias as Bcc: mailing-list mail (To: the list),
// some newsletters and notifications (To: "undisclosed-recipients:;" or the
// sender's own address), some messages from people (To: the sender's own
// address or "undisclosed-recipients:;", no Cc) and some spam (To:
// "undisclosed-recipients:;"). Their To and Cc do not name the alias, only
// the delivery headers do, so they never have Kind "to-only".
//
// The other Kinds are "sent" (in Sent, From an alias to people; Alias is the
// From alias), "draft" (in Drafts), "huge", "forwarded-in" and the odd Kinds
// below.
//
// # Forwarded-in mail
//
// About 1% of the Messages (Messages/100, rounded) were sent to the user's
// old freemail account (john.smith1983@gmail.com, smith.john83@web.de, …;
// one per corpus) by people (Origin "person") and services (Origin
// "service"), and that account forwarded them to FinalMailbox. Their Kind is
// "forwarded-in" and their Alias "": they name no alias at the domain, and
// the freemail address is not an alias. To is the freemail address. On top,
// added by the user's server, are X-Original-To: FinalMailbox,
// Delivered-To: FinalMailbox and a "Received: from <provider host> … by
// mx.<Domain> (Postfix) … for <FinalMailbox>" line; below it the provider's
// own Received lines (the one that received the original for the freemail
// address, "for <john.smith1983@gmail.com>") and a Delivered-To of the
// freemail address (Gmail also adds X-Forwarded-To and X-Forwarded-For).
//
// # Folders
//
// "INBOX" (most messages), "Sent", "Drafts", "Trash", "Junk", "Archive/2019",
// "Archive/2020", "Lists/golang-nuts", "Newsletters", "Newsletters/Entwürfe"
// (a folder the user made inside Newsletters, holding about a third of the
// newsletters filed under Newsletters; it is not the drafts folder and holds
// no drafts), "Old Mail" (a space), "Q&A" (the modified UTF-7 trap),
// "Réception/Factures", "Empty" (never any message), "Работа" and
// "日本語 フォルダ". The parents "Archive", "Lists" and "Réception" hold no
// messages and are not Maildirs (\Noselect on a server); they are listed in
// [Corpus.NoSelect], not in [Corpus.Folders]. "Newsletters" is both a folder
// with messages and the parent of "Newsletters/Entwürfe".
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
// (1 + Messages/1000 times; "foreign" 3 + Messages/1000 times), in INBOX. They
// are not counted in Messages:
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
//   - "foreign": mail between other people that ended up in the mailbox
//     without passing the user's server (Origin "person", Alias ""): From a
//     freemail user, To someone at an unrelated domain (python.org, zzz.org,
//     example.com, …, never the user's own), no Received line by the user's
//     server and no delivery header of the user's. About half of them (at
//     least one) carry a Received line of the recipient's server and below it
//     a Delivered-To of the foreign address; the rest have no trace fields at
//     all. There are two more of them than of each other odd Kind (5 for 2000
//     Messages).
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
	// the "no-header" and "binary" Kinds, or if the message was not sent to an
	// alias at all, as for the "forwarded-in" and "foreign" Kinds.
	Alias string
	// Kind says how the message names its alias or what is odd about it; see
	// the package documentation for the list.
	Kind string
	// Origin says who wrote the message: "person", "business", "service",
	// "list", "spam", "self" (sent and drafts) or "" (messages that are not
	// mail at all). "forwarded-in" messages are "person" or "service",
	// "foreign" ones "person"; people at organisations writing to role and
	// business-service aliases are "business".
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
	// Tag is "personal", "business" or "disposable". An alias given to a
	// business service is "business" only if the user corresponded from it
	// with people at the service; otherwise it was a signup and is
	// "disposable". Never-given aliases are "disposable".
	Tag string `json:"tag"`
	// Service is the registrable domain of the service that was given the
	// address (for mailing lists, of the list host); "" for personal, role and
	// never-given aliases.
	Service string `json:"service"`
	// Leaked is when unrelated spam started to arrive at the address; zero if
	// it never leaked. For a never-given alias it is the date of its first
	// message.
	Leaked time.Time `json:"leaked,omitzero"`
	// Breaches are the Names of the breaches in [Breaches] whose Domain is
	// Service and whose Date is after the alias was created, sorted; empty for
	// personal, role and never-given aliases. The alias's creation is the date
	// of its first message, the service's welcome.
	Breaches []string `json:"breaches,omitempty"`
	// NeverGiven marks an address the user never gave to anyone: spammers
	// guessed it. Such an alias receives nothing but spam; its Tag is
	// "disposable", its Service "" and its Action "block".
	NeverGiven bool `json:"never_given,omitempty"`
	// Action is what the user wants done with the alias after the
	// migration: "block" for never-given aliases and for disposable aliases
	// with Breaches or a Leaked date; "forward" for all others.
	Action string `json:"action"`
}

// Corpus is a generated mailbox.
type Corpus struct {
	// Domain is the user's catch-all domain.
	Domain string
	// Domains are all of the user's own domains, sorted; every alias is at
	// one of them. Today that is just Domain.
	Domains []string
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
	folderNewsSub  = "Newsletters/Entwürfe"
	folderOld      = "Old Mail"
	folderQA       = "Q&A"
	folderFactures = "Réception/Factures"
	folderEmpty    = "Empty"
	folderWork     = "Работа"
	folderJapanese = "日本語 フォルダ"
)

// allFolders is Corpus.Folders.
var allFolders = []string{folderInbox, folderSent, folderDrafts, folderTrash, folderJunk, folderArch2019,
	folderArch2020, folderGoNuts, folderNews, folderNewsSub, folderOld, folderQA, folderFactures, folderEmpty, folderWork,
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
	kindForwardedIn = "forwarded-in"
	kindForeign     = "foreign"
)

// styles are the recipient-header Kinds of received ordinary messages.
var styles = []string{kindPostfix, kindQmail, kindExim, kindReceivedFor, kindToOnly}

// oddKinds are the Kinds left out by Options.NoOdd.
var oddKinds = []string{kindBareLF, kindNUL, kind8bitHeader, kindNoHeader, kindNoMsgID, kindDupMsgID,
	kindBinary, kindBroken, kindLongLine, kindRFC2047, kindForeign}

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
	g.addNeverGiven()
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
