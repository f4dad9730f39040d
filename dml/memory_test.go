package dml

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/tensor"
)

func unit(v ...float64) []float64 {
	n := 0.0
	for _, x := range v {
		n += x * x
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x / math.Sqrt(n)
	}
	return out
}

func near(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	for i, w := range want {
		if math.Abs(float64(got[i])-w) > tol {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], w)
		}
	}
}

// EMA by hand: class 2 has samples 0 and 2, class 0 sample 1.
func TestClassMemoryEMA(t *testing.T) {
	m := &ClassMemory{P: tensor.FromSlice([]float32{1, 0, 0, 1, 0.6, 0.8}, 3, 2), Update: UpdateEMA, Kappa: 0.8}
	sem := autodiff.Param(tensor.FromSlice([]float32{1, 1, 0, 2, 3, -1}, 3, 2))
	tp := autodiff.NewTape()
	classes, rows := m.Advance(tp, sem, []int{2, 0, 2}, 0)
	if len(classes) != 2 || classes[0] != 2 || classes[1] != 0 {
		t.Fatalf("classes %v, want [2 0]", classes)
	}
	// class 2: 0.8*(0.6, 0.8) + 0.2*mean((1,1), (3,-1)) = (0.48+0.4, 0.64+0) = (0.88, 0.64)
	near(t, "class 2", rows.Value.Row(0).Data(), unit(0.88, 0.64), 1e-6)
	// class 0: 0.8*(1, 0) + 0.2*(0, 2) = (0.8, 0.4)
	near(t, "class 0", rows.Value.Row(1).Data(), unit(0.8, 0.4), 1e-6)
	tp.Backward(tp.Sum(rows))
	if sem.Grad() == nil {
		t.Fatal("no gradient to the semantic proxies")
	}
	m.Commit(classes, rows)
	near(t, "memory of class 0", m.P.Row(0).Data(), unit(0.8, 0.4), 1e-6)
	near(t, "memory of class 1", m.P.Row(1).Data(), []float64{0, 1}, 0)
}

// The batched GRU update equals running the cell sample by sample for each class, including
// classes with different sample counts.
func TestClassMemoryGRU(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const classes, dim = 4, 5
	cell := nn.NewGRUProxyCell(dim, nn.CandidateReLU)
	for _, p := range cell.Parameters() {
		for i := range p.Var.Value.Data() {
			p.Var.Value.Data()[i] = float32(rng.NormFloat64() * 0.4)
		}
	}
	m := NewClassMemory(classes, dim, UpdateGRU, false, rng)
	m.Cell = cell
	labels := []int{3, 1, 3, 1, 3, 0}
	sem := tensor.New(len(labels), dim)
	for i := range sem.Data() {
		sem.Data()[i] = float32(rng.NormFloat64())
	}
	tp := autodiff.NewTape()
	semVar := autodiff.Param(sem)
	got, rows := m.Advance(tp, semVar, labels, 0)
	for i, c := range got {
		ref := autodiff.NewTape()
		h := autodiff.Constant(m.P.Row(c).Clone().Reshape(1, dim))
		for b, l := range labels {
			if l == c {
				h = cell.Step(ref, autodiff.Constant(sem.Row(b).Clone().Reshape(1, dim)), h)
			}
		}
		want := ref.L2Normalize(h, 1e-12).Value.Data()
		w := make([]float64, dim)
		for j := range w {
			w[j] = float64(want[j])
		}
		near(t, "class row", rows.Value.Row(i).Data(), w, 1e-6)
	}
	tp.Backward(tp.Sum(rows))
	if semVar.Grad() == nil || cell.Wz.Grad() == nil {
		t.Fatal("no gradient to the proxies or the cell")
	}
}

// Q = L2((1-alpha) P + alpha O) with the batch's rows replaced.
func TestProxies(t *testing.T) {
	m := &ClassMemory{P: tensor.FromSlice([]float32{1, 0, 0, 1}, 2, 2)}
	rows := autodiff.Param(tensor.FromSlice([]float32{0.6, 0.8}, 1, 2))
	bias := autodiff.Param(tensor.FromSlice([]float32{0, 1, 1, 0}, 2, 2))
	tp := autodiff.NewTape()
	q := Proxies(tp, m, []int{1}, rows, bias, 0.5)
	near(t, "class 0", q.Value.Row(0).Data(), unit(0.5, 0.5), 1e-6)
	near(t, "class 1", q.Value.Row(1).Data(), unit(0.8, 0.4), 1e-6)
	tp.Backward(tp.Sum(q))
	if rows.Grad() == nil || bias.Grad() == nil {
		t.Fatal("no gradient to the advanced rows or the bias")
	}
}

// With dropout the GRU's every new state is masked, the masked state goes on through the cell,
// and the memory keeps it (normalised): a reference run of the cell by hand with the same masks.
func TestClassMemoryGRUDropout(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const classes, dim, rate, step = 4, 64, 0.3, 5
	cell := nn.NewGRUProxyCell(dim, nn.CandidateReLU)
	cell.Mix = nn.MixReleased
	for _, p := range cell.Parameters() {
		for i := range p.Var.Value.Data() {
			p.Var.Value.Data()[i] = float32(rng.NormFloat64() * 0.2)
		}
	}
	m := NewClassMemory(classes, dim, UpdateGRU, true, rng)
	m.Cell, m.Dropout, m.DropoutSeed = cell, rate, 99
	labels := []int{3, 3, 1, 1, 0, 0}
	sem := tensor.New(len(labels), dim)
	for i := range sem.Data() {
		sem.Data()[i] = float32(rng.NormFloat64())
	}
	got, rows := m.Advance(autodiff.NewTape(), autodiff.Constant(sem), labels, step)
	zeros := 0
	for i, c := range got {
		ref := autodiff.NewTape()
		h := autodiff.Constant(m.P.Row(c).Clone().Reshape(1, dim))
		time := 0
		for b, l := range labels {
			if l != c {
				continue
			}
			h = cell.Step(ref, autodiff.Constant(sem.Row(b).Clone().Reshape(1, dim)), h)
			mask := make([]float32, dim)
			dropoutMask(mask, 99, step, time, i*dim, rate)
			h = ref.Mul(h, autodiff.Constant(tensor.FromSlice(mask, 1, dim)))
			time++
		}
		want := ref.L2Normalize(h, 1e-12).Value.Data()
		w := make([]float64, dim)
		for j := range w {
			w[j] = float64(want[j])
			if want[j] == 0 {
				zeros++
			}
		}
		near(t, "class row", rows.Value.Row(i).Data(), w, 1e-6)
	}
	if zeros == 0 {
		t.Error("no element of the kept states was dropped")
	}
}

// The dropout mask drops about the rate's share, scales the rest by 1/(1-rate), is the same
// for the same key and differs from step to step and from one time index to the next.
func TestDropoutMask(t *testing.T) {
	const n, rate = 100000, 0.1
	a, b, c, again := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	dropoutMask(a, 1, 2, 0, 0, rate)
	dropoutMask(again, 1, 2, 0, 0, rate)
	dropoutMask(b, 1, 3, 0, 0, rate)
	dropoutMask(c, 1, 2, 1, 0, rate)
	if !equal(a, again) {
		t.Fatal("the same key gave two masks")
	}
	if equal(a, b) || equal(a, c) {
		t.Fatal("another step or time index gave the same mask")
	}
	dropped := 0
	for _, v := range a {
		switch v {
		case 0:
			dropped++
		case float32(1 / (1 - rate)):
		default:
			t.Fatalf("mask value %v, want 0 or %v", v, 1/(1-rate))
		}
	}
	// A binomial share: 10% +- 5 standard deviations (0.095%).
	if share := float64(dropped) / n; math.Abs(share-rate) > 5*math.Sqrt(rate*(1-rate)/n) {
		t.Errorf("dropped %.4f of the elements, want about %v", share, rate)
	}
	// A window starting at element first is the tail of the whole row's mask.
	tail := make([]float32, 10)
	dropoutMask(tail, 1, 2, 0, 90, rate)
	if !equal(tail, a[90:100]) {
		t.Error("the mask of elements 90.. depends on where the window starts")
	}
}
