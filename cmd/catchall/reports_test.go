package main

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/catchall/catchall/imapsync"
)

func TestPrintReports(t *testing.T) {
	cases := []struct {
		name  string
		print func(w io.Writer)
		want  string
	}{
		{"fetch dry run", func(w io.Writer) {
			printFetch(w, &imapsync.Report{Folders: []*imapsync.FolderReport{
				{Name: "INBOX", New: 12, Bytes: 34_500, FlagUpdates: 2},
				{Name: "Réception/Factures", Skipped: true, Gone: 1},
			}}, true)
		}, "" +
			"                          FOLDER  NEW    BYTES  FLAG UPDATES  GONE ON SERVER\n" +
			"                           INBOX   12  34.5 kB             2               0\n" +
			"  Réception/Factures (unchanged)    0      0 B             0               1\n" +
			"dry run: would fetch 12 messages (34.5 kB) from 2 folders, update flags of 2; nothing was written\n"},
		{"fetch", func(w io.Writer) {
			printFetch(w, &imapsync.Report{Folders: []*imapsync.FolderReport{{Name: "INBOX", Skipped: true}, {Name: "Sent", FlagUpdates: 1}},
				Messages: 10, Bytes: 2_000_000, Elapsed: 2 * time.Second, Failures: []imapsync.Failure{{Folder: "Sent", UID: 3, Err: errors.New("x")}}}, false)
		}, "fetched 10 messages (2.0 MB) from 2 folders (1 unchanged) in 2.0s, 5 msgs/s, 1.0 MB/s; 1 flag updates, 0 deleted on the server and kept; 1 failed\n"},
		{"push dry run", func(w io.Writer) {
			printPush(w, &imapsync.PushReport{Folders: []*imapsync.PushFolder{
				{Name: "日本語 フォルダ", Create: true, Messages: 3, Bytes: 999, Check: 1},
				{Name: "INBOX", Messages: 1, Bytes: 1_500_000_000, Already: 4},
			}, Created: 1, Already: 4}, true)
		}, "" +
			"    FOLDER  CREATE  APPEND    BYTES  ALREADY THERE  TO CHECK\n" +
			"  日本語 フォルダ     yes       3    999 B              0         1\n" +
			"     INBOX      no       1  1.50 GB              4         0\n" +
			"dry run: would create 1 folders and append 4 messages (1.50 GB), search for 1 of unknown outcome first; 4 already there, 0 refused up front; nothing was changed\n"},
		{"push", func(w io.Writer) {
			printPush(w, &imapsync.PushReport{Folders: make([]*imapsync.PushFolder, 3), Messages: 0, Created: 2, Connections: 4, Already: 7}, false)
		}, "pushed 0 messages (0 B) to 3 folders (2 created) in 0.0s over 4 connections; 7 already there; 0 failed\n"},
		{"verify", func(w io.Writer) {
			printVerify(w, &imapsync.VerifyReport{Folders: []*imapsync.FolderVerify{
				{Name: "INBOX", OnServer: 2, Verified: 2},
				{Name: "Sent", OnServer: 1, Missing: 1},
			}, Total: imapsync.FolderVerify{OnServer: 3, Verified: 2, Missing: 1}})
		}, "INBOX: 2/2 verified\nSent: 0/1 verified, 1 missing, 0 extra, 0 mismatched\ntotal: 2/3 verified, 1 missing, 0 extra, 0 mismatched\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tc.print(&b)
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
}
