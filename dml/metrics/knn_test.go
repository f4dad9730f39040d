package metrics

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// bruteKNN ranks every reference for every query in float64, best first, equal scores by
// smaller index, and keeps k: the reference KNN is compared against.
func bruteKNN(query, ref Matrix, k int, metric Metric, self bool) ([][]int32, [][]float64) {
	idx := make([][]int32, query.Rows)
	score := make([][]float64, query.Rows)
	d := query.Cols
	for q := range query.Rows {
		type cand struct {
			j int32
			s float64
		}
		var cs []cand
		for r := range ref.Rows {
			if self && r == q {
				continue
			}
			s := 0.0
			for c := range d {
				a, b := float64(query.Data[q*d+c]), float64(ref.Data[r*d+c])
				if metric == L2 {
					s -= (a - b) * (a - b)
				} else {
					s += a * b
				}
			}
			cs = append(cs, cand{int32(r), s})
		}
		slices.SortStableFunc(cs, func(a, b cand) int { return cmp.Compare(b.s, a.s) })
		for _, c := range cs[:min(k, len(cs))] {
			idx[q] = append(idx[q], c.j)
			if metric == L2 {
				c.s = math.Sqrt(-c.s)
			}
			score[q] = append(score[q], c.s)
		}
	}
	return idx, score
}

// intMatrix is a rows x cols matrix of small integers: every inner product and squared distance
// is exact in float32, so rankings, ties included, must match the float64 reference exactly.
func intMatrix(rng *rand.Rand, rows, cols, span int) Matrix {
	m := Matrix{Data: make([]float32, rows*cols), Rows: rows, Cols: cols}
	for i := range m.Data {
		m.Data[i] = float32(rng.IntN(2*span+1) - span)
	}
	return m
}

func checkExact(t *testing.T, query, ref Matrix, k int, metric Metric, self bool) {
	t.Helper()
	nb, err := KNN(query, ref, k, metric, self)
	if err != nil {
		t.Fatal(err)
	}
	wantIdx, wantScore := bruteKNN(query, ref, k, metric, self)
	for q := range query.Rows {
		idx, score := nb.Row(q)
		if !slices.Equal(idx, wantIdx[q]) {
			t.Fatalf("%v self=%v k=%d query %d: neighbours %v, want %v", metric, self, k, q, idx, wantIdx[q])
		}
		for j, s := range score {
			if want := wantScore[q][j]; math.Abs(float64(s)-want) > 1e-3 {
				t.Fatalf("%v query %d neighbour %d: score %v, want %v", metric, q, j, s, wantScore[q][j])
			}
		}
	}
}

func TestKNNExactWithTies(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ nq, nr, d, k, span int }{
		{1, 1, 1, 1, 1}, {5, 7, 3, 2, 1}, {40, 60, 4, 10, 1}, {600, 700, 5, 13, 2}, {30, 1100, 8, 101, 1}, {10, 1100, 3, 130, 1}, // k > maxSymmetricK: the plain self path
	} {
		q, r := intMatrix(rng, tc.nq, tc.d, tc.span), intMatrix(rng, tc.nr, tc.d, tc.span)
		for _, metric := range []Metric{Cosine, L2} {
			checkExact(t, q, r, tc.k, metric, false)
			checkExact(t, r, r, tc.k, metric, true)
		}
	}
}

func TestKNNDuplicatesSelf(t *testing.T) {
	// Rows 0, 2 and 3 are equal: each must list the other two first, never itself.
	m := Matrix{Data: []float32{1, 0, 0, 1, 1, 0, 1, 0}, Rows: 4, Cols: 2}
	nb, err := KNN(m, m, 3, L2, true)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int32{{2, 3, 1}, {0, 2, 3}, {0, 3, 1}, {0, 2, 1}}
	for q, w := range want {
		if idx, _ := nb.Row(q); !slices.Equal(idx, w) {
			t.Errorf("query %d: %v, want %v", q, idx, w)
		}
	}
}

func TestKNNRandomFloats(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := Matrix{Data: make([]float32, 1000*16), Rows: 1000, Cols: 16}
	for i := range m.Data {
		m.Data[i] = float32(rng.NormFloat64())
	}
	copy(m.Data[700*16:701*16], m.Data[5*16:6*16]) // an exact duplicate
	m = Normalize(m)
	for _, metric := range []Metric{Cosine, L2} {
		nb, err := KNN(m, m, 20, metric, true)
		if err != nil {
			t.Fatal(err)
		}
		_, wantScore := bruteKNN(m, m, 20, metric, true)
		for q := range m.Rows {
			_, score := nb.Row(q)
			for j, s := range score {
				if math.Abs(float64(s)-wantScore[q][j]) > 2e-3 {
					t.Fatalf("%v query %d neighbour %d: score %v, want %v", metric, q, j, s, wantScore[q][j])
				}
			}
		}
		if idx, _ := nb.Row(5); idx[0] != 700 {
			t.Errorf("%v: nearest of row 5 is %d, want its duplicate 700", metric, idx[0])
		}
	}
}

func TestKNNErrors(t *testing.T) {
	good := Matrix{Data: []float32{1, 2, 3, 4}, Rows: 2, Cols: 2}
	nan := Matrix{Data: []float32{1, float32(math.NaN()), 3, 4}, Rows: 2, Cols: 2}
	wide := Matrix{Data: []float32{1, 2, 3}, Rows: 1, Cols: 3}
	for name, f := range map[string]func() error{
		"nan":  func() error { _, err := KNN(nan, good, 1, Cosine, false); return err },
		"dims": func() error { _, err := KNN(wide, good, 1, Cosine, false); return err },
		"k":    func() error { _, err := KNN(good, good, 0, Cosine, false); return err },
		"self": func() error { _, err := KNN(wide, wide.withRows(2), 1, Cosine, true); return err },
		"short": func() error {
			_, err := KNN(Matrix{Data: []float32{1}, Rows: 2, Cols: 1}, good, 1, L2, false)
			return err
		},
	} {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
	nb, err := KNN(good, good.withRows(1), 5, Cosine, true)
	if err == nil {
		t.Errorf("self with 2 queries and 1 reference: no error, %+v", nb)
	}
}

func (m Matrix) withRows(rows int) Matrix {
	return Matrix{Data: make([]float32, rows*m.Cols), Rows: rows, Cols: m.Cols}
}

func FuzzKNN(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(2), uint8(3), false)
	f.Add([]byte{0, 0, 0, 0, 9, 9}, uint8(1), uint8(1), true)
	f.Fuzz(func(t *testing.T, data []byte, dims, k uint8, l2 bool) {
		d := int(dims%4) + 1
		rows := min(len(data)/d, 64)
		if rows == 0 {
			return
		}
		m := Matrix{Data: make([]float32, rows*d), Rows: rows, Cols: d}
		for i := range m.Data {
			m.Data[i] = float32(int(data[i]%7) - 3)
		}
		metric := Cosine
		if l2 {
			metric = L2
		}
		kk := int(k%10) + 1
		checkExact(t, m, m, kk, metric, false)
		if rows > 1 {
			checkExact(t, m, m, kk, metric, true)
		}
	})
}
