package imapsync

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/catchall/catchall/internal/cli"
)

// WriteText writes the push report for a person: with dryRun a table of
// the folders that would be created and what would be appended to each,
// otherwise one summary line.
func (r *PushReport) WriteText(w io.Writer, dryRun bool) {
	if dryRun {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "FOLDER\tCREATE\tAPPEND\tBYTES\tALREADY THERE\tTO CHECK\t")
		var n, check int
		var bytes int64
		for _, f := range r.Folders {
			create := "no"
			if f.Create {
				create = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t\n", f.Name, create, f.Messages, cli.FormatBytes(f.Bytes), f.Already, f.Check)
			n += f.Messages
			check += f.Check
			bytes += f.Bytes
		}
		tw.Flush()
		fmt.Fprintf(w, "dry run: would create %d folders and append %d messages (%s), search for %d of unknown outcome first; %d already there, %d refused up front; nothing was changed\n",
			r.Created, n, cli.FormatBytes(bytes), check, r.Already, len(r.Failures))
		return
	}
	rate := ""
	if secs := r.Elapsed.Seconds(); secs > 0 && r.Messages > 0 {
		rate = fmt.Sprintf(", %.0f msgs/s, %s/s", float64(r.Messages)/secs, cli.FormatBytes(int64(float64(r.Bytes)/secs)))
	}
	fmt.Fprintf(w, "pushed %d messages (%s) to %d folders (%d created) in %.1fs%s over %d connections; %d already there; %d failed\n",
		r.Messages, cli.FormatBytes(r.Bytes), len(r.Folders), r.Created, r.Elapsed.Seconds(), rate, r.Connections, r.Already, len(r.Failures))
}
