package dml

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/tensor"
)

// MemoryUpdate is how a class memory absorbs a step's semantic proxies.
type MemoryUpdate int

const (
	// UpdateEMA is VPTSP-M: P_c <- L2(kappa P_c + (1 - kappa) mean of the class's proxies).
	UpdateEMA MemoryUpdate = iota
	// UpdateGRU is VPTSP-G: the GRU cell runs over the class's proxies in batch order from
	// P_c, then L2.
	UpdateGRU
)

// ClassMemory is the class memory P [C, E] of the semantic proxies: a plain buffer, not a
// parameter, that starts as random unit vectors and changes once per step for the classes in
// the batch. Within a step the updated rows are differentiable functions of the step's
// semantic proxies (and of the GRU cell); across steps nothing is: Commit stores the values
// only.
type ClassMemory struct {
	P      *tensor.Tensor // [C, E], unit rows
	Update MemoryUpdate
	Kappa  float32          // UpdateEMA: the weight of the old memory (0.8 in the paper)
	Cell   *nn.GRUProxyCell // UpdateGRU: the cell, whose parameters are trained
}

// NewClassMemory returns a memory of classes random unit vectors of width dim.
func NewClassMemory(classes, dim int, update MemoryUpdate, rng *rand.Rand) *ClassMemory {
	p := tensor.New(classes, dim)
	for c := range classes {
		row := p.Row(c).Data()
		norm := 0.0
		for i := range row {
			row[i] = float32(rng.NormFloat64())
			norm += float64(row[i]) * float64(row[i])
		}
		for i := range row {
			row[i] = float32(float64(row[i]) / math.Sqrt(norm))
		}
	}
	return &ClassMemory{P: p, Update: update, Kappa: 0.8}
}

// groups lists the classes of a batch in order of first appearance and, for each, the
// positions of its samples in batch order.
type groups struct {
	classes []int
	members [][]int
}

func groupByClass(labels []int, classes int) groups {
	var g groups
	at := map[int]int{}
	for b, l := range labels {
		if l < 0 || l >= classes {
			panic(fmt.Sprintf("dml: labels[%d] = %d, want a class in [0, %d)", b, l, classes))
		}
		i, ok := at[l]
		if !ok {
			i = len(g.classes)
			at[l] = i
			g.classes = append(g.classes, l)
			g.members = append(g.members, nil)
		}
		g.members[i] = append(g.members[i], b)
	}
	return g
}

// Advance returns the batch's classes (in order of first appearance) and their updated memory
// rows [n, E], unit vectors, computed from the semantic proxies sem [B, E] of the batch
// (labels[b] is the class of row b). The memory is unchanged until Commit.
func (m *ClassMemory) Advance(tp *autodiff.Tape, sem *autodiff.Var, labels []int) ([]int, *autodiff.Var) {
	if sem.Value.Dims() != 2 || sem.Value.Dim(0) != len(labels) || sem.Value.Dim(1) != m.P.Dim(1) {
		panic(fmt.Sprintf("dml: ClassMemory.Advance: proxies %v for %d labels and a memory of width %d", sem.Shape(), len(labels), m.P.Dim(1)))
	}
	g := groupByClass(labels, m.P.Dim(0))
	old := tensor.New(len(g.classes), m.P.Dim(1))
	for i, c := range g.classes {
		copy(old.Row(i).Data(), m.P.Row(c).Data())
	}
	h := autodiff.Constant(old)
	switch m.Update {
	case UpdateEMA:
		mean := segmentMean(tp, sem, g.members)
		h = tp.Add(tp.Scale(h, m.Kappa), tp.Scale(mean, 1-m.Kappa))
	case UpdateGRU:
		h = m.runGRU(tp, sem, g, h)
	default:
		panic(fmt.Sprintf("dml: ClassMemory: unknown update %d", m.Update))
	}
	return g.classes, tp.L2Normalize(h, 1e-12)
}

// runGRU advances each class's state h (row i for g.classes[i]) through the cell once per
// sample of the class, in batch order; classes with fewer samples stop early.
func (m *ClassMemory) runGRU(tp *autodiff.Tape, sem *autodiff.Var, g groups, h *autodiff.Var) *autodiff.Var {
	if m.Cell == nil {
		panic("dml: ClassMemory: UpdateGRU without a cell")
	}
	for t := 0; ; t++ {
		var active, samples []int
		for i, mem := range g.members {
			if t < len(mem) {
				active = append(active, i)
				samples = append(samples, mem[t])
			}
		}
		if len(active) == 0 {
			return h
		}
		p := tp.GatherRows(sem, samples)
		if len(active) == len(g.classes) {
			h = m.Cell.Step(tp, p, h)
			continue
		}
		h = tp.ScatterRows(h, active, m.Cell.Step(tp, p, tp.GatherRows(h, active)))
	}
}

// Commit stores the rows Advance returned into the memory, as plain values.
func (m *ClassMemory) Commit(classes []int, rows *autodiff.Var) {
	for i, c := range classes {
		copy(m.P.Row(c).Data(), rows.Value.Row(i).Data())
	}
}

// segmentMean returns the mean of the rows of x in each group: x is [B, E], the result
// [len(members), E].
func segmentMean(tp *autodiff.Tape, x *autodiff.Var, members [][]int) *autodiff.Var {
	e := x.Value.Dim(1)
	y := tp.NewResult([]*autodiff.Var{x}, len(members), e)
	xd, yd := x.Value.Data(), y.Value.Data()
	for i, mem := range members {
		row := yd[i*e : (i+1)*e]
		clear(row)
		for _, b := range mem {
			for j, v := range xd[b*e : (b+1)*e] {
				row[j] += v
			}
		}
		inv := 1 / float32(len(mem))
		for j := range row {
			row[j] *= inv
		}
	}
	tp.Record(y, func() {
		dy := y.Grad().Data()
		dx := make([]float32, len(xd))
		for i, mem := range members {
			inv := 1 / float32(len(mem))
			for _, b := range mem {
				for j, v := range dy[i*e : (i+1)*e] {
					dx[b*e+j] += v * inv
				}
			}
		}
		tp.AddGrad(x, dx)
	})
	return y
}

// Proxies returns the proxies of the loss, Q = L2((1 - alpha) P + alpha O) [C, E], where P is
// the memory with the batch's classes replaced by their advanced rows and O is the learnable
// proxy bias [C, E].
func Proxies(tp *autodiff.Tape, memory *ClassMemory, classes []int, rows, bias *autodiff.Var, alpha float32) *autodiff.Var {
	p := tp.ScatterRows(autodiff.Constant(memory.P), classes, rows)
	return tp.L2Normalize(tp.Add(tp.Scale(p, 1-alpha), tp.Scale(bias, alpha)), 1e-12)
}

// NewProxyBias returns the learnable proxy bias O [C, E], initialised as the released code
// does: Xavier-uniform divided by 8.
func NewProxyBias(classes, dim int, rng *rand.Rand) *autodiff.Var {
	o := tensor.New(classes, dim)
	nn.XavierUniform(o, dim, classes, 1.0/8, rng)
	return autodiff.Param(o)
}
