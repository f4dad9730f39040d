package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/semprox/semprox/kernels"
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

// Issue 15, point 10: NMI summed over Go maps, whose order changes from call to call, so the last
// digits did too. It must be the same bit for bit on every call.
func TestNMIRepeatable(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 15))
	a, b := make([]int64, 3000), make([]int64, 3000)
	for i := range a {
		a[i], b[i] = int64(rng.IntN(60))*7-100, int64(rng.IntN(70))
	}
	want := NMI(a, b)
	for range 30 {
		if got := NMI(a, b); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("NMI %v, then %v", want, got)
		}
	}
}

// k-means, and so NMI, is the same for any thread count: k-means++ sums its distances in fixed
// chunks (over several here), and Lloyd's iterations assign and average in a fixed order.
func TestKMeansThreadCount(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	rng := rand.New(rand.NewPCG(3, 7))
	const classes, n, d = 20, 2*seedChunk + 300, 8
	centre := make([]float64, classes*d)
	for i := range centre {
		centre[i] = rng.NormFloat64()
	}
	x := Matrix{Data: make([]float32, n*d), Rows: n, Cols: d}
	labels := make([]int64, n)
	for i := range n {
		labels[i] = int64(i % classes)
		for j := range d {
			x.Data[i*d+j] = float32(centre[i%classes*d+j] + 0.8*rng.NormFloat64())
		}
	}
	var want []int
	var wantNMI float64
	for _, threads := range []int{1, 2, 3, 1} {
		kernels.SetThreads(threads)
		got, err := KMeans(x, classes, 9)
		if err != nil {
			t.Fatal(err)
		}
		nmi, err := ClusterNMI(x, labels, 9)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want, wantNMI = got, nmi
			continue
		}
		if !slices.Equal(got, want) || math.Float64bits(nmi) != math.Float64bits(wantNMI) {
			t.Errorf("%d threads: NMI %v, want %v as with 1 thread; assignments equal: %v", threads, nmi, wantNMI, slices.Equal(got, want))
		}
	}
}
