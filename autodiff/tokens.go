package autodiff

import (
	"fmt"

	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/tensor"
)

// ConcatTokens joins sequences along the token axis: each part is [B, n_i, D] or [1, n_i, D],
// the latter shared by every sequence of the batch (a class token, prompts); the result is
// [B, sum n_i, D]. A shared part's gradient is the sum over the batch. It panics if there are
// no parts, if a part is not three-dimensional, or if the parts differ in width or in a batch
// size other than 1.
func (tp *Tape) ConcatTokens(parts ...*Var) *Var {
	batch, tokens, dim := concatShape(parts)
	y := tp.result(parts, batch, tokens, dim)
	yd := y.Value.Data()
	for b := range batch {
		at := b * tokens * dim
		for _, p := range parts {
			at += copy(yd[at:], sequence(p.Value, b))
		}
	}
	tp.record(y, func() {
		dy := y.grad.Data()
		for b := range batch {
			at := b * tokens * dim
			for _, p := range parts {
				n := p.Value.Dim(1) * dim
				if needs(p) {
					accumulate(sequence(tp.gradOf(p), b), dy[at:at+n])
				}
				at += n
			}
		}
	})
	return y
}

// sequence is sequence b of a [B, n, D] tensor, or its only sequence when B is 1.
func sequence(t *tensor.Tensor, b int) []float32 {
	if t.Dim(0) == 1 {
		b = 0
	}
	n := t.Stride(0)
	return t.Data()[b*n : (b+1)*n]
}

// concatShape checks the parts of ConcatTokens and returns the result's batch, token count
// and width.
func concatShape(parts []*Var) (batch, tokens, dim int) {
	if len(parts) == 0 {
		panic("autodiff: ConcatTokens: no parts")
	}
	batch, dim = 1, -1
	for i, p := range parts {
		s := p.Shape()
		if len(s) != 3 {
			panic(fmt.Sprintf("autodiff: ConcatTokens: part %d has shape %v, want [B, n, D]", i, s))
		}
		if dim >= 0 && s[2] != dim {
			panic(fmt.Sprintf("autodiff: ConcatTokens: part %d has width %d, want %d", i, s[2], dim))
		}
		dim = s[2]
		if s[0] != 1 {
			if batch != 1 && s[0] != batch {
				panic(fmt.Sprintf("autodiff: ConcatTokens: part %d has batch %d, others %d", i, s[0], batch))
			}
			batch = s[0]
		}
		tokens += s[1]
	}
	return batch, tokens, dim
}

// SliceTokens returns tokens lo..hi-1 of every sequence of x: x is [B, N, D], the result
// [B, hi-lo, D]. It panics if x is not three-dimensional or unless 0 <= lo <= hi <= N.
func (tp *Tape) SliceTokens(x *Var, lo, hi int) *Var {
	s := x.Shape()
	if len(s) != 3 || lo < 0 || hi < lo || hi > s[1] {
		panic(fmt.Sprintf("autodiff: SliceTokens: tokens [%d:%d] of shape %v", lo, hi, s))
	}
	batch, n, dim := s[0], s[1], s[2]
	y := tp.result([]*Var{x}, batch, hi-lo, dim)
	yd, xd := y.Value.Data(), x.Value.Data()
	width := (hi - lo) * dim
	for b := range batch {
		copy(yd[b*width:(b+1)*width], xd[(b*n+lo)*dim:])
	}
	tp.record(y, func() {
		dx, dy := tp.gradOf(x).Data(), y.grad.Data()
		for b := range batch {
			accumulate(dx[(b*n+lo)*dim:(b*n+hi)*dim], dy[b*width:(b+1)*width])
		}
	})
	return y
}

// GatherRows returns rows idx of table along its leading axis: table is [C, ...], the result
// [len(idx), ...]. Rows that repeat in idx add their gradients. It panics if table is a scalar
// or if an index is outside [0, C), naming the index.
func (tp *Tape) GatherRows(table *Var, idx []int) *Var {
	s := table.Shape()
	if len(s) == 0 {
		panic("autodiff: GatherRows: scalar table")
	}
	for i, r := range idx {
		if r < 0 || r >= s[0] {
			panic(fmt.Sprintf("autodiff: GatherRows: idx[%d] = %d out of range for %d rows", i, r, s[0]))
		}
	}
	n := table.Value.Stride(0)
	s[0] = len(idx)
	y := tp.result([]*Var{table}, s...)
	yd, td := y.Value.Data(), table.Value.Data()
	for i, r := range idx {
		copy(yd[i*n:(i+1)*n], td[r*n:(r+1)*n])
	}
	tp.record(y, func() {
		dt, dy := tp.gradOf(table).Data(), y.grad.Data()
		for i, r := range idx {
			accumulate(dt[r*n:(r+1)*n], dy[i*n:(i+1)*n])
		}
	})
	return y
}

// Reshape returns x with a new shape of the same element count; the result shares x's values,
// which therefore stay allocated until Reset. A dimension of -1 is inferred. It panics as
// tensor.Tensor.Reshape does: if shape does not hold x's number of elements or is malformed
// (a negative dimension other than a single -1, or a -1 that cannot be inferred).
func (tp *Tape) Reshape(x *Var, shape ...int) *Var {
	v := x.Value.Reshape(shape...)
	y := &Var{Value: v, requiresGrad: x.requiresGrad && !tp.noGrad}
	if x.owned {
		x.holds++ // y shares x's storage: keep it until Reset
	}
	tp.record(y, func() { tp.addGrad(x, y.grad.Data()) })
	return y
}

// ScatterRows returns base with its rows idx replaced by the rows of values: base is [C, ...],
// values [len(idx), ...] with the same trailing shape. The gradient of a replaced row goes to
// values, that of every other row to base. It panics if base or values is a scalar, if values
// does not have len(idx) rows or its rows differ in size from base's, or if an index is outside
// [0, C) or repeats, naming the index.
func (tp *Tape) ScatterRows(base *Var, idx []int, values *Var) *Var {
	bs, vs := base.Shape(), values.Shape()
	if len(bs) == 0 || len(vs) == 0 || vs[0] != len(idx) || base.Value.Stride(0) != values.Value.Stride(0) {
		panic(fmt.Sprintf("autodiff: ScatterRows: base %v, values %v for %d rows", bs, vs, len(idx)))
	}
	replaced := make(map[int]bool, len(idx))
	for i, r := range idx {
		if r < 0 || r >= bs[0] || replaced[r] {
			panic(fmt.Sprintf("autodiff: ScatterRows: idx[%d] = %d is out of range for %d rows or repeated", i, r, bs[0]))
		}
		replaced[r] = true
	}
	n := base.Value.Stride(0)
	y := tp.result([]*Var{base, values}, bs...)
	yd, vd := y.Value.Data(), values.Value.Data()
	kernels.Copy(yd, base.Value.Data())
	for i, r := range idx {
		copy(yd[r*n:(r+1)*n], vd[i*n:(i+1)*n])
	}
	tp.record(y, func() {
		dy := y.grad.Data()
		if needs(values) {
			dv, fresh := tp.freshGrad(values)
			for i, r := range idx {
				store(dv.Data()[i*n:(i+1)*n], dy[r*n:(r+1)*n], fresh)
			}
		}
		if needs(base) {
			db := tp.gradOf(base).Data()
			for r := range bs[0] {
				if !replaced[r] {
					accumulate(db[r*n:(r+1)*n], dy[r*n:(r+1)*n])
				}
			}
		}
	})
	return y
}
