package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/nn/vision"
)

// settings is everything a run is made of; config.json holds it, and -resume reads it back.
type settings struct {
	Dataset     string         `json:"dataset"`
	Data        string         `json:"data"`
	Weights     string         `json:"weights"` // "" for the embedded backbone
	Heads       int            `json:"heads"`   // attention heads of -weights (0: width/64)
	Preset      string         `json:"preset"`
	Method      string         `json:"method"`
	Epochs      int            `json:"epochs"`
	Batch       int            `json:"batch"`
	K           int            `json:"k"`
	Optimizer   string         `json:"optimizer"`
	LR          float64        `json:"lr"`
	LRProxy     float64        `json:"lr_proxy"`
	WeightDecay float64        `json:"weight_decay"`
	CosineTMax  int            `json:"cosine_t_max"`
	CosineMin   float64        `json:"cosine_eta_min"`
	Warmup      int            `json:"warmup_epochs"`
	Clip        float64        `json:"clip_norm"`
	Alpha       float64        `json:"alpha"`
	EmbedDim    int            `json:"embed_dim"`
	Prompts     dml.PromptSpec `json:"prompts"`
	Class       dml.PromptSpec `json:"class_prompts"`
	// Semantics are the choices between the released code, the paper's text and semprox's own;
	// inline, so that config.json keeps the names positives_over_all_proxies and
	// class_prompts_after_dataset_prompts of the runs written before the others existed (whose
	// missing fields are semprox's behaviour, what those runs trained with).
	dml.Semantics
	// AdapterBlocks and AdapterBlocksBitFit are how many of the last blocks get an adapter with
	// adapter and with adapter+bitfit (0: all of them, as runs written before they existed).
	AdapterBlocks       int             `json:"adapter_blocks"`
	AdapterBlocksBitFit int             `json:"adapter_blocks_bitfit"`
	Mean                vision.Channels `json:"mean"`
	Std                 vision.Channels `json:"std"`
	Interp              string          `json:"interpolation"`
	MaxPixels           int             `json:"max_pixels,omitempty"` // larger images are skipped as unreadable (0: vision.DefaultMaxPixels)
	Seed                uint64          `json:"seed"`
	Threads             int             `json:"threads"`
	Workers             int             `json:"workers"`
	EvalEvery           int             `json:"eval_every"`
	StepLimit           int             `json:"step_limit"` // at most this many steps per epoch (0: an epoch is images / batch)
	Embeddings          bool            `json:"save_embeddings"`
	Out                 string          `json:"out"`
}

// options are the command line: the settings and what only steers this invocation.
type options struct {
	settings
	resume  string
	compare string // methods to train one after the other
	dryRun  bool
	check   bool
	set     map[string]bool // flags given explicitly
}

// defaultPreset is the preset of the no-flag run, whose values -h shows as defaults.
const defaultPreset = "mnist_micro"

// bindPreset registers the flags whose defaults a preset gives.
func bindPreset(fs *flag.FlagSet, s *settings) {
	fs.IntVar(&s.Epochs, "epochs", s.Epochs, "training epochs")
	fs.IntVar(&s.Batch, "batch", s.Batch, "images per batch")
	fs.IntVar(&s.K, "k", s.K, "images per class in a batch (batch/k classes per batch)")
	fs.StringVar(&s.Optimizer, "optimizer", s.Optimizer, "sgd (momentum 0.9) or adamw")
	fs.Float64Var(&s.LR, "lr", s.LR, "learning rate of everything but the proxy bias")
	fs.Float64Var(&s.LRProxy, "lr-proxy", s.LRProxy, "learning rate of the proxy bias O (the proxies of proxy-anchor and linear)")
	fs.Float64Var(&s.WeightDecay, "wd", s.WeightDecay, "weight decay")
	fs.IntVar(&s.CosineTMax, "cosine-t", s.CosineTMax, "cosine annealing period T_max in epochs")
	fs.Float64Var(&s.CosineMin, "cosine-min", s.CosineMin, "cosine annealing floor eta_min")
	fs.Float64Var(&s.Alpha, "alpha", s.Alpha, "share of the proxy bias in the proxies: Q = L2((1-alpha) P + alpha O)")
	fs.IntVar(&s.EmbedDim, "embed-dim", s.EmbedDim, "embedding width E of the heads")
	fs.IntVar(&s.Prompts.Count, "prompts", s.Prompts.Count, "dataset prompts N per block (VPT-deep)")
	fs.IntVar(&s.Prompts.Depth, "prompt-depth", s.Prompts.Depth, "blocks that get dataset prompts")
	fs.IntVar(&s.Prompts.Tau, "prompt-tau", s.Prompts.Tau, "block l gets max(N - tau*l, 0) dataset prompts")
	fs.IntVar(&s.Class.Count, "class-prompts", s.Class.Count, "class prompts m per block")
	fs.IntVar(&s.Class.Depth, "class-depth", s.Class.Depth, "blocks that get class prompts")
	fs.IntVar(&s.Class.Tau, "class-tau", s.Class.Tau, "block l gets max(m - tau*l, 0) class prompts")
	fs.StringVar(&s.Method, "method", s.Method, "linear, bitfit, adapter, vpt, vptsp-m, vptsp-g (+bitfit for adapter, vpt, vptsp-*), full, proxy-anchor")
	fs.Var(adapterBlocks{&s.AdapterBlocks, &s.AdapterBlocksBitFit}, "adapter-blocks", "the last `N` blocks get an adapter, with adapter and adapter+bitfit alike (0: every block; the paper's presets: 7, and 1 with BitFit)")
	fs.StringVar(&s.Interp, "interp", s.Interp, "resize interpolation: bicubic (the paper's text) or bilinear (the released code)")
	fs.BoolVar(&s.PositivesOverAll, "pa-all", s.PositivesOverAll, "divide Proxy-Anchor's positive term by all proxies (the released code; -pa-all=false: by the proxies with positives, |P+|, as the loss defines it)")
	fs.BoolVar(&s.ClassAfterDataset, "class-after-dataset", s.ClassAfterDataset, "put class prompts after the dataset prompts (the paper's text) instead of in their place (the released code)")
	fs.StringVar((*string)(&s.ClassPromptState), "class-prompt-state", string(s.ClassPromptState), "how the optimizer steps the class prompts: per-row (only the batch's rows, each with its own state), dense (every row every step, the released code without its bank) or bank (the batch's rows, bias correction by the global step: the released code's bank)")
	fs.StringVar(&s.GRUMix, "gru-mix", s.GRUMix, "GRU output: released, h' = (1-z) n + z h, or paper, h' = (1-z) h + z n")
	fs.Float64Var(&s.GRUDropout, "gru-dropout", s.GRUDropout, "dropout rate on each new GRU state, the dropped state kept in the class memory (the released code's rnn_dropout)")
	fs.StringVar(&s.Init, "init", s.Init, "initialisation: released (xavier-uniform heads with LayerNorm eps 1e-5, class prompts over the whole bank, memory xavier-uniform) or semprox (PyTorch's default Linear, eps 1e-6, class prompts per class, memory random unit vectors)")
}

// adapterBlocks is the -adapter-blocks flag: it sets the block count of adapter and of
// adapter+bitfit, which a preset gives separately.
type adapterBlocks struct{ plain, bitfit *int }

func (a adapterBlocks) String() string {
	switch {
	case a.plain == nil:
		return "0"
	case *a.plain == *a.bitfit:
		return strconv.Itoa(*a.plain)
	}
	return fmt.Sprintf("%d, %d with BitFit", *a.plain, *a.bitfit)
}

func (a adapterBlocks) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxBlocks {
		return fmt.Errorf("want a block count from 0 (every block) to %d", maxBlocks)
	}
	*a.plain, *a.bitfit = n, n
	return nil
}

// namedSemantics returns sem with its empty choices named: the zero value's per-row class
// prompt state, paper GRU mix and semprox initialisation.
func namedSemantics(sem dml.Semantics) dml.Semantics {
	sem.ClassPromptState = cmp.Or(sem.ClassPromptState, dml.PromptsPerRow)
	sem.GRUMix = cmp.Or(sem.GRUMix, dml.MixPaper)
	sem.Init = cmp.Or(sem.Init, dml.InitSemprox)
	return sem
}

// semanticsLine says which of the choices between the released code, the paper's text and
// semprox's own the run makes.
func (s settings) semanticsLine() string {
	sem := namedSemantics(s.Semantics)
	method, _ := dml.ParseMethod(s.Method)
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
		positives, place, sem.ClassPromptState, sem.GRUMix, sem.GRUDropout, sem.Init, s.Interp, bitfit)
	if method.Adapters() {
		switch blocks := s.modelPreset().AdaptersFor(method); blocks {
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

// bindOthers registers the flags no preset sets.
func bindOthers(fs *flag.FlagSet, o *options) {
	s := &o.settings
	fs.StringVar(&s.Dataset, "dataset", "mnist", "dataset: "+strings.Join(data.Names(), ", "))
	fs.StringVar(&s.Data, "data", "", "the dataset's directory in the layout its authors distribute (not needed for mnist)")
	fs.StringVar(&s.Weights, "weights", "", "timm or DINO ViT checkpoint (.safetensors, .pth, pytorch_model.bin); default: the embedded Fashion-MNIST backbone")
	fs.IntVar(&s.Heads, "heads", 0, "attention heads of the -weights model (default: width/64)")
	fs.StringVar(&s.Preset, "preset", "", "preset of the defaults marked (preset) ("+strings.Join(presetNames(), ", ")+"); default: the dataset's")
	fs.IntVar(&s.Warmup, "warmup", 0, "epochs of linear learning-rate warm-up")
	fs.Float64Var(&s.Clip, "clip", 0, "clip the global gradient norm to this (0: no clipping)")
	s.Mean, s.Std = vision.Channels{0.5, 0.5, 0.5}, vision.Channels{0.5, 0.5, 0.5}
	fs.Var(&s.Mean, "mean", "per-channel normalisation mean of -weights (ImageNet's is 0.485,0.456,0.406; the embedded backbone's is its own)")
	fs.Var(&s.Std, "std", "per-channel normalisation standard deviation of -weights (ImageNet's is 0.229,0.224,0.225)")
	fs.IntVar(&s.MaxPixels, "max-pixels", vision.DefaultMaxPixels, "skip, as unreadable, images whose header declares more pixels than this (image bombs)")
	fs.Uint64Var(&s.Seed, "seed", 0, "seed of the initialisation, the batches and the augmentation")
	fs.IntVar(&s.Threads, "threads", 0, "compute threads (0: one per core); the same seed and threads give the same run bit for bit")
	fs.IntVar(&s.Workers, "workers", 0, "image decoding goroutines (0: one per core)")
	fs.IntVar(&s.EvalEvery, "eval-every", 1, "evaluate every this many epochs (and after the last)")
	fs.IntVar(&s.StepLimit, "steps", 0, "at most this many steps per epoch (0: training images / batch)")
	fs.BoolVar(&s.Embeddings, "save-embeddings", false, "write the test embeddings of the best model as test_embeddings.npy and test_labels.npy")
	fs.StringVar(&s.Out, "out", "", "run directory (default: runs/<dataset>-<method>-<time>)")
	fs.StringVar(&o.compare, "compare", "", "train each of these comma-separated methods with the same settings, each into its own directory under -out, and write a table of results ("+resultsFile+")")
	fs.StringVar(&o.resume, "resume", "", "continue the run in this directory from its last checkpoint")
	fs.BoolVar(&o.dryRun, "dry-run", false, "read the dataset and build the model, print what would run, and exit")
	fs.BoolVar(&o.check, "check", false, "with -dry-run, decode every image and report the unreadable ones")
}

// applyPreset returns s with the values of preset p, except the flags set explicitly.
func applyPreset(s settings, p dml.Preset, set map[string]bool) (settings, error) {
	from := s
	s.Preset = p.Name
	s.Epochs, s.Batch, s.K, s.Optimizer = p.Epochs, p.Batch, p.K, p.Optimizer
	s.LR, s.LRProxy, s.WeightDecay = p.LR, p.LRProxy, p.WeightDecay
	s.CosineTMax, s.CosineMin, s.Alpha, s.EmbedDim = p.CosineTMax, p.CosineMin, p.Alpha, p.EmbedDim
	s.Prompts, s.Class = p.Prompts, p.Class
	s.Method, s.Interp, s.Semantics = p.Method, p.Interp, namedSemantics(p.Semantics)
	s.AdapterBlocks, s.AdapterBlocksBitFit = p.AdapterBlocks, p.AdapterBlocksBitFit
	fs := flag.NewFlagSet("preset", flag.ContinueOnError)
	bindPreset(fs, &s)
	src := flag.NewFlagSet("given", flag.ContinueOnError)
	bindPreset(src, &from)
	var err error
	src.VisitAll(func(f *flag.Flag) {
		if set[f.Name] && err == nil {
			err = fs.Set(f.Name, f.Value.String())
		}
	})
	return s, err
}

// parseOptions reads the command line. The preset is resolved later, once the backbone's
// width is known (see resolvePreset).
func parseOptions(args []string) (options, error) {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	var o options
	o.settings = presetSettings(dml.Presets[defaultPreset])
	bindPreset(fs, &o.settings)
	fs.VisitAll(func(f *flag.Flag) { f.Usage += " (preset)" })
	bindOthers(fs, &o)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: train [flags]\n\nTrains image-retrieval embeddings with VPTSP on a frozen ViT. With no flags it trains on MNIST\ndigits 0-4 with the embedded backbone and evaluates on the unseen digits 5-9.\nFlags marked (preset) default to the preset's values; -h shows those of %s.\n\n", defaultPreset)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (flags start with -)", fs.Arg(0))
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if o.compare != "" && (o.resume != "" || o.set["method"]) {
		return o, fmt.Errorf("-compare cannot be given with -resume or -method")
	}
	if o.resume != "" {
		for name := range o.set {
			if name != "resume" && name != "threads" && name != "workers" {
				return o, fmt.Errorf("-%s cannot be given with -resume: the run's settings are in %s", name, filepath.Join(o.resume, configFile))
			}
		}
	}
	return o, nil
}

// presetSettings returns the settings a preset gives, the others at their zero value.
func presetSettings(p dml.Preset) settings {
	s, _ := applyPreset(settings{}, p, nil)
	return s
}

// resolvePreset picks the preset (the -preset flag, else the dataset's, ViT-B's "basic" one for
// a 768-wide backbone) and applies it under the explicit flags.
func resolvePreset(o options, width int) (settings, error) {
	name := o.Preset
	if name == "" {
		name = datasetPreset(o.Dataset, width)
	}
	p, err := dml.PresetNamed(name)
	if err != nil {
		return settings{}, err
	}
	return applyPreset(o.settings, p, o.set)
}

// datasetPreset is the preset a dataset trains with by default.
func datasetPreset(dataset string, width int) string {
	size := "small"
	if width >= 768 {
		size = "basic"
	}
	switch strings.ToLower(dataset) {
	case "cub", "cub200", "cub-200-2011":
		return "cub200_" + size
	case "cars", "cars196":
		return "cars_" + size
	case "sop":
		return "sop_" + size
	case "inshop", "in-shop":
		return "inshop_" + size
	}
	if width >= 384 {
		return "cub200_" + size
	}
	return defaultPreset
}

// presetNames lists the presets, the default first.
func presetNames() []string {
	var names []string
	for n := range dml.Presets {
		if n != defaultPreset {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return append([]string{defaultPreset}, names...)
}

// validate checks the settings that the libraries would otherwise reject less clearly.
func (s settings) validate() error {
	if err := s.checkFinite(); err != nil {
		return err
	}
	switch {
	case s.Epochs < 1:
		return fmt.Errorf("-epochs %d: want at least 1", s.Epochs)
	case s.Batch < 1 || s.K < 1 || s.Batch%s.K != 0:
		return fmt.Errorf("-batch %d, -k %d: the batch must be a positive multiple of k", s.Batch, s.K)
	case s.LR <= 0 || s.LRProxy <= 0:
		return fmt.Errorf("-lr %g, -lr-proxy %g: learning rates must be positive", s.LR, s.LRProxy)
	case s.WeightDecay < 0:
		return fmt.Errorf("-wd %g: want at least 0", s.WeightDecay)
	case s.CosineMin < 0:
		return fmt.Errorf("-cosine-min %g: want at least 0", s.CosineMin)
	case s.Alpha < 0 || s.Alpha > 1:
		return fmt.Errorf("-alpha %g: want a value in [0, 1]", s.Alpha)
	case s.EmbedDim < 1 || s.EmbedDim > maxEmbedDim:
		return fmt.Errorf("-embed-dim %d: want 1 to %d", s.EmbedDim, maxEmbedDim)
	case s.CosineTMax < 1:
		return fmt.Errorf("-cosine-t %d: want at least 1", s.CosineTMax)
	case s.Prompts.Count < 0 || s.Prompts.Depth < 0 || s.Prompts.Tau < 0 || s.Class.Count < 0 || s.Class.Depth < 0 || s.Class.Tau < 0:
		return errors.New("prompt counts, depths and tau must not be negative")
	case s.Prompts.Count > maxPromptCount || s.Class.Count > maxPromptCount:
		return fmt.Errorf("-prompts %d, -class-prompts %d: want at most %d per block", s.Prompts.Count, s.Class.Count, maxPromptCount)
	case s.MaxPixels < 0:
		return fmt.Errorf("-max-pixels %d: want a pixel count (0: the default, %d)", s.MaxPixels, vision.DefaultMaxPixels)
	case s.EvalEvery < 1 || s.StepLimit < 0 || s.Warmup < 0 || s.Clip < 0:
		return fmt.Errorf("-eval-every %d, -steps %d, -warmup %d, -clip %g: out of range", s.EvalEvery, s.StepLimit, s.Warmup, s.Clip)
	}
	if _, err := dml.ParseMethod(s.Method); err != nil {
		return fmt.Errorf("-method: %w", err)
	}
	if _, err := vision.ParseInterpolation(s.Interp); err != nil {
		return fmt.Errorf("-interp: %w", err)
	}
	if err := s.checkSemantics(); err != nil {
		return err
	}
	if err := s.Mean.Fraction("-mean"); err != nil {
		return err
	}
	return s.Std.Positive("-std")
}

// checkSemantics refuses a semantics choice that has no meaning, naming its flag.
func (s settings) checkSemantics() error {
	for _, f := range []struct {
		flag string
		sem  dml.Semantics
	}{
		{"-class-prompt-state", dml.Semantics{ClassPromptState: s.ClassPromptState}},
		{"-gru-mix", dml.Semantics{GRUMix: s.GRUMix}},
		{"-gru-dropout", dml.Semantics{GRUDropout: s.GRUDropout}},
		{"-init", dml.Semantics{Init: s.Init}},
	} {
		if err := f.sem.Check(); err != nil {
			return fmt.Errorf("%s: %s", f.flag, strings.TrimPrefix(err.Error(), "dml: "))
		}
	}
	if s.AdapterBlocks < 0 || s.AdapterBlocksBitFit < 0 {
		return fmt.Errorf("-adapter-blocks %d, %d with BitFit: want at least 0", s.AdapterBlocks, s.AdapterBlocksBitFit)
	}
	return s.Semantics.Check()
}

// configFile is the settings of a run, in its directory.
const configFile = "config.json"

// readConfig reads the config.json of a run directory.
func readConfig(dir string) (runConfig, error) {
	var c runConfig
	if err := readJSON(filepath.Join(dir, configFile), &c); err != nil {
		return c, fmt.Errorf("-resume: %w", err)
	}
	c.Settings.Out = dir
	return c, nil
}
