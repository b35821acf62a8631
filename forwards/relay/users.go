package relay

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"

	"github.com/catchall/catchall/internal/safeio"
)

// The argon2id parameters of new password hashes (OWASP's first choice:
// 19 MiB, two passes, one lane). Hashes with other parameters are checked
// with their own, within the bounds of parsePHC.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Users is the accounts of the submission port, read from the users file
// (Config.Users), which "catchall relay user add" writes: one line per
// user,
//
//	NAME:$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH
//
// with SALT and HASH in unpadded standard base64 (the PHC string format).
// Blank lines and lines starting with # are ignored. A NAME is 1 to 64
// printable ASCII characters other than ':', '#' (first) and spaces. The
// file is written 0600, atomically.
type Users struct {
	hashes map[string]string

	// Logins that passed, by an HMAC of name and password under a key made
	// for this Users (so the map holds no password, and a reload, which
	// makes a new Users, forgets them): a mail client logging in again
	// costs no argon2 computation.
	mu       sync.Mutex
	cacheKey []byte
	passed   map[[sha256.Size]byte]bool
}

// maxPassed bounds the logins remembered by one Users.
const maxPassed = 1000

// argonSlots bounds the argon2 computations running at once: each takes
// argonMemory KiB (19 MiB), so twenty clients logging in together would
// otherwise hold hundreds of megabytes. The others wait their turn.
var argonSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))

// ErrUsersSyntax is wrapped by every error ParseUsers returns for a line
// that is not valid.
var ErrUsersSyntax = errors.New("not a users file line")

// ParseUsers reads a users file. An error names the first bad line.
func ParseUsers(rd io.Reader) (*Users, error) {
	u := &Users{hashes: map[string]string{}}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: %w: want NAME:HASH", n, ErrUsersSyntax)
		}
		if err := CheckUserName(name); err != nil {
			return nil, fmt.Errorf("line %d: %w: %w", n, ErrUsersSyntax, err)
		}
		if _, err := parsePHC(hash); err != nil {
			return nil, fmt.Errorf("line %d (%s): %w: %w", n, name, ErrUsersSyntax, err)
		}
		if _, dup := u.hashes[name]; dup {
			return nil, fmt.Errorf("line %d: %w: %s appears twice", n, ErrUsersSyntax, name)
		}
		u.hashes[name] = hash
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	return u, nil
}

// ReadUsers reads the users file at path; a file that does not exist is
// an empty list.
func ReadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Users{hashes: map[string]string{}}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u, err := ParseUsers(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return u, nil
}

// WriteUsers writes u to path (0600, atomically).
func WriteUsers(path string, u *Users) error {
	var b bytes.Buffer
	b.WriteString("# catchall relay users: NAME:argon2id hash (catchall relay user add)\n")
	for _, n := range u.Names() {
		b.WriteString(n + ":" + u.hashes[n] + "\n")
	}
	return safeio.WriteFile(path, b.Bytes())
}

// CheckUserName reports why name cannot be a user's name, or nil.
func CheckUserName(name string) error {
	switch {
	case name == "":
		return errors.New("empty user name")
	case len(name) > 64:
		return errors.New("user name longer than 64 characters")
	case strings.HasPrefix(name, "#"):
		return errors.New("user name starting with #")
	case strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == ':' }):
		return errors.New("user name with a space, ':' or a character that is not printable ASCII")
	}
	return nil
}

// Names returns the users' names, sorted.
func (u *Users) Names() []string {
	names := make([]string, 0, len(u.hashes))
	for n := range u.hashes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Set gives name the password hash (from HashPassword).
func (u *Users) Set(name, hash string) { u.hashes[name] = hash }

// Delete removes name, and reports whether it was there.
func (u *Users) Delete(name string) bool {
	_, ok := u.hashes[name]
	delete(u.hashes, name)
	return ok
}

// dummyHash is checked against when the user does not exist, so that the
// answer takes as long as for a wrong password.
// It is made on first use, not at start: every catchall command links this
// package, and an argon2 hash costs 19 MiB and tens of milliseconds.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("catchall dummy password")
	return h
})

// Check reports whether password is name's. A login that passed before is
// answered from memory; any other costs one argon2 computation, at most
// GOMAXPROCS of them at once.
func (u *Users) Check(name, password string) bool {
	id := u.loginID(name, password)
	u.mu.Lock()
	known := u.passed[id]
	u.mu.Unlock()
	if known {
		return true
	}
	h, ok := u.hashes[name]
	argonSlots <- struct{}{}
	defer func() { <-argonSlots }()
	if !ok {
		VerifyPassword(dummyHash(), password)
		return false
	}
	good, err := VerifyPassword(h, password)
	if !good || err != nil {
		return false
	}
	u.mu.Lock()
	if len(u.passed) < maxPassed {
		u.passed[id] = true
	}
	u.mu.Unlock()
	return true
}

// loginID is the key of a login in passed.
func (u *Users) loginID(name, password string) [sha256.Size]byte {
	u.mu.Lock()
	if u.cacheKey == nil {
		u.cacheKey = make([]byte, 32)
		rand.Read(u.cacheKey)
		u.passed = map[[sha256.Size]byte]bool{}
	}
	m := hmac.New(sha256.New, u.cacheKey)
	u.mu.Unlock()
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var id [sha256.Size]byte
	m.Sum(id[:0])
	return id
}

// HashPassword returns the argon2id hash of password in PHC string form,
// with a new random salt.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := phc{memory: argonMemory, time: argonTime, threads: argonThreads, salt: salt}
	p.key = argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, argonKeyLen)
	return p.String(), nil
}

// VerifyPassword reports whether password matches hash (a PHC argon2id
// string), comparing in constant time.
func VerifyPassword(hash, password string) (bool, error) {
	p, err := parsePHC(hash)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

// phc is a parsed argon2id PHC string.
type phc struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func (p phc) String() string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		enc.EncodeToString(p.salt), enc.EncodeToString(p.key))
}

// parsePHC parses $argon2id$v=19$m=M,t=T,p=P$SALT$HASH, with bounds that
// keep one check affordable (at most 1 GiB, 16 passes, 16 lanes).
func parsePHC(s string) (phc, error) {
	var p phc
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return p, errors.New("not an argon2id hash ($argon2id$v=19$m=…,t=…,p=…$salt$hash)")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, fmt.Errorf("argon2 version %q, want v=%d", f[2], argon2.Version)
	}
	params := strings.Split(f[3], ",")
	if len(params) != 3 {
		return p, errors.New("argon2id parameters must be m=…,t=…,p=…")
	}
	var vals [3]uint64
	for i, want := range []string{"m", "t", "p"} {
		k, v, ok := strings.Cut(params[i], "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || k != want || err != nil || (len(v) > 1 && v[0] == '0') {
			return p, fmt.Errorf("argon2id parameter %q, want %s=NUMBER", params[i], want)
		}
		vals[i] = n
	}
	switch {
	case vals[0] < 8*vals[2] || vals[0] > 1<<20:
		return p, fmt.Errorf("argon2id memory m=%d out of bounds (8×p to 1048576 KiB)", vals[0])
	case vals[1] < 1 || vals[1] > 16:
		return p, fmt.Errorf("argon2id passes t=%d out of bounds (1 to 16)", vals[1])
	case vals[2] < 1 || vals[2] > 16:
		return p, fmt.Errorf("argon2id lanes p=%d out of bounds (1 to 16)", vals[2])
	}
	p.memory, p.time, p.threads = uint32(vals[0]), uint32(vals[1]), uint8(vals[2])
	var err error
	if p.salt, err = base64.RawStdEncoding.Strict().DecodeString(f[4]); err != nil || len(p.salt) < 8 || len(p.salt) > 64 {
		return p, errors.New("argon2id salt must be 8 to 64 bytes in unpadded base64")
	}
	if p.key, err = base64.RawStdEncoding.Strict().DecodeString(f[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
		return p, errors.New("argon2id hash must be 16 to 64 bytes in unpadded base64")
	}
	return p, nil
}
