// Command retrieve scores embeddings by exact retrieval as a Beam pipeline: the gallery is split
// into shards, each worker ranks one shard for every query, the lists are merged per query and
// Recall@K, precision@1, R-precision, MAP@R and MAP are computed as cmd/eval computes them
// (package retrieve). It writes the JSON object that `cmd/eval -json -nmi=false` prints for the
// same data, to -out and, with -json, to stdout; NMI is not computed ("nmi": null).
//
//	retrieve -emb PREFIX [-labels labels.txt] [-k 1,2,4,8]             # self-retrieval
//	retrieve -emb emb.npy -labels labels.npy -shards 8
//	retrieve -query q.npy -query-labels ql.txt -gallery gs://b/gallery  # query -> gallery
//	retrieve ... --runner dataflow --project P --region R --staging_location gs://b/tmp -out gs://b/metrics.json
//
// A set (-emb, -query, -gallery) is either a shard prefix that beam/cmd/embed wrote, whose
// shards are labelled by their .labels.txt files unless a labels flag gives one file for all
// their rows, or a single float32 .npy file [N, D] with its labels flag (.npy or .txt), which the
// pipeline splits into -shards ranges of rows. Paths may be local, gs:// or s3://. The runner is
// --runner (default prism, in this process); with a remote runner, -out must be a path the
// workers and this program can both reach.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3"

	"github.com/semprox/semprox/beam/retrieve"
	"github.com/semprox/semprox/dml/metrics"
	"github.com/semprox/semprox/kernels"
)

// The flags, defined by init once the Dataflow runner's -labels has moved aside.
var (
	emb, labels, query, queryLabels, gallery, galleryLabels, ks, metric, out *string
	shardCount, queryBlock, threads                                          *int
	jsonOut                                                                  *bool
)

func init() {
	// The Dataflow runner's -labels (its jobs' labels, as JSON) is -dataflow_labels here, for
	// -labels is cmd/eval's flag.
	renameFlag("labels", "dataflow_labels")
	emb = flag.String("emb", "", "embeddings for self-retrieval (each against all others): a shard prefix or a .npy [N, D]")
	labels = flag.String("labels", "", "labels of -emb: .npy [N] or a .txt of one integer a line (optional for a shard prefix)")
	query = flag.String("query", "", "query embeddings for query -> gallery retrieval: a shard prefix or a .npy")
	queryLabels = flag.String("query-labels", "", "labels of -query (optional for a shard prefix)")
	gallery = flag.String("gallery", "", "gallery embeddings for query -> gallery retrieval: a shard prefix or a .npy")
	galleryLabels = flag.String("gallery-labels", "", "labels of -gallery (optional for a shard prefix)")
	ks = flag.String("k", "1,2,4,8", "comma-separated K of Recall@K")
	metric = flag.String("metric", "cosine", "cosine (embeddings L2-normalised first) or l2 (Euclidean on the raw embeddings)")
	shardCount = flag.Int("shards", retrieve.DefaultShards, "row ranges a set given as one .npy file is split into (at most its rows); a prefix keeps its shards")
	queryBlock = flag.Int("query-block", retrieve.DefaultQueryBlock, "queries a worker reads and ranks at once")
	threads = flag.Int("threads", 0, fmt.Sprintf("kernel threads on each worker, 0 (one per core) to %d; results do not depend on it", kernels.MaxThreads))
	out = flag.String("out", "metrics.json", "where to write the JSON object of the metrics (local, gs:// or s3://)")
	jsonOut = flag.Bool("json", false, "print the JSON object instead of a table")
}

// renameFlag gives the flag old, which a package this program imports defines, the name new:
// flag.CommandLine becomes a copy of itself with every flag's Value shared, old under new.
func renameFlag(old, new string) {
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	fs.Usage = func() { flag.Usage() }
	flag.CommandLine.VisitAll(func(f *flag.Flag) {
		name := f.Name
		if name == old {
			name = new
		}
		fs.Var(f.Value, name, f.Usage)
	})
	flag.CommandLine = fs
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), `usage: retrieve -emb SET [-labels L] [flags]
       retrieve -query SET [-query-labels L] -gallery SET [-gallery-labels L] [flags]

Exact retrieval as a Beam pipeline, with cmd/eval's metrics: the JSON object written to -out
(and printed by -json) is the one cmd/eval -json -nmi=false prints. NMI is not computed: "nmi"
is null. A SET is a shard prefix of beam/cmd/embed or a .npy file (then its labels are required).

`)
		flag.PrintDefaults()
	}
	flag.Parse()
	beam.Init()
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "retrieve:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, stdout io.Writer) error {
	cfg, err := config()
	if err != nil {
		return err
	}
	p, job, err := retrieve.Pipeline(ctx, cfg)
	if err != nil {
		return err
	}
	if err := beamx.Run(ctx, p); err != nil {
		return err
	}
	res, raw, err := retrieve.ReadResult(ctx, cfg.Out)
	if err != nil {
		return err
	}
	if *jsonOut {
		_, err := stdout.Write(raw)
		return err
	}
	mode := "query -> gallery"
	if job.Self {
		mode = "self-retrieval"
	}
	fmt.Fprintf(stdout, "%s, %s: %d queries (%d counted), %d references, %d dims, depth %d\n",
		mode, job.Metric, job.QueryRows, res.Queries, job.GalleryRows, job.Dims, job.ResultDepth())
	writeTable(stdout, res)
	return nil
}

// config checks the flags as cmd/eval does, labels aside (a shard prefix has its own).
func config() (retrieve.Config, error) {
	if flag.NArg() > 0 {
		return retrieve.Config{}, fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}
	self := *emb != "" || *labels != ""
	pair := *query != "" || *queryLabels != "" || *gallery != "" || *galleryLabels != ""
	switch {
	case self && pair:
		return retrieve.Config{}, errors.New("give either -emb (and -labels), or -query and -gallery (and their labels), not both")
	case self && *emb == "":
		return retrieve.Config{}, errors.New("-labels needs -emb")
	case pair && (*query == "" || *gallery == ""):
		return retrieve.Config{}, errors.New("query -> gallery needs -query and -gallery")
	case !self && !pair:
		return retrieve.Config{}, errors.New("give -emb (and -labels), or -query and -gallery (and their labels)")
	}
	if err := kernels.CheckThreads("-threads", *threads); err != nil {
		return retrieve.Config{}, err
	}
	if *shardCount < 1 {
		return retrieve.Config{}, fmt.Errorf("-shards %d: want at least 1", *shardCount)
	}
	if *queryBlock < 1 {
		return retrieve.Config{}, fmt.Errorf("-query-block %d: want at least 1", *queryBlock)
	}
	if *out == "" {
		return retrieve.Config{}, errors.New("-out is empty")
	}
	m, err := metrics.ParseMetric(*metric)
	if err != nil {
		return retrieve.Config{}, err
	}
	k, err := metrics.ParseKs(*ks)
	if err != nil {
		return retrieve.Config{}, err
	}
	return retrieve.Config{
		Emb: *emb, Labels: *labels,
		Query: *query, QueryLabels: *queryLabels, Gallery: *gallery, GalleryLabels: *galleryLabels,
		Ks: k, Metric: m, Shards: *shardCount, QueryBlock: *queryBlock, Threads: *threads, Out: *out,
	}, nil
}

// writeTable is cmd/eval's table, less NMI.
func writeTable(w io.Writer, res metrics.Result) {
	row := func(name string, v float64) { fmt.Fprintf(w, "  %-14s %8.4f\n", name, v) }
	k := make([]int, 0, len(res.RecallAtK))
	for n := range res.RecallAtK {
		k = append(k, n)
	}
	slices.Sort(k)
	for _, n := range k {
		row(fmt.Sprintf("Recall@%d", n), res.RecallAtK[n])
	}
	row("precision@1", res.PrecisionAt1)
	row("R-precision", res.RPrecision)
	row("MAP@R", res.MAPAtR)
	row("MAP", res.MAP)
}
