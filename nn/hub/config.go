package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// PretrainedConfig is what timm's config.json says of its weights: the top-level "architecture"
// and the "pretrained_cfg" object. A field config.json lacks, or sets to null, is the zero value
// (a repository that is not timm's has none of them): callers that need a field check it.
type PretrainedConfig struct {
	Architecture  string     // the timm architecture, e.g. vit_small_patch16_224
	Tag           string     // the pretrained tag, e.g. augreg_in21k
	InputSize     [3]int     // channels, height, width, e.g. 3, 224, 224
	Interpolation string     // the resize's interpolation: bicubic, bilinear ...
	CropPct       float64    // evaluation resizes to floor(size / CropPct), then crops
	CropMode      string     // center, squash or border
	Mean, Std     [3]float64 // per-channel normalisation, RGB
	NumClasses    int        // classes of the pretrained head (pretrained_cfg's, else the top level's)
}

// ReadConfig reads a timm config.json. A field of the wrong type or length is an error naming
// the file and the field.
func ReadConfig(path string) (PretrainedConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return PretrainedConfig{}, err
	}
	return parseConfig(path, b)
}

// parseConfig reads the bytes of config.json; name is the file in errors.
func parseConfig(name string, b []byte) (PretrainedConfig, error) {
	var cfg PretrainedConfig
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return cfg, fmt.Errorf("%s is not a JSON object: %w", name, err)
	}
	r := fieldReader{name: name}
	r.str(top, "", "architecture", &cfg.Architecture)
	r.int(top, "", "num_classes", &cfg.NumClasses)
	var pre map[string]json.RawMessage
	if raw, ok := top["pretrained_cfg"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &pre); err != nil {
			return cfg, fmt.Errorf("%s: pretrained_cfg is %s, want an object", name, describe(raw))
		}
	}
	r.str(pre, "pretrained_cfg.", "tag", &cfg.Tag)
	var size [3]float64
	if r.floats(pre, "pretrained_cfg.", "input_size", &size) {
		for i, v := range size {
			if v != math.Trunc(v) || v < 0 || v > 1<<20 {
				r.fail("pretrained_cfg.input_size", "a list of 3 whole numbers")
				break
			}
			cfg.InputSize[i] = int(v)
		}
	}
	r.str(pre, "pretrained_cfg.", "interpolation", &cfg.Interpolation)
	r.float(pre, "pretrained_cfg.", "crop_pct", &cfg.CropPct)
	r.str(pre, "pretrained_cfg.", "crop_mode", &cfg.CropMode)
	r.floats(pre, "pretrained_cfg.", "mean", &cfg.Mean)
	r.floats(pre, "pretrained_cfg.", "std", &cfg.Std)
	r.int(pre, "pretrained_cfg.", "num_classes", &cfg.NumClasses)
	return cfg, r.err
}

// fieldReader reads typed fields of a JSON object, keeping the first error.
type fieldReader struct {
	name string
	err  error
}

func (r *fieldReader) fail(field, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s is not %s", r.name, field, want)
	}
}

// get returns the raw value of key, false when it is missing or null (or an error came before).
func (r *fieldReader) get(obj map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	raw, ok := obj[key]
	return raw, ok && r.err == nil && !isNull(raw)
}

func (r *fieldReader) str(obj map[string]json.RawMessage, prefix, key string, dst *string) {
	if raw, ok := r.get(obj, key); ok {
		if err := json.Unmarshal(raw, dst); err != nil {
			r.err = fmt.Errorf("%s: %s%s is %s, want a string", r.name, prefix, key, describe(raw))
		}
	}
}

func (r *fieldReader) float(obj map[string]json.RawMessage, prefix, key string, dst *float64) {
	if raw, ok := r.get(obj, key); ok {
		if err := json.Unmarshal(raw, dst); err != nil {
			r.err = fmt.Errorf("%s: %s%s is %s, want a number", r.name, prefix, key, describe(raw))
		}
	}
}

func (r *fieldReader) int(obj map[string]json.RawMessage, prefix, key string, dst *int) {
	if raw, ok := r.get(obj, key); ok {
		var v float64
		if err := json.Unmarshal(raw, &v); err != nil || v != math.Trunc(v) || math.Abs(v) > 1<<40 {
			r.err = fmt.Errorf("%s: %s%s is %s, want a whole number", r.name, prefix, key, describe(raw))
			return
		}
		*dst = int(v)
	}
}

// floats reads a list of exactly 3 numbers; it reports whether the key was there.
func (r *fieldReader) floats(obj map[string]json.RawMessage, prefix, key string, dst *[3]float64) bool {
	raw, ok := r.get(obj, key)
	if !ok {
		return false
	}
	var v []float64
	if err := json.Unmarshal(raw, &v); err != nil || len(v) != 3 {
		r.err = fmt.Errorf("%s: %s%s is %s, want a list of 3 numbers", r.name, prefix, key, describe(raw))
		return false
	}
	copy(dst[:], v)
	return true
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// describe says what kind of JSON value raw is, for errors: a string "x", a list of 2, ...
func describe(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '"':
		return "the string " + truncate(string(raw), 40)
	case '{':
		return "an object"
	case '[':
		var v []json.RawMessage
		if json.Unmarshal(raw, &v) == nil {
			return fmt.Sprintf("%s (a list of %d)", truncate(string(raw), 40), len(v))
		}
		return "a list"
	case 't', 'f':
		return "the boolean " + string(raw)
	}
	return truncate(string(raw), 40)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
