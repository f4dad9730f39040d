package beam_test

import (
	"bytes"
	"context"
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
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/semprox/semprox/beam/embedpipe"
	"github.com/semprox/semprox/beam/internal/beamtest"
	"github.com/semprox/semprox/beam/retrieve"
	"github.com/semprox/semprox/internal/imagetest"
	"github.com/semprox/semprox/tensor"
)

func TestMain(m *testing.M) {
	beamtest.Main(m, "github.com/semprox/semprox/cmd/embed", "github.com/semprox/semprox/cmd/eval", "./cmd/gather")
}

var modelFlags = []string{"-weights", "../testdata/torchref/vit.safetensors", "-heads", "2", "-resize", "64", "-crop", "32"}

func command(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(beamtest.Command(name), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, stderr.Bytes())
	}
	return out
}

// The whole path on the Prism runner, against the single-machine commands on the same data:
// a labelled manifest of generated images, some unreadable, embedded into 3 shards (bit for bit
// cmd/embed's embeddings, every unreadable file in the rejects), gathered by cmd/gather, and
// retrieval over the 3 gallery shards with K up to 8, more than a shard's 4 rows, giving
// cmd/eval -json's metrics exactly.
func TestEmbedRetrieveMatchesCommands(t *testing.T) {
	root := t.TempDir()
	good, images := filepath.Join(root, "good"), filepath.Join(root, "images")
	os.Mkdir(good, 0o755)
	os.Mkdir(images, 0o755)
	rng := rand.New(rand.NewPCG(5, 6))
	var manifest, labels strings.Builder
	for i := range 12 {
		name := fmt.Sprintf("p%02d.png", i)
		if err := imagetest.WritePNG(filepath.Join(good, name), 32+rng.IntN(30), 32+rng.IntN(30), rng); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(good, name))
		os.WriteFile(filepath.Join(images, name), b, 0o644)
		fmt.Fprintf(&manifest, "%s\t%d\n", name, i%4)
		fmt.Fprintf(&labels, "%d\n", i%4)
		if i%5 == 2 {
			bad := fmt.Sprintf("p%02d_corrupt.png", i)
			os.WriteFile(filepath.Join(images, bad), b[:len(b)/3], 0o644)
			fmt.Fprintf(&manifest, "%s\t%d\n", bad, i%4)
		}
	}
	manifest.WriteString("missing.jpg\t0\n")
	os.WriteFile(filepath.Join(images, "list.txt"), []byte(manifest.String()), 0o644)

	model := beamtest.Options(t, modelFlags...)
	prefix := filepath.Join(root, "out", "emb")
	c := embedpipe.Config{Manifest: filepath.Join(images, "list.txt"), Out: prefix, Shards: 3, Batch: 5, Threads: 2, Model: model}
	if err := c.Check(context.Background(), os.Stderr); err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	embedpipe.Build(s, c)
	if _, err := prism.Execute(context.Background(), p); err != nil {
		t.Fatal(err)
	}

	rejects, _ := os.ReadFile(embedpipe.RejectsFile(prefix))
	for _, bad := range []string{"p02_corrupt.png", "p07_corrupt.png", "missing.jpg"} {
		if !strings.Contains(string(rejects), bad) {
			t.Errorf("the rejects do not name %s:\n%s", bad, rejects)
		}
	}
	if n := strings.Count(string(rejects), "\n"); n != 3 {
		t.Errorf("%d rejects, want 3:\n%s", n, rejects)
	}

	gathered := filepath.Join(root, "all.npy")
	command(t, "gather", "-shards", prefix, "-out", gathered)
	single := filepath.Join(root, "single.npy")
	command(t, "embed", append([]string{"-images", good, "-out", single, "-threads", "2"}, modelFlags...)...)
	want, _ := os.ReadFile(single)
	got, _ := os.ReadFile(gathered)
	if len(want) == 0 || !bytes.Equal(got, want) {
		t.Fatal("the gathered embeddings are not cmd/embed's bit for bit")
	}
	if l, _ := os.ReadFile(filepath.Join(root, "all.labels.txt")); string(l) != labels.String() {
		t.Errorf("gathered labels %q, want %q", l, labels.String())
	}

	wantJSON := command(t, "eval", "-emb", gathered, "-labels", filepath.Join(root, "all.labels.txt"), "-k", "1,2,4,8", "-json", "-nmi=false")
	out := filepath.Join(root, "metrics.json")
	res, err := retrieve.Run(context.Background(), retrieve.Config{Emb: prefix, Ks: []int{1, 2, 4, 8}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	gotJSON, _ := os.ReadFile(out)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("metrics %s, want cmd/eval's %s", gotJSON, wantJSON)
	}
	if res.Queries != 12 {
		t.Errorf("%d queries counted, want 12", res.Queries)
	}
	emb, err := tensor.ReadNPY(gathered)
	if err != nil || !slices.Equal(emb.Shape(), []int{12, 64}) {
		t.Errorf("gathered shape %v, %v", emb.Shape(), err)
	}
}
