// Command eval scores embeddings by retrieval: Recall@K, precision@1, R-precision, MAP@R, MAP
// and NMI, as pytorch-metric-learning's AccuracyCalculator defines them (see dml/metrics).
//
//	go run ./cmd/eval -emb emb.npy -labels labels.npy [-k 1,2,4,8]   # self-retrieval
//	go run ./cmd/eval -query q.npy -query-labels ql.npy -gallery g.npy -gallery-labels gl.npy
//
// Self-retrieval ranks every embedding against all others (itself left out by index);
// query -> gallery (In-Shop) ranks the gallery for every query.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"

	"github.com/semprox/semprox/dml/metrics"
	"github.com/semprox/semprox/kernels"
)

type options struct {
	emb, labels            string
	query, queryLabels     string
	gallery, galleryLabels string
	ks                     []int
	metric                 metrics.Metric
	json, nmi              bool
	seed                   uint64
	threads                int
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "eval:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.threads > 0 {
		runtime.GOMAXPROCS(o.threads)
		kernels.SetThreads(o.threads)
	}
	self := o.emb != ""
	qPath, qlPath, gPath, glPath := o.query, o.queryLabels, o.gallery, o.galleryLabels
	if self {
		qPath, qlPath, gPath, glPath = o.emb, o.labels, o.emb, o.labels
	}
	query, queryLabels, err := readSet(qPath, qlPath)
	if err != nil {
		return err
	}
	gallery, galleryLabels := query, queryLabels
	if !self {
		if gallery, galleryLabels, err = readSet(gPath, glPath); err != nil {
			return err
		}
		if gallery.Cols != query.Cols {
			return fmt.Errorf("%s has %d dimensions, %s %d", qPath, query.Cols, gPath, gallery.Cols)
		}
	}
	if err := checkKs(o.ks, gallery.Rows, self); err != nil {
		return err
	}
	res, err := metrics.Evaluate(query, queryLabels, gallery, galleryLabels, self,
		metrics.Options{Metric: o.metric, Ks: o.ks, SkipNMI: !o.nmi, Seed: o.seed})
	if err != nil {
		return err
	}
	if o.json {
		return res.WriteJSON(stdout)
	}
	mode := "query -> gallery"
	if self {
		mode = "self-retrieval"
	}
	fmt.Fprintf(stdout, "%s, %s: %d queries (%d counted), %d references, %d dims, depth %d\n",
		mode, o.metric, query.Rows, res.Queries, gallery.Rows, query.Cols, res.Depth)
	writeTable(stdout, res)
	return nil
}

// readSet reads embeddings and their labels and checks that they match in length.
func readSet(embPath, labelPath string) (metrics.Matrix, []int64, error) {
	emb, err := readEmbeddings(embPath)
	if err != nil {
		return emb, nil, err
	}
	labels, err := readLabels(labelPath)
	if err != nil {
		return emb, nil, err
	}
	if len(labels) != emb.Rows {
		return emb, nil, fmt.Errorf("%s has %d labels but %s has %d embeddings", labelPath, len(labels), embPath, emb.Rows)
	}
	return emb, labels, nil
}

// checkKs checks the K of Recall@K against the references each query is ranked against (all of
// them, or all but the query itself in self-retrieval): a larger K would count every reference.
func checkKs(ks []int, refs int, self bool) error {
	k, candidates, what := ks[len(ks)-1], refs, ""
	if self {
		candidates, what = max(0, refs-1), " other"
	}
	if k > candidates {
		return fmt.Errorf("-k %d: each query has only %d%s references to rank", k, candidates, what)
	}
	return nil
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	var o options
	var ks, metric string
	fs.StringVar(&o.emb, "emb", "", "embeddings .npy [N, D] for self-retrieval (each against all others)")
	fs.StringVar(&o.labels, "labels", "", "labels of -emb: .npy [N] or a .txt of one integer per line")
	fs.StringVar(&o.query, "query", "", "query embeddings .npy for query -> gallery retrieval")
	fs.StringVar(&o.queryLabels, "query-labels", "", "labels of -query (.npy or .txt)")
	fs.StringVar(&o.gallery, "gallery", "", "gallery embeddings .npy for query -> gallery retrieval")
	fs.StringVar(&o.galleryLabels, "gallery-labels", "", "labels of -gallery (.npy or .txt)")
	fs.StringVar(&ks, "k", "1,2,4,8", "comma-separated K of Recall@K")
	fs.StringVar(&metric, "metric", "cosine", "cosine (embeddings L2-normalised first) or l2 (Euclidean on the raw embeddings)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object instead of a table")
	fs.BoolVar(&o.nmi, "nmi", true, "compute NMI by k-means on the query embeddings (slow for thousands of classes)")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of NMI's k-means++ initialisation")
	fs.IntVar(&o.threads, "threads", 0, fmt.Sprintf("worker threads, 0 (one per core) to %d; results do not depend on it", kernels.MaxThreads))
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	self := o.emb != "" || o.labels != ""
	pair := o.query != "" || o.queryLabels != "" || o.gallery != "" || o.galleryLabels != ""
	switch {
	case self && pair:
		return o, errors.New("give either -emb and -labels, or -query, -query-labels, -gallery and -gallery-labels, not both")
	case self && (o.emb == "" || o.labels == ""):
		return o, errors.New("self-retrieval needs both -emb and -labels")
	case pair && (o.query == "" || o.queryLabels == "" || o.gallery == "" || o.galleryLabels == ""):
		return o, errors.New("query -> gallery needs -query, -query-labels, -gallery and -gallery-labels")
	case !self && !pair:
		return o, errors.New("give -emb and -labels, or -query, -query-labels, -gallery and -gallery-labels")
	}
	if err := kernels.CheckThreads("-threads", o.threads); err != nil {
		return o, err
	}
	var err error
	if o.metric, err = metrics.ParseMetric(metric); err != nil {
		return o, err
	}
	o.ks, err = metrics.ParseKs(ks)
	return o, err
}

func writeTable(w io.Writer, res metrics.Result) {
	row := func(name string, v float64) { fmt.Fprintf(w, "  %-14s %8.4f\n", name, v) }
	for _, k := range sortedKs(res) {
		row(fmt.Sprintf("Recall@%d", k), res.RecallAtK[k])
	}
	row("precision@1", res.PrecisionAt1)
	row("R-precision", res.RPrecision)
	row("MAP@R", res.MAPAtR)
	row("MAP", res.MAP)
	if !math.IsNaN(res.NMI) {
		row("NMI", res.NMI)
	}
}

func sortedKs(res metrics.Result) []int {
	ks := make([]int, 0, len(res.RecallAtK))
	for k := range res.RecallAtK {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
