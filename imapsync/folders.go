package imapsync

import (
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// remoteFolder is a folder as the server lists it.
type remoteFolder struct {
	Name     string // archive name: UTF-8, "/" separated, namespace prefix removed
	Remote   string // the server's name, modified UTF-7 decoded
	Delim    string
	Attrs    []imap.MailboxAttr
	NoSelect bool
	Status   *imap.StatusData // from LIST-STATUS or STATUS, nil until known
}

// listFolders returns every folder of the personal namespace, sorted with
// INBOX first.
func listFolders(c *conn) ([]*remoteFolder, error) {
	var prefix string
	if c.Caps().Has(imap.CapNamespace) || c.Caps().Has(imap.CapIMAP4rev2) {
		ns, err := c.Namespace().Wait()
		if err != nil {
			return nil, fmt.Errorf("NAMESPACE: %w", err)
		}
		if len(ns.Personal) > 0 {
			prefix = ns.Personal[0].Prefix
		}
	}
	opts := &imap.ListOptions{}
	if c.Caps().Has(imap.CapListStatus) || c.Caps().Has(imap.CapIMAP4rev2) {
		opts.ReturnStatus = statusOptions(c)
	}
	// The folders' roles (RFC 6154), kept in the archive index for classify.
	if c.Caps().Has(imap.CapSpecialUse) {
		opts.ReturnSpecialUse = true
	}
	data, err := c.List("", "*", opts).Collect()
	if err != nil {
		return nil, fmt.Errorf("LIST: %w", err)
	}
	// Names that collide get a suffix in the order of the server's names, so
	// that the same folder gets the same local name on every run.
	slices.SortFunc(data, func(a, b *imap.ListData) int { return strings.Compare(a.Mailbox, b.Mailbox) })
	taken := map[string]bool{}
	for _, d := range data {
		taken[localName(d.Mailbox, delimString(d.Delim), prefix)] = true
	}
	seen := map[string]int{}
	var out []*remoteFolder
	for _, d := range data {
		if slices.Contains(d.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		f := &remoteFolder{
			Remote:   d.Mailbox,
			Attrs:    d.Attrs,
			NoSelect: slices.Contains(d.Attrs, imap.MailboxAttrNoSelect),
			Status:   d.Status,
		}
		f.Delim = delimString(d.Delim)
		f.Name = localName(d.Mailbox, f.Delim, prefix)
		if seen[f.Name] > 0 {
			// Two server folders map to one name (e.g. Courier's "INBOX.INBOX").
			base := f.Name
			for n := 2; ; n++ {
				if f.Name = fmt.Sprintf("%s~%d", base, n); !taken[f.Name] {
					break
				}
			}
			taken[f.Name] = true
		}
		seen[f.Name]++
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *remoteFolder) int {
		if (a.Name == "INBOX") != (b.Name == "INBOX") {
			if a.Name == "INBOX" {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

func delimString(d rune) string {
	if d == 0 {
		return ""
	}
	return string(d)
}

func statusOptions(c *conn) *imap.StatusOptions {
	return &imap.StatusOptions{
		NumMessages:   true,
		UIDNext:       true,
		UIDValidity:   true,
		HighestModSeq: c.Caps().Has(imap.CapCondStore),
	}
}

// localName maps a server folder name to its archive name: the personal
// namespace prefix is removed ("INBOX.Sent" → "Sent" on Courier), the
// server's delimiter becomes "/", and a "/" inside a name component (legal
// where the delimiter is ".") becomes "%2F".
func localName(remote, delim, prefix string) string {
	if strings.EqualFold(remote, "INBOX") {
		return "INBOX"
	}
	if prefix != "" && strings.HasPrefix(remote, prefix) && len(remote) > len(prefix) {
		remote = remote[len(prefix):]
	}
	if delim == "" || delim == "/" {
		if strings.EqualFold(remote, "INBOX") {
			return "INBOX"
		}
		if len(remote) > 6 && strings.EqualFold(remote[:6], "INBOX/") {
			return "INBOX" + remote[5:]
		}
		return remote
	}
	parts := strings.Split(remote, delim)
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, "/", "%2F")
	}
	if strings.EqualFold(parts[0], "INBOX") {
		parts[0] = "INBOX"
	}
	return strings.Join(parts, "/")
}

// matchFolder reports whether name matches a --folder/--exclude pattern:
// "*" matches any run of characters including "/", "%" any run without "/",
// "?" one character; the rest matches itself, INBOX case-insensitively.
func matchFolder(pattern, name string) bool {
	// INBOX is case-insensitive (RFC 3501 §5.1), also at a pattern's start.
	if len(pattern) >= 5 && strings.EqualFold(pattern[:5], "INBOX") && pattern[:5] != "INBOX" && globMatch("INBOX"+pattern[5:], name) {
		return true
	}
	return globMatch(pattern, name)
}

func globMatch(pattern, name string) bool {
	p, n := []rune(pattern), []rune(name)
	var match func(i, j int) bool
	memo := map[[2]int]bool{}
	match = func(i, j int) bool {
		key := [2]int{i, j}
		if v, ok := memo[key]; ok {
			return v
		}
		var r bool
		switch {
		case i == len(p):
			r = j == len(n)
		case p[i] == '*':
			r = match(i+1, j) || (j < len(n) && match(i, j+1))
		case p[i] == '%':
			r = match(i+1, j) || (j < len(n) && n[j] != '/' && match(i, j+1))
		case j < len(n) && (p[i] == '?' || p[i] == n[j]):
			r = match(i+1, j+1)
		}
		memo[key] = r
		return r
	}
	return match(0, 0)
}

// selectFolders applies the include and exclude patterns; no include pattern
// means every folder.
func selectFolders(all []*remoteFolder, include, exclude []string) []*remoteFolder {
	var out []*remoteFolder
	for _, f := range all {
		if selected(f.Name, include, exclude) {
			out = append(out, f)
		}
	}
	return out
}

// selected reports whether the patterns choose the folder called name.
func selected(name string, include, exclude []string) bool {
	ok := len(include) == 0
	for _, p := range include {
		if matchFolder(p, name) {
			ok = true
		}
	}
	for _, p := range exclude {
		if matchFolder(p, name) {
			ok = false
		}
	}
	return ok
}
