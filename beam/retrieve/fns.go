package retrieve

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/semprox/semprox/beam/shards"
	"github.com/semprox/semprox/dml/metrics"
	"github.com/semprox/semprox/kernels"

	// Local paths; programs register the other filesystems they read.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
)

func init() {
	beam.RegisterType(reflect.TypeFor[Part]())
	beam.RegisterType(reflect.TypeFor[Lists]())
	beam.RegisterType(reflect.TypeFor[Scores]())
	register.DoFn3x1[context.Context, Part, func(int64, Lists), error](&knnFn{})
	register.Emitter2[int64, Lists]()
	register.Combiner1[Lists](&mergeFn{})
	register.DoFn3x1[int64, Lists, func(Scores), error](&scoreFn{})
	register.Emitter1[Scores]()
	register.DoFn3x1[[]byte, func(*Scores) bool, func(string), error](&tallyFn{})
	register.Iter1[Scores]()
	register.Emitter1[string]()
	register.DoFn2x1[context.Context, string, error](&writeFn{})
}

// Lists are the nearest gallery rows of a block of consecutive queries within some of the
// gallery's shards: query i of the block (global index First+i) has the Len[i] neighbours that
// follow those of the queries before it in Index, Score and Match, best first: their global
// indices, their scores (similarities for cosine, distances for L2) and whether each is of the
// query's class. R[i] is the query's R: the gallery rows of its class, less itself in
// self-retrieval. The blocks are the same for every shard, so that the lists of a block merge
// query by query; a block, rather than a query, is the unit of the shuffle, so that it moves a
// few large elements rather than queries times shards small ones.
type Lists struct {
	First int64
	R     []int32
	Len   []int32
	Index []int32
	Score []float32
	Match []bool
}

// Scores are the scores of the counted queries of a block (see metrics.QueryScore): Query[i]
// is the global index of the i-th, RecallHit[i*len(Ks)+j] whether one of its Ks[j] nearest is
// of its class.
type Scores struct {
	Query             []int64
	Hit1              []bool
	RecallHit         []bool
	RPrecision, APAtR []float64
	AveragePrecision  []float64
}

// knnFn ranks one gallery part for every query: it reads the part, then the queries block by
// block, and emits each block's neighbours within the part (KNNShard) keyed by the global index
// of the block's first query. A block with no candidate in the part emits nothing.
type knnFn struct {
	Query      []Part
	Self       bool
	Metric     metrics.Metric
	Depth      int
	PerClass   map[int64]int
	QueryBlock int
	Threads    int

	labels labelCache
}

// Setup sets the kernels' threads of the worker process. Every instance sets the same count:
// the first call, made before any of them ranks, changes it, the others leave it as it is
// (kernels.SetThreads returns at once for the current count), so no kernel is running when
// it changes.
func (f *knnFn) Setup() {
	if f.Threads > 0 {
		kernels.SetThreads(f.Threads)
	}
}

func (f *knnFn) ProcessElement(ctx context.Context, g Part, emit func(int64, Lists)) error {
	rr, err := openRows(ctx, g)
	if err != nil {
		return err
	}
	ref, err := rr.read(g.Rows)
	rr.Close()
	if err != nil {
		return err
	}
	refLabels, err := f.labels.get(ctx, g.Labels, g.LabelLo, g.Rows)
	if err != nil {
		return err
	}
	if f.Metric == metrics.Cosine {
		ref = metrics.Normalize(ref)
	}
	for _, qp := range f.Query {
		if err := f.rankPart(ctx, qp, g, ref, refLabels, emit); err != nil {
			return err
		}
	}
	return nil
}

// rankPart ranks the gallery part g, of embeddings ref (normalised for cosine), for the
// queries of part qp, block by block.
func (f *knnFn) rankPart(ctx context.Context, qp, g Part, ref metrics.Matrix, refLabels []int64, emit func(int64, Lists)) error {
	labels, err := f.labels.get(ctx, qp.Labels, qp.LabelLo, qp.Rows)
	if err != nil {
		return err
	}
	// In self-retrieval the queries of the gallery part itself are rows it holds already.
	inRef := f.Self && qp.Emb == g.Emb && qp.Lo == g.Lo && qp.Rows == g.Rows
	var rr *rowReader
	if !inRef {
		if rr, err = openRows(ctx, qp); err != nil {
			return err
		}
		defer rr.Close()
	}
	for q0 := 0; q0 < qp.Rows; q0 += f.QueryBlock {
		n := min(f.QueryBlock, qp.Rows-q0)
		var block metrics.Matrix
		if inRef {
			block = metrics.Matrix{Data: ref.Data[q0*ref.Cols : (q0+n)*ref.Cols], Rows: n, Cols: ref.Cols}
		} else {
			if block, err = rr.read(n); err != nil {
				return err
			}
			if f.Metric == metrics.Cosine {
				block = metrics.Normalize(block)
			}
		}
		nb, err := metrics.KNNShard(block, qp.Offset+q0, ref, g.Offset, f.Depth, f.Metric, f.Self)
		if err != nil {
			return fmt.Errorf("%s against %s: %w", qp.Emb, g.Emb, err)
		}
		out := Lists{First: int64(qp.Offset + q0), R: make([]int32, n), Len: make([]int32, n)}
		for i := range n {
			label := labels[q0+i]
			out.R[i] = int32(f.PerClass[label])
			if f.Self {
				out.R[i]--
			}
			list := nb.List(i)
			out.Len[i] = int32(len(list))
			for _, nbr := range list {
				out.Index = append(out.Index, nbr.Index)
				out.Score = append(out.Score, nbr.Score)
				out.Match = append(out.Match, refLabels[int(nbr.Index)-g.Offset] == label)
			}
		}
		if len(out.Index) > 0 {
			emit(out.First, out)
		}
	}
	return nil
}

// mergeFn merges the lists of a block of queries, query by query, keeping the Depth best of
// each (MergeNeighbors).
type mergeFn struct {
	Metric metrics.Metric
	Depth  int
}

func (f *mergeFn) MergeAccumulators(a, b Lists) (Lists, error) {
	switch {
	case len(a.Len) == 0:
		return b, nil
	case len(b.Len) == 0:
		return a, nil
	case a.First != b.First || len(a.Len) != len(b.Len):
		return Lists{}, fmt.Errorf("merging the lists of %d queries from %d with those of %d from %d", len(a.Len), a.First, len(b.Len), b.First)
	}
	out := Lists{First: a.First, R: a.R, Len: make([]int32, len(a.Len))}
	ia, ib := 0, 0 // the first entries of the query's lists in a and b
	for q := range a.Len {
		na, nb := int(a.Len[q]), int(b.Len[q])
		la, lb := a.neighbors(ia, na), b.neighbors(ib, nb)
		merged := f.Metric.MergeNeighbors(f.Depth, la, lb)
		out.Len[q] = int32(len(merged))
		i, j := 0, 0
		for _, n := range merged {
			out.Index = append(out.Index, n.Index)
			out.Score = append(out.Score, n.Score)
			// merged interleaves la and lb, each in order: n is the head of one of them.
			if i < len(la) && la[i].Index == n.Index {
				out.Match = append(out.Match, a.Match[ia+i])
				i++
			} else {
				out.Match = append(out.Match, b.Match[ib+j])
				j++
			}
		}
		ia, ib = ia+na, ib+nb
	}
	return out, nil
}

// neighbors returns the n entries from entry at as Neighbor values.
func (l Lists) neighbors(at, n int) []metrics.Neighbor {
	out := make([]metrics.Neighbor, n)
	for i := range out {
		out[i] = metrics.Neighbor{Index: l.Index[at+i], Score: l.Score[at+i]}
	}
	return out
}

// scoreFn scores each query's merged list (metrics.ScoreQuery); queries that do not count
// (R = 0) are left out, as Tally leaves them out.
type scoreFn struct {
	Ks []int
}

func (f *scoreFn) ProcessElement(first int64, l Lists, emit func(Scores)) error {
	var out Scores
	at := 0
	for q, r := range l.R {
		n := int(l.Len[q])
		match := l.Match[at : at+n]
		at += n
		if r <= 0 {
			continue
		}
		if n == 0 {
			return fmt.Errorf("query %d: R = %d but no neighbour", first+int64(q), r)
		}
		qs := metrics.ScoreQuery(match, int(r), f.Ks)
		out.Query = append(out.Query, first+int64(q))
		out.Hit1 = append(out.Hit1, qs.Hit1)
		out.RecallHit = append(out.RecallHit, qs.RecallHit...)
		out.RPrecision = append(out.RPrecision, qs.RPrecision)
		out.APAtR = append(out.APAtR, qs.APAtR)
		out.AveragePrecision = append(out.AveragePrecision, qs.AveragePrecision)
	}
	if len(out.Query) > 0 {
		emit(out)
	}
	return nil
}

// tallyFn sums the scores of every counted query in query order (metrics.Tally, as Evaluate
// sums them) and emits the JSON object of the result.
type tallyFn struct {
	Ks []int
}

// scored is one query's score and its global index.
type scored struct {
	query int64
	score metrics.QueryScore
}

func (f *tallyFn) ProcessElement(_ []byte, blocks func(*Scores) bool, emit func(string)) error {
	var all []scored
	var b Scores
	nk := len(f.Ks)
	for blocks(&b) {
		if len(b.RecallHit) != len(b.Query)*nk {
			return fmt.Errorf("%d Recall@K hits for %d queries and %d K", len(b.RecallHit), len(b.Query), nk)
		}
		for i, q := range b.Query {
			all = append(all, scored{q, metrics.QueryScore{
				Counted: true, Hit1: b.Hit1[i], RecallHit: b.RecallHit[i*nk : (i+1)*nk],
				RPrecision: b.RPrecision[i], APAtR: b.APAtR[i], AveragePrecision: b.AveragePrecision[i],
			}})
		}
		b = Scores{}
	}
	slices.SortFunc(all, func(a, b scored) int { return cmp.Compare(a.query, b.query) })
	t := metrics.NewTally(f.Ks)
	for i, s := range all {
		if i > 0 && all[i-1].query == s.query {
			return fmt.Errorf("query %d scored twice", s.query)
		}
		t.Add(s.score)
	}
	var js bytes.Buffer
	if err := t.Result().WriteJSON(&js); err != nil {
		return err
	}
	emit(js.String())
	return nil
}

// writeFn writes the JSON object to Path.
type writeFn struct {
	Path string
}

func (f *writeFn) ProcessElement(ctx context.Context, js string) error {
	return shards.WriteFile(ctx, f.Path, []byte(js))
}
