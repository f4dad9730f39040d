package dml

import "github.com/semprox/semprox/nn"

// ModelConfig is the model part of a configuration: the method, the heads' width, the prompt
// schedules, the proxy mix, the adapter placement and the semantics. The JSON names are those
// of config.json.
type ModelConfig struct {
	Method   string     `json:"method"`    // a method name ParseMethod reads, such as "vptsp-g+bitfit"
	EmbedDim int        `json:"embed_dim"` // E, the width of the heads' output
	Prompts  PromptSpec `json:"prompts"`   // dataset prompts (VPT-deep)
	Class    PromptSpec `json:"class_prompts"`
	Alpha    float64    `json:"alpha"` // the proxy bias's share in Q = L2((1-alpha) P + alpha O)
	// AdapterBlocks is how many of the last blocks get an adapter with the adapter method, and
	// AdapterBlocksBitFit with adapter+bitfit (0: all of them).
	AdapterBlocks       int `json:"adapter_blocks"`
	AdapterBlocksBitFit int `json:"adapter_blocks_bitfit"`
	// Semantics are inline, so that config.json keeps the names positives_over_all_proxies and
	// class_prompts_after_dataset_prompts of the runs written before the others existed.
	Semantics
}

// AdaptersFor returns how many of the last blocks get an adapter when the configuration trains
// method (0: all of them).
func (c ModelConfig) AdaptersFor(method Method) int {
	if method.BitFit {
		return c.AdapterBlocksBitFit
	}
	return c.AdapterBlocks
}

// TrainConfig is the optimisation of a training run.
type TrainConfig struct {
	Epochs       int     `json:"epochs"`
	Optimizer    string  `json:"optimizer"` // "sgd" (momentum 0.9) or "adamw"
	LR           float64 `json:"lr"`        // everything but the proxy bias O
	LRProxy      float64 `json:"lr_proxy"`  // the proxy bias O
	WeightDecay  float64 `json:"weight_decay"`
	CosineTMax   int     `json:"cosine_t_max"`   // cosine annealing period in epochs
	CosineMin    float64 `json:"cosine_eta_min"` // cosine annealing floor
	WarmupEpochs int     `json:"warmup_epochs"`  // linear warm-up of the rate over the first epochs (0: none)
	ClipNorm     float64 `json:"clip_norm"`      // clip the global gradient norm to this (0: no clipping)
	StepLimit    int     `json:"step_limit"`     // at most this many steps per epoch (0: the sampler's)
}

// Schedule is the configuration's learning-rate schedule, warmed up epoch by epoch.
func (c TrainConfig) Schedule() Schedule {
	return Schedule{Cosine: nn.Cosine{TMax: c.CosineTMax, EtaMin: c.CosineMin}, WarmupEpochs: c.WarmupEpochs}
}

// BatchShape is the composition of a training batch: Batch images, K of each of Batch/K classes.
type BatchShape struct {
	Batch int `json:"batch"`
	K     int `json:"k"`
}

// Classes is the number of classes of a batch.
func (b BatchShape) Classes() int { return b.Batch / b.K }

// Preset is a whole training configuration under a name: the model part, the optimisation and
// the batch shape, with the resize interpolation of its images. The released VPTSP code has one
// per dataset and backbone (see Presets).
type Preset struct {
	Name     string `json:"preset"`
	Backbone string `json:"-"` // the nn configuration the preset was written for
	ModelConfig
	TrainConfig
	BatchShape
	Interp string `json:"interpolation"` // bilinear or bicubic
}
