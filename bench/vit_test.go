package bench

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/tensor"
)

// vitStep is the model and inputs of the ViT-S/16 benchmarks, built as
// ../shared/tools/anchor_torch_vit.py builds them: 10 dataset prompts per block for the sample
// tower, a bank of 3 class prompts per block for 100 classes for the proxy tower, weights
// frozen and every bias trainable (BitFit).
type vitStep struct {
	model        *nn.ViT
	images       *autodiff.Var
	labels       []int
	dataPrompts  []*autodiff.Var // per block [1, 10, D]
	classPrompts []*autodiff.Var // per block [100, 3, D]
	tape         *autodiff.Tape
}

func newViTStep(batch int) *vitStep {
	rng := rand.New(rand.NewPCG(1, 2))
	c := nn.Configs["vit_small_patch16_224"]
	m := nn.NewViT(c)
	m.Init(rng)
	nn.SetTrainable(m.Parameters(), nn.IsBias)
	s := &vitStep{model: m, tape: autodiff.NewTape()}
	img := tensor.New(batch, 3, c.ImageSize, c.ImageSize)
	for i := range img.Data() {
		img.Data()[i] = float32(rng.NormFloat64())
	}
	s.images = autodiff.Constant(img)
	for i := range batch {
		s.labels = append(s.labels, i/2)
	}
	for range c.Depth {
		s.dataPrompts = append(s.dataPrompts, randomParam(rng, 1, 10, c.Dim))
		s.classPrompts = append(s.classPrompts, randomParam(rng, 100, 3, c.Dim))
	}
	return s
}

func randomParam(rng *rand.Rand, shape ...int) *autodiff.Var {
	t := tensor.New(shape...)
	nn.XavierNormal(t, shape[len(shape)-2], shape[len(shape)-1], rng)
	return autodiff.Param(t)
}

// forward is inference with the dataset prompts, no gradients.
func (s *vitStep) forward() {
	tp := s.tape
	tp.Reset()
	tp.SetNoGrad(true)
	s.model.Embed(tp, s.images, func(l int) *autodiff.Var { return s.dataPrompts[l] })
	tp.SetNoGrad(false)
}

// trainStep is the VPTSP step: both towers forward, sum(sample * proxy) backward.
func (s *vitStep) trainStep() {
	tp := s.tape
	tp.Reset()
	e := s.model.Embed(tp, s.images, func(l int) *autodiff.Var { return s.dataPrompts[l] })
	p := s.model.Embed(tp, s.images, func(l int) *autodiff.Var { return tp.GatherRows(s.classPrompts[l], s.labels) })
	tp.Backward(tp.Sum(tp.Mul(e, p)))
}

// BenchmarkViTS16 measures ViT-S/16 inference and the VPTSP training step at 224x224,
// reporting images per second and the process's peak resident memory (as the PyTorch anchor
// does; run one sub-benchmark alone for a clean peak). The frozen weights are packed once in
// fp32 or bf16 (precision=...), or read as they are, packed at every product (precision=fp32-unpacked).
func BenchmarkViTS16(b *testing.B) {
	const batch = 32
	s := newViTStep(batch)
	for _, pass := range []struct {
		name string
		run  func()
	}{{"forward", s.forward}, {"train-step", s.trainStep}} {
		for _, precision := range []string{"fp32-unpacked", "fp32", "bf16"} {
			for _, threads := range []int{2} {
				b.Run(fmt.Sprintf("%s/batch=%d/threads=%d/precision=%s", pass.name, batch, threads, precision), func(b *testing.B) {
					s.pack(precision)
					withBenchThreads(threads, func() {
						pass.run()
						b.ResetTimer()
						for b.Loop() {
							pass.run()
						}
						b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "img/s")
						b.ReportMetric(float64(peakRSS()), "peak-bytes")
					})
				})
			}
		}
	}
}

// pack packs the frozen weights in the named precision, or unpacks them for "fp32-unpacked".
func (s *vitStep) pack(precision string) {
	p, err := kernels.ParsePrecision(precision)
	if err != nil {
		s.model.Unpack()
		return
	}
	s.model.PackFrozen(p)
}

// peakRSS is the process's peak resident set size in bytes.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Maxrss * 1024
}
