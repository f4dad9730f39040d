package dml

import (
	"math/rand/v2"
	"testing"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/dml/metrics"
	"github.com/semprox/semprox/tensor"
)

// nuisanceImages is a synthetic retrieval task: image = its class's pattern + a strong random
// mix of nuisance patterns shared by all classes + noise. A frozen backbone's features are
// dominated by the nuisance; training on some classes can learn to look past it, which carries
// over to classes never trained on.
type nuisanceImages struct {
	patterns, nuisance []*tensor.Tensor
	rng                *rand.Rand
}

func newNuisanceImages(classes int, seed uint64) *nuisanceImages {
	rng := rand.New(rand.NewPCG(seed, 3))
	random := func() *tensor.Tensor {
		t := tensor.New(3, 32, 32)
		for i := range t.Data() {
			t.Data()[i] = float32(rng.NormFloat64())
		}
		return t
	}
	s := &nuisanceImages{rng: rng}
	for range classes {
		s.patterns = append(s.patterns, random())
	}
	for range 4 {
		s.nuisance = append(s.nuisance, random())
	}
	return s
}

// batch returns images of the given classes.
func (s *nuisanceImages) batch(labels []int) *tensor.Tensor {
	x := tensor.New(len(labels), 3, 32, 32)
	for i, c := range labels {
		row := x.Row(i).Data()
		copy(row, s.patterns[c].Data())
		for _, n := range s.nuisance {
			w := float32(2 * s.rng.NormFloat64())
			for j, v := range n.Data() {
				row[j] += w * v
			}
		}
		for j := range row {
			row[j] += 0.3 * float32(s.rng.NormFloat64())
		}
	}
	return x
}

func recallAt1(t *testing.T, emb *tensor.Tensor, labels []int) float64 {
	t.Helper()
	l := make([]int64, len(labels))
	for i, v := range labels {
		l[i] = int64(v)
	}
	m := metrics.Matrix{Data: emb.Data(), Rows: emb.Dim(0), Cols: emb.Dim(1)}
	r, err := metrics.Evaluate(m, l, m, l, true, metrics.Options{Ks: []int{1}, SkipNMI: true})
	if err != nil {
		t.Fatal(err)
	}
	return r.RecallAtK[1]
}

// VPTSP-G with BitFit, trained on classes 0-3, retrieves the unseen classes 4-7 better than the
// frozen backbone's own embedding does.
func TestVPTSPGLearnsTransferableEmbedding(t *testing.T) {
	task := newNuisanceImages(8, 2)
	var testLabels []int
	for c := 4; c < 8; c++ {
		for range 10 {
			testLabels = append(testLabels, c)
		}
	}
	test := autodiff.Constant(task.batch(testLabels))
	m := tinyModel(t, "vptsp-g+bitfit")
	tp := autodiff.NewTape()
	tp.SetNoGrad(true)
	frozen := recallAt1(t, m.ViT.Embed(tp, test, nil).Value.Clone(), testLabels)

	tr, err := NewTrainer(m, TrainConfig{Epochs: 1, Optimizer: "adamw", LR: 1e-3, LRProxy: 1e-2, CosineTMax: 1}, 200)
	if err != nil {
		t.Fatal(err)
	}
	sampler, err := NewBalancedSampler([]int{0, 0, 1, 1, 2, 2, 3, 3}, 8, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	trainLabels := []int{0, 0, 1, 1, 2, 2, 3, 3}
	for s := range 200 {
		idx := sampler.Batches(s)[0]
		labels := make([]int, len(idx))
		for i, j := range idx {
			labels[i] = trainLabels[j]
		}
		if _, err := tr.Step(0, s, data.Batch{Images: task.batch(labels), Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	tp.Reset()
	emb := m.Embed(tp, test)
	trained := recallAt1(t, emb.Value.Clone(), testLabels)
	t.Logf("R@1 on unseen classes: frozen backbone %.3f, VPTSP-G %.3f", frozen, trained)
	if !(trained > frozen) {
		t.Errorf("training did not help the unseen classes: R@1 %.3f, frozen %.3f", trained, frozen)
	}
}
