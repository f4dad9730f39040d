package dml

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/dml/report"
)

// The paper's backbones, by their timm names with the pretrained tag.
const (
	PaperViTS = "vit_small_patch16_224.augreg_in21k" // ViT-S/16 on ImageNet-21k (AugReg): the _small presets
	PaperViTB = "vit_base_patch16_224.augreg_in21k"  // ViT-B/16 on ImageNet-21k (AugReg): the _basic presets
	paperDINO = "vit_small_patch16_224.dino"
	paperDeiT = "deit_small_patch16_224.fb_in1k"
)

// PaperResult is one published result of the paper for a dataset, method and backbone.
type PaperResult struct {
	Table    string          // where it is published: "Table 1", "Table 2", "Table 8"
	Method   string          // the paper's name of the method, "VPTSP-G (B)" for VPTSP-G with BitFit
	Backbone string          // the backbone's timm name
	Recall   map[int]float64 // Recall@K in percent, by K
	MAPAtR   float64         // MAP@R in percent; 0 when the paper does not give it
}

// paperKey finds a result: dataset is a data.Kind name, method a Method's String.
type paperKey struct{ dataset, method, backbone string }

// paperResults holds the paper's Table 1 (CUB, ViT-S/16: R@1 and MAP@R of every method), Table 2
// (R@1 and the next two Ks of the literature per dataset, with the released code's MAP@R), and
// Table 8 (VPTSP-G's R@1 on DINO and DeiT backbones). The paper's VPTSP-G rows train BitFit.
var paperResults = map[paperKey]PaperResult{}

func init() {
	table1 := []struct {
		method, name string
		r1, mapr     float64
	}{
		{"proxy-anchor", "full fine-tuning (PA)", 85.5, 51.1},
		{"linear", "linear probe", 84.9, 48.1},
		{"bitfit", "BitFit", 85.7, 51.3},
		{"adapter", "Adapter", 83.1, 46.4},
		{"adapter+bitfit", "Adapter (B)", 85.8, 49.7},
		{"vpt", "VPT", 85.1, 51.2},
		{"vpt+bitfit", "VPT (B)", 85.7, 51.6},
		{"vptsp-m", "VPTSP-M", 85.4, 51.4},
		{"vptsp-m+bitfit", "VPTSP-M (B)", 85.9, 51.8},
		{"vptsp-g", "VPTSP-G", 86.1, 52.1},
		{"vptsp-g+bitfit", "VPTSP-G (B)", 86.6, 52.7},
	}
	for _, r := range table1 {
		addPaper("cub", r.method, PaperViTS, PaperResult{Table: "Table 1", Method: r.name, MAPAtR: r.mapr, Recall: map[int]float64{1: r.r1}})
	}
	// Table 2: R@1/2/4 (CUB, Cars), R@1/10/100 (SOP), R@1/10/20 (In-Shop).
	ks := map[string][3]int{"cub": {1, 2, 4}, "cars": {1, 2, 4}, "sop": {1, 10, 100}, "inshop": {1, 10, 20}}
	table2 := []struct {
		method, name, backbone, dataset string
		recall                          [3]float64
		mapr                            float64
	}{
		{"vptsp-g+bitfit", "VPTSP-G (B)", PaperViTS, "cub", [3]float64{86.6, 91.7, 94.8}, 52.7},
		{"vptsp-g+bitfit", "VPTSP-G (B)", PaperViTS, "cars", [3]float64{87.7, 93.3, 96.1}, 28.9},
		{"vptsp-g+bitfit", "VPTSP-G (B)", PaperViTS, "sop", [3]float64{84.4, 93.6, 97.3}, 50.1},
		{"vptsp-g+bitfit", "VPTSP-G (B)", PaperViTS, "inshop", [3]float64{91.2, 97.6, 98.4}, 0},
		{"vptsp-g+bitfit", "VPTSP-G (B)", PaperViTB, "cub", [3]float64{88.5, 92.8, 95.1}, 57.0},
		{"vptsp-g+bitfit", "VPTSP-G (B)", PaperViTB, "cars", [3]float64{91.2, 95.1, 97.3}, 35.0},
		{"vptsp-g+bitfit", "VPTSP-G (B)", PaperViTB, "sop", [3]float64{86.8, 95.0, 98.0}, 53.8},
		{"vptsp-g+bitfit", "VPTSP-G (B)", PaperViTB, "inshop", [3]float64{92.5, 98.2, 98.9}, 0},
		{"vptsp-m", "VPTSP-M", PaperViTS, "cub", [3]float64{85.4, 91.2, 94.6}, 51.4},
		{"vptsp-m", "VPTSP-M", PaperViTS, "cars", [3]float64{86.8, 92.0, 95.5}, 0},
		{"vptsp-m", "VPTSP-M", PaperViTS, "sop", [3]float64{82.8, 93.1, 97.3}, 0},
		{"vptsp-m", "VPTSP-M", PaperViTS, "inshop", [3]float64{90.8, 97.7, 98.6}, 0},
		{"vpt", "VPT", PaperViTS, "cub", [3]float64{85.1, 91.1, 94.0}, 51.2},
		{"vpt", "VPT", PaperViTS, "cars", [3]float64{86.3, 91.8, 95.5}, 0},
		{"vpt", "VPT", PaperViTS, "sop", [3]float64{82.1, 92.5, 97.1}, 0},
		{"vpt", "VPT", PaperViTS, "inshop", [3]float64{88.4, 97.5, 98.4}, 0},
	}
	for _, r := range table2 {
		res := PaperResult{Table: "Table 2", Method: r.name, MAPAtR: r.mapr, Recall: map[int]float64{}}
		for i, k := range ks[r.dataset] {
			res.Recall[k] = r.recall[i]
		}
		addPaper(r.dataset, r.method, r.backbone, res)
	}
	table8 := map[string][4]float64{paperDINO: {82.1, 86.9, 82.6, 90.1}, paperDeiT: {80.2, 84.5, 81.2, 88.7}}
	for backbone, r1 := range table8 {
		for i, dataset := range []string{"cub", "cars", "sop", "inshop"} {
			addPaper(dataset, "vptsp-g+bitfit", backbone, PaperResult{Table: "Table 8", Method: "VPTSP-G (B)", Recall: map[int]float64{1: r1[i]}})
		}
	}
}

// addPaper files r, merging the Ks of a result already filed under the same key (Table 1's
// R@1 and MAP@R with Table 2's R@2 and R@4: the Table 2 row names the table).
func addPaper(dataset, method, backbone string, r PaperResult) {
	key := paperKey{dataset, method, backbone}
	r.Backbone = backbone
	if old, ok := paperResults[key]; ok {
		for k, v := range old.Recall {
			if _, dup := r.Recall[k]; !dup {
				r.Recall[k] = v
			}
		}
		r.MAPAtR = max(r.MAPAtR, old.MAPAtR)
		r.Table = old.Table + " and " + r.Table
	}
	paperResults[key] = r
}

// PaperResultFor returns the paper's result for dataset (a data.Kind name), method (as
// ParseMethod reads it) and backbone (a timm model name, or hf-hub:timm/NAME[@REVISION]), and
// false when the paper publishes none.
func PaperResultFor(dataset, method, backbone string) (PaperResult, bool) {
	r, ok := paperResults[paperKey{dataset, method, timmName(backbone)}]
	return r, ok
}

// timmName is the timm model name of a -weights value naming one of timm's repositories on the
// hub (hf-hub:timm/NAME@REVISION, timm/NAME or NAME); anything else comes back as it is.
func timmName(weights string) string {
	name := strings.TrimPrefix(strings.TrimPrefix(weights, "hf-hub:"), "timm/")
	if name != weights {
		name, _, _ = strings.Cut(name, "@")
	}
	return name
}

// PaperBackbone is the backbone the paper trains preset with (PaperViTS for the _small presets,
// PaperViTB for the _basic ones), "" for a preset of semprox's own.
func PaperBackbone(preset string) string {
	switch {
	case strings.HasSuffix(preset, "_small"):
		return PaperViTS
	case strings.HasSuffix(preset, "_basic"):
		return PaperViTB
	}
	return ""
}

// DefaultWeights is the backbone a run on dataset with preset (a name; "" for the dataset's
// own) gets when it names none: for a dataset of the paper (one with a preset family), the
// paper's backbone of the preset, ViT-S/16 unless the preset is a _basic one, as a hub model
// name; else "", the embedded backbone.
func DefaultWeights(dataset, preset string) string {
	k, err := data.Lookup(dataset)
	if err != nil || k.PresetFamily == "" {
		return ""
	}
	if preset == "" {
		return PaperViTS
	}
	return PaperBackbone(preset)
}

// PaperFor is the paper's result a run of s compares with: that of the run's own backbone where
// the paper gives one, else that of the preset's backbone (a local copy of the paper's weights is
// named by its path); false when the paper has none for the dataset and method.
func PaperFor(s RunConfig) (PaperResult, bool) {
	if r, ok := PaperResultFor(s.Dataset, s.Method, s.Weights); ok {
		return r, true
	}
	return PaperResultFor(s.Dataset, s.Method, PaperBackbone(s.Name))
}

// writePaperComparison writes the paper's result beside the run's best epoch by R@1, in
// percent, with the differences:
//
//	paper, Table 2: VPTSP-G (B) on vit_small_patch16_224.augreg_in21k, cub200_small preset (15 epochs)
//	          R@1    R@2    R@4  MAP@R
//	paper   86.60  91.70  94.80  52.70
//	run     85.91  91.44  94.63  51.02
//	diff    -0.69  -0.26  -0.17  -1.68
func writePaperComparison(w io.Writer, p PaperResult, s RunConfig, epochs []report.EpochRecord) {
	best, ok := report.BestEpoch(epochs, 1)
	if !ok {
		return
	}
	preset := Presets[s.Name]
	fmt.Fprintf(w, "paper, %s: %s on %s, %s preset (%d epochs)\n", p.Table, p.Method, p.Backbone, s.Name, preset.Epochs)
	if timmName(s.Weights) != p.Backbone {
		fmt.Fprintf(w, "  this run's backbone is %s, not the paper's\n", cmp.Or(s.Weights, "the embedded one"))
	}
	if s.Epochs != preset.Epochs || s.StepLimit > 0 {
		line := fmt.Sprintf("  this run trains %d epochs", s.Epochs)
		if s.StepLimit > 0 {
			line += fmt.Sprintf(" of at most %d steps", s.StepLimit)
		}
		fmt.Fprintln(w, line+", not the preset's whole length")
	}
	ks := slices.Sorted(maps.Keys(p.Recall))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head, paper, run, diff := []string{""}, []string{"paper"}, []string{"run"}, []string{"diff"}
	add := func(name string, published, measured float64) {
		head, paper, run = append(head, name), append(paper, pct(published)), append(run, pct(measured))
		diff = append(diff, fmt.Sprintf("%+.2f", measured-published))
	}
	for _, k := range ks {
		add("R@"+strconv.Itoa(k), p.Recall[k], 100*best.Eval.RecallAt(k))
	}
	if p.MAPAtR > 0 {
		add("MAP@R", p.MAPAtR, 100*best.Eval.MAPAtR)
	}
	for _, row := range [][]string{head, paper, run, diff} {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintf(w, "run: epoch %d, the best by R@1\n", best.Epoch)
}

func pct(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", x)
}
