package main

import (
	"strings"
	"testing"

	"github.com/catchall/catchall/internal/testtools"
)

// TestBarListing: while the folders are listed the total still grows, so
// the bar shows no percentage and no ETA; once the listing is done it
// shows the whole total.
func TestBarListing(t *testing.T) {
	var out testtools.Buffer // the spinner redraws from its own goroutine
	b := newBar(&out, "fetching", 0)
	b.AddTotal(10, 1000)
	b.Add(2, 200)
	b.AddTotal(10, 1000) // another folder listed
	b.Add(1, 100)
	listing := out.String()
	if !strings.Contains(listing, "fetching 3 msgs, listing…") {
		t.Errorf("while listing: %q", listing)
	}
	if strings.Contains(listing, "%") || strings.Contains(listing, "/20 msgs") {
		t.Errorf("a percentage or total before the listing is done: %q", listing)
	}
	out.Reset()
	spinner := b.bar
	b.ListingDone()
	if !spinner.IsFinished() {
		t.Error("the listing spinner is not finished: its goroutine would go on drawing it over the bar")
	}
	b.Add(1, 100)
	known := out.String()
	if !strings.Contains(known, "fetching 4/20 msgs") || !strings.Contains(known, "20%") || strings.Contains(known, "listing") {
		t.Errorf("after the listing: %q", known)
	}
	b.Finish()
}
