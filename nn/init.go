package nn

import (
	"math"
	"math/rand/v2"

	"github.com/semprox/semprox/tensor"
)

// TruncNormal fills t with normal values of standard deviation std, redrawn outside two
// deviations (timm's trunc_normal_ with its default bounds at +-2 std).
func TruncNormal(t *tensor.Tensor, std float64, rng *rand.Rand) {
	for i := range t.Data() {
		v := rng.NormFloat64()
		for math.Abs(v) > 2 {
			v = rng.NormFloat64()
		}
		t.Data()[i] = float32(v * std)
	}
}

// XavierNormal fills t with normal values of variance 2 / (fanIn + fanOut).
func XavierNormal(t *tensor.Tensor, fanIn, fanOut int, rng *rand.Rand) {
	std := math.Sqrt(2 / float64(fanIn+fanOut))
	for i := range t.Data() {
		t.Data()[i] = float32(rng.NormFloat64() * std)
	}
}

// XavierUniform fills t uniformly in +-sqrt(6 / (fanIn + fanOut)), times gain.
func XavierUniform(t *tensor.Tensor, fanIn, fanOut int, gain float64, rng *rand.Rand) {
	bound := gain * math.Sqrt(6/float64(fanIn+fanOut))
	for i := range t.Data() {
		t.Data()[i] = float32((2*rng.Float64() - 1) * bound)
	}
}

// Init gives the ViT timm's initialisation for training from scratch: truncated normal
// (std 0.02) weights, position embedding and class token; zero biases; LayerNorm gains 1.
func (m *ViT) Init(rng *rand.Rand) {
	for _, p := range m.Parameters() {
		t := p.Var.Value
		switch {
		case isNormGain(p.Name):
			t.Fill(1)
		case t.Dims() == 1:
			t.Zero()
		default:
			TruncNormal(t, 0.02, rng)
		}
	}
}

// isNormGain reports whether a timm parameter name is a LayerNorm's weight.
func isNormGain(name string) bool {
	for _, suffix := range []string{"norm.weight", "norm1.weight", "norm2.weight"} {
		if len(name) >= len(suffix) && name[len(name)-len(suffix):] == suffix {
			return true
		}
	}
	return false
}
