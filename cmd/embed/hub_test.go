package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/semprox/semprox/nn/hub/hubtest"
	"github.com/semprox/semprox/tensor"
)

// -weights names a model of the hub: it is downloaded into the hub's cache, and its pretrained
// configuration (input size, crop_pct, interpolation, mean and std) replaces the flags' defaults,
// so the embeddings are those of the file with the matching flags, bit for bit.
func TestEmbedHubModel(t *testing.T) {
	weights, err := os.ReadFile(filepath.Join(torchref, "vit.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	// crop_pct 0.5: resize to floor(32 / 0.5) = 64, as TestEmbedTorchref's flags do.
	config := `{"architecture": "vit_small_patch16_224", "pretrained_cfg": {"input_size": [3, 32, 32],
		"interpolation": "bicubic", "crop_pct": 0.5, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}`
	hub := hubtest.New(t, map[string]map[string][]byte{"semprox/torchref-vit": {"model.safetensors": weights, "config.json": []byte(config)}})
	t.Setenv("HF_ENDPOINT", hub.URL)
	t.Setenv("HF_HUB_OFFLINE", "0")
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_TOKEN", "")
	dir := t.TempDir()
	images := filepath.Join(torchref, "images")
	fromHub, fromFile := filepath.Join(dir, "hub.npy"), filepath.Join(dir, "file.npy")
	if err := run([]string{"-weights", "hf-hub:semprox/torchref-vit", "-images", images, "-out", fromHub, "-heads", "2"}); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-weights", filepath.Join(torchref, "vit.safetensors"), "-images", images, "-out", fromFile,
		"-heads", "2", "-resize", "64", "-crop", "32", "-mean", "0.5,0.5,0.5", "-std", "0.5,0.5,0.5"}); err != nil {
		t.Fatal(err)
	}
	a, errA := os.ReadFile(fromHub)
	b, errB := os.ReadFile(fromFile)
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Errorf("the hub model's embeddings differ from the file's (%v, %v)", errA, errB)
	}
	if _, err := tensor.ReadNPY(fromHub); err != nil {
		t.Error(err)
	}
	// An explicit flag wins over the pretrained configuration: another resize, other embeddings.
	hub.Close()
	t.Setenv("HF_HUB_OFFLINE", "1")
	other := filepath.Join(dir, "other.npy")
	if err := run([]string{"-weights", "hf-hub:semprox/torchref-vit", "-images", images, "-out", other, "-heads", "2", "-resize", "48"}); err != nil {
		t.Fatalf("offline, from the cache: %v", err)
	}
	if c, _ := os.ReadFile(other); bytes.Equal(a, c) {
		t.Error("-resize 48 was ignored")
	}
}
