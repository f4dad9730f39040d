package metrics

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func mean(v ...float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// pytorch-metric-learning's tests/utils/test_calculate_accuracies.py: five queries, their
// neighbours' labels and the reference class sizes, with and without the query among the
// references (then its first neighbour, itself, is dropped and R is one less).
func TestTallyPMLExample(t *testing.T) {
	queryLabels := []int64{1, 1, 2, 3, 4}
	knn := [][]int64{{0, 1, 1, 2, 2}, {1, 0, 1, 1, 3}, {4, 4, 4, 4, 2}, {3, 1, 3, 1, 3}, {0, 0, 4, 2, 2}}
	counts := map[int64]int{1: 3, 2: 5, 3: 4, 4: 5}
	type want struct{ p1, rPrec, mapR, mapAll float64 }
	cases := map[bool]want{
		false: {0.4,
			mean(2.0/3, 2.0/3, 1.0/5, 2.0/4, 1.0/5),
			mean((1.0/2+2.0/3)/3, (1+2.0/3)/3, (1.0/5)/5, (1+2.0/3)/4, (1.0/3)/5),
			mean((1.0/2+2.0/3)/2, (1+2.0/3+3.0/4)/3, 1.0/5, (1+2.0/3+3.0/5)/3, 1.0/3)},
		true: {1.0 / 5,
			mean(1, 1.0/2, 1.0/4, 1.0/3, 1.0/4),
			mean(1, (1.0/2)/2, (1.0/4)/4, (1.0/2)/3, (1.0/2)/4),
			mean(1, (1.0/2+2.0/3)/2, 1.0/4, (1.0/2+2.0/4)/2, 1.0/2)},
	}
	for self, w := range cases {
		acc := NewTally([]int{1, 2})
		for q, row := range knn {
			r := counts[queryLabels[q]]
			if self {
				row, r = row[1:], r-1
			}
			match := make([]bool, len(row))
			for j, l := range row {
				match[j] = l == queryLabels[q]
			}
			acc.Add(ScoreQuery(match, r, []int{1, 2}))
		}
		got := acc.Result()
		if got.Queries != 5 || !near(got.PrecisionAt1, w.p1) || !near(got.RPrecision, w.rPrec) ||
			!near(got.MAPAtR, w.mapR) || !near(got.MAP, w.mapAll) || !near(got.RecallAtK[1], w.p1) {
			t.Errorf("self=%v: got %+v, want %+v", self, got, w)
		}
	}
}

func line(vals ...float32) Matrix { return Matrix{Data: vals, Rows: len(vals), Cols: 1} }

// pytorch-metric-learning's TestCalculateAccuraciesAndFaiss: one-dimensional embeddings 0..9,
// Euclidean distance, query set separate from the reference set.
func TestEvaluatePMLFaissExamples(t *testing.T) {
	ten := line(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	labels := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	res, err := Evaluate(ten, labels, ten, labels, false, Options{Metric: L2, SkipNMI: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.PrecisionAt1 != 1 || res.RPrecision != 1 || res.MAPAtR != 1 {
		t.Errorf("identity: %+v", res)
	}
	q := line(0, 1, 2, 3, 4, 5, 6, 7, 8, 100)
	r := line(-100, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	ql := []int64{0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	rl := []int64{1, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	res, err = Evaluate(q, ql, r, rl, false, Options{Metric: L2, SkipNMI: true})
	if err != nil {
		t.Fatal(err)
	}
	if !near(res.PrecisionAt1, 0.9) || !near(res.RPrecision, 0.9) || !near(res.MAPAtR, 0.9) {
		t.Errorf("outlier: %+v", res)
	}
}

// Equal distances rank the smaller reference index first: here a reference of another class,
// so precision@1 is 0 and the same-class reference only counts from rank 2.
func TestEvaluateTiedDistances(t *testing.T) {
	q := line(0)
	r := line(1, -1)
	res, err := Evaluate(q, []int64{7}, r, []int64{3, 7}, false, Options{Metric: L2, Ks: []int{1, 2}, SkipNMI: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.PrecisionAt1 != 0 || res.RecallAtK[1] != 0 || res.RecallAtK[2] != 1 || res.MAPAtR != 0 || res.MAP != 0.5 {
		t.Errorf("tied: %+v", res)
	}
	// Self-retrieval with duplicate embeddings: row 0's twin (row 1) is of another class.
	dup := Matrix{Data: []float32{1, 0, 1, 0, 0.9, 0.1, 0, 1}, Rows: 4, Cols: 2}
	res, err = Evaluate(dup, []int64{0, 1, 0, 1}, dup, []int64{0, 1, 0, 1}, true, Options{SkipNMI: true})
	if err != nil {
		t.Fatal(err)
	}
	// Query 0: neighbours 1 (tie at similarity 1, other class), 2. Query 1: 0 (other class).
	// Query 2: 0 (same). Query 3: 2 (other class; 0 and 1 tie just behind).
	if !near(res.PrecisionAt1, 0.25) {
		t.Errorf("duplicates: precision@1 %v, want 0.25 (%+v)", res.PrecisionAt1, res)
	}
}

// Lone queries (no other reference of their class) are left out of every retrieval metric.
func TestEvaluateLoneQueries(t *testing.T) {
	emb := line(0, 1, 2, 10)
	labels := []int64{0, 0, 1, 2}
	res, err := Evaluate(emb, labels, emb, labels, true, Options{Metric: L2, Ks: []int{1}, SkipNMI: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Queries != 2 || res.PrecisionAt1 != 1 || res.MAPAtR != 1 || res.RecallAtK[1] != 1 {
		t.Errorf("lone: %+v", res)
	}
	res, err = Evaluate(line(0, 1), []int64{0, 1}, line(0, 1), []int64{0, 1}, true, Options{SkipNMI: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Queries != 0 || !math.IsNaN(res.MAPAtR) || !math.IsNaN(res.PrecisionAt1) {
		t.Errorf("all lone: %+v", res)
	}
}

// MAP@R by hand: R = 3 with hits at ranks 1 and 3 gives (1/1 + 2/3) / 3; R-precision 2/3.
// Neighbours beyond R do not count for MAP@R but do for MAP.
func TestMAPAtRByHand(t *testing.T) {
	for _, tc := range []struct {
		match           []bool
		r               int
		mapR, rPrec, ap float64
	}{
		{[]bool{true, false, true, true}, 3, (1 + 2.0/3) / 3, 2.0 / 3, (1 + 2.0/3 + 3.0/4) / 3},
		{[]bool{false, false, false, true}, 3, 0, 0, 1.0 / 4},
		{[]bool{false, true}, 1, 0, 0, 1.0 / 2},
		{[]bool{true, true}, 2, 1, 1, 1},
		{[]bool{false, false}, 2, 0, 0, 0},
	} {
		acc := NewTally(nil)
		acc.Add(ScoreQuery(tc.match, tc.r, nil))
		got := acc.Result()
		if !near(got.MAPAtR, tc.mapR) || !near(got.RPrecision, tc.rPrec) || !near(got.MAP, tc.ap) {
			t.Errorf("%v R=%d: MAP@R %v R-precision %v MAP %v, want %v %v %v", tc.match, tc.r, got.MAPAtR, got.RPrecision, got.MAP, tc.mapR, tc.rPrec, tc.ap)
		}
	}
}

// Evaluate retrieves max R neighbours (here 6 - 1) even when Ks asks for fewer, so MAP@R is exact for a
// class larger than every K.
func TestEvaluateDepthCoversR(t *testing.T) {
	emb := line(0, 1, 2, 3, 4, 5, 100)
	labels := []int64{0, 0, 0, 0, 0, 0, 1}
	res, err := Evaluate(emb, labels, emb, labels, true, Options{Metric: L2, Ks: []int{1}, SkipNMI: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Depth != 5 || res.Queries != 6 || res.MAPAtR != 1 {
		t.Errorf("depth: %+v", res)
	}
}

func TestEvaluateErrors(t *testing.T) {
	emb := line(0, 1)
	if _, err := Evaluate(emb, []int64{0}, emb, []int64{0, 1}, false, Options{}); err == nil {
		t.Error("short query labels: no error")
	}
	if _, err := Evaluate(emb, []int64{0, 1}, emb, []int64{0}, false, Options{}); err == nil {
		t.Error("short reference labels: no error")
	}
	if _, err := Evaluate(emb, []int64{0, 1}, emb, []int64{0, 1}, false, Options{Ks: []int{0}}); err == nil {
		t.Error("K = 0: no error")
	}
}
