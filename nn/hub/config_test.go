package hub

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte(vitConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := ReadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	want := PretrainedConfig{Architecture: "vit_small_patch16_224", Tag: "augreg_in21k", InputSize: [3]int{3, 224, 224},
		Interpolation: "bicubic", CropPct: 0.9, CropMode: "center", Mean: [3]float64{0.5, 0.5, 0.5}, Std: [3]float64{0.5, 0.5, 0.5}, NumClasses: 21843}
	if cfg != want {
		t.Errorf("config %+v, want %+v", cfg, want)
	}
	if _, err := ReadConfig(filepath.Join(dir, "none.json")); err == nil || !strings.Contains(err.Error(), "none.json") {
		t.Errorf("missing file: error %v", err)
	}
}

func TestParseConfigMissingFields(t *testing.T) {
	for in, want := range map[string]PretrainedConfig{
		`{}`: {},
		`{"architecture": "vit_tiny", "num_classes": 10}`:                         {Architecture: "vit_tiny", NumClasses: 10},
		`{"architecture": null, "pretrained_cfg": null}`:                          {},
		`{"num_classes": 5, "pretrained_cfg": {"num_classes": 0, "crop_pct": 1}}`: {NumClasses: 0, CropPct: 1},
		`{"pretrained_cfg": {"mean": [0.485, 0.456, 0.406], "input_size": null}}`: {Mean: [3]float64{0.485, 0.456, 0.406}},
		`{"architectures": ["ViTModel"], "image_size": 224, "model_type": "vit"}`: {}, // a transformers config
	} {
		got, err := parseConfig("config.json", []byte(in))
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", in, got, err, want)
		}
	}
}

func TestParseConfigWrongTypes(t *testing.T) {
	for in, field := range map[string]string{
		`[]`:                     "not a JSON object",
		`{"architecture": 3}`:    "architecture",
		`{"num_classes": "ten"}`: "num_classes",
		`{"num_classes": 1.5}`:   "num_classes",
		`{"pretrained_cfg": []}`: "pretrained_cfg",
		`{"pretrained_cfg": {"crop_pct": "0.9"}}`:             "pretrained_cfg.crop_pct",
		`{"pretrained_cfg": {"mean": [0.5, 0.5]}}`:            "pretrained_cfg.mean",
		`{"pretrained_cfg": {"std": 0.5}}`:                    "pretrained_cfg.std",
		`{"pretrained_cfg": {"input_size": [3, 224]}}`:        "pretrained_cfg.input_size",
		`{"pretrained_cfg": {"input_size": [3, 224.5, 224]}}`: "pretrained_cfg.input_size",
		`{"pretrained_cfg": {"interpolation": true}}`:         "pretrained_cfg.interpolation",
	} {
		_, err := parseConfig("/cache/config.json", []byte(in))
		if err == nil || !strings.Contains(err.Error(), "/cache/config.json") || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: error %v, want one naming the file and %s", in, err, field)
		}
	}
}
