package srs

// Known answers from the reference implementation: Debian's postsrsd
// (libsrs2's algorithm) is started on 127.0.0.1 with the same secret and
// domain, and the two must agree both ways. Run by scripts/test.sh (make
// test), which installs postsrsd; skipped elsewhere.

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/catchall/catchall/internal/testtools"
)

type postsrsd struct {
	fwd, rev string
}

func startPostsrsd(t *testing.T, secrets string) *postsrsd {
	t.Helper()
	bin := testtools.NeedTools(t, "postsrsd")[0]
	secret := filepath.Join(t.TempDir(), "srs.secret")
	if err := os.WriteFile(secret, []byte(secrets), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &postsrsd{}
	fp, rp := fmt.Sprint(testtools.FreePort(t)), fmt.Sprint(testtools.FreePort(t))
	p.fwd, p.rev = "127.0.0.1:"+fp, "127.0.0.1:"+rp
	cmd := exec.Command(bin, "-s"+secret, "-dfwd.test", "-l127.0.0.1", "-4", "-f"+fp, "-r"+rp, "-t10")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", p.rev)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("postsrsd did not listen on %s", p.rev)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// get asks one of postsrsd's Postfix tcp_table ports.
func (p *postsrsd) get(t *testing.T, addr, key string) (code int, value string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "get %s\n", url.PathEscape(key))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("postsrsd: %v", err)
	}
	line = strings.TrimRight(line, "\r\n")
	c0, v, _ := strings.Cut(line, " ")
	fmt.Sscan(c0, &code)
	if dec, err := url.PathUnescape(v); err == nil {
		v = dec
	}
	return code, v
}

func TestPostsrsd(t *testing.T) {
	p := startPostsrsd(t, "tH3-s3cret\nold-secret\n")
	ours := &Codec{Domain: "fwd.test", Secrets: [][]byte{[]byte("tH3-s3cret"), []byte("old-secret")}}
	old := &Codec{Domain: "fwd.test", Secrets: [][]byte{[]byte("old-secret")}}
	if ours.stamp() != (&Codec{Now: func() time.Time { return time.Now().Add(time.Minute) }}).stamp() {
		t.Skip("the day changes within a minute; run again")
	}
	senders := []string{
		"alice@far.test",
		"Alice.Smith@Far.Example.ORG",
		"bounce+list-123=x@lists.far.test",
		"SRS0=abcd=JT=first.test=bob@first.test", // guarded: becomes SRS1
	}
	for _, sender := range senders {
		t.Run(sender, func(t *testing.T) {
			mine, err := ours.Forward(sender)
			if err != nil {
				t.Fatal(err)
			}
			code, theirs := p.get(t, p.fwd, sender)
			if code != 200 {
				t.Fatalf("postsrsd forward %q: %d %s", sender, code, theirs)
			}
			if mine != theirs {
				t.Fatalf("Forward(%q):\n ours     %s\n postsrsd %s", sender, mine, theirs)
			}
			// postsrsd reverses ours, also with the case changed on the way.
			for _, v := range []string{mine, strings.ToUpper(mine), strings.ToLower(mine)} {
				code, back := p.get(t, p.rev, v)
				want, _ := ours.Reverse(mine)
				if code != 200 || !strings.EqualFold(back, want) {
					t.Errorf("postsrsd reverse %q: %d %q, want %q", v, code, back, want)
				}
			}
			// Signed with the second secret: both accept it.
			oldAddr, _ := old.Forward(sender)
			code, back := p.get(t, p.rev, oldAddr)
			mineBack, err := ours.Reverse(oldAddr)
			if code != 200 || err != nil || back != mineBack {
				t.Errorf("second secret %q: postsrsd %d %q, ours %q %v", oldAddr, code, back, mineBack, err)
			}
		})
	}
	// Hundreds of generated senders, both directions, until every character
	// of the hash alphabet has been seen in a hash postsrsd made.
	seen := map[byte]bool{}
	for i, sender := range generatedSenders(600) {
		mine, err := ours.Forward(sender)
		if err != nil {
			t.Fatalf("Forward(%q): %v", sender, err)
		}
		code, theirs := p.get(t, p.fwd, sender)
		if code != 200 {
			t.Fatalf("postsrsd forward %q: %d %s", sender, code, theirs)
		}
		if mine != theirs {
			t.Fatalf("Forward(%q):\n ours     %s\n postsrsd %s", sender, mine, theirs)
		}
		h := strings.SplitN(theirs, "=", 3)[1]
		for j := 0; j < len(h); j++ {
			seen[h[j]] = true
		}
		// Each reverses what the other made, with the case changed on every
		// other address.
		addr := theirs
		if i%2 == 1 {
			addr = strings.ToUpper(theirs)
		}
		code, back := p.get(t, p.rev, addr)
		mineBack, err := ours.Reverse(addr)
		if code != 200 || err != nil || !strings.EqualFold(back, mineBack) {
			t.Fatalf("reverse %q: postsrsd %d %q, ours %q %v", addr, code, back, mineBack, err)
		}
	}
	if len(seen) != len(hashChars) {
		var missing []string
		for j := 0; j < len(hashChars); j++ {
			if !seen[hashChars[j]] {
				missing = append(missing, string(hashChars[j]))
			}
		}
		t.Errorf("postsrsd's hashes left out %v of the alphabet: the comparison did not cover them", missing)
	}
	// What postsrsd refuses, we refuse.
	good, _ := ours.Forward("alice@far.test")
	h := strings.Split(good, "=")[1]
	stale := (&Codec{Domain: "fwd.test", Secrets: ours.Secrets, Now: func() time.Time { return time.Now().Add(-30 * 24 * time.Hour) }})
	staleAddr, _ := stale.Forward("alice@far.test")
	for _, bad := range []string{
		"SRS0=" + h + "=" + strings.Split(good, "=")[2] + "=far.test=mallory@fwd.test",
		staleAddr,
		"SRS1=AAAA=first.test==x=JT=a=b@fwd.test",
	} {
		code, v := p.get(t, p.rev, bad)
		_, err := ours.Reverse(bad)
		if code == 200 || err == nil {
			t.Errorf("%q: postsrsd %d %q, ours %v; both must refuse", bad, code, v, err)
		}
	}
}

// generatedSenders makes n senders of every shape the relay forwards: plain,
// mixed case, long local parts, punctuation, SRS0 from another forwarder
// (which becomes SRS1) and SRS1 (which is re-signed).
func generatedSenders(n int) []string {
	r := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	word := func(min, max int) string {
		b := make([]byte, min+r.IntN(max-min+1))
		for i := range b {
			b[i] = letters[r.IntN(len(letters))]
		}
		return string(b)
	}
	hash := func() string {
		b := make([]byte, 4)
		for i := range b {
			b[i] = hashChars[r.IntN(len(hashChars))]
		}
		return string(b)
	}
	stamp := func() string {
		return string([]byte{timeChars[r.IntN(32)], timeChars[r.IntN(32)]})
	}
	out := make([]string, 0, n)
	for i := 0; len(out) < n; i++ {
		host := strings.ToLower(word(2, 12)) + "." + []string{"test", "example", "Example.ORG", "co.uk"}[r.IntN(4)]
		switch i % 6 {
		case 0:
			out = append(out, word(1, 10)+"@"+host)
		case 1:
			out = append(out, word(40, 64)+"@"+strings.ToUpper(host))
		case 2:
			out = append(out, "bounce+"+word(3, 8)+"-"+word(2, 6)+"="+word(2, 6)+"@"+host)
		case 3:
			out = append(out, word(2, 8)+"."+word(2, 8)+"@"+host)
		case 4:
			out = append(out, "SRS0="+hash()+"="+stamp()+"="+strings.ToLower(word(3, 9))+".test="+word(2, 10)+"@"+host)
		case 5:
			out = append(out, "SRS1="+hash()+"=first-"+strings.ToLower(word(2, 6))+".test=="+hash()+"="+stamp()+"=orig.test="+word(2, 10)+"@"+host)
		}
	}
	return out
}
