package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestNMIKnownPartitions(t *testing.T) {
	for _, tc := range []struct {
		a, b []int64
		want float64
	}{
		{[]int64{0, 0, 1, 1}, []int64{5, 5, 9, 9}, 1},   // same partition, renamed
		{[]int64{0, 0, 1, 1}, []int64{0, 1, 0, 1}, 0},   // independent
		{[]int64{0, 0, 0, 0}, []int64{3, 3, 3, 3}, 1},   // both a single class
		{[]int64{0, 0, 1, 1}, []int64{0, 0, 0, 0}, 0},   // one side a single class
		{[]int64{0, 0, 1, 1}, []int64{0, 0, 1, 2}, 0.8}, // scikit-learn: 0.7999999999999998
		// scikit-learn normalized_mutual_info_score([0,0,0,1,1,1], [0,0,1,1,2,2]) = 0.5158037429793889
		{[]int64{0, 0, 0, 1, 1, 1}, []int64{0, 0, 1, 1, 2, 2}, 0.5158037429793889},
	} {
		if got := NMI(tc.a, tc.b); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("NMI(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	if !math.IsNaN(NMI(nil, nil)) {
		t.Error("NMI of no items is not NaN")
	}
}

// Well separated blobs: k-means recovers them and the NMI is 1; the result is the same for the
// same seed.
func TestClusterNMISeparatedBlobs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const classes, per, d = 6, 30, 8
	x := Matrix{Data: make([]float32, classes*per*d), Rows: classes * per, Cols: d}
	labels := make([]int64, x.Rows)
	for i := range x.Rows {
		c := i % classes
		labels[i] = int64(c)
		for j := range d {
			x.Data[i*d+j] = float32(rng.NormFloat64() * 0.05)
		}
		x.Data[i*d+c] += 10
	}
	for seed := range uint64(3) {
		nmi, err := ClusterNMI(x, labels, seed)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(nmi-1) > 1e-12 {
			t.Errorf("seed %d: NMI %v, want 1", seed, nmi)
		}
	}
	a, _ := KMeans(x, 4, 42)
	b, _ := KMeans(x, 4, 42)
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("k-means differs between two runs with the same seed")
		}
	}
	if _, err := KMeans(x, x.Rows+1, 0); err == nil {
		t.Error("more clusters than points: no error")
	}
}
