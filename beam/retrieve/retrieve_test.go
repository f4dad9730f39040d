package retrieve

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"

	"github.com/semprox/semprox/beam/internal/beamtest"
	"github.com/semprox/semprox/beam/shards"
	"github.com/semprox/semprox/dml/metrics"
	"github.com/semprox/semprox/tensor"
)

func TestMain(m *testing.M) {
	beamtest.Main(m, "github.com/semprox/semprox/cmd/eval")
}

// data is a set of embeddings with labels.
type data struct {
	emb    []float32
	n, d   int
	labels []int64
}

// randomData returns n rows of small integers (many ties, some zero rows) labelled from
// classes of several members and a few classes of one member (lone queries).
func randomData(rng *rand.Rand, n, d, classes int) data {
	x := data{emb: make([]float32, n*d), n: n, d: d, labels: make([]int64, n)}
	for i := range x.emb {
		x.emb[i] = float32(rng.IntN(5) - 2)
	}
	for i := range x.labels {
		if rng.IntN(8) == 0 {
			x.labels[i] = int64(1000 + i) // a class of one
		} else {
			x.labels[i] = int64(rng.IntN(classes))
		}
	}
	return x
}

func (x data) rows(lo, hi int) data {
	return data{emb: x.emb[lo*x.d : hi*x.d], n: hi - lo, d: x.d, labels: x.labels[lo:hi]}
}

func (x data) tensor() *tensor.Tensor {
	t := tensor.New(x.n, x.d)
	copy(t.Data(), x.emb)
	return t
}

// writeFile writes x as one .npy and its labels (.txt, or .npy for a name ending so).
func writeFile(t *testing.T, x data, emb, labels string) {
	t.Helper()
	if err := tensor.WriteNPY(emb, x.tensor()); err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(labels, ".npy") {
		l := tensor.New(x.n)
		for i, v := range x.labels {
			l.Data()[i] = float32(v)
		}
		if err := tensor.WriteNPY(labels, l); err != nil {
			t.Fatal(err)
		}
		return
	}
	var b strings.Builder
	for _, l := range x.labels {
		b.WriteString(strconv.FormatInt(l, 10) + "\n")
	}
	if err := os.WriteFile(labels, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writePrefix writes x as shards of the given sizes under prefix.
func writePrefix(t *testing.T, x data, prefix string, sizes []int) {
	t.Helper()
	lo := 0
	for s, size := range sizes {
		part := x.rows(lo, lo+size)
		names := make([]string, size)
		for i := range names {
			names[i] = fmt.Sprintf("img%d.jpg", lo+i)
		}
		if err := shards.Write(context.Background(), shards.Name(prefix, s, len(sizes)), shards.Shard{Emb: part.tensor(), Names: names, Labels: part.labels}); err != nil {
			t.Fatal(err)
		}
		lo += size
	}
	if lo != x.n {
		t.Fatalf("shard sizes %v for %d rows", sizes, x.n)
	}
}

// eval runs cmd/eval -json -nmi=false with args.
func eval(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(beamtest.Command("eval"), append([]string{"-json", "-nmi=false"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("eval %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

// run runs the pipeline of cfg and returns the JSON object it wrote.
func run(t *testing.T, cfg Config) []byte {
	t.Helper()
	cfg.Out = filepath.Join(t.TempDir(), "metrics.json")
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := res.WriteJSON(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), b) {
		t.Errorf("decoded and encoded again:\n%s\nwant\n%s", again.Bytes(), b)
	}
	return b
}

func same(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\npipeline %s\ncmd/eval %s", what, got, want)
	}
	if bytes.Contains(want, []byte(`"queries":0`)) {
		t.Errorf("%s: no query counted: the test checks nothing", what)
	}
}

func ks(k []int) string {
	s := make([]string, len(k))
	for i, v := range k {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

// TestSelfFileSplit: self-retrieval from one .npy split into 3 row ranges, with a K and
// a depth larger than a range, queries read in blocks of 5.
func TestSelfFileSplit(t *testing.T) {
	dir := t.TempDir()
	x := randomData(rand.New(rand.NewPCG(1, 2)), 40, 4, 3)
	emb, labels := filepath.Join(dir, "emb.npy"), filepath.Join(dir, "labels.txt")
	writeFile(t, x, emb, labels)
	k := []int{1, 2, 4, 16}
	got := run(t, Config{Emb: emb, Labels: labels, Ks: k, Metric: metrics.Cosine, Shards: 3, QueryBlock: 5})
	same(t, "cosine", got, eval(t, "-emb", emb, "-labels", labels, "-k", ks(k)))
}

// TestSelfPrefix: self-retrieval from 5 uneven shards (one empty, one smaller than K), for
// both metrics, labelled by the shards' files or by one labels file.
func TestSelfPrefix(t *testing.T) {
	dir := t.TempDir()
	x := randomData(rand.New(rand.NewPCG(3, 4)), 120, 3, 6)
	prefix := filepath.Join(dir, "emb")
	writePrefix(t, x, prefix, []int{37, 3, 0, 61, 19})
	emb, labels := filepath.Join(dir, "all.npy"), filepath.Join(dir, "all-labels.npy")
	writeFile(t, x, emb, labels)
	k := []int{1, 2, 4, 8}
	for _, metric := range []metrics.Metric{metrics.Cosine, metrics.L2} {
		want := eval(t, "-emb", emb, "-labels", labels, "-metric", metric.String())
		same(t, metric.String(), run(t, Config{Emb: prefix, Ks: k, Metric: metric, QueryBlock: 16}), want)
		if metric == metrics.L2 {
			same(t, "l2, one labels file", run(t, Config{Emb: prefix, Labels: labels, Ks: k, Metric: metric}), want)
		}
	}
}

// TestQueryGallery: distinct queries and gallery (some query classes absent from it), the
// gallery as 4 shards and as one .npy split into 4, the queries as one file or as shards.
func TestQueryGallery(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	q, g := randomData(rng, 50, 5, 8), randomData(rng, 90, 5, 6)
	qEmb, qLabels := filepath.Join(dir, "q.npy"), filepath.Join(dir, "q.txt")
	gEmb, gLabels := filepath.Join(dir, "g.npy"), filepath.Join(dir, "g.txt")
	writeFile(t, q, qEmb, qLabels)
	writeFile(t, g, gEmb, gLabels)
	qPrefix, gPrefix := filepath.Join(dir, "q"), filepath.Join(dir, "g")
	writePrefix(t, q, qPrefix, []int{20, 30})
	writePrefix(t, g, gPrefix, []int{30, 2, 40, 18})
	k := []int{1, 3, 10}
	for _, metric := range []metrics.Metric{metrics.Cosine, metrics.L2} {
		want := eval(t, "-query", qEmb, "-query-labels", qLabels, "-gallery", gEmb, "-gallery-labels", gLabels, "-k", ks(k), "-metric", metric.String())
		got := run(t, Config{Query: qEmb, QueryLabels: qLabels, Gallery: gPrefix, Ks: k, Metric: metric, QueryBlock: 7})
		same(t, metric.String()+", gallery shards", got, want)
		if metric == metrics.Cosine {
			got = run(t, Config{Query: qPrefix, Gallery: gEmb, GalleryLabels: gLabels, Ks: k, Metric: metric, Shards: 4})
			same(t, "cosine, query shards, gallery file", got, want)
		}
	}
}

func TestDecodeResult(t *testing.T) {
	r := metrics.NewTally([]int{1, 5}).Result() // NaN everywhere
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeResult(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	got.WriteJSON(&again)
	if !bytes.Equal(again.Bytes(), b.Bytes()) || !math.IsNaN(got.MAP) || len(got.RecallAtK) != 2 {
		t.Errorf("got %+v, %s, want %s", got, again.Bytes(), b.Bytes())
	}
}

// writeRawNPY writes a float32 .npy whose header states shape but which holds data.
func writeRawNPY(t *testing.T, path, shape string, data []float32) {
	t.Helper()
	h := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }\n", shape)
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	binary.Write(&b, binary.LittleEndian, data)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	x := randomData(rand.New(rand.NewPCG(7, 8)), 30, 4, 3)
	emb, labels := filepath.Join(dir, "emb.npy"), filepath.Join(dir, "labels.txt")
	writeFile(t, x, emb, labels)
	short, long := filepath.Join(dir, "short.txt"), filepath.Join(dir, "long.txt")
	writeFile(t, x.rows(0, 29), filepath.Join(dir, "short.npy"), short)
	writeFile(t, data{emb: append(x.emb, x.emb[:4]...), n: 31, d: 4, labels: append(x.labels, 1)}, filepath.Join(dir, "long.npy"), long)

	missing := filepath.Join(dir, "missing")
	writePrefix(t, x, missing, []int{10, 10, 10})
	os.Remove(shards.Name(missing, 1, 3) + ".npy")

	unlabelled := filepath.Join(dir, "unlabelled")
	writePrefix(t, x, unlabelled, []int{10, 20})
	os.Remove(shards.Name(unlabelled, 1, 2) + ".labels.txt")

	nan := filepath.Join(dir, "nan")
	y := x
	y.emb = append([]float32(nil), x.emb...)
	y.emb[22*4+3] = float32(math.NaN())
	writePrefix(t, y, nan, []int{10, 10, 10})

	huge := filepath.Join(dir, "huge.npy")
	writeRawNPY(t, huge, "1000000000, 4", x.emb)
	wide := filepath.Join(dir, "wide.npy")
	writeFile(t, data{emb: make([]float32, 30*5), n: 30, d: 5, labels: x.labels}, wide, filepath.Join(dir, "wide.txt"))
	f64 := filepath.Join(dir, "f64.npy")
	if err := os.WriteFile(f64, []byte("\x93NUMPY\x01\x00\x3a\x00{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }\n"+strings.Repeat("\x00", 8)), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // in the error
	}{
		{"missing shard", Config{Emb: missing}, []string{shards.Name(missing, 1, 3) + ".npy", "missing"}},
		{"missing labels", Config{Emb: unlabelled}, []string{shards.Name(unlabelled, 1, 2) + ".labels.txt"}},
		{"short labels", Config{Emb: emb, Labels: short}, []string{short, emb, "29 labels"}},
		{"missing file", Config{Query: emb, QueryLabels: labels, Gallery: missing + ".npy", GalleryLabels: long}, []string{missing + ".npy"}},
		{"long labels for shards", Config{Emb: nan, Labels: long}, []string{long, "31 labels"}},
		{"no labels", Config{Emb: emb}, []string{emb, "-labels"}},
		{"nan", Config{Emb: nan, Ks: []int{1}}, []string{shards.Name(nan, 2, 3) + ".npy", "row 2 column 3", "NaN"}},
		{"nan in a row range", Config{Query: emb, QueryLabels: labels, Gallery: filepath.Join(dir, "nan.npy"), GalleryLabels: labels, Shards: 3}, []string{"nan.npy: row 22 column 3 is NaN"}},
		{"k", Config{Emb: emb, Labels: labels, Ks: []int{1, 30}}, []string{"-k 30", "29 other"}},
		{"k of a gallery", Config{Query: emb, QueryLabels: labels, Gallery: unlabelled, GalleryLabels: labels, Ks: []int{31}}, []string{"-k 31", "only 30 references"}},
		{"huge header", Config{Emb: huge, Labels: labels}, []string{huge, "1000000000"}},
		{"dimensions", Config{Query: emb, QueryLabels: labels, Gallery: wide, GalleryLabels: labels}, []string{emb, wide, "4", "5"}},
		{"float64", Config{Emb: f64, Labels: labels}, []string{f64, "<f8"}},
		{"both modes", Config{Emb: emb, Query: emb, Gallery: emb}, []string{"not both"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "nan in a row range" {
				writeFile(t, y, filepath.Join(dir, "nan.npy"), filepath.Join(dir, "unused.txt"))
			}
			tc.cfg.Out = filepath.Join(dir, "out.json")
			_, err := Run(ctx, tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestUnseekable reads every set through Beam's in-memory filesystem, whose readers cannot
// seek: the workers skip to their rows by reading.
func TestUnseekable(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(9, 10))
	q, g := randomData(rng, 30, 4, 5), randomData(rng, 45, 4, 5)
	qEmb, qLabels := filepath.Join(dir, "q.npy"), filepath.Join(dir, "q.txt")
	gEmb, gLabels := filepath.Join(dir, "g.npy"), filepath.Join(dir, "g.txt")
	writeFile(t, q, qEmb, qLabels)
	writeFile(t, g, gEmb, gLabels)
	mem := "memfs://" + t.Name()
	writePrefix(t, q, mem+"/q", []int{11, 19})
	for _, f := range []string{gEmb, gLabels} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		memfs.Write(mem+"/"+filepath.Base(f), b)
	}
	want := eval(t, "-query", qEmb, "-query-labels", qLabels, "-gallery", gEmb, "-gallery-labels", gLabels)
	got := run(t, Config{Query: mem + "/q", Gallery: mem + "/g.npy", GalleryLabels: mem + "/g.txt", Shards: 3, QueryBlock: 4})
	same(t, "memfs", got, want)
}
