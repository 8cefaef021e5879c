package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// row is one figure of the report and its floor. A figure without a floor
// has floor "—" and no ratio.
type row struct {
	section string
	figure  string
	value   string
	num     float64 // the value's main number, for checks
	floor   string
	ratio   string
}

// report collects rows, in order, and notes printed under the table.
type report struct {
	title string
	rows  []row
	notes []string
}

func (r *report) add(section, figure, value string, num float64, floor, ratio string) {
	r.rows = append(r.rows, row{section, figure, value, num, floor, ratio})
}

func (r *report) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// write prints the report as markdown: a table per section.
func (r *report) write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", r.title)
	var sections []string // in order of first appearance
	bySection := map[string][]row{}
	for _, x := range r.rows {
		if _, ok := bySection[x.section]; !ok {
			sections = append(sections, x.section)
		}
		bySection[x.section] = append(bySection[x.section], x)
	}
	for _, sec := range sections {
		fmt.Fprintf(&b, "\n## %s\n\n| figure | value | floor | ratio |\n| --- | ---: | ---: | ---: |\n", sec)
		for _, x := range bySection[sec] {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", x.figure, x.value, x.floor, x.ratio)
		}
	}
	if len(r.notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// quantiles returns the p50, p99 and p99.9 of ds (nearest rank).
func quantiles(ds []time.Duration) [3]time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return [3]time.Duration{at(0.50), at(0.99), at(0.999)}
}

// ms shows a duration in milliseconds with three significant digits.
func ms(d time.Duration) string {
	v := float64(d) / 1e6
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// latencies shows p50 / p99 / p99.9 in ms and the sample count.
func latencies(q [3]time.Duration, n int) string {
	return fmt.Sprintf("%s (n=%d)", triple(q), n)
}

// triple shows p50 / p99 / p99.9 in ms.
func triple(q [3]time.Duration) string {
	return fmt.Sprintf("%s / %s / %s ms", ms(q[0]), ms(q[1]), ms(q[2]))
}

// latencyRatios divides each quantile by the floor's.
func latencyRatios(v, f [3]time.Duration) string {
	return fmt.Sprintf("%s / %s / %s", ratio(float64(v[0]), float64(f[0])), ratio(float64(v[1]), float64(f[1])), ratio(float64(v[2]), float64(f[2])))
}

// ratio is v/f with two significant digits, "—" without a floor.
func ratio(v, f float64) string {
	if f == 0 || math.IsNaN(f) {
		return "—"
	}
	x := v / f
	switch {
	case x >= 10:
		return fmt.Sprintf("%.0f×", x)
	case x >= 1:
		return fmt.Sprintf("%.1f×", x)
	case x >= 0.01:
		return fmt.Sprintf("%.2f×", x)
	default: // two significant digits: 0.0033×, not 0.00×
		return strconv.FormatFloat(x, 'g', 2, 64) + "×"
	}
}

// mb shows a rate in MB/s.
func mb(v float64) string { return fmt.Sprintf("%.1f MB/s", v) }

// count shows an integer-ish figure with thousands separators.
func count(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[0] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// mib shows bytes in MiB.
func mib(v int64) string { return fmt.Sprintf("%.0f MiB", float64(v)/(1<<20)) }

// sizeName names a record size: 100 B, 1 KiB, 10 KiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// partitionsName says "1 partition", "16 partitions".
func partitionsName(n int) string {
	if n == 1 {
		return "1 partition"
	}
	return count(float64(n)) + " partitions"
}
