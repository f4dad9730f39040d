package autodiff

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/tensor"
)

// randomTensor returns a tensor of the shape with values uniform in [-1, 1], pushed away from
// zero by at least gap (so kinks such as ReLU's are not straddled by finite differences).
func randomTensor(rng *rand.Rand, gap float32, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data() {
		v := 2*rng.Float32() - 1
		if v >= 0 {
			v += gap
		} else {
			v -= gap
		}
		t.Data()[i] = v
	}
	return t
}

// gradCheck compares the gradients backward computes with central finite differences.
// build maps parameters holding inputs to a result; the loss is sum(result * r) for a fixed
// random r. Every input gradient must match within tol of the largest gradient magnitude of
// that input (at least 1e-3 absolute).
func gradCheck(t *testing.T, inputs []*tensor.Tensor, build func(tp *Tape, in []*Var) *Var, tol float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(99, 1))
	vars := make([]*Var, len(inputs))
	for i, in := range inputs {
		vars[i] = Param(in)
	}
	tp := NewTape()
	var weights []float64
	loss := func() float64 {
		tp.Reset()
		out := build(tp, vars).Value.Data()
		for len(weights) < len(out) {
			weights = append(weights, 2*rng.Float64()-1)
		}
		s := 0.0
		for i, v := range out {
			s += float64(v) * weights[i]
		}
		return s
	}
	loss()
	poison(tp)
	out := build(tp, vars)
	r := tensor.New(out.Shape()...)
	for i := range r.Data() {
		r.Data()[i] = float32(weights[i])
	}
	tp.Backward(tp.Sum(tp.Mul(out, Constant(r))))
	analytic := make([][]float32, len(vars))
	for i, v := range vars {
		if v.Grad() == nil {
			t.Fatalf("input %d got no gradient", i)
		}
		analytic[i] = append([]float32(nil), v.Grad().Data()...)
	}
	const h = 1e-2
	for i, in := range inputs {
		scale := 1e-3
		for _, g := range analytic[i] {
			scale = max(scale, math.Abs(float64(g)))
		}
		for j := range in.Data() {
			saved := in.Data()[j]
			in.Data()[j] = saved + h
			up := loss()
			in.Data()[j] = saved - h
			down := loss()
			in.Data()[j] = saved
			fd := (up - down) / (2 * h)
			if d := math.Abs(fd - float64(analytic[i][j])); !(d <= tol*scale) {
				t.Fatalf("input %d element %d: backward %g, finite difference %g (error %.3g of %.3g)", i, j, analytic[i][j], fd, d, scale)
			}
		}
	}
}

// poison resets the tape and fills its free scratch buffers with NaN, so that an operation that
// leaves part of its result unwritten shows up as a NaN.
func poison(tp *Tape) {
	tp.Reset()
	for n := 1; n <= 1<<14; n *= 2 {
		for range 8 {
			tp.Scratch().GetUninit(n).Fill(float32(math.NaN()))
		}
	}
	tp.Reset()
}

func TestGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := func(shape ...int) *tensor.Tensor { return randomTensor(rng, 0, shape...) }
	cases := []struct {
		name   string
		inputs []*tensor.Tensor
		build  func(tp *Tape, in []*Var) *Var
	}{
		{"Linear", []*tensor.Tensor{r(2, 3, 5), r(4, 5), r(4)}, func(tp *Tape, in []*Var) *Var { return tp.Linear(in[0], in[1], in[2]) }},
		{"MLP", []*tensor.Tensor{r(2, 3, 5), r(4, 5), r(4), r(3, 4), r(3)}, func(tp *Tape, in []*Var) *Var { return tp.MLP(tp.Scale(in[0], 2), in[1], in[2], in[3], in[4]) }},
		{"MLP: no second bias", []*tensor.Tensor{r(3, 5), r(4, 5), r(4), r(2, 4)}, func(tp *Tape, in []*Var) *Var { return tp.MLP(in[0], in[1], in[2], in[3], nil) }},
		{"LinearNoBias", []*tensor.Tensor{r(7, 5), r(3, 5)}, func(tp *Tape, in []*Var) *Var { return tp.Linear(in[0], in[1], nil) }},
		{"AddBias", []*tensor.Tensor{r(3, 4), r(4)}, func(tp *Tape, in []*Var) *Var { return tp.AddBias(in[0], in[1]) }},
		{"AddBiasPositions", []*tensor.Tensor{r(2, 3, 4), r(1, 3, 4)}, func(tp *Tape, in []*Var) *Var { return tp.AddBias(in[0], in[1]) }},
		{"Add", []*tensor.Tensor{r(3, 4), r(3, 4)}, func(tp *Tape, in []*Var) *Var { return tp.Add(in[0], in[1]) }},
		{"AddSelf", []*tensor.Tensor{r(5)}, func(tp *Tape, in []*Var) *Var { return tp.Add(in[0], in[0]) }},
		// Add and AddBias hand their gradient buffer to an input that has none yet (passGrad); a
		// used again earlier on the tape then adds into that buffer.
		{"AddPassesGradient", []*tensor.Tensor{r(3, 4), r(3, 4), r(4)}, func(tp *Tape, in []*Var) *Var {
			a := tp.Scale(in[0], 2)
			c := tp.Mul(a, in[1])
			return tp.Add(tp.AddBias(a, in[2]), c)
		}},
		{"Mul", []*tensor.Tensor{r(3, 4), r(3, 4)}, func(tp *Tape, in []*Var) *Var { return tp.Mul(in[0], in[1]) }},
		{"Scale", []*tensor.Tensor{r(6)}, func(tp *Tape, in []*Var) *Var { return tp.Scale(in[0], -2.5) }},
		{"Sigmoid", []*tensor.Tensor{r(9)}, func(tp *Tape, in []*Var) *Var { return tp.Sigmoid(in[0]) }},
		{"Tanh", []*tensor.Tensor{r(9)}, func(tp *Tape, in []*Var) *Var { return tp.Tanh(in[0]) }},
		{"ReLU", []*tensor.Tensor{randomTensor(rng, 0.05, 9)}, func(tp *Tape, in []*Var) *Var { return tp.ReLU(in[0]) }},
		{"GELU", []*tensor.Tensor{r(2, 9)}, func(tp *Tape, in []*Var) *Var { return tp.GELU(tp.Scale(in[0], 3)) }},
		{"LayerNorm", []*tensor.Tensor{r(3, 7), r(7), r(7)}, func(tp *Tape, in []*Var) *Var { return tp.LayerNorm(in[0], in[1], in[2], 1e-6) }},
		{"L2Normalize", []*tensor.Tensor{r(3, 5)}, func(tp *Tape, in []*Var) *Var { return tp.L2Normalize(in[0], 1e-12) }},
		{"Sum", []*tensor.Tensor{r(3, 2)}, func(tp *Tape, in []*Var) *Var { return tp.Sum(in[0]) }},
		{"Mean", []*tensor.Tensor{r(3, 2)}, func(tp *Tape, in []*Var) *Var { return tp.Mean(in[0]) }},
		{"LogSumExp", []*tensor.Tensor{r(3, 5)}, func(tp *Tape, in []*Var) *Var { return tp.LogSumExp(tp.Scale(in[0], 4)) }},
		{"CrossEntropy", []*tensor.Tensor{r(4, 5)}, func(tp *Tape, in []*Var) *Var { return tp.CrossEntropy(tp.Scale(in[0], 3), []int{2, 0, 4, 2}) }},
		{"ConcatTokens", []*tensor.Tensor{r(1, 2, 3), r(2, 1, 3), r(2, 3, 3)}, func(tp *Tape, in []*Var) *Var { return tp.ConcatTokens(in[0], in[1], in[2]) }},
		{"SliceTokens", []*tensor.Tensor{r(2, 5, 3)}, func(tp *Tape, in []*Var) *Var { return tp.SliceTokens(in[0], 1, 4) }},
		{"GatherRows", []*tensor.Tensor{r(4, 2, 3)}, func(tp *Tape, in []*Var) *Var { return tp.GatherRows(in[0], []int{3, 0, 3}) }},
		{"ScatterRows", []*tensor.Tensor{r(5, 2, 3), r(2, 2, 3)}, func(tp *Tape, in []*Var) *Var { return tp.ScatterRows(in[0], []int{4, 1}, in[1]) }},
		{"Attention", []*tensor.Tensor{r(2, 5, 3*2*4)}, func(tp *Tape, in []*Var) *Var { return tp.Attention(tp.Scale(in[0], 2), 2) }},
		{"AttentionQueries", []*tensor.Tensor{r(2, 6, 3*2*4)}, func(tp *Tape, in []*Var) *Var { return tp.AttentionQueries(tp.Scale(in[0], 2), 2, 2, 5, kernels.FP32) }},
		{"PatchEmbed", []*tensor.Tensor{r(2, 2, 4, 6), r(3, 2, 2, 2), r(3)}, func(tp *Tape, in []*Var) *Var { return tp.PatchEmbed(in[0], in[1], in[2]) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { gradCheck(t, c.inputs, c.build, 2e-3) })
	}
}

// A frozen weight gets no gradient and costs no weight product; the input still gets one.
func TestFrozenParameters(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	x, w, b := Param(randomTensor(rng, 0, 4, 3)), Param(randomTensor(rng, 0, 2, 3)), Param(randomTensor(rng, 0, 2))
	w.SetRequiresGrad(false)
	tp := NewTape()
	tp.Backward(tp.Sum(tp.Linear(x, w, b)))
	if w.Grad() != nil {
		t.Error("frozen weight got a gradient")
	}
	if x.Grad() == nil || b.Grad() == nil {
		t.Fatal("input or bias got no gradient")
	}
	for j, g := range b.Grad().Data() {
		if g != 4 {
			t.Errorf("bias gradient %d = %v, want 4 (rows)", j, g)
		}
	}
}

func TestNoGradRecordsNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	x := Param(randomTensor(rng, 0, 3, 3))
	tp := NewTape()
	tp.SetNoGrad(true)
	y := tp.Sum(tp.Tanh(x))
	if y.RequiresGrad() || len(tp.backward) != 0 {
		t.Fatalf("no-grad mode recorded %d steps", len(tp.backward))
	}
	tp.Backward(y)
	if x.Grad() != nil {
		t.Fatal("no-grad mode produced a gradient")
	}
}

// Parameter gradients accumulate over backward passes until ZeroGrad; a second identical step
// after Reset reuses the tape's memory.
func TestGradientsAccumulateAndMemoryIsReused(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	x := Param(randomTensor(rng, 0, 8, 16))
	w := Param(randomTensor(rng, 0, 16, 16))
	tp := NewTape()
	step := func() {
		tp.Reset()
		tp.Backward(tp.Mean(tp.GELU(tp.Linear(x, w, nil))))
	}
	step()
	first := append([]float32(nil), w.Grad().Data()...)
	allocs := tp.Scratch().Stats().Allocations
	step()
	for i, g := range w.Grad().Data() {
		if math.Abs(float64(g-2*first[i])) > 1e-6*math.Abs(float64(first[i]))+1e-9 {
			t.Fatalf("gradient %d = %v after two passes, want %v", i, g, 2*first[i])
		}
	}
	if got := tp.Scratch().Stats().Allocations; got != allocs {
		t.Errorf("second step allocated %d new scratch buffers", got-allocs)
	}
	w.ZeroGrad()
	for _, g := range w.Grad().Data() {
		if g != 0 {
			t.Fatal("ZeroGrad left a non-zero gradient")
		}
	}
}

func TestShapeErrors(t *testing.T) {
	tp := NewTape()
	v := func(shape ...int) *Var { return Constant(tensor.New(shape...)) }
	cases := map[string]func(){
		"Linear: weight":     func() { tp.Linear(v(2, 3), v(4, 5), nil) },
		"Linear: bias":       func() { tp.Linear(v(2, 3), v(4, 3), v(3)) },
		"AddBias":            func() { tp.AddBias(v(2, 3), v(2)) },
		"Add: shapes":        func() { tp.Add(v(2, 3), v(3, 2)) },
		"ConcatTokens: part": func() { tp.ConcatTokens(v(2, 3, 4), v(2, 3, 5)) },
		"has batch 3":        func() { tp.ConcatTokens(v(2, 3, 4), v(3, 3, 4)) },
		"SliceTokens":        func() { tp.SliceTokens(v(2, 3, 4), 2, 4) },
		"GatherRows: idx[1]": func() { tp.GatherRows(v(3, 2), []int{0, 3}) },
		"Attention":          func() { tp.Attention(v(2, 3, 10), 2) },
		"query tokens 2:4":   func() { tp.AttentionQueries(v(2, 3, 12), 2, 2, 4, kernels.FP32) },
		"PatchEmbed":         func() { tp.PatchEmbed(v(1, 3, 8, 8), v(4, 3, 3, 3), nil) },
		"Backward":           func() { tp.Backward(v(2)) },
	}
	for want, f := range cases {
		t.Run(want, func(t *testing.T) {
			defer func() {
				if msg := fmt.Sprint(recover()); !strings.Contains(msg, want) {
					t.Fatalf("panic %q, want one mentioning %q", msg, want)
				}
			}()
			f()
		})
	}
}

// Free gives back what backward does not need at once and the rest after backward has used it;
// Backward gives back the gradients of results.
func TestFreeAndBackwardReleaseMemory(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	x := Param(randomTensor(rng, 0, 4, 8))
	w := Constant(randomTensor(rng, 0, 8, 8))
	tp := NewTape()
	inUse := func() int { return tp.Scratch().Stats().InUse }

	h := tp.Linear(x, w, nil) // frozen weight: backward does not read x or h
	g := tp.GELU(h)           // backward reads h
	before := inUse()
	tp.Free(h)
	if inUse() != before {
		t.Fatal("Free released a value that GELU's backward reads")
	}
	y := tp.Tanh(g) // backward reads y, not g
	tp.Free(g)
	if inUse() != before { // y came, g went
		t.Fatalf("Free kept a value no backward step reads (%d in use, want %d)", inUse(), before)
	}
	loss := tp.Sum(y)
	tp.Free(y)
	tp.Backward(loss)
	// Left: loss (not freed by the caller). Everything else went back during Backward.
	if got := inUse(); got != 1 {
		t.Errorf("%d scratch buffers in use after Backward, want 1 (the loss)", got)
	}
	if x.Grad() == nil {
		t.Fatal("no gradient for x")
	}

	tp.Reset()
	tp.SetNoGrad(true)
	h = tp.Linear(x, w, nil)
	g = tp.GELU(h)
	tp.Free(h)
	if got := inUse(); got != 1 {
		t.Errorf("without recording, Free kept %d buffers, want 1 (g)", got)
	}
}
