package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/catchall/catchall/imapsync"
)

// The reports of fetch, push and verify as they are printed: results go to
// stdout, one summary line each (and a table with --dry-run).

// printFetch writes the fetch report for a person: with dryRun a table of
// what would be fetched per folder, then one summary line.
func printFetch(w io.Writer, r *imapsync.Report, dryRun bool) {
	if dryRun {
		flags := 0
		rows := [][]any{{"FOLDER", "NEW", "BYTES", "FLAG UPDATES", "GONE ON SERVER"}}
		var n int
		var bytes int64
		for _, f := range r.Folders {
			state := ""
			if f.Skipped {
				state = " (unchanged)"
			}
			rows = append(rows, []any{f.Name + state, f.New, formatBytes(f.Bytes), f.FlagUpdates, f.Gone})
			flags += f.FlagUpdates
			n += f.New
			bytes += f.Bytes
		}
		writeTable(w, rows)
		fmt.Fprintf(w, "dry run: would fetch %d messages (%s) from %d folders, update flags of %d; nothing was written\n",
			n, formatBytes(bytes), len(r.Folders), flags)
		return
	}
	fmt.Fprintln(w, fetchLine(r))
}

// fetchLine is the fetch report's summary line.
func fetchLine(r *imapsync.Report) string {
	skipped, flags, gone := 0, 0, 0
	for _, f := range r.Folders {
		if f.Skipped {
			skipped++
		}
		flags += f.FlagUpdates
		gone += f.Gone
	}
	return fmt.Sprintf("fetched %d messages (%s) from %d folders (%d unchanged) in %.1fs%s; %d flag updates, %d deleted on the server and kept; %d failed",
		r.Messages, formatBytes(r.Bytes), len(r.Folders), skipped, r.Elapsed.Seconds(), rate(r.Messages, r.Bytes, r.Elapsed), flags, gone, len(r.Failures))
}

// printPush writes the push report for a person: with dryRun a table of
// the folders that would be created and what would be appended to each,
// otherwise one summary line.
func printPush(w io.Writer, r *imapsync.PushReport, dryRun bool) {
	if dryRun {
		rows := [][]any{{"FOLDER", "CREATE", "APPEND", "BYTES", "ALREADY THERE", "TO CHECK"}}
		var n, check int
		var bytes int64
		for _, f := range r.Folders {
			create := "no"
			if f.Create {
				create = "yes"
			}
			rows = append(rows, []any{f.Name, create, f.Messages, formatBytes(f.Bytes), f.Already, f.Check})
			n += f.Messages
			check += f.Check
			bytes += f.Bytes
		}
		writeTable(w, rows)
		fmt.Fprintf(w, "dry run: would create %d folders and append %d messages (%s), search for %d of unknown outcome first; %d already there, %d refused up front; nothing was changed\n",
			r.Created, n, formatBytes(bytes), check, r.Already, len(r.Failures))
		return
	}
	fmt.Fprintln(w, pushLine(r))
}

// pushLine is the push report's summary line.
func pushLine(r *imapsync.PushReport) string {
	return fmt.Sprintf("pushed %d messages (%s) to %d folders (%d created) in %.1fs%s over %d connections; %d already there; %d failed",
		r.Messages, formatBytes(r.Bytes), len(r.Folders), r.Created, r.Elapsed.Seconds(), rate(r.Messages, r.Bytes, r.Elapsed), r.Connections, r.Already, len(r.Failures))
}

// printVerify writes one line per folder and a total line.
func printVerify(w io.Writer, r *imapsync.VerifyReport) {
	line := func(name string, f *imapsync.FolderVerify) {
		fmt.Fprintf(w, "%s: %d/%d verified", name, f.Verified, f.OnServer)
		if f.Missing+f.Extra+f.Mismatched > 0 {
			fmt.Fprintf(w, ", %d missing, %d extra, %d mismatched", f.Missing, f.Extra, f.Mismatched)
		}
		fmt.Fprintln(w)
	}
	for _, f := range r.Folders {
		line(f.Name, f)
	}
	line("total", &r.Total)
}

// writeTable writes rows (the first is the header) as a table with the
// columns aligned right, as the dry runs print them.
func writeTable(w io.Writer, rows [][]any) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, row := range rows {
		for _, cell := range row {
			fmt.Fprintf(tw, "%v\t", cell)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// rate is ", N msgs/s, X/s" for a transfer that took elapsed, or "" when
// nothing moved.
func rate(messages int, bytes int64, elapsed time.Duration) string {
	secs := elapsed.Seconds()
	if secs <= 0 || messages == 0 {
		return ""
	}
	return fmt.Sprintf(", %.0f msgs/s, %s/s", float64(messages)/secs, formatBytes(int64(float64(bytes)/secs)))
}

// formatBytes returns n in B, kB, MB or GB (powers of 1000, one decimal).
func formatBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}
