package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// sameResult reports whether two results are equal bit for bit (NaN equal to NaN).
func sameResult(a, b Result) bool {
	same := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	if a.Queries != b.Queries || a.Depth != b.Depth || len(a.RecallAtK) != len(b.RecallAtK) ||
		!same(a.PrecisionAt1, b.PrecisionAt1) || !same(a.RPrecision, b.RPrecision) ||
		!same(a.MAPAtR, b.MAPAtR) || !same(a.MAP, b.MAP) || !same(a.NMI, b.NMI) {
		return false
	}
	for k, v := range a.RecallAtK {
		if w, ok := b.RecallAtK[k]; !ok || !same(v, w) {
			return false
		}
	}
	return true
}

// times returns m with every value multiplied by s and rounded to float32, as a file of m
// scaled by s would hold.
func times(m Matrix, s float64) Matrix {
	out := Matrix{Data: make([]float32, len(m.Data)), Rows: m.Rows, Cols: m.Cols}
	for i, v := range m.Data {
		out.Data[i] = float32(float64(v) * s)
	}
	return out
}

// tieFree returns n points v_i (1, 2, 2), where v_i has for base-3 digits the binary digits of i.
// No v_i is the mean of two others, so the distances 3 |v_i - v_j| from a point to the others
// are distinct integers, and their squares differ by at least 27. Rounding the values of the
// points times any factor to float32 moves a squared distance by far less (about 1 in these
// units, coordinates being at most 3 v_63 = 1092), so the ranking, and every metric, stays.
func tieFree(n int) Matrix {
	m := Matrix{Data: make([]float32, 3*n), Rows: n, Cols: 3}
	for i := range n {
		v, p := 0, 1
		for b := i; b > 0; b >>= 1 {
			v += b & 1 * p
			p *= 3
		}
		copy(m.Data[3*i:], []float32{float32(v), float32(2 * v), float32(2 * v)})
	}
	return m
}

// Issue 15, point 6: L2 metrics, NMI included, are the same for embeddings scaled by 1e20 or
// 1e-20 (squared norms overflowed float32, or fell to subnormals) as for the embeddings
// themselves, in self-retrieval and query -> gallery.
func TestEvaluateL2ScaleInvariant(t *testing.T) {
	const n, classes = 64, 8
	rng := rand.New(rand.NewPCG(15, 6))
	x := tieFree(n)
	labels := make([]int64, n)
	for i := range labels {
		labels[i] = int64(rng.IntN(classes))
	}
	// Query -> gallery: the even points against the odd ones.
	split := func(m Matrix) (q, g Matrix, ql, gl []int64) {
		q, g = Matrix{Cols: m.Cols}, Matrix{Cols: m.Cols}
		for i := range m.Rows {
			row := m.Data[i*m.Cols : (i+1)*m.Cols]
			if i%2 == 0 {
				q.Data, q.Rows, ql = append(q.Data, row...), q.Rows+1, append(ql, labels[i])
			} else {
				g.Data, g.Rows, gl = append(g.Data, row...), g.Rows+1, append(gl, labels[i])
			}
		}
		return q, g, ql, gl
	}
	opt := Options{Metric: L2, Ks: []int{1, 2, 4, 8}, Seed: 3}
	evaluate := func(m Matrix) (self, pair Result) {
		t.Helper()
		self, err := Evaluate(m, labels, m, labels, true, opt)
		if err != nil {
			t.Fatal(err)
		}
		q, g, ql, gl := split(m)
		if pair, err = Evaluate(q, ql, g, gl, false, opt); err != nil {
			t.Fatal(err)
		}
		return self, pair
	}
	wantSelf, wantPair := evaluate(x)
	if wantSelf.PrecisionAt1 == 0 || wantSelf.PrecisionAt1 == 1 || math.IsNaN(wantSelf.NMI) {
		t.Fatalf("the data should give metrics between 0 and 1: %+v", wantSelf)
	}
	for _, s := range []float64{1e20, 1e-20, 1e-30, 0x1p100, 0x1p-100, 3} {
		self, pair := evaluate(times(x, s))
		if !sameResult(self, wantSelf) {
			t.Errorf("scaled by %g, self-retrieval: %+v, want %+v", s, self, wantSelf)
		}
		if !sameResult(pair, wantPair) {
			t.Errorf("scaled by %g, query -> gallery: %+v, want %+v", s, pair, wantPair)
		}
	}
}

// KNN's L2 distances are in the embeddings' units: scaling the embeddings by a power of two
// scales every distance by it exactly and keeps every neighbour.
func TestKNNL2PowerOfTwoScale(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	m := Matrix{Data: make([]float32, 300*16), Rows: 300, Cols: 16}
	for i := range m.Data {
		m.Data[i] = float32(rng.NormFloat64())
	}
	want, err := KNN(m, m, 20, L2, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []float64{0x1p100, 0x1p-100} {
		got, err := KNN(times(m, s), times(m, s), 20, L2, true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Index, want.Index) {
			t.Fatalf("scaled by %g: neighbours differ", s)
		}
		for i, v := range got.Score {
			if float64(v) != float64(want.Score[i])*s {
				t.Fatalf("scaled by %g: distance %d is %g, want %g", s, i, v, float64(want.Score[i])*s)
			}
		}
	}
}

func filled(rows, cols int, v func(row int) float32) Matrix {
	m := Matrix{Data: make([]float32, rows*cols), Rows: rows, Cols: cols}
	for i := range m.Data {
		m.Data[i] = v(i / cols)
	}
	return m
}

// Issue 15, point 6: embeddings of 3e38 everywhere made every squared norm +Inf and every
// distance NaN, and k-means++ seeding panicked. Now they rank as any equal rows do, and rows of
// opposite signs are +Inf apart, never NaN.
func TestL2HugeValues(t *testing.T) {
	const n, d = 40, 4
	labels := make([]int64, n)
	for i := range labels {
		labels[i] = int64(i % 5)
	}
	opt := Options{Metric: L2, Ks: []int{1, 2}}
	want, err := Evaluate(filled(n, d, func(int) float32 { return 1 }), labels, filled(n, d, func(int) float32 { return 1 }), labels, true, opt)
	if err != nil {
		t.Fatal(err)
	}
	huge := filled(n, d, func(int) float32 { return 3e38 })
	got, err := Evaluate(huge, labels, huge, labels, true, opt)
	if err != nil || !sameResult(got, want) {
		t.Errorf("3e38 everywhere: %+v, %v; want %+v as for 1 everywhere", got, err, want)
	}

	sign := func(row int) float32 { return float32(1-2*(row%2)) * 3e38 }
	mixed := filled(n, d, sign)
	nb, err := KNN(mixed, mixed, n-1, L2, true)
	if err != nil {
		t.Fatal(err)
	}
	for q := range n {
		idx, score := nb.Row(q)
		for j := range idx {
			if sign(int(idx[j])) != sign(q) {
				if j < n/2-1 || !math.IsInf(float64(score[j]), 1) {
					t.Fatalf("query %d neighbour %d (%d) of the other sign: rank %d, distance %v; want after those of its sign, +Inf", q, j, idx[j], j, score[j])
				}
			} else if !(score[j] < 1e-3*3e38) { // 0 but for float32 rounding in ||q||^2 + ||r||^2 - 2 q.r
				t.Fatalf("query %d neighbour %d (%d) of its sign: distance %v, want about 0", q, j, idx[j], score[j])
			}
		}
	}
	signs := make([]int64, n)
	for i := range signs {
		signs[i] = int64(i % 2)
	}
	if nmi, err := ClusterNMI(mixed, signs, 1); err != nil || nmi != 1 {
		t.Errorf("k-means of +-3e38 by sign: NMI %v, %v; want 1", nmi, err)
	}
}

// NaN or Inf in the queries or the references is an error naming them, the row and the column,
// for either metric (a NaN row used to become a zero row in cosine's normalisation).
func TestEvaluateNonFiniteNamesRow(t *testing.T) {
	labels := []int64{0, 0, 1, 1}
	for _, metric := range []Metric{Cosine, L2} {
		for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
			good := Matrix{Data: []float32{1, 0, 1, 1, 0, 1, 2, 1}, Rows: 4, Cols: 2}
			m := Matrix{Data: slices.Clone(good.Data), Rows: 4, Cols: 2}
			m.Data[2*2+1] = bad
			want := "row 2 column 1 is " + fmtFloat(bad)
			for _, tc := range []struct {
				err  error
				want string
			}{
				{evalErr(m, labels, good, labels, false, metric), "query embeddings: " + want},
				{evalErr(good, labels, m, labels, false, metric), "reference embeddings: " + want},
				{evalErr(m, labels, m, labels, true, metric), "query embeddings: " + want},
			} {
				if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
					t.Errorf("%v, %v: error %v, want %q", metric, bad, tc.err, tc.want)
				}
			}
		}
	}
}

func fmtFloat(v float32) string {
	switch {
	case math.IsNaN(float64(v)):
		return "NaN"
	case v > 0:
		return "+Inf"
	}
	return "-Inf"
}

func evalErr(q Matrix, ql []int64, r Matrix, rl []int64, self bool, metric Metric) error {
	_, err := Evaluate(q, ql, r, rl, self, Options{Metric: metric, Ks: []int{1}})
	return err
}
