package main

import (
	"strings"
	"testing"
)

func TestTableShowsRatioToPeer(t *testing.T) {
	in := `goos: linux
BenchmarkBatch/encode/100B-2         	     100	   1000000 ns/op	 300.00 MB/s	 2600000 records/s	       0 B/op	       0 allocs/op
BenchmarkBatch/lz4-compress/100B-2   	     100	    900000 ns/op	 400.00 MB/s	       0 allocs/op
BenchmarkOther-2                     	      10	      5000 ns/op
PASS`
	res, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("parsed %d benchmarks, want 3", len(res))
	}
	var out strings.Builder
	write(&out, res, refs{"encode": "lz4-compress"})
	table := out.String()
	for _, want := range []string{
		"| BenchmarkBatch/encode/100B | 300 | 2600000 | 1000000 | 0 | 0.75× lz4-compress |",
		"| BenchmarkOther |  |  | 5000 |  |  |",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

func TestParseRefusesGarbledValue(t *testing.T) {
	_, err := parse(strings.NewReader("BenchmarkX-2 10 abc ns/op\n"))
	if err == nil || !strings.Contains(err.Error(), "BenchmarkX-2") {
		t.Fatalf("err = %v, want one naming the benchmark", err)
	}
}

func TestRepeatedRunsShowTheMedian(t *testing.T) {
	in := "BenchmarkX-2 10 300 ns/op\nBenchmarkX-2 10 100 ns/op\nBenchmarkX-2 10 200 ns/op\n"
	res, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].metrics["ns/op"] != 200 {
		t.Fatalf("got %+v, want one result with the median 200 ns/op", res)
	}
}
