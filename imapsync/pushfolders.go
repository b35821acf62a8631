package imapsync

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// specialUses are the roles (RFC 6154 §2) whose folders push files by role
// rather than by name.
var specialUses = []imap.MailboxAttr{
	imap.MailboxAttrSent, imap.MailboxAttrDrafts, imap.MailboxAttrJunk, imap.MailboxAttrTrash, imap.MailboxAttrArchive,
}

// folderMapper turns archive folder names (UTF-8, "/" separated) into the
// destination's names: the inverse of localName, plus special-use roles.
type folderMapper struct {
	prefix string // personal namespace prefix, e.g. "INBOX." on Courier
	delim  string // hierarchy delimiter, "" for a flat server
	// roles maps a special-use role to the destination folder announcing it.
	roles map[imap.MailboxAttr]string
	// byRole maps an archive folder name to the destination folder chosen
	// for its role; its subfolders go below that folder.
	byRole map[string]string
}

// roleOf returns the special-use role among an archive folder's LIST
// attributes (space-separated), or "".
func roleOf(attrs string) imap.MailboxAttr {
	for _, a := range strings.Fields(attrs) {
		for _, r := range specialUses {
			if strings.EqualFold(a, string(r)) {
				return r
			}
		}
	}
	return ""
}

// addRole records that the archive folder name has attrs: when the
// destination has a folder with the same role, name goes there.
func (m *folderMapper) addRole(name, attrs string) {
	if r := roleOf(attrs); r != "" && m.roles[r] != "" {
		if m.byRole == nil {
			m.byRole = map[string]string{}
		}
		m.byRole[name] = m.roles[r]
	}
}

// remote returns the destination name of the archive folder name, and a
// note saying why it differs from the plain translation when a name
// component had to be changed; note is "" otherwise.
func (m *folderMapper) remote(name string) (remote, note string) {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX", ""
	}
	// A role folder, or a folder below one.
	for base := name; ; {
		if r, ok := m.byRole[base]; ok {
			if base == name {
				return r, ""
			}
			rest, note := m.components(strings.Split(name[len(base)+1:], "/"))
			return r + m.delim + rest, note
		}
		i := strings.LastIndexByte(base, '/')
		if i < 0 {
			break
		}
		base = base[:i]
	}
	joined, note := m.components(strings.Split(name, "/"))
	return m.prefix + joined, note
}

// components maps each name component so that it holds no delimiter and
// nothing the destination cannot store, and joins them with the delimiter.
func (m *folderMapper) components(parts []string) (string, string) {
	var changed []string
	out := make([]string, len(parts))
	sep := m.delim
	if sep == "" {
		sep = "/" // a flat server: "/" is just a character there
	}
	for i, p := range parts {
		orig := p
		p = strings.ReplaceAll(p, "%2F", "/") // fetch escapes "/" inside a component
		var b strings.Builder
		for _, r := range p {
			switch {
			case m.delim != "" && strings.ContainsRune(m.delim, r),
				r == '/' && sep == "/",
				r < 0x20, r == 0x7f, r == '*', r == '%':
				// The delimiter would split the name; control characters
				// and LIST wildcards (RFC 3501 §5.1) are refused by servers.
				b.WriteByte('_')
			default:
				b.WriteRune(r)
			}
		}
		p = b.String()
		if p == "" {
			p = "_"
		}
		if p != strings.ReplaceAll(orig, "%2F", "/") {
			changed = append(changed, fmt.Sprintf("%q → %q", orig, p))
		}
		out[i] = p
	}
	if len(changed) == 0 {
		return strings.Join(out, sep), ""
	}
	return strings.Join(out, sep), fmt.Sprintf("the destination cannot hold %s in a folder name (delimiter %q): renamed %s",
		strings.Join(changed, ", "), m.delim, strings.Join(changed, ", "))
}

// readHead returns the start of an archived message, enough for its header.
func readHead(dir, path string) ([]byte, error) {
	f, err := os.Open(filepath.Join(dir, path))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, err := io.ReadFull(f, head)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	return head[:n], err
}

// allowedFlags returns the flags of a message to send with APPEND: every
// system flag (RFC 3501 §6.3.11: a server stores what it can), and keywords
// only when the folder's PERMANENTFLAGS list them or have \* (RFC 3501
// §7.1); \Recent is never sent. dropped lists the keywords left out.
func allowedFlags(flags []string, perm []imap.Flag, permKnown bool) (keep []imap.Flag, dropped []string) {
	all := slices.Contains(perm, imap.FlagWildcard) || !permKnown
	for _, f := range flags {
		if f == "" || strings.EqualFold(f, `\Recent`) {
			continue
		}
		listed := slices.ContainsFunc(perm, func(p imap.Flag) bool { return strings.EqualFold(string(p), f) })
		if strings.HasPrefix(f, `\`) || listed || all {
			keep = append(keep, imap.Flag(f))
		} else {
			dropped = append(dropped, f)
		}
	}
	return keep, dropped
}
