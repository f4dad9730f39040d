package tensor

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/semprox/semprox/kernels"
)

// panicMessage runs f and returns the message it panicked with, and whether it panicked.
func panicMessage(f func()) (msg string, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			msg, panicked = fmt.Sprint(r), true
		}
	}()
	f()
	return "", false
}

// seq returns a tensor of the given shape holding 0, 1, 2, ... in row-major order.
func seq(shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.Data() {
		t.Data()[i] = float32(i)
	}
	return t
}

func TestNew(t *testing.T) {
	tests := []struct {
		shape   []int
		wantLen int
	}{
		{nil, 1},
		{[]int{1}, 1},
		{[]int{7}, 7},
		{[]int{2, 3}, 6},
		{[]int{3, 1, 5}, 15},
		{[]int{0}, 0},
		{[]int{4, 0, 3}, 0},
		{[]int{17, 33}, 561},
		{[]int{2, 3, 4, 5}, 120},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.shape), func(t *testing.T) {
			x := New(tt.shape...)
			if got := x.Len(); got != tt.wantLen {
				t.Fatalf("Len = %d, want %d", got, tt.wantLen)
			}
			if got := len(x.Data()); got != tt.wantLen {
				t.Fatalf("len(Data) = %d, want %d", got, tt.wantLen)
			}
			if got := cap(x.Data()); got != tt.wantLen {
				t.Fatalf("cap(Data) = %d, want %d", got, tt.wantLen)
			}
			if x.Dims() != len(tt.shape) {
				t.Fatalf("Dims = %d, want %d", x.Dims(), len(tt.shape))
			}
			if !slices.Equal(x.Shape(), tt.shape) && !(len(tt.shape) == 0 && len(x.Shape()) == 0) {
				t.Fatalf("Shape = %v, want %v", x.Shape(), tt.shape)
			}
			if x.Shape() == nil {
				t.Fatal("Shape returned nil")
			}
			for i, d := range tt.shape {
				if x.Dim(i) != d {
					t.Fatalf("Dim(%d) = %d, want %d", i, x.Dim(i), d)
				}
			}
			if !kernels.IsAligned(x.Data()) {
				t.Fatal("New storage not 64-byte aligned")
			}
			for i, v := range x.Data() {
				if v != 0 {
					t.Fatalf("Data[%d] = %v, want 0", i, v)
				}
			}
		})
	}
}

func TestNewDoesNotAliasShapeArgument(t *testing.T) {
	shape := []int{2, 3}
	x := New(shape...)
	shape[0] = 99
	if x.Dim(0) != 2 {
		t.Fatalf("New kept a reference to the caller's shape slice: Dim(0) = %d", x.Dim(0))
	}
	s := x.Shape()
	s[1] = 42
	if x.Dim(1) != 3 {
		t.Fatalf("Shape returned internal storage: Dim(1) = %d", x.Dim(1))
	}
}

func TestFromSliceCopies(t *testing.T) {
	src := []float32{1, 2, 3, 4, 5, 6}
	x := FromSlice(src, 2, 3)
	if !kernels.IsAligned(x.Data()) {
		t.Fatal("FromSlice storage not aligned")
	}
	if !slices.Equal(x.Data(), src) {
		t.Fatalf("Data = %v, want %v", x.Data(), src)
	}
	src[0] = 100
	if x.At(0, 0) != 1 {
		t.Fatal("FromSlice aliases its input")
	}
	x.Set(-1, 1, 2)
	if src[5] != 6 {
		t.Fatal("writing the tensor modified the input slice")
	}
}

func TestWrapShares(t *testing.T) {
	backing := make([]float32, 13)
	src := backing[1:7] // deliberately misaligned relative to the allocation
	x := Wrap(src, 3, 2)
	x.Set(5, 2, 1)
	if src[5] != 5 {
		t.Fatalf("write through Wrap not visible in the slice: %v", src)
	}
	src[0] = 7
	if x.At(0, 0) != 7 {
		t.Fatal("write to the slice not visible through Wrap")
	}
	if &x.Data()[0] != &src[0] {
		t.Fatal("Wrap copied its input")
	}
}

func TestDataCapacityClamped(t *testing.T) {
	x := seq(4, 2)
	r := x.Row(1)
	d := append(r.Data(), 99) // must reallocate, not overwrite row 2
	_ = d
	if x.At(2, 0) != 4 {
		t.Fatalf("append to Row(1).Data() overwrote row 2: %v", x.Data())
	}
}

func TestStride(t *testing.T) {
	tests := []struct {
		shape []int
		want  []int
	}{
		{[]int{5}, []int{1}},
		{[]int{2, 3}, []int{3, 1}},
		{[]int{2, 3, 4}, []int{12, 4, 1}},
		{[]int{4, 0, 3}, []int{0, 3, 1}},
	}
	for _, tt := range tests {
		x := New(tt.shape...)
		for i, w := range tt.want {
			if got := x.Stride(i); got != w {
				t.Errorf("shape %v: Stride(%d) = %d, want %d", tt.shape, i, got, w)
			}
		}
	}
}

func TestAtSetRowMajor(t *testing.T) {
	x := seq(2, 3, 4)
	for i := range 2 {
		for j := range 3 {
			for k := range 4 {
				want := float32(i*12 + j*4 + k)
				if got := x.At(i, j, k); got != want {
					t.Fatalf("At(%d,%d,%d) = %v, want %v", i, j, k, got, want)
				}
				off := i*x.Stride(0) + j*x.Stride(1) + k*x.Stride(2)
				if x.Data()[off] != want {
					t.Fatalf("Data[%d] = %v, want %v", off, x.Data()[off], want)
				}
			}
		}
	}
	x.Set(-5, 1, 2, 3)
	if x.Data()[23] != -5 {
		t.Fatalf("Set(1,2,3) did not write Data[23]")
	}
	s := New()
	s.Set(2.5)
	if s.At() != 2.5 || s.Data()[0] != 2.5 {
		t.Fatal("scalar Set/At broken")
	}
}

func TestRowSharesStorage(t *testing.T) {
	x := seq(3, 2, 2)
	tests := []struct {
		i    int
		want []float32
	}{
		{0, []float32{0, 1, 2, 3}},
		{1, []float32{4, 5, 6, 7}},
		{2, []float32{8, 9, 10, 11}},
	}
	for _, tt := range tests {
		r := x.Row(tt.i)
		if !slices.Equal(r.Shape(), []int{2, 2}) {
			t.Fatalf("Row(%d).Shape = %v", tt.i, r.Shape())
		}
		if !slices.Equal(r.Data(), tt.want) {
			t.Fatalf("Row(%d).Data = %v, want %v", tt.i, r.Data(), tt.want)
		}
		r.Set(100+float32(tt.i), 1, 0)
		if got := x.At(tt.i, 1, 0); got != 100+float32(tt.i) {
			t.Fatalf("write through Row(%d) not visible in parent: %v", tt.i, got)
		}
		x.Set(-1, tt.i, 0, 1)
		if r.At(0, 1) != -1 {
			t.Fatalf("write to parent not visible through Row(%d)", tt.i)
		}
	}
	// Row of a vector is a scalar.
	v := seq(4)
	r := v.Row(3)
	if r.Dims() != 0 || r.Len() != 1 || r.At() != 3 {
		t.Fatalf("Row of vector: dims %d len %d", r.Dims(), r.Len())
	}
}

func TestSliceSharesStorage(t *testing.T) {
	tests := []struct {
		lo, hi int
		want   []float32
	}{
		{0, 4, []float32{0, 1, 2, 3, 4, 5, 6, 7}},
		{1, 3, []float32{2, 3, 4, 5}},
		{3, 4, []float32{6, 7}},
		{2, 2, []float32{}},
		{4, 4, []float32{}},
	}
	for _, tt := range tests {
		x := seq(4, 2)
		s := x.Slice(tt.lo, tt.hi)
		if !slices.Equal(s.Shape(), []int{tt.hi - tt.lo, 2}) {
			t.Fatalf("Slice(%d,%d).Shape = %v", tt.lo, tt.hi, s.Shape())
		}
		if !slices.Equal(s.Data(), tt.want) {
			t.Fatalf("Slice(%d,%d).Data = %v, want %v", tt.lo, tt.hi, s.Data(), tt.want)
		}
		if s.Len() > 0 {
			s.Fill(42)
			for i := range 4 {
				in := i >= tt.lo && i < tt.hi
				if got := x.At(i, 1); (got == 42) != in {
					t.Fatalf("Slice(%d,%d).Fill: parent row %d = %v", tt.lo, tt.hi, i, got)
				}
			}
		}
	}
	// Views of views still share.
	x := seq(6, 3)
	x.Slice(2, 5).Row(1).Set(-9, 2)
	if x.At(3, 2) != -9 {
		t.Fatal("Slice(...).Row(...) write not visible in parent")
	}
}

func TestReshape(t *testing.T) {
	tests := []struct {
		from []int
		to   []int
		want []int
	}{
		{[]int{2, 3}, []int{3, 2}, []int{3, 2}},
		{[]int{2, 3}, []int{6}, []int{6}},
		{[]int{2, 3}, []int{-1}, []int{6}},
		{[]int{2, 3, 4}, []int{-1, 4}, []int{6, 4}},
		{[]int{2, 3, 4}, []int{2, -1}, []int{2, 12}},
		{[]int{2, 3, 4}, []int{4, -1, 3}, []int{4, 2, 3}},
		{[]int{1}, []int{}, []int{}},
		{[]int{}, []int{1, 1, -1}, []int{1, 1, 1}},
		{[]int{0, 5}, []int{5, 0}, []int{5, 0}},
		{[]int{0, 5}, []int{-1, 5}, []int{0, 5}},
		{[]int{0, 5}, []int{0}, []int{0}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.from, "->", tt.to), func(t *testing.T) {
			x := seq(tt.from...)
			r := x.Reshape(tt.to...)
			if !slices.Equal(r.Shape(), tt.want) {
				t.Fatalf("Shape = %v, want %v", r.Shape(), tt.want)
			}
			if r.Len() != x.Len() {
				t.Fatalf("Len = %d, want %d", r.Len(), x.Len())
			}
			if !slices.Equal(r.Data(), x.Data()) {
				t.Fatal("Reshape changed element order")
			}
			if r.Len() > 0 {
				r.Data()[r.Len()-1] = 1234
				if x.Data()[x.Len()-1] != 1234 {
					t.Fatal("Reshape does not share storage")
				}
			}
			if !slices.Equal(x.Shape(), tt.from) && len(tt.from) != 0 {
				t.Fatalf("Reshape modified the original shape: %v", x.Shape())
			}
		})
	}
}

func TestCloneIndependentAndAligned(t *testing.T) {
	backing := make([]float32, 7)
	x := Wrap(backing[1:7], 2, 3)
	for i := range x.Data() {
		x.Data()[i] = float32(i) + 0.5
	}
	c := x.Clone()
	if !kernels.IsAligned(c.Data()) {
		t.Fatal("Clone storage not aligned")
	}
	if !c.SameShape(x) || !slices.Equal(c.Data(), x.Data()) {
		t.Fatalf("Clone = %v, want %v", c, x)
	}
	c.Set(-1, 0, 0)
	if x.At(0, 0) != 0.5 {
		t.Fatal("Clone shares storage with its source")
	}
	// Clone of a view copies only the view.
	v := seq(4, 4).Row(2).Clone()
	if v.Len() != 4 || v.At(0) != 8 || !kernels.IsAligned(v.Data()) {
		t.Fatalf("Clone of Row = %v", v)
	}
}

func TestFillZeroCopyFrom(t *testing.T) {
	x := New(3, 2)
	x.Fill(1.5)
	for _, v := range x.Data() {
		if v != 1.5 {
			t.Fatalf("Fill: %v", x.Data())
		}
	}
	x.Row(1).Zero()
	if x.At(0, 1) != 1.5 || x.At(1, 0) != 0 || x.At(1, 1) != 0 || x.At(2, 0) != 1.5 {
		t.Fatalf("Row.Zero: %v", x.Data())
	}
	src := seq(3, 2)
	x.CopyFrom(src)
	if !slices.Equal(x.Data(), src.Data()) {
		t.Fatalf("CopyFrom: %v", x.Data())
	}
	src.Set(77, 0, 0)
	if x.At(0, 0) != 0 {
		t.Fatal("CopyFrom aliased src")
	}

	// Overlapping views: shift rows 0..2 down to 1..3.
	y := seq(4, 2)
	y.Slice(1, 4).CopyFrom(y.Slice(0, 3))
	if want := []float32{0, 1, 0, 1, 2, 3, 4, 5}; !slices.Equal(y.Data(), want) {
		t.Fatalf("overlapping CopyFrom = %v, want %v", y.Data(), want)
	}
}

func TestSameShape(t *testing.T) {
	tests := []struct {
		a, b []int
		want bool
	}{
		{[]int{2, 3}, []int{2, 3}, true},
		{[]int{2, 3}, []int{3, 2}, false},
		{[]int{6}, []int{2, 3}, false},
		{[]int{}, []int{}, true},
		{[]int{}, []int{1}, false},
		{[]int{0, 2}, []int{0, 3}, false},
	}
	for _, tt := range tests {
		if got := New(tt.a...).SameShape(New(tt.b...)); got != tt.want {
			t.Errorf("SameShape(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
	if New(1).SameShape(nil) {
		t.Error("SameShape(nil) = true")
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		x    *Tensor
		want string
	}{
		{FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3), "Tensor[2 3] [[1 2 3] [4 5 6]]"},
		{FromSlice([]float32{0.5, -2}, 2), "Tensor[2] [0.5 -2]"},
		{FromSlice([]float32{3.25}), "Tensor[] 3.25"},
		{New(2, 0), "Tensor[2 0] [[] []]"},
		{New(0), "Tensor[0] []"},
		{seq(64), "Tensor[64] (64 elements, min 0, max 63, mean 31.5)"},
	}
	for _, tt := range tests {
		if got := tt.x.String(); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
	}
	if s := seq(4, 8).String(); !strings.HasPrefix(s, "Tensor[4 8] [[0 1 2") || strings.Contains(s, "elements") {
		t.Errorf("32-element tensor should print values: %q", s)
	}
	if s := seq(3, 11).String(); !strings.Contains(s, "33 elements") {
		t.Errorf("33-element tensor should print a summary: %q", s)
	}
}

func TestPanics(t *testing.T) {
	m := seq(4, 3)
	tests := []struct {
		name string
		f    func()
		want string
	}{
		{"New negative", func() { New(2, -3) }, "tensor: New: dimension 1 is -3"},
		{"New negative first", func() { New(-1) }, "tensor: New: dimension 0 is -1"},
		{"New overflow", func() { New(1<<40, 1<<40) }, "overflows"},
		{"FromSlice short", func() { FromSlice([]float32{1, 2}, 3) }, "FromSlice: len(data) = 2 does not match shape [3] (3 elements)"},
		{"FromSlice long", func() { FromSlice([]float32{1, 2, 3, 4}, 3) }, "len(data) = 4"},
		{"FromSlice negative", func() { FromSlice(nil, 0, -2) }, "tensor: FromSlice: dimension 1 is -2"},
		{"Wrap mismatch", func() { Wrap(make([]float32, 5), 2, 3) }, "tensor: Wrap: len(data) = 5 does not match shape [2 3] (6 elements)"},
		{"Wrap negative", func() { Wrap(nil, -4) }, "tensor: Wrap: dimension 0 is -4"},
		{"Dim high", func() { m.Dim(2) }, "tensor: Dim: axis 2 out of range for 2-dim tensor"},
		{"Dim negative", func() { m.Dim(-1) }, "tensor: Dim: axis -1 out of range"},
		{"Stride high", func() { m.Stride(5) }, "tensor: Stride: axis 5 out of range"},
		{"Row high", func() { m.Row(4) }, "tensor: Row: index 4 out of range for leading axis of length 4"},
		{"Row negative", func() { m.Row(-1) }, "tensor: Row: index -1 out of range for leading axis of length 4"},
		{"Row scalar", func() { New().Row(0) }, "tensor: Row: scalar tensor has no leading axis"},
		{"Row empty axis", func() { New(0, 3).Row(0) }, "index 0 out of range for leading axis of length 0"},
		{"Slice hi", func() { m.Slice(1, 5) }, "tensor: Slice: range [1:5] out of bounds for leading axis of length 4"},
		{"Slice inverted", func() { m.Slice(3, 2) }, "range [3:2] out of bounds"},
		{"Slice negative", func() { m.Slice(-1, 2) }, "range [-1:2] out of bounds"},
		{"Slice scalar", func() { New().Slice(0, 0) }, "tensor: Slice: scalar tensor has no leading axis"},
		{"Reshape count", func() { m.Reshape(5, 2) }, "tensor: Reshape: shape [5 2] has 10 elements, tensor [4 3] has 12"},
		{"Reshape two -1", func() { m.Reshape(-1, -1) }, "tensor: Reshape: more than one -1 in shape [-1 -1]"},
		{"Reshape negative", func() { m.Reshape(3, -2) }, "tensor: Reshape: dimension 1 is -2"},
		{"Reshape indivisible", func() { m.Reshape(5, -1) }, "tensor: Reshape: cannot infer -1 in shape [5 -1] from 12 elements"},
		{"Reshape zero rest", func() { New(0, 3).Reshape(0, -1) }, "cannot infer -1 in shape [0 -1]"},
		{"CopyFrom shape", func() { m.CopyFrom(New(3, 4)) }, "tensor: CopyFrom: shape mismatch: dst [4 3], src [3 4]"},
		{"CopyFrom same len", func() { m.CopyFrom(New(12)) }, "dst [4 3], src [12]"},
		{"At too few", func() { m.At(1) }, "tensor: At: got 1 indices for 2-dim tensor"},
		{"At too many", func() { m.At(1, 1, 1) }, "got 3 indices"},
		{"At high", func() { m.At(1, 3) }, "tensor: At: index 3 out of range on axis 1 of length 3"},
		{"At negative", func() { m.At(-2, 0) }, "tensor: At: index -2 out of range on axis 0 of length 4"},
		{"Set high", func() { m.Set(1, 4, 0) }, "tensor: Set: index 4 out of range on axis 0 of length 4"},
		{"Set wrong arity", func() { New().Set(1, 0) }, "tensor: Set: got 1 indices for 0-dim tensor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, ok := panicMessage(tt.f)
			if !ok {
				t.Fatalf("did not panic, want %q", tt.want)
			}
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("panic %q does not contain %q", msg, tt.want)
			}
		})
	}
	// The panicking calls must not have modified m.
	if !slices.Equal(m.Data(), seq(4, 3).Data()) || !slices.Equal(m.Shape(), []int{4, 3}) {
		t.Fatal("a failed call modified the tensor")
	}
}

// reshapeOutcome is an independent statement of Reshape's contract: the shape a valid
// request produces, or ok == false if it must panic.
func reshapeOutcome(n int, to []int) (want []int, ok bool) {
	infer, rest := -1, 1
	for i, d := range to {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			return nil, false
		default:
			rest *= d
		}
	}
	want = slices.Clone(to)
	if infer < 0 {
		return want, rest == n
	}
	if rest == 0 || n%rest != 0 {
		return nil, false
	}
	want[infer] = n / rest
	return want, true
}

func FuzzReshape(f *testing.F) {
	f.Add(uint8(2), uint8(3), uint8(4), int8(6), int8(-1), int8(1))
	f.Add(uint8(2), uint8(3), uint8(4), int8(-1), int8(-1), int8(1))
	f.Add(uint8(0), uint8(3), uint8(4), int8(0), int8(-1), int8(4))
	f.Add(uint8(5), uint8(1), uint8(1), int8(5), int8(-2), int8(1))
	f.Add(uint8(1), uint8(1), uint8(1), int8(1), int8(1), int8(1))
	f.Fuzz(func(t *testing.T, a, b, c uint8, p, q, r int8) {
		from := []int{int(a % 7), int(b % 7), int(c % 7)}
		to := []int{int(p%9) - 1, int(q%9) - 1, int(r%9) - 1}
		if p < 0 {
			to[0] = int(p) // occasionally well below -1
		}
		x := seq(from...)
		want, ok := reshapeOutcome(x.Len(), to)
		var got *Tensor
		msg, panicked := panicMessage(func() { got = x.Reshape(to...) })
		if !ok {
			if !panicked {
				t.Fatalf("Reshape%v of %v succeeded with %v, want panic", to, from, got.Shape())
			}
			if !strings.HasPrefix(msg, "tensor: Reshape: ") {
				t.Fatalf("Reshape%v of %v: unexpected panic %q", to, from, msg)
			}
			return
		}
		if panicked {
			t.Fatalf("Reshape%v of %v panicked: %s", to, from, msg)
		}
		if !slices.Equal(got.Shape(), want) {
			t.Fatalf("Reshape%v of %v: shape %v, want %v", to, from, got.Shape(), want)
		}
		if got.Len() != x.Len() {
			t.Fatalf("Reshape%v of %v: Len %d, want %d", to, from, got.Len(), x.Len())
		}
		if got.Len() > 0 && &got.Data()[0] != &x.Data()[0] {
			t.Fatal("Reshape does not share storage")
		}
		// Round trip back to the original shape restores the original indexing.
		back := got.Reshape(from...)
		if !back.SameShape(x) || !slices.Equal(back.Data(), x.Data()) {
			t.Fatal("round trip Reshape changed the tensor")
		}
	})
}
