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
// returns the NMI of the clusters against labels.
func ClusterNMI(x Matrix, labels []int64, seed uint64) (float64, error) {
	if len(labels) != x.Rows {
		return 0, fmt.Errorf("%d labels for %d embeddings", len(labels), x.Rows)
	}
	classes := map[int64]bool{}
	for _, l := range labels {
		classes[l] = true
	}
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
// A cluster that empties keeps its centre. Deterministic for a seed and a thread count.
func KMeans(x Matrix, k int, seed uint64) ([]int, error) {
	if err := x.check("embeddings"); err != nil {
		return nil, err
	}
	if k < 1 || k > x.Rows {
		return nil, fmt.Errorf("k-means: %d clusters for %d points", k, x.Rows)
	}
	centres := seedCentres(x, k, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)))
	tol := kmeansTol * meanVariance(x)
	assign := make([]int, x.Rows)
	for i := range assign {
		assign[i] = -1
	}
	for range kmeansMaxIter {
		changed := false
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

// seedCentres picks k rows of x by k-means++. The squared distances to each new centre,
// ||x||^2 + ||c||^2 - 2 x.c (clamped at 0), are computed in parallel over chunks of rows.
func seedCentres(x Matrix, k int, rng *rand.Rand) Matrix {
	d := x.Cols
	centres := Matrix{Data: make([]float32, k*d), Rows: k, Cols: d}
	norms := squaredNorms(x)
	dist := make([]float64, x.Rows)
	for i := range dist {
		dist[i] = math.Inf(1)
	}
	workers := min(kernels.Threads(), x.Rows)
	partial := make([]float64, workers)
	pick := rng.IntN(x.Rows)
	for c := range k {
		centre := x.Data[pick*d : (pick+1)*d]
		copy(centres.Data[c*d:], centre)
		cn := norms[pick]
		var wg sync.WaitGroup
		for w := range workers {
			lo, hi := x.Rows*w/workers, x.Rows*(w+1)/workers
			wg.Go(func() {
				sum := 0.0
				for i := lo; i < hi; i++ {
					sq := max(0, float64(norms[i]+cn-2*kernels.Dot(x.Data[i*d:(i+1)*d], centre)))
					dist[i] = min(dist[i], sq)
					sum += dist[i]
				}
				partial[w] = sum
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

// sampleProportional draws an index with probability w[i]/total (uniformly when total is 0).
func sampleProportional(w []float64, total float64, rng *rand.Rand) int {
	if total <= 0 {
		return rng.IntN(len(w))
	}
	u := rng.Float64() * total
	for i, v := range w {
		u -= v
		if u < 0 {
			return i
		}
	}
	return slices.IndexFunc(w, func(v float64) bool { return v > 0 })
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
// It is 1 when both labelings have a single class, and NaN for no items.
func NMI(a, b []int64) float64 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("metrics: NMI of %d and %d labels", len(a), len(b)))
	}
	if len(a) == 0 {
		return math.NaN()
	}
	type pair struct{ a, b int64 }
	joint, ca, cb := map[pair]int{}, map[int64]int{}, map[int64]int{}
	for i := range a {
		joint[pair{a[i], b[i]}]++
		ca[a[i]]++
		cb[b[i]]++
	}
	if len(ca) == 1 && len(cb) == 1 {
		return 1
	}
	n := float64(len(a))
	mi := 0.0
	for p, c := range joint {
		nij := float64(c)
		mi += nij / n * math.Log(n*nij/(float64(ca[p.a])*float64(cb[p.b])))
	}
	mean := (entropy(ca, n) + entropy(cb, n)) / 2
	return max(0, mi) / mean
}

func entropy(counts map[int64]int, n float64) float64 {
	h := 0.0
	for _, c := range counts {
		p := float64(c) / n
		h -= p * math.Log(p)
	}
	return h
}
