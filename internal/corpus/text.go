package corpus

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf8"
)

// textInfo is everything needed to regenerate the main text of a message, so
// that a reply can quote it without storing it.
type textInfo struct {
	seed uint64
	lang string
	to   string // whom the greeting addresses
	from string // signature
}

// quoteInfo describes the message a reply quotes.
type quoteInfo struct {
	text  textInfo
	who   string
	email string
	date  time.Time
}

func wordList(lang string) []string {
	if w := words[lang]; w != nil {
		return w
	}
	return words["en"]
}

// sentence returns one random sentence (no colons, so that a body line never
// looks like a header field).
func sentence(r *rand.Rand, lang string) string {
	if lang == "ja" {
		return pick(r, jaPhrases)
	}
	ws := wordList(lang)
	n := between(r, 5, 16)
	var b strings.Builder
	for i := range n {
		w := pick(r, ws)
		if i == 0 {
			w = upperFirstRune(w)
		} else {
			b.WriteByte(' ')
		}
		b.WriteString(w)
		if i < n-1 && i > 1 && chance(r, 0.07) {
			b.WriteByte(',')
		}
	}
	switch x := r.Float64(); {
	case x < 0.1:
		b.WriteByte('?')
	case x < 0.15:
		b.WriteByte('!')
	default:
		b.WriteByte('.')
	}
	return b.String()
}

func upperFirstRune(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return strings.ToUpper(string(r)) + s[n:]
}

// paragraph returns lo to hi sentences.
func paragraph(r *rand.Rand, lang string, lo, hi int) string {
	n := between(r, lo, hi)
	var b strings.Builder
	for i := range n {
		if i > 0 && lang != "ja" {
			b.WriteByte(' ')
		}
		b.WriteString(sentence(r, lang))
	}
	return b.String()
}

// personalText is the body text of a personal message, "\n" line ends, unwrapped.
func personalText(t textInfo) string {
	r := newRand(t.seed, 0x7e47)
	lang := t.lang
	if greetings[lang] == nil {
		lang = "en"
	}
	var b strings.Builder
	b.WriteString(fmt.Sprintf(pick(r, greetings[lang]), t.to))
	for range between(r, 1, 4) {
		b.WriteString("\n\n")
		b.WriteString(paragraph(r, lang, 1, 5))
	}
	b.WriteString("\n\n")
	b.WriteString(pick(r, closings[lang]))
	b.WriteString("\n")
	b.WriteString(t.from)
	return b.String()
}

// bizText is a business letter from someone at org.
func bizText(r *rand.Rand, lang, greet, intro, from, org string) string {
	var b strings.Builder
	switch lang {
	case "de":
		b.WriteString("Sehr geehrte " + greet + ",")
	case "fr":
		b.WriteString("Bonjour,")
	default:
		lang = "en"
		b.WriteString("Dear " + greet + ",")
	}
	if intro != "" {
		b.WriteString("\n\n" + intro)
	}
	for range between(r, 1, 4) {
		b.WriteString("\n\n")
		b.WriteString(paragraph(r, lang, 2, 5))
	}
	switch lang {
	case "de":
		b.WriteString("\n\nMit freundlichen Grüßen\n")
	case "fr":
		b.WriteString("\n\nCordialement,\n")
	default:
		b.WriteString("\n\nKind regards,\n")
	}
	b.WriteString(from)
	if org != "" {
		b.WriteString("\n\n-- \n" + org + "\n")
		b.WriteString(fill(r, pick(r, []string{"Hauptstraße ##, #####", "## Market Street, London EC#A #^^", "Industriestr. #, #####"})))
		b.WriteString(" " + pick(r, cities) + "\n")
		b.WriteString(fill(r, "Tel. +49 ### ######-##\n"))
		if lang == "de" {
			b.WriteString(fill(r, "Amtsgericht "+pick(r, cities)+" HRB ######, Geschäftsführer ") + from + "\n")
		}
	}
	return b.String()
}

// wrap breaks the lines of text (separated by "\n") at width runes.
func wrap(text string, width int) string {
	var out strings.Builder
	for i, line := range strings.Split(text, "\n") {
		if i > 0 {
			out.WriteByte('\n')
		}
		if utf8.RuneCountInString(line) <= width {
			out.WriteString(line)
			continue
		}
		if !strings.Contains(line, " ") {
			n := 0
			for _, c := range line {
				if n == width {
					out.WriteByte('\n')
					n = 0
				}
				out.WriteRune(c)
				n++
			}
			continue
		}
		col := 0
		for j, w := range strings.Split(line, " ") {
			wl := utf8.RuneCountInString(w)
			switch {
			case j == 0:
			case col+1+wl > width:
				out.WriteByte('\n')
				col = 0
			default:
				out.WriteByte(' ')
				col++
			}
			out.WriteString(w)
			col += wl
		}
	}
	return out.String()
}

// quoteBlock is the attribution line and the quoted text of q.
func quoteBlock(q *quoteInfo, lang string) string {
	var b strings.Builder
	who := q.who
	if q.email != "" && q.email != who {
		who += " <" + q.email + ">"
	}
	switch lang {
	case "de":
		b.WriteString("Am " + q.date.Format("02.01.2006 um 15:04") + " schrieb " + who + ":")
	case "fr":
		b.WriteString("Le " + q.date.Format("02/01/2006 à 15:04") + ", " + who + " a écrit :")
	default:
		b.WriteString("On " + q.date.Format("Mon, Jan 2, 2006 at 3:04 PM") + ", " + who + " wrote:")
	}
	for line := range strings.SplitSeq(wrap(personalText(q.text), 70), "\n") {
		b.WriteString("\n>")
		if line != "" {
			b.WriteString(" " + line)
		}
	}
	return b.String()
}
