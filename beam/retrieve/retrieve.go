// Package retrieve is exact retrieval as a Beam pipeline: the gallery is split into shards,
// each worker ranks one shard for every query with semprox's blocked kNN (metrics.KNNShard),
// the partial lists are merged per query (metrics.Metric.MergeNeighbors), and Recall@K,
// precision@1, R-precision, MAP@R and MAP are computed as cmd/eval computes them: the JSON
// object the pipeline writes is the one `cmd/eval -json -nmi=false` prints for the same data,
// bit for bit. NMI is not computed (it is null).
//
// A set of embeddings is either the shard prefix the embedding pipeline writes (package
// shards: each shard is labelled by its .labels.txt unless a labels file for all of them is
// given) or one float32 .npy file [N, D] with a labels file (.npy or .txt), which the pipeline
// splits into Config.Shards runs of consecutive rows. Every file is read through Beam's
// filesystems.
//
// The launcher (Prepare) reads the .npy headers and the labels, 8 bytes a row: it checks the
// inputs, counts the gallery's classes and fixes the depth of the lists. Only the workers read
// embeddings: each holds one gallery shard and one block of Config.QueryBlock queries, which it
// reads block by block from the query files, never the queries times the gallery. A worker
// emits the lists of a block of queries as one element (Lists), keyed by the block, at most
// max(max R, max K) neighbours a query; the blocks' lists are merged across shards by a
// combiner, scored per query (metrics.ScoreQuery), and the final step gathers one small score
// per counted query, sorts them by query and sums them in query order, as cmd/eval does.
//
// Pipeline: Create(gallery parts) -> Reshuffle -> ParDo(knnFn: KV<block, Lists>) ->
// CombinePerKey(mergeFn) -> ParDo(scoreFn: Scores) -> side input of ParDo(tallyFn) on an
// Impulse (one JSON string, even for no counted query) -> ParDo(writeFn) to Config.Out.
//
// For L2 the merged lists are KNN's except where two distances round to the same float32 after
// their square root (see metrics.MergeNeighbors); scores are also computed on each query block
// and shard scaled by their own power of two, which is exact unless values span some 2^100.
package retrieve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/semprox/semprox/beam/shards"
	"github.com/semprox/semprox/dml/metrics"
)

// Config is what to retrieve: self-retrieval of Emb (every row against all others) or
// Query against Gallery.
type Config struct {
	// Emb is the set for self-retrieval: a shard prefix or a .npy file. Labels is its labels
	// file: required for a .npy file, optional for a prefix (the shards' .labels.txt).
	Emb, Labels string
	// Query and Gallery are the sets of query -> gallery retrieval, with their labels as Labels.
	Query, QueryLabels     string
	Gallery, GalleryLabels string
	// Ks are the K of Recall@K (DefaultKs when empty); each at most the references a query has.
	Ks []int
	// Metric ranks neighbours; cosine L2-normalises every embedding first, as cmd/eval does.
	Metric metrics.Metric
	// Shards is the number of row ranges a set given as a single .npy file is split into
	// (DefaultShards when 0; at most its rows). A prefix keeps its own shards.
	Shards int
	// QueryBlock is the number of queries a worker reads and ranks at once (DefaultQueryBlock
	// when 0).
	QueryBlock int
	// Threads is the kernels' thread count on the workers (0: one per core).
	Threads int
	// Out is where the pipeline writes the JSON object (any Beam filesystem's path).
	Out string
}

// Defaults of Config.
const (
	DefaultShards     = 4
	DefaultQueryBlock = 512
)

// DefaultKs are the K of Recall@K when Config.Ks is empty, cmd/eval's default.
var DefaultKs = []int{1, 2, 4, 8}

// Job is a Config read and checked by the launcher: the parts of the query and gallery sets,
// the gallery's class sizes and the depth of the lists. Build turns it into a pipeline.
type Job struct {
	Self        bool
	Metric      metrics.Metric
	Ks          []int
	Query       []Part // with rows, in order
	Gallery     []Part // with rows, in order
	QueryRows   int
	GalleryRows int
	Dims        int
	// PerClass is the number of gallery rows of each label.
	PerClass map[int64]int
	// Depth is the neighbours kept per query, max(1, max R, max K); Candidates is the number of
	// references each query is ranked against (the gallery, less the query itself when Self).
	Depth, Candidates int
	QueryBlock        int
	Threads           int
}

// Prepare reads the headers and labels of cfg's sets and checks them: the sets exist, their
// labels match their rows, their dimensions agree, their headers fit their files, and every K
// is at most the candidates. Errors name the file at fault.
func Prepare(ctx context.Context, cfg Config) (*Job, error) {
	self := cfg.Emb != ""
	if self && (cfg.Query != "" || cfg.Gallery != "") {
		return nil, errors.New("give either Emb for self-retrieval or Query and Gallery, not both")
	}
	if !self && (cfg.Query == "" || cfg.Gallery == "") {
		return nil, errors.New("give Emb for self-retrieval, or Query and Gallery")
	}
	ks := slices.Clone(cfg.Ks)
	if len(ks) == 0 {
		ks = slices.Clone(DefaultKs)
	}
	for _, k := range ks {
		if k < 1 {
			return nil, fmt.Errorf("-k %d: want positive integers", k)
		}
	}
	slices.Sort(ks)
	ks = slices.Compact(ks)
	split := cfg.Shards
	if split <= 0 {
		split = DefaultShards
	}
	block := cfg.QueryBlock
	if block <= 0 {
		block = DefaultQueryBlock
	}
	if cfg.Metric != metrics.Cosine && cfg.Metric != metrics.L2 {
		return nil, fmt.Errorf("metric %d: want cosine or l2", cfg.Metric)
	}

	var query, gallery *set
	var err error
	if self {
		if query, err = readSet(ctx, cfg.Emb, cfg.Labels, "-labels", split); err != nil {
			return nil, err
		}
		gallery = query
	} else {
		if query, err = readSet(ctx, cfg.Query, cfg.QueryLabels, "-query-labels", split); err != nil {
			return nil, err
		}
		if gallery, err = readSet(ctx, cfg.Gallery, cfg.GalleryLabels, "-gallery-labels", split); err != nil {
			return nil, err
		}
		if query.cols != 0 && gallery.cols != 0 && query.cols != gallery.cols {
			return nil, fmt.Errorf("%s has %d dimensions, %s %d", query.dimsOf, query.cols, gallery.dimsOf, gallery.cols)
		}
	}
	job := &Job{
		Self: self, Metric: cfg.Metric, Ks: ks,
		QueryRows: query.rows, GalleryRows: gallery.rows, Dims: max(query.cols, gallery.cols),
		PerClass: map[int64]int{}, QueryBlock: block, Threads: cfg.Threads,
	}
	job.Candidates = gallery.rows
	if self {
		job.Candidates = max(0, gallery.rows-1)
	}
	// cmd/eval's checkKs.
	if k := ks[len(ks)-1]; k > job.Candidates {
		what := ""
		if self {
			what = " other"
		}
		return nil, fmt.Errorf("-k %d: each query has only %d%s references to rank", k, job.Candidates, what)
	}
	for _, l := range gallery.labels {
		job.PerClass[l]++
	}
	job.Depth = max(1, ks[len(ks)-1])
	for _, l := range query.labels {
		job.Depth = max(job.Depth, job.r(l))
	}
	for _, p := range query.parts {
		if p.Rows > 0 {
			job.Query = append(job.Query, p)
		}
	}
	for _, p := range gallery.parts {
		if p.Rows > 0 {
			job.Gallery = append(job.Gallery, p)
		}
	}
	return job, nil
}

// r is R of a query of label l: the gallery rows of its class, less itself when Self.
func (j *Job) r(l int64) int {
	r := j.PerClass[l]
	if j.Self {
		r--
	}
	return r
}

// Build adds the retrieval of job to the pipeline of s and returns a PCollection of one
// string: the JSON object of the metrics, as cmd/eval -json -nmi=false prints it.
func Build(s beam.Scope, job *Job) beam.PCollection {
	s = s.Scope("retrieve")
	parts := beam.Reshuffle(s, beam.CreateList(s, job.Gallery))
	partial := beam.ParDo(s, &knnFn{
		Query: job.Query, Self: job.Self, Metric: job.Metric, Depth: job.Depth,
		PerClass: job.PerClass, QueryBlock: job.QueryBlock, Threads: job.Threads,
	}, parts)
	merged := beam.CombinePerKey(s, &mergeFn{Metric: job.Metric, Depth: job.Depth}, partial)
	scores := beam.ParDo(s, &scoreFn{Ks: job.Ks}, merged)
	return beam.ParDo(s, &tallyFn{Ks: job.Ks}, beam.Impulse(s), beam.SideInput{Input: scores})
}

// Write adds the writing of the JSON object that Build returns to path, through its Beam
// filesystem (to a temporary name, then renamed).
func Write(s beam.Scope, result beam.PCollection, path string) {
	beam.ParDo0(s.Scope("write"), &writeFn{Path: path}, result)
}

// Pipeline prepares cfg (see Prepare) and returns a pipeline that writes the metrics to cfg.Out.
func Pipeline(ctx context.Context, cfg Config) (*beam.Pipeline, *Job, error) {
	if cfg.Out == "" {
		return nil, nil, errors.New("no output path (Out)")
	}
	job, err := Prepare(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	p, s := beam.NewPipelineWithRoot()
	Write(s, Build(s, job), cfg.Out)
	return p, job, nil
}

// Run runs cfg's pipeline on the in-process Prism runner and returns the metrics it wrote to
// cfg.Out, with Depth set (the neighbours retrieved per query) and NMI NaN. The program must
// have called beam.Init (after flag.Parse), as every Beam program does.
func Run(ctx context.Context, cfg Config) (metrics.Result, error) {
	p, job, err := Pipeline(ctx, cfg)
	if err != nil {
		return metrics.Result{}, err
	}
	if _, err := prism.Execute(ctx, p); err != nil {
		return metrics.Result{}, err
	}
	res, _, err := ReadResult(ctx, cfg.Out)
	res.Depth = job.ResultDepth()
	return res, err
}

// ResultDepth is the number of neighbours retrieved per query, as cmd/eval reports it.
func (j *Job) ResultDepth() int { return min(j.Depth, j.Candidates) }

// ReadResult reads the JSON object a pipeline wrote to path, and returns it decoded and as it is.
func ReadResult(ctx context.Context, path string) (metrics.Result, []byte, error) {
	b, err := shards.ReadFile(ctx, path, 1<<20)
	if err != nil {
		return metrics.Result{}, nil, err
	}
	res, err := DecodeResult(b)
	if err != nil {
		return res, b, fmt.Errorf("%s: %w", path, err)
	}
	return res, b, nil
}

// DecodeResult decodes the JSON object that metrics.Result.WriteJSON writes (null is NaN).
// Encoding the result again gives the same bytes.
func DecodeResult(b []byte) (metrics.Result, error) {
	var v struct {
		PrecisionAt1 *float64            `json:"precision_at_1"`
		RPrecision   *float64            `json:"r_precision"`
		MAPAtR       *float64            `json:"map_at_r"`
		MAP          *float64            `json:"map"`
		NMI          *float64            `json:"nmi"`
		RecallAtK    map[string]*float64 `json:"recall_at_k"`
		Queries      int                 `json:"queries"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return metrics.Result{}, err
	}
	num := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	res := metrics.Result{
		Queries: v.Queries, PrecisionAt1: num(v.PrecisionAt1), RPrecision: num(v.RPrecision),
		MAPAtR: num(v.MAPAtR), MAP: num(v.MAP), NMI: num(v.NMI), RecallAtK: map[int]float64{},
	}
	for k, p := range v.RecallAtK {
		n, err := strconv.Atoi(k)
		if err != nil {
			return res, fmt.Errorf("recall_at_k key %q is not an integer", k)
		}
		res.RecallAtK[n] = num(p)
	}
	return res, nil
}
