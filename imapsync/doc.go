// Package imapsync moves mail between IMAP servers and the local archive
// (package archive): Fetch downloads an account, Verify proves the archive
// holds it, Push uploads the archive to another account and VerifyDest
// proves that account holds it.
//
// # Fetch
//
// One connection lists the folders of the personal namespace (NAMESPACE
// prefix removed, the server's delimiter replaced by "/", modified UTF-7
// decoded) and their STATUS (LIST-STATUS when offered). Each folder's Maildir
// is reconciled with the index first, so that a crashed run leaves nothing
// behind; a folder whose files and index disagreed is scanned in full. On a
// server with CONDSTORE, a folder whose UIDVALIDITY, UIDNEXT, message count
// and HIGHESTMODSEQ are unchanged since its last complete fetch is skipped:
// an unchanged account costs one STATUS per folder. Without CONDSTORE, flag
// changes can only be found by listing the flags of every message, so every
// folder is scanned.
//
// Any other folder is scanned: EXAMINE (read-only), then UID FETCH of UID,
// FLAGS and RFC822.SIZE — for everything, or with CONDSTORE only for UIDs
// above the last UIDNEXT plus CHANGEDSINCE for flag changes (RFC 7162 §3.1.4),
// and UID SEARCH only when the counts say messages were expunged. New
// messages are cut into batches (500 messages or 32 MiB) which any of the
// connections fetch with one pipelined UID FETCH (BODY.PEEK[] and metadata),
// streaming each body to the archive's tmp/ directory; nothing holds a whole
// message in memory.
//
// # Push
//
// Push is the inverse of Fetch: every archived message is appended (APPEND,
// RFC 3501 §6.3.11) to the destination account with its exact bytes, its
// flags and keywords (as far as the destination's PERMANENTFLAGS allow) and
// its INTERNALDATE. Folders are created with the destination's namespace
// prefix and delimiter; a folder whose source had a special-use role (RFC
// 6154) goes to the destination's folder with that role.
//
// Nothing is appended twice. Before a batch of APPENDs is sent, one row per
// message is committed to the archive's push journal as "in flight"; when the
// server answers OK, the row becomes "done" with the UID from APPENDUID. A
// later run skips done rows whose folder still has the same UIDVALIDITY, and
// searches the destination for the messages of in-flight rows (and of done
// rows whose UIDVALIDITY changed): UID SEARCH HEADER Message-ID (or LARGER/
// SMALLER by size for messages without one), then the candidates' bytes are
// compared by SHA-256. Only messages not found are appended.
//
// Push and VerifyDest agree on where a message goes: in the folder its
// journal row names or, for a message the journal does not know, in the
// folder its route (PushOptions.Route) or else its archive folder maps to.
// When the route needs a message's header and its file cannot be read, that
// message fails in both; the others go on.
//
// # Connections
//
// Fetch, Push and both verifies handle their connections the same way:
//
//   - every connection of a run belongs to a set that closes them all when
//     the run's context ends, which also ends a read in progress;
//   - before a retry, fetch and push wait their Backoff option, doubled for
//     every further retry up to a cap: one minute for fetch, 30 s for push;
//   - a connection knows its selected mailbox and UIDVALIDITY; SELECT,
//     EXAMINE and UNSELECT go through the methods that keep them, and a
//     failed SELECT leaves nothing selected (RFC 3501 §6.3.1);
//   - a failure of this machine (the archive cannot be written: disk full,
//     index error) is a local error: no other connection would do better, so
//     the run ends with it instead of retrying.
//
// # Faults
//
// go-imap v2 (beta.8) has traps this package works around:
//
//   - read deadlines are fixed per response (30 s) or per literal (5 min), so
//     a huge message on a slow link fails while a server that never answers
//     hangs forever; a watchdog connection gives every read a fresh idle
//     timeout instead (Server.IdleTimeout);
//   - a literal cut short by a dropped connection reads like a complete one:
//     the byte count is checked against the literal's size;
//   - a FETCH response whose UID comes after the body is silently dropped:
//     the UIDs received are compared with those requested and the missing
//     ones fetched one by one by sequence number;
//   - draining a command after a broken literal races with the decoder: the
//     connection is closed first;
//   - every literal is read into memory whole unless it is a message body,
//     however large the server says it is (a LIST answered with a 3 GiB
//     name made the client hold 20 GB); and a mailbox name that is not
//     valid modified UTF-7 ("Q&A" sent raw) fails the whole LIST. A guard
//     between the connection and imapclient refuses (LimitError, not
//     retried) any literal over 64 KiB that is not a body, and drops the
//     LIST, LSUB or STATUS response of such a name, which fetch and verify
//     then report as that folder's failure while every other folder is
//     read. For the guard to see decrypted bytes, STARTTLS is done by dial
//     itself (bytes the server sends between its OK and TLS are refused);
//   - the protocol transcript (Server.Debug) and logged values are bounded
//     per line, so neither holds a body or a hostile server's endless name.
//
// A broken connection is reopened after the backoff and the batch continues
// where it stopped; a batch that keeps failing without progress is
// given up after FetchOptions.Retries attempts and its messages are reported
// as failures, while everything else goes on.
package imapsync
