package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/semprox/semprox/kernels"
)

// kmeansMaxIter bounds Lloyd's iterations, as scikit-learn's default max_iter.
const kmeansMaxIter = 300

// ClusterNMI clusters the rows of x by k-means into as many clusters as labels has classes and
// returns the NMI of the clusters against labels. Like KMeans, it gives the same result for x and
// x times any power of two that is exact, and for any thread count.
func ClusterNMI(x Matrix, labels []int64, seed uint64) (float64, error) {
	if len(labels) != x.Rows {
		return 0, fmt.Errorf("%d labels for %d embeddings", len(labels), x.Rows)
	}
	_, classes := denseLabels(labels)
	clusters, err := KMeans(x, len(classes), seed)
	if err != nil {
		return 0, err
	}
	c := make([]int64, len(clusters))
	for i, v := range clusters {
		c[i] = int64(v)
	}
	return NMI(labels, c), nil
}

// kmeansTol is scikit-learn's default relative tolerance: Lloyd's iterations stop once the
// centres move, in total squared distance, by at most kmeansTol times the mean per-dimension
// variance of the data.
const kmeansTol = 1e-4

// KMeans assigns each row of x to one of k clusters (1 <= k <= x.Rows): k-means++ seeding drawn
// from seed (the first centre uniformly, each next one with probability proportional to the
// squared distance to the nearest centre so far), then Lloyd's iterations until no assignment
// changes, the centres move less than scikit-learn's default tolerance, or 300 iterations.
// A cluster that empties keeps its centre. The rows are first scaled by a power of two as for L2
// (see l2Exponent), so no distance overflows or underflows, and x and x times an exact power of
// two give the same clusters. Deterministic for a seed, whatever the thread count.
func KMeans(x Matrix, k int, seed uint64) ([]int, error) {
	if err := x.Check("embeddings"); err != nil {
		return nil, err
	}
	if k < 1 || k > x.Rows {
		return nil, fmt.Errorf("k-means: %d clusters for %d points", k, x.Rows)
	}
	x = x.scaled(l2Exponent(x))
	centres := seedCentres(x, k, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)))
	tol := kmeansTol * meanVariance(x)
	assign := make([]int, x.Rows)
	for i := range assign {
		assign[i] = -1
	}
	for range kmeansMaxIter {
		changed := false
		// The centres are means of rows, no larger than the largest row value, so the scale
		// forEachBlock picks for L2 is 1 and it scales nothing.
		err := forEachBlock(x, centres, 1, L2, false, func(q0 int, blk Neighbors) {
			for i, c := range blk.Index {
				if assign[q0+i] != int(c) {
					assign[q0+i], changed = int(c), true
				}
			}
		})
		if err != nil || !changed {
			return assign, err
		}
		if updateCentres(x, centres, assign) <= tol {
			break
		}
	}
	return assign, nil
}

// meanVariance is the mean over dimensions of the variance of the rows of x.
func meanVariance(x Matrix) float64 {
	d := x.Cols
	mean, sq := make([]float64, d), make([]float64, d)
	for i := range x.Rows {
		for j, v := range x.Data[i*d : (i+1)*d] {
			mean[j] += float64(v)
			sq[j] += float64(v) * float64(v)
		}
	}
	total, n := 0.0, float64(x.Rows)
	for j := range d {
		m := mean[j] / n
		total += sq[j]/n - m*m
	}
	return total / float64(d)
}

// seedChunk is the number of rows whose distances seedCentres sums together. The chunks' sums
// are added in order, so the total, and with it every draw, is the same for any thread count.
const seedChunk = 1024

// seedCentres picks k rows of x by k-means++. x is scaled as KMeans scales it, so every squared
// distance ||x||^2 + ||c||^2 - 2 x.c (clamped at 0) is finite. The distances to each new centre
// are computed in parallel over chunks of rows.
func seedCentres(x Matrix, k int, rng *rand.Rand) Matrix {
	d := x.Cols
	centres := Matrix{Data: make([]float32, k*d), Rows: k, Cols: d}
	norms := squaredNorms(x)
	dist := make([]float64, x.Rows)
	for i := range dist {
		dist[i] = math.Inf(1)
	}
	chunks := (x.Rows + seedChunk - 1) / seedChunk
	workers := min(kernels.Threads(), chunks)
	partial := make([]float64, chunks)
	pick := rng.IntN(x.Rows)
	for c := range k {
		centre := x.Data[pick*d : (pick+1)*d]
		copy(centres.Data[c*d:], centre)
		cn := norms[pick]
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for ch := chunks * w / workers; ch < chunks*(w+1)/workers; ch++ {
					sum := 0.0
					for i := ch * seedChunk; i < min((ch+1)*seedChunk, x.Rows); i++ {
						sq := max(0, float64(norms[i]+cn-2*kernels.Dot(x.Data[i*d:(i+1)*d], centre)))
						dist[i] = min(dist[i], sq)
						sum += dist[i]
					}
					partial[ch] = sum
				}
			})
		}
		wg.Wait()
		total := 0.0
		for _, p := range partial {
			total += p
		}
		pick = sampleProportional(dist, total, rng)
	}
	return centres
}

// sampleProportional draws an index with probability w[i]/total, or uniformly when total is not
// positive (every row on a centre already; a NaN total, which seedCentres cannot give, also falls
// here rather than past the end).
func sampleProportional(w []float64, total float64, rng *rand.Rand) int {
	if !(total > 0) {
		return rng.IntN(len(w))
	}
	u := rng.Float64() * total
	last := 0
	for i, v := range w {
		u -= v
		if u < 0 {
			return i
		}
		if v > 0 {
			last = i
		}
	}
	return last // u is left over by rounding: the last index with a weight
}

// updateCentres moves every non-empty cluster's centre to the mean of its points and returns
// the total squared distance the centres moved.
func updateCentres(x Matrix, centres Matrix, assign []int) float64 {
	d := x.Cols
	sum := make([]float64, len(centres.Data))
	count := make([]int, centres.Rows)
	for i, c := range assign {
		count[c]++
		for j, v := range x.Data[i*d : (i+1)*d] {
			sum[c*d+j] += float64(v)
		}
	}
	shift := 0.0
	for c, n := range count {
		if n == 0 {
			continue
		}
		for j := range d {
			v := float32(sum[c*d+j] / float64(n))
			shift += float64(v-centres.Data[c*d+j]) * float64(v-centres.Data[c*d+j])
			centres.Data[c*d+j] = v
		}
	}
	return shift
}

// NMI is the normalised mutual information of two labelings of the same items, normalised by
// the arithmetic mean of their entropies (scikit-learn's normalized_mutual_info_score default).
// It is 1 when both labelings have a single class, and NaN for no items. Its sums run in a fixed
// order (classes by increasing label), so the result is the same bit for bit on every call. It
// panics if a and b differ in length.
func NMI(a, b []int64) float64 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("metrics: NMI of %d and %d labels", len(a), len(b)))
	}
	if len(a) == 0 {
		return math.NaN()
	}
	ia, ca := denseLabels(a)
	ib, cb := denseLabels(b)
	if len(ca) == 1 && len(cb) == 1 {
		return 1
	}
	// Each item's pair of classes as one number, sorted: equal pairs are runs.
	pairs := make([]int, len(a))
	for i := range pairs {
		pairs[i] = ia[i]*len(cb) + ib[i]
	}
	slices.Sort(pairs)
	n := float64(len(a))
	mi := 0.0
	for i := 0; i < len(pairs); {
		j := i + 1
		for j < len(pairs) && pairs[j] == pairs[i] {
			j++
		}
		nij := float64(j - i)
		mi += nij / n * math.Log(n*nij/(float64(ca[pairs[i]/len(cb)])*float64(cb[pairs[i]%len(cb)])))
		i = j
	}
	mean := (entropy(ca, n) + entropy(cb, n)) / 2
	return max(0, mi) / mean
}

// denseLabels numbers the distinct labels 0, 1, ... in increasing order and returns the number of
// every item's label and the count of items of each number.
func denseLabels(labels []int64) (ids, counts []int) {
	values := slices.Compact(slices.Sorted(slices.Values(labels)))
	ids, counts = make([]int, len(labels)), make([]int, len(values))
	for i, l := range labels {
		id, _ := slices.BinarySearch(values, l)
		ids[i] = id
		counts[id]++
	}
	return ids, counts
}

func entropy(counts []int, n float64) float64 {
	h := 0.0
	for _, c := range counts {
		p := float64(c) / n
		h -= p * math.Log(p)
	}
	return h
}
