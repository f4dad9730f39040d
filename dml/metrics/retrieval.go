package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// Options selects what Evaluate computes.
type Options struct {
	// Metric ranks neighbours. With Cosine, Evaluate L2-normalises copies of the embeddings first.
	Metric Metric
	// Ks are the K of Recall@K; a K above the number of candidate references counts them all.
	Ks []int
	// SkipNMI leaves NMI out (its k-means costs O(n x classes x dims) per iteration); NMI is NaN.
	SkipNMI bool
	// Seed seeds the k-means++ initialisation of NMI's clustering.
	Seed uint64
}

// Result holds the metrics of one evaluation, each a mean over the counted queries: those whose
// class has at least one reference other than themselves (pytorch-metric-learning leaves the
// other, "lone", queries out of every retrieval metric). A metric with no counted query is NaN.
type Result struct {
	Queries      int             // counted queries
	PrecisionAt1 float64         // nearest neighbour is of the query's class
	RPrecision   float64         // share of the query's class among its R nearest
	MAPAtR       float64         // mean average precision at R
	MAP          float64         // mean average precision over the Depth nearest
	RecallAtK    map[int]float64 // some neighbour among the K nearest is of the query's class
	NMI          float64         // of k-means clusters of the query embeddings against their classes
	Depth        int             // neighbours retrieved per query
}

// Evaluate ranks the references for every query and computes the metrics of Result.
// R, for a query, is the number of references of its class, minus one when self (the queries are
// the references, row for row, and each query is left out of its own neighbours by index).
// Neighbours are retrieved to a depth of max(max R, max Ks), capped at the number of candidate
// references, so MAP@R and R-precision are exact for every query; MAP is pytorch-metric-learning's
// mean_average_precision over that depth (precision at each same-class neighbour, averaged over
// the same-class neighbours found; 0 when none is found).
// Neighbours are consumed block by block: memory is that of forEachBlock (see KNN), never
// queries x references. NaN or Inf in either matrix is an error naming it, the row and the column. With L2 (see L2
// and KMeans), embeddings and the same embeddings times an exact power of two give the same
// Result bit for bit; every Result is the same for any thread count.
func Evaluate(query Matrix, queryLabels []int64, ref Matrix, refLabels []int64, self bool, opt Options) (Result, error) {
	if len(queryLabels) != query.Rows {
		return Result{}, fmt.Errorf("%d query labels for %d query embeddings", len(queryLabels), query.Rows)
	}
	if len(refLabels) != ref.Rows {
		return Result{}, fmt.Errorf("%d reference labels for %d reference embeddings", len(refLabels), ref.Rows)
	}
	for _, k := range opt.Ks {
		if k < 1 {
			return Result{}, fmt.Errorf("Recall@K needs K >= 1, got %d", k)
		}
	}
	if err := query.Check("query embeddings"); err != nil {
		return Result{}, err
	}
	if err := ref.Check("reference embeddings"); err != nil {
		return Result{}, err
	}
	if opt.Metric == Cosine {
		query = Normalize(query)
		if self {
			ref = query
		} else {
			ref = Normalize(ref)
		}
	}
	perClass := map[int64]int{}
	for _, l := range refLabels {
		perClass[l]++
	}
	rOf := func(q int) int {
		r := perClass[queryLabels[q]]
		if self {
			r--
		}
		return r
	}
	depth := 1
	for q := range queryLabels {
		depth = max(depth, rOf(q))
	}
	for _, k := range opt.Ks {
		depth = max(depth, k)
	}
	acc := NewTally(opt.Ks)
	match := []bool{}
	err := forEachBlock(query, ref, depth, opt.Metric, self, func(q0 int, blk Neighbors) {
		for i := range blk.Queries {
			idx, _ := blk.Row(i)
			match = match[:0]
			for _, j := range idx {
				match = append(match, refLabels[j] == queryLabels[q0+i])
			}
			acc.Add(ScoreQuery(match, rOf(q0+i), opt.Ks))
		}
	})
	if err != nil {
		return Result{}, err
	}
	res := acc.Result()
	res.Depth = min(depth, candidates(ref.Rows, self))
	if !opt.SkipNMI && query.Rows > 0 {
		res.NMI, err = ClusterNMI(query, queryLabels, opt.Seed)
	}
	return res, err
}

// QueryScore is one query's part of a Result: whether it counts (its R is at least 1), whether
// its nearest neighbour and some neighbour among each K nearest are of its class, and its
// R-precision, average precision at R and average precision over the retrieved depth.
type QueryScore struct {
	Counted           bool
	Hit1              bool
	RecallHit         []bool // one per K of the Tally's Ks
	RPrecision, APAtR float64
	AveragePrecision  float64
}

// ScoreQuery scores one query: match[j] says whether its j-th nearest neighbour is of its
// class, r is its R (the references of its class, itself left out), ks the K of Recall@K. A
// query with r = 0 does not count.
func ScoreQuery(match []bool, r int, ks []int) QueryScore {
	if r == 0 {
		return QueryScore{}
	}
	qs := QueryScore{Counted: true, Hit1: match[0], RecallHit: make([]bool, len(ks))}
	for i, k := range ks {
		qs.RecallHit[i] = slices.Contains(match[:min(k, len(match))], true)
	}
	hits, sumPrec, sumPrecR, hitsR := 0, 0.0, 0.0, 0
	for j, m := range match {
		if !m {
			continue
		}
		hits++
		p := float64(hits) / float64(j+1)
		sumPrec += p
		if j < r {
			hitsR++
			sumPrecR += p
		}
	}
	qs.RPrecision = float64(hitsR) / float64(r)
	qs.APAtR = sumPrecR / float64(r)
	if hits > 0 {
		qs.AveragePrecision = sumPrec / float64(hits)
	}
	return qs
}

// Tally sums QueryScores in the order they are added: added in query order, the Result is
// Evaluate's bit for bit (NMI and Depth aside, which it leaves NaN and 0).
type Tally struct {
	ks                       []int
	n                        int
	p1, rPrec, mapR, mapFull float64
	recall                   []float64
}

// NewTally starts a Tally for the K of Recall@K ks (those given to ScoreQuery).
func NewTally(ks []int) *Tally {
	return &Tally{ks: slices.Clone(ks), recall: make([]float64, len(ks))}
}

// Add counts one query's score; one that does not count is left out.
func (a *Tally) Add(qs QueryScore) {
	if !qs.Counted {
		return
	}
	a.n++
	if qs.Hit1 {
		a.p1++
	}
	for i, hit := range qs.RecallHit {
		if hit {
			a.recall[i]++
		}
	}
	a.rPrec += qs.RPrecision
	a.mapR += qs.APAtR
	a.mapFull += qs.AveragePrecision
}

// Result is the mean of every counted query's scores; NMI is NaN.
func (a *Tally) Result() Result {
	n := float64(a.n)
	if a.n == 0 {
		n = math.NaN()
	}
	res := Result{
		Queries:      a.n,
		PrecisionAt1: a.p1 / n,
		RPrecision:   a.rPrec / n,
		MAPAtR:       a.mapR / n,
		MAP:          a.mapFull / n,
		RecallAtK:    map[int]float64{},
		NMI:          math.NaN(),
	}
	for i, k := range a.ks {
		res.RecallAtK[k] = a.recall[i] / n
	}
	return res
}

// WriteJSON writes the result as one JSON object, the one `cmd/eval -json` prints: a NaN
// metric is null, Recall@K is keyed by K.
func (r Result) WriteJSON(w io.Writer) error {
	num := func(v float64) any {
		if math.IsNaN(v) {
			return nil
		}
		return v
	}
	recall := map[string]any{}
	for k, v := range r.RecallAtK {
		recall[strconv.Itoa(k)] = num(v)
	}
	return json.NewEncoder(w).Encode(map[string]any{
		"precision_at_1": num(r.PrecisionAt1),
		"r_precision":    num(r.RPrecision),
		"map_at_r":       num(r.MAPAtR),
		"map":            num(r.MAP),
		"nmi":            num(r.NMI),
		"recall_at_k":    recall,
		"queries":        r.Queries,
	})
}
