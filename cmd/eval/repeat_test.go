package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/semprox/semprox/tensor"
)

// writeSet writes rows x cols embeddings, each value(i) for the i-th value, to name.npy in dir
// and returns its path.
func writeSet(t *testing.T, dir, name string, rows, cols int, value func(i int) float32) string {
	t.Helper()
	v := make([]float32, rows*cols)
	for i := range v {
		v[i] = value(i)
	}
	path := filepath.Join(dir, name+".npy")
	if err := tensor.WriteNPY(path, tensor.FromSlice(v, rows, cols)); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeLabels writes labels.txt of n labels drawn from classes and returns its path.
func writeLabels(t *testing.T, dir string, n, classes int, rng *rand.Rand) string {
	t.Helper()
	var b strings.Builder
	for range n {
		fmt.Fprintln(&b, rng.IntN(classes))
	}
	path := filepath.Join(dir, "labels.txt")
	writeFile(t, path, b.String())
	return path
}

// outputs runs eval on args plus each of the extra argument lists, as a table and as JSON, and
// returns the outputs.
func outputs(t *testing.T, args []string, extra ...[]string) []string {
	t.Helper()
	var outs []string
	for _, e := range extra {
		for _, format := range [][]string{nil, {"-json"}} {
			var out bytes.Buffer
			a := append(append(append([]string{}, args...), e...), format...)
			if err := run(a, &out); err != nil {
				t.Fatalf("%v: %v", a, err)
			}
			outs = append(outs, out.String())
		}
	}
	return outs
}

// Issue 15, acceptance: the same L2 metrics, NMI included, for an embedding file and the same
// file scaled by 1e20 and by 1e-20 (squared norms overflowed float32 at 1e20). The points are
// v_i (1, 2, 2), v_i having for base-3 digits the binary digits of i: no v_i is the mean of two
// others, so the distances from a point to the others are distinct integers, too far apart for
// float32 rounding of the scaled values to reorder them (see dml/metrics' tieFree).
func TestL2ScaledFilesSameOutput(t *testing.T) {
	const n = 64
	dir := t.TempDir()
	labels := writeLabels(t, dir, n, 8, rand.New(rand.NewPCG(1, 15)))
	value := func(i int) float64 { // row i/3, column i%3
		v, p := 0, 1
		for b := i / 3; b > 0; b >>= 1 {
			v += b & 1 * p
			p *= 3
		}
		return float64(v * min(2, i%3+1))
	}
	var want []string
	for _, s := range []float64{1, 1e20, 1e-20} {
		emb := writeSet(t, dir, fmt.Sprint(s), n, 3, func(i int) float32 { return float32(value(i) * s) })
		got := outputs(t, []string{"-emb", emb, "-labels", labels, "-metric", "l2"}, nil)
		if want == nil {
			want = got
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("scaled by %g:\n%s\nwant, as unscaled:\n%s", s, got[i], want[i])
			}
		}
	}
	if !strings.Contains(want[0], "NMI") {
		t.Errorf("no NMI in\n%s", want[0])
	}
}

// Issue 15, point 6: 3e38 everywhere made every squared norm +Inf and k-means++ seeding panicked
// (slice bounds out of range [-8:]). The rows are all equal, as are those of 1 everywhere.
func TestL2HugeValuesFile(t *testing.T) {
	const n, d = 30, 8
	dir := t.TempDir()
	labels := writeLabels(t, dir, n, 3, rand.New(rand.NewPCG(2, 15)))
	ones := outputs(t, []string{"-emb", writeSet(t, dir, "ones", n, d, func(int) float32 { return 1 }), "-labels", labels, "-metric", "l2"}, nil)
	huge := outputs(t, []string{"-emb", writeSet(t, dir, "huge", n, d, func(int) float32 { return 3e38 }), "-labels", labels, "-metric", "l2"}, nil)
	for i := range huge {
		if huge[i] != ones[i] {
			t.Errorf("3e38 everywhere:\n%s\nwant, as for 1 everywhere:\n%s", huge[i], ones[i])
		}
	}
}

// Issue 15, point 10 and acceptance: identical output, NMI included, on repeated runs and at 1
// and 2 threads (NMI's sums over Go maps changed its last digits from run to run).
func TestOutputRepeatable(t *testing.T) {
	const n, d, classes = 600, 8, 40
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 15))
	labels := writeLabels(t, dir, n, classes, rng)
	emb := writeSet(t, dir, "emb", n, d, func(int) float32 { return float32(rng.NormFloat64()) })
	for _, metric := range []string{"cosine", "l2"} {
		outs := outputs(t, []string{"-emb", emb, "-labels", labels, "-metric", metric},
			[]string{"-threads", "1"}, []string{"-threads", "2"}, []string{"-threads", "1"}, []string{"-threads", "2"}, []string{"-threads", "0"})
		for i := 2; i < len(outs); i++ {
			if outs[i] != outs[i%2] {
				t.Errorf("%s, run %d:\n%s\nwant, as in run 0:\n%s", metric, i/2, outs[i], outs[i%2])
			}
		}
	}
}
