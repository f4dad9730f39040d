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

// The released presets carry what the released configs and code do: vptsp-g+bitfit, bilinear
// resizing, Proxy-Anchor over all proxies, the released GRU and initialisation, dense class
// prompts for CUB and Cars and the memory bank for SOP and In-Shop, rnn_dropout where set, and
// the paper's adapter placements; mnist_micro keeps semprox's own semantics.
func TestPresetSemantics(t *testing.T) {
	dropout := map[string]float64{"sop_small": 0.1, "inshop_small": 0.1, "sop_basic": 0.5}
	for name, p := range Presets {
		if err := p.Semantics.Check(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if name == "mnist_micro" {
			if p.Semantics != (Semantics{}) || p.Method != "vptsp-g" || p.Interp != "bicubic" || p.AdapterBlocks != 0 {
				t.Errorf("mnist_micro: %+v", p)
			}
			continue
		}
		state := PromptsDense
		if p.K == 1 {
			state = PromptsBank
		}
		if want := Released(state, dropout[name]); p.Semantics != want {
			t.Errorf("%s: semantics %+v, want %+v", name, p.Semantics, want)
		}
		if p.Method != "vptsp-g+bitfit" || p.Interp != "bilinear" || p.AdapterBlocks != 7 || p.AdapterBlocksBitFit != 1 {
			t.Errorf("%s: method %s, interpolation %s, adapters %d/%d", name, p.Method, p.Interp, p.AdapterBlocks, p.AdapterBlocksBitFit)
		}
	}
	for _, bad := range []Semantics{{ClassPromptState: "sparse"}, {GRUMix: "mixed"}, {GRUDropout: 1}, {GRUDropout: -0.1}, {Init: "kaiming"}} {
		if bad.Check() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
