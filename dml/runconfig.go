package dml

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn/vision"
)

// RunConfig is everything a training run is made of: the data, the backbone, the preset (model,
// optimisation, batch shape) and how the run executes. A run directory's config.json holds it
// under "settings", and a resumed run reads it back from there and from nowhere else. Errors
// about a field name it by the cmd/train flag that sets it.
type RunConfig struct {
	Dataset string `json:"dataset"` // a name of the data.Kinds table
	Data    string `json:"data"`    // its directory
	Weights string `json:"weights"` // a ViT checkpoint or hub model name (see LoadBackbone); "" or "embedded" for the embedded backbone
	Heads   int    `json:"heads"`   // attention heads of Weights (0: width/64)
	Preset
	Mean      vision.Channels `json:"mean"` // normalisation; zero: the backbone's own
	Std       vision.Channels `json:"std"`
	MaxPixels int             `json:"max_pixels,omitempty"` // larger images are skipped as unreadable (0: vision.DefaultMaxPixels)
	Seed      uint64          `json:"seed"`
	Threads   int             `json:"threads"` // compute threads (0: one per core)
	Workers   int             `json:"workers"` // image decoding goroutines (0: one per core)
	// Precision is what the frozen backbone weights, and the attention of the blocks whose qkv
	// weight is frozen, multiply in: "fp32", "bf16", or "auto" (and "") for bf16 where the CPU has
	// AVX512_BF16 (see kernels.ChoosePrecision). Weights that train stay float32. A session records the precision it chose, so a resumed run keeps it.
	Precision string `json:"precision,omitempty"`
	EvalEvery int    `json:"eval_every"`
	// Embeddings writes the test embeddings of the best model into the run directory.
	Embeddings bool   `json:"save_embeddings"`
	Out        string `json:"out"` // the run directory ("": runs/<dataset>-<method>-<time>)
}

// NewRunConfig returns the configuration of a run of preset p on dataset with the embedded
// backbone's defaults for everything else.
func NewRunConfig(dataset string, p Preset) RunConfig {
	p.Semantics = p.Semantics.Named()
	return RunConfig{Dataset: dataset, Preset: p, EvalEvery: 1}
}

// Bounds of the settings that size the model, far above any published configuration.
const (
	MaxPromptCount = 1024    // prompts or class prompts per block
	MaxEmbedDim    = 1 << 16 // the heads' width
	MaxBlocks      = 1024    // adapter blocks
)

// PresetFor is the preset a dataset trains with when none is named: the dataset's family
// (data.Kind.PresetFamily) in its ViT-S ("small") or, for a backbone 768 or more wide, ViT-B
// ("basic") configuration; a dataset without a family gets cub200's on a backbone 384 or more
// wide, and mnist_micro on a smaller one.
func PresetFor(dataset string, width int) string {
	size := "small"
	if width >= 768 {
		size = "basic"
	}
	if k, err := data.Lookup(dataset); err == nil && k.PresetFamily != "" {
		return k.PresetFamily + "_" + size
	}
	if width >= 384 {
		return "cub200_" + size
	}
	return DefaultPreset
}

// DefaultPreset is the preset of the embedded default run.
const DefaultPreset = "mnist_micro"

// Named returns s with its empty choices named: the zero value's per-row class prompt state,
// paper GRU mix and semprox initialisation.
func (s Semantics) Named() Semantics {
	s.ClassPromptState = cmp.Or(s.ClassPromptState, PromptsPerRow)
	s.GRUMix = cmp.Or(s.GRUMix, MixPaper)
	s.Init = cmp.Or(s.Init, InitSemprox)
	return s
}

// Validate checks the settings that the libraries would otherwise reject less clearly, naming
// the flag of the one at fault.
func (c RunConfig) Validate() error {
	if err := c.checkFinite(); err != nil {
		return err
	}
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("-epochs %d: want at least 1", c.Epochs)
	case c.Batch < 1 || c.K < 1 || c.Batch%c.K != 0:
		return fmt.Errorf("-batch %d, -k %d: the batch must be a positive multiple of k", c.Batch, c.K)
	case c.LR <= 0 || c.LRProxy <= 0:
		return fmt.Errorf("-lr %g, -lr-proxy %g: learning rates must be positive", c.LR, c.LRProxy)
	case c.WeightDecay < 0:
		return fmt.Errorf("-wd %g: want at least 0", c.WeightDecay)
	case c.CosineMin < 0:
		return fmt.Errorf("-cosine-min %g: want at least 0", c.CosineMin)
	case c.Alpha < 0 || c.Alpha > 1:
		return fmt.Errorf("-alpha %g: want a value in [0, 1]", c.Alpha)
	case c.EmbedDim < 1 || c.EmbedDim > MaxEmbedDim:
		return fmt.Errorf("-embed-dim %d: want 1 to %d", c.EmbedDim, MaxEmbedDim)
	case c.CosineTMax < 1:
		return fmt.Errorf("-cosine-t %d: want at least 1", c.CosineTMax)
	case c.Prompts.Count < 0 || c.Prompts.Depth < 0 || c.Prompts.Tau < 0 || c.Class.Count < 0 || c.Class.Depth < 0 || c.Class.Tau < 0:
		return errors.New("prompt counts, depths and tau must not be negative")
	case c.Prompts.Count > MaxPromptCount || c.Class.Count > MaxPromptCount:
		return fmt.Errorf("-prompts %d, -class-prompts %d: want at most %d per block", c.Prompts.Count, c.Class.Count, MaxPromptCount)
	case c.MaxPixels < 0:
		return fmt.Errorf("-max-pixels %d: want a pixel count (0: the default, %d)", c.MaxPixels, vision.DefaultMaxPixels)
	case c.EvalEvery < 1 || c.StepLimit < 0 || c.WarmupEpochs < 0 || c.ClipNorm < 0:
		return fmt.Errorf("-eval-every %d, -steps %d, -warmup %d, -clip %g: out of range", c.EvalEvery, c.StepLimit, c.WarmupEpochs, c.ClipNorm)
	}
	if _, err := ParseMethod(c.Method); err != nil {
		return fmt.Errorf("-method: %w", err)
	}
	if _, err := vision.ParseInterpolation(c.Interp); err != nil {
		return fmt.Errorf("-interp: %w", err)
	}
	if err := c.checkSemantics(); err != nil {
		return err
	}
	if err := c.checkMachine(); err != nil {
		return err
	}
	if _, _, err := kernels.ChoosePrecision(c.Precision); err != nil {
		return fmt.Errorf("-precision: %w", err)
	}
	if c.Mean != (vision.Channels{}) {
		if err := c.Mean.Fraction("-mean"); err != nil {
			return err
		}
	}
	if c.Std != (vision.Channels{}) {
		return c.Std.Positive("-std")
	}
	return nil
}

// checkFinite refuses a NaN or infinite value of a float setting, which no validation range
// would catch and which config.json could not hold.
func (c RunConfig) checkFinite() error {
	for _, f := range []struct {
		flag  string
		value float64
	}{{"-lr", c.LR}, {"-lr-proxy", c.LRProxy}, {"-wd", c.WeightDecay}, {"-cosine-min", c.CosineMin}, {"-alpha", c.Alpha}, {"-clip", c.ClipNorm}, {"-gru-dropout", c.GRUDropout}} {
		if math.IsNaN(f.value) || math.IsInf(f.value, 0) {
			return fmt.Errorf("%s %g: want a finite number", f.flag, f.value)
		}
	}
	return nil
}

// checkMachine refuses thread counts the machine cannot run, before any pool is started.
func (c RunConfig) checkMachine() error {
	if err := kernels.CheckThreads("-threads", c.Threads); err != nil {
		return err
	}
	return kernels.CheckThreads("-workers", c.Workers)
}

// checkSemantics refuses a semantics choice that has no meaning, naming its flag.
func (c RunConfig) checkSemantics() error {
	for _, f := range []struct {
		flag string
		sem  Semantics
	}{
		{"-class-prompt-state", Semantics{ClassPromptState: c.ClassPromptState}},
		{"-gru-mix", Semantics{GRUMix: c.GRUMix}},
		{"-gru-dropout", Semantics{GRUDropout: c.GRUDropout}},
		{"-init", Semantics{Init: c.Init}},
	} {
		if err := f.sem.Check(); err != nil {
			return fmt.Errorf("%s: %s", f.flag, strings.TrimPrefix(err.Error(), "dml: "))
		}
	}
	if c.AdapterBlocks < 0 || c.AdapterBlocksBitFit < 0 {
		return fmt.Errorf("-adapter-blocks %d, %d with BitFit: want at least 0", c.AdapterBlocks, c.AdapterBlocksBitFit)
	}
	return c.Semantics.Check()
}

// SemanticsLine says which of the choices between the released code, the paper's text and
// semprox's own the run makes.
func (c RunConfig) SemanticsLine() string {
	sem := c.Semantics.Named()
	method, _ := ParseMethod(c.Method)
	positives := "|P+| (the proxies with positives)"
	if sem.PositivesOverAll {
		positives = "all proxies"
	}
	place := "in place of the dataset prompts"
	if sem.ClassAfterDataset {
		place = "after the dataset prompts"
	}
	bitfit := "off"
	switch {
	case method.Name == "full":
		bitfit = "(every weight trains)"
	case method.BitFit || method.Name == "bitfit":
		bitfit = "on"
	}
	line := fmt.Sprintf("Proxy-Anchor positives over %s; class prompts %s, optimizer state %s; GRU mix %s, dropout %g; init %s; %s resizing; BitFit %s",
		positives, place, sem.ClassPromptState, sem.GRUMix, sem.GRUDropout, sem.Init, c.Interp, bitfit)
	if method.Adapters() {
		switch blocks := c.AdaptersFor(method); blocks {
		case 0:
			line += "; adapters in every block"
		case 1:
			line += "; adapters in the last block"
		default:
			line += fmt.Sprintf("; adapters in the last %d blocks", blocks)
		}
	}
	return line
}
