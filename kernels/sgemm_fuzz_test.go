package kernels

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// FuzzSgemm checks small products of every shape, transpose, padding and scalar pair against the
// float64 reference on every SIMD path.
func FuzzSgemm(f *testing.F) {
	f.Add(uint8(3), uint8(5), uint8(7), uint8(0), uint8(1), uint8(2), uint64(1))
	f.Add(uint8(12), uint8(32), uint8(1), uint8(3), uint8(0), uint8(0), uint64(2))
	f.Add(uint8(0), uint8(40), uint8(13), uint8(1), uint8(2), uint8(5), uint64(3))
	f.Add(uint8(25), uint8(33), uint8(0), uint8(2), uint8(3), uint8(1), uint64(4))
	scalars := [][2]float32{{1, 0}, {1, 1}, {-2, 0.5}, {0, 3}}
	f.Fuzz(func(t *testing.T, m, n, k, flags, scalar, pad uint8, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 5))
		ab := scalars[int(scalar)%len(scalars)]
		g := newGemmCase(rng, flags&1 != 0, flags&2 != 0, int(m%50), int(n%70), int(k%60), ab[0], ab[1], int(pad%9))
		saved := ActiveSIMD()
		defer SetSIMD(saved)
		for _, s := range supportedSIMDs() {
			if err := SetSIMD(s); err != nil {
				t.Fatal(err)
			}
			g.check(t, g.run(nil), nil)
		}
	})
}

// FuzzSgemmPacked checks small products with B packed once, in float32 (bit for bit Sgemm's)
// and in bf16 (against the float64 reference of the bf16-rounded inputs), on every SIMD path.
func FuzzSgemmPacked(f *testing.F) {
	f.Add(uint8(3), uint8(5), uint8(7), uint8(0), uint8(1), uint8(2), uint64(1))
	f.Add(uint8(14), uint8(32), uint8(1), uint8(1), uint8(0), uint8(0), uint64(2))
	f.Add(uint8(29), uint8(33), uint8(0), uint8(0), uint8(2), uint8(5), uint64(3))
	scalars := [][2]float32{{1, 0}, {1, 1}, {-2, 0.5}, {0, 3}}
	f.Fuzz(func(t *testing.T, m, n, k, flags, scalar, pad uint8, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 6))
		ab := scalars[int(scalar)%len(scalars)]
		g := newGemmCase(rng, false, flags&1 != 0, int(m%50), int(n%70), int(k%60), ab[0], ab[1], int(pad%9))
		saved := ActiveSIMD()
		defer SetSIMD(saved)
		for _, s := range supportedSIMDs() {
			if err := SetSIMD(s); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(floatBits(g.runPacked(FP32, nil)), floatBits(g.run(nil))) {
				t.Fatalf("%v: packed product differs from Sgemm's", g)
			}
			g.roundedBF16().check(t, g.runPacked(BF16, nil), nil)
		}
	})
}

// FuzzSgemmPackedColumnSums checks small packed products that also take the column sums of A,
// in either precision, on every SIMD path (see checkColumnSums).
func FuzzSgemmPackedColumnSums(f *testing.F) {
	f.Add(uint8(3), uint8(5), uint8(7), uint8(0), uint8(2), uint64(1))
	f.Add(uint8(15), uint8(33), uint8(17), uint8(1), uint8(0), uint64(2))
	f.Add(uint8(29), uint8(0), uint8(9), uint8(1), uint8(5), uint64(3))
	f.Fuzz(func(t *testing.T, m, n, k, flags, pad uint8, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 7))
		alpha := float32(1)
		if flags&2 != 0 {
			alpha = 0
		}
		g := newGemmCase(rng, false, true, int(m%50), int(n%70), int(k%60), alpha, 0.5, int(pad%9))
		precision := FP32
		if flags&1 != 0 {
			precision = BF16
		}
		saved := ActiveSIMD()
		defer SetSIMD(saved)
		for _, s := range supportedSIMDs() {
			if err := SetSIMD(s); err != nil {
				t.Fatal(err)
			}
			checkColumnSums(t, g, precision, rng)
		}
	})
}
