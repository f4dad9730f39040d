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
	// Dropout is the rate of the dropout on every new GRU state (UpdateGRU); the dropped state
	// goes on through the cell and into the memory. Its mask is a hash of DropoutSeed, the
	// step, the time index and the element (see dropoutMask): the same on every machine, and
	// after a resume, with no random state to keep.
	Dropout     float64
	DropoutSeed uint64
}

// NewClassMemory returns a memory of classes random unit vectors of width dim: normal
// directions, or with xavier true the released code's xavier-uniform rows (fan in dim, fan out
// classes), L2-normalised.
func NewClassMemory(classes, dim int, update MemoryUpdate, xavier bool, rng *rand.Rand) *ClassMemory {
	p := tensor.New(classes, dim)
	if xavier {
		nn.XavierUniform(p, dim, classes, 1, rng)
	}
	for c := range classes {
		row := p.Row(c).Data()
		norm := 0.0
		for i := range row {
			if !xavier {
				row[i] = float32(rng.NormFloat64())
			}
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
// (labels[b] is the class of row b) at training step step (0-based, counted over the whole
// run; it keys the GRU dropout). The memory is unchanged until Commit. It panics if sem is not
// [len(labels), E] for the memory's width E, if a label is outside [0, C), or if Update is
// UpdateGRU without a Cell or an unknown update.
func (m *ClassMemory) Advance(tp *autodiff.Tape, sem *autodiff.Var, labels []int, step int) ([]int, *autodiff.Var) {
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
		h = m.runGRU(tp, sem, g, h, step)
	default:
		panic(fmt.Sprintf("dml: ClassMemory: unknown update %d", m.Update))
	}
	return g.classes, tp.L2Normalize(h, 1e-12)
}

// runGRU advances each class's state h (row i for g.classes[i]) through the cell once per
// sample of the class, in batch order; classes with fewer samples stop early. Each new state
// goes through the dropout.
func (m *ClassMemory) runGRU(tp *autodiff.Tape, sem *autodiff.Var, g groups, h *autodiff.Var, step int) *autodiff.Var {
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
			h = m.dropout(tp, m.Cell.Step(tp, p, h), step, t, active)
			continue
		}
		h = tp.ScatterRows(h, active, m.dropout(tp, m.Cell.Step(tp, p, tp.GatherRows(h, active)), step, t, active))
	}
}

// dropout applies the GRU dropout to the new states h [len(rows), E] of time index t: row i
// of h is the state of the batch's class rows[i].
func (m *ClassMemory) dropout(tp *autodiff.Tape, h *autodiff.Var, step, t int, rows []int) *autodiff.Var {
	if m.Dropout == 0 {
		return h
	}
	e := h.Value.Dim(1)
	mask := tensor.New(len(rows), e)
	for i, r := range rows {
		dropoutMask(mask.Row(i).Data(), m.DropoutSeed, step, t, r*e, m.Dropout)
	}
	return tp.Mul(h, autodiff.Constant(mask))
}

// dropoutMask fills mask with inverted-dropout factors at rate p: 0 for a dropped element,
// 1/(1-p) for a kept one. Element j is dropped when the top 24 bits of
// splitmix64(splitmix64(splitmix64(splitmix64(seed) ^ step) ^ t) ^ (first + j)), read as a
// fraction, are below p. testdata/golden's reference trainer computes the same mask.
func dropoutMask(mask []float32, seed uint64, step, t, first int, p float64) {
	keep := float32(1 / (1 - p))
	base := splitmix64(splitmix64(splitmix64(seed)^uint64(step)) ^ uint64(t))
	for j := range mask {
		u := float64(splitmix64(base^uint64(first+j))>>40) / (1 << 24)
		mask[j] = 0
		if u >= p {
			mask[j] = keep
		}
	}
}

// splitmix64 is the output function of the SplitMix64 generator: a bijective mix of x.
func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// Commit stores the rows Advance returned into the memory, as plain values. It panics if a class
// is outside [0, C) or rows has fewer rows than classes.
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
// proxy bias [C, E]. It panics if rows is not [len(classes), E], a class is outside [0, C), or
// bias is not [C, E] (see autodiff.Tape.ScatterRows and Add).
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
