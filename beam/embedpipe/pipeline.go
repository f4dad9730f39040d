package embedpipe

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"golang.org/x/sync/errgroup"

	"github.com/semprox/semprox/beam/shards"
	"github.com/semprox/semprox/dml/embedder"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/tensor"
)

// Config is what the pipeline embeds and where it writes.
type Config struct {
	Manifest string // a manifest (see readManifest), or
	Images   string // a glob of image files
	Out      string // the shards' prefix: OUT-00000-of-00004.npy ... and OUT-rejects.jsonl
	Shards   int    // number of output shards, at least 1
	Batch    int    // images per forward pass, at least 1
	Threads  int    // kernel threads per worker; 0: one per core
	// Model names the model and its preprocessing, as cmd/embed's flags do. Each worker
	// loads it once (in its DoFn's Setup).
	Model embedder.Options
	// Dim is the width of an embedding; Check sets it by loading the model.
	Dim int
	// Labels says whether the manifest gives labels; Check sets it by reading the manifest.
	Labels bool
}

// MaxImageBytes bounds the size of an image file: a larger one is rejected unread.
const MaxImageBytes = 256 << 20

// Check validates the configuration, reads the manifest and loads the model once in this
// process, so that a mistake in the flags, the manifest or the weights stops the launch before
// any worker starts. It sets Model to the options as resolved (a hub model's or a run's
// defaults), Dim and Labels. Notices go to
// log.
func (c *Config) Check(ctx context.Context, log io.Writer) error {
	switch {
	case (c.Manifest == "") == (c.Images == ""):
		return errors.New("give one of -manifest and -images")
	case c.Out == "":
		return errors.New("-out is required: the prefix of the output shards")
	case c.Shards < 1:
		return fmt.Errorf("-shards %d: want at least 1", c.Shards)
	case c.Batch < 1:
		return fmt.Errorf("-batch %d: want at least 1", c.Batch)
	}
	if err := kernels.CheckThreads("-threads", c.Threads); err != nil {
		return err
	}
	if c.Manifest != "" {
		entries, err := readManifest(ctx, c.Manifest)
		if err != nil {
			return err
		}
		c.Labels = entries[0].HasLabel
	}
	if strings.Contains(c.Model.Run, "://") {
		return fmt.Errorf("-run %s: a run must be a local directory on every worker (or give its backbone's -weights)", c.Model.Run)
	}
	e, err := loadModel(ctx, c.Model, log)
	if err != nil {
		return err
	}
	weights := c.Model.Weights // as given: a hub model or a URI is resolved on each worker
	c.Model = e.Options
	c.Model.Weights = weights
	c.Model.Set = allSet(c.Model.Set)
	crop := e.Preprocess.Crop
	c.Dim = e.Embed(tensor.New(1, 3, crop, crop)).Dim(1)
	fmt.Fprintf(log, "%s\nmean %v, std %v, %s resize to %d, crop %d, %s weights, %d dimensions\n", e.Description,
		c.Model.Mean, c.Model.Std, c.Model.Interp, c.Model.Resize, c.Model.Crop, e.Precision, c.Dim)
	return nil
}

// allSet marks every preprocessing option as given: the workers use the options as the
// launcher resolved them, whatever a hub model's configuration says by then. The precision is
// resolved too (embedder.Load records it), so every worker multiplies in the same one.
func allSet(set map[string]bool) map[string]bool {
	out := map[string]bool{"resize": true, "crop": true, "interp": true, "mean": true, "std": true}
	for k, v := range set {
		out[k] = out[k] || v
	}
	return out
}

// RejectsFile is where the rejects of the shards under prefix go.
func RejectsFile(prefix string) string { return prefix + "-rejects.jsonl" }

// Build adds the pipeline to s. c must have passed Check.
func Build(s beam.Scope, c Config) {
	s = s.Scope("semprox.embed")
	entries := beam.ParDo(s, &expandFn{Manifest: c.Manifest, Images: c.Images, Shards: c.Shards}, beam.Impulse(s))
	rows, rejects := beam.ParDo2(s, &embedFn{Model: c.Model, Batch: c.Batch, Threads: c.Threads}, beam.Reshuffle(s, entries))
	keyed := beam.ParDo(s, shardOf, rows)
	ids := make([]int, c.Shards)
	for i := range ids {
		ids[i] = i
	}
	shardIDs := beam.ParDo(s, keyShard, beam.CreateList(s, ids))
	beam.ParDo0(s, &writeShardFn{Out: c.Out, Shards: c.Shards, Dim: c.Dim, Labels: c.Labels}, beam.CoGroupByKey(s, shardIDs, keyed))
	beam.ParDo0(s, &writeRejectsFn{Path: RejectsFile(c.Out)}, beam.Impulse(s), beam.SideInput{Input: rejects})
}

func init() {
	register.DoFn3x1[context.Context, []byte, func(Entry), error](&expandFn{})
	register.DoFn4x1[context.Context, Entry, func(Row), func(Reject), error](&embedFn{})
	register.DoFn4x1[context.Context, int, func(*int) bool, func(*Row) bool, error](&writeShardFn{})
	register.DoFn3x1[context.Context, []byte, func(*Reject) bool, error](&writeRejectsFn{})
	register.Function1x2(shardOf)
	register.Function1x2(keyShard)
	register.Emitter1[Entry]()
	register.Emitter1[Row]()
	register.Emitter1[Reject]()
	register.Iter1[int]()
	register.Iter1[Row]()
	register.Iter1[Reject]()
}

// Row is an embedded image.
type Row struct {
	Entry
	Emb []float32
}

// Reject is an image that could not be embedded, and why.
type Reject struct {
	Index  int64  `json:"index"`
	URI    string `json:"uri"`
	Reason string `json:"reason"`
}

var (
	embedded = beam.NewCounter("semprox", "images_embedded")
	rejected = beam.NewCounter("semprox", "images_rejected")
)

// expandFn lists the input images, numbered in input order and assigned to their shards.
type expandFn struct {
	Manifest, Images string
	Shards           int
}

func (f *expandFn) ProcessElement(ctx context.Context, _ []byte, emit func(Entry)) error {
	var entries []Entry
	var err error
	if f.Manifest != "" {
		entries, err = readManifest(ctx, f.Manifest)
	} else {
		entries, err = listGlob(ctx, f.Images)
	}
	if err != nil {
		return err
	}
	assignShards(entries, f.Shards)
	for _, e := range entries {
		emit(e)
	}
	return nil
}

// embedFn embeds the images of a bundle in batches.
type embedFn struct {
	Model   embedder.Options
	Batch   int
	Threads int

	e       *embedder.Embedder
	pending []Entry
}

// models holds each model a worker process has loaded, by its options: DoFn instances of one
// process share it.
var models struct {
	sync.Mutex
	loaded map[string]*embedder.Embedder
}

func (f *embedFn) Setup(ctx context.Context) error {
	key, err := json.Marshal(f.Model)
	if err != nil {
		return err
	}
	models.Lock()
	defer models.Unlock()
	if f.e = models.loaded[string(key)]; f.e != nil {
		return nil
	}
	if f.Threads > 0 {
		kernels.SetThreads(f.Threads)
	}
	if f.e, err = loadModel(ctx, f.Model, io.Discard); err != nil {
		return err
	}
	if models.loaded == nil {
		models.loaded = map[string]*embedder.Embedder{}
	}
	models.loaded[string(key)] = f.e
	return nil
}

// loadModel loads the model o names; weights on a Beam filesystem (gs://, s3://) are copied
// to a local temporary file first, once per process.
func loadModel(ctx context.Context, o embedder.Options, log io.Writer) (*embedder.Embedder, error) {
	if strings.Contains(o.Weights, "://") {
		local, err := localCopy(ctx, o.Weights)
		if err != nil {
			return nil, err
		}
		o.Weights = local
	}
	return embedder.Load(ctx, o, log)
}

// copies holds the local copies of remote weights, by URI.
var copies struct {
	sync.Mutex
	path map[string]string
}

// localCopy copies the file at uri into a temporary directory, keeping its name (its ending
// says its format), unless this process already has.
func localCopy(ctx context.Context, uri string) (string, error) {
	copies.Lock()
	defer copies.Unlock()
	if p, ok := copies.path[uri]; ok {
		return p, nil
	}
	b, err := shards.ReadFile(ctx, uri, MaxWeightsBytes)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "semprox-weights-")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, path.Base(uri))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return "", err
	}
	if copies.path == nil {
		copies.path = map[string]string{}
	}
	copies.path[uri] = p
	return p, nil
}

// MaxWeightsBytes bounds a weights file read from a Beam filesystem.
const MaxWeightsBytes = 8 << 30

func (f *embedFn) StartBundle(context.Context, func(Row), func(Reject)) error {
	f.pending = f.pending[:0]
	return nil
}

func (f *embedFn) ProcessElement(ctx context.Context, e Entry, emit func(Row), reject func(Reject)) error {
	f.pending = append(f.pending, e)
	if len(f.pending) < f.Batch {
		return nil
	}
	return f.flush(ctx, emit, reject)
}

func (f *embedFn) FinishBundle(ctx context.Context, emit func(Row), reject func(Reject)) error {
	return f.flush(ctx, emit, reject)
}

// flush reads and preprocesses the pending images in parallel, rejects those that fail and
// embeds the others in one batch.
func (f *embedFn) flush(ctx context.Context, emit func(Row), reject func(Reject)) error {
	if len(f.pending) == 0 {
		return nil
	}
	tr := f.e.Preprocess
	size := 3 * tr.Crop * tr.Crop
	pixels := make([]float32, len(f.pending)*size)
	reasons := make([]error, len(f.pending))
	var g errgroup.Group
	g.SetLimit(kernels.Threads())
	for i, e := range f.pending {
		g.Go(func() error {
			reasons[i] = preprocess(ctx, tr.ApplyBytes, pixels[i*size:(i+1)*size], e.URI)
			return nil
		})
	}
	g.Wait()
	var good []Entry
	kept := pixels[:0]
	for i, e := range f.pending {
		if reasons[i] != nil {
			rejected.Inc(ctx, 1)
			reject(Reject{Index: e.Index, URI: e.URI, Reason: oneLine(reasons[i].Error())})
			continue
		}
		good = append(good, e)
		kept = append(kept, pixels[i*size:(i+1)*size]...)
	}
	f.pending = f.pending[:0]
	if len(good) == 0 {
		return nil
	}
	emb := f.e.Embed(tensor.FromSlice(kept, len(good), 3, tr.Crop, tr.Crop))
	for i, e := range good {
		emit(Row{Entry: e, Emb: slices.Clone(emb.Row(i).Data())})
	}
	embedded.Inc(ctx, int64(len(good)))
	return nil
}

// preprocess reads the image at uri and writes it preprocessed into dst, or says why it
// cannot: its name cannot be a line of the names file, it cannot be read, or it is not an
// image that decodes within the limits.
func preprocess(ctx context.Context, apply func([]float32, []byte, string) error, dst []float32, uri string) error {
	if err := embedder.CheckName(uri); err != nil {
		return err
	}
	b, err := shards.ReadFile(ctx, uri, MaxImageBytes)
	if err != nil {
		return err
	}
	return apply(dst, b, uri)
}

// oneLine replaces the line breaks of s with spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func shardOf(r Row) (int, Row) { return r.Shard, r }

func keyShard(s int) (int, int) { return s, s }

// writeShardFn writes one shard: its rows in input order.
type writeShardFn struct {
	Out         string
	Shards, Dim int
	Labels      bool
}

func (f *writeShardFn) ProcessElement(ctx context.Context, shard int, _ func(*int) bool, rows func(*Row) bool) error {
	var all []Row
	var r Row
	for rows(&r) {
		all = append(all, r)
	}
	slices.SortFunc(all, func(a, b Row) int { return cmp.Compare(a.Index, b.Index) })
	s := shards.Shard{Emb: tensor.New(len(all), f.Dim), Names: make([]string, len(all))}
	if f.Labels {
		s.Labels = make([]int64, len(all))
	}
	for i, r := range all {
		copy(s.Emb.Row(i).Data(), r.Emb)
		s.Names[i] = r.URI
		if f.Labels {
			s.Labels[i] = r.Label
		}
	}
	return shards.Write(ctx, shards.Name(f.Out, shard, f.Shards), s)
}

// writeRejectsFn writes every reject, in input order, one JSON object a line.
type writeRejectsFn struct {
	Path string
}

func (f *writeRejectsFn) ProcessElement(ctx context.Context, _ []byte, rejects func(*Reject) bool) error {
	var all []Reject
	var r Reject
	for rejects(&r) {
		all = append(all, r)
	}
	slices.SortFunc(all, func(a, b Reject) int { return cmp.Compare(a.Index, b.Index) })
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for _, r := range all {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return shards.WriteFile(ctx, f.Path, []byte(b.String()))
}
