package pretrained_test

import (
	"math/rand/v2"
	"testing"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/dml/metrics"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/pretrained"
)

// embedSplit returns the final-norm class-token embeddings [N, D] of a split's images under
// the evaluation transform, in sample order.
func embedSplit(vit *nn.ViT, split *data.Split, tf data.Transform) metrics.Matrix {
	loader := data.NewLoader(data.LoaderConfig{Split: split, Transform: tf})
	defer loader.Close()
	ep := loader.Stream(0, data.Sequential{N: len(split.Samples), BatchSize: 256}.Batches(0))
	defer ep.Stop()
	tp := autodiff.NewTape()
	tp.SetNoGrad(true)
	out := metrics.Matrix{Cols: vit.Dim}
	for {
		b, ok := ep.Next()
		if !ok {
			break
		}
		out.Data = append(out.Data, vit.Embed(tp, autodiff.Constant(b.Images), nil).Value.Data()...)
		out.Rows += len(b.Labels)
		tp.Reset()
		loader.Recycle(b)
	}
	return out
}

// recallAt1 is the cosine self-retrieval Recall@1 of vit's embeddings of split.
func recallAt1(t *testing.T, vit *nn.ViT, split *data.Split, tf data.Transform) float64 {
	labels := make([]int64, len(split.Samples))
	for i, s := range split.Samples {
		labels[i] = int64(s.Label)
	}
	emb := embedSplit(vit, split, tf)
	res, err := metrics.Evaluate(emb, labels, emb, labels, true, metrics.Options{Metric: metrics.Cosine, Ks: []int{1, 2, 4, 8}, SkipNMI: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("R@1 %.4f R@2 %.4f R@4 %.4f R@8 %.4f MAP@R %.4f over %d queries",
		res.RecallAtK[1], res.RecallAtK[2], res.RecallAtK[4], res.RecallAtK[8], res.MAPAtR, res.Queries)
	return res.RecallAtK[1]
}

// retrievalImages is how many MNIST test images (digits 5-9, in file order) the retrieval
// test embeds: enough for a stable Recall@1, few enough for the purego build.
const retrievalImages = 2000

// The frozen backbone, never shown a digit, separates the MNIST test digits 5-9 by cosine
// retrieval of its embeddings far better than the same ViT at its random initialisation.
func TestMNISTRetrieval(t *testing.T) {
	if testing.Short() {
		t.Skip("embeds 2,000 MNIST images twice")
	}
	ds, err := data.ReadMNIST()
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	test := ds.Split("test")
	test.Samples = test.Samples[:min(retrievalImages, len(test.Samples))]
	vit, info, err := pretrained.FashionMNIST()
	if err != nil {
		t.Fatal(err)
	}
	tf := data.EvalTransform{Preprocess: info.Eval()}
	got := recallAt1(t, vit, test, tf)
	random := nn.NewViT(info.Config)
	random.Init(rand.New(rand.NewPCG(1, 2)))
	base := recallAt1(t, random, test, tf)
	if !(got > base+0.1) {
		t.Errorf("pretrained R@1 %.4f, random initialisation %.4f: want the pretrained backbone 0.1 ahead", got, base)
	}
}
