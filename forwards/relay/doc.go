// Package relay is catchall's own forwarding host (catchall relay): an SMTP
// server for the user's domains that takes mail for the aliases of the plan,
// for signed burner addresses made on the spot and, if asked, for any
// address (the catch-all), and hands each message to one smarthost through
// a durable spool.
//
// # Flow
//
// New opens the Spool and the Store in Config.Spool and imports the plan
// (ImportPlan: the rows forwards.FromPlan can serve go into the Store); Run
// or Serve accepts connections until its context ends. A session routes
// every RCPT: an alias of the Store (a blocked one is refused 550 5.1.1), a
// burner SERVICE.TAG whose tag Config.Burner (a Signer) verifies, which is
// registered in the Store with its first mail, an SRS address of
// Config.SRS, which takes only bounces back to the original sender, or,
// with Config.CatchAll, any other address of the domains. DATA is streamed
// into a spool file, and the message is queued once the spool holds it.
//
// Config.Workers workers take due messages from the queue. Each message goes
// out once per Group (alias), in its own transaction with a Received line
// and an X-Catchall-Alias field (one that came with the message is
// dropped), from the sender rewritten with SRS when Config.SRS is set (the
// null sender and the user's own addresses stay as they are); a target that
// several aliases of
// the message forward to gets one copy. With Config.DKIM, a message the user
// sent (submission, or a reply to a reverse address) whose From: is at one
// of the relay's domains is signed for that domain (see DKIM) — forwarded
// mail only when the relay wrote its From: (reverse aliases), never as it
// came — over the bytes sent: the header fields the relay adds, then the
// spooled message, read twice from the spool file (once to sign, once to
// send) so that no message is held in memory. Temporary failures are tried again
// with backoff from Config.RetryMin to Config.RetryMax until Config.MaxAge.
// A message that failed for good is reported to its sender (a delivery
// status notification, RFC 3464) when the sender's SPF authorises the
// client that handed it over, and kept in SPOOL/failed otherwise.
//
// The plan file is imported again on Reload and, within seconds, whenever it
// changes or another process (catchall relay import) imported into the
// Store. AdminHandler serves /metrics and /healthz (Health, as JSON).
//
// # Breach watch and the digest
//
// With Config.BreachWatch, the poller reads the breach list
// (Config.Breaches) at start and then every period, and judges every row
// of the plan with breach.Decide, the rules of catchall breach. A breach
// neither recorded in the store (table breach_events) nor named in the
// row's breaches column changes the row as catchall breach would — its
// breach columns and, for a disposable alias, action block — unless the
// row is the user's (classify.Row.UserOwned); the plan is written (see
// EditPlan) and the event recorded once, blocked or flagged. With
// Config.Digest, one message a day or week (08:00 UTC, Mondays) goes to
// the default targets through the queue, from the null sender (KindDigest):
// new breaches, new burners, the aliases refusing the most, deliveries
// deferred or failed, the spool's free space; none for a quiet period.
// The last digest's time is in the store's meta table.
//
// # Admin API
//
// AdminHandler also serves JSON: GET /api/aliases (every plan row's cells,
// then the Store's aliases the plan does not have, each with messages_30d,
// refused_30d, daily — ActivityDays counts of forwarded and refused mail,
// oldest first — last_seen, note and breach), PATCH /api/aliases/{alias}
// (action, forward_to, tag, note: EditPlan, under the import lock, so the
// next SMTP command sees it) and POST /api/burners (a burner made with
// Config.Burner, recorded with its note and registered at once). The
// counts are kept per alias per UTC day in the Store (table daily), on
// Config.Clock. On loopback nothing needs a login; every change needs
// Content-Type: application/json (415) and an Origin, if any, of the
// listener itself, under a loopback Host (403; against DNS rebinding).
// Off loopback (Config.AdminTLS and Config.Users required) POST /login
// makes a session (cookie Secure, HttpOnly, SameSite=Strict, 256 random
// bits, AdminSessionTTL) with a CSRF token (also GET /api/session); the
// API and /metrics need it (401), every change the X-CSRF-Token header
// (403); failed logins are limited per client address (429) as AUTH is;
// a session ends when its user leaves the users file or gets a new
// password, and on POST /logout (a change: CSRF token and JSON type);
// /healthz stays open to a probe, but without a session answers only
// {"status": …} (200 or 503); on loopback it needs a loopback Host too.
//
// GET / is the dashboard (dashboard.go, web/): one page rendered from the
// same data, with its script and style under /static/ (open to all, the
// same for everyone), under a Content-Security-Policy that allows only the
// listener itself; off loopback without a session it is a login form that
// posts to /login (next=/: a redirect to / on success). GET /api/refusals
// is what the relay logs as "refused", kept in memory since its start:
// grouped by recipient and reason (at most MaxRefusalGroups), with counts
// by reason.
//
// # Submission
//
// With a submission listener (Config.Submission, ServeSubmission) the
// user's mail client sends through the relay: AUTH PLAIN against the users
// file (Config.Users, ReadUsers; argon2id hashes), offered only over TLS or
// on loopback (538 5.7.11 otherwise), slowed and limited per client
// address (454 4.7.0 once locked out) without locking the user out
// elsewhere. Nothing is taken before AUTH (530 5.7.0). MAIL FROM and the
// From: field must be addresses of the domains (553/550 5.7.1); a new one
// is registered (SourceSent, forwarding to the default targets, and in the
// senders table). RCPT may be anywhere, on this port only. The message is
// spooled like any other, as one Group of KindSend from the alias itself,
// with a Received line that names neither the client nor the user.
//
// # Reverse aliases
//
// With Config.ReverseAliases, forwarded mail (KindAlias) goes out with its
// header rewritten (rewrite.go; the header only, at most 1 MB, the body
// streamed from the spool): From: becomes
//
//	From: "Shop <shop@store.example> via catchall" <ra-XXXX@ALIAS-DOMAIN>
//
// a reverse address (ReversePrefix and 20 base32 characters, 100 random
// bits; no dot, so never a burner's SERVICE.TAG) that stands for that
// correspondent towards that alias, made once and kept in the Store (table
// reverse). The original From: fields are kept as X-Original-From. Each
// address of Reply-To, To and Cc that is not at the relay's domains gets its
// reverse address too, display name kept (groups are flattened; at most
// 50 reverse addresses per message), so that a reply, or a reply to all,
// goes through the relay; the original Reply-To is kept as
// X-Original-Reply-To. A To or Cc that cannot be parsed, or names an
// address mail cannot be sent to, is kept only as X-Original-To or
// X-Original-Cc (a reply to all would go around the relay), a Reply-To as
// X-Original-Reply-To. A From: that is missing, repeated or cannot be
// parsed is replaced by one for the envelope sender; with the null sender
// as well, the message goes out as it came (and unsigned). X-Original-*
// fields that came with the message are dropped. Such a message is
// signed: its From: is the relay's.
//
// Mail to a reverse address is a reply from the user (KindReply), taken
//
//   - on the submission port, from any authenticated user;
//   - on port 25, when MAIL FROM is an address the alias forwards to
//     (Config.DefaultTargets for an address the Store does not have), the
//     From: field is that address, and either its SPF passes for the
//     client (Config.Resolver) or the message carries a DKIM signature
//     that verifies for its From: domain or a parent of it (keys looked
//     up with Config.Resolver). RCPT to a known reverse address is taken
//     from any sender alike and all of this is decided at the end of DATA,
//     so that the answer to RCPT does not tell whether MAIL FROM is the
//     user's address;
//   - from anyone else: 550 5.7.1 at the end of DATA, the same text for
//     every reason, which costs the client a rate token like every
//     refusal. An unknown reverse-shaped address is 550 at RCPT.
//
// It goes to the correspondent from the alias (envelope sender the alias,
// no SRS), with From: the alias (the user's display name kept); Sender,
// Return-Path, the incoming Received lines (they name the user's host and
// address), DKIM-Signature, ARC and Authentication-Results fields dropped;
// in Reply-To, To and Cc reverse addresses turned back into their
// correspondents and the user's addresses (the alias's targets, the
// default targets, the envelope sender) into the alias. Only From, To,
// Cc, Reply-To, Subject, Date, Message-ID (hashed), In-Reply-To and
// References (the user's IDs hashed the same way) and the MIME and
// priority fields are kept (replyKeep); any of them that still names one
// of the user's addresses (encoded words decoded) is dropped; the body is not
// looked at (a quoted "On …, me@home wrote:" is the user's to edit). The
// relay's own Received line names neither the client nor the user, and
// the message is signed for the alias's domain. Without ReverseAliases no
// new reverse address is made, and the ones made before still take
// replies.
//
// # Burners into the plan
//
// catchall relay export (ExportPlan, Export) brings the Store's burners into
// the plan file, so that the plan is again the one list of every address:
// one row per burner with source "burner", service_domain the service name,
// and the columns note, first_seen and last_seen (YYYY-MM-DD, UTC) from the
// Store. A new row's tag is disposable and its action and forward_to are
// the Store's (forward with an empty forward_to, the default target, for a
// burner no mail has come to yet). Like classify, export records what it
// proposed in auto_tag, auto_action and auto_forward_to: a row whose values
// differ from them, or whose source is manual, is the user's and keeps its
// tag, action and forward_to; so does a row the plan already gave the relay
// (source plan in the Store: the plan said so). Only note, first_seen and
// last_seen are refreshed on those. Other rows and columns are left as they
// are.
//
// # Spool
//
//	SPOOL/relay.db         the Store (SQLite): aliases, burners, statistics,
//	                       reverse addresses
//	SPOOL/tmp/ID           a message being received
//	SPOOL/queue/ID         a message accepted: the line "CATCHALL-SPOOL 1 "
//	                       and its Envelope as JSON, then the message bytes
//	SPOOL/queue/ID.state   its delivery State once an attempt left work to do
//	SPOOL/failed/ID        failed for good, its sender not told (with ID.state)
//	SPOOL/corrupt/ID       a spool file that cannot be read, left for the operator
//
// Directories are created 0700 and files 0600.
//
// # What it never does
//
// The relay never answers 250 to a message it has not made durable: the
// spool file is fsynced, renamed into SPOOL/queue and the directory fsynced
// before the client hears it (after a failed directory fsync it takes the
// copy back and tells the client to try again). A message it accepted never
// just disappears: it is
// delivered, reported to a sender that can be trusted, or kept in
// SPOOL/failed or SPOOL/corrupt. The one duplicate it allows: a delivered
// message's removal is not fsynced, so a power cut may send it again.
//
// It never relays for domains that are not the user's (554 5.7.1), nor
// through address literals, %-hacks, bang paths or quoted local parts;
// never sends a failure report to the null sender, about a report, or to a
// sender whose SPF does not authorise the client that handed the message
// over (backscatter); never names in a report, or in its log of a refusal, where
// an alias forwards to; never lets an SRS address carry anything but a
// bounce. The running relay writes the plan file only for an edit through
// the admin API and for the breach watch (EditPlan, changePlan: the named
// cells of the named rows, checked as an import would, written atomically
// under the import lock); otherwise it reads it, and keeps the last good
// plan while the file has mistakes.
//
// # Faults
//
// go-smtp (v0.25) has traps the relay works around:
//
//   - Server.ReadTimeout is a deadline set when a command line is read, so a
//     large DATA on a slow link is cut however steadily it moves, and after
//     a timeout in DATA the rest of the message is read as commands
//     (emersion/go-smtp#196): the relay leaves it unset and wraps every
//     connection instead, with an idle timeout that restarts at each read and
//     write, capped by Config.MaxSession, after which every read fails;
//   - a quoted local part in MAIL FROM comes out unquoted, so a space,
//     quote, backslash or control character in it could not be sent on: such
//     a sender is refused (553 5.1.7);
//   - Session.Data runs in a goroutine of its own for BDAT, which a RSET can
//     overlap: a session's state is guarded by a mutex, and Data works on a
//     copy.
//
// go-msgauth (v0.7) has traps the DKIM signing works around or lives with:
//
//   - dkim.Sign holds the whole message in memory to put the signature
//     first: the relay uses dkim.NewSigner and reads the spool file twice;
//   - the signer takes t= from time.Now, not from Config.Clock;
//   - its relaxed body canonicalization holds a run of empty lines until
//     the next text, so a body of empty lines is held whole (at most
//     Config.MaxSize), and it allocates as much as it is given (garbage);
//   - its signer holds the header: the relay signs no message whose header
//     is over 1 MB.
//
// Hostile or broken clients get an SMTP answer: a line ending
// other than CRLF in DATA (SMTP smuggling) is refused 550 5.6.0, a line over
// MaxLineLength 554 5.6.0, more than MaxHops Received lines 554 5.4.6; a
// client is limited in connections (per IPv4 address or IPv6 /64, and in
// all), in messages and refused recipients per minute (Config.RatePerMinute:
// one bucket per IPv4 address or IPv6 /64; a refused recipient costs a token
// too, even from an empty bucket, and while a client owes tokens every RCPT
// gets 450 4.7.1 unexamined), and in refused recipients per session (so
// burner tags and SRS hashes cannot be guessed).
// A full disk answers 452 4.3.1 and any other spool error 451. Towards the smarthost, a refused
// MAIL FROM (a quota of the relay's account) is temporary for every
// message, a refused login is logged once, counted and shown on /healthz
// until a login works, and a reused connection found dead is replaced once
// at no cost to the message.
package relay
