package csvsafe

import (
	"bytes"
	"encoding/csv"
	"testing"
)

func TestEscape(t *testing.T) {
	for v, want := range map[string]string{
		"":                    "",
		"adobe@example.com":   "adobe@example.com",
		"=1+2@example.com":    "'=1+2@example.com",
		"+cmd|' /C calc'!A0":  "'+cmd|' /C calc'!A0",
		"-2+3":                "'-2+3",
		"@SUM(1)":             "'@SUM(1)",
		"\tx":                 "'\tx",
		"\rx":                 "'\rx",
		"'quoted":             "''quoted",
		"0.62":                "0.62",
		"news+=cmd|'/ccalc'!": "news+=cmd|'/ccalc'!",
	} {
		if got := Escape(v); got != want {
			t.Errorf("Escape(%q) = %q, want %q", v, got, want)
		}
		if back := Unescape(Escape(v)); back != v {
			t.Errorf("Unescape(Escape(%q)) = %q", v, back)
		}
	}
}

// FuzzRoundTrip: any value survives a CSV write and read, and a second
// write is byte-identical to the first.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"=1+2", "'", "''=", "-", "a,b", "\"q\"", "\r\n="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		write := func(v string) []byte {
			var b bytes.Buffer
			w := csv.NewWriter(&b)
			w.Write([]string{Escape(v), "x"})
			w.Flush()
			return b.Bytes()
		}
		first := write(v)
		rec, err := csv.NewReader(bytes.NewReader(first)).Read()
		if err != nil {
			return // encoding/csv itself cannot carry it (e.g. a lone \r)
		}
		got := Unescape(rec[0])
		if got != v && bytes.Contains([]byte(v), []byte("\r")) {
			return // encoding/csv reads \r\n in a cell as \n: its rule, not ours
		}
		if got != v {
			t.Fatalf("%q came back as %q", v, got)
		}
		if c := Escape(got); len(c) > 0 {
			switch c[0] {
			case '=', '+', '-', '@', '\t', '\r':
				t.Fatalf("cell %q would be evaluated", c)
			}
		}
		if second := write(got); !bytes.Equal(first, second) {
			t.Fatalf("round trip of %q changed the file: %q → %q", v, first, second)
		}
	})
}
