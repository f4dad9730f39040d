package tensor

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/semprox/semprox/kernels"
)

// Tensor is a dense float32 tensor with contiguous row-major storage: the element at index
// (i0, i1, ..., ik) lives at Data()[i0*Stride(0) + i1*Stride(1) + ... + ik*Stride(k)].
//
// A tensor with no dimensions is a scalar holding one element. A tensor with a zero-sized
// dimension is empty and holds no elements.
//
// The zero value is not a valid tensor; create tensors with [New], [FromSlice], [Wrap] or
// [Scratch.Get]. Several tensors may share storage (see [Tensor.Row], [Tensor.Slice],
// [Tensor.Reshape] and [Wrap]); writing through one is visible through all of them.
type Tensor struct {
	shape []int     // dimensions; never aliased by callers
	data  []float32 // exactly numElements(shape) long, row-major
}

// numElements returns the product of shape, panicking (attributed to op) on a negative
// dimension or on overflow. It takes care not to let shape escape, so variadic callers
// can keep their argument array on the stack.
func numElements(op string, shape []int) int {
	n := 1
	for i, d := range shape {
		if d < 0 {
			panicNegativeDim(op, i, d)
		}
		if d != 0 && n > math.MaxInt/d {
			panicOverflow(op, i)
		}
		n *= d
	}
	return n
}

func panicNegativeDim(op string, i, d int) {
	panic(fmt.Sprintf("tensor: %s: dimension %d is %d", op, i, d))
}

func panicOverflow(op string, i int) {
	panic(fmt.Sprintf("tensor: %s: element count overflows int at dimension %d", op, i))
}

// cloneShape returns a fresh copy of shape (never nil, so scalars have an empty shape).
func cloneShape(shape []int) []int {
	return append(make([]int, 0, len(shape)), shape...)
}

// New returns a zeroed tensor of the given shape whose storage is freshly allocated and
// 64-byte aligned. New() with no dimensions returns a scalar with one element; a zero-sized
// dimension gives an empty tensor.
//
// New panics if a dimension is negative (the message names the dimension index and value)
// or if the element count overflows int.
func New(shape ...int) *Tensor {
	n := numElements("New", shape)
	return &Tensor{shape: cloneShape(shape), data: kernels.AlignedFloat32s(n)}
}

// FromSlice returns a tensor of the given shape holding a copy of data in freshly allocated,
// 64-byte aligned storage. The result does not alias data.
//
// FromSlice panics if a dimension is negative or if len(data) differs from the product of
// shape.
func FromSlice(data []float32, shape ...int) *Tensor {
	n := numElements("FromSlice", shape)
	if len(data) != n {
		panic(fmt.Sprintf("tensor: FromSlice: len(data) = %d does not match shape %v (%d elements)",
			len(data), append([]int(nil), shape...), n))
	}
	t := &Tensor{shape: cloneShape(shape), data: kernels.AlignedFloat32s(n)}
	copy(t.data, data)
	return t
}

// Wrap returns a tensor of the given shape that uses data as its storage without copying:
// writes through the tensor modify data and vice versa. data need not be aligned, so
// kernels that require alignment must check [kernels.IsAligned] on Wrap-ed storage.
//
// Wrap panics if a dimension is negative or if len(data) differs from the product of shape.
func Wrap(data []float32, shape ...int) *Tensor {
	n := numElements("Wrap", shape)
	if len(data) != n {
		panic(fmt.Sprintf("tensor: Wrap: len(data) = %d does not match shape %v (%d elements)",
			len(data), append([]int(nil), shape...), n))
	}
	return &Tensor{shape: cloneShape(shape), data: data}
}

// Shape returns a copy of the tensor's dimensions; modifying it does not affect the tensor.
// A scalar has an empty (non-nil) shape.
func (t *Tensor) Shape() []int { return cloneShape(t.shape) }

// Dims returns the number of dimensions (0 for a scalar).
func (t *Tensor) Dims() int { return len(t.shape) }

// Dim returns the size of axis i. It panics if i is not in [0, Dims()).
func (t *Tensor) Dim(i int) int {
	t.checkAxis("Dim", i)
	return t.shape[i]
}

// Len returns the number of elements: the product of the shape (1 for a scalar).
func (t *Tensor) Len() int { return len(t.data) }

// Data returns the tensor's backing storage, exactly Len() long, in row-major order. The
// slice is shared, not copied: writes through it modify the tensor and every tensor sharing
// its storage. Its capacity is clamped to Len(), so appending to it never overwrites
// neighbouring storage.
func (t *Tensor) Data() []float32 { return t.data[:len(t.data):len(t.data)] }

// Stride returns the row-major element stride of axis i: the product of the sizes of the
// axes after i (1 for the last axis). It panics if i is not in [0, Dims()).
func (t *Tensor) Stride(i int) int {
	t.checkAxis("Stride", i)
	s := 1
	for _, d := range t.shape[i+1:] {
		s *= d
	}
	return s
}

func (t *Tensor) checkAxis(op string, i int) {
	if i < 0 || i >= len(t.shape) {
		panic(fmt.Sprintf("tensor: %s: axis %d out of range for %d-dim tensor %v", op, i, len(t.shape), t.shape))
	}
}

// rowLen returns the number of elements in one index of the leading axis, panicking
// (attributed to op) on a scalar.
func (t *Tensor) rowLen(op string) int {
	if len(t.shape) == 0 {
		panic(fmt.Sprintf("tensor: %s: scalar tensor has no leading axis", op))
	}
	n := 1
	for _, d := range t.shape[1:] {
		n *= d
	}
	return n
}

// Row returns a view of index i along the leading axis, with shape Shape()[1:]. The view
// shares storage with t. Row panics on a scalar or if i is not in [0, Dim(0)); the message
// names i and the axis length.
func (t *Tensor) Row(i int) *Tensor {
	rl := t.rowLen("Row")
	if i < 0 || i >= t.shape[0] {
		panic(fmt.Sprintf("tensor: Row: index %d out of range for leading axis of length %d", i, t.shape[0]))
	}
	return &Tensor{shape: cloneShape(t.shape[1:]), data: t.data[i*rl : (i+1)*rl]}
}

// Slice returns a view of rows lo through hi-1 along the leading axis, with shape
// [hi-lo, Shape()[1:]...]. The view shares storage with t. Slice panics on a scalar or
// unless 0 <= lo <= hi <= Dim(0); the message names the range and the axis length.
func (t *Tensor) Slice(lo, hi int) *Tensor {
	rl := t.rowLen("Slice")
	if lo < 0 || hi < lo || hi > t.shape[0] {
		panic(fmt.Sprintf("tensor: Slice: range [%d:%d] out of bounds for leading axis of length %d", lo, hi, t.shape[0]))
	}
	shape := cloneShape(t.shape)
	shape[0] = hi - lo
	return &Tensor{shape: shape, data: t.data[lo*rl : hi*rl]}
}

// Reshape returns a view of t with a new shape holding the same number of elements; the
// view shares storage with t (row-major order is preserved). At most one dimension may be
// -1, in which case it is inferred from the element count.
//
// Reshape panics if more than one dimension is -1, if any other dimension is negative, if
// a -1 cannot be inferred (the other dimensions multiply to zero or do not divide Len()),
// or if the element counts differ.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	n := len(t.data)
	infer := -1
	rest := 1
	for i, d := range shape {
		switch {
		case d == -1:
			if infer >= 0 {
				panic(fmt.Sprintf("tensor: Reshape: more than one -1 in shape %v", append([]int(nil), shape...)))
			}
			infer = i
		case d < 0:
			panicNegativeDim("Reshape", i, d)
		default:
			if d != 0 && rest > math.MaxInt/d {
				panicOverflow("Reshape", i)
			}
			rest *= d
		}
	}
	out := cloneShape(shape)
	if infer >= 0 {
		if rest == 0 || n%rest != 0 {
			panic(fmt.Sprintf("tensor: Reshape: cannot infer -1 in shape %v from %d elements of %v", out, n, t.shape))
		}
		out[infer] = n / rest
	} else if rest != n {
		panic(fmt.Sprintf("tensor: Reshape: shape %v has %d elements, tensor %v has %d", out, rest, t.shape, n))
	}
	return &Tensor{shape: out, data: t.data}
}

// Clone returns a copy of t in freshly allocated, 64-byte aligned storage that shares
// nothing with t.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{shape: cloneShape(t.shape), data: kernels.AlignedFloat32s(len(t.data))}
	copy(c.data, t.data)
	return c
}

// Zero sets every element to 0.
func (t *Tensor) Zero() { clear(t.data) }

// Fill sets every element to v.
func (t *Tensor) Fill(v float32) {
	for i := range t.data {
		t.data[i] = v
	}
}

// CopyFrom copies the elements of src into t. The shapes must be identical (not merely the
// same element count), otherwise CopyFrom panics naming both shapes. src may share storage
// with t, even overlapping; the result is as if src were first copied to a temporary.
func (t *Tensor) CopyFrom(src *Tensor) {
	if !t.SameShape(src) {
		panic(fmt.Sprintf("tensor: CopyFrom: shape mismatch: dst %v, src %v", t.shape, src.shape))
	}
	copy(t.data, src.data)
}

// SameShape reports whether t and o have identical dimensions. It returns false if o is nil.
func (t *Tensor) SameShape(o *Tensor) bool {
	if o == nil || len(t.shape) != len(o.shape) {
		return false
	}
	for i, d := range t.shape {
		if o.shape[i] != d {
			return false
		}
	}
	return true
}

// maxPrinted is the largest element count String prints in full.
const maxPrinted = 32

// String formats t as "Tensor[d0 d1 ...]" followed by its values nested by axis when
// Len() <= 32, for example "Tensor[2 3] [[1 2 3] [4 5 6]]", and otherwise by a summary of
// the element count, minimum, maximum and mean.
func (t *Tensor) String() string {
	var b strings.Builder
	b.WriteString("Tensor[")
	for i, d := range t.shape {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(d))
	}
	b.WriteString("] ")
	if len(t.data) <= maxPrinted {
		writeNested(&b, t.shape, t.data)
		return b.String()
	}
	lo, hi := t.data[0], t.data[0]
	var sum float64
	for _, v := range t.data {
		lo = min(lo, v)
		hi = max(hi, v)
		sum += float64(v)
	}
	fmt.Fprintf(&b, "(%d elements, min %g, max %g, mean %g)", len(t.data), lo, hi, sum/float64(len(t.data)))
	return b.String()
}

func writeNested(b *strings.Builder, shape []int, data []float32) {
	if len(shape) == 0 {
		b.WriteString(strconv.FormatFloat(float64(data[0]), 'g', -1, 32))
		return
	}
	b.WriteByte('[')
	step := 0
	if shape[0] > 0 {
		step = len(data) / shape[0]
	}
	for i := range shape[0] {
		if i > 0 {
			b.WriteByte(' ')
		}
		writeNested(b, shape[1:], data[i*step:(i+1)*step])
	}
	b.WriteByte(']')
}

// offset returns the flat index of idx, panicking (attributed to op) if the number of
// indices differs from Dims() or an index is out of range for its axis.
func (t *Tensor) offset(op string, idx []int) int {
	if len(idx) != len(t.shape) {
		panic(fmt.Sprintf("tensor: %s: got %d indices for %d-dim tensor %v", op, len(idx), len(t.shape), t.shape))
	}
	off := 0
	for axis, i := range idx {
		d := t.shape[axis]
		if i < 0 || i >= d {
			panicIndex(op, axis, i, d)
		}
		off = off*d + i
	}
	return off
}

func panicIndex(op string, axis, i, d int) {
	panic(fmt.Sprintf("tensor: %s: index %d out of range on axis %d of length %d", op, i, axis, d))
}

// At returns the element at idx. It panics unless exactly Dims() indices are given and
// each lies in [0, Dim(axis)); the message names the axis and index.
func (t *Tensor) At(idx ...int) float32 { return t.data[t.offset("At", idx)] }

// Set stores v at idx. It panics unless exactly Dims() indices are given and each lies in
// [0, Dim(axis)); the message names the axis and index.
func (t *Tensor) Set(v float32, idx ...int) { t.data[t.offset("Set", idx)] = v }
