package forwards

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/catchall/catchall/classify"
)

// Cloudflare writes Email Routing rules twice: as request bodies for the
// API (rules.json, catch_all.json) and as Terraform (main.tf, provider 5).
// Cloudflare can forward or drop, not refuse; a rule forwards to one
// destination.
type Cloudflare struct{}

// Name implements Format.
func (Cloudflare) Name() string { return "cloudflare" }

// cloudflareMaxRules is Cloudflare's limit of routing rules per zone.
const cloudflareMaxRules = 200

type cfMatcher struct {
	Type  string `json:"type"`
	Field string `json:"field,omitempty"`
	Value string `json:"value,omitempty"`
}

type cfAction struct {
	Type  string   `json:"type"`
	Value []string `json:"value,omitempty"`
}

type cfRule struct {
	Name     string      `json:"name"`
	Enabled  bool        `json:"enabled"`
	Matchers []cfMatcher `json:"matchers"`
	Actions  []cfAction  `json:"actions"`
}

// hclString returns s as an HCL quoted template string: \ and " are
// escaped, ${ and %{ (which would start an interpolation or a directive)
// become $${ and %%{, control characters become escapes.
func hclString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '"':
			b.WriteString(`\"`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case (c == '$' || c == '%') && i+1 < len(s) && s[i+1] == '{':
			b.WriteByte(c)
			b.WriteByte(c)
			b.WriteByte('{')
			i++
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// hclList returns a list of HCL strings.
func hclList(ss []string) string {
	var q []string
	for _, s := range ss {
		q = append(q, hclString(s))
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// tfName derives a Terraform resource name from s: lower-case letters,
// digits and underscores, starting with a letter, not in taken (which it
// is added to).
func tfName(s string, taken map[string]bool) string {
	var b strings.Builder
	under := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
			under = false
		} else if 'A' <= c && c <= 'Z' {
			b.WriteByte(c - 'A' + 'a')
			under = false
		} else if !under {
			b.WriteByte('_')
			under = true
		}
	}
	name := strings.Trim(b.String(), "_")
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		name = "alias_" + name
		name = strings.TrimSuffix(name, "_")
	}
	base := name
	for n := 2; taken[name]; n++ {
		name = base + "_" + strconv.Itoa(n)
	}
	taken[name] = true
	return name
}

// Generate implements Format.
func (Cloudflare) Generate(in *Input) (*Output, error) {
	if err := xtraCheck(in); err != nil {
		return nil, err
	}
	domains := xtraDomains(in)
	out := &Output{}
	var blocked, tooMany, several, destinations []string
	var tf bytes.Buffer
	tf.WriteString(`# Cloudflare Email Routing rules written by catchall: one per alias of the
# plan (Cloudflare Terraform provider 5). See INSTALL.txt.
terraform {
  required_providers {
    cloudflare = {
      source  = "cloudflare/cloudflare"
      version = "~> 5.0"
    }
  }
}
`)
	zoneRef := func(string) string { return "var.zone_id" }
	if len(domains) == 1 {
		fmt.Fprintf(&tf, `
variable "zone_id" {
  type        = string
  description = %s
}
`, hclString("Zone ID of "+domains[0]+" (the domain's Overview page in the Cloudflare dashboard)"))
	} else {
		fmt.Fprintf(&tf, `
variable "zone_ids" {
  type        = map(string)
  description = %s
}
`, hclString("Zone ID of each domain, by domain name: "+strings.Join(domains, ", ")))
		zoneRef = func(d string) string { return "var.zone_ids[" + hclString(d) + "]" }
	}

	taken := map[string]bool{}
	var apiSteps []string
	for _, d := range domains {
		rules := xtraRulesOf(in, d)
		if len(rules) > cloudflareMaxRules {
			tooMany = append(tooMany, fmt.Sprintf("%s has %d", d, len(rules)))
		}
		var bodies []cfRule
		for _, r := range rules {
			body := cfRule{
				Name:     "catchall: " + r.Alias,
				Enabled:  true,
				Matchers: []cfMatcher{{Type: "literal", Field: "to", Value: r.Alias}},
			}
			action := "{ type = \"drop\" }"
			if r.Action == classify.ActionBlock {
				blocked = append(blocked, r.Alias)
				body.Actions = []cfAction{{Type: "drop"}}
			} else {
				if len(r.Targets) > 1 {
					several = append(several, fmt.Sprintf("%s (kept %s, dropped %s)", r.Alias, r.Targets[0], strings.Join(r.Targets[1:], ", ")))
				}
				body.Actions = []cfAction{{Type: "forward", Value: r.Targets[:1]}}
				destinations = append(destinations, r.Targets[0])
				action = "{ type = \"forward\", value = " + hclList(r.Targets[:1]) + " }"
			}
			bodies = append(bodies, body)
			fmt.Fprintf(&tf, `
resource "cloudflare_email_routing_rule" %s {
  zone_id  = %s
  name     = %s
  enabled  = true
  matchers = [{ type = "literal", field = "to", value = %s }]
  actions  = [%s]
}
`, hclString(tfName(r.Alias, taken)), zoneRef(d), hclString(body.Name), hclString(r.Alias), action)
		}
		if bodies == nil {
			bodies = []cfRule{}
		}
		rulesFile := xtraPerDomain(in, "rules", ".json", d)
		out.Files = append(out.Files, File{Name: rulesFile, Data: xtraJSON(bodies)})
		step := fmt.Sprintf(`  ZONE_ID=...   # the zone ID of %s
  jq -c '.[]' %s | while read -r rule; do
    curl -sS -X POST "https://api.cloudflare.com/client/v4/zones/$ZONE_ID/email/routing/rules" \
      -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H "Content-Type: application/json" \
      --data "$rule"
  done`, d, rulesFile)
		if in.CatchAll != "" {
			catchFile := xtraPerDomain(in, "catch_all", ".json", d)
			out.Files = append(out.Files, File{Name: catchFile, Data: xtraJSON(cfRule{
				Name:     "catchall: catch-all",
				Enabled:  true,
				Matchers: []cfMatcher{{Type: "all"}},
				Actions:  []cfAction{{Type: "forward", Value: []string{in.CatchAll}}},
			})})
			fmt.Fprintf(&tf, `
resource "cloudflare_email_routing_catch_all" %s {
  zone_id  = %s
  name     = "catchall: catch-all"
  enabled  = true
  matchers = [{ type = "all" }]
  actions  = [{ type = "forward", value = %s }]
}
`, hclString(tfName("catch_all_"+d, taken)), zoneRef(d), hclList([]string{in.CatchAll}))
			step += fmt.Sprintf(`
  curl -sS -X PUT "https://api.cloudflare.com/client/v4/zones/$ZONE_ID/email/routing/rules/catch_all" \
    -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H "Content-Type: application/json" \
    --data @%s`, catchFile)
		}
		apiSteps = append(apiSteps, step)
	}
	out.Files = append(out.Files, File{Name: "main.tf", Data: tf.Bytes()})
	if in.CatchAll != "" {
		destinations = append(destinations, in.CatchAll)
	}
	slices.Sort(destinations)
	destinations = slices.Compact(destinations)

	tfApply := "terraform apply -var zone_id=ZONE_ID"
	if len(domains) > 1 {
		var kv []string
		for _, d := range domains {
			kv = append(kv, fmt.Sprintf("%q=\"ZONE_ID\"", d))
		}
		tfApply = "terraform apply -var 'zone_ids={" + strings.Join(kv, ",") + "}'"
	}
	out.Install = fmt.Sprintf(`Installing the Cloudflare Email Routing rules
=============================================

First, in the Cloudflare dashboard, for each of %[1]s:
  - enable Email Routing (the domain, then Email > Email Routing): it adds
    the MX and SPF records;
  - add every destination address (Email Routing > Destination addresses):
    Cloudflare mails each a link that must be clicked before it forwards
    there. They are: %[2]s.

Then use ONE of the two ways below, not both.

With Terraform (main.tf), an API token allowed to edit Email Routing
rules of the zones:

  export CLOUDFLARE_API_TOKEN=...
  terraform init
  %[3]s

With the API (rules*.json hold one request body per rule), jq and curl:

  export CLOUDFLARE_API_TOKEN=...
%[4]s

Test: send a mail to an alias; the domain's Email Routing page lists the
rules and the activity log shows what each did.
`, strings.Join(domains, ", "), strings.Join(destinations, ", "), tfApply, strings.Join(apiSteps, "\n\n"))

	if len(blocked) > 0 {
		s := fmt.Sprintf("Cloudflare can only drop mail to a blocked alias: it is accepted and silently discarded, never refused with 550 (%s: %s).", xtraPlural(len(blocked), "alias"), xtraList(blocked))
		if in.CatchAll == "" {
			s += " Without a catch-all Cloudflare refuses addresses that have no rule: deleting these drop rules would have them refused instead."
		}
		out.Limits = append(out.Limits, s)
	}
	if len(destinations) > 0 {
		out.Limits = append(out.Limits, "Cloudflare forwards only to destination addresses verified in the account: "+xtraList(destinations)+" must each confirm the mail Cloudflare sends them.")
	}
	if len(tooMany) > 0 {
		out.Limits = append(out.Limits, fmt.Sprintf("Cloudflare allows at most %d routing rules per zone: %s; the API refuses the rules past the limit.", cloudflareMaxRules, xtraList(tooMany)))
	}
	if len(several) > 0 {
		out.Limits = append(out.Limits, fmt.Sprintf("A Cloudflare rule forwards to one destination, so several targets are not supported: only the first is written for %s.", xtraListSep(several, "; ")))
	}
	return out, nil
}
