package classify

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/catchall/catchall/internal/csvsafe"
)

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}

// topKeys returns up to n keys of m, most counted first, as "key (n)".
func topKeys(m map[string]int, n int, withCount bool) string {
	type kv struct {
		k string
		v int
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v || l[i].v == l[j].v && l[i].k < l[j].k })
	var parts []string
	for _, e := range l[:min(n, len(l))] {
		if withCount {
			parts = append(parts, fmt.Sprintf("%s:%d", e.k, e.v))
		} else {
			parts = append(parts, e.k)
		}
	}
	return strings.Join(parts, " ")
}

func (s *Stats) topSenders(n int) string {
	var parts []string
	for _, snd := range s.TopSenders(n) {
		parts = append(parts, fmt.Sprintf("%s:%d", snd.Domain, snd.Messages))
	}
	return strings.Join(parts, " ")
}

func percent(n, of int) int {
	if of == 0 {
		return 0
	}
	return (100*n + of/2) / of
}

// AliasRecord is one row of `catchall aliases`, for CSV and JSON.
type AliasRecord struct {
	Alias        string   `json:"alias"`
	Messages     int      `json:"messages"`
	Sent         int      `json:"sent"`
	FirstSeen    string   `json:"first_seen"`
	LastSeen     string   `json:"last_seen"`
	Folders      []string `json:"folders"`
	TopSenders   []string `json:"top_senders"`
	Replies      int      `json:"replies"`
	BulkPercent  int      `json:"bulk_percent"`
	RevealedBy   string   `json:"revealed_by"`
	Subaddresses []string `json:"subaddresses,omitempty"`
	Ambiguous    int      `json:"ambiguous,omitempty"`
}

// Records returns the inventory as records, sorted by address.
func (inv *Inventory) Records() []AliasRecord {
	var out []AliasRecord
	for _, s := range inv.Sorted() {
		out = append(out, AliasRecord{
			Alias: s.Alias, Messages: s.Received, Sent: s.Sent, FirstSeen: day(s.First), LastSeen: day(s.Last),
			Folders: strings.Fields(topKeys(s.Folders, 5, false)), TopSenders: strings.Fields(s.topSenders(3)),
			Replies: s.Replies, BulkPercent: percent(s.Bulk, s.Received), RevealedBy: s.Revealed(),
			Subaddresses: strings.Fields(topKeys(s.Subaddress, 10, false)), Ambiguous: s.Ambiguous,
		})
	}
	return out
}

// Summary is the one-line account of what the inventory read.
func (inv *Inventory) Summary() string {
	final := "none stood out"
	if inv.FinalMailbox != "" {
		n := 0
		if inv.Final != nil {
			n = inv.Final.Received
		}
		final = fmt.Sprintf("%s (%d messages to it directly)", inv.FinalMailbox, n)
	}
	return fmt.Sprintf("%d aliases at %s in %d messages; final mailbox %s; recipient unknown for %d, %d drafts ignored, %d unreadable",
		len(inv.Aliases), strings.Join(inv.Domains, ", "), inv.Messages, final, inv.Unknown, inv.Drafts, inv.Unreadable)
}

// WriteTable writes an aligned table, sorted by address, and the summary.
func (inv *Inventory) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ALIAS\tMSGS\tSENT\tFIRST\tLAST\tREPLIES\tBULK\tTOP SENDERS\tFOLDERS\tREVEALED BY")
	for _, r := range inv.Records() {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%d\t%d%%\t%s\t%s\t%s\n", r.Alias, r.Messages, r.Sent, r.FirstSeen, r.LastSeen,
			r.Replies, r.BulkPercent, strings.Join(r.TopSenders, " "), strings.Join(r.Folders, " "), r.RevealedBy)
	}
	tw.Flush()
	fmt.Fprintln(w, inv.DomainsLine())
	fmt.Fprintln(w, inv.Summary())
}

// WriteCSV writes the records as CSV with a header row.
func (inv *Inventory) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"alias", "messages", "sent", "first_seen", "last_seen", "folders", "top_senders", "replies", "bulk_percent", "revealed_by", "subaddresses", "ambiguous"})
	for _, r := range inv.Records() {
		cw.Write(csvsafe.Record([]string{r.Alias, strconv.Itoa(r.Messages), strconv.Itoa(r.Sent), r.FirstSeen, r.LastSeen,
			strings.Join(r.Folders, " "), strings.Join(r.TopSenders, " "), strconv.Itoa(r.Replies),
			strconv.Itoa(r.BulkPercent), r.RevealedBy, strings.Join(r.Subaddresses, " "), strconv.Itoa(r.Ambiguous)}))
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes the records and the summary as one JSON object.
func (inv *Inventory) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{
		"domains": inv.Domains, "domain_evidence": inv.Evidence, "final_mailbox": inv.FinalMailbox, "messages": inv.Messages,
		"unknown_recipient": inv.Unknown, "drafts": inv.Drafts, "unreadable": inv.Unreadable,
		"aliases": inv.Records(),
	})
}

// Rows tags every alias and returns the plan rows classify proposes.
func (c *Config) Rows(inv *Inventory) []Row {
	var rows []Row
	for _, s := range inv.Sorted() {
		v := c.Classify(s)
		if _, err := SafeAddress(s.Alias); err != nil {
			// Kept, so that the user sees it; every target leaves it out.
			v.Reasons = append([]string{"cannot be forwarded safely: " + unsafeWhy(err)}, v.Reasons...)
		}
		rows = append(rows, Row{
			"alias": s.Alias, "tag": string(v.Tag), "action": string(v.Action), "forward_to": v.ForwardTo,
			"confidence": strconv.FormatFloat(v.Confidence, 'f', 2, 64), "reasons": strings.Join(v.Reasons, "; "),
			"messages": strconv.Itoa(s.Received), "sent": strconv.Itoa(s.Sent),
			"first_seen": day(s.First), "last_seen": day(s.Last), "service_domain": v.Service,
			"folders": topKeys(s.Folders, 5, false), "top_senders": s.topSenders(3), "revealed_by": s.Revealed(),
			"subaddresses": topKeys(s.Subaddress, 10, false), "source": SourceAuto,
			"leak_since": day(v.LeakSince), "unrelated_senders": strconv.Itoa(v.Unrelated),
			"auto_tag": string(v.Tag), "auto_action": string(v.Action), "auto_forward_to": v.ForwardTo,
		})
	}
	return rows
}

// Counts returns how many rows of the plan have each tag, and how many are
// blocked.
func (p *Plan) Counts() (tags map[string]int, blocked int) {
	tags = map[string]int{}
	for _, r := range p.Rows {
		tags[r["tag"]]++
		if r["action"] == string(ActionBlock) {
			blocked++
		}
	}
	return tags, blocked
}

// unsafeWhy is the part of a SafeAddress error after the address.
func unsafeWhy(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "\": "); i >= 0 {
		return msg[i+3:]
	}
	return msg
}
