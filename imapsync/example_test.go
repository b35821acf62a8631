package imapsync_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/imapsync"
	"github.com/catchall/catchall/internal/imaptest"
	"github.com/catchall/catchall/serverurl"
)

func ExampleFetch() {
	// A server to fetch from: the in-process test server with two messages.
	srv, err := imaptest.Start(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	srv.Append("INBOX", []byte("Subject: hello\r\n\r\nHi!\r\n"), []string{`\Seen`}, time.Now())
	srv.Append("Archive/2019", []byte("Subject: old\r\n\r\nOld.\r\n"), nil, time.Now())

	dir, _ := os.MkdirTemp("", "archive")
	defer os.RemoveAll(dir)
	arc, err := archive.Open(filepath.Join(dir, "archive"))
	if err != nil {
		log.Fatal(err)
	}
	defer arc.Close()

	u, err := serverurl.Parse(srv.URL(), "imap")
	if err != nil {
		log.Fatal(err)
	}
	server := &imapsync.Server{URL: u, Password: srv.Password}
	rep, err := imapsync.Fetch(context.Background(), server, arc, &imapsync.FetchOptions{Connections: 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("fetched", rep.Messages, "messages,", len(rep.Failures), "failed")

	// Nothing new the second time.
	rep, _ = imapsync.Fetch(context.Background(), server, arc, nil)
	fmt.Println("fetched", rep.Messages, "messages")
	// Output:
	// fetched 2 messages, 0 failed
	// fetched 0 messages
}
