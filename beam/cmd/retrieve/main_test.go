package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/semprox/semprox/beam/internal/beamtest"
	"github.com/semprox/semprox/dml/metrics"
	"github.com/semprox/semprox/tensor"
)

func TestMain(m *testing.M) {
	beamtest.Main(m)
}

// setFlags sets the program's flags to their defaults, then to kv (name, value, ...).
func setFlags(t *testing.T, kv ...string) {
	t.Helper()
	for _, name := range []string{"emb", "labels", "query", "query-labels", "gallery", "gallery-labels", "k", "metric", "shards", "query-block", "threads", "out", "json"} {
		f := flag.Lookup(name)
		if err := f.Value.Set(f.DefValue); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < len(kv); i += 2 {
		if err := flag.Set(kv[i], kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	const n, d = 25, 3
	emb := tensor.New(n, d)
	labels := make([]int64, n)
	var text strings.Builder
	for i := range n {
		for j := range d {
			emb.Data()[i*d+j] = float32((i*7+j*3)%5 - 2)
		}
		labels[i] = int64(i % 4)
		text.WriteString(strings.Repeat(" ", i%2) + string(rune('0'+labels[i])) + "\n")
	}
	embPath, labelPath := filepath.Join(dir, "emb.npy"), filepath.Join(dir, "labels.txt")
	if err := tensor.WriteNPY(embPath, emb); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(labelPath, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := metrics.Evaluate(metrics.Matrix{Data: emb.Data(), Rows: n, Cols: d}, labels, metrics.Matrix{Data: emb.Data(), Rows: n, Cols: d}, labels, true,
		metrics.Options{Metric: metrics.L2, Ks: []int{1, 3}, SkipNMI: true})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	res.WriteJSON(&want)

	out := filepath.Join(dir, "m.json")
	setFlags(t, "emb", embPath, "labels", labelPath, "k", "3,1", "metric", "l2", "shards", "3", "out", out, "json", "true")
	var got bytes.Buffer
	if err := run(context.Background(), &got); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("-json printed %s, want %s", got.Bytes(), want.Bytes())
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != want.String() {
		t.Errorf("-out holds %s (%v), want %s", b, err, want.Bytes())
	}

	setFlags(t, "emb", embPath, "labels", labelPath, "out", out)
	got.Reset()
	if err := run(context.Background(), &got); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"self-retrieval, cosine: 25 queries (25 counted), 25 references, 3 dims, depth 8", "Recall@8", "MAP@R"} {
		if !strings.Contains(got.String(), w) {
			t.Errorf("table %q lacks %q", got.String(), w)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{nil, "give -emb"},
		{[]string{"emb", "a.npy", "query", "q.npy"}, "not both"},
		{[]string{"labels", "l.txt"}, "-labels needs -emb"},
		{[]string{"query", "q.npy"}, "needs -query and -gallery"},
		{[]string{"emb", "a", "k", "1,0"}, "-k"},
		{[]string{"emb", "a", "metric", "dot"}, "-metric"},
		{[]string{"emb", "a", "shards", "0"}, "-shards"},
		{[]string{"emb", "a", "query-block", "0"}, "-query-block"},
		{[]string{"emb", "a", "threads", "-1"}, "-threads"},
	} {
		setFlags(t, tc.flags...)
		if _, err := config(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one with %q", tc.flags, err, tc.want)
		}
	}
	if flag.Lookup("dataflow_labels") == nil {
		t.Error("the Dataflow runner's -labels is not -dataflow_labels")
	}
}
