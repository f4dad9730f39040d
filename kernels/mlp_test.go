package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPackedMLP checks PackedMLP bit for bit against its two products done one after the other
// (SgemmPacked with BiasGELU, then with BiasCols), in both precisions, on every path, on 1 and 3
// threads, with and without the pre-activation and the second bias, over row counts that end
// inside, at and just past a chunk.
func TestPackedMLP(t *testing.T) {
	shapes := [][4]int{{0, 5, 7, 3}, {1, 1, 1, 1}, {3, 0, 9, 4}, {5, 6, 0, 3}, {83, 17, 33, 9},
		{mlpChunkRows, 24, 40, 24}, {mlpChunkRows + 1, 31, 70, 13}, {200, 64, 130, 64}}
	forEachSIMD(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(58, 59))
		for _, p := range []Precision{FP32, BF16} {
			for i, s := range shapes {
				rows, in, hidden, out := s[0], s[1], s[2], s[3]
				x := paddedRandom(rng, rows, in, max(1, in), 0)
				w1 := paddedRandom(rng, hidden, in, max(1, in), 0)
				w2 := paddedRandom(rng, out, hidden, max(1, hidden), 0)
				b1, b2 := paddedRandom(rng, 1, hidden, max(1, hidden), 0), paddedRandom(rng, 1, out, max(1, out), 0)
				if i%2 == 1 {
					b2 = nil
				}
				pw1, pw2 := PackB(p, true, in, hidden, w1, max(1, in)), PackB(p, true, hidden, out, w2, max(1, hidden))
				wantPre, g, want := make([]float32, rows*hidden), make([]float32, rows*hidden), make([]float32, rows*out)
				SgemmPacked(&BiasGELU{Bias: b1, Pre: wantPre}, rows, 1, x, max(1, in), pw1, 0, g, max(1, hidden))
				var ep Epilogue
				if b2 != nil {
					ep = BiasCols(b2)
				}
				SgemmPacked(ep, rows, 1, g, max(1, hidden), pw2, 0, want, max(1, out))
				for _, threads := range []int{1, 3} {
					for _, keepPre := range []bool{false, true} {
						y := make([]float32, rows*out)
						var pre []float32
						if keepPre {
							pre = make([]float32, rows*hidden)
						}
						withThreads(threads, func() { PackedMLP(y, pre, x, rows, pw1, b1, pw2, b2) })
						if !slices.Equal(floatBits(y), floatBits(want)) {
							t.Fatalf("%v rows=%d in=%d hidden=%d out=%d, %d threads: result differs from the two products'", p, rows, in, hidden, out, threads)
						}
						if keepPre && !slices.Equal(floatBits(pre), floatBits(wantPre)) {
							t.Fatalf("%v rows=%d in=%d hidden=%d out=%d, %d threads: pre-activation differs", p, rows, in, hidden, out, threads)
						}
					}
				}
			}
		}
	})
}

// TestPackedMLPBackward checks PackedMLPBackward against its two products done one after the
// other: dx bit for bit, the bias gradients within float32 rounding of a float64 sum and bit for
// bit the same on 1 and 3 threads; in both precisions, on every path, with beta 0 and 1.
func TestPackedMLPBackward(t *testing.T) {
	shapes := [][4]int{{0, 5, 7, 3}, {1, 1, 1, 1}, {3, 0, 9, 4}, {5, 6, 0, 3}, {83, 17, 33, 9},
		{mlpChunkRows + 1, 31, 70, 13}, {200, 64, 130, 64}}
	forEachSIMD(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(60, 61))
		for _, p := range []Precision{FP32, BF16} {
			for i, s := range shapes {
				rows, in, hidden, out := s[0], s[1], s[2], s[3]
				beta := float32(i % 2)
				dy := paddedRandom(rng, rows, out, max(1, out), 0)
				pre := paddedRandom(rng, rows, hidden, max(1, hidden), 0)
				dx0 := paddedRandom(rng, rows, in, max(1, in), 0)
				w1 := paddedRandom(rng, hidden, in, max(1, in), 0)
				w2 := paddedRandom(rng, out, hidden, max(1, hidden), 0)
				pw1, pw2 := PackB(p, false, hidden, in, w1, max(1, in)), PackB(p, false, out, hidden, w2, max(1, hidden))
				dpre, wantDx := make([]float32, rows*hidden), slices.Clone(dx0)
				SgemmPacked(&GELUGrad{Pre: pre, Ld: max(1, hidden)}, rows, 1, dy, max(1, out), pw2, 0, dpre, max(1, hidden))
				SgemmPacked(nil, rows, 1, dpre, max(1, hidden), pw1, beta, wantDx, max(1, in))
				var first [2][]float32
				for _, threads := range []int{1, 3} {
					dx, db1, db2 := slices.Clone(dx0), make([]float32, hidden), make([]float32, out)
					for j := range db1 {
						db1[j] = 1
					}
					withThreads(threads, func() { PackedMLPBackward(dx, beta, db1, db2, dy, pre, rows, pw1, pw2) })
					what := fmt.Sprintf("%v rows=%d in=%d hidden=%d out=%d beta=%v, %d threads", p, rows, in, hidden, out, beta, threads)
					if !slices.Equal(floatBits(dx), floatBits(wantDx)) {
						t.Fatalf("%s: dx differs from the two products'", what)
					}
					checkSumsOf(t, what+": db1", db1, 1, dpre, rows, hidden)
					checkSumsOf(t, what+": db2", db2, 0, dy, rows, out)
					if first[0] == nil {
						first = [2][]float32{db1, db2}
					} else if !slices.Equal(floatBits(db1), floatBits(first[0])) || !slices.Equal(floatBits(db2), floatBits(first[1])) {
						t.Fatalf("%s: bias gradients differ from those on 1 thread", what)
					}
				}
			}
		}
	})
}

// checkSumsOf checks that sums[j] is start plus the sum of column j of the rows x n matrix m,
// within the float32 bound of the sum.
func checkSumsOf(t *testing.T, what string, sums []float32, start float64, m []float32, rows, n int) {
	t.Helper()
	for j := range n {
		ref, mag := start, math.Abs(start)
		for i := range rows {
			v := float64(m[i*n+j])
			ref, mag = ref+v, mag+math.Abs(v)
		}
		if bound := float64(rows+2) * 0x1p-24 * mag; math.Abs(float64(sums[j])-ref) > bound {
			t.Fatalf("%s: sum %d = %v, want %v within %.3g", what, j, sums[j], ref, bound)
		}
	}
}

func TestPackedMLPPanics(t *testing.T) {
	buf := make([]float32, 64)
	w1, w2, w3 := PackB(FP32, true, 4, 6, buf, 4), PackB(FP32, true, 6, 3, buf, 6), PackB(FP32, true, 5, 3, buf, 5)
	b1, b2 := buf[:6], buf[:3]
	wantPanic(t, "a weight is nil", func() { PackedMLP(buf, nil, buf, 2, nil, b1, w2, b2) })
	wantPanic(t, "the weights do not chain: [4, 6], then [5, 3]", func() { PackedMLP(buf, nil, buf, 2, w1, b1, w3, b2) })
	wantPanic(t, "rows = -1", func() { PackedMLP(buf, nil, buf, -1, w1, b1, w2, b2) })
	wantPanic(t, "len(x) = 7, want at least 8", func() { PackedMLP(buf, nil, buf[:7], 2, w1, b1, w2, b2) })
	wantPanic(t, "len(y) = 5, want at least 6", func() { PackedMLP(buf[:5], nil, buf, 2, w1, b1, w2, b2) })
	wantPanic(t, "len(BiasGELU.Bias) = 5, want n = 6", func() { PackedMLP(buf, nil, buf, 2, w1, buf[:5], w2, b2) })
	wantPanic(t, "len(BiasGELU.Pre) = 11", func() { PackedMLP(buf, buf[:11], buf, 2, w1, b1, w2, b2) })
	wantPanic(t, "len(b2) = 2, want 3", func() { PackedMLP(buf, nil, buf, 2, w1, b1, w2, buf[:2]) })

	// Backward: w2 is op(B2) [3, 6] and w1 op(B1) [6, 4].
	v2, v1, v3 := PackB(FP32, false, 3, 6, buf, 6), PackB(FP32, false, 6, 4, buf, 4), PackB(FP32, false, 5, 4, buf, 4)
	wantPanic(t, "a weight is nil", func() { PackedMLPBackward(buf, 0, nil, nil, buf, buf, 2, nil, v2) })
	wantPanic(t, "the weights do not chain: [3, 6], then [5, 4]", func() { PackedMLPBackward(buf, 0, nil, nil, buf, buf, 2, v3, v2) })
	wantPanic(t, "rows = -2", func() { PackedMLPBackward(buf, 0, nil, nil, buf, buf, -2, v1, v2) })
	wantPanic(t, "len(dy) = 5, want at least 6", func() { PackedMLPBackward(buf, 0, nil, nil, buf[:5], buf, 2, v1, v2) })
	wantPanic(t, "len(pre) = 11, want at least 12", func() { PackedMLPBackward(buf, 0, nil, nil, buf, buf[:11], 2, v1, v2) })
	wantPanic(t, "len(dx) = 7, want at least 8", func() { PackedMLPBackward(buf[:7], 0, nil, nil, buf, buf, 2, v1, v2) })
	wantPanic(t, "len(db1) = 5, want 6", func() { PackedMLPBackward(buf, 0, buf[:5], nil, buf, buf, 2, v1, v2) })
	wantPanic(t, "len(db2) = 4, want 3", func() { PackedMLPBackward(buf, 0, nil, buf[:4], buf, buf, 2, v1, v2) })
}
