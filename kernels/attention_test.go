package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// attentionCase is one random problem with its float64 reference results.
type attentionCase struct {
	shape               AttentionShape
	qkv, dout           []float32
	wantOut, wantLSE    []float64
	wantDQKV            []float64
	outScale, gradScale float64 // largest |value| of out and of dqkv
}

func newAttentionCase(rng *rand.Rand, s AttentionShape) *attentionCase {
	c := &attentionCase{shape: s, qkv: make([]float32, s.qkvLen()), dout: make([]float32, s.outLen())}
	for i := range c.qkv {
		c.qkv[i] = float32(rng.NormFloat64())
	}
	for i := range c.dout {
		c.dout[i] = float32(rng.NormFloat64())
	}
	qkv, dout := float64s(c.qkv), float64s(c.dout)
	if s.Precision == BF16 {
		// The products read every operand rounded to bf16: the reference starts from the rounded
		// inputs. What remains is the rounding of the probabilities and of dS, each a relative
		// error of at most 2^-9 of terms no larger than max|v| (out) and max|dout|*max|qkv| (dqkv):
		// those bound the scales, so that outputs that nearly cancel are not held to more.
		qkv, dout = roundedBF16(c.qkv), roundedBF16(c.dout)
	}
	c.wantOut, c.wantLSE, c.wantDQKV = attentionReference(s, qkv, dout)
	c.outScale, c.gradScale = maxAbs(c.wantOut), maxAbs(c.wantDQKV)
	if s.Precision == BF16 {
		c.outScale = max(c.outScale, maxAbs(qkv))
		c.gradScale = max(c.gradScale, maxAbs(dout)*maxAbs(qkv))
	}
	return c
}

// roundedBF16 is s rounded to bf16, in float64.
func roundedBF16(s []float32) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(BF16Round(v))
	}
	return out
}

func float64s(s []float32) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

func maxAbs(s []float64) float64 {
	m := 0.0
	for _, v := range s {
		m = max(m, math.Abs(v))
	}
	return m
}

// part returns the q (t=0), k (1) or v (2) values of a [B,N,3,H,dh] tensor, in order.
func (c *attentionCase) part(x []float64, t int) []float64 {
	s := c.shape
	var out []float64
	for bn := range s.Batch * s.Tokens {
		at := (bn*3 + t) * s.Heads * s.HeadDim
		out = append(out, x[at:at+s.Heads*s.HeadDim]...)
	}
	return out
}

// attentionReference computes, in float64, out and lse of the forward pass and dqkv of the
// backward pass for the loss sum(out * dout), for the query rows of s: the every-token reference
// with dout zero on the other rows, and their out and lse rows left out.
func attentionReference(s AttentionShape, qkv, dout []float64) (out, lse, dqkv []float64) {
	all := s
	all.QueryFrom, all.QueryTo = 0, 0
	from, _ := s.queryRows()
	n, nq, width := s.Tokens, s.Queries(), s.Heads*s.HeadDim
	allDout := make([]float64, all.outLen())
	for b := range s.Batch {
		copy(allDout[(b*n+from)*width:], dout[b*nq*width:(b+1)*nq*width])
	}
	allOut, allLSE, dqkv := everyTokenReference(all, qkv, allDout)
	for b := range s.Batch {
		out = append(out, allOut[(b*n+from)*width:(b*n+from+nq)*width]...)
		for h := range s.Heads {
			lse = append(lse, allLSE[(b*s.Heads+h)*n+from:][:nq]...)
		}
	}
	return out, lse, dqkv
}

// everyTokenReference is attentionReference with every token a query.
func everyTokenReference(s AttentionShape, qkv, dout []float64) (out, lse, dqkv []float64) {
	n, h, dh := s.Tokens, s.Heads, s.HeadDim
	out, lse, dqkv = make([]float64, s.outLen()), make([]float64, s.lseLen()), make([]float64, s.qkvLen())
	scale := 1 / math.Sqrt(float64(dh))
	at := func(b, i, t, hd int) int { return (((b*n+i)*3+t)*h + hd) * dh }
	for b := range s.Batch {
		for hd := range h {
			p := make([][]float64, n)
			for i := range n {
				p[i] = make([]float64, n)
				m := math.Inf(-1)
				for j := range n {
					p[i][j] = scale * dot64(qkv[at(b, i, 0, hd):][:dh], qkv[at(b, j, 1, hd):][:dh])
					m = max(m, p[i][j])
				}
				sum := 0.0
				for j := range n {
					sum += math.Exp(p[i][j] - m)
				}
				lse[(b*h+hd)*n+i] = m + math.Log(sum)
				for j := range n {
					p[i][j] = math.Exp(p[i][j]-m) / sum
				}
				o := out[((b*n+i)*h+hd)*dh:][:dh]
				for j := range n {
					for d, v := range qkv[at(b, j, 2, hd):][:dh] {
						o[d] += p[i][j] * v
					}
				}
			}
			for i := range n {
				do := dout[((b*n+i)*h+hd)*dh:][:dh]
				delta := dot64(do, out[((b*n+i)*h+hd)*dh:][:dh])
				for j := range n {
					dp := dot64(do, qkv[at(b, j, 2, hd):][:dh])
					ds := p[i][j] * (dp - delta) * scale
					for d := range dh {
						dqkv[at(b, j, 2, hd)+d] += p[i][j] * do[d]
						dqkv[at(b, i, 0, hd)+d] += ds * qkv[at(b, j, 1, hd)+d]
						dqkv[at(b, j, 1, hd)+d] += ds * qkv[at(b, i, 0, hd)+d]
					}
				}
			}
		}
	}
	return out, lse, dqkv
}

func dot64(x, y []float64) float64 {
	s := 0.0
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// checkClose fails unless every got[i] is within tol*scale of want[i].
func checkClose(t *testing.T, what string, got []float32, want []float64, scale, tol float64) {
	t.Helper()
	for i, w := range want {
		if d := math.Abs(float64(got[i]) - w); !(d <= tol*scale) {
			t.Fatalf("%s[%d] = %g, want %g (error %.3g of scale %.3g, tolerance %g)", what, i, got[i], w, d/scale, scale, tol)
		}
	}
}

// attentionTolerance is how far out and dqkv may be from the float64 reference, relative to their
// scales (newAttentionCase); lse is always held to 1e-5, since in bf16 the scores are products of
// the rounded inputs summed in float32, as in the reference. The largest bf16 errors measured over
// the test shapes were 1.1e-3 (out) and 7e-4 (dqkv), and 1.8e-7 for lse.
func attentionTolerance(p Precision) (out, grad float64) {
	if p == BF16 {
		return 4e-3, 4e-3
	}
	return 1e-5, 1e-4
}

// check runs the fused kernels and compares them with the reference within attentionTolerance,
// relative to the largest value of out and of dqkv (dq and dk share dv's scale: with one token
// they are zero up to rounding).
func (c *attentionCase) check(t *testing.T) {
	t.Helper()
	s := c.shape
	fwdTol, bwdTol := attentionTolerance(s.Precision)
	out, lse := make([]float32, s.outLen()), make([]float32, s.lseLen())
	for i := range lse {
		lse[i] = float32(math.NaN())
	}
	AttentionForward(out, lse, c.qkv, s)
	checkClose(t, "out", out, c.wantOut, c.outScale, fwdTol)
	checkClose(t, "lse", lse, c.wantLSE, max(1, maxAbs(c.wantLSE)), 1e-5)
	dqkv := make([]float32, s.qkvLen())
	for i := range dqkv {
		dqkv[i] = float32(math.NaN())
	}
	// With the forward's output, and without it (row sums from the probabilities).
	for _, fwdOut := range [][]float32{out, nil} {
		AttentionBackward(dqkv, c.dout, fwdOut, lse, c.qkv, s)
		got64 := float64s(dqkv)
		for t3, name := range []string{"dq", "dk", "dv"} {
			checkClose(t, name, float32s(c.part(got64, t3)), c.part(c.wantDQKV, t3), c.gradScale, bwdTol)
		}
		for i := range dqkv {
			dqkv[i] = float32(math.NaN())
		}
	}
}

func float32s(s []float64) []float32 {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v)
	}
	return out
}

// attentionShapes are the test problems: {B, N, H, dh, QueryFrom, QueryTo, Precision}.
var attentionShapes = []AttentionShape{
	{1, 1, 1, 32, 0, 0, FP32}, {1, 2, 1, 32, 0, 0, FP32}, {2, 7, 3, 32, 0, 0, FP32}, {1, 13, 2, 64, 0, 0, FP32}, {1, 33, 1, 128, 0, 0, FP32},
	{2, 64, 2, 64, 0, 0, FP32}, {1, 97, 3, 32, 0, 0, FP32}, {1, 207, 2, 64, 0, 0, FP32}, {1, 300, 1, 64, 0, 0, FP32},
	{1, 17, 2, 5, 0, 0, FP32}, {1, 45, 1, 40, 0, 0, FP32}, {1, 29, 1, 1, 0, 0, FP32},
	// Some tokens as queries: prompts dropped, the class token alone, the last row, none.
	{2, 207, 2, 64, 10, 207, FP32}, {2, 200, 3, 32, 3, 4, FP32}, {1, 300, 1, 64, 0, 1, FP32}, {2, 7, 3, 32, 3, 5, FP32},
	{1, 33, 2, 17, 32, 33, FP32}, {2, 45, 1, 40, 4, 4, FP32},
	{1, 13, 2, 64, 5, 0, FP32}, // QueryTo 0: every token, whatever QueryFrom says
}

func TestAttentionMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	var cases []*attentionCase
	for _, s := range attentionShapes {
		for _, p := range []Precision{FP32, BF16} {
			s.Precision = p
			cases = append(cases, newAttentionCase(rng, s))
		}
	}
	forEachSIMD(t, func(t *testing.T) {
		for _, keyBlock := range []int{256, 32} {
			for _, threads := range []int{1, 2} {
				withAttentionKeyBlock(keyBlock, func() {
					withThreads(threads, func() {
						for _, c := range cases {
							t.Run(fmt.Sprintf("%v/keys=%d/threads=%d", c.shape, keyBlock, threads), c.check)
						}
					})
				})
			}
		}
	})
}

func withAttentionKeyBlock(n int, f func()) {
	saved := attentionKeyBlock
	attentionKeyBlock = n
	defer func() { attentionKeyBlock = saved }()
	f()
}

// The reference gradient itself is checked against central differences of the reference forward.
func TestAttentionReferenceGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	s := AttentionShape{2, 5, 2, 3, 0, 0, FP32}
	c := newAttentionCase(rng, s)
	qkv, dout := float64s(c.qkv), float64s(c.dout)
	loss := func() float64 {
		out, _, _ := attentionReference(s, qkv, dout)
		return dot64(out, dout)
	}
	const h = 1e-6
	for i := range qkv {
		saved := qkv[i]
		qkv[i] = saved + h
		up := loss()
		qkv[i] = saved - h
		down := loss()
		qkv[i] = saved
		if fd := (up - down) / (2 * h); math.Abs(fd-c.wantDQKV[i]) > 1e-6*max(1, math.Abs(fd)) {
			t.Fatalf("dqkv[%d]: reference %g, finite difference %g", i, c.wantDQKV[i], fd)
		}
	}
}

// The fused backward, in float32, agrees with central differences of the fused forward.
func TestAttentionFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 13))
	s := AttentionShape{1, 6, 2, 4, 0, 0, FP32}
	c := newAttentionCase(rng, s)
	out, lse := make([]float32, s.outLen()), make([]float32, s.lseLen())
	loss := func() float64 {
		AttentionForward(out, lse, c.qkv, s)
		return dot64(float64s(out), float64s(c.dout))
	}
	loss()
	dqkv := make([]float32, s.qkvLen())
	AttentionBackward(dqkv, c.dout, out, lse, c.qkv, s)
	const h = 1e-2
	for i := range c.qkv {
		saved := c.qkv[i]
		c.qkv[i] = saved + h
		up := loss()
		c.qkv[i] = saved - h
		down := loss()
		c.qkv[i] = saved
		if fd := (up - down) / (2 * h); math.Abs(fd-float64(dqkv[i])) > 2e-3*max(1, math.Abs(fd)) {
			t.Fatalf("dqkv[%d] = %g, finite difference %g", i, dqkv[i], fd)
		}
	}
}

func TestAttentionBadArguments(t *testing.T) {
	s := AttentionShape{2, 3, 2, 4, 0, 0, FP32}
	qkv, out, lse := make([]float32, s.qkvLen()), make([]float32, s.outLen()), make([]float32, s.lseLen())
	wantPanic(t, "len(qkv)", func() { AttentionForward(out, lse, qkv[1:], s) })
	wantPanic(t, "len(out)", func() { AttentionForward(out[1:], lse, qkv, s) })
	wantPanic(t, "len(lse)", func() { AttentionForward(out, lse[1:], qkv, s) })
	wantPanic(t, "negative", func() { AttentionForward(out, lse, qkv, AttentionShape{1, -1, 1, 1, 0, 0, FP32}) })
	wantPanic(t, "len(dout)", func() { AttentionBackward(qkv, out[1:], out, lse, qkv, s) })
	wantPanic(t, "len(dqkv)", func() { AttentionBackward(qkv[1:], out, out, lse, qkv, s) })
	wantPanic(t, "unknown precision", func() { AttentionForward(out, lse, qkv, AttentionShape{2, 3, 2, 4, 0, 0, Precision(7)}) })
	AttentionForward(nil, nil, nil, AttentionShape{0, 5, 2, 4, 0, 0, FP32})
	AttentionBackward(nil, nil, nil, nil, nil, AttentionShape{3, 0, 2, 4, 0, 0, FP32})
}

func TestAttentionWarmCallAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range []Precision{FP32, BF16} {
		s := AttentionShape{4, 50, 3, 64, 0, 0, p}
		c := newAttentionCase(rng, s)
		out, lse, dqkv := make([]float32, s.outLen()), make([]float32, s.lseLen()), make([]float32, s.qkvLen())
		for _, threads := range []int{1, 2} {
			withThreads(threads, func() {
				run := func() {
					AttentionForward(out, lse, c.qkv, s)
					AttentionBackward(dqkv, c.dout, out, lse, c.qkv, s)
				}
				run()
				if n := testing.AllocsPerRun(5, run); n != 0 {
					t.Errorf("%v, threads=%d: %v allocations per warm call", p, threads, n)
				}
			})
		}
	}
}

// FuzzAttention checks the fused kernels against the float64 reference on small random shapes,
// values and key-block sizes.
func FuzzAttention(f *testing.F) {
	f.Add(uint8(1), uint8(7), uint8(2), uint8(5), uint8(1), uint64(1))
	f.Add(uint8(2), uint8(40), uint8(1), uint8(32), uint8(0), uint64(2))
	f.Add(uint8(2), uint8(40), uint8(1), uint8(32), uint8(0), uint64(3<<16|9<<8|12))
	f.Add(uint8(2), uint8(45), uint8(2), uint8(17), uint8(1), uint64(1<<24|5<<16|3<<8|4))
	f.Fuzz(func(t *testing.T, batch, tokens, heads, dh, keyBlockSel uint8, seed uint64) {
		s := AttentionShape{Batch: int(batch % 3), Tokens: int(tokens % 70), Heads: int(heads%3) + 1, HeadDim: int(dh%40) + 1}
		// Bit 24 of the seed picks bf16; bits 8-23 the query rows: every token when both bytes are zero.
		s.Precision = Precision(seed >> 24 & 1)
		if from, to := int(seed>>8&0xff), int(seed>>16&0xff); to > 0 && s.Tokens > 0 {
			s.QueryFrom = from % s.Tokens
			s.QueryTo = s.QueryFrom + 1 + to%(s.Tokens-s.QueryFrom)
		}
		c := newAttentionCase(rand.New(rand.NewPCG(seed, 7)), s)
		withAttentionKeyBlock([]int{32, 64, 256}[keyBlockSel%3], func() { c.check(t) })
	})
}
