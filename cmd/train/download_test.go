package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/dml/data/datatest"
	"github.com/semprox/semprox/nn/hub/hubtest"
)

// torchrefConfig is timm's config.json for the torchref ViT (32px images, AugReg's
// normalisation), as the hub serves it for the paper's backbone in these tests.
const torchrefConfig = `{"architecture": "vit_small_patch16_224", "num_classes": 0,
 "pretrained_cfg": {"tag": "augreg_in21k", "input_size": [3, 32, 32], "interpolation": "bicubic",
  "crop_pct": 0.9, "crop_mode": "center", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "num_classes": 0}}`

// downloadServers starts a fake Hugging Face hub serving the torchref ViT as the paper's ViT-S
// backbone and a server of a generated CUB archive, points the environment at them (the hub's
// endpoint, the CUB source, empty caches, online), and returns the hub and the archive's
// request count. The archive has classes classes of 2 images, half of them in the train split.
func downloadServers(t *testing.T, classes int) (*hubtest.Server, *int) {
	t.Helper()
	weights, err := os.ReadFile(filepath.Join("..", "..", "testdata", "torchref", "vit.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	hub := hubtest.New(t, map[string]map[string][]byte{
		"timm/" + dml.PaperViTS: {"model.safetensors": weights, "config.json": []byte(torchrefConfig)},
	})
	tgz, sum, err := datatest.CUBArchive(classes, 2, 40)
	if err != nil {
		t.Fatal(err)
	}
	requests := new(int)
	archive := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*requests++
		http.ServeContent(w, r, "CUB_200_2011.tgz", time.Time{}, bytes.NewReader(tgz))
	}))
	t.Cleanup(archive.Close)
	cache := t.TempDir()
	t.Setenv("HF_ENDPOINT", hub.URL)
	t.Setenv("HF_HUB_OFFLINE", "0")
	t.Setenv("HF_HUB_CACHE", filepath.Join(cache, "hub"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(cache, "xdg"))
	t.Setenv("SEMPROX_CUB_URL", archive.URL+"/records/65de6-vp158/files/CUB_200_2011.tgz")
	t.Setenv("SEMPROX_CUB_MD5", sum)
	return hub, requests
}

// `train -dataset cub -download -dry-run` fetches CUB and the paper's backbone (here from test
// servers), prints the split summary and the backbone, and a second dry run finds both in the
// caches without asking the servers.
func TestDownloadDryRun(t *testing.T) {
	hub, archiveRequests := downloadServers(t, 200)
	var out, errOut bytes.Buffer
	if err := run([]string{"-dataset", "cub", "-download", "-dry-run", "-batch", "20", "-k", "2"}, &out, &errOut, never); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	backbone := "backbone: timm/" + dml.PaperViTS + "@" + hub.Commit("timm/" + dml.PaperViTS)[:12]
	for _, want := range []string{"dataset cub", "train", "100 classes", "test", backbone, "ViT D=64, depth 3", "preset cub200_small"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out.String())
		}
	}
	root := filepath.Join(os.Getenv("XDG_CACHE_HOME"), "semprox", "datasets")
	if _, err := os.Stat(filepath.Join(root, "cub", "CUB_200_2011", "images.txt")); err != nil {
		t.Errorf("CUB not unpacked in the cache: %v", err)
	}
	if *archiveRequests == 0 || hub.Stats().Requests() == 0 {
		t.Fatalf("nothing was downloaded: %d archive requests, hub %+v", *archiveRequests, hub.Stats())
	}

	hub.Close()
	*archiveRequests = 0
	out.Reset()
	if err := run([]string{"-dataset", "cub", "-download", "-dry-run", "-batch", "20", "-k", "2"}, &out, &errOut, never); err != nil {
		t.Fatalf("second run, servers closed: %v", err)
	}
	if *archiveRequests != 0 || !strings.Contains(out.String(), backbone) {
		t.Errorf("second run: %d archive requests, output:\n%s", *archiveRequests, out.String())
	}

	// A short run from the caches records the exact commit it read and ends with the paper's figures.
	dir := filepath.Join(t.TempDir(), "run")
	out.Reset()
	if err := run([]string{"-dataset", "cub", "-download", "-batch", "20", "-k", "2", "-epochs", "1", "-steps", "1", "-out", dir}, &out, &errOut, never); err != nil {
		t.Fatalf("training from the caches: %v", err)
	}
	cfg, err := dml.ReadRunConfig(dir)
	if pinned := "hf-hub:timm/" + dml.PaperViTS + "@" + hub.Commit("timm/"+dml.PaperViTS); err != nil || cfg.Weights != pinned {
		t.Errorf("config.json weights %q (%v), want %q", cfg.Weights, err, pinned)
	}
	for _, want := range []string{"paper, Table 1 and Table 2: VPTSP-G (B) on " + dml.PaperViTS + ", cub200_small preset (15 epochs)",
		"this run trains 1 epochs of at most 1 steps, not the preset's whole length", "paper 86.60 91.70 94.80 52.70"} {
		if !strings.Contains(strings.Join(strings.Fields(out.String()), " "), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "not the paper's") {
		t.Errorf("the paper's backbone is called another:\n%s", out.String())
	}
}

// A dry run on a dataset too small for its preset prints the split summary first, then an error
// naming -batch and -k values that fit.
func TestDryRunTooSmall(t *testing.T) {
	downloadServers(t, 40) // 20 train classes; the preset's batch needs 32
	var out, errOut bytes.Buffer
	err := run([]string{"-dataset", "cub", "-download", "-dry-run", "-preset", "cub200_small"}, &out, &errOut, never)
	if err == nil {
		t.Fatalf("the preset's batch of 64 (32 classes x 2) fits 20 classes? output:\n%s", out.String())
	}
	want := "-batch 64, -k 2: the train split has only 40 images; -batch 40 -k 2 would fit"
	if !strings.Contains(out.String(), "20 classes") || err.Error() != want {
		t.Errorf("error %v after output:\n%s", err, out.String())
	}
}
