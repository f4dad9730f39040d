package embedpipe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/semprox/semprox/beam/internal/beamtest"
	"github.com/semprox/semprox/beam/shards"
	"github.com/semprox/semprox/internal/imagetest"
	"github.com/semprox/semprox/internal/runtest"
	"github.com/semprox/semprox/tensor"
)

const torchref = "../../testdata/torchref"

func TestMain(m *testing.M) {
	beamtest.Main(m, "github.com/semprox/semprox/cmd/embed")
}

// modelFlags fit the torchref ViT (32x32 input, two heads).
var modelFlags = []string{"-weights", filepath.Join(torchref, "vit.safetensors"), "-heads", "2", "-resize", "64", "-crop", "32"}

// imageDirs writes good images to good/ and the same images plus unreadable ones to all/, and
// returns both with the unreadable ones' names.
func imageDirs(t *testing.T, n int) (good, all string, bad []string) {
	t.Helper()
	root := t.TempDir()
	good, all = filepath.Join(root, "good"), filepath.Join(root, "all")
	os.Mkdir(good, 0o755)
	os.Mkdir(all, 0o755)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range n {
		name := fmt.Sprintf("img%02d.png", i)
		if err := imagetest.WritePNG(filepath.Join(good, name), 33+rng.IntN(40), 33+rng.IntN(40), rng); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(good, name))
		os.WriteFile(filepath.Join(all, name), b, 0o644)
		if i == 0 {
			os.WriteFile(filepath.Join(all, "img00_truncated.png"), b[:len(b)/2], 0o644)
			os.WriteFile(filepath.Join(all, "img05\nnewline.png"), b, 0o644)
		}
	}
	os.WriteFile(filepath.Join(all, "img03_text.jpg"), []byte("not a JPEG at all"), 0o644)
	os.WriteFile(filepath.Join(all, "img07_empty.gif"), nil, 0o644)
	bad = []string{"img00_truncated.png", "img03_text.jpg", "img05\nnewline.png", "img07_empty.gif"}
	return good, all, bad
}

// runPipeline runs the pipeline of c on Prism.
func runPipeline(t *testing.T, c Config) {
	t.Helper()
	if err := c.Check(context.Background(), os.Stderr); err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	Build(s, c)
	if _, err := prism.Execute(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

// cmdEmbed runs cmd/embed on dir and returns its embeddings and names.
func cmdEmbed(t *testing.T, dir string) (*tensor.Tensor, []string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "emb.npy")
	args := append([]string{"-images", dir, "-out", out, "-batch", "5"}, modelFlags...)
	if b, err := exec.Command(beamtest.Command("embed"), args...).CombinedOutput(); err != nil {
		t.Fatalf("cmd/embed: %v\n%s", err, b)
	}
	emb, err := tensor.ReadNPY(out)
	if err != nil {
		t.Fatal(err)
	}
	names, err := os.ReadFile(strings.TrimSuffix(out, ".npy") + ".names.txt")
	if err != nil {
		t.Fatal(err)
	}
	return emb, strings.Fields(string(names))
}

// readRejects reads a rejects file.
func readRejects(t *testing.T, path string) []Reject {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []Reject
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var r Reject
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// The pipeline over a glob embeds every readable image bit for bit as cmd/embed does, in
// cmd/embed's order once its shards are gathered, whatever its bundles and batches, and lists
// every unreadable image in the rejects with a reason, without stopping.
func TestEmbedGlobMatchesCmdEmbed(t *testing.T) {
	good, all, bad := imageDirs(t, 13)
	want, wantNames := cmdEmbed(t, good)
	prefix := filepath.Join(t.TempDir(), "out", "emb")
	c := Config{Images: filepath.Join(all, "*"), Out: prefix, Shards: 3, Batch: 4, Threads: 2, Model: beamtest.Options(t, modelFlags...)}
	runPipeline(t, c)
	if bases, err := shards.List(context.Background(), prefix); err != nil || len(bases) != 3 {
		t.Fatalf("shards %v, %v; want 3", bases, err)
	}
	got := beamtest.Gather(t, prefix)
	if got.Labels != nil {
		t.Errorf("labels %v from a glob", got.Labels)
	}
	names := make([]string, len(got.Names))
	for i, n := range got.Names {
		names[i] = filepath.Base(n)
	}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("names %v, want cmd/embed's %v", names, wantNames)
	}
	if !slices.Equal(got.Emb.Shape(), want.Shape()) || !slices.Equal(got.Emb.Data(), want.Data()) {
		t.Fatalf("embeddings %v differ from cmd/embed's %v", got.Emb.Shape(), want.Shape())
	}
	rejects := readRejects(t, RejectsFile(prefix))
	var rejected []string
	for _, r := range rejects {
		rejected = append(rejected, filepath.Base(r.URI))
		if r.Reason == "" || strings.Contains(r.Reason, "\n") {
			t.Errorf("%q: reason %q, want one line", r.URI, r.Reason)
		}
	}
	if !slices.Equal(rejected, bad) {
		t.Errorf("rejects %q, want %q", rejected, bad)
	}
}

// A manifest's labels go to the shards' labels files; relative URIs are relative to the
// manifest; more shards than images leave empty, well-formed shards.
func TestEmbedManifestWithLabels(t *testing.T) {
	good, all, _ := imageDirs(t, 5)
	want, _ := cmdEmbed(t, good)
	var manifest strings.Builder
	manifest.WriteString("# image\tlabel\n\n")
	wantLabels := []int64{}
	for i := range 5 {
		fmt.Fprintf(&manifest, "img%02d.png\t%d\n", i, i%2)
		wantLabels = append(wantLabels, int64(i%2))
		if i == 2 {
			manifest.WriteString("img03_text.jpg\t9\n")
		}
	}
	path := filepath.Join(all, "list.txt")
	os.WriteFile(path, []byte(manifest.String()), 0o644)
	prefix := filepath.Join(t.TempDir(), "emb")
	runPipeline(t, Config{Manifest: path, Out: prefix, Shards: 8, Batch: 32, Model: beamtest.Options(t, modelFlags...)})
	got := beamtest.Gather(t, prefix)
	if !slices.Equal(got.Labels, wantLabels) || !slices.Equal(got.Emb.Data(), want.Data()) {
		t.Errorf("labels %v (want %v), embeddings equal: %v", got.Labels, wantLabels, slices.Equal(got.Emb.Data(), want.Data()))
	}
	rejects := readRejects(t, RejectsFile(prefix))
	if len(rejects) != 1 || rejects[0].Index != 3 || rejects[0].URI != filepath.Join(all, "img03_text.jpg") {
		t.Errorf("rejects %+v, want the text file, input 3", rejects)
	}
}

// A bad manifest or configuration stops the launch with an error naming it.
func TestEmbedConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	cases := map[string]Config{
		"one of -manifest and -images":  {Out: "x", Shards: 1, Batch: 1},
		"-out is required":              {Images: "*.png", Shards: 1, Batch: 1},
		"-shards 0":                     {Images: "*.png", Out: "x", Batch: 1},
		"line 2: label \"x\"":           {Manifest: write("a.txt", "a.png\t1\nb.png\tx\n"), Out: "x", Shards: 1, Batch: 1},
		"line 2: a label on some lines": {Manifest: write("b.txt", "a.png\t1\nb.png\n"), Out: "x", Shards: 1, Batch: 1},
		"c.txt: no images listed":       {Manifest: write("c.txt", "# nothing\n"), Out: "x", Shards: 1, Batch: 1},
		"missing.txt":                   {Manifest: filepath.Join(dir, "missing.txt"), Out: "x", Shards: 1, Batch: 1},
		"-weights or -run is required":  {Images: "*.png", Out: "x", Shards: 1, Batch: 1},
	}
	for want, c := range cases {
		if !strings.Contains(want, "-weights") {
			c.Model = beamtest.Options(t, modelFlags...)
		}
		err := c.Check(context.Background(), os.Stderr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %v, want one mentioning %q", c, err, want)
		}
	}
}

// Images, weights and outputs on another Beam filesystem (here memfs://, as gs:// or s3://
// would be): the weights are copied to a local file on each worker, the images read through
// the filesystem, and the shards hold cmd/embed's embeddings of the same images.
func TestEmbedOnBeamFilesystem(t *testing.T) {
	good, _, _ := imageDirs(t, 4)
	want, _ := cmdEmbed(t, good)
	put := func(uri, path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := shards.WriteFile(context.Background(), uri, b); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(good)
	for _, e := range entries {
		put("memfs://photos/"+e.Name(), filepath.Join(good, e.Name()))
	}
	put("memfs://models/vit.safetensors", filepath.Join(torchref, "vit.safetensors"))
	o := beamtest.Options(t, modelFlags...)
	o.Weights = "memfs://models/vit.safetensors"
	runPipeline(t, Config{Images: "memfs://photos/*.png", Out: "memfs://out/emb", Shards: 2, Batch: 3, Model: o})
	got := beamtest.Gather(t, "memfs://out/emb")
	if !slices.Equal(got.Emb.Data(), want.Data()) || got.Names[0] != "memfs://photos/img00.png" {
		t.Errorf("embeddings equal: %v, names %v", slices.Equal(got.Emb.Data(), want.Data()), got.Names)
	}
}

// A model trained by cmd/train (-run) embeds in the pipeline as in its own evaluation: the
// first test class's images get the rows of the run's test_embeddings.npy, bit for bit.
func TestEmbedTrainedRun(t *testing.T) {
	root := t.TempDir()
	out := runtest.Tiny(t, root)
	want, err := tensor.ReadNPY(filepath.Join(out, "test_embeddings.npy"))
	if err != nil {
		t.Fatal(err)
	}
	o := beamtest.Options(t, "-run", out)
	prefix := filepath.Join(t.TempDir(), "emb")
	runPipeline(t, Config{Images: filepath.Join(root, "class4", "*.png"), Out: prefix, Shards: 2, Batch: 4, Threads: 2, Model: o})
	got := beamtest.Gather(t, prefix)
	if !slices.Equal(got.Emb.Shape(), []int{6, want.Dim(1)}) || !slices.Equal(got.Emb.Data(), want.Data()[:6*want.Dim(1)]) {
		t.Errorf("%v: the pipeline's embeddings differ from the run's test embeddings", got.Emb.Shape())
	}
}
