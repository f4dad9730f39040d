package bench

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/semprox/semprox/kernels"
)

// vectorShapes are the activations of a ViT-S/16 block at batch 64 with 10 prompts: the MLP's
// hidden layer [tokens, 1536] (GELU) and the residual stream [tokens, 384] (LayerNorm).
var vectorShapes = [][2]int{{vitTokens, 1536}, {vitTokens, 384}}

// benchmarkRows runs f over every shape and thread count, reporting Gelem/s (elements of x per
// second). Threads are set through both GOMAXPROCS and the kernels' pool.
func benchmarkRows(b *testing.B, shapes [][2]int, f func(x, out []float32, rows, cols int)) {
	for _, s := range shapes {
		rows, cols := s[0], s[1]
		rng := rand.New(rand.NewPCG(1, 1))
		x := normalSlice(rng, rows*cols)
		out := kernels.AlignedFloat32s(rows * cols)
		for _, threads := range benchThreads {
			b.Run(fmt.Sprintf("%dx%d/threads=%d", rows, cols, threads), func(b *testing.B) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
				saved := kernels.Threads()
				kernels.SetThreads(threads)
				defer kernels.SetThreads(saved)
				f(x, out, rows, cols)
				b.ResetTimer()
				for b.Loop() {
					f(x, out, rows, cols)
				}
				b.ReportMetric(float64(rows)*float64(cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
			})
		}
	}
}

// BenchmarkGELU measures kernels.GELU from one array into another.
func BenchmarkGELU(b *testing.B) {
	b.Logf("SIMD path: %v", kernels.ActiveSIMD())
	benchmarkRows(b, vectorShapes, func(x, out []float32, _, _ int) { kernels.GELU(out, x) })
}

// BenchmarkGELUBackward measures kernels.GELUBackward in place on the incoming gradient.
func BenchmarkGELUBackward(b *testing.B) {
	benchmarkRows(b, vectorShapes, func(x, dy []float32, _, _ int) { kernels.GELUBackward(dy, dy, x) })
}

// BenchmarkLayerNorm measures kernels.LayerNorm with gamma = 1, beta = 0 into another array.
func BenchmarkLayerNorm(b *testing.B) {
	b.Logf("SIMD path: %v", kernels.ActiveSIMD())
	ln := newLayerNormBench()
	benchmarkRows(b, vectorShapes, func(x, y []float32, rows, cols int) { ln.forward(x, y, rows, cols) })
}

// BenchmarkLayerNormBackward measures kernels.LayerNormBackward with dx in place on dy.
func BenchmarkLayerNormBackward(b *testing.B) {
	ln := newLayerNormBench()
	benchmarkRows(b, vectorShapes, func(x, dy []float32, rows, cols int) {
		if len(ln.mean) != rows {
			y := make([]float32, len(x))
			ln.forward(x, y, rows, cols)
			copy(dy, y)
		}
		kernels.LayerNormBackward(dy, ln.dgamma[:cols], ln.dbeta[:cols], dy, x, ln.mean, ln.rstd, ln.gamma[:cols], cols)
	})
}

type layerNormBench struct {
	mean, rstd                 []float32
	gamma, beta, dgamma, dbeta []float32
}

func newLayerNormBench() *layerNormBench {
	ln := &layerNormBench{}
	for _, p := range []*[]float32{&ln.gamma, &ln.beta, &ln.dgamma, &ln.dbeta} {
		*p = make([]float32, 4096)
	}
	for i := range ln.gamma {
		ln.gamma[i] = 1
	}
	return ln
}

func (ln *layerNormBench) forward(x, y []float32, rows, cols int) {
	if len(ln.mean) != rows {
		ln.mean, ln.rstd = make([]float32, rows), make([]float32, rows)
	}
	kernels.LayerNorm(y, ln.mean, ln.rstd, x, ln.gamma[:cols], ln.beta[:cols], cols, 1e-6)
}

// BenchmarkExp measures kernels.Exp on an array that stays in L1 (16K elements) and on one that
// streams from memory.
func BenchmarkExp(b *testing.B) {
	benchmarkRows(b, [][2]int{{1, 1 << 14}, {vitTokens, 384}}, func(x, out []float32, _, _ int) { kernels.Exp(out, x) })
}

// BenchmarkSoftmax measures kernels.Softmax on rows of attention scores (197+10 tokens).
func BenchmarkSoftmax(b *testing.B) {
	benchmarkRows(b, [][2]int{{64 * 6 * 207, 207}}, func(x, out []float32, _, cols int) { kernels.Softmax(out, x, cols) })
}

// BenchmarkCopy is the memory ceiling of the streaming kernels above: copy() of the same
// arrays (one read and one write per element, as GELU and LayerNorm).
func BenchmarkCopy(b *testing.B) {
	benchmarkRows(b, vectorShapes, func(x, out []float32, _, _ int) { copy(out, x) })
}

func normalSlice(rng *rand.Rand, n int) []float32 {
	s := kernels.AlignedFloat32s(n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}
