package hub

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/semprox/semprox/nn/hub/hubtest"
)

const vitRepo = "timm/vit_small_patch16_224.augreg_in21k"

// vitConfig is config.json as timm writes it for vit_small_patch16_224.augreg_in21k.
const vitConfig = `{
    "architecture": "vit_small_patch16_224",
    "num_classes": 21843,
    "num_features": 384,
    "global_pool": "token",
    "pretrained_cfg": {
        "tag": "augreg_in21k",
        "custom_load": true,
        "input_size": [3, 224, 224],
        "fixed_input_size": true,
        "interpolation": "bicubic",
        "crop_pct": 0.9,
        "crop_mode": "center",
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
        "num_classes": 21843,
        "pool_size": null,
        "first_conv": "patch_embed.proj",
        "classifier": "head"
    }
}`

// weightsContent stands for a weight file: n pseudo-random bytes.
func weightsContent(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 3))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// fakeHub serves vitRepo with config.json and a model.safetensors of 300 kB.
func fakeHub(t *testing.T) (*hubtest.Server, []byte) {
	w := weightsContent(300_000)
	srv := hubtest.New(t, map[string]map[string][]byte{
		vitRepo: {"config.json": []byte(vitConfig), "model.safetensors": w},
	})
	return srv, w
}

func testClient(srv *hubtest.Server, cache string) *Client {
	return &Client{Endpoint: srv.URL, CacheDir: cache}
}

func mustRead(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes that differ from the %d expected", path, len(got), len(want))
	}
}

func mustNotExist(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists, want it absent", p)
		}
	}
}

// assertPythonLayout checks that filename of repo at revision is where huggingface_hub looks
// for it: refs/{revision} holds the commit without a newline, and snapshots/{commit}/{filename}
// is a relative link into blobs/ holding content.
func assertPythonLayout(t *testing.T, cache, repo, revision, commit, filename string, content []byte, etag string) {
	t.Helper()
	dir := filepath.Join(cache, "models--"+strings.ReplaceAll(repo, "/", "--"))
	ref, err := os.ReadFile(filepath.Join(dir, "refs", revision))
	if err != nil {
		t.Fatal(err)
	}
	if string(ref) != commit {
		t.Errorf("refs/%s holds %q, want %q", revision, ref, commit)
	}
	pointer := filepath.Join(dir, "snapshots", commit, filepath.FromSlash(filename))
	target, err := os.Readlink(pointer)
	if err != nil {
		t.Fatalf("%s is not a symbolic link: %v", pointer, err)
	}
	depth := strings.Count(filename, "/")
	want := strings.Repeat("../", 2+depth) + "blobs/" + etag
	if filepath.ToSlash(target) != want {
		t.Errorf("%s links to %q, want %q", pointer, target, want)
	}
	mustRead(t, filepath.Join(dir, "blobs", etag), content)
	mustRead(t, pointer, content)
	mustNotExist(t, filepath.Join(dir, "blobs", etag+".incomplete"))
}

func TestFileDownload(t *testing.T) {
	srv, w := fakeHub(t)
	cache := t.TempDir()
	c := testClient(srv, cache)
	c.Token = "secret"
	var progress bytes.Buffer
	c.Progress = &progress
	p, err := c.File(context.Background(), vitRepo, "", "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	commit := srv.Commit(vitRepo)
	want := filepath.Join(cache, "models--timm--vit_small_patch16_224.augreg_in21k", "snapshots", commit, "model.safetensors")
	if p != want {
		t.Errorf("path %s, want %s", p, want)
	}
	assertPythonLayout(t, cache, vitRepo, "main", commit, "model.safetensors", w, hubtest.ETag("model.safetensors", w))
	st := srv.Stats()
	if st.Head != 1 || st.Get != 1 || st.CDN != 1 {
		t.Errorf("stats %+v, want 1 HEAD, 1 GET and 1 CDN request", st)
	}
	if fmt.Sprint(st.HubAuthorization) != "[Bearer secret Bearer secret]" || fmt.Sprint(st.CDNAuthorization) != "[]" {
		t.Errorf("Authorization at the hub %q, at the CDN %q: want the token at the hub only", st.HubAuthorization, st.CDNAuthorization)
	}
	if !strings.Contains(progress.String(), vitRepo+"/model.safetensors: ") {
		t.Errorf("progress %q does not show the download", progress.String())
	}

	// A small file: its etag is a git blob hash, not verified as a sha256.
	p, err = c.File(context.Background(), vitRepo, "main", "config.json")
	if err != nil {
		t.Fatal(err)
	}
	mustRead(t, p, []byte(vitConfig))
	assertPythonLayout(t, cache, vitRepo, "main", commit, "config.json", []byte(vitConfig), hubtest.ETag("config.json", []byte(vitConfig)))
}

// TestFileCacheReuse checks that a second Client finds the file in the cache: asking for a
// commit needs no request, and with the hub gone the cached file of main is used and a line says so.
func TestFileCacheReuse(t *testing.T) {
	srv, w := fakeHub(t)
	cache := t.TempDir()
	if _, err := testClient(srv, cache).File(context.Background(), vitRepo, "main", "model.safetensors"); err != nil {
		t.Fatal(err)
	}
	commit := srv.Commit(vitRepo)

	srv.ResetStats()
	p, err := testClient(srv, cache).File(context.Background(), vitRepo, commit, "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	mustRead(t, p, w)
	if n := srv.Stats().Requests(); n != 0 {
		t.Errorf("%d requests for a cached commit, want none", n)
	}

	// Main, known to the hub: a HEAD, no download.
	p2, err := testClient(srv, cache).File(context.Background(), vitRepo, "main", "model.safetensors")
	if err != nil || p2 != p {
		t.Fatalf("File = %q, %v; want %q", p2, err, p)
	}
	if st := srv.Stats(); st.Head != 1 || st.Get != 0 || st.CDN != 0 {
		t.Errorf("stats %+v, want one HEAD", st)
	}

	srv.Close()
	c := testClient(srv, cache)
	var notes bytes.Buffer
	c.Progress = &notes
	p3, err := c.File(context.Background(), vitRepo, "main", "model.safetensors")
	if err != nil || p3 != p {
		t.Fatalf("with the hub gone, File = %q, %v; want %q", p3, err, p)
	}
	if s := notes.String(); !strings.Contains(s, "cannot be reached") || !strings.Contains(s, "using the cached model.safetensors") || strings.Count(s, "\n") != 1 {
		t.Errorf("note %q, want one line saying the cache is used", s)
	}

	// Nothing cached and no hub: an error naming the model, the hub and the cache path.
	_, err = c.File(context.Background(), vitRepo, "main", "pytorch_model.bin")
	if err == nil || !strings.Contains(err.Error(), vitRepo) || !strings.Contains(err.Error(), srv.URL) ||
		!strings.Contains(err.Error(), filepath.Join(cache, "models--timm--vit_small_patch16_224.augreg_in21k")) {
		t.Errorf("error %v, want one naming the model, the endpoint and the cache path", err)
	}
}

func TestFileOffline(t *testing.T) {
	srv, w := fakeHub(t)
	cache := t.TempDir()
	if _, err := testClient(srv, cache).File(context.Background(), vitRepo, "main", "model.safetensors"); err != nil {
		t.Fatal(err)
	}
	srv.ResetStats()
	c := testClient(srv, cache)
	c.Offline = true
	p, err := c.File(context.Background(), vitRepo, "main", "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	mustRead(t, p, w)
	_, err = c.File(context.Background(), vitRepo, "main", "config.json")
	if err == nil {
		t.Fatal("offline File of a file not in the cache succeeded")
	}
	for _, s := range []string{vitRepo, "config.json", filepath.Join(cache, "models--timm--vit_small_patch16_224.augreg_in21k"), "unset HF_HUB_OFFLINE"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	_, err = c.Model(context.Background(), "vit_base_patch16_224.augreg_in21k")
	if err == nil || !strings.Contains(err.Error(), "timm/vit_base_patch16_224.augreg_in21k") ||
		!strings.Contains(err.Error(), filepath.Join(cache, "models--timm--vit_base_patch16_224.augreg_in21k")) ||
		!strings.Contains(err.Error(), "HF_HUB_OFFLINE") {
		t.Errorf("offline Model of an uncached model: error %v, want one naming the model, its cache path and HF_HUB_OFFLINE", err)
	}
	if n := srv.Stats().Requests(); n != 0 {
		t.Errorf("%d requests offline, want none", n)
	}
}

// TestFileResumeAfterCut checks that a download cut half way is resumed with a Range request
// and ends with the right sha256.
func TestFileResumeAfterCut(t *testing.T) {
	srv, w := fakeHub(t)
	srv.CutOnce(vitRepo, "model.safetensors", 100_000)
	cache := t.TempDir()
	p, err := testClient(srv, cache).File(context.Background(), vitRepo, "main", "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	mustRead(t, p, w)
	if got := srv.Stats().CDNRanges; fmt.Sprint(got) != "[ bytes=100000-]" {
		t.Errorf("CDN Range headers %q, want none then bytes=100000-", got)
	}
	assertPythonLayout(t, cache, vitRepo, "main", srv.Commit(vitRepo), "model.safetensors", w, hubtest.ETag("model.safetensors", w))
}

// TestFileResumeIncompleteBlob checks that the blobs/{etag}.incomplete an earlier run left (of
// this program or of huggingface_hub) is resumed.
func TestFileResumeIncompleteBlob(t *testing.T) {
	srv, w := fakeHub(t)
	cache := t.TempDir()
	etag := hubtest.ETag("model.safetensors", w)
	blobs := filepath.Join(cache, "models--timm--vit_small_patch16_224.augreg_in21k", "blobs")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(blobs, etag+".incomplete"), w[:123_456], 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := testClient(srv, cache).File(context.Background(), vitRepo, "main", "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	mustRead(t, p, w)
	if got := srv.Stats().CDNRanges; fmt.Sprint(got) != "[bytes=123456-]" {
		t.Errorf("CDN Range headers %q, want bytes=123456-", got)
	}
	mustNotExist(t, filepath.Join(blobs, etag+".incomplete"))
}

// TestFileChecksumMismatch checks that content whose sha256 is not the hub's etag leaves no
// blob, no partial blob, no snapshot link and no ref.
func TestFileChecksumMismatch(t *testing.T) {
	srv, w := fakeHub(t)
	srv.Corrupt(vitRepo, "model.safetensors")
	cache := t.TempDir()
	_, err := testClient(srv, cache).File(context.Background(), vitRepo, "main", "model.safetensors")
	etag := hubtest.ETag("model.safetensors", w)
	if err == nil || !strings.Contains(err.Error(), etag) || !strings.Contains(err.Error(), vitRepo) {
		t.Fatalf("error %v, want one naming the model and the expected sha256 %s", err, etag)
	}
	dir := filepath.Join(cache, "models--timm--vit_small_patch16_224.augreg_in21k")
	mustNotExist(t, filepath.Join(dir, "blobs", etag), filepath.Join(dir, "blobs", etag+".incomplete"),
		filepath.Join(dir, "snapshots", srv.Commit(vitRepo), "model.safetensors"), filepath.Join(dir, "refs", "main"))
}

func TestFileGated(t *testing.T) {
	srv, w := fakeHub(t)
	srv.Gate(vitRepo, "good")
	cache := t.TempDir()
	c := testClient(srv, cache)
	_, err := c.File(context.Background(), vitRepo, "main", "model.safetensors")
	if err == nil || !strings.Contains(err.Error(), "HF_TOKEN") || !strings.Contains(err.Error(), vitRepo) ||
		!strings.Contains(err.Error(), "gated or private") || !strings.Contains(err.Error(), "no token was sent") {
		t.Errorf("without a token: error %v, want one naming the repo, gated or private, and HF_TOKEN", err)
	}
	c.Token = "bad"
	_, err = c.File(context.Background(), vitRepo, "main", "model.safetensors")
	if err == nil || !strings.Contains(err.Error(), "HF_TOKEN") || !strings.Contains(err.Error(), "has no access") {
		t.Errorf("with a wrong token: error %v, want one saying the token has no access", err)
	}
	c.Token = "good"
	p, err := c.File(context.Background(), vitRepo, "main", "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	mustRead(t, p, w)
	if got := srv.Stats().CDNAuthorization; fmt.Sprint(got) != "[]" {
		t.Errorf("the CDN saw Authorization %q, want none", got)
	}
}

func TestFileNotFound(t *testing.T) {
	srv, _ := fakeHub(t)
	c := testClient(srv, t.TempDir())
	for _, tc := range []struct {
		repo, revision, file, want string
	}{
		{"timm/nothing_here.x", "main", "model.safetensors", "no model timm/nothing_here.x on the hub (endpoint " + srv.URL + ")"},
		{vitRepo, "v9", "model.safetensors", `has no revision "v9"`},
		{vitRepo, "main", "missing.bin", "has no file missing.bin at revision main"},
	} {
		_, err := c.File(context.Background(), tc.repo, tc.revision, tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("File(%s, %s, %s): error %v, want one saying %q", tc.repo, tc.revision, tc.file, err, tc.want)
		}
	}
	_, err := c.Model(context.Background(), "hf-hub:timm/nothing_here.x")
	if err == nil || !strings.Contains(err.Error(), "no model timm/nothing_here.x on the hub") {
		t.Errorf("Model of a missing repo: error %v", err)
	}
	for _, bad := range [][3]string{{"a/b/c", "main", "f"}, {vitRepo, "main", "../x"}, {vitRepo, "a b", "f"}} {
		if _, err := c.File(context.Background(), bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("File(%q) accepted", bad)
		}
	}
}

// TestFileSubfolderAndCommit checks a file in a subfolder (a deeper relative link) and a
// revision that is a commit (no ref written).
func TestFileSubfolderAndCommit(t *testing.T) {
	srv := hubtest.New(t, map[string]map[string][]byte{"org/m": {"sub/dir/w.safetensors": []byte("weights")}})
	cache := t.TempDir()
	commit := srv.Commit("org/m")
	p, err := testClient(srv, cache).File(context.Background(), "org/m", commit, "sub/dir/w.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	mustRead(t, p, []byte("weights"))
	target, err := os.Readlink(p)
	if err != nil || filepath.ToSlash(target) != "../../../../blobs/"+hubtest.ETag("w.safetensors", []byte("weights")) {
		t.Errorf("link %q, %v", target, err)
	}
	mustNotExist(t, filepath.Join(cache, "models--org--m", "refs"))
}

// TestFileBranchMoved checks that a new commit on main gives a new snapshot and moves refs/main.
func TestFileBranchMoved(t *testing.T) {
	srv, _ := fakeHub(t)
	cache := t.TempDir()
	c := testClient(srv, cache)
	old := srv.Commit(vitRepo)
	if _, err := c.File(context.Background(), vitRepo, "main", "model.safetensors"); err != nil {
		t.Fatal(err)
	}
	w2 := weightsContent(1000)
	srv.Put(vitRepo, "model.safetensors", w2)
	if srv.Commit(vitRepo) == old {
		t.Fatal("Put kept the commit")
	}
	p, err := c.File(context.Background(), vitRepo, "main", "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	mustRead(t, p, w2)
	assertPythonLayout(t, cache, vitRepo, "main", srv.Commit(vitRepo), "model.safetensors", w2, hubtest.ETag("x.safetensors", w2))
	// The old snapshot stays, as huggingface_hub leaves it.
	if _, err := os.Stat(filepath.Join(cache, "models--timm--vit_small_patch16_224.augreg_in21k", "snapshots", old, "model.safetensors")); err != nil {
		t.Error(err)
	}
}

// TestFileConcurrent checks that downloads of one file at once, by one Client and by several,
// fetch it once.
func TestFileConcurrent(t *testing.T) {
	srv, w := fakeHub(t)
	cache := t.TempDir()
	shared := testClient(srv, cache)
	var wg sync.WaitGroup
	paths := make([]string, 6)
	errs := make([]error, 6)
	for i := range paths {
		c := shared
		if i%2 == 1 {
			c = testClient(srv, cache)
		}
		wg.Go(func() {
			paths[i], errs[i] = c.File(context.Background(), vitRepo, "main", "model.safetensors")
		})
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		mustRead(t, paths[i], w)
	}
	if n := srv.Stats().CDN; n != 1 {
		t.Errorf("%d downloads, want 1", n)
	}
}

func TestModel(t *testing.T) {
	srv, w := fakeHub(t)
	cache := t.TempDir()
	for _, ref := range []string{"vit_small_patch16_224.augreg_in21k", "hf-hub:" + vitRepo, "hf-hub:" + vitRepo + "@" + srv.Commit(vitRepo)} {
		m, err := testClient(srv, cache).Model(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		if m.Repo != vitRepo || m.Commit != srv.Commit(vitRepo) || filepath.Base(m.WeightsPath) != "model.safetensors" || filepath.Base(m.ConfigPath) != "config.json" {
			t.Errorf("%s: model %+v", ref, m)
		}
		mustRead(t, m.WeightsPath, w)
		want := PretrainedConfig{Architecture: "vit_small_patch16_224", Tag: "augreg_in21k", InputSize: [3]int{3, 224, 224},
			Interpolation: "bicubic", CropPct: 0.9, CropMode: "center", Mean: [3]float64{0.5, 0.5, 0.5}, Std: [3]float64{0.5, 0.5, 0.5}, NumClasses: 21843}
		if m.Config != want {
			t.Errorf("%s: config %+v, want %+v", ref, m.Config, want)
		}
	}
	if _, err := testClient(srv, cache).Model(context.Background(), "weights.safetensors"); err == nil || !strings.Contains(err.Error(), "weights.safetensors") {
		t.Errorf("Model of a file name: error %v", err)
	}
}

func TestModelFallsBackToPyTorch(t *testing.T) {
	bin := weightsContent(5000)
	srv := hubtest.New(t, map[string]map[string][]byte{
		"timm/old_vit.tag": {"config.json": []byte(vitConfig), "pytorch_model.bin": bin},
		"org/empty":        {"README.md": []byte("nothing")},
	})
	cache := t.TempDir()
	m, err := testClient(srv, cache).Model(context.Background(), "old_vit.tag")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(m.WeightsPath) != "pytorch_model.bin" {
		t.Errorf("weights %s, want pytorch_model.bin", m.WeightsPath)
	}
	mustRead(t, m.WeightsPath, bin)
	assertPythonLayout(t, cache, "timm/old_vit.tag", "main", srv.Commit("timm/old_vit.tag"), "pytorch_model.bin", bin, hubtest.ETag("x.bin", bin))

	// Offline, the fallback finds the cached pytorch_model.bin.
	c := testClient(srv, cache)
	c.Offline = true
	if m2, err := c.Model(context.Background(), "old_vit.tag"); err != nil || m2.WeightsPath != m.WeightsPath {
		t.Errorf("offline: %+v, %v", m2, err)
	}

	_, err = testClient(srv, cache).Model(context.Background(), "hf-hub:org/empty")
	if err == nil || !strings.Contains(err.Error(), "model.safetensors or pytorch_model.bin") {
		t.Errorf("a repo without weights: error %v", err)
	}
}

// TestPythonCache checks that a cache written as huggingface_hub writes it is read with no hub.
func TestPythonCache(t *testing.T) {
	cache := t.TempDir()
	dir := filepath.Join(cache, "models--timm--vit_small_patch16_224.augreg_in21k")
	commit := "4c8e3a2d0b1f4e5a6978c0d1e2f3a4b5c6d7e8f9"
	w := weightsContent(2000)
	wEtag := hubtest.ETag("model.safetensors", w)
	cEtag := hubtest.ETag("config.json", []byte(vitConfig))
	for _, f := range []struct {
		path string
		data []byte
	}{
		{"blobs/" + wEtag, w}, {"blobs/" + cEtag, []byte(vitConfig)}, {"refs/main", []byte(commit)},
	} {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snap := filepath.Join(dir, "snapshots", commit)
	os.MkdirAll(snap, 0o755)
	if err := os.Symlink("../../blobs/"+wEtag, filepath.Join(snap, "model.safetensors")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	os.Symlink("../../blobs/"+cEtag, filepath.Join(snap, "config.json"))

	// Offline, and online with an endpoint where nothing answers.
	for _, c := range []*Client{{CacheDir: cache, Offline: true}, {CacheDir: cache, Endpoint: "http://127.0.0.1:1"}} {
		m, err := c.Model(context.Background(), "vit_small_patch16_224.augreg_in21k")
		if err != nil {
			t.Fatal(err)
		}
		if m.Commit != commit || m.WeightsPath != filepath.Join(snap, "model.safetensors") || m.Config.CropPct != 0.9 {
			t.Errorf("model %+v", m)
		}
		mustRead(t, m.WeightsPath, w)
	}
}

// TestModelWeightsWithoutConfig checks a cache that has the weights but not config.json (as
// timm in Python leaves it for a bare model name): offline, Model works with a zero Config.
func TestModelWeightsWithoutConfig(t *testing.T) {
	srv, w := fakeHub(t)
	cache := t.TempDir()
	if _, err := testClient(srv, cache).File(context.Background(), vitRepo, "main", "model.safetensors"); err != nil {
		t.Fatal(err)
	}
	c := testClient(srv, cache)
	c.Offline = true
	m, err := c.Model(context.Background(), "vit_small_patch16_224.augreg_in21k")
	if err != nil {
		t.Fatal(err)
	}
	mustRead(t, m.WeightsPath, w)
	if m.ConfigPath != "" || m.Config != (PretrainedConfig{}) {
		t.Errorf("config %q %+v, want none", m.ConfigPath, m.Config)
	}
}

// TestFilePrivateOrMissing checks the hub's answer to a repository it will not show without a
// token: 401 with X-Error-Code RepoNotFound.
func TestFilePrivateOrMissing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Error-Code", "RepoNotFound")
		w.Header().Set("X-Error-Message", "Repository not found")
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	c := &Client{Endpoint: srv.URL, CacheDir: t.TempDir()}
	_, err := c.File(context.Background(), "org/secret", "main", "model.safetensors")
	if err == nil || !strings.Contains(err.Error(), "no model org/secret on the hub (endpoint "+srv.URL+")") || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Errorf("error %v, want one saying there is no such model, or that it is private and to set HF_TOKEN", err)
	}
}

// TestFileNotAHub checks an endpoint that answers 200 without the hub's headers.
func TestFileNotAHub(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }))
	defer srv.Close()
	c := &Client{Endpoint: srv.URL, CacheDir: t.TempDir()}
	_, err := c.File(context.Background(), "org/m", "main", "config.json")
	if err == nil || !strings.Contains(err.Error(), "HF_ENDPOINT") || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("error %v, want one naming the endpoint and HF_ENDPOINT", err)
	}
}

// TestModelHubDown checks that Model asks a failing hub once, takes every file from the cache,
// and says so in one line.
func TestModelHubDown(t *testing.T) {
	srv, w := fakeHub(t)
	cache := t.TempDir()
	if _, err := testClient(srv, cache).Model(context.Background(), "vit_small_patch16_224.augreg_in21k"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	requests := 0
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	var notes bytes.Buffer
	c := &Client{Endpoint: down.URL, CacheDir: cache, Progress: &notes}
	m, err := c.Model(context.Background(), "vit_small_patch16_224.augreg_in21k")
	if err != nil {
		t.Fatal(err)
	}
	mustRead(t, m.WeightsPath, w)
	if m.Config.Architecture != "vit_small_patch16_224" || m.Commit != srv.Commit(vitRepo) {
		t.Errorf("model %+v", m)
	}
	if requests != 1 {
		t.Errorf("%d requests to the failing hub, want 1", requests)
	}
	if s := notes.String(); strings.Count(s, "\n") != 1 || !strings.Contains(s, "503") || !strings.Contains(s, "using the cached files of commit "+srv.Commit(vitRepo)[:7]) {
		t.Errorf("notes %q, want one line saying the cache is used", s)
	}
}
