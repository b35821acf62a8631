package forwards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/catchall/catchall/classify"
)

// ForwardEmail writes the DNS TXT records of ForwardEmail.net's free plan:
// "forward-email=alias:target,…" at the apex of each domain, a blocked
// alias as "!!!alias" (hard reject: 550), the catch-all as a bare target.
// Each TXT string holds at most 255 bytes, so the entries are spread over
// as many records as needed, each with its own "forward-email=" prefix.
// Import reads them back from zone-file lines, dig output, bare values or
// records.json.
type ForwardEmail struct{}

// Name implements Format and Importer.
func (ForwardEmail) Name() string { return "forwardemail" }

const (
	fePrefix = "forward-email="
	feMaxTXT = 255 // bytes in one TXT character-string (RFC 1035 §3.3)
	feTTL    = 3600
)

type feRecord struct {
	Domain string `json:"domain"`
	Type   string `json:"type"`
	Value  string `json:"value"`
}

// zoneQuote returns s as a zone-file character-string.
func zoneQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// feValues packs entries into TXT values of at most feMaxTXT bytes.
func feValues(entries []string) []string {
	var vals []string
	cur := ""
	for _, e := range entries {
		switch {
		case cur == "":
			cur = fePrefix + e
		case len(cur)+1+len(e) <= feMaxTXT:
			cur += "," + e
		default:
			vals = append(vals, cur)
			cur = fePrefix + e
		}
	}
	if cur != "" {
		vals = append(vals, cur)
	}
	return vals
}

// Generate implements Format.
func (ForwardEmail) Generate(in *Input) (*Output, error) {
	if err := xtraCheck(in); err != nil {
		return nil, err
	}
	domains := xtraDomains(in)
	out := &Output{}
	records := []feRecord{}
	var unwritable, tooLong, plus []string
	var files []string
	total := 0
	for _, d := range domains {
		var entries []string
		for _, r := range xtraRulesOf(in, d) {
			local := xtraLocal(r.Alias)
			// A leading ! disables an alias and /…/ is a regular
			// expression: such local parts cannot be written.
			if strings.HasPrefix(local, "!") || strings.HasPrefix(local, "/") {
				unwritable = append(unwritable, r.Alias)
				continue
			}
			if strings.Contains(local, "+") {
				plus = append(plus, r.Alias)
			}
			var es []string
			if r.Action == classify.ActionBlock {
				es = []string{"!!!" + local}
			} else {
				for _, t := range r.Targets {
					es = append(es, local+":"+t)
				}
			}
			long := false
			for _, e := range es {
				if len(fePrefix)+len(e) > feMaxTXT {
					long = true
				}
			}
			if long {
				tooLong = append(tooLong, r.Alias)
				continue
			}
			entries = append(entries, es...)
		}
		if in.CatchAll != "" {
			entries = append(entries, in.CatchAll)
		}
		vals := feValues(entries)
		total += len(vals)
		var b bytes.Buffer
		fmt.Fprintf(&b, "; ForwardEmail.net TXT records for %s, written by catchall.\n", d)
		fmt.Fprintf(&b, "; Each line is one TXT record at the apex (\"@\") of %s: see INSTALL.txt.\n", d)
		fmt.Fprintf(&b, "$ORIGIN %s.\n", d)
		for _, v := range vals {
			fmt.Fprintf(&b, "@ %d IN TXT %s\n", feTTL, zoneQuote(v))
			records = append(records, feRecord{Domain: d, Type: "TXT", Value: v})
		}
		name := xtraPerDomain(in, "dns", ".txt", d)
		files = append(files, name)
		out.Files = append(out.Files, File{Name: name, Data: b.Bytes()})
	}
	out.Files = append(out.Files, File{Name: "records.json", Data: xtraJSON(records)})

	out.Install = fmt.Sprintf(`Installing the ForwardEmail.net configuration (free plan: DNS only)
===================================================================

For each of %[1]s, at the DNS host of the domain:

1. Add the TXT records (%[2]s): one record per line, name "@"
   (the domain itself), TTL 3600, the value without the quotes. Many DNS
   hosts import the file as it is (it is in zone-file format); records.json
   has the same records for DNS APIs. Remove older "forward-email=" records.

2. Point the MX records at ForwardEmail (and remove the old ones):
     @ 3600 IN MX 10 mx1.forwardemail.net.
     @ 3600 IN MX 20 mx2.forwardemail.net.

3. Let ForwardEmail send for the domain in SPF: add
   include:spf.forwardemail.net to the TXT record starting with v=spf1.

4. Check: "dig +short TXT DOMAIN" lists them (%[3]s in all);
   then send a test mail to an alias.

Blocked aliases are written as "!!!alias": ForwardEmail refuses them
with 550.
`, strings.Join(domains, ", "), strings.Join(files, ", "), xtraPlural(total, "forward-email record"))

	out.Limits = append(out.Limits, "ForwardEmail's free plan reads the configuration from public DNS: anyone can list every alias and target with \"dig TXT\" on the domain (the paid plans keep aliases private in their dashboard).")
	if len(unwritable) > 0 {
		out.Limits = append(out.Limits, fmt.Sprintf("ForwardEmail reads a leading \"!\" as \"disabled\" and a leading \"/\" as a regular expression, so %s cannot be written and %s left out.", xtraList(unwritable), map[bool]string{true: "is", false: "are"}[len(unwritable) == 1]))
	}
	if len(tooLong) > 0 {
		out.Limits = append(out.Limits, fmt.Sprintf("A TXT string holds at most %d bytes: the entry of %s is longer and is left out.", feMaxTXT, xtraList(tooLong)))
	}
	if len(plus) > 0 {
		out.Limits = append(out.Limits, fmt.Sprintf("ForwardEmail matches only the part before \"+\" (plus-addressing: mail to news+tag@ is handled by the alias \"news\" or the catch-all, with \"+tag\" added to the target address), so the rules written for %s never apply.", xtraList(plus)))
	}
	return out, nil
}

// feKnownTypes are record types skipped on import.
var feKnownTypes = map[string]bool{
	"A": true, "AAAA": true, "MX": true, "CNAME": true, "NS": true, "SOA": true, "SRV": true, "CAA": true,
	"PTR": true, "SPF": true, "DS": true, "DNSKEY": true, "TLSA": true, "HTTPS": true, "SVCB": true,
	"ALIAS": true, "ANAME": true, "NAPTR": true, "SSHFP": true, "HINFO": true, "RP": true, "LOC": true,
	"CERT": true, "SMIMEA": true, "OPENPGPKEY": true, "URI": true, "DNAME": true,
}

type feToken struct {
	text   string
	quoted bool
}

// feTokenize splits a zone-file line into tokens: quoted strings (with \X
// and \DDD escapes), bare words; parentheses only group lines; a ; starts
// a comment. depth is the parenthesis depth after the line.
func feTokenize(line string, depth int) ([]feToken, int, error) {
	var toks []feToken
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == ';':
			return toks, depth, nil
		case c == '(':
			depth++
			i++
		case c == ')':
			if depth == 0 {
				return nil, 0, fmt.Errorf("unbalanced )")
			}
			depth--
			i++
		case c == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(line) {
				c := line[i]
				if c == '"' {
					closed = true
					i++
					break
				}
				if c == '\\' && i+1 < len(line) {
					if i+3 < len(line) && isDigit(line[i+1]) && isDigit(line[i+2]) && isDigit(line[i+3]) {
						n := int(line[i+1]-'0')*100 + int(line[i+2]-'0')*10 + int(line[i+3]-'0')
						if n > 255 {
							return nil, 0, fmt.Errorf("bad escape \\%s", line[i+1:i+4])
						}
						b.WriteByte(byte(n))
						i += 4
						continue
					}
					b.WriteByte(line[i+1])
					i += 2
					continue
				}
				b.WriteByte(c)
				i++
			}
			if !closed {
				return nil, 0, fmt.Errorf("unterminated quoted string")
			}
			toks = append(toks, feToken{text: b.String(), quoted: true})
		default:
			j := i
			for j < len(line) && strings.IndexByte(" \t\r;()\"", line[j]) < 0 {
				j++
			}
			toks = append(toks, feToken{text: line[i:j]})
			i = j
		}
	}
	return toks, depth, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isTTL(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && strings.IndexByte("smhdwSMHDW", s[i]) < 0 {
			return false
		}
	}
	return isDigit(s[0])
}

// feImport holds the state of one import.
type feImport struct {
	m      *xtraMerger
	origin string // from $ORIGIN
	owner  string // the last owner name
	values int    // forward-email= values seen
}

// domainName turns a zone-file owner into a domain name; it is checked
// only when a forward-email= value is found there (other records may have
// owners such as _dmarc).
func (st *feImport) domainName(owner string) string {
	owner = strings.ToLower(owner)
	switch {
	case owner == "@":
		return st.origin
	case strings.HasSuffix(owner, "."):
		return strings.TrimSuffix(owner, ".")
	case st.origin != "":
		return owner + "." + st.origin
	}
	return owner
}

// value reads one TXT value; other TXT records than forward-email= are
// skipped.
func (st *feImport) value(v, domain, where string) error {
	if len(v) < len(fePrefix) || !strings.EqualFold(v[:len(fePrefix)], fePrefix) {
		return nil
	}
	if domain == "" {
		return fmt.Errorf("%s: no domain for this value: put a line \"$ORIGIN example.com.\" before it", where)
	}
	if _, err := CheckAddress("x@" + domain); err != nil {
		return fmt.Errorf("%s: %q is not a domain name for aliases", where, domain)
	}
	st.values++
	for _, e := range strings.Split(v[len(fePrefix):], ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.HasPrefix(e, "/") || strings.HasPrefix(strings.TrimLeft(e, "!"), "/") {
			return fmt.Errorf("%s: %q is a regular-expression alias, which catchall cannot import", where, e)
		}
		bangs := len(e) - len(strings.TrimLeft(e, "!"))
		if bangs > 3 {
			return fmt.Errorf("%s: %q: at most three \"!\" may disable an alias", where, e)
		}
		e = e[bangs:]
		low := strings.ToLower(e)
		if bangs == 0 && (strings.HasPrefix(low, "http://") || strings.HasPrefix(low, "https://")) {
			continue // a catch-all webhook
		}
		alias, target, hasColon := strings.Cut(e, ":")
		alias, target = strings.TrimSpace(alias), strings.TrimSpace(target)
		if !hasColon && bangs == 0 {
			if strings.ContainsAny(alias, "@.") {
				continue // the catch-all: a bare address or domain
			}
			return fmt.Errorf("%s: %q is not alias:target", where, e)
		}
		block := bangs > 0 || target == "!" || target == "!!" || target == "!!!"
		addr := alias + "@" + domain
		if strings.Contains(alias, "@") {
			if classify.Domain(strings.ToLower(alias)) != domain {
				return fmt.Errorf("%s: alias %q is not at %s", where, alias, domain)
			}
			addr = alias
		}
		a, err := CheckAddress(addr)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		var targets []string
		if !block {
			t, err := CheckAddress(target)
			if err != nil {
				return fmt.Errorf("%s: target of %s: %w", where, a, err)
			}
			if t == a {
				return fmt.Errorf("%s: %s forwards to itself", where, a)
			}
			targets = []string{t}
		}
		if err := st.m.add(a, block, targets, where); err != nil {
			return err
		}
	}
	return nil
}

// records reads records.json content.
func (st *feImport) records(raw json.RawMessage, where string) error {
	var list []feRecord
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		var one feRecord
		if err := json.Unmarshal(raw, &one); err != nil {
			return fmt.Errorf("%s: %v", where, err)
		}
		list = []feRecord{one}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("%s: %v", where, err)
	}
	for i, r := range list {
		w := fmt.Sprintf("%s, record %d", where, i+1)
		if !strings.EqualFold(r.Type, "TXT") {
			continue
		}
		d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(r.Domain), "."))
		if _, err := CheckAddress("x@" + d); err != nil {
			return fmt.Errorf("%s: bad domain %q", w, r.Domain)
		}
		if err := st.value(strings.TrimSpace(r.Value), d, w); err != nil {
			return err
		}
	}
	return nil
}

// line reads one logical zone-file line (several physical lines when
// parentheses span them).
func (st *feImport) line(raw string, toks []feToken, where string) error {
	if len(toks) == 0 {
		return nil
	}
	first := toks[0]
	// A bare value, or dig +short output (quoted strings only).
	if !first.quoted && len(first.text) >= len(fePrefix) && strings.EqualFold(first.text[:len(fePrefix)], fePrefix) {
		var v strings.Builder
		for _, t := range toks {
			v.WriteString(t.text)
		}
		return st.value(v.String(), st.current(), where)
	}
	if first.quoted {
		var v strings.Builder
		for _, t := range toks {
			if !t.quoted {
				return fmt.Errorf("%s: %q is neither a DNS record nor a TXT value", where, strings.TrimSpace(raw))
			}
			v.WriteString(t.text)
		}
		return st.value(v.String(), st.current(), where)
	}
	if strings.HasPrefix(first.text, "$") {
		switch strings.ToUpper(first.text) {
		case "$ORIGIN":
			if len(toks) != 2 {
				return fmt.Errorf("%s: $ORIGIN takes one domain name", where)
			}
			d := strings.ToLower(strings.TrimSuffix(toks[1].text, "."))
			if _, err := CheckAddress("x@" + d); err != nil {
				return fmt.Errorf("%s: bad $ORIGIN %q", where, toks[1].text)
			}
			st.origin, st.owner = d, ""
			return nil
		case "$TTL":
			return nil
		default:
			return fmt.Errorf("%s: %s is not supported", where, first.text)
		}
	}
	i := 0
	owner := st.current()
	// A line starting with white space has no owner (the last one holds),
	// unless its first word cannot be anything else: indented lines are
	// read as written.
	up0 := strings.ToUpper(first.text)
	indented := raw[0] == ' ' || raw[0] == '\t'
	if !indented || !(isTTL(up0) || up0 == "IN" || up0 == "CH" || up0 == "HS" || up0 == "CS" || up0 == "TXT" || feKnownTypes[up0]) {
		owner = st.domainName(first.text)
		st.owner = owner
		i = 1
	}
	for n := 0; n < 2 && i < len(toks) && !toks[i].quoted; n++ {
		up := strings.ToUpper(toks[i].text)
		if isTTL(up) || up == "IN" || up == "CH" || up == "HS" || up == "CS" {
			i++
		}
	}
	if i >= len(toks) || toks[i].quoted {
		return fmt.Errorf("%s: %q is not a DNS record, a $ORIGIN line or a forward-email= value", where, strings.TrimSpace(raw))
	}
	typ := strings.ToUpper(toks[i].text)
	if typ != "TXT" {
		if feKnownTypes[typ] {
			return nil
		}
		return fmt.Errorf("%s: %q is not a DNS record, a $ORIGIN line or a forward-email= value", where, strings.TrimSpace(raw))
	}
	var v strings.Builder
	for _, t := range toks[i+1:] {
		v.WriteString(t.text)
	}
	return st.value(v.String(), owner, where)
}

// current is the domain that a value without an owner belongs to.
func (st *feImport) current() string {
	if st.owner != "" {
		return st.owner
	}
	return st.origin
}

// Import implements Importer. It reads zone-file lines ("@ 3600 IN TXT
// "forward-email=…"", with $ORIGIN naming the domain), dig output, bare
// "forward-email=…" values one per line (after a $ORIGIN line) and
// records.json, in any mix: the files of a configuration may be given
// together. Other records and TXT values are skipped; "!alias", "!!alias"
// and "!!!alias" are blocks; the catch-all (a bare target) is not a rule
// and is skipped.
func (ForwardEmail) Import(data []byte) ([]Rule, error) {
	st := &feImport{m: newXtraMerger()}
	s := strings.TrimPrefix(string(data), "\ufeff")
	line := 1
	for len(s) > 0 {
		// A line starting with [ or { starts records JSON.
		rest := strings.TrimLeft(s, " \t\r")
		if rest != "" && (rest[0] == '[' || rest[0] == '{') {
			dec := json.NewDecoder(strings.NewReader(rest))
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("line %d: records JSON: %v", line, err)
			}
			if err := st.records(raw, fmt.Sprintf("records JSON on line %d", line)); err != nil {
				return nil, err
			}
			used := rest[:dec.InputOffset()]
			line += strings.Count(used, "\n")
			s = rest[len(used):]
			// Only white space may follow on the same line.
			if nl := strings.IndexByte(s, '\n'); nl >= 0 && strings.TrimSpace(s[:nl]) != "" || nl < 0 && strings.TrimSpace(s) != "" {
				return nil, fmt.Errorf("line %d: text after the records JSON", line)
			}
			continue
		}
		start := line
		var rawB strings.Builder
		depth := 0
		var toks []feToken
		for {
			phys := s
			if nl := strings.IndexByte(s, '\n'); nl >= 0 {
				phys, s = s[:nl], s[nl+1:]
			} else {
				s = ""
			}
			line++
			phys = strings.TrimSuffix(phys, "\r")
			t, d, err := feTokenize(phys, depth)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", line-1, err)
			}
			if rawB.Len() > 0 {
				rawB.WriteByte(' ')
			}
			rawB.WriteString(phys)
			toks, depth = append(toks, t...), d
			if depth == 0 {
				break
			}
			if s == "" {
				return nil, fmt.Errorf("line %d: \"(\" is never closed", start)
			}
		}
		raw := rawB.String()
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" || strings.HasPrefix(trimmed, ";") || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if err := st.line(raw, toks, fmt.Sprintf("line %d", start)); err != nil {
			return nil, err
		}
	}
	if st.values == 0 {
		return nil, fmt.Errorf("no forward-email= record found")
	}
	return st.m.result(), nil
}
