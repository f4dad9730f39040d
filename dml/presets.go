package dml

import (
	"fmt"
	"sort"
	"strings"
)

// Semantics are the choices where the paper's released code, the paper's text and semprox's
// own defaults differ. The zero value is semprox's own behaviour; the paper's presets follow the
// released code (see Released).
type Semantics struct {
	// PositivesOverAll divides Proxy-Anchor's positive term by all C proxies (the released
	// code) instead of by the proxies with a positive in the batch (the loss's definition).
	PositivesOverAll bool `json:"positives_over_all_proxies"`
	// ClassAfterDataset puts the class prompts after the dataset prompts (the paper's text)
	// instead of in their place (the released code).
	ClassAfterDataset bool `json:"class_prompts_after_dataset_prompts"`
	// ClassPromptState is how the optimizer steps the class prompts (see PromptState).
	ClassPromptState PromptState `json:"class_prompt_state,omitempty"`
	// GRUMix is the GRU cell's output blend: "released" (h' = (1-z) n + z h) or "" / "paper"
	// (h' = (1-z) h + z n).
	GRUMix string `json:"gru_mix,omitempty"`
	// GRUDropout is the dropout rate on every new GRU state; the dropped state is what the
	// class memory keeps (the released code's rnn_dropout).
	GRUDropout float64 `json:"gru_dropout,omitempty"`
	// Init is "released" (the released code's initialisation: heads xavier-uniform with a zero
	// bias and LayerNorm eps 1e-5, class prompts xavier-normal over the whole (C, m, D) tensor,
	// the class memory xavier-uniform then L2) or "" / "semprox" (PyTorch's default Linear init,
	// eps 1e-6, class prompts xavier-normal per class, the memory random unit vectors).
	Init string `json:"init,omitempty"`
}

// GRU mixes and initialisations by name.
const (
	MixReleased  = "released"
	MixPaper     = "paper"
	InitReleased = "released"
	InitSemprox  = "semprox"
)

// Released returns the released code's semantics with the class prompts' optimizer state and
// the GRU dropout of a configuration.
func Released(state PromptState, gruDropout float64) Semantics {
	return Semantics{PositivesOverAll: true, ClassPromptState: state, GRUMix: MixReleased, GRUDropout: gruDropout, Init: InitReleased}
}

// Check reports a semantics field that has no meaning.
func (s Semantics) Check() error {
	switch {
	case !s.ClassPromptState.valid():
		return fmt.Errorf("dml: class prompt state %q: want %s", s.ClassPromptState, strings.Join(promptStates, ", "))
	case s.GRUMix != "" && s.GRUMix != MixReleased && s.GRUMix != MixPaper:
		return fmt.Errorf("dml: GRU mix %q: want %s or %s", s.GRUMix, MixReleased, MixPaper)
	case !(s.GRUDropout >= 0 && s.GRUDropout < 1):
		return fmt.Errorf("dml: GRU dropout %v: want a rate in [0, 1)", s.GRUDropout)
	case s.Init != "" && s.Init != InitReleased && s.Init != InitSemprox:
		return fmt.Errorf("dml: initialisation %q: want %s or %s", s.Init, InitReleased, InitSemprox)
	}
	return nil
}

// AdapterWidth is the bottleneck width of the adapter method's adapters.
const AdapterWidth = 256

// PromptSpec is a prompt schedule: block l < Depth gets max(Count - Tau*l, 0) prompts.
type PromptSpec struct {
	Count, Depth, Tau int
}

// At returns the number of prompts of block l.
func (p PromptSpec) At(l int) int {
	if l >= p.Depth {
		return 0
	}
	return max(p.Count-p.Tau*l, 0)
}

// Total is the number of prompt tokens over all blocks.
func (p PromptSpec) Total() int {
	n := 0
	for l := range p.Depth {
		n += p.At(l)
	}
	return n
}

// Presets are the released configurations (ViT-S/16 "small" with E = 384, ViT-B/16 "basic"
// with E = 512) and the embedded default, mnist_micro. The released ones train
// vptsp-g+bitfit with the released code's semantics, bilinear resizing and the paper's adapter
// placements (7 blocks, 1 with BitFit); mnist_micro keeps semprox's own.
var Presets = map[string]Preset{
	"cub200_small": {Backbone: "vit_small_patch16_224",
		ModelConfig: ModelConfig{EmbedDim: 384, Prompts: PromptSpec{10, 12, 0}, Class: PromptSpec{3, 12, 0}, Alpha: 0.5}, BatchShape: BatchShape{Batch: 64, K: 2},
		TrainConfig: TrainConfig{Epochs: 15, Optimizer: "sgd", LR: 5e-3, LRProxy: 0.1, WeightDecay: 1e-6, CosineTMax: 50, CosineMin: 1e-8}},
	"cars_small": {Backbone: "vit_small_patch16_224",
		ModelConfig: ModelConfig{EmbedDim: 384, Prompts: PromptSpec{80, 11, 2}, Class: PromptSpec{50, 8, 2}, Alpha: 0.7}, BatchShape: BatchShape{Batch: 64, K: 2},
		TrainConfig: TrainConfig{Epochs: 50, Optimizer: "adamw", LR: 5e-4, LRProxy: 0.01, WeightDecay: 0, CosineTMax: 50, CosineMin: 1e-6}},
	"sop_small": {Backbone: "vit_small_patch16_224",
		ModelConfig: ModelConfig{EmbedDim: 384, Prompts: PromptSpec{90, 12, 0}, Class: PromptSpec{5, 12, 0}, Alpha: 0.2}, BatchShape: BatchShape{Batch: 32, K: 1},
		TrainConfig: TrainConfig{Epochs: 120, Optimizer: "adamw", LR: 1e-4, LRProxy: 0.05, WeightDecay: 1e-4, CosineTMax: 120, CosineMin: 5e-5}},
	"inshop_small": {Backbone: "vit_small_patch16_224",
		ModelConfig: ModelConfig{EmbedDim: 384, Prompts: PromptSpec{90, 12, 0}, Class: PromptSpec{80, 12, 0}, Alpha: 0.2}, BatchShape: BatchShape{Batch: 32, K: 1},
		TrainConfig: TrainConfig{Epochs: 80, Optimizer: "adamw", LR: 1e-4, LRProxy: 0.05, WeightDecay: 1e-7, CosineTMax: 100, CosineMin: 5e-6}},
	"cub200_basic": {Backbone: "vit_base_patch16_224",
		ModelConfig: ModelConfig{EmbedDim: 512, Prompts: PromptSpec{20, 12, 0}, Class: PromptSpec{5, 4, 5}, Alpha: 0.4}, BatchShape: BatchShape{Batch: 64, K: 2},
		TrainConfig: TrainConfig{Epochs: 60, Optimizer: "sgd", LR: 1e-3, LRProxy: 0.01, WeightDecay: 1e-6, CosineTMax: 100, CosineMin: 1e-7}},
	"cars_basic": {Backbone: "vit_base_patch16_224",
		ModelConfig: ModelConfig{EmbedDim: 512, Prompts: PromptSpec{80, 10, 2}, Class: PromptSpec{50, 8, 2}, Alpha: 0.1}, BatchShape: BatchShape{Batch: 64, K: 2},
		TrainConfig: TrainConfig{Epochs: 60, Optimizer: "adamw", LR: 5e-4, LRProxy: 0.01, WeightDecay: 0, CosineTMax: 50, CosineMin: 1e-6}},
	"sop_basic": {Backbone: "vit_base_patch16_224",
		ModelConfig: ModelConfig{EmbedDim: 512, Prompts: PromptSpec{90, 12, 5}, Class: PromptSpec{5, 8, 0}, Alpha: 0.2}, BatchShape: BatchShape{Batch: 32, K: 1},
		TrainConfig: TrainConfig{Epochs: 120, Optimizer: "adamw", LR: 1e-4, LRProxy: 0.05, WeightDecay: 1e-4, CosineTMax: 120, CosineMin: 1e-7}},
	"inshop_basic": {Backbone: "vit_base_patch16_224",
		ModelConfig: ModelConfig{EmbedDim: 512, Prompts: PromptSpec{90, 12, 0}, Class: PromptSpec{60, 12, 0}, Alpha: 0.3}, BatchShape: BatchShape{Batch: 32, K: 1},
		TrainConfig: TrainConfig{Epochs: 75, Optimizer: "adamw", LR: 1e-4, LRProxy: 0.05, WeightDecay: 0, CosineTMax: 100, CosineMin: 1e-6}},
	// mnist_micro is the embedded default: the Fashion-MNIST-pretrained micro ViT on MNIST
	// digits 0-4, evaluated on 5-9, in a few minutes on two cores.
	"mnist_micro": {Backbone: "vit_micro_patch4_28",
		ModelConfig: ModelConfig{EmbedDim: 128, Prompts: PromptSpec{5, 6, 0}, Class: PromptSpec{2, 6, 0}, Alpha: 0.5}, BatchShape: BatchShape{Batch: 60, K: 12},
		TrainConfig: TrainConfig{Epochs: 4, Optimizer: "adamw", LR: 1e-3, LRProxy: 1e-2, WeightDecay: 1e-4, CosineTMax: 4, CosineMin: 1e-6}},
}

// releasedGRUDropout is the rnn_dropout of the released configs that set one.
var releasedGRUDropout = map[string]float64{"sop_small": 0.1, "inshop_small": 0.1, "sop_basic": 0.5}

func init() {
	for name, p := range Presets {
		p.Name = name
		if name == "mnist_micro" {
			p.Method, p.Interp = "vptsp-g", "bicubic"
		} else {
			state := PromptsDense
			if strings.HasPrefix(name, "sop_") || strings.HasPrefix(name, "inshop_") {
				state = PromptsBank // the released code's memory bank for thousands of classes
			}
			p.Method, p.Interp, p.Semantics = "vptsp-g+bitfit", "bilinear", Released(state, releasedGRUDropout[name])
			p.AdapterBlocks, p.AdapterBlocksBitFit = 7, 1
		}
		Presets[name] = p
	}
}

// PresetNamed returns the preset called name, or an error listing the known ones.
func PresetNamed(name string) (Preset, error) {
	if p, ok := Presets[name]; ok {
		return p, nil
	}
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return Preset{}, fmt.Errorf("dml: unknown preset %q (known: %s)", name, strings.Join(names, ", "))
}
