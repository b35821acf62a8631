package relay

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Config.Digest values.
const (
	DigestOff    = ""
	DigestDaily  = "daily"  // at 08:00 UTC
	DigestWeekly = "weekly" // on Monday at 08:00 UTC
)

// digestSlot is the latest time at or before now a digest is due.
func digestSlot(now time.Time, every string) time.Time {
	t := now.UTC()
	slot := time.Date(t.Year(), t.Month(), t.Day(), 8, 0, 0, 0, time.UTC)
	if slot.After(t) {
		slot = slot.AddDate(0, 0, -1)
	}
	if every == DigestWeekly {
		slot = slot.AddDate(0, 0, -((int(slot.Weekday()) + 6) % 7))
	}
	return slot
}

// queuedMessage is a message of the spool's queue or failed directory.
type queuedMessage struct {
	ID       string
	Received time.Time
	State    State
}

// scanDir reads the envelopes and states of the messages in dir (the
// queue or SPOOL/failed) without changing anything.
func scanDir(dir string) ([]queuedMessage, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []queuedMessage
	for _, e := range ents {
		if !validID(e.Name()) {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // delivered meanwhile
		}
		env, _, err := readEnvelope(f)
		f.Close()
		if err != nil {
			continue
		}
		m := queuedMessage{ID: e.Name(), Received: env.Received}
		if b, err := os.ReadFile(filepath.Join(dir, e.Name()+".state")); err == nil {
			json.Unmarshal(b, &m.State)
		}
		out = append(out, m)
	}
	return out, nil
}

// digest is what a digest reports.
type digest struct {
	breaches []BreachEvent
	burners  []Burner
	refused  map[string]int64 // refusals in the period, per alias
	total    map[string]int64 // refusals in all, for the next period
	deferred []queuedMessage  // in the queue after a failed attempt
	failed   []queuedMessage  // kept in SPOOL/failed in the period
}

func (d *digest) quiet() bool {
	return len(d.breaches) == 0 && len(d.burners) == 0 && len(d.refused) == 0 && len(d.deferred) == 0 && len(d.failed) == 0
}

// digestLast returns when the last digest was due; ok is false before the first.
func (s *Store) digestLast() (t time.Time, ok bool, err error) {
	var v int64
	err = s.db.QueryRow(`SELECT value FROM meta WHERE key = 'digest_last'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	return time.Unix(v, 0), err == nil, err
}

// claimDigest moves the time of the last digest from last to t, unless
// another relay sharing the store did so first (then false).
func (s *Store) claimDigest(last, t time.Time) (bool, error) {
	res, err := s.db.Exec(`UPDATE meta SET value = ? WHERE key = 'digest_last' AND value = ?`, t.Unix(), last.Unix())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// markDigest records that the digest of the period up to t is done, and
// the refusal counts it started from.
func (s *Store) markDigest(t time.Time, refused map[string]int64) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO meta (key, value) VALUES ('digest_last', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, t.Unix()); err != nil {
		return err
	}
	for a, n := range refused {
		if _, err := tx.Exec(`INSERT INTO digest_refused (alias, refused) VALUES (?, ?) ON CONFLICT(alias) DO UPDATE SET refused = excluded.refused`, a, n); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// refusals returns every alias's refusals in all, and those since the last digest.
func (s *Store) refusals() (total, since map[string]int64, err error) {
	if err := s.Flush(); err != nil {
		return nil, nil, err
	}
	rows, err := s.db.Query(`SELECT st.alias, st.refused, coalesce(d.refused, 0) FROM stats st LEFT JOIN digest_refused d ON d.alias = st.alias`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	total, since = map[string]int64{}, map[string]int64{}
	for rows.Next() {
		var a string
		var n, base int64
		if err := rows.Scan(&a, &n, &base); err != nil {
			return nil, nil, err
		}
		total[a] = n
		if n > base {
			since[a] = n - base
		}
	}
	return total, since, rows.Err()
}

// digestTick sends the digest when one is due (the poller calls it).
func (r *Relay) digestTick() {
	if r.cfg.Digest == DigestOff || !r.store.State().Reachable {
		return // (an unreachable store is logged once by the poller; the digest follows when it is back)
	}
	if err := r.sendDigest(); err != nil {
		r.log.Error("digest not sent; trying again shortly", "err", err)
	}
}

// sendDigest queues one digest for the period since the last one when a
// digest time (digestSlot) passed since then and something happened; the
// first start only starts the first period.
func (r *Relay) sendDigest() error {
	now := r.cfg.Clock.Now()
	last, ok, err := r.store.digestLast()
	if err != nil {
		return err
	}
	if !ok {
		total, _, err := r.store.refusals()
		if err != nil {
			return err
		}
		return r.store.markDigest(now, total)
	}
	slot := digestSlot(now, r.cfg.Digest)
	if !slot.After(last) {
		return nil
	}
	d := &digest{}
	if d.breaches, err = r.store.BreachEvents(last); err != nil {
		return err
	}
	burners, err := r.store.Burners()
	if err != nil {
		return err
	}
	for _, b := range burners {
		if b.Created.After(last) && !b.Created.After(now) {
			d.burners = append(d.burners, b)
		}
	}
	if d.total, d.refused, err = r.store.refusals(); err != nil {
		return err
	}
	queued, err := scanDir(r.spool.queue)
	if err != nil {
		return err
	}
	for _, m := range queued {
		if m.State.Attempts > 0 {
			d.deferred = append(d.deferred, m)
		}
	}
	failed, _ := scanDir(filepath.Join(r.spool.dir, "failed"))
	for _, m := range failed {
		// The last attempt was due at State.Next (zero for the first).
		if at := m.Received; m.State.Next.After(at) {
			m.Received = m.State.Next
		}
		if m.Received.After(last) {
			d.failed = append(d.failed, m)
		}
	}
	// Relays sharing a store make one digest per period between them: the
	// first to move digest_last on from last makes it (its deferred and
	// failed sections are of its own spool). Should queuing it fail, the
	// claim is given back, and the next poll tries again.
	if won, err := r.store.claimDigest(last, now); err != nil || !won {
		return err
	}
	if d.quiet() {
		r.log.Info("digest: a quiet period, nothing to send", "since", last.UTC().Format(time.RFC3339))
		return r.store.markDigest(now, d.total)
	}
	to := r.rt.Load().defaults
	if len(to) == 0 {
		r.log.Warn("digest not sent: no default target to send it to (give --forward-to)")
		return r.store.markDigest(now, d.total)
	}
	env := &Envelope{ID: NewID(), Received: now.UTC(), DSN: true, Groups: []Group{{Targets: to, Kind: KindDigest}}}
	if err := r.queueDigest(env, d, slot, to); err != nil {
		_, uerr := r.store.claimDigest(now, last)
		return errors.Join(err, uerr)
	}
	r.queue.add(env.ID, time.Time{})
	r.log.Info("digest queued", "id", env.ID, "to", strings.Join(to, " "))
	return r.store.markDigest(now, d.total)
}

// queueDigest puts the digest d into the spool as env.
func (r *Relay) queueDigest(env *Envelope, d *digest, slot time.Time, to []string) error {
	w, err := r.spool.Create(env)
	if err != nil {
		return err
	}
	if err := r.writeDigest(w, d, slot, to); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

// writeDigest writes the digest message: a plain text in sections.
func (r *Relay) writeDigest(w *SpoolWriter, d *digest, slot time.Time, to []string) error {
	domains := make([]string, 0, len(r.rt.Load().domains))
	for dom := range r.rt.Load().domains {
		domains = append(domains, dom)
	}
	slices.Sort(domains)
	from := "postmaster@" + headerSafe(domains[0], "localhost")
	period := "the week of " + slot.AddDate(0, 0, -7).Format("Mon 2 Jan 2006")
	if r.cfg.Digest == DigestDaily {
		period = slot.AddDate(0, 0, -1).Format("Mon 2 Jan 2006")
	}
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format+"\r\n", a...) }
	p("From: catchall relay <%s>", from)
	p("To: %s", strings.Join(to, ", "))
	p("Subject: catchall: %s", period)
	p("Date: %s", r.cfg.Clock.Now().Format(time.RFC1123Z))
	p("Message-ID: <%s@%s>", NewID(), headerSafe(r.cfg.Hostname, "localhost"))
	p("Auto-Submitted: auto-generated")
	p("MIME-Version: 1.0")
	p("Content-Type: text/plain; charset=utf-8")
	p("Content-Transfer-Encoding: quoted-printable")
	p("")
	qp := quotedprintable.NewWriter(bw)
	t := func(format string, a ...any) { fmt.Fprintf(qp, format+"\r\n", a...) }
	t("What your catchall relay saw, %s.", period)
	if len(d.breaches) > 0 {
		t("")
		t("New breaches")
		for _, e := range d.breaches {
			t("  %s: %s (%s), %s", e.Alias, e.Breach, e.BreachDate, e.Done)
		}
	}
	if len(d.burners) > 0 {
		t("")
		t("New burners")
		for _, b := range d.burners {
			line := "  " + b.Address + " (" + b.Service + ")"
			if b.Note != "" {
				line += ": " + strings.Join(strings.Fields(b.Note), " ")
			}
			t("%s", line)
		}
	}
	if len(d.refused) > 0 {
		t("")
		t("Aliases refusing the most")
		aliases := make([]string, 0, len(d.refused))
		for a := range d.refused {
			aliases = append(aliases, a)
		}
		slices.SortFunc(aliases, func(a, b string) int {
			if c := int(d.refused[b] - d.refused[a]); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
		for _, a := range aliases[:min(len(aliases), 10)] {
			t("  %s: %d refused", a, d.refused[a])
		}
	}
	if len(d.deferred) > 0 || len(d.failed) > 0 {
		t("")
		t("Deliveries deferred or failed")
		for _, m := range d.deferred {
			t("  deferred %s, received %s, %d attempts: %s", m.ID, m.Received.UTC().Format(time.RFC3339), m.State.Attempts, m.State.LastError)
		}
		for _, m := range d.failed {
			why := ""
			if len(m.State.Failed) > 0 {
				why = ": " + m.State.Failed[0].Status + " " + m.State.Failed[0].Reason
			}
			t("  failed %s (kept in SPOOL/failed)%s", m.ID, why)
		}
	}
	t("")
	if free, total, err := diskFree(r.cfg.Spool); err == nil {
		t("Spool disk: %.1f GB free of %.1f GB", float64(free)/1e9, float64(total)/1e9)
	} else {
		t("Spool disk: free space unknown (%s)", oneLine(err))
	}
	if err := qp.Close(); err != nil {
		return err
	}
	return bw.Flush()
}
