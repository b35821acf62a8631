package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// writeReference writes the command reference (docs/REFERENCE.md) from the
// command tree itself, so that it cannot drift from --help: a test compares
// the committed file with this output.
func writeReference(w io.Writer, root *cobra.Command) {
	fmt.Fprintln(w, "# catchall command reference")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Generated from the commands' own help by `make docs`; a test fails when it is out of date.")
	fmt.Fprintln(w, "Every flag can also be set in the `--config` TOML file under its long name (`max-size = 1000`).")
	fmt.Fprintln(w)
	writeFlags(w, "Global flags", root.PersistentFlags())
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			fmt.Fprintf(w, "## %s\n\n%s.\n\n```\n%s\n```\n\n", sub.CommandPath(), strings.TrimSuffix(sub.Short, "."), sub.UseLine())
			if sub.Long != "" {
				fmt.Fprintf(w, "```text\n%s\n```\n\n", strings.TrimRight(sub.Long, "\n"))
			}
			if sub.Example != "" {
				fmt.Fprintf(w, "Example:\n\n```sh\n%s\n```\n\n", strings.TrimRight(sub.Example, "\n"))
			}
			writeFlags(w, "Flags", sub.LocalNonPersistentFlags())
			walk(sub)
		}
	}
	walk(root)
}

func writeFlags(w io.Writer, title string, fs *pflag.FlagSet) {
	var rows []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" {
			return
		}
		name, usage := pflag.UnquoteUsage(f)
		flag := "`--" + f.Name
		if f.Shorthand != "" {
			flag = "`-" + f.Shorthand + "`, " + flag
		}
		if name != "" {
			flag += " " + name
		}
		flag += "`"
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" && f.DefValue != "0" {
			def = "`" + f.DefValue + "`"
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s |", flag, strings.ReplaceAll(usage, "|", "\\|"), def))
	})
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n\n| flag | meaning | default |\n|---|---|---|\n%s\n\n", title, strings.Join(rows, "\n"))
}
