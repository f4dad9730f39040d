package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestBF16Round(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, c := range []struct{ in, want float32 }{
		{0, 0},
		{1, 1},
		{-2.5, -2.5},
		{1 + 1.0/256, 1},                       // a tie: rounds to the even neighbour (1)
		{1 + 3.0/256, 1 + 4.0/256},             // a tie: rounds to the even neighbour (1 + 2/128)
		{1 + 1.0/256 + 1.0/65536, 1 + 1.0/128}, // just above the tie
		{3.4e38, inf},                          // past the largest bf16 (about 3.39e38): rounds to infinity
		{inf, inf},
		{-inf, -inf},
		{math.Float32frombits(1), 0}, // subnormal: flushed to zero
		{-math.Float32frombits(0x7fffff), float32(math.Copysign(0, -1))},
	} {
		got := BF16Round(c.in)
		if math.Float32bits(got) != math.Float32bits(c.want) {
			t.Errorf("BF16Round(%g) = %g (%#08x), want %g", c.in, got, math.Float32bits(got), c.want)
		}
	}
	if got := BF16Round(float32(math.NaN())); got == got {
		t.Errorf("BF16Round(NaN) = %v", got)
	}
	if bits := math.Float32bits(BF16Round(math.Float32frombits(0x7f800001))); bits&0x7fffffff <= 0x7f800000 {
		t.Errorf("BF16Round of a signalling NaN gives %#08x, not a NaN", bits)
	}
}

// TestRoundToPairs checks the assembly rounding against the Go one, bit for bit, over random bit
// patterns (NaN, infinities, subnormals and ties among them) and every length up to 100.
func TestRoundToPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(40, 41))
	src := make([]float32, 100)
	for i := range src {
		switch i % 5 {
		case 0:
			src[i] = math.Float32frombits(rng.Uint32())
		case 1:
			src[i] = math.Float32frombits(rng.Uint32()&0xffff0000 | 0x8000) // a tie
		case 2:
			src[i] = math.Float32frombits(rng.Uint32() & 0x807fffff) // subnormal
		default:
			src[i] = float32(rng.NormFloat64())
		}
	}
	forEachSIMD(t, func(t *testing.T) {
		for n := range len(src) + 1 {
			dst := make([]float32, (n+1)/2+1)
			dst[len(dst)-1] = sentinel
			roundToPairs(dst[:len(dst)-1], src[:n])
			if dst[len(dst)-1] != sentinel {
				t.Fatalf("n=%d: wrote past the pairs", n)
			}
			for i := range n {
				lo, hi := unpairBF16(dst[i/2])
				got := lo
				if i%2 == 1 {
					got = hi
				}
				if want := bf16Bits(src[i]); uint16(math.Float32bits(got)>>16) != want || math.Float32bits(got)&0xffff != 0 {
					t.Fatalf("n=%d: value %d (%#08x) rounds to %#08x, want %#04x", n, i, math.Float32bits(src[i]), math.Float32bits(got), want)
				}
			}
			if n%2 == 1 {
				if _, hi := unpairBF16(dst[n/2]); hi != 0 {
					t.Fatalf("n=%d: last pair's high half is %v, want 0", n, hi)
				}
			}
		}
	})
}

// runPacked runs g (A not transposed) with B packed in precision p.
func (g *gemmCase) runPacked(p Precision, ep Epilogue) []float32 {
	pb := PackB(p, g.transB, g.k, g.n, g.b, g.ldb)
	c := slices.Clone(g.c0)
	SgemmPacked(ep, g.m, g.alpha, g.a, g.lda, pb, g.beta, c, g.ldc)
	return c
}

// roundedBF16 returns a copy of g with A and B rounded to bf16: the inputs the bf16 product's
// float64 reference is computed from.
func (g *gemmCase) roundedBF16() *gemmCase {
	r := *g
	r.a, r.b = slices.Clone(g.a), slices.Clone(g.b)
	for _, s := range [][]float32{r.a, r.b} {
		for i, v := range s {
			s[i] = BF16Round(v)
		}
	}
	return &r
}

// TestSgemmPackedFP32 checks that a product with B packed once in float32 is bit for bit the
// product Sgemm computes, on every path, over the sweep of sizes with padded leading dimensions.
func TestSgemmPackedFP32(t *testing.T) {
	forEachSIMD(t, func(t *testing.T) {
		withThreads(3, func() {
			rng := rand.New(rand.NewPCG(42, 43))
			for _, transB := range []bool{false, true} {
				sweepShapes(rng, func(m, n, k int) {
					g := newGemmCase(rng, false, transB, m, n, k, 1.5, 0.5, rng.IntN(4))
					want, got := g.run(nil), g.runPacked(FP32, nil)
					if !slices.Equal(floatBits(got), floatBits(want)) {
						t.Fatalf("%v: packed product differs from Sgemm's", g)
					}
				})
			}
		})
	})
}

// TestSgemmPackedBF16 checks the bf16 product on every path against a float64 reference of the
// bf16-rounded inputs: the products are exact, so the float32 sums' bound holds. Sizes cross
// odd depths (a pair half empty), several depth and width blocks, and padded leading dimensions.
func TestSgemmPackedBF16(t *testing.T) {
	sizes := [][3]int{{0, 5, 7}, {5, 0, 7}, {5, 7, 0}, {1, 1, 1}, {3, 5, 2}, {14, 32, 3}, {15, 33, 17}, {29, 31, 64},
		{13, 97, 383}, {28, 64, 769}, {100, 530, 385}, {43, 1100, 1537}}
	scalars := [][2]float32{{1, 0}, {-0.5, 2}, {0, 0.5}}
	forEachSIMD(t, func(t *testing.T) {
		for _, threads := range []int{1, 3} {
			withThreads(threads, func() {
				rng := rand.New(rand.NewPCG(44, 45))
				for _, mnk := range sizes {
					if raceEnabled && mnk[0]*mnk[1]*mnk[2] > 1<<18 {
						continue
					}
					for _, transB := range []bool{false, true} {
						ab := scalars[rng.IntN(len(scalars))]
						g := newGemmCase(rng, false, transB, mnk[0], mnk[1], mnk[2], ab[0], ab[1], rng.IntN(4))
						g.roundedBF16().check(t, g.runPacked(BF16, nil), nil)
					}
				}
			})
		}
	})
}

// TestSgemmPackedBF16MatchesGo checks the assembly bf16 kernel against the Go one bit for bit:
// both add the high halves' product, then the low halves', to float32 sums.
// (the depths stay within one block of the Go kernel, whose blocks are shallower).
func TestSgemmPackedBF16MatchesGo(t *testing.T) {
	if BestSIMD() != AVX512BF16 {
		t.Skip("no AVX512_BF16 here")
	}
	saved := ActiveSIMD()
	defer SetSIMD(saved)
	rng := rand.New(rand.NewPCG(46, 47))
	for _, mnk := range [][3]int{{14, 32, 2}, {29, 70, 31}, {100, 64, 255}, {3, 200, 256}} {
		g := newGemmCase(rng, false, true, mnk[0], mnk[1], mnk[2], 1, 0, 1)
		SetSIMD(AVX512BF16)
		asm := g.runPacked(BF16, nil)
		SetSIMD(Generic)
		generic := g.runPacked(BF16, nil)
		if !slices.Equal(floatBits(asm), floatBits(generic)) {
			t.Errorf("%v: the assembly and Go bf16 kernels differ", g)
		}
	}
}

// TestSgemmPackedEpilogue checks the bias epilogue on packed products in both precisions.
func TestSgemmPackedEpilogue(t *testing.T) {
	forEachSIMD(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(48, 49))
		g := newGemmCase(rng, false, true, 37, 70, 45, 1, 0, 2)
		bias := make([]float32, g.n)
		for j := range bias {
			bias[j] = float32(rng.NormFloat64())
		}
		biasAt := func(_, j int) float64 { return float64(bias[j]) }
		g.check(t, g.runPacked(FP32, BiasCols(bias)), biasAt)
		g.roundedBF16().check(t, g.runPacked(BF16, BiasCols(bias)), biasAt)
	})
}

// TestPackedRepacksForPath checks that a PackedB made on one path gives the right product after
// SetSIMD switches to another, and after Repack with new values of B.
func TestPackedRepacksForPath(t *testing.T) {
	saved := ActiveSIMD()
	defer SetSIMD(saved)
	rng := rand.New(rand.NewPCG(50, 51))
	g := newGemmCase(rng, false, false, 20, 40, 50, 1, 0, 0)
	for _, p := range []Precision{FP32, BF16} {
		pb := PackB(p, false, g.k, g.n, g.b, g.ldb)
		want := g
		if p == BF16 {
			want = g.roundedBF16()
		}
		for _, s := range supportedSIMDs() {
			SetSIMD(s)
			c := slices.Clone(g.c0)
			SgemmPacked(nil, g.m, 1, g.a, g.lda, pb, 0, c, g.ldc)
			want.check(t, c, nil)
		}
		for i := range g.b {
			g.b[i] *= -1
		}
		pb.Repack()
		c := slices.Clone(g.c0)
		SgemmPacked(nil, g.m, 1, g.a, g.lda, pb, 0, c, g.ldc)
		want = g
		if p == BF16 {
			want = g.roundedBF16()
		}
		want.check(t, c, nil)
	}
}

// TestSgemmPackedColumnSums checks the column sums of A taken alongside a packed product: the
// product is bit for bit SgemmPacked's, the sums match a float64 reference within the float32
// bound and are bit for bit the same on 1 and 3 threads. The sizes reach every way a strip of A
// is read: in place, copied, packed at an edge, rounded strip by strip or all at once (several
// column blocks), tasks split by panels (few strips), several depth blocks, alpha = 0 and k = 0.
func TestSgemmPackedColumnSums(t *testing.T) {
	sizes := [][3]int{{0, 5, 7}, {5, 0, 7}, {5, 7, 0}, {1, 1, 1}, {3, 5, 2}, {14, 32, 3}, {15, 33, 17},
		{29, 31, 64}, {13, 97, 383}, {28, 640, 769}, {100, 530, 385}, {43, 1100, 1537}, {300, 40, 256}}
	forEachSIMD(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(52, 53))
		for _, p := range []Precision{FP32, BF16} {
			for _, mnk := range sizes {
				if raceEnabled && mnk[0]*mnk[1]*mnk[2] > 1<<18 {
					continue
				}
				alpha := float32(1)
				if rng.IntN(5) == 0 {
					alpha = 0
				}
				g := newGemmCase(rng, false, true, mnk[0], mnk[1], mnk[2], alpha, 0.5, rng.IntN(4))
				checkColumnSums(t, g, p, rng)
			}
		}
	})
}

// checkColumnSums runs g's product with column sums in precision p on 1 and 3 threads.
func checkColumnSums(t *testing.T, g *gemmCase, p Precision, rng *rand.Rand) {
	t.Helper()
	pb := PackB(p, g.transB, g.k, g.n, g.b, g.ldb)
	start := make([]float32, g.k)
	for i := range start {
		start[i] = float32(rng.NormFloat64())
	}
	want := g.runPacked(p, nil)
	var first []float32
	for _, threads := range []int{1, 3} {
		sums, c := slices.Clone(start), slices.Clone(g.c0)
		withThreads(threads, func() {
			SgemmPackedColumnSums(nil, sums, g.m, g.alpha, g.a, g.lda, pb, g.beta, c, g.ldc)
		})
		if !slices.Equal(floatBits(c), floatBits(want)) {
			t.Fatalf("%v %v, %d threads: the product differs from SgemmPacked's", g, p, threads)
		}
		if first == nil {
			first = sums
		} else if !slices.Equal(floatBits(sums), floatBits(first)) {
			t.Fatalf("%v %v: the sums on %d threads differ from those on 1", g, p, threads)
		}
		for j := range g.k {
			ref, mag := float64(start[j]), math.Abs(float64(start[j]))
			for i := range g.m {
				v := float64(g.a[i*g.lda+j])
				ref, mag = ref+v, mag+math.Abs(v)
			}
			if bound := float64(g.m+2) * 0x1p-24 * mag; math.Abs(float64(sums[j])-ref) > bound {
				t.Fatalf("%v %v: sums[%d] = %v, want %v within %.3g", g, p, j, sums[j], ref, bound)
			}
		}
	}
}

func TestSgemmPackedPanics(t *testing.T) {
	b := make([]float32, 12)
	wantPanic(t, "negative size", func() { PackB(FP32, false, -1, 3, b, 3) })
	wantPanic(t, "ldb", func() { PackB(BF16, false, 4, 3, b, 2) })
	wantPanic(t, "len(b)", func() { PackB(FP32, true, 4, 4, b, 4) })
	wantPanic(t, "precision", func() { PackB(Precision(9), false, 4, 3, b, 3) })
	pb := PackB(BF16, false, 4, 3, b, 3)
	wantPanic(t, "b is nil", func() { SgemmPacked(nil, 2, 1, b, 4, nil, 0, b, 3) })
	wantPanic(t, "lda", func() { SgemmPacked(nil, 2, 1, b, 3, pb, 0, b, 3) })
	wantPanic(t, "len(c)", func() { SgemmPacked(nil, 5, 1, make([]float32, 20), 4, pb, 0, b, 3) })
	wantPanic(t, "len(sums) = 3, want k = 4", func() { SgemmPackedColumnSums(nil, b[:3], 2, 1, b, 4, pb, 0, b, 3) })
	wantPanic(t, "len(sums) = 0, want k = 4", func() { SgemmPackedColumnSums(nil, nil, 2, 1, b, 4, pb, 0, b, 3) })
}

func TestParsePrecision(t *testing.T) {
	for in, want := range map[string]Precision{"fp32": FP32, " BF16": BF16} {
		if got, err := ParsePrecision(in); err != nil || got != want {
			t.Errorf("ParsePrecision(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParsePrecision("fp8"); err == nil {
		t.Error("ParsePrecision(fp8) accepted")
	}
}

func floatBits(s []float32) []uint32 {
	out := make([]uint32, len(s))
	for i, v := range s {
		out[i] = math.Float32bits(v)
	}
	return out
}

func TestChoosePrecision(t *testing.T) {
	saved := ActiveSIMD()
	defer SetSIMD(saved)
	for _, s := range supportedSIMDs() {
		SetSIMD(s)
		want := FP32
		if s == AVX512BF16 {
			want = BF16
		}
		for _, name := range []string{"", "auto", " AUTO"} {
			if p, warn, err := ChoosePrecision(name); p != want || warn != "" || err != nil {
				t.Errorf("%v: ChoosePrecision(%q) = %v, %q, %v; want %v", s, name, p, warn, err, want)
			}
		}
		p, warn, err := ChoosePrecision("bf16")
		if p != BF16 || err != nil || (warn == "") != (s == AVX512BF16) {
			t.Errorf("%v: ChoosePrecision(bf16) = %v, %q, %v", s, p, warn, err)
		}
	}
	if _, _, err := ChoosePrecision("int8"); err == nil || !strings.Contains(err.Error(), "auto") {
		t.Errorf("ChoosePrecision(int8): %v", err)
	}
}
