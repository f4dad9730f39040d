package dml

import (
	"fmt"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/dml/metrics"
	"github.com/semprox/semprox/dml/report"
	"github.com/semprox/semprox/tensor"
)

// EmbedFunc maps a batch of images [B, 3, S, S] to embeddings [B, E] on a no-grad tape.
type EmbedFunc func(tp *autodiff.Tape, images *autodiff.Var) *autodiff.Var

// evaluator embeds the test images and scores retrieval on them: each test image against the
// others (CUB, Cars, SOP, MNIST), or queries against a gallery (In-Shop).
type evaluator struct {
	query, gallery *imageSet // gallery nil: the queries retrieve among themselves
	ks             []int
	skipNMI        bool
	batch          int
	seed           uint64
}

// imageSet is a split and the loader that decodes it.
type imageSet struct {
	split  *data.Split
	loader *data.Loader
}

// nmiMaxClasses bounds the classes for which NMI is computed: its k-means costs
// O(images x classes x E) per iteration, hours for SOP's 11,316 test classes.
const nmiMaxClasses = 1000

// newEvaluator prepares the loaders of the dataset's test split, or of its query and gallery
// splits.
func newEvaluator(ds *data.Dataset, kind data.Kind, tr data.Transform, s RunConfig, skips *data.Skips) (*evaluator, error) {
	ev := &evaluator{ks: kind.RecallKs, batch: max(s.Batch, 64), seed: s.Seed}
	loader := func(sp *data.Split) *imageSet {
		return &imageSet{sp, data.NewLoader(data.LoaderConfig{Split: sp, Transform: tr, Workers: s.Workers, Seed: s.Seed, Skips: skips})}
	}
	q, g, test := ds.Split("query"), ds.Split("gallery"), ds.Split("test")
	switch {
	case kind.Protocol == data.QueryGallery && q != nil && g != nil:
		ev.query, ev.gallery = loader(q), loader(g)
		ev.skipNMI = q.Classes > nmiMaxClasses
	case kind.Protocol == data.SelfRetrieval && test != nil:
		ev.query = loader(test)
		ev.skipNMI = test.Classes > nmiMaxClasses
	default:
		return nil, fmt.Errorf("dataset %s has neither a test split nor query and gallery splits", ds.Name)
	}
	return ev, nil
}

// run embeds the test images with embed and returns the metrics and the query embeddings
// with their labels.
func (ev *evaluator) run(embed EmbedFunc) (report.Retrieval, *tensor.Tensor, []int64, error) {
	q, ql, err := ev.query.embed(ev.batch, embed)
	if err != nil {
		return report.Retrieval{}, nil, nil, err
	}
	ref, rl, self := q, ql, true
	if ev.gallery != nil {
		if ref, rl, err = ev.gallery.embed(ev.batch, embed); err != nil {
			return report.Retrieval{}, nil, nil, err
		}
		self = false
	}
	res, err := metrics.Evaluate(matrix(q), ql, matrix(ref), rl, self,
		metrics.Options{Metric: metrics.Cosine, Ks: ev.ks, SkipNMI: ev.skipNMI, Seed: ev.seed})
	if err != nil {
		return report.Retrieval{}, nil, nil, fmt.Errorf("evaluation: %w", err)
	}
	e := report.Retrieval{Ks: ev.ks, MAPAtR: res.MAPAtR, RPrecision: res.RPrecision, NMI: res.NMI}
	for _, k := range ev.ks {
		e.Recall = append(e.Recall, res.RecallAtK[k])
	}
	return e, q, ql, nil
}

// embed embeds every image of the set's split in order: [N, E] and the labels.
func (set *imageSet) embed(batch int, f EmbedFunc) (*tensor.Tensor, []int64, error) {
	emb, labels, err := EmbedSplit(set.loader, len(set.split.Samples), batch, f)
	if err == nil && emb == nil {
		err = fmt.Errorf("no readable test image among %d", len(set.split.Samples))
	}
	return emb, labels, err
}

// EmbedSplit runs f on a no-grad tape over the first n samples of the loader's split, in order
// and in batches of batch, and returns the rows it gives, [N, E], with their labels. The rows
// of images the loader could not read are left out (see data.Loader); nil and no labels when
// none could be.
func EmbedSplit(l *data.Loader, n, batch int, f EmbedFunc) (*tensor.Tensor, []int64, error) {
	stream := l.Stream(0, data.Sequential{N: n, BatchSize: batch}.Batches(0))
	defer stream.Stop()
	var held *data.Batch
	return EmbedBatches(n, func() (*tensor.Tensor, []int, error) {
		l.Recycle(held)
		b, ok := stream.Next()
		if !ok {
			return nil, nil, nil
		}
		held = b
		return b.Images, b.Labels, nil
	}, f)
}

// EmbedBatches runs f on a no-grad tape over the batches that next yields (images [B, 3, S, S]
// and their labels, which may be nil; nil images: no more) and returns the rows, [N, E], with
// the labels; nil and no labels when no batch came. expected is how many rows to make room for
// (0: unknown). An error from next is returned as it is.
func EmbedBatches(expected int, next func() (*tensor.Tensor, []int, error), f EmbedFunc) (*tensor.Tensor, []int64, error) {
	tp := autodiff.NewTape()
	tp.SetNoGrad(true)
	var rows []float32
	var labels []int64
	width := 0
	for {
		images, ls, err := next()
		if err != nil {
			return nil, nil, err
		}
		if images == nil {
			break
		}
		tp.Reset()
		out := f(tp, autodiff.Constant(images)).Value
		if width = out.Dim(1); rows == nil {
			rows = make([]float32, 0, max(expected, out.Dim(0))*width)
		}
		rows = append(rows, out.Data()...)
		for _, y := range ls {
			labels = append(labels, int64(y))
		}
	}
	if len(rows) == 0 {
		return nil, nil, nil
	}
	return tensor.FromSlice(rows, len(rows)/width, width), labels, nil
}

func matrix(t *tensor.Tensor) metrics.Matrix {
	return metrics.Matrix{Data: t.Data(), Rows: t.Dim(0), Cols: t.Dim(1)}
}

// close stops the evaluator's loaders.
func (ev *evaluator) close() {
	ev.query.loader.Close()
	if ev.gallery != nil {
		ev.gallery.loader.Close()
	}
}
