package classify

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/internal/mutf7"
)

// Role is what a folder is for, as far as telling received from sent mail
// goes.
type Role string

// Folder roles.
const (
	RoleMail   Role = ""       // received mail
	RoleSent   Role = "sent"   // mail the user sent
	RoleDrafts Role = "drafts" // unsent drafts: ignored
	RoleJunk   Role = "junk"   // received mail the user or a filter took for spam
)

// Message is one message as a source yields it: where it is and its header.
type Message struct {
	Folder string    // UTF-8, "/" separated
	Role   Role      // from the folder's special-use attribute or name
	Date   time.Time // delivery date (INTERNALDATE, file mtime, mbox From_ line); zero if unknown
	Header []byte    // the header, up to and including the empty line
}

// Source yields the messages of a mail store.
type Source interface {
	// Walk calls fn for every every-th message (every message for every ≤ 1).
	// fn is called from several goroutines at once. Unreadable messages are
	// counted in the returned Stats, never fatal.
	Walk(ctx context.Context, every int, fn func(*Message)) (WalkStats, error)
	// Count returns the number of messages cheaply (without reading them),
	// or -1 if only reading tells.
	Count(ctx context.Context) int
	// String names the source for messages.
	String() string
}

// WalkStats counts what a walk saw.
type WalkStats struct {
	Messages   int
	Unreadable int
}

// Folder names that mean a role when the server announces none, in the
// languages mail clients create them in. They are only trusted for a folder
// at the top level (or directly under INBOX, as Courier and Cyrus nest
// everything): a "Drafts" or "Entwürfe" folder inside another folder is one
// the user made for ordinary mail.
var folderRoleNames = map[string]Role{}

func init() {
	for role, names := range map[Role][]string{
		RoleSent: {"sent", "sent items", "sent messages", "sent mail", "gesendet", "gesendete objekte",
			"gesendete elemente", "gesendete nachrichten", "envoyés", "éléments envoyés", "messages envoyés",
			"enviados", "elementos enviados", "posta inviata", "inviata", "verzonden", "verzonden items",
			"skickat", "skickade objekt", "sendt", "sendte elementer", "lähetetyt", "wysłane", "odeslané",
			"отправленные", "送信済み", "已发送"},
		RoleDrafts: {"drafts", "draft", "entwürfe", "brouillons", "borradores", "bozze", "concepten",
			"utkast", "kladder", "luonnokset", "kopie robocze", "koncepty", "черновики", "下書き", "草稿"},
		RoleJunk: {"junk", "spam", "junk e-mail", "junk email", "junk mail", "bulk mail", "spamverdacht",
			"courrier indésirable", "indésirables", "correo no deseado", "posta indesiderata", "ongewenste e-mail",
			"skräppost", "søppelpost", "roskaposti", "спам", "迷惑メール", "垃圾邮件"},
	} {
		for _, n := range names {
			folderRoleNames[n] = role
		}
	}
}

// folderRole tells a folder's role from its special-use attributes (RFC
// 6154), which the server announced and fetch recorded; without them, from
// the name of a top-level folder.
func folderRole(name, attrs string) Role {
	for _, a := range strings.Fields(strings.ToLower(attrs)) {
		switch a {
		case `\sent`:
			return RoleSent
		case `\drafts`:
			return RoleDrafts
		case `\junk`:
			return RoleJunk
		case `\trash`, `\archive`, `\all`, `\flagged`, `\important`, `\inbox`:
			return RoleMail
		}
	}
	n := name
	if len(n) > 6 && strings.EqualFold(n[:6], "INBOX/") {
		n = n[6:]
	}
	if strings.Contains(n, "/") {
		return RoleMail // a subfolder the user made: ordinary mail, whatever its name
	}
	return folderRoleNames[strings.ToLower(n)]
}

// item is a message file to read.
type item struct {
	path   string
	folder string
	role   Role
	date   time.Time
}

// readFiles reads the headers of the items sent on items with one worker per
// CPU (at least two: reading is I/O bound).
func readFiles(ctx context.Context, items <-chan item, fn func(*Message)) WalkStats {
	var mu sync.Mutex
	var st WalkStats
	var wg sync.WaitGroup
	for range max(2, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 32<<10)
			n, bad := 0, 0
			for it := range items {
				if ctx.Err() != nil {
					continue
				}
				f, err := os.Open(it.path)
				if err != nil {
					bad++
					continue
				}
				var h []byte
				h, err = ReadHeader(f, buf)
				if it.date.IsZero() {
					if fi, err := f.Stat(); err == nil {
						it.date = fi.ModTime()
					}
				}
				f.Close()
				if err != nil {
					bad++
					continue
				}
				n++
				fn(&Message{Folder: it.folder, Role: it.role, Date: it.date, Header: h})
				buf = h[:0]
			}
			mu.Lock()
			st.Messages += n
			st.Unreadable += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	return st
}

// ErrNotArchive is wrapped by the error of an ArchiveSource whose
// directory holds no archive index.
var ErrNotArchive = errors.New("not an archive")

// ArchiveSource reads the archive written by fetch.
type ArchiveSource struct {
	Dir string
}

func (s *ArchiveSource) String() string { return "archive " + s.Dir }

// Count implements Source.
func (s *ArchiveSource) Count(ctx context.Context) int {
	if _, err := os.Stat(filepath.Join(s.Dir, archive.IndexFile)); err != nil {
		return -1
	}
	arc, err := archive.Open(s.Dir)
	if err != nil {
		return -1
	}
	defer arc.Close()
	sum, err := arc.Summary(ctx)
	if err != nil {
		return -1
	}
	return int(sum.Messages)
}

// Walk implements Source.
func (s *ArchiveSource) Walk(ctx context.Context, every int, fn func(*Message)) (WalkStats, error) {
	if _, err := os.Stat(filepath.Join(s.Dir, archive.IndexFile)); err != nil {
		return WalkStats{}, fmt.Errorf("%s is %w (no %s)", s.Dir, ErrNotArchive, archive.IndexFile)
	}
	arc, err := archive.Open(s.Dir)
	if err != nil {
		return WalkStats{}, err
	}
	defer arc.Close()
	folders, err := arc.Folders()
	if err != nil {
		return WalkStats{}, err
	}
	roles := map[string]Role{}
	for _, f := range folders {
		roles[f.Name] = folderRole(f.Name, f.Attrs)
	}
	items := make(chan item, 256)
	done := make(chan WalkStats)
	go func() { done <- readFiles(ctx, items, fn) }()
	i := 0
	walkErr := arc.Walk(ctx, func(e *archive.Entry) error {
		i++
		if every > 1 && (i-1)%every != 0 {
			return nil
		}
		items <- item{path: filepath.Join(s.Dir, e.Path), folder: e.Folder, role: roles[e.Folder], date: e.InternalDate}
		return nil
	})
	close(items)
	st := <-done
	return st, errors.Join(walkErr, ctx.Err())
}

// MaildirSource reads a Maildir, or a tree of them: nested folders
// (dir/Archive/2019/cur) or Maildir++ dot-folders as Dovecot and Courier
// store them (dir/.Archive.2019/cur, with dir/cur the inbox). Folder names in
// modified UTF-7, as Dovecot writes them on disk, are decoded.
type MaildirSource struct {
	Dir string
}

func (s *MaildirSource) String() string { return "Maildir " + s.Dir }

// Count implements Source: it lists the directories, reading no message.
func (s *MaildirSource) Count(ctx context.Context) int {
	n := 0
	filepath.WalkDir(s.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || ctx.Err() != nil {
			return nil
		}
		if d.IsDir() && (d.Name() == "cur" || d.Name() == "new") {
			if ents, err := os.ReadDir(path); err == nil {
				n += len(ents)
			}
			return fs.SkipDir
		}
		return nil
	})
	return n
}

// Walk implements Source.
func (s *MaildirSource) Walk(ctx context.Context, every int, fn func(*Message)) (WalkStats, error) {
	if st, err := os.Stat(s.Dir); err != nil || !st.IsDir() {
		return WalkStats{}, fmt.Errorf("%s is not a directory", s.Dir)
	}
	items := make(chan item, 256)
	done := make(chan WalkStats)
	go func() { done <- readFiles(ctx, items, fn) }()
	i, maildirs := 0, 0
	err := filepath.WalkDir(s.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // an unreadable directory is skipped, not fatal
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !d.IsDir() || (d.Name() != "cur" && d.Name() != "new") {
			return nil
		}
		dir := filepath.Dir(path)
		folder := s.folderName(dir)
		if d.Name() == "cur" {
			maildirs++
		}
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil
		}
		role := folderRole(folder, "")
		for _, e := range ents {
			if !e.Type().IsRegular() {
				continue
			}
			if every <= 1 || i%every == 0 {
				items <- item{path: filepath.Join(path, e.Name()), folder: folder, role: role, date: maildirDate(e.Name())}
			}
			i++
		}
		return fs.SkipDir
	})
	close(items)
	st := <-done
	if err == nil && maildirs == 0 {
		err = fmt.Errorf("%s holds no Maildir (no cur/ directory anywhere below it)", s.Dir)
	}
	return st, err
}

// maildirDate returns the delivery time a Maildir file name starts with
// ("1343984198.M123P45.host:2,S"), or zero.
func maildirDate(name string) time.Time {
	i := strings.IndexByte(name, '.')
	if i < 9 || i > 11 {
		return time.Time{}
	}
	var sec int64
	for _, c := range name[:i] {
		if c < '0' || c > '9' {
			return time.Time{}
		}
		sec = sec*10 + int64(c-'0')
	}
	return time.Unix(sec, 0).UTC()
}

// folderName turns a Maildir directory into a folder name.
func (s *MaildirSource) folderName(dir string) string {
	rel, err := filepath.Rel(s.Dir, dir)
	if err != nil || rel == "." {
		return "INBOX"
	}
	rel = filepath.ToSlash(rel)
	if strings.HasPrefix(rel, ".") && !strings.Contains(rel, "/") {
		// Maildir++: ".Archive.2019" is Archive/2019.
		rel = strings.ReplaceAll(rel[1:], ".", "/")
	}
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		parts[i] = DecodeMUTF7(p)
	}
	return strings.Join(parts, "/")
}

// DecodeMUTF7 decodes a folder name in IMAP's modified UTF-7 (RFC 3501
// §5.1.3), as Dovecot and Courier name folders on disk. A name that is not
// valid modified UTF-7 is returned unchanged.
func DecodeMUTF7(s string) string {
	if d, err := mutf7.Decode(s); err == nil {
		return d
	}
	return s
}

// MboxSource reads an mbox file (mboxo, mboxrd or mboxcl: messages start at a
// "From " line after an empty line), e.g. a Thunderbird export.
type MboxSource struct {
	Path string
}

func (s *MboxSource) String() string { return "mbox " + s.Path }

// Count implements Source: an mbox must be read to be counted.
func (s *MboxSource) Count(context.Context) int { return -1 }

// Walk implements Source. The file is read once, sequentially; headers are
// handed to fn from this goroutine, so fn's cost is the limit.
func (s *MboxSource) Walk(ctx context.Context, every int, fn func(*Message)) (WalkStats, error) {
	f, err := os.Open(s.Path)
	if err != nil {
		return WalkStats{}, err
	}
	defer f.Close()
	folder := strings.TrimSuffix(filepath.Base(s.Path), filepath.Ext(s.Path))
	role := folderRole(folder, "")
	r := bufio.NewReaderSize(f, 256<<10)
	var st WalkStats
	var header []byte
	var date time.Time
	inHeader, prevEmpty, started := false, true, false
	i := 0
	emit := func() {
		if started && (every <= 1 || i%every == 0) {
			fn(&Message{Folder: folder, Role: role, Date: date, Header: header})
		}
		if started {
			st.Messages++
			i++
		}
	}
	for {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A very long line: keep reading it in pieces.
			for err == bufio.ErrBufferFull {
				if inHeader && len(header) < MaxHeader {
					header = append(header, line...)
				}
				line, err = r.ReadSlice('\n')
			}
		}
		if len(line) > 0 {
			trimmed := bytes.TrimRight(line, "\r\n")
			switch {
			case prevEmpty && bytes.HasPrefix(line, []byte("From ")):
				emit()
				started, inHeader = true, true
				header = header[:0]
				date = mboxDate(trimmed)
			case inHeader:
				if len(header) < MaxHeader {
					header = append(header, line...)
				}
				if len(trimmed) == 0 {
					inHeader = false
				}
			}
			prevEmpty = len(trimmed) == 0
		}
		if err == io.EOF {
			emit()
			if !started {
				return st, fmt.Errorf("%s is not an mbox file (no \"From \" line)", s.Path)
			}
			return st, nil
		}
		if err != nil {
			return st, err
		}
	}
}

// mboxDate parses the date of an mbox "From sender date" line.
func mboxDate(line []byte) time.Time {
	fields := strings.Fields(string(line))
	if len(fields) < 7 {
		return time.Time{}
	}
	for _, layout := range []string{time.ANSIC, "Mon Jan _2 15:04:05 2006 -0700", "Mon Jan _2 15:04:05 MST 2006"} {
		for n := 5; n <= 6 && 2+n <= len(fields); n++ {
			if t, err := time.Parse(layout, strings.Join(fields[2:2+n], " ")); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}
