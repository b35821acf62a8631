package imapsync

import (
	"errors"
	"fmt"
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

// discover learns the destination's namespace, delimiter, special-use
// folders and the UIDVALIDITY of its folders.
func (p *pusher) discover(c *conn) (*folderMapper, error) {
	caps := c.Caps()
	p.uidPlus = caps.Has(imap.CapUIDPlus)
	if l, ok := caps.AppendLimit(); ok && l != nil {
		p.limit = int64(*l)
	}
	m := &folderMapper{roles: map[imap.MailboxAttr]string{}}
	haveDelim := false
	if caps.Has(imap.CapNamespace) || caps.Has(imap.CapIMAP4rev2) {
		ns, err := c.Namespace().Wait()
		if err != nil {
			return nil, fmt.Errorf("NAMESPACE: %w", err)
		}
		if len(ns.Personal) > 0 {
			m.prefix, m.delim, haveDelim = ns.Personal[0].Prefix, delimString(ns.Personal[0].Delim), true
		}
	}
	if !haveDelim {
		// RFC 3501 §6.3.8: LIST "" "" returns the delimiter.
		data, err := c.List("", "", nil).Collect()
		if err != nil {
			return nil, fmt.Errorf("LIST: %w", err)
		}
		if len(data) > 0 {
			m.delim = delimString(data[0].Delim)
		}
	}
	opts := &imap.ListOptions{}
	if caps.Has(imap.CapSpecialUse) {
		opts.ReturnSpecialUse = true
	}
	if caps.Has(imap.CapListStatus) || caps.Has(imap.CapIMAP4rev2) {
		opts.ReturnStatus = &imap.StatusOptions{UIDValidity: true}
	}
	data, err := c.List("", "*", opts).Collect()
	if err != nil {
		return nil, fmt.Errorf("LIST: %w", err)
	}
	var status []*destFolder
	for _, d := range data {
		if slices.Contains(d.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		name := d.Mailbox
		if strings.EqualFold(name, "INBOX") {
			name = "INBOX"
		}
		df := p.folder(name)
		if slices.Contains(d.Attrs, imap.MailboxAttrNoSelect) {
			continue // a parent only: appending creates nothing there
		}
		df.exists = true
		if d.Status != nil && d.Status.UIDValidity != 0 {
			df.uidValidity = d.Status.UIDValidity
		} else {
			status = append(status, df)
		}
		for _, r := range specialUses {
			if slices.Contains(d.Attrs, r) && m.roles[r] == "" {
				m.roles[r] = name
			}
		}
	}
	return m, p.statusAll(c, status)
}

// statusAll reads the UIDVALIDITY of folders with pipelined STATUS commands.
func (p *pusher) statusAll(c *conn, folders []*destFolder) error {
	type pending struct {
		df  *destFolder
		cmd interface {
			Wait() (*imap.StatusData, error)
		}
	}
	var cmds []pending
	for _, df := range folders {
		cmds = append(cmds, pending{df, c.Status(df.remote, &imap.StatusOptions{UIDValidity: true})})
	}
	for _, pc := range cmds {
		st, err := pc.cmd.Wait()
		if err != nil {
			var imapErr *imap.Error
			if errors.As(err, &imapErr) {
				if folderGone(imapErr) {
					pc.df.exists = false
					continue
				}
				// LIST shows it, STATUS is refused: its UIDVALIDITY is
				// unknown, so what the journal says of it is checked by a
				// search (which fails the run if the folder stays unreadable).
				p.log.Warn("STATUS refused", "folder", pc.df.remote, "err", err)
				pc.df.uidValidity = 0
				continue
			}
			return fmt.Errorf("STATUS %q: %w", pc.df.remote, err)
		}
		pc.df.uidValidity = st.UIDValidity
	}
	return nil
}

// folderGone reports whether a refusal to open or inspect a folder says that
// it does not exist (RFC 5530 NONEXISTENT, RFC 3501 TRYCREATE); any other NO
// says nothing about the folder's messages.
func folderGone(e *imap.Error) bool {
	return e.Code == imap.ResponseCodeNonExistent || e.Code == imap.ResponseCodeTryCreate
}

// createFolders creates the destination folders that have messages coming
// and do not exist yet, subscribes them, and reads their UIDVALIDITY.
//
// A server whose folder names ignore case may hold the folder under another
// spelling: then the messages go to that folder, named as the server names
// it (in the journal too), so that the next run finds them.
func (p *pusher) createFolders(c *conn) error {
	var created []*destFolder
	for _, df := range slices.Clone(p.order) {
		if df.exists || len(df.todo) == 0 && len(df.unknown) == 0 {
			continue
		}
		already := false
		if err := c.Create(df.remote, nil).Wait(); err != nil {
			var imapErr *imap.Error
			if !errors.As(err, &imapErr) {
				return fmt.Errorf("CREATE %q: %w", df.remote, err)
			}
			if imapErr.Code != imap.ResponseCodeAlreadyExists {
				// The destination will not make that name (Courier refuses
				// an emoji): try the name with every character outside
				// printable ASCII as "_", once; the journal records where
				// each message went, so re-runs and verify --to find them.
				alt := asciiFolderName(df.remote)
				if alt == df.remote || !p.createAs(c, df, alt, imapErr) {
					for _, m := range df.todo {
						p.failFor(m, fmt.Errorf("cannot create folder %q on the destination: %s", df.remote, imapErr.Text), false)
					}
					df.todo = nil
					continue
				}
				created = append(created, df)
				continue
			}
			already = true
			if other := p.existingFolder(df.remote); other != nil {
				p.moveTo(df, other) // LIST showed it in another spelling
				continue
			}
		}
		// Ask for the server's spelling of what it created or has.
		name := df.remote
		list, err := c.List("", df.remote, nil).Collect()
		if err != nil {
			var imapErr *imap.Error
			if !errors.As(err, &imapErr) {
				return fmt.Errorf("LIST %q: %w", df.remote, err)
			}
		}
		for _, l := range list {
			if l.Mailbox != df.remote && strings.EqualFold(l.Mailbox, df.remote) && !strings.EqualFold(l.Mailbox, "INBOX") {
				name = l.Mailbox
			}
		}
		if name != df.remote {
			if other := p.folders[name]; other != nil {
				if !already {
					other.report.Create = true
				}
				if !other.exists {
					other.exists = true
					created = append(created, other)
				}
				p.moveTo(df, other)
				continue
			}
			p.note(fmt.Sprintf("folder %q is %q on the destination: its folder names ignore case", df.remote, name))
			delete(p.folders, df.remote)
			df.remote, df.report.Name = name, name
			p.folders[name] = df
		}
		df.exists, df.report.Create = true, !already
		if !already {
			c.Subscribe(df.remote).Wait() // for mail clients that show subscribed folders only; best effort
		}
		created = append(created, df)
	}
	return p.statusAll(c, created)
}

// createAs makes df the destination folder alt, after the destination
// refused to create df's name (why): it creates alt, or takes it if it
// exists, and reports whether df can be used under that name.
func (p *pusher) createAs(c *conn, df *destFolder, alt string, why *imap.Error) bool {
	already := false
	if err := c.Create(alt, nil).Wait(); err != nil {
		var imapErr *imap.Error
		if !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeAlreadyExists {
			return false
		}
		already = true
	}
	p.note(fmt.Sprintf("the destination refused to create folder %q (%s): its messages went to %q", df.remote, why.Text, alt))
	p.log.Warn("folder created under another name", "folder", df.remote, "as", alt, "answer", why.Text)
	if other := p.folders[alt]; other != nil && other != df {
		other.exists = true
		p.moveTo(df, other)
		return false
	}
	delete(p.folders, df.remote)
	df.remote, df.report.Name = alt, alt
	p.folders[alt] = df
	df.exists, df.report.Create = true, !already
	if !already {
		c.Subscribe(alt).Wait()
	}
	return true
}

// asciiFolderName is name with every character outside printable ASCII
// made "_": the fallback for a destination that cannot store the name.
func asciiFolderName(name string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '_'
		}
		return r
	}, name)
}

// moveTo sends the messages planned for df, a folder the server has under
// another spelling, to that folder.
func (p *pusher) moveTo(df, other *destFolder) {
	df.report.Create = false
	for _, m := range df.todo {
		m.dest = other
	}
	other.todo = append(other.todo, df.todo...)
	other.report.Messages += df.report.Messages
	other.report.Bytes += df.report.Bytes
	df.todo, df.report.Messages, df.report.Bytes = nil, 0, 0
}

// permanentFlags reads PERMANENTFLAGS (SELECT) of every folder with
// messages to append.
func (p *pusher) permanentFlags(c *conn) error {
	for _, df := range p.order {
		if len(df.todo) == 0 {
			continue
		}
		// SELECT, not EXAMINE: a read-only folder has no permanent flags.
		sel, err := c.selectMailbox(df.remote, nil)
		if err != nil {
			var imapErr *imap.Error
			if errors.As(err, &imapErr) {
				continue // APPEND will say what is wrong
			}
			return fmt.Errorf("SELECT %q: %w", df.remote, err)
		}
		df.perm, df.permKnown = sel.PermanentFlags, len(sel.PermanentFlags) > 0
		if !df.permKnown {
			df.perm = sel.Flags // RFC 3501 §7.1: without PERMANENTFLAGS, FLAGS are permanent
		}
		df.permKnown = true
		if sel.UIDValidity != 0 {
			df.uidValidity = sel.UIDValidity
		}
	}
	if c.canUnselect() {
		c.unselect() // a broken connection shows at the next command
	}
	return nil
}
