// Command vector generates the vector kernels of package kernels: element-wise maths,
// reductions, exp, GELU and LayerNorm, each for AVX-512 (16 lanes in ZMM) and AVX2+FMA (8 lanes
// in YMM) from one description (see width.go for what differs between the two).
//
// Loops. Each kernel walks its arrays a few vectors per pass, then one vector at a time, then
// finishes the last n % lanes elements with one masked vector (an opmask on AVX-512, VMASKMOVPS
// on AVX2), so the assembly handles any length and never touches memory past the end.
// Reductions keep one accumulator per vector of the pass and fold them, then the lanes, at the
// end. The Go side bounds the length of every call, since assembly is not preempted.
//
// exp(x): clamp x to [-105, 89] (NaN stays NaN; below -105 the result is 0, above 89 it is +Inf),
// n = round(x log2e), r = x - n ln2Hi - n ln2Lo (ln2 split so that r is exact to a rounding),
// e^r by a degree-6 minimax polynomial on |r| <= ln2/2 in Horner form, times 2^n: VSCALEFPS on
// AVX-512; on AVX2 the product with 2^(n>>1) and then 2^(n-(n>>1)), each built in the exponent
// field, so subnormal results round once and correctly and large ones overflow to +Inf.
//
// GELU(x) = x Phi(x), exactly (not the tanh approximation). With a = |x| and the upper tail
// mass Q(a) = 0.5 erfc(a/sqrt2) = Phi(-a): GELU(x) = max(x, 0) - a Q(a), which is x - x Q(x) for
// x > 0 and x Q(-x) for x <= 0, so a positive result never goes through 1 + erf (rounding erf
// near 1 would cost an ulp). Q(a) = exp(-a*a/2) t S(t) with t = 1/(1 + 0.3125 a) and S a degree-9
// polynomial fitted for relative error (fit.py). -a*a/2 enters exp as an exact sum hi + lo
// (hi = a*(-a/2) rounded, lo its error by a fused multiply-subtract), so Q is accurate relative
// to itself even where exp(-a*a/2) is tiny. a is clamped to 20, where Q is 0, so that Inf * 0
// never makes a NaN: GELU(+Inf) = +Inf, GELU(-Inf) = 0.
// GELU'(x) = Phi(x) + x phi(x) with Phi(x) = 1 - Q(x) for x > 0 and Q(-x) otherwise and
// phi(x) = exp(-x*x/2)/sqrt(2 pi) from the same exp.
//
// LayerNorm, per row of cols: mean = sum/cols; var = sum((x-mean)^2)/cols (two passes, biased
// as in PyTorch); rstd = 1/sqrt(var+eps); y = (x-mean)*rstd*gamma + beta. Backward, with
// xhat = (x-mean)*rstd and g = dy*gamma: dx = rstd*(g - mean(g) - xhat*mean(g*xhat)),
// dgamma += dy*xhat, dbeta += dy.
//
// Run `go generate` in package kernels (or `make generate`) to rewrite vector_amd64.s and
// vector_stubs_amd64.go.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"

	. "github.com/mmcloughlin/avo/build"
)

func main() {
	ConstraintExpr("amd64,gc,!purego")
	defineConstants()
	for _, w := range []width{avx512, avx2} {
		addKernel(w)
		scaleKernel(w)
		axpyKernel(w)
		addScaledMulKernel(w)
		sumKernel(w)
		dotKernel(w)
		maxKernel(w)
		expKernel(w)
		expSumKernel(w)
		geluKernel(w)
		geluBackwardKernel(w)
		biasGELUKernel(w, false)
		biasGELUKernel(w, true)
		geluGradKernel(w)
		layerNormKernel(w, false)
		layerNormKernel(w, true)
		layerNormBackwardKernel(w)
	}
	Generate()
	if err := checkAVX2(flag.Lookup("out").Value.String()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// evexOnly matches operands that only AVX-512 (EVEX) encodings reach: registers 16-31, ZMM and
// opmask registers.
var evexOnly = regexp.MustCompile(`\b([XY](1[6-9]|2[0-9]|3[01])|Z[0-9]+|K[0-7])\b`)

// checkAVX2 fails if a function for AVX2 uses an operand only AVX-512 can encode (the register
// allocator would pick X16 and up if a kernel ever needed more than 16 vector registers).
func checkAVX2(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	inAVX2 := false
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := sc.Text()
		if strings.HasPrefix(s, "TEXT ") {
			inAVX2 = strings.Contains(s, "AVX2(SB)")
			continue
		}
		if inAVX2 && evexOnly.MatchString(s) {
			return fmt.Errorf("%s:%d: AVX2 code uses an AVX-512 operand: %s", path, line, strings.TrimSpace(s))
		}
	}
	return sc.Err()
}
