// Package classify reads a mail store, finds every alias of a catch-all
// mailbox in it, and proposes what to do with each: the plan that the user
// reviews and that every later step (breach, report, forwards, the relay)
// reads.
//
// # Flow
//
// A Source yields the header, folder, folder Role and date of every message:
// ArchiveSource (the archive fetch wrote), MaildirSource (a Maildir or a
// tree of them, nested or Maildir++ dot-folders) and MboxSource. Build reads
// a sample to learn the user's domains and final mailbox (unless Options
// names them), then every message, and returns an Inventory: for each alias
// at the user's domains its Stats (messages received and sent, first and
// last seen, folders, correspondent domains, bulk mail, replies, …). The
// alias a message was sent to is the one User.Recipient finds in its
// delivery headers.
//
// Config.Classify turns an alias's Stats into a Verdict: a Tag (personal,
// business, disposable), an Action (forward, block), forward_to, a
// Confidence and Reasons a person can check. It starts from built-in
// knowledge (role names, business services, freemail and bulk-mail
// platforms, bulk headers, signup subjects) and the user's Config (known
// aliases, Rules, which win). Config.Rows makes a plan Row of every alias,
// Plan.MergeAt folds those rows into the plan file the user may have edited,
// and Plan.Write stores it. catchall aliases prints the Inventory instead
// (WriteTable, WriteCSV, WriteJSON).
//
// classify/breach then marks the aliases that were exposed in a data breach
// or leaked, and classify/report renders a plan as a page to review.
//
// # Which domains are the user's
//
// Only what the receiving host wrote, what the user did and where the mail
// ended up count as evidence that a domain delivered into this mailbox:
//
//   - delivery headers above the top-most Received (X-Original-To,
//     Delivered-To, Envelope-To, X-Envelope-To, …) and "for <addr>" in that
//     top-most Received, which the user's own server added;
//   - the final mailbox, the Delivered-To present in most messages;
//   - the Sent folder: addresses the user sent from.
//
// To and Cc alone never count (anyone can write anything there), list mail
// (List-Id) never counts (the list's own headers name the list), and a
// domain named in only a handful of messages is not taken: a mailbox that
// holds someone else's mail (a test file, a forwarded conversation) must not
// turn their domain into the user's. When the evidence is weak, Build stops
// with a *DomainError and the user names the domain with --domain.
//
// # Plan file
//
// The plan is what the user reviews and edits: one row per alias, as CSV with
// a header row or, for a file name ending in .json, a JSON array of objects
// with the same keys. Required columns, in any order: alias, tag, action,
// forward_to (what each edit means is in the README, "Editing the plan by
// hand"). classify adds statistics and the columns auto_tag, auto_action and
// auto_forward_to, which record what it proposed: a row whose tag, action or
// forward_to differs from them was edited by the user, and keeps the user's
// values on every re-run (as does a row whose source is "manual"). Columns
// catchall does not know are kept as they are.
//
// # What it never does
//
// Package classify never contacts the network: everything it knows is built
// in or comes from the Config, and the public-suffix list is the one compiled
// into golang.org/x/net/publicsuffix (classify/breach asks Have I Been Pwned,
// and only when told to). It looks at nothing but headers (at most MaxHeader
// bytes of each message) and never changes the mail it reads. It never drops
// an alias it found: one no target can express (SafeAddress) stays in the
// plan, its reasons saying why, and every later step leaves it out, naming
// it. It never overwrites a tag, action or forward_to the user owns
// (Row.Edited, Row.UserOwned), and never leaves half a plan file behind
// (WriteFileAtomic).
//
// # Faults
//
// Mail is malformed, hostile or someone else's; none of that stops a run:
//
//   - headers are read as they are (ParseHeader): bare LF, 8-bit bytes,
//     lines without a colon and a header cut at MaxHeader are no error, and
//     Addresses finds every local@domain token in a value, decoding RFC 2047
//     words, rather than failing on a broken list;
//   - a message file that cannot be read is counted (Inventory.Unreadable)
//     and skipped;
//   - header fields below the top-most Received were written by the sender
//     and are not trusted for the recipient (see User.Recipient); To and Cc
//     come last, and several candidates there are counted as ambiguous;
//   - folder roles come from the SPECIAL-USE attributes fetch recorded, else
//     from the name of a top-level folder in the usual languages, so that a
//     user's "Newsletters/Entwürfe" is ordinary mail; Maildir folder names in
//     modified UTF-7 are decoded (DecodeMUTF7);
//   - ReadPlan reports a plan with mistakes whole, every problem with its
//     line (CSV) or entry (JSON), in an error wrapping ErrPlan, and changes
//     nothing; a spreadsheet's byte-order mark is ignored, and a cell a
//     spreadsheet would evaluate is written with a leading apostrophe that
//     the reader removes again (internal/csvsafe).
package classify
