// Package runtest trains tiny runs for the tests of the programs that read them.
package runtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/internal/imagetest"
)

// Tiny trains two steps of the default method, with the embedded backbone's preset, on a folder
// of 8 classes of 6 random images written under root (classes 4 to 7 are the test split, in
// that order in test_embeddings.npy), writing the test embeddings, and returns the run directory.
func Tiny(t testing.TB, root string) string {
	t.Helper()
	if err := imagetest.WriteFolder(root, 8, 6, 3); err != nil {
		t.Fatal(err)
	}
	cfg := dml.NewRunConfig("folder", dml.Presets[dml.DefaultPreset])
	cfg.Data, cfg.Out, cfg.Embeddings = root, filepath.Join(t.TempDir(), "run"), true
	cfg.Epochs, cfg.StepLimit, cfg.Batch, cfg.K, cfg.Threads = 1, 2, 8, 2, 2
	if _, err := dml.Train(context.Background(), cfg, dml.Options{}); err != nil {
		t.Fatal(err)
	}
	return cfg.Out
}
