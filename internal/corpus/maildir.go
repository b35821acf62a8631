package corpus

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Truth is the content of truth.json: the corpus without the message bodies.
type Truth struct {
	Domain       string         `json:"domain"`
	Domains      []string       `json:"domains"` // the user's own domains, see [Corpus.Domains]
	FinalMailbox string         `json:"final_mailbox"`
	Folders      []string       `json:"folders"`
	NoSelect     []string       `json:"noselect"`
	Aliases      []Alias        `json:"aliases"`
	Messages     []TruthMessage `json:"messages"`
	Breaches     []Breach       `json:"breaches"` // the breach table, see [Breaches]
}

// ReadTruth reads dir/truth.json, as WriteMaildir writes it.
func ReadTruth(dir string) (*Truth, error) {
	path := filepath.Join(dir, "truth.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t Truth
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &t, nil
}

// TruthMessage is one message in truth.json.
type TruthMessage struct {
	Folder    string    `json:"folder"`
	File      string    `json:"file"` // "<folder>/cur/<file name>", relative to the Maildir tree
	Flags     []string  `json:"flags"`
	Date      time.Time `json:"date"`
	Size      int64     `json:"size"`
	Alias     string    `json:"alias"`
	Kind      string    `json:"kind"`
	Origin    string    `json:"origin"`
	MessageID string    `json:"message_id,omitempty"`
}

// maildirFlags returns the Maildir info letters of the system flags, sorted.
func maildirFlags(flags []string) string {
	var l []byte
	for _, f := range flags {
		switch f {
		case `\Seen`:
			l = append(l, 'S')
		case `\Answered`:
			l = append(l, 'R')
		case `\Flagged`:
			l = append(l, 'F')
		case `\Deleted`:
			l = append(l, 'T')
		case `\Draft`:
			l = append(l, 'D')
		}
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return string(l)
}

// keywords returns the flags that are not system flags.
func keywords(flags []string) []string {
	var k []string
	for _, f := range flags {
		if !strings.HasPrefix(f, `\`) {
			k = append(k, f)
		}
	}
	return k
}

// FileName returns the Maildir file name WriteMaildir gives message number n.
func (m *Message) FileName(n int) string {
	return fmt.Sprintf("%d.%d.corpus:2,%s", m.Date.Unix(), n, maildirFlags(m.Flags))
}

// WriteMaildir writes the corpus as one Maildir per folder at
// dir/<folder>/{cur,new,tmp}, nested folders as nested directories with UTF-8
// names (their parents are plain directories, not Maildirs). Message number n
// goes to cur/ as "<unix date>.<n>.corpus:2,<Maildir flags, sorted>" with the
// file's mtime set to its Date. Keywords are listed in dir/keywords.tsv as
// "<folder>/cur/<file>\t<keyword> <keyword>..." lines, and the ground truth
// goes to dir/truth.json (see [Truth]). Directories get mode 0700, files 0600.
// dir may exist; files of the same name are overwritten.
func (c *Corpus) WriteMaildir(dir string) error {
	if err := mkdirAll(dir); err != nil {
		return err
	}
	for _, f := range c.Folders {
		base := filepath.Join(dir, filepath.FromSlash(f))
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := mkdirAll(filepath.Join(base, sub)); err != nil {
				return err
			}
		}
	}
	t := Truth{Domain: c.Domain, Domains: c.Domains, FinalMailbox: c.FinalMailbox, Folders: c.Folders, NoSelect: c.NoSelect,
		Aliases: c.Aliases, Messages: make([]TruthMessage, 0, len(c.Messages)), Breaches: Breaches()}
	if t.Aliases == nil {
		t.Aliases = []Alias{}
	}
	if t.Domains == nil {
		t.Domains = []string{c.Domain}
	}
	var kw strings.Builder
	for i, m := range c.Messages {
		rel := m.Folder + "/cur/" + m.FileName(i)
		path := filepath.Join(dir, filepath.FromSlash(rel))
		if err := mkdirAll(filepath.Dir(path)); err != nil {
			return err
		}
		if err := writeFile(path, m.Body()); err != nil {
			return err
		}
		if err := os.Chtimes(path, m.Date, m.Date); err != nil {
			return fmt.Errorf("set mtime of %s: %w", path, err)
		}
		if k := keywords(m.Flags); len(k) > 0 {
			kw.WriteString(rel + "\t" + strings.Join(k, " ") + "\n")
		}
		flags := m.Flags
		if flags == nil {
			flags = []string{}
		}
		t.Messages = append(t.Messages, TruthMessage{Folder: m.Folder, File: rel, Flags: flags, Date: m.Date,
			Size: m.Size, Alias: m.Alias, Kind: m.Kind, Origin: m.Origin, MessageID: m.MessageID})
	}
	if err := writeFile(filepath.Join(dir, "keywords.tsv"), strings.NewReader(kw.String())); err != nil {
		return err
	}
	js, err := json.MarshalIndent(t, "", " ")
	if err != nil {
		return fmt.Errorf("encode truth: %w", err)
	}
	js = append(js, '\n')
	return writeFile(filepath.Join(dir, "truth.json"), strings.NewReader(string(js)))
}

// mkdirAll creates path and its missing parents with mode 0700.
func mkdirAll(path string) error {
	fi, err := os.Stat(path)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("create directory %s: %w", path, fs.ErrExist)
		}
		return nil
	}
	if parent := filepath.Dir(path); parent != path {
		if err := mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create directory: %w", err)
	}
	if err := os.Chmod(path, 0o700); err != nil {
		return fmt.Errorf("set mode: %w", err)
	}
	return nil
}

// writeFile writes r to path with mode 0600.
func writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	_, err = io.Copy(w, r)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Chmod(0o600)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
