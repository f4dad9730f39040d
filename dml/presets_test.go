package dml

import (
	"testing"

	"github.com/semprox/semprox/nn"
)

func TestPresets(t *testing.T) {
	if len(Presets) != 9 {
		t.Fatalf("%d presets, want the 8 released ones and mnist_micro", len(Presets))
	}
	for name, p := range Presets {
		if p.Name != name {
			t.Errorf("%s: Name %q", name, p.Name)
		}
		if _, err := nn.ConfigNamed(p.Backbone); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if p.Batch%p.K != 0 || (p.Optimizer != "sgd" && p.Optimizer != "adamw") || p.Alpha < 0 || p.Alpha > 1 {
			t.Errorf("%s: inconsistent %+v", name, p)
		}
	}
	// cars_small: 80 prompts, 11 blocks, tau 2 -> 80, 78, ..., 60.
	if got, want := Presets["cars_small"].Prompts.Total(), 11*80-2*(0+1+2+3+4+5+6+7+8+9+10); got != want {
		t.Errorf("cars_small prompt tokens %d, want %d", got, want)
	}
	if n := (PromptSpec{Count: 5, Depth: 4, Tau: 5}).At(1); n != 0 {
		t.Errorf("cub200_basic class prompts of block 1: %d, want max(5-5, 0) = 0", n)
	}
	if _, err := PresetNamed("cub"); err == nil {
		t.Error("unknown preset accepted")
	}
}
