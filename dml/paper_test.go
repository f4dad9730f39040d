package dml

import (
	"strings"
	"testing"

	"github.com/semprox/semprox/dml/report"
)

func TestPaperResultFor(t *testing.T) {
	r, ok := PaperResultFor("cub", "vptsp-g+bitfit", "hf-hub:timm/"+PaperViTS)
	if !ok {
		t.Fatal("no paper result for VPTSP-G (B) on CUB with ViT-S")
	}
	want := map[int]float64{1: 86.6, 2: 91.7, 4: 94.8}
	for k, v := range want {
		if r.Recall[k] != v {
			t.Errorf("R@%d = %v, want %v", k, r.Recall[k], v)
		}
	}
	if r.MAPAtR != 52.7 || r.Table != "Table 1 and Table 2" || r.Method != "VPTSP-G (B)" {
		t.Errorf("got %+v", r)
	}
	cases := []struct {
		dataset, method, backbone string
		k                         int
		recall, mapr              float64
	}{
		{"cub", "linear", PaperViTS, 1, 84.9, 48.1},
		{"cub", "vptsp-m", PaperViTS, 4, 94.6, 51.4},
		{"cars", "vptsp-g+bitfit", PaperViTB, 4, 97.3, 35.0},
		{"sop", "vptsp-g+bitfit", PaperViTS, 100, 97.3, 50.1},
		{"inshop", "vpt", PaperViTS, 20, 98.4, 0},
		{"sop", "vptsp-g+bitfit", "vit_small_patch16_224.dino", 1, 82.6, 0},
	}
	for _, c := range cases {
		r, ok := PaperResultFor(c.dataset, c.method, c.backbone)
		if !ok || r.Recall[c.k] != c.recall || r.MAPAtR != c.mapr {
			t.Errorf("%s %s %s: got %+v, %v; want R@%d %v, MAP@R %v", c.dataset, c.method, c.backbone, r, ok, c.k, c.recall, c.mapr)
		}
	}
	for _, c := range [][3]string{{"mnist", "vptsp-g", PaperViTS}, {"cars", "linear", PaperViTS}, {"cub", "vptsp-g+bitfit", "vit_tiny_patch16_224.augreg_in21k"}} {
		if r, ok := PaperResultFor(c[0], c[1], c[2]); ok {
			t.Errorf("%v: the paper has no such row, got %+v", c, r)
		}
	}
}

func TestPaperComparison(t *testing.T) {
	s := NewRunConfig("cub", Presets["cub200_small"])
	s.Weights = "/data/vit_small.safetensors" // a local copy: compared with the preset's backbone
	p, ok := PaperFor(s)
	if !ok || p.Backbone != PaperViTS {
		t.Fatalf("PaperFor: %+v, %v", p, ok)
	}
	epochs := []report.EpochRecord{
		{Epoch: 1, Eval: &report.Retrieval{Ks: []int{1, 2, 4, 8}, Recall: []float64{0.80, 0.88, 0.92, 0.95}, MAPAtR: 0.45}},
		{Epoch: 2, Eval: &report.Retrieval{Ks: []int{1, 2, 4, 8}, Recall: []float64{0.8591, 0.9144, 0.9463, 0.97}, MAPAtR: 0.5102}},
		{Epoch: 3},
	}
	var b strings.Builder
	writePaperComparison(&b, p, s, epochs)
	out := b.String()
	for _, want := range []string{
		"paper, Table 1 and Table 2: VPTSP-G (B) on vit_small_patch16_224.augreg_in21k, cub200_small preset (15 epochs)",
		"this run's backbone is /data/vit_small.safetensors, not the paper's",
		"paper  86.60  91.70  94.80  52.70",
		"run  85.91  91.44  94.63  51.02",
		"diff  -0.69  -0.26  -0.17  -1.68",
		"run: epoch 2, the best by R@1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "whole length") {
		t.Errorf("a run of the preset's length is called shorter:\n%s", out)
	}
	s.Weights, s.Epochs = "hf-hub:timm/"+PaperViTS+"@0123abcd", 3
	b.Reset()
	writePaperComparison(&b, p, s, epochs)
	if out := b.String(); strings.Contains(out, "not the paper's") || !strings.Contains(out, "this run trains 3 epochs, not the preset's whole length") {
		t.Errorf("paper backbone, 3 epochs:\n%s", out)
	}
	b.Reset()
	writePaperComparison(&b, p, s, epochs[2:])
	if b.Len() != 0 {
		t.Errorf("no evaluated epoch, yet:\n%s", b.String())
	}
}
