package main

import (
	"fmt"
	"strings"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/dml/metrics"
	"github.com/semprox/semprox/dml/report"
	"github.com/semprox/semprox/tensor"
)

// embedFunc maps a batch of images [B, 3, S, S] to embeddings [B, E] on a no-grad tape.
type embedFunc func(tp *autodiff.Tape, images *autodiff.Var) *autodiff.Var

// evaluator embeds the test images and scores retrieval on them: each test image against the
// others (CUB, Cars, SOP, MNIST), or queries against a gallery (In-Shop).
type evaluator struct {
	query, gallery *imageSet // gallery nil: the queries retrieve among themselves
	ks             []int
	skipNMI        bool
	batch          int
	seed           uint64
	tape           *autodiff.Tape
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
func newEvaluator(ds *data.Dataset, tr data.Transform, s settings, skips *data.Skips) (*evaluator, error) {
	ev := &evaluator{ks: recallKs(s.Dataset), batch: max(s.Batch, 64), seed: s.Seed, tape: autodiff.NewTape()}
	ev.tape.SetNoGrad(true)
	loader := func(sp *data.Split) *imageSet {
		return &imageSet{sp, data.NewLoader(data.LoaderConfig{Split: sp, Transform: tr, Workers: s.Workers, Seed: s.Seed, Skips: skips})}
	}
	q, g := ds.Split("query"), ds.Split("gallery")
	switch {
	case q != nil && g != nil:
		ev.query, ev.gallery = loader(q), loader(g)
		ev.skipNMI = q.Classes > nmiMaxClasses
	case ds.Split("test") != nil:
		test := ds.Split("test")
		ev.query = loader(test)
		ev.skipNMI = test.Classes > nmiMaxClasses
	default:
		return nil, fmt.Errorf("dataset %s has neither a test split nor query and gallery splits", ds.Name)
	}
	return ev, nil
}

// recallKs are the K of Recall@K the literature reports for a dataset.
func recallKs(dataset string) []int {
	switch strings.ToLower(dataset) {
	case "sop":
		return []int{1, 10, 100, 1000}
	case "inshop", "in-shop":
		return []int{1, 10, 20, 30, 40, 50}
	}
	return []int{1, 2, 4, 8}
}

// run embeds the test images with embed and returns the metrics and the query embeddings
// with their labels.
func (ev *evaluator) run(embed embedFunc) (report.Retrieval, *tensor.Tensor, []int64, error) {
	q, ql, err := ev.embedAll(ev.query, embed)
	if err != nil {
		return report.Retrieval{}, nil, nil, err
	}
	ref, rl, self := q, ql, true
	if ev.gallery != nil {
		if ref, rl, err = ev.embedAll(ev.gallery, embed); err != nil {
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

// embedAll embeds every image of a loader's split in order: [N, E] and the labels.
func (ev *evaluator) embedAll(set *imageSet, embed embedFunc) (*tensor.Tensor, []int64, error) {
	l, n := set.loader, len(set.split.Samples)
	batches := data.Sequential{N: n, BatchSize: ev.batch}.Batches(0)
	epoch := l.Stream(0, batches)
	defer epoch.Stop()
	var rows []float32
	var labels []int64
	width := 0
	for {
		b, ok := epoch.Next()
		if !ok {
			break
		}
		ev.tape.Reset()
		out := embed(ev.tape, autodiff.Constant(b.Images)).Value
		width = out.Dim(1)
		rows = append(rows, out.Data()...)
		for _, y := range b.Labels {
			labels = append(labels, int64(y))
		}
		l.Recycle(b)
	}
	if len(labels) == 0 {
		return nil, nil, fmt.Errorf("no readable test image among %d", n)
	}
	return tensor.FromSlice(rows, len(labels), width), labels, nil
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
