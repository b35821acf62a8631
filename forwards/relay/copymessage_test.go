package relay

import (
	"bytes"
	"strings"
	"testing"
)

// TestCopyMessageDropsAlias: every way of writing an X-Catchall-Alias field
// (in any case; with white space before the colon, RFC 5322 §4.5.8
// obs-optional; folded, §2.2.3) is left out whole, continuation lines too,
// and nothing else is: not a field whose name only starts the same, not
// the body, not a byte of the rest.
func TestCopyMessageDropsAlias(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"plain", "X-Catchall-Alias: x\r\nSubject: s\r\n\r\nbody\r\n", "Subject: s\r\n\r\nbody\r\n"},
		{"space before colon", "Subject: s\r\nX-Catchall-Alias : x\r\n\r\nbody\r\n", "Subject: s\r\n\r\nbody\r\n"},
		{"spaces and tabs before colon", "Subject: s\r\nX-Catchall-Alias \t \t: x\r\nTo: t\r\n\r\n", "Subject: s\r\nTo: t\r\n\r\n"},
		{"tab before colon", "Subject: s\r\nX-Catchall-Alias\t: x\r\n\r\nbody\r\n", "Subject: s\r\n\r\nbody\r\n"},
		{"lower case", "Subject: s\r\nx-catchall-alias: x\r\n\r\nbody\r\n", "Subject: s\r\n\r\nbody\r\n"},
		{"upper case", "Subject: s\r\nX-CATCHALL-ALIAS:x\r\n\r\nbody\r\n", "Subject: s\r\n\r\nbody\r\n"},
		{"empty value", "Subject: s\r\nX-Catchall-Alias:\r\n\r\n", "Subject: s\r\n\r\n"},
		{"folded", "Subject: s\r\nX-Catchall-Alias:\r\n bank@example.org\r\n\tmore\r\nTo: t\r\n\r\nbody\r\n", "Subject: s\r\nTo: t\r\n\r\nbody\r\n"},
		{"folded, space before colon", "Subject: s\r\nx-catchall-alias :\r\n\tbank@example.org\r\nTo: t\r\n\r\n", "Subject: s\r\nTo: t\r\n\r\n"},
		{"first field", "X-Catchall-Alias : x\r\n y\r\nSubject: s\r\n\r\nbody\r\n", "Subject: s\r\n\r\nbody\r\n"},
		{"last field, folded", "Subject: s\r\nX-Catchall-Alias: x\r\n y\r\n\r\nbody\r\n", "Subject: s\r\n\r\nbody\r\n"},
		{"the only field", "X-Catchall-Alias: x\r\n\r\nbody\r\n", "\r\nbody\r\n"},
		{"several", "X-Catchall-Alias: a\r\nSubject: s\r\nx-catchall-alias\t:b\r\n c\r\nX-CATCHALL-ALIAS :d\r\n\r\n", "Subject: s\r\n\r\n"},
		{"no body, no blank line", "Subject: s\r\nX-Catchall-Alias: x\r\n y", "Subject: s\r\n"},
		{"LF line ends", "Subject: s\nX-Catchall-Alias : x\n y\nTo: t\n\nX-Catchall-Alias: body\n", "Subject: s\nTo: t\n\nX-Catchall-Alias: body\n"},
		{"LF, first and last", "x-catchall-alias:a\nSubject: s\nX-Catchall-Alias\t: b\n\tc\n\nbody\n", "Subject: s\n\nbody\n"},
		{"a longer name stays", "X-Catchall-Aliases: x\r\nX-Catchall-Alias-Note: y\r\n z\r\nX-Catchall-Alias2 : w\r\n\r\n", "X-Catchall-Aliases: x\r\nX-Catchall-Alias-Note: y\r\n z\r\nX-Catchall-Alias2 : w\r\n\r\n"},
		{"a shorter name stays", "X-Catchall-Alia: x\r\nX-Catchall: y\r\n\r\n", "X-Catchall-Alia: x\r\nX-Catchall: y\r\n\r\n"},
		{"no colon is no such field", "X-Catchall-Alias x\r\nX-Catchall-Alias\r\n :x\r\n\r\n", "X-Catchall-Alias x\r\nX-Catchall-Alias\r\n :x\r\n\r\n"},
		// Lines that go on with no field would go on with the relay's
		// own X-Catchall-Alias: dropped.
		{"white space before the name", " X-Catchall-Alias: x\r\nSubject: s\r\n\r\n", "Subject: s\r\n\r\n"},
		{"continuation first", " bank@example.org\r\n\tmore\r\nFrom: a@b.test\r\n x\r\n\r\n body\r\n", "From: a@b.test\r\n x\r\n\r\n body\r\n"},
		{"long continuation first", " " + strings.Repeat("v", 70000) + "\r\nSubject: s\r\n\r\n", "Subject: s\r\n\r\n"},
		{"body untouched", "Subject: s\r\n\r\nX-Catchall-Alias: x\r\n y\r\nx-catchall-alias : z\r\n", "Subject: s\r\n\r\nX-Catchall-Alias: x\r\n y\r\nx-catchall-alias : z\r\n"},
		{"body after a dropped last field", "X-Catchall-Alias: x\r\n\r\n\r\nX-Catchall-Alias: y\r\n", "\r\n\r\nX-Catchall-Alias: y\r\n"},
		{"no header", "\r\nX-Catchall-Alias: x\r\n", "\r\nX-Catchall-Alias: x\r\n"},
		{"CR inside a line", "X-Catchall-Alias: a\rb\r\nSubject: s\r\r\n\r\n", "Subject: s\r\r\n\r\n"},
		{"long value", "X-Catchall-Alias: " + strings.Repeat("v", 70000) + "\r\n " + strings.Repeat("w", 40000) + "\r\nSubject: s\r\n\r\n", "Subject: s\r\n\r\n"},
		{"long white space before the colon", "X-Catchall-Alias" + strings.Repeat(" ", 70000) + ": x\r\nSubject: s\r\n\r\n", "Subject: s\r\n\r\n"},
		{"long white space, no colon", "X-Catchall-Alias" + strings.Repeat(" ", 70000) + "x\r\n\r\n", "X-Catchall-Alias" + strings.Repeat(" ", 70000) + "x\r\n\r\n"},
		{"long other field", "Subject: " + strings.Repeat("s", 70000) + "\r\n x-catchall-alias: y\r\nX-Catchall-Alias: z\r\n\r\n", "Subject: " + strings.Repeat("s", 70000) + "\r\n x-catchall-alias: y\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := copyMessage(&out, strings.NewReader(tc.in), true); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tc.want {
				t.Errorf("copyMessage(%s):\n got %q\nwant %q", short(tc.in), short(got), short(tc.want))
			}
			out.Reset()
			if err := copyMessage(&out, strings.NewReader(tc.in), false); err != nil || out.String() != tc.in {
				t.Errorf("without dropAlias the message changed (err %v)", err)
			}
		})
	}
}

func short(s string) string {
	if len(s) > 200 {
		return s[:100] + "…" + s[len(s)-100:]
	}
	return s
}
