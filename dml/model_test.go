package dml

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/nn"
)

// Trainable parameter counts of cub200_small on ViT-S/16 (100 training classes), from the
// formulas: heads LN(384) + Linear(384, 384) = 148,608 each; 10 prompts x 12 blocks x 384 =
// 46,080; class prompts 100 x 3 x 12 x 384 = 1,382,400 stored, of which a batch's 32 classes
// take 442,368; GRU 6 x 384^2 + 3 x 384 = 885,888; proxy bias 100 x 384 = 38,400; BitFit's
// biases of ViT-S 51,456; the paper's adapters in 7 blocks, or 1 with BitFit.
func TestParameterCounts(t *testing.T) {
	const head, prompts, bank, gru, bias, bitfit = 148608, 46080, 1382400, 885888, 38400, 51456
	const perStep = 442368
	const adapter = 2*384*256 + 256 + 384 // Down [256, 384] and Up [384, 256] with biases
	// Every weight and bias of ViT-S/16: class token, position embedding, patch embedding, 12
	// blocks (2 LayerNorms, qkv, proj, fc1, fc2) and the final norm.
	block := 2*768 + (384*1152 + 1152) + (384*384 + 384) + (384*1536 + 1536) + (1536*384 + 384)
	vitS := 384 + 197*384 + (384*3*16*16 + 384) + 12*block + 768
	cases := map[string]int{
		"linear":         head + bias,
		"bitfit":         head + bias + bitfit,
		"adapter":        head + bias + 7*adapter,
		"adapter+bitfit": head + bias + adapter + bitfit,
		"vpt":            head + bias + prompts,
		"vpt+bitfit":     head + bias + prompts + bitfit,
		"vptsp-m":        2*head + bias + prompts + bank,
		"vptsp-g":        2*head + bias + prompts + bank + gru,
		"vptsp-g+bitfit": 2*head + bias + prompts + bank + gru + bitfit,
		"full":           head + bias + vitS,
	}
	preset := Presets["cub200_small"]
	for name, want := range cases {
		method, err := ParseMethod(name)
		if err != nil {
			t.Fatal(err)
		}
		vit := nn.NewViT(nn.Configs[preset.Backbone])
		m := newModel(t, vit, method, preset.ModelConfig, 100, rand.New(rand.NewPCG(1, 1)))
		wantStep := want
		if method.SemanticProxies() {
			wantStep += perStep - bank
		}
		if got := m.ParameterCount(preset.Batch / preset.K); got.Stored != want || got.PerStep != wantStep {
			t.Errorf("%s: %d stored, %d per step (%s), want %d and %d", name, got.Stored, got.PerStep, got.Parts, want, wantStep)
		}
	}
	if _, err := ParseMethod("linear+bitfit"); err == nil {
		t.Error("linear+bitfit accepted")
	}
}

// A VPTSP-G step on the reference ViT: finite loss, gradients for every trainable part, the
// prompt bank and the memory updated for the batch's classes only.
func TestModelStep(t *testing.T) {
	vit, input := tinyViT(t), readNPY(t, "input.npy")
	preset := tinyPreset()
	preset.Class.Tau = 1
	method, _ := ParseMethod("vptsp-g+bitfit")
	for _, after := range []bool{false, true} {
		m := newModel(t, vit, method, preset.ModelConfig, 5, rand.New(rand.NewPCG(2, 2)))
		m.Semantics.ClassAfterDataset = after
		labels := []int{3, 1}
		memBefore := m.Memory.P.Clone()
		bankBefore := m.Bank.Tables[0].Clone()
		tp := autodiff.NewTape()
		loss, step := m.Forward(tp, autodiff.Constant(input), labels, 0)
		if v := float64(loss.Value.Data()[0]); math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			t.Fatalf("loss %v", v)
		}
		tp.Backward(loss)
		for _, p := range m.Trainable() {
			if p.Var.Grad() == nil {
				t.Errorf("after=%v: no gradient for %s", after, p.Name)
			}
		}
		opt := nn.NewSGD([]nn.Group{{Params: vars(m.Trainable()), LR: 0.1}}, 0.9)
		opt.Step()
		step.Finish(opt, 0.1, 0, 0)
		for c := range 5 {
			changed := !equal(m.Memory.P.Row(c).Data(), memBefore.Row(c).Data())
			bankChanged := !equal(m.Bank.Tables[0].Row(c).Data(), bankBefore.Row(c).Data())
			inBatch := c == 1 || c == 3
			if changed != inBatch || bankChanged != inBatch {
				t.Errorf("after=%v class %d: memory changed %v, prompts changed %v, in batch %v", after, c, changed, bankChanged, inBatch)
			}
		}
	}
}

func vars(ps []nn.Named) []*autodiff.Var {
	out := make([]*autodiff.Var, len(ps))
	for i, p := range ps {
		out[i] = p.Var
	}
	return out
}

func equal(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The adapter method trains its adapters: a new adapter is the identity (Up is zero), and a
// step gives every trainable part a gradient.
func TestAdapterModel(t *testing.T) {
	m, input := tinyModel(t, "adapter+bitfit"), readNPY(t, "input.npy")
	tp := autodiff.NewTape()
	tp.SetNoGrad(true)
	with := m.ViT.Embed(tp, autodiff.Constant(input), nil).Value.Clone()
	for _, b := range m.ViT.Blocks {
		b.Adapter = nil
	}
	without := m.ViT.Embed(tp, autodiff.Constant(input), nil).Value
	if !equal(with.Data(), without.Data()) {
		t.Error("new adapters changed the embedding")
	}
	for l, a := range m.Adapters {
		m.ViT.Blocks[l].Adapter = a
	}
	tp.SetNoGrad(false)
	tp.Reset()
	loss, _ := m.Forward(tp, autodiff.Constant(input), []int{0, 1}, 0)
	tp.Backward(loss)
	for _, p := range m.Trainable() {
		if p.Var.Grad() == nil {
			t.Errorf("no gradient for %s", p.Name)
		}
	}
}

// The released code's initialisation against semprox's: heads with LayerNorm eps 1e-5 and a
// zero bias, class prompts xavier-normal over the whole (C, m, D) tensor (a deviation
// sqrt(2 / ((m + C) D)) instead of sqrt(2 / ((m + 1) D))), and a class memory of unit rows.
func TestReleasedInitialisation(t *testing.T) {
	const classes = 100
	method, _ := ParseMethod("vptsp-g")
	for _, init := range []string{InitReleased, InitSemprox} {
		preset := tinyPreset()
		preset.Semantics.Init = init
		m := newModel(t, tinyViT(t), method, preset.ModelConfig, classes, rand.New(rand.NewPCG(4, 4)))
		m2 := preset.Class.Count
		want, eps, zeroBias := math.Sqrt(2/float64((m2+1)*64)), float32(1e-6), false
		if init == InitReleased {
			want, eps, zeroBias = math.Sqrt(2/float64((m2+classes)*64)), 1e-5, true
		}
		sum := 0.0
		for _, v := range m.Bank.Tables[0].Data() {
			sum += float64(v) * float64(v)
		}
		if std := math.Sqrt(sum / float64(m.Bank.Tables[0].Len())); math.Abs(std/want-1) > 0.05 {
			t.Errorf("%s: class prompt deviation %.4g, want %.4g", init, std, want)
		}
		for _, h := range []*nn.Head{m.Head, m.ProxyHead} {
			if h.Norm.Eps != eps {
				t.Errorf("%s: head LayerNorm eps %v, want %v", init, h.Norm.Eps, eps)
			}
			if allZero := !slices.ContainsFunc(h.Proj.Bias.Value.Data(), func(v float32) bool { return v != 0 }); allZero != zeroBias {
				t.Errorf("%s: head bias all zero: %v", init, allZero)
			}
		}
		for c := range classes {
			n := 0.0
			for _, v := range m.Memory.P.Row(c).Data() {
				n += float64(v) * float64(v)
			}
			if math.Abs(n-1) > 1e-5 {
				t.Fatalf("%s: memory row %d has squared norm %v", init, c, n)
			}
		}
	}
}
