// Command gencorpus writes a generated catch-all mailbox (see package
// internal/corpus) as a Maildir tree with keywords.tsv and truth.json.
//
// truth.json is corpus.Truth: "domain", "domains" (the user's own domains),
// "final_mailbox", "folders", "noselect", "aliases" (each with "address",
// "tag", "service", "leaked", "breaches", "never_given" and "action"),
// "messages" and "breaches".
//
// Usage:
//
//	go run ./scripts/gencorpus -out DIR [-messages N] [-seed S] [-domain D] [-huge N] [-huge-size BYTES] [-no-odd]
//
// It prints one summary line: messages, folders, aliases and bytes written.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/catchall/catchall/internal/corpus"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gencorpus", flag.ContinueOnError)
	out := fs.String("out", "", "directory to write the Maildir tree to (required)")
	messages := fs.Int("messages", 2000, "number of ordinary messages")
	seed := fs.Int64("seed", 1, "random seed; the same seed gives the same corpus")
	domain := fs.String("domain", "catchall.test", "the catch-all domain")
	huge := fs.Int("huge", 1, "number of huge messages")
	hugeSize := fs.Int64("huge-size", 8<<20, "approximate size of each huge message in bytes")
	noOdd := fs.Bool("no-odd", false, "leave out malformed and binary messages")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *out == "" {
		fs.Usage()
		return errors.New("-out is required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *messages < 0 || *huge < 0 || *hugeSize <= 0 {
		return errors.New("-messages and -huge must not be negative, -huge-size must be positive")
	}
	opts := &corpus.Options{Seed: *seed, Messages: *messages, Domain: *domain, HugeMessages: *huge,
		HugeSize: *hugeSize, NoOdd: *noOdd}
	// Zero means "default" in Options; here it means none.
	if *messages == 0 {
		opts.Messages = -1
	}
	if *huge == 0 {
		opts.HugeMessages = -1
	}
	c := corpus.Generate(opts)
	if err := c.WriteMaildir(*out); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	var bytes int64
	for _, m := range c.Messages {
		bytes += m.Size
	}
	fmt.Printf("gencorpus: %d messages, %d folders, %d aliases, %d bytes in %s\n",
		len(c.Messages), len(c.Folders), len(c.Aliases), bytes, *out)
	return nil
}
