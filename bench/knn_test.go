package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/semprox/semprox/dml/metrics"
)

// BenchmarkKNN measures exact self-retrieval at Stanford Online Products test size: every one
// of n random unit vectors against all n by inner product, k nearest each, the query left out by
// index. It reports seconds per full retrieval and the process's peak resident bytes (which
// include the embeddings, 93 MB, and the neighbour lists).
func BenchmarkKNN(b *testing.B) {
	const n, d, k, threads = 60502, 384, 101, 2
	rng := rand.New(rand.NewPCG(1, 1))
	emb := metrics.Matrix{Data: make([]float32, n*d), Rows: n, Cols: d}
	for i := range emb.Data {
		emb.Data[i] = float32(rng.NormFloat64())
	}
	emb = metrics.Normalize(emb)
	b.Run(fmt.Sprintf("n=%d,d=%d,k=%d/threads=%d", n, d, k, threads), func(b *testing.B) {
		withBenchThreads(threads, func() {
			for b.Loop() {
				if _, err := metrics.KNN(emb, emb, k, metrics.Cosine, true); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op")
			b.ReportMetric(float64(peakRSS()), "peak-bytes")
		})
	})
}
