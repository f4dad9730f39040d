package kernels

import (
	"fmt"
	"os"
	"strings"
)

// SIMD names a family of kernel implementations.
type SIMD int

const (
	// Generic is the plain Go code, available everywhere.
	Generic SIMD = iota
	// AVX2 is the AVX2+FMA assembly (256-bit vectors).
	AVX2
	// AVX512 is the AVX-512 (F, BW, VL, DQ) assembly (512-bit vectors).
	AVX512
	// AVX512BF16 is AVX512 with the bf16 micro-kernel (AVX512_BF16's VDPBF16PS) for products
	// with a weight packed in bf16 (see PackB); every other kernel is AVX512's. It also needs
	// BMI2, which every CPU with AVX512_BF16 has.
	AVX512BF16
)

// SIMDEnv is the environment variable that forces a lower SIMD path at start-up.
const SIMDEnv = "SEMPROX_SIMD"

var simdNames = map[SIMD]string{Generic: "generic", AVX2: "avx2", AVX512: "avx512", AVX512BF16: "avx512bf16"}

func (s SIMD) String() string {
	if name, ok := simdNames[s]; ok {
		return name
	}
	return fmt.Sprintf("SIMD(%d)", int(s))
}

// ParseSIMD returns the SIMD path named by s ("avx512bf16", "avx512", "avx2" or "generic", any
// case).
func ParseSIMD(s string) (SIMD, error) {
	for level, name := range simdNames {
		if strings.EqualFold(strings.TrimSpace(s), name) {
			return level, nil
		}
	}
	return Generic, fmt.Errorf("kernels: unknown SIMD path %q: want avx512bf16, avx512, avx2 or generic", s)
}

// bestSIMD is the best path this CPU and build support.
var bestSIMD = detectSIMD()

// active is the path in use; change it only through SetSIMD.
var active = bestSIMD

func init() {
	if v, ok := os.LookupEnv(SIMDEnv); ok && v != "" {
		level, err := ParseSIMD(v)
		if err == nil {
			err = SetSIMD(level)
		}
		if err != nil {
			panic(fmt.Sprintf("%s=%s: %v", SIMDEnv, v, err))
		}
	}
}

// HasBF16 reports whether the active path multiplies bf16 weights in assembly. Without it,
// products with a weight packed in bf16 run in plain Go: correct but slow.
func HasBF16() bool { return active == AVX512BF16 }

// BestSIMD reports the best path this CPU and build support.
func BestSIMD() SIMD { return bestSIMD }

// ActiveSIMD reports the path the kernels use now.
func ActiveSIMD() SIMD { return active }

// SetSIMD makes the kernels use path s from now on. It returns an error if this CPU or build does
// not support s. It is meant for start-up and tests: do not call it while kernels run.
func SetSIMD(s SIMD) error {
	if s < Generic || s > AVX512BF16 {
		return fmt.Errorf("kernels: unknown SIMD path %v", s)
	}
	if s > bestSIMD {
		return fmt.Errorf("kernels: SIMD path %v is not supported here (best: %v)", s, bestSIMD)
	}
	active = s
	return nil
}
