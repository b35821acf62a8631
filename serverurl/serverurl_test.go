package serverurl

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in       string
		protocol string
		want     URL
		wantErr  string
	}{
		{"imaps://me@imap.example.com", "imap", URL{"imap", SecurityTLS, "me", "imap.example.com", 993}, ""},
		{"imap://me%40example.com@imap.example.com", "imap", URL{"imap", SecurityStartTLS, "me@example.com", "imap.example.com", 143}, ""},
		{"imap+plain://alice@127.0.0.1:14143", "imap", URL{"imap", SecurityNone, "alice", "127.0.0.1", 14143}, ""},
		{"IMAPS://me@[::1]:1993", "imap", URL{"imap", SecurityTLS, "me", "::1", 1993}, ""},
		{"smtp://relay.example.com", "smtp", URL{"smtp", SecurityStartTLS, "", "relay.example.com", 587}, ""},
		{"imap+plain://alice@127.0.0.1", "imap", URL{}, "explicit port"},
		{"imaps://me:hunter2@imap.example.com", "imap", URL{}, "password in the URL"},
		{"imaps://imap.example.com", "imap", URL{}, "user name is missing"},
		{"pop3://me@example.com", "imap", URL{}, "scheme must be one of imap+plain://, imap://, imaps://"},
		{"smtp://x@example.com", "imap", URL{}, "scheme must be"},
		{"imaps://me@example.com:0", "imap", URL{}, "bad port"},
		{"imaps://me@example.com/INBOX", "imap", URL{}, "unexpected path"},
		{"me@example.com", "imap", URL{}, "scheme must be"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in, tc.protocol)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != tc.want {
				t.Errorf("got %+v, want %+v", *got, tc.want)
			}
			again, err := Parse(got.String(), tc.protocol)
			if err != nil || *again != *got {
				t.Errorf("String() %q does not round-trip: %v", got.String(), err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"imaps://me@host", "imap://a%40b@h:1", "imap+plain://u@127.0.0.1:1", "smtps://x:y@h", "%", "imap://[::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s, "")
		if err != nil {
			return
		}
		if u.Port < 1 || u.Port > 65535 || u.Host == "" {
			t.Fatalf("invalid result %+v for %q", u, s)
		}
	})
}

// TestParseForPasswordSources: the error about a password in the URL names
// the command's own password sources (push: CATCHALL_DEST_PASSWORD).
func TestParseForPasswordSources(t *testing.T) {
	_, err := Parse("imaps://me:hunter2@imap.example.com", "imap")
	if err == nil || !strings.Contains(err.Error(), "use CATCHALL_PASSWORD, --password-file or --password-command") {
		t.Errorf("Parse: %v", err)
	}
	_, err = ParseFor("imaps://me:hunter2@imap.example.com", "imap", "CATCHALL_DEST_PASSWORD, --dest-password-file or --dest-password-command")
	if err == nil || !strings.Contains(err.Error(), "use CATCHALL_DEST_PASSWORD,") || strings.Contains(err.Error(), "hunter2") || !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseFor: %v", err)
	}
}

// TestPasswordNeverPrinted: a URL holding a password is refused, and the
// error never shows the password, whether the URL parses or not.
func TestPasswordNeverPrinted(t *testing.T) {
	for _, s := range []string{
		"imaps://me:s3cretPW@imap.example.com",
		"imaps://me:s3cretPW@imap.example.com:99x",
		"imaps://me:s3cretPW%zz@imap.example.com",
		"imaps://me:s3cret PW@ho st",
		"imaps://me%40x.example:s3cretPW@host/path?q",
	} {
		_, err := Parse(s, "imap")
		if err == nil {
			t.Errorf("%q accepted", s)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the error shows the password: %v", s, err)
		}
		if !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("%q: %v; want the URL shown with the password hidden", s, err)
		}
	}
}
