package bench

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/semprox/semprox/kernels"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// vitTokens is the token count of a ViT-S/16 batch of 64 images with 10 prompts: 64 x (197 + 10).
const vitTokens = 64 * 207

// sgemmShapes are the squares and the matrix products of a ViT-S/16 block at batch 64, as
// C[M,N] = A[M,K] B[K,N]: qkv, attention projection, fc1 and fc2.
var sgemmShapes = append([][3]int{{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048}}, vitShapes...)

// vitShapes are the four products of a ViT-S/16 block: qkv, attention projection, fc1 and fc2.
var vitShapes = [][3]int{{vitTokens, 1152, 384}, {vitTokens, 384, 384}, {vitTokens, 1536, 384}, {vitTokens, 384, 1536}}

var benchThreads = []int{1, 2}

type sgemmFunc func(m, n, k int, a, b, c []float32)

// benchmarkSgemm runs f over every shape and thread count, reporting GFLOPS (2mnk per product).
// Threads are set through both GOMAXPROCS and the kernels' pool, so other libraries get the same.
func benchmarkSgemm(b *testing.B, f sgemmFunc) { benchmarkShapes(b, sgemmShapes, f) }

// benchmarkShapes is benchmarkSgemm over the given shapes.
func benchmarkShapes(b *testing.B, shapes [][3]int, f sgemmFunc) {
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		rng := rand.New(rand.NewPCG(1, 1))
		x, y, z := randomSlice(rng, m*k), randomSlice(rng, k*n), make([]float32, m*n)
		for _, threads := range benchThreads {
			b.Run(fmt.Sprintf("%dx%dx%d/threads=%d", m, n, k, threads), func(b *testing.B) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
				saved := kernels.Threads()
				kernels.SetThreads(threads)
				defer kernels.SetThreads(saved)
				f(m, n, k, x, y, z)
				runtime.GC() // the operands of earlier runs are garbage: collect it outside the timing
				b.ResetTimer()
				for b.Loop() {
					f(m, n, k, x, y, z)
				}
				b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

// BenchmarkSgemm measures kernels.Sgemm on the active SIMD path (SEMPROX_SIMD forces a lower one).
func BenchmarkSgemm(b *testing.B) {
	b.Logf("SIMD path: %v", kernels.ActiveSIMD())
	benchmarkSgemm(b, func(m, n, k int, a, bb, c []float32) {
		kernels.Sgemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
	})
}

// BenchmarkSgemmFrozen measures the product of a layer with a frozen weight, x W^T with W [N,K]
// as a ViT stores it, on the four ViT shapes: Sgemm packing W at every call ("fp32-sgemm"), and
// SgemmPacked with W packed once in float32 ("fp32") and in bf16 ("bf16", the bf16 kernel where
// the CPU has AVX512_BF16, else plain Go).
func BenchmarkSgemmFrozen(b *testing.B) {
	b.Logf("SIMD path: %v", kernels.ActiveSIMD())
	b.Run("fp32-sgemm", func(b *testing.B) {
		benchmarkShapes(b, vitShapes, func(m, n, k int, a, w, c []float32) {
			kernels.Sgemm(false, true, m, n, k, 1, a, k, w, k, 0, c, n)
		})
	})
	for _, p := range []kernels.Precision{kernels.FP32, kernels.BF16} {
		b.Run(p.String(), func(b *testing.B) {
			packed := map[*float32]*kernels.PackedB{}
			benchmarkShapes(b, vitShapes, func(m, n, k int, a, w, c []float32) {
				pw := packed[&w[0]]
				if pw == nil || !sameDims(pw, k, n) {
					pw = kernels.PackB(p, true, k, n, w, k)
					packed[&w[0]] = pw
				}
				kernels.SgemmPacked(nil, m, 1, a, k, pw, 0, c, n)
			})
		})
	}
}

func sameDims(pb *kernels.PackedB, k, n int) bool {
	pk, pn := pb.Dims()
	return pk == k && pn == n
}

// BenchmarkGonumSgemm measures gonum's pure-Go Sgemm on the same shapes, for comparison.
func BenchmarkGonumSgemm(b *testing.B) {
	impl := gonum.Implementation{}
	benchmarkSgemm(b, func(m, n, k int, a, bb, c []float32) {
		impl.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, bb, n, 0, c, n)
	})
}

func randomSlice(rng *rand.Rand, n int) []float32 {
	s := kernels.AlignedFloat32s(n)
	for i := range s {
		s[i] = 2*rng.Float32() - 1
	}
	return s
}
