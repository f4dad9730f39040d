package dml_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/semprox/semprox/dml"
)

// A session stopped by its context resumes from config.json alone: a preset choice that no
// registered preset has (adapters in the last 2 blocks) comes back, and the resumed run ends
// with the losses and evaluations of an uninterrupted one.
func TestSessionResumesFromConfig(t *testing.T) {
	root, runs := t.TempDir(), t.TempDir()
	if err := writeStripes(root, 8, 8); err != nil {
		t.Fatal(err)
	}
	cfg := dml.NewRunConfig("folder", dml.Presets[dml.DefaultPreset])
	cfg.Data, cfg.Epochs, cfg.StepLimit, cfg.Batch, cfg.K, cfg.Threads = root, 2, 2, 8, 2, 2
	cfg.Method, cfg.AdapterBlocks, cfg.AdapterBlocksBitFit = "adapter", 2, 2

	cfg.Out = filepath.Join(runs, "whole")
	whole, err := dml.Train(context.Background(), cfg, dml.Options{})
	if err != nil {
		t.Fatal(err)
	}

	cfg.Out = filepath.Join(runs, "parts")
	stopped, cancel := context.WithCancel(context.Background())
	cancel() // the first step runs, then the session saves and stops
	if _, err := dml.Train(stopped, cfg, dml.Options{}); !errors.Is(err, dml.ErrStopped) {
		t.Fatalf("a cancelled context: %v, want ErrStopped", err)
	}
	back, err := dml.ReadRunConfig(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := dml.NewSession(back, dml.Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	adapters := 0
	for _, a := range ss.Model().Adapters {
		if a != nil {
			adapters++
		}
	}
	if back.AdapterBlocks != 2 || adapters != 2 {
		t.Errorf("resumed: config.json adapter_blocks %d, the model has %d adapters; want 2", back.AdapterBlocks, adapters)
	}
	parts, err := ss.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(parts.History) != len(whole.History) {
		t.Fatalf("%d epochs resumed, %d uninterrupted", len(parts.History), len(whole.History))
	}
	for i, e := range parts.History {
		w := whole.History[i]
		if e.Loss != w.Loss || e.Eval == nil || w.Eval == nil || e.Eval.Recall[0] != w.Eval.Recall[0] || e.Eval.MAPAtR != w.Eval.MAPAtR {
			t.Errorf("epoch %d: loss %v, eval %+v resumed; %v, %+v uninterrupted", e.Epoch, e.Loss, e.Eval, w.Loss, w.Eval)
		}
	}
}
