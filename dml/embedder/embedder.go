package embedder

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/pretrained"
	"github.com/semprox/semprox/nn/vision"
	"github.com/semprox/semprox/tensor"
)

// Options says which model embeds the images and how they are preprocessed. Its zero value is
// not usable: Register sets the defaults.
type Options struct {
	Weights   string // a checkpoint file or a hub model (see pretrained.Resolve)
	Run       string // or a cmd/train run directory, or one of its checkpoint files
	Arch      string // ViT configuration of Weights; "": inferred from its tensors
	Heads     int    // attention heads when inferring; 0: width/64
	Resize    int
	Crop      int
	Interp    vision.Interpolation
	Mean, Std vision.Channels
	MaxPixels int
	Precision string // fp32, bf16 or auto (kernels.ChoosePrecision)
	// Set names the options given explicitly (as flags): the defaults of a hub model or of a
	// trained run replace the others.
	Set map[string]bool
}

// Register adds the options' flags to fs, with their defaults: -weights, -run, -arch, -heads,
// -mean, -std, -resize, -max-pixels, -crop, -interp and -precision.
func (o *Options) Register(fs *flag.FlagSet) {
	fs.StringVar(&o.Weights, "weights", "", "timm/DINO ViT checkpoint (.safetensors, .pth or pytorch_model.bin) or Google's AugReg .npz, or a timm model name on the Hugging Face hub (vit_small_patch16_224.augreg_in21k, hf-hub:ORG/NAME): downloaded into the hub's cache, its pretrained configuration giving the defaults of -mean, -std, -crop, -resize and -interp")
	fs.StringVar(&o.Run, "run", "", "instead of -weights, a model trained by cmd/train: its run directory (its best checkpoint) or one of its checkpoint files; its evaluation preprocessing gives the defaults of -mean, -std, -crop, -resize and -interp")
	fs.StringVar(&o.Arch, "arch", "", "ViT configuration (vit_tiny_patch16_224, vit_small_patch16_224, vit_base_patch16_224); default: inferred from the checkpoint")
	fs.IntVar(&o.Heads, "heads", 0, "attention heads when inferring the architecture (default: width/64)")
	o.Mean, o.Std = vision.Channels{0.5, 0.5, 0.5}, vision.Channels{0.5, 0.5, 0.5}
	fs.Var(&o.Mean, "mean", "per-channel mean of the normalisation, each in [0, 1] (ImageNet's is 0.485,0.456,0.406)")
	fs.Var(&o.Std, "std", "per-channel standard deviation, each positive (ImageNet's is 0.229,0.224,0.225)")
	fs.IntVar(&o.Resize, "resize", 256, "resize the shorter side to this many pixels (at least -crop; a square of this side must fit -max-pixels)")
	fs.IntVar(&o.MaxPixels, "max-pixels", vision.DefaultMaxPixels, "refuse images whose header declares more pixels than this, or that a resize would make larger (image bombs)")
	fs.IntVar(&o.Crop, "crop", 224, "center crop of this size (the model's input size)")
	fs.Func("interp", "resize interpolation: bicubic or bilinear (default bicubic)", func(s string) (err error) {
		o.Interp, err = vision.ParseInterpolation(s)
		return err
	})
	fs.StringVar(&o.Precision, "precision", kernels.AutoPrecision, "what the weights and attention multiply in: fp32, bf16 (8-bit mantissas, float32 sums; AVX512_BF16), or auto: bf16 where the CPU has AVX512_BF16")
}

// Parsed records which of fs's flags were given, after fs.Parse.
func (o *Options) Parsed(fs *flag.FlagSet) {
	o.Set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.Set[f.Name] = true })
}

// checkSource validates the options that say which model to load: what Load checks before it
// reads the model and applies a hub model's or a run's defaults.
func (o Options) checkSource() error {
	switch {
	case o.Weights == "" && o.Run == "":
		return errors.New("-weights or -run is required")
	case o.Weights != "" && o.Run != "":
		return errors.New("give -weights or -run, not both")
	case o.Run != "" && (o.Arch != "" || o.Heads != 0):
		return errors.New("-arch and -heads are for -weights: a -run records its backbone")
	case o.Heads < 0:
		return fmt.Errorf("-heads %d: want 0 (width/64) or more", o.Heads)
	}
	if _, _, err := kernels.ChoosePrecision(o.Precision); err != nil {
		return fmt.Errorf("-precision: %w", err)
	}
	return nil
}

// Check validates every option as given, with no model or file read.
func (o Options) Check() error {
	if err := o.checkSource(); err != nil {
		return err
	}
	switch {
	case o.Crop < 1 || o.Crop > o.Resize:
		return fmt.Errorf("-crop %d, -resize %d: want 1 <= crop <= resize", o.Crop, o.Resize)
	case o.MaxPixels < 1:
		return fmt.Errorf("-max-pixels %d: want at least 1", o.MaxPixels)
	case o.Resize > o.MaxPixels/o.Resize:
		return fmt.Errorf("-resize %d: a square of that side is over the limit of %d pixels (-max-pixels)", o.Resize, o.MaxPixels)
	}
	if err := o.Mean.Fraction("-mean"); err != nil {
		return err
	}
	return o.Std.Positive("-std")
}

// Embedder is a loaded model with its preprocessing.
type Embedder struct {
	// Options are the options as resolved: a hub model's or a run's defaults in place of the
	// options not given, Weights the file read, Precision the one chosen (never auto).
	Options    Options
	Preprocess vision.Preprocess // what each image gets: Preprocess.ApplyFile or ApplyBytes
	Precision  kernels.Precision // what the frozen weights multiply in
	ViT        *nn.ViT
	// Description says what was loaded, for a log line.
	Description string
	embed       dml.EmbedFunc
}

// Load reads the model o names, applies its defaults to the options not given, checks them
// (Check) and against the model, and packs its weights for inference: every weight matrix of a
// checkpoint in -precision; the frozen ones of a trained run in its own precision, as its
// evaluation packed them (see dml.LoadTrained), or in -precision when it is given. Notices (a hub download's progress, ignored classifier tensors, a precision
// warning) go to log. It sets vision.MaxPixels to o.MaxPixels.
func Load(ctx context.Context, o Options, log io.Writer) (*Embedder, error) {
	if err := o.checkSource(); err != nil {
		return nil, err
	}
	var e *Embedder
	var err error
	if o.Run != "" {
		e, err = loadRun(ctx, o, log)
	} else {
		e, err = loadWeights(ctx, o, log)
	}
	if err != nil {
		return nil, err
	}
	if err := e.Options.Check(); err != nil {
		return nil, err
	}
	if e.ViT.ImageSize != e.Options.Crop {
		return nil, fmt.Errorf("-crop %d does not match the model's input size %d", e.Options.Crop, e.ViT.ImageSize)
	}
	vision.MaxPixels = e.Options.MaxPixels
	oo := e.Options
	e.Preprocess = vision.Preprocess{Resize: oo.Resize, Crop: oo.Crop, Interp: oo.Interp, Mean: oo.Mean, Std: oo.Std}
	return e, nil
}

// loadWeights reads a ViT checkpoint or hub model in the -arch geometry, or the one its tensors
// imply with -heads.
func loadWeights(ctx context.Context, o Options, log io.Writer) (*Embedder, error) {
	w, err := pretrained.Resolve(ctx, o.Weights, log)
	if err != nil {
		return nil, err
	}
	o = o.withHub(w)
	var lo nn.LoadOptions
	if o.Arch != "" {
		c, err := nn.ConfigNamed(o.Arch)
		if err != nil {
			return nil, err
		}
		lo.Config = &c
	} else {
		lo.Heads = o.Heads
	}
	vit, ck, err := nn.LoadViT(o.Weights, lo)
	if errors.Is(err, nn.ErrHeads) {
		return nil, fmt.Errorf("-heads %d does not divide the width of %s (%w)", o.Heads, o.Weights, err)
	}
	if err != nil {
		return nil, err
	}
	precision := choosePrecision(o.Precision, log)
	o.Precision = precision.String()
	vit.PackAll(precision)
	desc := fmt.Sprintf("%s: ViT D=%d depth=%d heads=%d patch=%d", w, vit.Dim, vit.Depth, vit.Heads, vit.PatchSize)
	if len(ck.Ignored) > 0 {
		desc += fmt.Sprintf(", %d classifier-head tensors ignored", len(ck.Ignored))
	}
	embed := func(tp *autodiff.Tape, images *autodiff.Var) *autodiff.Var { return vit.Embed(tp, images, nil) }
	return &Embedder{Options: o, ViT: vit, Precision: precision, Description: desc, embed: embed}, nil
}

// choosePrecision resolves -precision (already checked), with its notice on log.
func choosePrecision(s string, log io.Writer) kernels.Precision {
	precision, warning, _ := kernels.ChoosePrecision(s)
	if warning != "" {
		fmt.Fprintf(log, "notice: -precision %s: %s\n", precision, warning)
	}
	return precision
}

// withHub returns o with the weights' file and, for a model of the Hugging Face hub, the
// preprocessing of timm's pretrained configuration (mean, std, input size, interpolation and the
// resize of crop_pct) in place of the options not given.
func (o Options) withHub(w pretrained.Weights) Options {
	o.Weights = w.Path
	if w.Hub == nil {
		return o
	}
	pc := w.Hub.Config
	tr := o.preprocess()
	if mean, std, ok := w.Normalization(); ok {
		tr.Mean, tr.Std = mean, std
	}
	if interp, err := vision.ParseInterpolation(pc.Interpolation); err == nil {
		tr.Interp = interp
	}
	tr.Crop = cmp.Or(pc.InputSize[1], tr.Crop)
	if pc.CropPct > 0 {
		crop := tr.Crop
		if o.Set["crop"] {
			crop = o.Crop
		}
		tr.Resize = int(math.Floor(float64(crop) / pc.CropPct))
	}
	return o.withDefaults(tr)
}

// loadRun reads a model trained by cmd/train, with its evaluation preprocessing as the
// defaults.
func loadRun(ctx context.Context, o Options, log io.Writer) (*Embedder, error) {
	tr, err := dml.LoadTrained(ctx, o.Run, log)
	if err != nil {
		return nil, err
	}
	o = o.withDefaults(tr.Preprocess)
	vit := tr.Model.ViT
	precision := tr.Precision
	if o.Set["precision"] {
		precision = choosePrecision(o.Precision, log)
		vit.PackFrozen(precision)
	}
	o.Precision = precision.String()
	desc := fmt.Sprintf("%s (epoch %d): %s on %s, ViT D=%d depth=%d heads=%d patch=%d",
		tr.Checkpoint, tr.Epoch, tr.Config.Method, tr.Config.Dataset, vit.Dim, vit.Depth, vit.Heads, vit.PatchSize)
	return &Embedder{Options: o, ViT: vit, Precision: precision, Description: desc, embed: tr.Model.Embed}, nil
}

// preprocess is the preprocessing the options give.
func (o Options) preprocess() vision.Preprocess {
	return vision.Preprocess{Resize: o.Resize, Crop: o.Crop, Interp: o.Interp, Mean: o.Mean, Std: o.Std}
}

// withDefaults returns o with tr's preprocessing in place of the options not given.
func (o Options) withDefaults(tr vision.Preprocess) Options {
	if !o.Set["resize"] {
		o.Resize = tr.Resize
	}
	if !o.Set["crop"] {
		o.Crop = tr.Crop
	}
	if !o.Set["interp"] {
		o.Interp = tr.Interp
	}
	if !o.Set["mean"] {
		o.Mean = tr.Mean
	}
	if !o.Set["std"] {
		o.Std = tr.Std
	}
	return o
}

// Forward is the model's embedding of images [B, 3, Crop, Crop] on tp: [B, D], a dml.EmbedFunc.
// Each row depends on its image alone, not on the others of the batch or its size.
func (e *Embedder) Forward(tp *autodiff.Tape, images *autodiff.Var) *autodiff.Var {
	return e.embed(tp, images)
}

// Embed returns the embeddings of a batch of preprocessed images [B, 3, Crop, Crop]: [B, D].
func (e *Embedder) Embed(images *tensor.Tensor) *tensor.Tensor {
	tp := autodiff.NewTape()
	tp.SetNoGrad(true)
	return e.embed(tp, autodiff.Constant(images)).Value
}

// CheckName refuses a name that one line of a names file cannot hold unambiguously: one that is
// not valid UTF-8, or holds a control character (a newline, a carriage return, a tab...) or a
// Unicode line or paragraph separator.
func CheckName(name string) error {
	bad := func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }
	if !utf8.ValidString(name) || strings.ContainsFunc(name, bad) {
		return errors.New("a name that is not valid UTF-8 or holds a control character (such as a newline) or a line separator cannot be one line of the names file")
	}
	return nil
}
