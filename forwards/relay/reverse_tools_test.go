package relay

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/catchall/catchall/forwards/dkimkey"
	"github.com/catchall/catchall/internal/testtools"
)

// TestToolsReverseReplyViaPostfix: the whole round trip with a real Postfix
// as the user's new mail host. An outsider writes to shop@example.org; the
// relay forwards it to the user with a reverse address in From:; the user
// answers from their own host (swaks → Debian's Postfix, which relays the
// reply on port 25 to the relay, as any MTA would); the relay checks the
// host's SPF (an injected resolver answers for home.test) and sends the
// reply to the outsider with From: the alias. The test greps the bytes the
// outsider gets: nothing names the user's address, domain or host.
func TestToolsReverseReplyViaPostfix(t *testing.T) {
	swaks := testtools.NeedTools(t, "swaks", "postfix")[0]
	if os.Getuid() != 0 {
		t.Skip("the private Postfix needs root")
	}
	sk := newSink(t)
	relayKey := testKeys()[dkimkey.Ed25519]
	dns := &switchDNS{m: fakeDNS{"home.test": {spfPass}}}
	tr := startReverse(t, sk, dns, relayKey)

	// The outsider writes; the user's copy comes from a reverse address.
	c := dialRelay(t, tr.addr)
	if code := c.data("clerk@store.test", "shop@example.org", outsiders+".\r\n"); code != 250 {
		t.Fatalf("outsider's mail: %d", code)
	}
	fwd := sk.wait(1)[0]
	ra := regexp.MustCompile(`<(ra-[a-z2-7]+@example\.org)>`).FindStringSubmatch(readMsg(t, fwd.Data).Header.Get("From"))
	if ra == nil {
		t.Fatalf("no reverse address in the forwarded From:\n%s", fwd.Data)
	}

	// The user's host: a private Debian Postfix relaying to the relay's port 25.
	_, relayPort, _ := net.SplitHostPort(tr.addr)
	addr := testtools.StartPostfix(t, "POSTFIX_DOMAIN=home.test", "POSTFIX_OUTGOING=1",
		fmt.Sprintf("POSTFIX_SMTP_PORT=%d", testtools.FreePort(t)), "POSTFIX_RELAY_PORT="+relayPort)

	reply := "From: Me Myself <" + userAddr + ">\r\nSender: " + userAddr + "\r\nReply-To: " + userAddr + "\r\n" +
		"To: \"Store Clerk <clerk@store.test> via catchall\" <" + ra[1] + ">\r\n" +
		"Subject: Re: your order\r\nMessage-ID: <reply-1@home.test>\r\nDisposition-Notification-To: " + userAddr + "\r\n\r\n" +
		"Thanks, the parcel arrived.\r\n"
	out, err := exec.Command(swaks, "--timeout", "30", "--server", addr, "--from", userAddr, "--to", ra[1],
		"--helo", "laptop.home.test", "--data", reply).CombinedOutput()
	if err != nil {
		t.Fatalf("swaks to the user's Postfix: %v\n%s", err, out)
	}
	got := sk.wait(2)[1]
	if got.From != "shop@example.org" || strings.Join(got.To, " ") != "clerk@store.test" {
		t.Errorf("reply envelope %s → %v, want shop@example.org → clerk@store.test", got.From, got.To)
	}
	m := readMsg(t, got.Data)
	if f := m.Header.Get("From"); f != `"Me Myself" <shop@example.org>` {
		t.Errorf("reply From: %q", f)
	}
	lower := strings.ToLower(got.Data)
	for _, leak := range []string{userAddr, "home.test", "postfix-bench", "laptop"} {
		if strings.Contains(lower, leak) {
			t.Errorf("the outsider's copy names %q:\n%s", leak, got.Data)
		}
	}
	if vs := verifyDKIM(t, strings.NewReader(got.Data), lookupFor(t, relayKey, "relay", "example.org")); len(vs) != 1 || vs[0].Err != nil {
		t.Errorf("the reply is not signed for example.org: %+v", vs)
	}
	if !strings.Contains(got.Data, "Thanks, the parcel arrived.") {
		t.Errorf("body lost:\n%s", got.Data)
	}
}
