package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/semprox/semprox/dml/metrics"
	"github.com/semprox/semprox/tensor"
)

// writeNPY64 writes a little-endian float64 .npy file of the given shape.
func writeNPY64(t *testing.T, path string, shape string, vals []float64) {
	t.Helper()
	h := "{'descr': '<f8', 'fortran_order': False, 'shape': (" + shape + "), }"
	h += strings.Repeat(" ", 63-(10+len(h))%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	binary.Write(&b, binary.LittleEndian, vals)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fixture writes four 2-D embeddings in two classes: each point's nearest other point is of its
// class, so every metric is 1.
func fixture(t *testing.T) string {
	dir := t.TempDir()
	emb := tensor.FromSlice([]float32{1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9}, 4, 2)
	if err := tensor.WriteNPY(filepath.Join(dir, "emb.npy"), emb); err != nil {
		t.Fatal(err)
	}
	writeNPY64(t, filepath.Join(dir, "emb64.npy"), "4, 2", []float64{1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9})
	writeNPY64(t, filepath.Join(dir, "labels.npy"), "4,", []float64{3, 3, 8, 8})
	writeFile(t, filepath.Join(dir, "labels.txt"), "3\n3\n 8\n8\n")
	writeFile(t, filepath.Join(dir, "short.txt"), "3\n3\n8\n")
	writeFile(t, filepath.Join(dir, "bad.txt"), "3\nthree\n8\n8\n")
	writeNPY64(t, filepath.Join(dir, "nan.npy"), "4, 2", []float64{1, 0, math.NaN(), 0.1, 0, 1, 0.1, 0.9})
	return dir
}

func TestSelfRetrievalJSON(t *testing.T) {
	dir := fixture(t)
	for _, args := range [][]string{
		{"-emb", "emb.npy", "-labels", "labels.npy"},
		{"-emb", "emb64.npy", "-labels", "labels.txt", "-metric", "l2"},
	} {
		for i, a := range args {
			if strings.Contains(a, ".") {
				args[i] = filepath.Join(dir, a)
			}
		}
		var out bytes.Buffer
		if err := run(append(args, "-json", "-k", "1,2", "-threads", "2"), &out); err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%v: output %q: %v", args, out.String(), err)
		}
		for _, key := range []string{"precision_at_1", "r_precision", "map_at_r", "map", "nmi"} {
			if got[key] != 1.0 {
				t.Errorf("%v: %s = %v, want 1", args, key, got[key])
			}
		}
		if got["queries"] != 4.0 || got["recall_at_k"].(map[string]any)["2"] != 1.0 {
			t.Errorf("%v: %v", args, got)
		}
	}
}

func TestQueryGalleryTable(t *testing.T) {
	dir := fixture(t)
	p := func(name string) string { return filepath.Join(dir, name) }
	var out bytes.Buffer
	err := run([]string{"-query", p("emb.npy"), "-query-labels", p("labels.txt"),
		"-gallery", p("emb64.npy"), "-gallery-labels", p("labels.npy"), "-k", "1,4", "-nmi=false"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"query -> gallery, cosine: 4 queries (4 counted)", "Recall@4", "MAP@R            1.0000"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "NMI") {
		t.Errorf("-nmi=false still prints NMI:\n%s", out.String())
	}
}

func TestErrorsNameTheFile(t *testing.T) {
	dir := fixture(t)
	p := func(name string) string { return filepath.Join(dir, name) }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-emb", p("emb.npy"), "-labels", p("short.txt")}, "short.txt has 3 labels but"},
		{[]string{"-emb", p("emb.npy"), "-labels", p("bad.txt")}, "bad.txt: line 2"},
		{[]string{"-emb", p("nan.npy"), "-labels", p("labels.txt")}, "nan.npy: row 1 column 0 is NaN"},
		{[]string{"-emb", p("missing.npy"), "-labels", p("labels.txt")}, "missing.npy"},
		{[]string{"-emb", p("labels.npy"), "-labels", p("labels.txt")}, "labels.npy: shape [4]"},
		{[]string{"-emb", p("emb.npy"), "-labels", p("labels.txt"), "-metric", "dot"}, "-metric"},
		{[]string{"-emb", p("emb.npy"), "-labels", p("labels.txt"), "-k", "1,0"}, "-k"},
		{[]string{"-emb", p("emb.npy"), "-labels", p("labels.txt"), "-k", "99999999999999999999"}, "-k"},
		// Issue 15, point 7: -threads 100000 allocated until killed.
		{[]string{"-emb", p("emb.npy"), "-labels", p("labels.txt"), "-threads", "100000"}, "-threads 100000"},
		{[]string{"-emb", p("emb.npy"), "-labels", p("labels.txt"), "-threads", "-1"}, "-threads -1"},
		// K above the references a query is ranked against would count them all.
		{[]string{"-emb", p("emb.npy"), "-labels", p("labels.txt"), "-k", "1,4"}, "-k 4: each query has only 3 other references"},
		{[]string{"-query", p("emb.npy"), "-query-labels", p("labels.txt"), "-gallery", p("emb.npy"), "-gallery-labels", p("labels.txt"), "-k", "5"}, "-k 5: each query has only 4 references"},
		{[]string{"-emb", p("emb.npy")}, "-labels"},
		{[]string{"-emb", p("emb.npy"), "-labels", p("labels.txt"), "-query", p("emb.npy")}, "not both"},
		{[]string{"-query", p("emb.npy"), "-query-labels", p("labels.txt"), "-gallery", p("emb.npy"), "-gallery-labels", p("short.txt")}, "short.txt"},
	} {
		err := run(tc.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

func TestParseLabels(t *testing.T) {
	got, err := metrics.ParseLabels(strings.NewReader("1\n\n-2\r\n 30 \n"))
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != -2 || got[2] != 30 {
		t.Errorf("got %v, %v", got, err)
	}
}

func FuzzParseLabels(f *testing.F) {
	f.Add("1\n2\n3\n")
	f.Add(" -7 \r\n\n12")
	f.Add("1.5\n")
	f.Fuzz(func(t *testing.T, text string) {
		labels, err := metrics.ParseLabels(strings.NewReader(text))
		if err != nil {
			return
		}
		var b strings.Builder
		for _, l := range labels {
			b.WriteString(strconv.FormatInt(l, 10) + "\n")
		}
		again, err := metrics.ParseLabels(strings.NewReader(b.String()))
		if err != nil || len(again) != len(labels) {
			t.Fatalf("round trip of %v: %v, %v", labels, again, err)
		}
		for i := range again {
			if again[i] != labels[i] {
				t.Fatalf("round trip of %v: %v", labels, again)
			}
		}
	})
}
