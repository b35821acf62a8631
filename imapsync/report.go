package imapsync

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/catchall/catchall/internal/cli"
)

// WriteText writes the report for a person: with dryRun a table of what
// would be fetched per folder, then one summary line.
func (r *Report) WriteText(w io.Writer, dryRun bool) {
	skipped, flags, gone := 0, 0, 0
	for _, f := range r.Folders {
		if f.Skipped {
			skipped++
		}
		flags += f.FlagUpdates
		gone += f.Gone
	}
	if dryRun {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "FOLDER\tNEW\tBYTES\tFLAG UPDATES\tGONE ON SERVER\t")
		var n int
		var bytes int64
		for _, f := range r.Folders {
			state := ""
			if f.Skipped {
				state = " (unchanged)"
			}
			fmt.Fprintf(tw, "%s%s\t%d\t%s\t%d\t%d\t\n", f.Name, state, f.New, cli.FormatBytes(f.Bytes), f.FlagUpdates, f.Gone)
			n += f.New
			bytes += f.Bytes
		}
		tw.Flush()
		fmt.Fprintf(w, "dry run: would fetch %d messages (%s) from %d folders, update flags of %d; nothing was written\n",
			n, cli.FormatBytes(bytes), len(r.Folders), flags)
		return
	}
	rate := ""
	if secs := r.Elapsed.Seconds(); secs > 0 && r.Messages > 0 {
		rate = fmt.Sprintf(", %.0f msgs/s, %s/s", float64(r.Messages)/secs, cli.FormatBytes(int64(float64(r.Bytes)/secs)))
	}
	fmt.Fprintf(w, "fetched %d messages (%s) from %d folders (%d unchanged) in %.1fs%s; %d flag updates, %d deleted on the server and kept; %d failed\n",
		r.Messages, cli.FormatBytes(r.Bytes), len(r.Folders), skipped, r.Elapsed.Seconds(), rate, flags, gone, len(r.Failures))
}

// WriteText writes one line per folder and a total line.
func (r *VerifyReport) WriteText(w io.Writer) {
	line := func(name string, f *FolderVerify) {
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
