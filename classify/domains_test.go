package classify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// memSource is a Source over messages in memory.
type memSource []*Message

func (m memSource) String() string            { return "test mailbox" }
func (m memSource) Count(context.Context) int { return len(m) }
func (m memSource) Walk(ctx context.Context, every int, fn func(*Message)) (WalkStats, error) {
	for i, msg := range m {
		if every > 1 && i%every != 0 {
			continue
		}
		fn(msg)
	}
	return WalkStats{Messages: len(m)}, nil
}

// delivered is a message the user's server delivered to alias, as Postfix
// writes it.
func delivered(alias string, n int) *Message {
	return &Message{Folder: "INBOX", Header: []byte(fmt.Sprintf(
		"X-Original-To: %s\r\nDelivered-To: me@home.example\r\nReceived: from mx.sender.example by mx.home.example (Postfix) with ESMTP id X%d for <%s>\r\nFrom: shop%d@sender%d.example\r\nTo: %s\r\nSubject: hello\r\n\r\n",
		alias, n, alias, n, n, alias))}
}

func many(n int, f func(i int) *Message) []*Message {
	var out []*Message
	for i := range n {
		out = append(out, f(i))
	}
	return out
}

func domainsOf(t *testing.T, src memSource, opts *Options) ([]string, error) {
	t.Helper()
	inv, err := Build(context.Background(), src, opts)
	if err != nil {
		return nil, err
	}
	return inv.Domains, nil
}

func TestDomainsFromDeliveryHeaders(t *testing.T) {
	src := memSource(many(40, func(i int) *Message { return delivered(fmt.Sprintf("a%d@home.example", i%7), i) }))
	inv, err := Build(context.Background(), src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inv.Domains, []string{"home.example"}) || inv.FinalMailbox != "me@home.example" {
		t.Fatalf("domains %v, final %q", inv.Domains, inv.FinalMailbox)
	}
	if got := inv.DomainsLine(); got != "domains: home.example (40 messages delivered, final mailbox)" {
		t.Errorf("DomainsLine = %q", got)
	}
}

// A few messages of other people's mail (test files, a forwarded thread)
// with their own delivery headers do not make their domains the user's.
func TestDomainsIgnoreAHandfulOfForeignMail(t *testing.T) {
	src := memSource(many(300, func(i int) *Message { return delivered(fmt.Sprintf("a%d@home.example", i%20), i) }))
	for i := range 4 {
		src = append(src, &Message{Folder: "INBOX", Header: []byte(fmt.Sprintf("Delivered-To: barry@python.org\r\nReceived: by mail.python.org for <barry@python.org>\r\nFrom: x%d@zope.com\r\nTo: barry@python.org\r\n\r\n", i))})
	}
	for i := range 20 {
		src = append(src, &Message{Folder: "INBOX", Header: []byte(fmt.Sprintf("From: a@b.example\r\nTo: bbb%d@zzz.org, ccc@zzz.org\r\nCc: list@example.com\r\n\r\n", i))})
	}
	got, err := domainsOf(t, src, nil)
	if err != nil || !slices.Equal(got, []string{"home.example"}) {
		t.Fatalf("domains %v, %v; want home.example only", got, err)
	}
}

// To and Cc alone are never evidence: without delivery headers the user
// is asked for the domain.
func TestDomainsNotFromToCc(t *testing.T) {
	src := memSource(many(50, func(i int) *Message {
		return &Message{Folder: "INBOX", Header: []byte(fmt.Sprintf("From: a%d@sender.example\r\nTo: x%d@home.example\r\n\r\n", i, i))}
	}))
	_, err := domainsOf(t, src, nil)
	var de *DomainError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "could not tell which domain") {
		t.Fatalf("err = %v, want a DomainError", err)
	}
	// With --domain the same mailbox is read from To.
	got, err := domainsOf(t, src, &Options{Domains: []string{"Home.Example"}})
	if err != nil || !slices.Equal(got, []string{"home.example"}) {
		t.Fatalf("with --domain: %v, %v", got, err)
	}
}

// List mail names the list's recipients in its own headers: never evidence.
func TestDomainsNotFromListMail(t *testing.T) {
	src := memSource(many(50, func(i int) *Message { return delivered(fmt.Sprintf("a%d@home.example", i%5), i) }))
	for i := range 40 {
		src = append(src, &Message{Folder: "INBOX", Header: []byte(fmt.Sprintf("Delivered-To: list-owner@lists.example\r\nList-Id: <dev.lists.example>\r\nReceived: by lists.example for <dev@lists.example>\r\nFrom: p%d@x.example\r\nTo: dev@lists.example\r\n\r\n", i))})
	}
	got, err := domainsOf(t, src, nil)
	if err != nil || !slices.Equal(got, []string{"home.example"}) {
		t.Fatalf("domains %v, %v", got, err)
	}
}

// Delivery headers below the top-most Received were written by someone
// else (a spammer can write anything): not evidence.
func TestDomainsOnlyAboveTheTopReceived(t *testing.T) {
	src := memSource(many(30, func(i int) *Message { return delivered(fmt.Sprintf("a%d@home.example", i%5), i) }))
	for i := range 30 {
		src = append(src, &Message{Folder: "Junk", Role: RoleJunk, Header: []byte(fmt.Sprintf("Received: by mx.home.example for <x%d@home.example>\r\nDelivered-To: victim@forged.example\r\nX-Original-To: victim@forged.example\r\nFrom: s@spam.example\r\n\r\n", i))})
	}
	got, err := domainsOf(t, src, nil)
	if err != nil || !slices.Equal(got, []string{"home.example"}) {
		t.Fatalf("domains %v, %v", got, err)
	}
}

// A second domain with little incoming mail counts when the user sends
// from it; a freemail provider never does.
func TestDomainsSecondDomainAndFreemail(t *testing.T) {
	src := memSource(many(200, func(i int) *Message { return delivered(fmt.Sprintf("a%d@home.example", i%9), i) }))
	for i := range 5 {
		src = append(src, delivered(fmt.Sprintf("old%d@old.example", i), 1000+i))
		src = append(src, &Message{Folder: "Sent", Role: RoleSent, Header: []byte(fmt.Sprintf("From: old%d@old.example\r\nTo: friend@gmail.com\r\n\r\n", i))})
	}
	for i := range 30 {
		src = append(src, delivered("john.smith1983@gmail.com", 2000+i))
	}
	inv, err := Build(context.Background(), src, nil)
	if err != nil || !slices.Equal(inv.Domains, []string{"home.example", "old.example"}) {
		t.Fatalf("domains %v, %v; want home.example and old.example", inv.Domains, err)
	}
	line := inv.DomainsLine()
	if !strings.Contains(line, "old.example (5 messages delivered, 5 sent from it)") {
		t.Errorf("DomainsLine = %q", line)
	}
}

// Weak evidence: a handful of messages, or a top domain in a small share
// of the mail, stops with the candidates named.
func TestDomainsWeakEvidence(t *testing.T) {
	src := memSource(many(60, func(i int) *Message {
		return &Message{Folder: "INBOX", Header: []byte(fmt.Sprintf("From: a%d@x.example\r\nTo: b%d@y.example\r\n\r\n", i, i))}
	}))
	src = append(src, many(5, func(i int) *Message {
		return &Message{Folder: "INBOX", Header: []byte("Delivered-To: bbb@zzz.org\r\nReceived: by zzz.org\r\nFrom: a@b.example\r\n\r\n")}
	})...)
	_, err := domainsOf(t, src, nil)
	var de *DomainError
	if !errors.As(err, &de) || len(de.Candidates) == 0 || de.Candidates[0].Domain != "zzz.org" {
		t.Fatalf("err = %v, want a DomainError naming zzz.org as the best weak candidate", err)
	}
	if !strings.Contains(err.Error(), "zzz.org (5 messages delivered") {
		t.Errorf("error %q does not show the evidence", err)
	}
}
