package forwards

import (
	"fmt"
	"strings"

	"github.com/catchall/catchall/classify"
)

// ImprovMX writes request bodies for ImprovMX's bulk alias API, one per
// domain. ImprovMX has no way to refuse or drop one alias: blocked aliases
// are left out, so that ImprovMX refuses them as unknown, which it does
// only while the domain has no catch-all alias ("*").
type ImprovMX struct{}

// Name implements Format.
func (ImprovMX) Name() string { return "improvmx" }

// improvmxFreeAliases is the number of aliases per domain of ImprovMX's
// free plan at the time of writing.
const improvmxFreeAliases = 25

type imxAlias struct {
	Alias   string `json:"alias"`
	Forward string `json:"forward"`
}

type imxBulk struct {
	Aliases []imxAlias `json:"aliases"`
}

// Generate implements Format.
func (ImprovMX) Generate(in *Input) (*Output, error) {
	if err := xtraCheck(in); err != nil {
		return nil, err
	}
	domains := xtraDomains(in)
	out := &Output{}
	var blocked, star, odd, overFree []string
	var steps []string
	for _, d := range domains {
		body := imxBulk{Aliases: []imxAlias{}}
		for _, r := range xtraRulesOf(in, d) {
			local := xtraLocal(r.Alias)
			if local == "*" {
				star = append(star, r.Alias) // "*" is ImprovMX's catch-all
				continue
			}
			if r.Action == classify.ActionBlock {
				blocked = append(blocked, r.Alias)
				continue
			}
			if strings.Trim(local, "abcdefghijklmnopqrstuvwxyz0123456789._+-") != "" {
				odd = append(odd, r.Alias)
			}
			body.Aliases = append(body.Aliases, imxAlias{Alias: local, Forward: strings.Join(r.Targets, ",")})
		}
		if in.CatchAll != "" {
			body.Aliases = append(body.Aliases, imxAlias{Alias: "*", Forward: in.CatchAll})
		}
		if len(body.Aliases) > improvmxFreeAliases {
			overFree = append(overFree, fmt.Sprintf("%s has %d", d, len(body.Aliases)))
		}
		name := xtraPerDomain(in, "aliases", ".json", d)
		out.Files = append(out.Files, File{Name: name, Data: xtraJSON(body)})
		steps = append(steps, fmt.Sprintf(`  curl -sS -u "api:$IMPROVMX_API_KEY" -H "Content-Type: application/json" \
    -X POST https://api.improvmx.com/v3/domains/%s/aliases/bulk --data @%s`, d, name))
	}

	out.Install = fmt.Sprintf(`Installing the ImprovMX aliases
===============================

1. Add %[1]s to the ImprovMX account (dashboard, or
   POST https://api.improvmx.com/v3/domains with {"domain": "DOMAIN"}),
   and at the DNS host of each domain replace the MX records with
     @ 3600 IN MX 10 mx1.improvmx.com.
     @ 3600 IN MX 20 mx2.improvmx.com.
   and add include:spf.improvmx.com to the domain's SPF record.

2. Create the aliases with the bulk API (API key: dashboard > API):

  export IMPROVMX_API_KEY=...
%[2]s

   Read the JSON answer of each request for aliases it did not create.

3. Check: the domain's page in the dashboard lists the aliases; send a test
   mail to one of them.
`, strings.Join(domains, ", "), strings.Join(steps, "\n"))

	if len(blocked) > 0 {
		s := fmt.Sprintf("ImprovMX cannot refuse or drop a single alias, so the blocked aliases are left out: %s.", xtraList(blocked))
		if in.CatchAll != "" {
			s += fmt.Sprintf(" ImprovMX refuses unknown aliases only when the domain has no catch-all, and this plan's catch-all alias (*) accepts them and forwards them to %s.", in.CatchAll)
		} else {
			s += " ImprovMX refuses them as unknown addresses, but only as long as the domain has no catch-all alias (*): adding one later would accept them."
		}
		out.Limits = append(out.Limits, s)
	}
	if len(star) > 0 {
		out.Limits = append(out.Limits, fmt.Sprintf("The alias \"*\" is ImprovMX's catch-all, so %s cannot be written and is left out.", xtraList(star)))
	}
	if len(overFree) > 0 {
		out.Limits = append(out.Limits, fmt.Sprintf("ImprovMX's free plan allows %d aliases per domain (at the time of writing): %s, so a premium plan is needed.", improvmxFreeAliases, xtraList(overFree)))
	}
	if len(odd) > 0 {
		out.Limits = append(out.Limits, fmt.Sprintf("ImprovMX may refuse aliases with characters other than letters, digits and . _ + -: check the API's answer for %s.", xtraList(odd)))
	}
	return out, nil
}
