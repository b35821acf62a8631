package corpus

import (
	"math/rand/v2"
	"strings"
	"time"
)

// zone is a sender's time-zone rule.
type zone int

const (
	zoneDE  zone = iota // CET/CEST
	zoneUK              // GMT/BST
	zoneUS              // EST/EDT
	zoneJP              // JST
	zoneRU              // MSK
	zoneUTC             // UTC, as many bulk senders stamp
)

var (
	locCET  = time.FixedZone("CET", 3600)
	locCEST = time.FixedZone("CEST", 2*3600)
	locGMT  = time.FixedZone("GMT", 0)
	locBST  = time.FixedZone("BST", 3600)
	locEST  = time.FixedZone("EST", -5*3600)
	locEDT  = time.FixedZone("EDT", -4*3600)
	locJST  = time.FixedZone("JST", 9*3600)
	locMSK  = time.FixedZone("MSK", 3*3600)
)

func langZone(lang string) zone {
	switch lang {
	case "en":
		return zoneUS
	case "ja":
		return zoneJP
	case "ru":
		return zoneRU
	}
	return zoneDE
}

// lastSunday returns 00:00 UTC of the last Sunday of month m in year y.
func lastSunday(y int, m time.Month) time.Time {
	t := time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	for t.Weekday() != time.Sunday {
		t = t.AddDate(0, 0, -1)
	}
	return t
}

// nthSunday returns 00:00 UTC of the n-th Sunday of month m in year y.
func nthSunday(y int, m time.Month, n int) time.Time {
	t := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	for t.Weekday() != time.Sunday {
		t = t.AddDate(0, 0, 1)
	}
	return t.AddDate(0, 0, 7*(n-1))
}

// euSummer reports whether EU summer time is in force at t.
func euSummer(t time.Time) bool {
	u := t.UTC()
	start := lastSunday(u.Year(), time.March).Add(time.Hour)
	end := lastSunday(u.Year(), time.October).Add(time.Hour)
	return !u.Before(start) && u.Before(end)
}

// usSummer reports whether US daylight saving time is in force at t.
func usSummer(t time.Time) bool {
	u := t.UTC()
	start := nthSunday(u.Year(), time.March, 2).Add(7 * time.Hour)
	end := nthSunday(u.Year(), time.November, 1).Add(6 * time.Hour)
	return !u.Before(start) && u.Before(end)
}

// inZone returns t in the local time of zone z.
func inZone(t time.Time, z zone) time.Time {
	switch z {
	case zoneDE:
		if euSummer(t) {
			return t.In(locCEST)
		}
		return t.In(locCET)
	case zoneUK:
		if euSummer(t) {
			return t.In(locBST)
		}
		return t.In(locGMT)
	case zoneUS:
		if usSummer(t) {
			return t.In(locEDT)
		}
		return t.In(locEST)
	case zoneJP:
		return t.In(locJST)
	case zoneRU:
		return t.In(locMSK)
	}
	return t.UTC()
}

// berlin returns t in the user's own time zone, which INTERNALDATE uses.
func berlin(t time.Time) time.Time { return inZone(t, zoneDE) }

// mailDate formats t as an RFC 5322 date, with the zone name as a comment.
func mailDate(t time.Time) string {
	s := t.Format("Mon, 2 Jan 2006 15:04:05 -0700")
	if n, _ := t.Zone(); n != "" && n[0] != '+' && n[0] != '-' {
		s += " (" + n + ")"
	}
	return s
}

func newRand(a, b uint64) *rand.Rand { return rand.New(rand.NewPCG(a, b)) }

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func chance(r *rand.Rand, p float64) bool { return r.Float64() < p }

// between returns a random int in [lo, hi].
func between(r *rand.Rand, lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + r.IntN(hi-lo+1)
}

// randTime returns a random second in [a, b].
func randTime(r *rand.Rand, a, b time.Time) time.Time {
	if !b.After(a) {
		return a
	}
	n := int64(b.Sub(a) / time.Second)
	return a.Add(time.Duration(r.Int64N(n+1)) * time.Second)
}

// daytime nudges a time that falls in the small hours (Berlin time) into the day,
// most of the time, because people rarely write at four in the morning.
func daytime(r *rand.Rand, t time.Time) time.Time {
	if h := berlin(t).Hour(); h < 7 && chance(r, 0.8) {
		t = t.Add(time.Duration(7+r.IntN(10)) * time.Hour)
	}
	return t
}

const (
	alnum    = "abcdefghijklmnopqrstuvwxyz0123456789"
	b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_-"
	hexchars = "0123456789abcdef"
)

// fill expands a pattern: '#' digit, '?' lower-case letter, '^' upper-case letter,
// '%' lower-case hex digit, '*' letter or digit, '&' base64-ish character; anything
// else is copied.
func fill(r *rand.Rand, pattern string) string {
	var b strings.Builder
	b.Grow(len(pattern))
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '#':
			b.WriteByte('0' + byte(r.IntN(10)))
		case '?':
			b.WriteByte('a' + byte(r.IntN(26)))
		case '^':
			b.WriteByte('A' + byte(r.IntN(26)))
		case '%':
			b.WriteByte(hexchars[r.IntN(16)])
		case '*':
			b.WriteByte(alnum[r.IntN(len(alnum))])
		case '&':
			b.WriteByte(b64chars[r.IntN(len(b64chars))])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// randIP returns prefix completed with random octets to a dotted quad.
func randIP(r *rand.Rand, prefix string) string {
	n := 4 - strings.Count(prefix, ".")
	var b strings.Builder
	b.WriteString(prefix)
	for i := range n {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(itoa(1 + r.IntN(254)))
	}
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		buf[i] = '0' + byte(n%10)
		n /= 10
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}

func uuid(r *rand.Rand) string { return fill(r, "%%%%%%%%-%%%%-4%%%-a%%%-%%%%%%%%%%%%") }

// upperFirst upper-cases the first letter of s.
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// isASCII reports whether s is printable 7-bit text.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// mailer describes the infrastructure that sends for someone.
type mailer struct {
	key      string
	host     string // pattern (see fill) of the host that connects to the user's server
	ip       string // IP prefix of that host
	selector string // DKIM selector ("" when the mailer does not sign)
	espDKIM  string // second DKIM signature by the ESP itself ("" none)
	idStyle  string // Message-ID style
	inner    string // pattern of an internal hop ("" none)
}

// mailers are the shared sending infrastructures: freemail providers, ESPs and others.
var mailers = map[string]*mailer{
	"google":     {host: "mail-??#-f##.google.com", ip: "209.85.", selector: "google", idStyle: "gmail", inner: "by 2002:a05:6402:%%%:b0:%%%:%%%% with SMTP id ?%%%%%%%%%%%##.#"},
	"yahoo":      {host: "sonic3##-##.consmr.mail.bf2.yahoo.com", ip: "74.6.", selector: "s2048", idStyle: "yahoo", inner: "from sonic.gate.mail.ne1.yahoo.com by sonic3##.consmr.mail.bf2.yahoo.com with HTTP"},
	"outlook":    {host: "mail-^^#^^^#on2###.outbound.protection.outlook.com", ip: "40.92.", selector: "selector1", idStyle: "outlook", inner: "from AM#PR0#MB####.eurprd0#.prod.outlook.com ([fe80::%%%%:%%%%:%%%%:%%%%]) by AM#PR0#MB####.eurprd0#.prod.outlook.com ([fe80::%%%%:%%%%]) with mapi id 15.20.####.0##"},
	"webde":      {host: "mout.web.de", ip: "212.227.15.", selector: "s29768273", idStyle: "webde", inner: "from [10.#.#.##] by 3c-app-webde-bap##.server.lan (via HTTP)"},
	"gmx":        {host: "mout.gmx.net", ip: "212.227.17.", selector: "s31663417", idStyle: "gmx", inner: "from [10.#.#.##] by 3c-app-gmx-bs##.server.lan (via HTTP)"},
	"tonline":    {host: "mailout##.t-online.de", ip: "194.25.134.", idStyle: "uuid", inner: "from fwd##.aul.t-online.de (fwd##.aul.t-online.de [10.223.144.##]) by mailout##.t-online.de (Postfix)"},
	"icloud":     {host: "qs##p00im-qukt########.me.com", ip: "17.57.155.", selector: "1a1hai", idStyle: "apple"},
	"proton":     {host: "mail-####.protonmail.ch", ip: "185.70.40.", selector: "protonmail3", idStyle: "proton"},
	"posteo":     {host: "mout0#.posteo.de", ip: "185.67.36.", selector: "2017", idStyle: "uuid"},
	"mailboxorg": {host: "mout-p-###.mailbox.org", ip: "80.241.56.", selector: "mail20150812", idStyle: "uuid"},
	"orange":     {host: "smtp-##.smtp.orange.fr", ip: "80.12.242.", selector: "t20230301", idStyle: "uuid"},
	"free":       {host: "smtp#-g21.free.fr", ip: "212.27.42.", selector: "smtp-20201208", idStyle: "uuid"},
	"laposte":    {host: "smtpout##.laposte.net", ip: "160.92.124.", idStyle: "uuid"},
	"mailru":     {host: "f###.i.mail.ru", ip: "217.69.128.", selector: "mail4", idStyle: "mailru"},
	"yandex":     {host: "forward###a.mail.yandex.net", ip: "178.154.239.", selector: "mail", idStyle: "yandex"},
	"rambler":    {host: "mxout#.rambler.ru", ip: "81.19.66.", selector: "mail", idStyle: "uuid"},
	"yahoojp":    {host: "mail-##.yahoo.co.jp", ip: "183.79.", selector: "yj20110701", idStyle: "yahoo"},
	"docomo":     {host: "mfsmax.docomo.ne.jp", ip: "203.138.181.", idStyle: "uuid"},
	"m365":       {host: "mail-^^#^^^##on2###.outbound.protection.outlook.com", ip: "40.107.", selector: "selector1", idStyle: "outlook", inner: "from DB#PR0#MB####.eurprd0#.prod.outlook.com ([fe80::%%%%:%%%%]) by DB#PR0#MB####.eurprd0#.prod.outlook.com with mapi id 15.20.####.0##"},
	"ses":        {host: "a#-##.smtp-out.eu-west-1.amazonses.com", ip: "54.240.", selector: "shh3fegwg5fppqsuzphvschd53n6ihuv", espDKIM: "amazonses.com", idStyle: "ses"},
	"sg":         {host: "o#.ptr####.sendgrid.net", ip: "167.89.", selector: "s1", espDKIM: "sendgrid.info", idStyle: "sg", inner: "by filterdrecv-%%%%%%%%%-%%%%% with filter id filterdrecv-%%%%%%%%%-%%%%%-#-%%%%%%%%-##-#"},
	"mc":         {host: "mail###.atl###.mcdlv.net", ip: "198.2.", selector: "k1", espDKIM: "mcdlv.net", idStyle: "mc"},
	"sfmc":       {host: "mta###.mta.exacttarget.com", ip: "13.111.", selector: "200608", idStyle: "sfmc"},
	"sp":         {host: "mta-##-##.sparkpostmail.com", ip: "192.174.", selector: "scph0123", espDKIM: "sparkpostmail.com", idStyle: "generic"},
	"mg":         {host: "m##-###.mailgun.net", ip: "198.61.254.", selector: "mailo", espDKIM: "mailgun.org", idStyle: "mg"},
	"cr":         {host: "mta#.crsend.com", ip: "85.13.", selector: "crsend", espDKIM: "crsend.com", idStyle: "generic"},
	"groups":     {host: "mail-sor-f##.google.com", ip: "209.85.220.", selector: "googlegroups", idStyle: "gmail"},
	"debian":     {host: "bendel.debian.org", ip: "82.195.75.", idStyle: "uuid"},
	"spam":       {host: "?????.?????.???", ip: "", idStyle: "spam"},
}

func init() {
	for k, m := range mailers {
		m.key = k
	}
}
