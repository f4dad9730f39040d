package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/internal/sysmem"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/weights"
	"github.com/semprox/semprox/tensor"
)

// fakeCUB writes a CUB-200-2011 directory of 200 classes with two empty image files each: enough
// for a dry run, which lists the images without decoding them.
func fakeCUB(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "images"), 0o755)
	var images, labels strings.Builder
	id := 1
	for c := 1; c <= 200; c++ {
		for i := range 2 {
			name := fmt.Sprintf("%03d-%d.jpg", c, i)
			if err := os.WriteFile(filepath.Join(dir, "images", name), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&images, "%d %s\n", id, name)
			fmt.Fprintf(&labels, "%d %d\n", id, c)
			id++
		}
	}
	os.WriteFile(filepath.Join(dir, "images.txt"), []byte(images.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "image_class_labels.txt"), []byte(labels.String()), 0o644)
	return dir
}

// vitSWeights writes a ViT-S/16 checkpoint of randomly initialised weights under timm's names.
func vitSWeights(t *testing.T) string {
	t.Helper()
	vit := nn.NewViT(nn.Configs["vit_small_patch16_224"])
	tensors := map[string]*tensor.Tensor{}
	for _, p := range vit.Parameters() {
		tensors[p.Name] = p.Var.Value
	}
	path := filepath.Join(t.TempDir(), "vit_s16.safetensors")
	if err := weights.Save(path, tensors, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

// dryRun runs the command with -dry-run and returns its output.
func dryRun(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(append(args, "-dry-run"), &out, &errOut, never); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
}

// lineOf returns the line of out that starts with prefix.
func lineOf(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// On ViT-S/16 and CUB's 100 training classes the paper's presets place the adapters as its
// Table 1 does (7 blocks, 1 with BitFit), -adapter-blocks moves them, and the start-up line
// counts the class prompts both stored and for the 32 classes of a step.
func TestPaperParameterCounts(t *testing.T) {
	if m := sysmem.Total(); m > 0 && m < 6<<30 {
		t.Skipf("a ViT-S/16 batch of 64 needs about 4 GB; the machine has %.1f GB", float64(m)/(1<<30))
	}
	cub, vitS := fakeCUB(t), vitSWeights(t)
	const (
		head, bias, prompts, gru, bitfit = 148608, 38400, 12 * 10 * 384, 885888, 51456
		adapter                          = 2*384*256 + 256 + 384 // down [256, 384] and up [384, 256] with their biases
		bank, step                       = 100 * 12 * 3 * 384, 32 * 12 * 3 * 384
	)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-method", "adapter"}, fmt.Sprintf("method adapter, preset cub200_small: %d trainable parameters stored, %[1]d per step of 32 classes (head %d, adapters %d, proxy_bias %d)",
			head+bias+7*adapter, head, 7*adapter, bias)},
		{[]string{"-method", "adapter+bitfit"}, fmt.Sprintf("method adapter+bitfit, preset cub200_small: %d trainable parameters stored, %[1]d per step of 32 classes (backbone %d, head %d, adapters %d, proxy_bias %d)",
			head+bias+adapter+bitfit, bitfit, head, adapter, bias)},
		{[]string{"-method", "adapter", "-adapter-blocks", "12"}, fmt.Sprintf("method adapter, preset cub200_small: %d trainable parameters stored", head+bias+12*adapter)},
		{[]string{"-method", "adapter+bitfit", "-adapter-blocks", "0"}, fmt.Sprintf("method adapter+bitfit, preset cub200_small: %d trainable parameters stored", head+bias+12*adapter+bitfit)},
		{nil, fmt.Sprintf("method vptsp-g+bitfit, preset cub200_small: %d trainable parameters stored, %d per step of 32 classes (backbone %d, head %d, prompts %d, proxy_head %d, gru %d, proxy_bias %d, class_prompts %d (per step %d))",
			2*head+bias+prompts+gru+bitfit+bank, 2*head+bias+prompts+gru+bitfit+step, bitfit, head, prompts, head, gru, bias, bank, step)},
		{[]string{"-method", "vptsp-m", "-batch", "32", "-k", "2"}, fmt.Sprintf("method vptsp-m, preset cub200_small: %d trainable parameters stored, %d per step of 16 classes",
			2*head+bias+prompts+bank, 2*head+bias+prompts+step/2)},
	} {
		out := dryRun(t, append([]string{"-dataset", "cub", "-data", cub, "-weights", vitS}, c.args...)...)
		if got := lineOf(out, "method "); !strings.HasPrefix(got, c.want) {
			t.Errorf("%v:\n got %s\nwant %s", c.args, got, c.want)
		}
	}
	out := dryRun(t, "-dataset", "cub", "-data", cub, "-weights", vitS, "-method", "adapter+bitfit")
	if !strings.HasSuffix(lineOf(out, "semantics: "), "; BitFit on; adapters in the last block") {
		t.Errorf("adapter+bitfit: %s", lineOf(out, "semantics: "))
	}
}

// The paper's presets train with the released code's semantics and print them; each flag
// overrides its part; the no-flag run keeps semprox's own.
func TestPresetSemantics(t *testing.T) {
	cub := fakeCUB(t)
	const released = "semantics: Proxy-Anchor positives over all proxies; class prompts in place of the dataset prompts, optimizer state "
	for _, c := range []struct {
		args   []string
		method string
		want   string
	}{
		{[]string{"-preset", "cub200_small"}, "vptsp-g+bitfit", released + "dense; GRU mix released, dropout 0; init released; bilinear resizing; BitFit on"},
		{[]string{"-preset", "sop_small"}, "vptsp-g+bitfit", released + "bank; GRU mix released, dropout 0.1; init released; bilinear resizing; BitFit on"},
		{[]string{"-preset", "sop_basic", "-method", "vptsp-m"}, "vptsp-m", released + "bank; GRU mix released, dropout 0.5; init released; bilinear resizing; BitFit off"},
		{[]string{"-preset", "sop_small", "-pa-all=false", "-class-after-dataset", "-class-prompt-state", "per-row", "-gru-mix", "paper", "-gru-dropout", "0.25", "-init", "semprox", "-interp", "bicubic", "-method", "vptsp-g"},
			"vptsp-g", "semantics: Proxy-Anchor positives over |P+| (the proxies with positives); class prompts after the dataset prompts, optimizer state per-row; GRU mix paper, dropout 0.25; init semprox; bicubic resizing; BitFit off"},
		{[]string{"-preset", "cub200_small", "-class-prompt-state", "bank", "-method", "full"}, "full", released + "bank; GRU mix released, dropout 0; init released; bilinear resizing; BitFit (every weight trains)"},
	} {
		out := dryRun(t, append([]string{"-dataset", "cub", "-data", cub, "-weights", "embedded"}, c.args...)...)
		if got := lineOf(out, "semantics: "); got != c.want {
			t.Errorf("%v:\n got %s\nwant %s", c.args, got, c.want)
		}
		if !strings.Contains(out, "method "+c.method+", preset ") {
			t.Errorf("%v: not method %s:\n%s", c.args, c.method, out)
		}
	}
	out := dryRun(t)
	want := "semantics: Proxy-Anchor positives over |P+| (the proxies with positives); class prompts in place of the dataset prompts, optimizer state per-row; GRU mix paper, dropout 0; init semprox; bicubic resizing; BitFit off"
	if got := lineOf(out, "semantics: "); got != want || !strings.Contains(out, "method vptsp-g, preset mnist_micro: 133184 trainable parameters stored, 133184 per step of 5 classes") {
		t.Errorf("the no-flag run:\n%s", out)
	}
	for _, bad := range [][]string{
		{"-class-prompt-state", "sparse"}, {"-gru-mix", "tanh"}, {"-gru-dropout", "1"}, {"-gru-dropout", "-0.1"}, {"-gru-dropout", "NaN"},
		{"-init", "kaiming"}, {"-interp", "nearest"}, {"-adapter-blocks", "-1"}, {"-adapter-blocks", "x"},
	} {
		err := run(append(bad, "-dry-run"), &bytes.Buffer{}, &bytes.Buffer{}, never)
		if err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: %v, want an error naming %s", bad, err, bad[0])
		}
	}
}

// config.json records the semantics, the adapter placements and both parameter counts; -resume
// trains on with them (a stopped and resumed run ends as the uninterrupted one), and they matter
// (a run differing only in the GRU dropout does not).
func TestSemanticsResume(t *testing.T) {
	dataDir := smallMNIST(t, 200, 60)
	small := []string{"-preset", "sop_small", "-prompts", "5", "-prompt-depth", "6", "-class-prompts", "2", "-class-depth", "6", "-embed-dim", "64", "-k", "10"}
	whole, _, _ := uninterrupted(t, func(out string) []string { return trainArgs(dataDir, out, small...) })
	raw, err := os.ReadFile(filepath.Join(whole, dml.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Settings   dml.RunConfig `json:"settings"`
		Parameters int           `json:"trainable_parameters"`
		PerStep    int           `json:"trainable_parameters_per_step"`
	}
	var keys struct {
		Settings map[string]any `json:"settings"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(raw, &keys)
	s := cfg.Settings
	if s.Semantics != dml.Released(dml.PromptsBank, 0.1) || s.Method != "vptsp-g+bitfit" || s.Interp != "bilinear" || s.AdapterBlocks != 7 || s.AdapterBlocksBitFit != 1 {
		t.Errorf("config.json settings: %+v", s)
	}
	for key, want := range map[string]any{"positives_over_all_proxies": true, "class_prompts_after_dataset_prompts": false, "class_prompt_state": "bank",
		"gru_mix": "released", "gru_dropout": 0.1, "init": "released", "interpolation": "bilinear", "method": "vptsp-g+bitfit", "adapter_blocks": 7.0, "adapter_blocks_bitfit": 1.0} {
		if got := keys.Settings[key]; got != want {
			t.Errorf("config.json: settings.%s = %v, want %v", key, got, want)
		}
	}
	if cfg.Parameters <= cfg.PerStep || cfg.PerStep == 0 || !bytes.Contains(raw, []byte(`"trainable_parameters_per_step"`)) {
		t.Errorf("config.json: %d trainable parameters, %d per step", cfg.Parameters, cfg.PerStep)
	}

	dir := filepath.Join(t.TempDir(), "parts")
	var out, errOut bytes.Buffer
	if err := run(trainArgs(dataDir, dir, small...), &out, &errOut, stopAfter(4)); !errors.Is(err, dml.ErrStopped) {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	ss, _, err := newSession(options{resume: dir, set: map[string]bool{"resume": true}}, &out, &errOut, never)
	if err != nil {
		t.Fatal(err)
	}
	m := ss.Model()
	if !m.Loss.PositivesOverAll || m.Bank.State != dml.PromptsBank || m.Memory.Dropout != 0.1 || m.Memory.Cell.Mix != nn.MixReleased || m.Semantics.Init != dml.InitReleased || ss.Config().Interp != "bilinear" {
		t.Errorf("the resumed model: positives over all %v, state %q, dropout %v, mix %v, init %q, interpolation %s",
			m.Loss.PositivesOverAll, m.Bank.State, m.Memory.Dropout, m.Memory.Cell.Mix, m.Semantics.Init, ss.Config().Interp)
	}
	ss.Close()
	if err := run([]string{"-resume", dir}, &out, &errOut, never); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	sameRun(t, "stopped after 4 steps and resumed", dir, whole)

	other, _, _ := uninterrupted(t, func(out string) []string { return trainArgs(dataDir, out, append(small, "-gru-dropout", "0")...) })
	if a, b := readRun(t, whole), readRun(t, other); a[0].Loss == b[0].Loss {
		t.Errorf("GRU dropout 0.1 and 0 gave the same first epoch loss %v", a[0].Loss)
	}
}

// A config.json written before the semantics and adapter placements were recorded (only
// positives_over_all_proxies and class_prompts_after_dataset_prompts) resumes as it trained:
// those two as given, semprox's behaviour for the rest.
func TestOldConfigResumes(t *testing.T) {
	dataDir := smallMNIST(t, 200, 60)
	old := []string{"-pa-all", "-class-after-dataset"}
	whole, _, _ := uninterrupted(t, func(out string) []string { return trainArgs(dataDir, out, old...) })
	dir := filepath.Join(t.TempDir(), "old")
	var out, errOut bytes.Buffer
	if err := run(trainArgs(dataDir, dir, old...), &out, &errOut, stopAfter(4)); !errors.Is(err, dml.ErrStopped) {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	path := filepath.Join(dir, dml.ConfigFile)
	var cfg map[string]json.RawMessage
	var settings map[string]any
	raw, _ := os.ReadFile(path)
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(cfg["settings"], &settings)
	for _, key := range []string{"class_prompt_state", "gru_mix", "gru_dropout", "init", "adapter_blocks", "adapter_blocks_bitfit"} {
		delete(settings, key)
	}
	if settings["positives_over_all_proxies"] != true || settings["class_prompts_after_dataset_prompts"] != true {
		t.Fatalf("config.json settings: %v", settings)
	}
	cfg["settings"], _ = json.Marshal(settings)
	delete(cfg, "trainable_parameters_per_step")
	raw, _ = json.Marshal(cfg)
	os.WriteFile(path, raw, 0o644)
	if err := run([]string{"-resume", dir}, &out, &errOut, never); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	sameRun(t, "resumed from an old config.json", dir, whole)
}
