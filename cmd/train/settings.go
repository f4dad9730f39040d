package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn/vision"
)

// options are the command line: the settings and what only steers this invocation.
type options struct {
	dml.RunConfig
	resume   string
	compare  string // methods to train one after the other
	dryRun   bool
	download bool // fetch the dataset first
	check    bool
	set      map[string]bool // flags given explicitly
}

// bindPreset registers the flags whose defaults a preset gives.
func bindPreset(fs *flag.FlagSet, s *dml.RunConfig) {
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
	if err != nil || n < 0 || n > dml.MaxBlocks {
		return fmt.Errorf("want a block count from 0 (every block) to %d", dml.MaxBlocks)
	}
	*a.plain, *a.bitfit = n, n
	return nil
}

// bindOthers registers the flags no preset sets.
func bindOthers(fs *flag.FlagSet, o *options) {
	s := &o.RunConfig
	fs.StringVar(&s.Dataset, "dataset", "mnist", "dataset: "+strings.Join(data.Names(), ", "))
	fs.StringVar(&s.Data, "data", "", "the dataset's directory in the layout its authors distribute (not needed for mnist)")
	fs.StringVar(&s.Weights, "weights", "", "the backbone: a timm or DINO ViT checkpoint (.safetensors, .pth, pytorch_model.bin) or Google's AugReg .npz; a timm model name on the Hugging Face hub (vit_small_patch16_224.augreg_in21k) or hf-hub:ORG/NAME, downloaded into the hub's cache; or \""+dml.EmbeddedWeights+"\" (default: the paper's backbone of the preset for cub, cars, sop and inshop, else the embedded Fashion-MNIST ViT)")
	fs.BoolVar(&o.download, "download", false, "download the dataset when it is not there yet: CUB from its official archive into $XDG_CACHE_HOME/semprox/datasets (or into -data); for cars, sop and inshop it says where to get them")
	fs.IntVar(&s.Heads, "heads", 0, "attention heads of the -weights model (default: width/64)")
	fs.StringVar(&s.Name, "preset", "", "preset of the defaults marked (preset) ("+strings.Join(presetNames(), ", ")+"); default: the dataset's")
	fs.IntVar(&s.WarmupEpochs, "warmup", 0, "epochs of linear learning-rate warm-up")
	fs.Float64Var(&s.ClipNorm, "clip", 0, "clip the global gradient norm to this (0: no clipping)")
	fs.Var(&s.Mean, "mean", "per-channel normalisation mean (default: the embedded backbone's own, 0.5,0.5,0.5 for -weights; ImageNet's is 0.485,0.456,0.406)")
	fs.Var(&s.Std, "std", "per-channel normalisation standard deviation (default: the embedded backbone's own, 0.5,0.5,0.5 for -weights; ImageNet's is 0.229,0.224,0.225)")
	fs.IntVar(&s.MaxPixels, "max-pixels", vision.DefaultMaxPixels, "skip, as unreadable, images whose header declares more pixels than this (image bombs)")
	fs.Uint64Var(&s.Seed, "seed", 0, "seed of the initialisation, the batches and the augmentation")
	fs.IntVar(&s.Threads, "threads", 0, "compute threads (0: one per core); the same seed and threads give the same run bit for bit")
	fs.IntVar(&s.Workers, "workers", 0, "image decoding goroutines (0: one per core)")
	fs.StringVar(&s.Precision, "precision", kernels.AutoPrecision, "what the frozen backbone weights and its attention multiply in: fp32, bf16 (8-bit mantissas, float32 sums; AVX512_BF16), or auto: bf16 where the CPU has AVX512_BF16; weights that train stay fp32")
	fs.IntVar(&s.EvalEvery, "eval-every", 1, "evaluate every this many epochs (and after the last)")
	fs.IntVar(&s.StepLimit, "steps", 0, "at most this many steps per epoch (0: training images / batch)")
	fs.BoolVar(&s.Embeddings, "save-embeddings", false, "write the test embeddings of the best model as test_embeddings.npy and test_labels.npy")
	fs.StringVar(&s.Out, "out", "", "run directory (default: runs/<dataset>-<method>-<time>)")
	fs.StringVar(&o.compare, "compare", "", "train each of these comma-separated methods with the same settings, each into its own directory under -out, and write a table of results ("+resultsFile+")")
	fs.StringVar(&o.resume, "resume", "", "continue the run in this directory from its last checkpoint")
	fs.BoolVar(&o.dryRun, "dry-run", false, "read the dataset and build the model, print what would run, and exit")
	fs.BoolVar(&o.check, "check", false, "with -dry-run, decode every image and report the unreadable ones")
}

// defaultWeights is the backbone of a run without -weights (see dml.DefaultWeights).
func defaultWeights(o options) string {
	preset := ""
	if o.set["preset"] {
		preset = o.Name
	}
	return dml.DefaultWeights(o.Dataset, preset)
}

// applyPreset returns s with the values of preset p, except the flags set explicitly.
func applyPreset(s dml.RunConfig, p dml.Preset, set map[string]bool) (dml.RunConfig, error) {
	from := s
	warmup, clip, steps := s.WarmupEpochs, s.ClipNorm, s.StepLimit // flags no preset sets
	s.Preset = p
	s.Semantics = p.Semantics.Named()
	s.WarmupEpochs, s.ClipNorm, s.StepLimit = warmup, clip, steps
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
	o.RunConfig = dml.NewRunConfig("", dml.Presets[dml.DefaultPreset])
	bindPreset(fs, &o.RunConfig)
	fs.VisitAll(func(f *flag.Flag) { f.Usage += " (preset)" })
	bindOthers(fs, &o)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: train [flags]\n\nTrains image-retrieval embeddings with VPTSP on a frozen ViT. With no flags it trains on MNIST\ndigits 0-4 with the embedded backbone and evaluates on the unseen digits 5-9.\nFlags marked (preset) default to the preset's values; -h shows those of %s.\n\n", dml.DefaultPreset)
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
				return o, fmt.Errorf("-%s cannot be given with -resume: the run's settings are in %s", name, filepath.Join(o.resume, dml.ConfigFile))
			}
		}
	}
	return o, nil
}

// resolvePreset picks the preset (the -preset flag, else the dataset's, ViT-B's "basic" one for
// a 768-wide backbone) and applies it under the explicit flags.
func resolvePreset(o options, width int) (dml.RunConfig, error) {
	name := o.Name
	if !o.set["preset"] {
		name = dml.PresetFor(o.Dataset, width)
	}
	p, err := dml.PresetNamed(name)
	if err != nil {
		return dml.RunConfig{}, err
	}
	return applyPreset(o.RunConfig, p, o.set)
}

// presetNames lists the presets, the default first.
func presetNames() []string {
	var names []string
	for n := range dml.Presets {
		if n != dml.DefaultPreset {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return append([]string{dml.DefaultPreset}, names...)
}
