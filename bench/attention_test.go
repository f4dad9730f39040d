package bench

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/semprox/semprox/kernels"
)

// attentionShapes are a ViT-S/16 block's attention at batch 64 with 10 prompts (197 + 10 tokens).
var attentionShapes = []kernels.AttentionShape{{Batch: 64, Tokens: 207, Heads: 6, HeadDim: 64}}

// BenchmarkAttention measures the fused attention forward and backward, reporting GFLOPS counted
// as 4*B*H*N*N*dh for the forward (q k^T and p v) and 8*B*H*N*N*dh for the backward.
func BenchmarkAttention(b *testing.B) {
	b.Logf("SIMD path: %v", kernels.ActiveSIMD())
	for _, s := range attentionShapes {
		rng := rand.New(rand.NewPCG(1, 1))
		qkv := randomSlice(rng, s.Batch*s.Tokens*3*s.Heads*s.HeadDim)
		dout := randomSlice(rng, s.Batch*s.Tokens*s.Heads*s.HeadDim)
		out := kernels.AlignedFloat32s(len(dout))
		lse := kernels.AlignedFloat32s(s.Batch * s.Heads * s.Tokens)
		dqkv := kernels.AlignedFloat32s(len(qkv))
		flops := float64(s.Batch*s.Heads*s.HeadDim) * float64(s.Tokens*s.Tokens)
		kernels.AttentionForward(out, lse, qkv, s)
		passes := []struct {
			name  string
			flops float64
			run   func()
		}{
			{"fwd", 4 * flops, func() { kernels.AttentionForward(out, lse, qkv, s) }},
			{"bwd", 8 * flops, func() { kernels.AttentionBackward(dqkv, dout, out, lse, qkv, s) }},
		}
		for _, pass := range passes {
			for _, threads := range benchThreads {
				b.Run(fmt.Sprintf("%s/%v/threads=%d", pass.name, s, threads), func(b *testing.B) {
					withBenchThreads(threads, func() {
						pass.run()
						b.ResetTimer()
						for b.Loop() {
							pass.run()
						}
						b.ReportMetric(pass.flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
					})
				})
			}
		}
	}
}

// withBenchThreads runs f with both GOMAXPROCS and the kernels' pool set to threads.
func withBenchThreads(threads int, f func()) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
	saved := kernels.Threads()
	kernels.SetThreads(threads)
	defer kernels.SetThreads(saved)
	f()
}
