package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"
)

// newTable returns a table in the plain style of kubectl: upper-case
// headers, columns two spaces apart, no borders. Render writes it to w.
func newTable(w io.Writer) table.Writer {
	t := table.NewWriter()
	t.SetOutputMirror(w)
	s := table.StyleDefault
	s.Options = table.Options{}
	s.Box.PaddingLeft = ""
	s.Box.PaddingRight = "  "
	t.SetStyle(s)
	t.SuppressTrailingSpaces()
	return t
}

// itoa formats a number as a table cell: a string, so that it is
// left-aligned like the other columns (go-pretty right-aligns numbers).
func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// writeJSON writes v, indented, then a newline.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeRawJSON writes a JSON document from the server, indented, keeping
// every field (also those this build does not know).
func writeRawJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		return fmt.Errorf("the server's answer is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

const day = 24 * time.Hour

// parseRetention reads a retention time: a number with a unit (ms, s, m,
// h, d, w; Go durations such as 1h30m too), or "forever" (or -1). It
// returns milliseconds, -1 for forever.
func parseRetention(s string) (int64, error) {
	switch strings.ToLower(s) {
	case "forever", "infinite", "unlimited", "-1":
		return -1, nil
	}
	bad := usageErrorf("--retention %q: want e.g. 7d, 12h, 30m or forever", s)
	if n, unit := strings.TrimRight(s, "dw"), strings.TrimLeft(s, "0123456789"); n != s && (unit == "d" || unit == "w") {
		v, err := strconv.ParseInt(n, 10, 32) // in milliseconds, 2^31 weeks fit
		if err != nil || v <= 0 {
			return 0, bad
		}
		ms := v * day.Milliseconds()
		if unit == "w" {
			ms *= 7
		}
		return ms, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, bad
	}
	if d < time.Millisecond || d%time.Millisecond != 0 {
		return 0, usageErrorf("--retention %q: want a positive whole number of milliseconds, or forever", s)
	}
	return d.Milliseconds(), nil
}

// formatRetention shows a retention time in the largest unit that divides
// it: 604800000 → 7d.
func formatRetention(ms int64) string {
	if ms < 0 {
		return "forever"
	}
	for _, u := range []struct {
		ms   int64
		name string
	}{{day.Milliseconds(), "d"}, {time.Hour.Milliseconds(), "h"}, {time.Minute.Milliseconds(), "m"}, {1000, "s"}} {
		if ms > 0 && ms%u.ms == 0 {
			return strconv.FormatInt(ms/u.ms, 10) + u.name
		}
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

// formatBytes shows a byte limit, -1 as unlimited.
func formatBytes(n int64) string {
	if n < 0 {
		return "unlimited"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// orDash shows an empty cell as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
