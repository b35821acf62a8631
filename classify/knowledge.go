package classify

import (
	"bytes"
	"strings"
)

// The built-in knowledge the tagger starts from. A config file adds to it
// (known aliases, rules); nothing here is fetched from anywhere.

// roleNames are local parts that name a function rather than a person or a
// website: mail to them is business mail.
var roleNames = set(
	"abuse", "accounting", "accounts", "admin", "administrator", "billing",
	"business", "careers", "ceo", "contact", "contracts", "customers", "dmarc", "finance", "hello",
	"help", "helpdesk", "hostmaster", "hr", "info", "invoice", "invoices", "jobs", "legal", "mail",
	"marketing", "media", "noc", "office", "orders", "partners", "payments", "postmaster", "press",
	"privacy", "purchasing", "recruiting", "sales", "security", "service", "shop", "support", "team",
	"tech", "vendors", "webmaster", "welcome",
)

// businessServices are services people sign up for as a business or for
// work: hosting, domains, developer tools, cloud, payments, banking,
// accounting, tax, telecoms, shipping, freelancing. Keys are the name as it
// appears in an alias or the service's registrable domain.
var businessServices = set(
	// hosting, domains, cloud, CDN
	"aws", "amazonaws.com", "azure", "cloudflare", "cloudflare.com", "digitalocean", "digitalocean.com",
	"godaddy", "godaddy.com", "hetzner", "hetzner.com", "hetzner.de", "heroku", "heroku.com", "ionos",
	"ionos.de", "ionos.com", "linode", "linode.com", "namecheap", "namecheap.com", "netlify", "netlify.com",
	"ovh", "ovh.com", "strato", "strato.de", "vercel", "vercel.com", "1und1", "1und1.de", "hostinger",
	"letsencrypt", "letsencrypt.org", "gandi", "gandi.net", "fly", "render", "scaleway",
	// developer tools and SaaS for work
	"atlassian", "atlassian.com", "bitbucket", "docker", "github", "github.com", "gitlab", "gitlab.com",
	"jetbrains", "jetbrains.com", "jira", "sentry", "sentry.io", "slack", "slack.com", "zoom", "zoom.us",
	"notion", "figma", "asana", "basecamp", "docusign", "docusign.net", "docusign.com", "mailchimp",
	"sendgrid", "twilio", "npm", "pypi", "circleci", "travis", "confluence", "miro", "calendly",
	"hubspot", "salesforce", "zendesk", "freshdesk", "intercom", "clickup", "monday",
	// payments, banking, accounting, tax
	"stripe", "stripe.com", "n26", "n26.com", "ing", "ing.de", "ing.com", "qonto", "revolut", "wise",
	"transferwise", "lexoffice", "lexoffice.de", "sevdesk", "sevdesk.de", "datev", "datev.de", "elster",
	"elster.de", "quickbooks", "xero", "freshbooks", "fastbill", "kontist", "holvi", "sumup", "square",
	"adyen", "mollie", "klarna-business", "finom", "sparkasse", "sparkasse.de", "commerzbank", "postbank",
	"dkb", "comdirect", "volksbank", "deutsche-bank", "hsbc", "barclays", "chase",
	// workspace and advertising accounts
	"google", "google.com", "microsoft365", "office365", "workspace",
	// telecoms, shipping, freelancing
	"telekom", "telekom.de", "vodafone", "vodafone.de", "o2", "ups", "ups.com", "dhl", "dhl.de", "dhl.com",
	"fedex", "fedex.com", "dpd", "hermes", "gls", "upwork", "upwork.com", "fiverr", "fiverr.com",
	"freelancer", "malt", "toptal",
)

// freemail domains: mail from them comes from individuals.
var freemail = set(
	"gmail.com", "googlemail.com", "yahoo.com", "yahoo.de", "yahoo.co.uk", "yahoo.fr", "ymail.com",
	"outlook.com", "hotmail.com", "hotmail.de", "hotmail.co.uk", "hotmail.fr", "live.com", "live.de",
	"msn.com", "aol.com", "icloud.com", "me.com", "mac.com", "gmx.net", "gmx.de", "gmx.at", "gmx.ch",
	"gmx.com", "web.de", "t-online.de", "freenet.de", "posteo.de", "posteo.net", "mailbox.org",
	"protonmail.com", "proton.me", "pm.me", "tutanota.com", "tuta.io", "fastmail.com", "fastmail.fm",
	"zoho.com", "yandex.ru", "yandex.com", "mail.ru", "bk.ru", "inbox.ru", "list.ru", "rambler.ru",
	"orange.fr", "free.fr", "laposte.net", "sfr.fr", "wanadoo.fr", "libero.it", "virgilio.it",
	"btinternet.com", "comcast.net", "verizon.net", "att.net", "qq.com", "163.com", "126.com",
	"naver.com", "seznam.cz", "wp.pl", "o2.pl", "interia.pl", "arcor.de", "bluewin.ch", "hey.com",
)

// espDomains are the sending platforms that mail on behalf of others: their
// domain says nothing about whose mail it is.
var espDomains = set(
	"amazonses.com", "sendgrid.net", "sendgrid.info", "mailchimp.com", "mcsv.net", "mcdlv.net",
	"rsgsv.net", "mandrillapp.com", "mailgun.org", "mailgun.net", "sparkpostmail.com", "sparkpost.com",
	"exacttarget.com", "salesforce.com", "cleverreach.com", "crsend.com", "sendinblue.com", "brevo.com",
	"mailjet.com", "postmarkapp.com", "mtasv.net", "customer.io", "klaviyomail.com", "hubspotemail.net",
	"constantcontact.com", "emarsys.net", "responsys.net", "bounce.google.com", "mktomail.com",
	"marketo.org", "pardot.com", "mailerlite.com", "getresponse.com", "activecampaign.com",
	"elasticemail.com", "zendesk.com", "freshdesk.com", "smtp.com", "socketlabs.com", "messagebus.com",
)

// bulkHeaders mark mail sent to many (RFC 2369 List-*, RFC 3834
// Auto-Submitted, Precedence) or through an ESP.
var bulkHeaders = []string{
	"List-Unsubscribe", "List-Id", "List-Post", "Feedback-ID", "X-SES-Outgoing", "X-SG-EID", "X-SG-ID",
	"X-MC-User", "X-Mailgun-Sid", "X-Mailgun-Tag", "X-CSA-Complaints", "X-Campaign", "X-Campaign-ID",
	"X-Mailchimp-Campaign", "X-Marketo-Unique-ID", "X-Sfmc-Stack", "X-Job", "X-Sendinblue-Campaign",
}

// mailClients are User-Agent/X-Mailer substrings of programs people write
// mail with (not bulk or spam tools).
var mailClients = []string{
	"thunderbird", "icedove", "outlook", "apple mail", "iphone mail", "ipad mail", "mac os x mail",
	"k-9", "k9mail", "fairemail", "roundcube", "squirrelmail", "horde", "rainloop", "snappymail",
	"mutt", "neomutt", "evolution", "kmail", "claws", "sylpheed", "gnus", "alpine", "mailmate",
	"airmail", "spark", "geary", "seamonkey", "postbox", "the bat", "em client", "mailspring",
	"samsung mail", "android mail", "microsoft windows live mail", "gmail",
}

// noreplyLocal are local-part fragments of machine senders.
var noreplyLocal = []string{"noreply", "no-reply", "donotreply", "do-not-reply", "mailer-daemon", "bounce", "notification", "newsletter", "news@", "info@", "service@", "order", "updates"}

func set(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}

// isMailClient reports whether a User-Agent or X-Mailer value names a mail
// program a person uses.
func isMailClient(v string) bool {
	v = strings.ToLower(v)
	for _, c := range mailClients {
		if strings.Contains(v, c) {
			return true
		}
	}
	return false
}

func isMachineSender(addr string) bool {
	for _, f := range noreplyLocal {
		if strings.Contains(addr, f) {
			return true
		}
	}
	return false
}

// signupWords are Subject fragments of the messages a service sends when an
// account is made: welcome, confirm or verify your address, activate, in
// the languages the corpus and real mailboxes hold. Encoded words are not
// decoded for this: a miss only costs a little evidence.
var signupWords = []string{
	"welcome", "willkommen", "bienvenue", "bienvenido", "benvenuto", "welkom", "välkommen",
	"verify your", "confirm your", "please confirm", "confirm your email", "activate your", "activation",
	"bestätigen sie", "bitte bestätigen", "e-mail-adresse bestätigen", "konto aktivieren", "ihr konto",
	"your account", "account created", "registration", "registrierung", "inscription", "confirmez",
	"verification code", "bestätigungscode",
}

var signupBytes = func() [][]byte {
	out := make([][]byte, len(signupWords))
	for i, w := range signupWords {
		out[i] = []byte(w)
	}
	return out
}()

// isSignupSubject reports whether a Subject value reads like a service's
// welcome or confirm-your-address message.
func isSignupSubject(v []byte) bool {
	if len(v) > 200 {
		v = v[:200]
	}
	var buf [200]byte
	l := buf[:len(v)]
	for i, c := range v {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		l[i] = c
	}
	for _, w := range signupBytes {
		if bytes.Contains(l, w) {
			return true
		}
	}
	return false
}
