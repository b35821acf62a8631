package forwards

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/internal/csvsafe"
)

// SimpleLogin writes the CSV of SimpleLogin's alias import ("alias",
// "note", "mailboxes": space-separated). The import has no enabled column:
// blocked aliases are written without mailboxes and a note saying so, to
// be disabled by hand after the import.
type SimpleLogin struct{}

// Addy writes the CSV of addy.io's (formerly AnonAddy) alias import
// (alias, description, recipients: comma-separated in one field), at most
// 1000 rows a file. Like SimpleLogin it has no active column.
type Addy struct{}

// Name implements Format and Importer.
func (SimpleLogin) Name() string { return "simplelogin" }

// Name implements Format and Importer.
func (Addy) Name() string { return "addy" }

const (
	// xtraBlockedNote marks the rows of blocked aliases; the importers
	// read it back as a block.
	xtraBlockedNote = "blocked by catchall: disable this alias"
	addyMaxRows     = 1000 // rows per import file
	addyMaxTargets  = 10   // recipients per alias
)

// xtraNote is the note of a forwarded alias: its tag, if any.
func xtraNote(r Rule) string {
	if r.Tag == "" {
		return ""
	}
	return "catchall: " + string(r.Tag)
}

// xtraCSV writes rows with encoding/csv, every cell spreadsheet-safe
// (internal/csvsafe): a cell a spreadsheet would evaluate gets a leading
// apostrophe.
func xtraCSV(rows [][]string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	for _, r := range rows {
		w.Write(csvsafe.Record(slices.Clone(r)))
	}
	w.Flush()
	if err := w.Error(); err != nil {
		panic(err) // writing to a buffer cannot fail
	}
	return b.Bytes()
}

// CheckRule implements RuleChecker: the service reads the cells as they
// are, so an address a spreadsheet would evaluate (it is written with a
// leading apostrophe, see internal/csvsafe) cannot be imported there.
func (SimpleLogin) CheckRule(r Rule) error { return xtraCellSafe(r) }

// CheckRule implements RuleChecker, as for SimpleLogin.
func (Addy) CheckRule(r Rule) error { return xtraCellSafe(r) }

func xtraCellSafe(r Rule) error {
	for _, a := range append([]string{r.Alias}, r.Targets...) {
		if csvsafe.Escape(a) != a {
			return fmt.Errorf("%s begins with a character a spreadsheet evaluates (= + - @ '); the import would receive it with an apostrophe", a)
		}
	}
	return nil
}

// Generate implements Format.
func (SimpleLogin) Generate(in *Input) (*Output, error) {
	in, unsafe := withoutUnsafe(SimpleLogin{}, in)
	if err := xtraCheck(in); err != nil {
		return nil, err
	}
	rows := [][]string{{"alias", "note", "mailboxes"}}
	var blocked []string
	for _, r := range in.Rules {
		if r.Action == classify.ActionBlock {
			blocked = append(blocked, r.Alias)
			rows = append(rows, []string{r.Alias, xtraBlockedNote, ""})
			continue
		}
		rows = append(rows, []string{r.Alias, xtraNote(r), strings.Join(r.Targets, " ")})
	}
	out := &Output{Files: []File{{Name: "aliases.csv", Data: xtraCSV(rows)}}}
	domains := xtraDomains(in)
	steps := []string{
		fmt.Sprintf("Add %s as custom domains (Domains), with the MX, SPF, DKIM and DMARC records SimpleLogin shows, until each is verified.", strings.Join(domains, ", ")),
		fmt.Sprintf("Add every target as a mailbox (Mailboxes) and verify it: %s.", strings.Join(xtraAllTargets(in), ", ")),
		"Upload aliases.csv in Settings > Alias import (batch import). The import runs in the background; the aliases appear in the dashboard when it is done.",
	}
	if len(blocked) > 0 {
		steps = append(steps, fmt.Sprintf("Disable the blocked aliases (the switch of each alias in the dashboard); their note says \"%s\":\n%s", xtraBlockedNote, xtraIndentList(blocked)))
	}
	if in.CatchAll != "" {
		steps = append(steps, fmt.Sprintf("For the catch-all, turn on the catch-all (auto-create) option of each domain and make %s its default mailbox.", in.CatchAll))
	}
	out.Install = "Installing the aliases in SimpleLogin\n=====================================\n\n" + xtraSteps(steps)

	out.Limits = append(out.Limits,
		"SimpleLogin imports aliases only into a custom domain verified in the account (custom domains are a Premium feature), and forwards only to verified mailboxes of the account: a target that is not one is skipped without a message, and an alias left without mailboxes goes to the default mailbox.",
		"SimpleLogin's import skips, without a message, aliases that already exist in SimpleLogin or were deleted there before.",
	)
	if len(blocked) > 0 {
		out.Limits = append(out.Limits, fmt.Sprintf("SimpleLogin's alias import has no enabled column: the blocked aliases are created enabled, delivering to your default mailbox, until you disable each of them (%s: %s).", xtraPlural(len(blocked), "alias"), xtraList(blocked)))
	}
	if in.CatchAll != "" {
		out.Limits = append(out.Limits, fmt.Sprintf("SimpleLogin has no catch-all address: its catch-all creates an alias for each new address, delivering to the domain's default mailbox, which must be %s.", in.CatchAll))
	}
	out.Limits = append(out.Limits, unsafe...)
	return out, nil
}

// Generate implements Format.
func (Addy) Generate(in *Input) (*Output, error) {
	in, unsafe := withoutUnsafe(Addy{}, in)
	if err := xtraCheck(in); err != nil {
		return nil, err
	}
	var rows [][]string
	var blocked, plus, tooMany []string
	bases := map[string]string{}
	var clash []string
	for _, r := range in.Rules {
		local, domain, _ := strings.Cut(r.Alias, "@")
		if base, _, ok := strings.Cut(local, "+"); ok && base != "" {
			plus = append(plus, r.Alias)
			local = base
		}
		if other, ok := bases[local+"@"+domain]; ok {
			clash = append(clash, other+" and "+r.Alias)
		}
		bases[local+"@"+domain] = r.Alias
		if r.Action == classify.ActionBlock {
			blocked = append(blocked, r.Alias)
			rows = append(rows, []string{r.Alias, xtraBlockedNote, ""})
			continue
		}
		ts := r.Targets
		if len(ts) > addyMaxTargets {
			tooMany = append(tooMany, fmt.Sprintf("%s (dropped %s)", r.Alias, strings.Join(ts[addyMaxTargets:], ", ")))
			ts = ts[:addyMaxTargets]
		}
		rows = append(rows, []string{r.Alias, xtraNote(r), strings.Join(ts, ",")})
	}
	header := []string{"alias", "description", "recipients"}
	out := &Output{}
	var names []string
	for i := 0; i == 0 || i < len(rows); i += addyMaxRows {
		part := rows[i:min(i+addyMaxRows, len(rows))]
		name := "aliases.csv"
		if len(rows) > addyMaxRows {
			name = fmt.Sprintf("aliases-%d.csv", i/addyMaxRows+1)
		}
		names = append(names, name)
		out.Files = append(out.Files, File{Name: name, Data: xtraCSV(append([][]string{header}, part...))})
	}
	domains := xtraDomains(in)
	steps := []string{
		fmt.Sprintf("Add %s as custom domains (Domains), with the DNS records addy.io shows, until each is verified.", strings.Join(domains, ", ")),
		fmt.Sprintf("Add every target as a recipient (Recipients) and verify it: %s.", strings.Join(xtraAllTargets(in), ", ")),
		fmt.Sprintf("Import %s with the alias import in addy.io's settings (Settings > Import aliases), one file at a time: it takes at most %d rows a file. addy.io mails a summary when the import is done.", strings.Join(names, ", "), addyMaxRows),
	}
	if len(blocked) > 0 {
		steps = append(steps, fmt.Sprintf("Deactivate the blocked aliases (their description says \"%s\"):\n%s", xtraBlockedNote, xtraIndentList(blocked)))
	}
	if in.CatchAll != "" {
		steps = append(steps, fmt.Sprintf("For the catch-all, turn on the catch-all option of each domain and make %s its default recipient.", in.CatchAll))
	}
	out.Install = "Installing the aliases in addy.io\n=================================\n\n" + xtraSteps(steps)

	out.Limits = append(out.Limits,
		"addy.io imports aliases only into a custom domain verified in the account, and forwards only to verified recipients of the account: a target that is not one is dropped without a message, and an alias left without recipients goes to the default recipient.",
	)
	if len(blocked) > 0 {
		out.Limits = append(out.Limits, fmt.Sprintf("addy.io's alias import has no active column: the blocked aliases are created active, delivering to your default recipient, until you deactivate each of them (%s: %s).", xtraPlural(len(blocked), "alias"), xtraList(blocked)))
	}
	if len(plus) > 0 {
		out.Limits = append(out.Limits, fmt.Sprintf("addy.io keeps only the part before \"+\" as the alias (the rest is an extension), so each of %s also receives mail for every other extension of the same alias.", xtraList(plus)))
	}
	if len(clash) > 0 {
		out.Limits = append(out.Limits, fmt.Sprintf("addy.io sees these aliases as the same (they differ only after \"+\"): only the first of each pair in the file is imported: %s.", xtraListSep(clash, "; ")))
	}
	if len(tooMany) > 0 {
		out.Limits = append(out.Limits, fmt.Sprintf("addy.io allows at most %d recipients per alias: the others are left out for %s.", addyMaxTargets, xtraListSep(tooMany, "; ")))
	}
	if in.CatchAll != "" {
		out.Limits = append(out.Limits, fmt.Sprintf("addy.io has no catch-all address: its catch-all is an option of the custom domain, delivering to the domain's default recipient, which must be %s.", in.CatchAll))
	}
	out.Limits = append(out.Limits, unsafe...)
	return out, nil
}

// xtraSteps numbers the steps of an INSTALL text.
func xtraSteps(steps []string) string {
	var b strings.Builder
	for i, s := range steps {
		fmt.Fprintf(&b, "%d. %s\n\n", i+1, s)
	}
	return b.String()
}

// xtraIndentList writes one address a line, indented.
func xtraIndentList(addrs []string) string {
	return "     " + strings.Join(addrs, "\n     ")
}

// Import implements Importer for SimpleLogin's import CSV and its alias
// export (which adds an "enabled" column).
func (SimpleLogin) Import(data []byte) ([]Rule, error) {
	return xtraImportCSV(data, "mailboxes", "note", []string{"enabled"}, "default mailbox")
}

// Import implements Importer for addy.io's import CSV (an "active" column,
// if present, is read too).
func (Addy) Import(data []byte) ([]Rule, error) {
	return xtraImportCSV(data, "recipients", "description", []string{"active", "enabled"}, "default recipient")
}

// xtraImportCSV reads an alias CSV: a header naming the columns (repeated
// headers, as in files given together, are allowed), then one alias a row.
// Targets are separated by commas or white space. A row is a block when
// an enabled/active column says false or its note is xtraBlockedNote;
// otherwise it is a forward to the listed targets, which must not be
// empty: the service's default would be an address catchall cannot name.
func xtraImportCSV(data []byte, targetCol, noteCol string, enabledCols []string, fallback string) ([]Rule, error) {
	// White space at the end of a line would follow a closing quote,
	// which encoding/csv refuses: it goes (the line numbers stay).
	lines := strings.Split(strings.TrimPrefix(string(data), "\ufeff"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	r := csv.NewReader(strings.NewReader(strings.Join(lines, "\n")))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	m := newXtraMerger()
	cols := map[string]int(nil)
	for {
		rec, err := r.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if pe.StartLine != pe.Line {
					return nil, fmt.Errorf("line %d (in the row from line %d): %v", pe.Line, pe.StartLine, pe.Err)
				}
				return nil, fmt.Errorf("line %d: %v", pe.Line, pe.Err)
			}
			return nil, err
		}
		line, _ := r.FieldPos(0)
		empty := true
		for i := range rec {
			rec[i] = csvsafe.Unescape(strings.TrimSpace(rec[i]))
			if rec[i] != "" {
				empty = false
			}
		}
		if empty {
			continue
		}
		if i, ok := cols["alias"]; cols == nil || ok && i < len(rec) && strings.EqualFold(rec[i], "alias") {
			cols = map[string]int{}
			for i, c := range rec {
				cols[strings.ToLower(c)] = i
			}
			if _, ok := cols["alias"]; !ok {
				return nil, fmt.Errorf("line %d: the first row must be the header (alias,%s,%s), not %q", line, noteCol, targetCol, strings.Join(rec, ","))
			}
			if _, ok := cols[targetCol]; !ok {
				return nil, fmt.Errorf("line %d: the header has no %q column", line, targetCol)
			}
			continue
		}
		field := func(name string) string {
			if i, ok := cols[name]; ok && i < len(rec) {
				return rec[i]
			}
			return ""
		}
		where := fmt.Sprintf("line %d", line)
		alias, err := CheckAddress(field("alias"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		block := strings.HasPrefix(field(noteCol), xtraBlockedNote)
		for _, c := range enabledCols {
			if _, ok := cols[c]; !ok {
				continue
			}
			switch strings.ToLower(field(c)) {
			case "", "true", "1", "yes", "on":
			case "false", "0", "no", "off":
				block = true
			default:
				return nil, fmt.Errorf("%s: %s %q is neither true nor false", where, c, field(c))
			}
		}
		var targets []string
		for _, t := range strings.FieldsFunc(field(targetCol), func(c rune) bool { return c == ',' || c == ' ' || c == '\t' || c == ';' }) {
			a, err := CheckAddress(t)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", where, targetCol, err)
			}
			if a == alias {
				return nil, fmt.Errorf("%s: %s forwards to itself", where, alias)
			}
			targets = append(targets, a)
		}
		if !block && len(targets) == 0 {
			return nil, fmt.Errorf("%s: %s has no %s: the service would use your %s, which catchall cannot name: fill in the column", where, alias, targetCol, fallback)
		}
		if err := m.add(alias, block, targets, where); err != nil {
			return nil, err
		}
	}
	if cols == nil {
		return nil, fmt.Errorf("empty: no header row (alias,%s,%s)", noteCol, targetCol)
	}
	return m.result(), nil
}
