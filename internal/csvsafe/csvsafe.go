// Package csvsafe writes CSV cells that no spreadsheet evaluates as a
// formula, and reads them back unchanged (OWASP's "CSV injection"
// defence: a leading apostrophe).
//
// A cell that begins with '=', '+', '-', '@', a tab or a carriage return
// is a formula or a DDE call to Excel, LibreOffice and Google Sheets; a
// leading apostrophe makes it text, and the spreadsheet does not show it.
// A cell that already begins with an apostrophe gets one more, so that
// Unescape, which removes exactly one leading apostrophe, gives back every
// value: Escape(Unescape(Escape(v))) == Escape(v) and
// Unescape(Escape(v)) == v for every v.
package csvsafe

import "strings"

// Escape returns v as it must be written into a CSV cell.
func Escape(v string) string {
	if v == "" {
		return v
	}
	switch v[0] {
	case '=', '+', '-', '@', '\t', '\r', '\'':
		return "'" + v
	}
	return v
}

// Unescape returns the value a cell written by Escape stands for.
func Unescape(cell string) string {
	return strings.TrimPrefix(cell, "'")
}

// Record escapes every cell of rec in place and returns it.
func Record(rec []string) []string {
	for i, v := range rec {
		rec[i] = Escape(v)
	}
	return rec
}
