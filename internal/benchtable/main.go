// Command benchtable turns `go test -bench` output into a markdown table and
// sets each benchmark beside the peer it is measured against, as a ratio.
//
//	go test -bench . ./... | go run ./internal/benchtable -ref encode=lz4-compress -ref decode=lz4-decompress
//
// A -ref a=b pairs every benchmark with a name element a (BenchmarkBatch/encode/100B)
// with the one whose element is b instead (BenchmarkBatch/lz4-compress/100B); the
// ratio is the first's throughput (MB/s) over the peer's, or the peer's ns/op
// over the first's when there is no throughput. A benchmark run several times
// (-count) shows the median of each figure.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

type refs map[string]string

func (r refs) String() string { return fmt.Sprint(map[string]string(r)) }
func (r refs) Set(v string) error {
	a, b, ok := strings.Cut(v, "=")
	if !ok || a == "" || b == "" {
		return fmt.Errorf("want name=peer, got %q", v)
	}
	r[a] = b
	return nil
}

type result struct {
	name    string
	metrics map[string]float64 // unit -> value: ns/op, MB/s, records/s, allocs/op, B/op
}

var procSuffix = regexp.MustCompile(`-\d+$`)

func main() {
	pairs := refs{}
	flag.Var(pairs, "ref", "name=peer: show name's ratio to peer (repeatable)")
	flag.Parse()
	results, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtable: %v\n", err)
		os.Exit(1)
	}
	write(os.Stdout, results, pairs)
}

// parse reads benchmark lines: name, iterations, then value-unit pairs.
func parse(r io.Reader) ([]result, error) {
	var out []result
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		res := result{name: procSuffix.ReplaceAllString(f[0], ""), metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark %s: value %q: %w", f[0], f[i], err)
			}
			res.metrics[f[i+1]] = v
		}
		out = append(out, res)
	}
	return medians(out), sc.Err()
}

// medians folds repeated runs of a benchmark into one result, keeping the
// order of first appearance.
func medians(runs []result) []result {
	var order []string
	samples := map[string]map[string][]float64{}
	for _, r := range runs {
		if samples[r.name] == nil {
			samples[r.name] = map[string][]float64{}
			order = append(order, r.name)
		}
		for unit, v := range r.metrics {
			samples[r.name][unit] = append(samples[r.name][unit], v)
		}
	}
	out := make([]result, 0, len(order))
	for _, name := range order {
		res := result{name: name, metrics: map[string]float64{}}
		for unit, vs := range samples[name] {
			slices.Sort(vs)
			res.metrics[unit] = vs[len(vs)/2]
		}
		out = append(out, res)
	}
	return out
}

func write(w io.Writer, results []result, pairs refs) {
	byName := map[string]result{}
	for _, r := range results {
		byName[r.name] = r
	}
	fmt.Fprintln(w, "| benchmark | MB/s | records/s | ns/op | allocs/op | vs peer |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- |")
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.name,
			num(r.metrics, "MB/s"), num(r.metrics, "records/s"), num(r.metrics, "ns/op"),
			num(r.metrics, "allocs/op"), ratio(r, byName, pairs))
	}
}

func ratio(r result, byName map[string]result, pairs refs) string {
	parts := strings.Split(r.name, "/")
	for i, p := range parts {
		peerElem, ok := pairs[p]
		if !ok {
			continue
		}
		peerParts := append([]string(nil), parts...)
		peerParts[i] = peerElem
		peer, ok := byName[strings.Join(peerParts, "/")]
		if !ok {
			continue
		}
		if a, b := r.metrics["MB/s"], peer.metrics["MB/s"]; a > 0 && b > 0 {
			return fmt.Sprintf("%.2f× %s", a/b, peerElem)
		}
		if a, b := r.metrics["ns/op"], peer.metrics["ns/op"]; a > 0 && b > 0 {
			return fmt.Sprintf("%.2f× %s", b/a, peerElem)
		}
	}
	return ""
}

func num(m map[string]float64, unit string) string {
	v, ok := m[unit]
	switch {
	case !ok:
		return ""
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}
