package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// floatsOf reads data as little-endian float32 bit patterns (NaNs, infinities and subnormals
// included).
func floatsOf(data []byte) []float32 {
	x := make([]float32, len(data)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return x
}

func bytesOf(x ...float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// eachPathMatchesGo fails unless every SIMD path gives the bits of the Go version.
func eachPathMatchesGo(t *testing.T, name string, x []float32, kernel, goVersion func(dst, x []float32)) []float32 {
	t.Helper()
	want := make([]float32, len(x))
	goVersion(want, x)
	saved := ActiveSIMD()
	defer SetSIMD(saved)
	for _, s := range supportedSIMDs() {
		if err := SetSIMD(s); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(x))
		kernel(got, x)
		for i := range x {
			if !sameBits(got[i], want[i]) {
				t.Fatalf("%v: %s(%v) = %v, Go gives %v", s, name, x[i], got[i], want[i])
			}
		}
	}
	return want
}

// FuzzExp checks exp on arbitrary bit patterns: every path gives the Go version's bits, within
// 2 ulp of float64 exp where the result is normal, within a subnormal step below, and the
// limits beyond.
func FuzzExp(f *testing.F) {
	f.Add(bytesOf(0, 1, -1, 88.72, -87.3, -100, 89, -105, posInf32, negInf32, nanF32))
	f.Add(bytesOf(1e-40, -1e-40, 3.5, -20.25, 60, 70, 80))
	f.Fuzz(func(t *testing.T, data []byte) {
		x := floatsOf(data)
		got := eachPathMatchesGo(t, "exp", x, Exp, expGo)
		for i, v := range x {
			want := math.Exp(float64(v))
			switch {
			case v != v:
				if got[i] == got[i] {
					t.Fatalf("exp(NaN) = %v", got[i])
				}
			case want > math.MaxFloat32*(1+0x1p-24):
				if !math.IsInf(float64(got[i]), 1) {
					t.Fatalf("exp(%v) = %v, want +Inf", v, got[i])
				}
			case want < 0x1p-126:
				if math.Abs(float64(got[i])-want) > 0x1p-149 {
					t.Fatalf("exp(%v) = %g, want %g", v, got[i], want)
				}
			default:
				if e := ulpErr32(got[i], want); e > 2 {
					t.Fatalf("exp(%v) = %v, want %v (%.2f ulp)", v, got[i], want, e)
				}
			}
		}
	})
}

// FuzzGELU checks GELU and GELU' on arbitrary bit patterns: every path gives the Go version's
// bits, and both are close to float64.
func FuzzGELU(f *testing.F) {
	f.Add(bytesOf(0, 1, -1, 4.0616813, -0.75, 10, -10, 20, -20, posInf32, negInf32, nanF32))
	f.Add(bytesOf(1e-40, -1e-40, 3.5, -5.25, 1e20, -1e20))
	f.Fuzz(func(t *testing.T, data []byte) {
		x := floatsOf(data)
		got := eachPathMatchesGo(t, "GELU", x, GELU, geluGo)
		ones := make([]float32, len(x))
		for i := range ones {
			ones[i] = 1
		}
		grad := eachPathMatchesGo(t, "GELU'", x, func(dst, x []float32) { GELUBackward(dst, ones, x) },
			func(dst, x []float32) { geluBackwardGo(dst, ones, x) })
		for i, v := range x {
			want := gelu64(float64(v))
			// 2.4e-7: half the float32 spacing in [4, 8); a handful of inputs in [4, 4.07] miss
			// the correctly rounded result by that much (see TestGELUExhaustive).
			if tol := max(2.4e-7, roundoff*math.Abs(want)); !(math.Abs(float64(got[i])-want) <= tol) && float64(got[i]) != want && !(v != v && got[i] != got[i]) {
				t.Fatalf("GELU(%v) = %v, want %v", v, got[i], want)
			}
			if d := geluGrad64(float64(v)); !(math.Abs(float64(grad[i])-d) <= geluGradTol) && float64(grad[i]) != d && !(v != v && grad[i] != grad[i]) {
				t.Fatalf("GELU'(%v) = %v, want %v", v, grad[i], d)
			}
		}
	})
}

// FuzzLayerNorm checks LayerNorm and its gradient on random shapes and scales against float64.
func FuzzLayerNorm(f *testing.F) {
	f.Add(uint8(3), uint16(17), uint64(1), int8(0))
	f.Add(uint8(1), uint16(384), uint64(2), int8(10))
	f.Add(uint8(9), uint16(1), uint64(3), int8(-10))
	f.Fuzz(func(t *testing.T, rows8 uint8, cols16 uint16, seed uint64, logScale int8) {
		rows, cols := int(rows8%16), 1+int(cols16%2000)
		rng := rand.New(rand.NewPCG(seed, 19))
		x, gamma, beta := layerNormCase(rng, rows, cols)
		scale := float32(math.Ldexp(1, int(logScale)%20))
		for i := range x {
			x[i] *= scale
		}
		dy := vecOf(rng, len(x), normalDist(1))
		saved := ActiveSIMD()
		defer SetSIMD(saved)
		for _, s := range supportedSIMDs() {
			if err := SetSIMD(s); err != nil {
				t.Fatal(err)
			}
			y, mean, rstd := make([]float32, len(x)), make([]float32, rows), make([]float32, rows)
			LayerNorm(y, mean, rstd, x, gamma, beta, cols, 1e-5)
			checkLayerNorm(t, rows, cols, x, gamma, beta, 1e-5, y, mean, rstd)
			dx, dg, db := make([]float32, len(x)), make([]float32, cols), make([]float32, cols)
			LayerNormBackward(dx, dg, db, dy, x, mean, rstd, gamma, cols)
			checkLayerNormBackward(t, rows, cols, dy, x, mean, rstd, gamma, make([]float32, cols), make([]float32, cols), dx, dg, db)
		}
	})
}
