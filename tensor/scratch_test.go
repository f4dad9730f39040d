package tensor

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/semprox/semprox/kernels"
)

// step imitates one pass of a computation: it takes temporaries of a fixed set of shapes,
// scribbles over them and resets the pool.
func step(s *Scratch) {
	a := s.Get(64, 64)
	b := s.Get(64)
	c := s.Get(3, 5, 7)
	d := s.Get() // scalar
	e := s.Get(0, 8)
	a.Fill(1)
	b.Fill(2)
	c.Fill(3)
	d.Fill(4)
	e.Fill(5)
	s.Put(b)
	_ = s.Get(32) // reuses b's buffer
	s.Reset()
}

func TestScratchGetShapeAlignedZeroed(t *testing.T) {
	tests := [][]int{
		{},
		{1},
		{15},
		{16},
		{17},
		{3, 5},
		{33, 65},
		{0},
		{2, 0, 4},
		{1000},
	}
	s := NewScratch()
	for round := range 3 {
		for _, shape := range tests {
			x := s.Get(shape...)
			n := numElements("test", shape)
			if x.Len() != n || len(x.Data()) != n {
				t.Fatalf("round %d Get%v: Len %d, len(Data) %d, want %d", round, shape, x.Len(), len(x.Data()), n)
			}
			if x.Dims() != len(shape) || (len(shape) > 0 && !slices.Equal(x.Shape(), shape)) {
				t.Fatalf("round %d Get%v: Shape %v", round, shape, x.Shape())
			}
			if !kernels.IsAligned(x.Data()) {
				t.Fatalf("round %d Get%v: storage not aligned", round, shape)
			}
			for i, v := range x.Data() {
				if v != 0 {
					t.Fatalf("round %d Get%v: Data[%d] = %v, want 0", round, shape, i, v)
				}
			}
			x.Fill(float32(round + 1)) // dirty it for the next round
		}
		s.Reset()
	}
}

func TestScratchZeroedAfterReuse(t *testing.T) {
	tests := []struct {
		first, second []int
	}{
		{[]int{10, 10}, []int{10, 10}}, // same shape
		{[]int{100}, []int{127}},       // same class, larger
		{[]int{128}, []int{65}},        // same class, smaller
		{[]int{4, 4}, []int{16}},       // same count, different shape
		{[]int{5}, []int{}},            // minimum class
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.first, "->", tt.second), func(t *testing.T) {
			s := NewScratch()
			x := s.Get(tt.first...)
			x.Fill(7)
			s.Put(x)
			y := s.Get(tt.second...)
			if st := s.Stats(); st.Allocations != 1 {
				t.Fatalf("Allocations = %d, want 1 (buffer should be reused)", st.Allocations)
			}
			for i, v := range y.Data() {
				if v != 0 {
					t.Fatalf("reused Data[%d] = %v, want 0", i, v)
				}
			}
			y.Fill(9)
			s.Reset()
			z := s.Get(tt.first...)
			for i, v := range z.Data() {
				if v != 0 {
					t.Fatalf("after Reset Data[%d] = %v, want 0", i, v)
				}
			}
		})
	}
}

func TestScratchSizeClasses(t *testing.T) {
	tests := []struct {
		a, b      int
		wantAlloc int // fresh buffers for Get(a), Put, Get(b)
	}{
		{1, 16, 1},
		{17, 32, 1},
		{16, 17, 2},
		{33, 64, 1},
		{64, 65, 2},
		{1000, 1024, 1},
		{1025, 2000, 1},
		{2048, 1025, 1},
		{2048, 1024, 2},
	}
	for _, tt := range tests {
		s := NewScratch()
		s.Put(s.Get(tt.a))
		s.Get(tt.b)
		if got := s.Stats().Allocations; got != tt.wantAlloc {
			t.Errorf("Get(%d), Put, Get(%d): Allocations = %d, want %d", tt.a, tt.b, got, tt.wantAlloc)
		}
	}
}

func TestScratchNoAllocationsAfterWarmUp(t *testing.T) {
	s := NewScratch()
	step(s)
	warm := s.Stats()
	if warm.Allocations == 0 || warm.InUse != 0 || warm.Free != warm.Allocations {
		t.Fatalf("after warm-up: %+v", warm)
	}
	step(s)
	if st := s.Stats(); st.Allocations != warm.Allocations || st.Bytes != warm.Bytes {
		t.Fatalf("second identical step allocated: before %+v, after %+v", warm, st)
	}
	allocs := testing.AllocsPerRun(100, func() { step(s) })
	if allocs != 0 {
		t.Fatalf("warm step: %v heap allocations per run, want 0", allocs)
	}
	if st := s.Stats(); st.Allocations != warm.Allocations {
		t.Fatalf("warm steps allocated buffers: %+v", st)
	}
}

func TestScratchSameBuffersAfterReset(t *testing.T) {
	s := NewScratch()
	shapes := [][]int{{8, 8}, {8, 8}, {100}, {3}}
	first := make([]*float32, len(shapes))
	for i, sh := range shapes {
		first[i] = &s.Get(sh...).data[:1][0]
	}
	s.Reset()
	for i, sh := range shapes {
		if p := &s.Get(sh...).data[:1][0]; p != first[i] {
			t.Fatalf("Get #%d after Reset returned a different buffer", i)
		}
	}
}

func TestScratchStats(t *testing.T) {
	s := NewScratch()
	a := s.Get(10)   // class 16
	b := s.Get(100)  // class 128
	c := s.Get(2, 3) // class 16
	want := ScratchStats{Allocations: 3, Gets: 3, InUse: 3, Free: 0, Bytes: 4 * (16 + 128 + 16)}
	if st := s.Stats(); st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
	s.Put(b)
	want.InUse, want.Free = 2, 1
	if st := s.Stats(); st != want {
		t.Fatalf("after Put: Stats = %+v, want %+v", st, want)
	}
	s.Reset()
	want.InUse, want.Free = 0, 3
	if st := s.Stats(); st != want {
		t.Fatalf("after Reset: Stats = %+v, want %+v", st, want)
	}
	_, _ = a, c
}

func TestScratchViewsAndPutThroughView(t *testing.T) {
	s := NewScratch()
	x := s.Get(4, 4)
	x.Row(2).Fill(3)
	if x.At(2, 1) != 3 || x.At(1, 1) != 0 {
		t.Fatal("Row view of a scratch tensor does not share storage")
	}
	s.Put(x.Reshape(16)) // a view starting at the first element identifies the buffer
	if st := s.Stats(); st.InUse != 0 || st.Free != 1 {
		t.Fatalf("Put through Reshape view: %+v", st)
	}
}

func TestScratchPutPanics(t *testing.T) {
	tests := []struct {
		name string
		f    func(s *Scratch)
		want string
	}{
		{"nil", func(s *Scratch) { s.Put(nil) }, "tensor: Scratch.Put: nil tensor"},
		{"foreign New", func(s *Scratch) { s.Put(New(4)) }, "foreign tensor"},
		{"foreign empty", func(s *Scratch) { s.Put(New(0)) }, "foreign tensor"},
		{"foreign Wrap", func(s *Scratch) { s.Put(Wrap(make([]float32, 3), 3)) }, "foreign tensor"},
		{"other pool", func(s *Scratch) { s.Put(NewScratch().Get(4)) }, "foreign tensor"},
		{"interior view", func(s *Scratch) { s.Put(s.Get(4, 4).Row(1)) }, "foreign tensor"},
		{"double Put", func(s *Scratch) {
			x := s.Get(8)
			s.Put(x)
			s.Put(x)
		}, "already returned"},
		{"double Put via copy", func(s *Scratch) {
			x := s.Get(8)
			v := x.Reshape(2, 4)
			s.Put(x)
			s.Put(v)
		}, "double Put"},
		{"Put after Reset", func(s *Scratch) {
			x := s.Get(8).Reshape(8)
			s.Reset()
			s.Put(x)
		}, "Put after Reset"},
		{"Get negative", func(s *Scratch) { s.Get(3, -2) }, "tensor: Scratch.Get: dimension 1 is -2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewScratch()
			msg, ok := panicMessage(func() { tt.f(s) })
			if !ok {
				t.Fatalf("did not panic, want %q", tt.want)
			}
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("panic %q does not contain %q", msg, tt.want)
			}
			// The pool must remain usable after a rejected Put.
			y := s.Get(5)
			s.Put(y)
		})
	}
}

func TestScratchConcurrent(t *testing.T) {
	s := NewScratch()
	const workers, iters = 8, 200
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iters {
				n := 1 + (w*37+i*13)%300
				x := s.Get(n, 2)
				y := s.Get(w + 1)
				for j, v := range x.Data() {
					if v != 0 {
						errs <- fmt.Sprintf("worker %d: Get(%d, 2) Data[%d] = %v, want 0", w, n, j, v)
						return
					}
				}
				if !kernels.IsAligned(x.Data()) {
					errs <- fmt.Sprintf("worker %d: unaligned storage", w)
					return
				}
				mark := float32(w + 1)
				x.Fill(mark)
				y.Fill(mark)
				for _, v := range x.Data() {
					if v != mark {
						errs <- fmt.Sprintf("worker %d: buffer shared with another goroutine", w)
						return
					}
				}
				s.Put(y)
				s.Put(x)
				_ = s.Stats()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	st := s.Stats()
	if st.InUse != 0 || st.Gets != 2*workers*iters || st.Free != st.Allocations {
		t.Fatalf("after concurrent use: %+v", st)
	}
	if st.Allocations > 9*workers {
		t.Fatalf("pool did not reuse buffers: %d allocations", st.Allocations)
	}
}

func TestScratchPutStorage(t *testing.T) {
	s := NewScratch()
	pass := func() *Tensor {
		a := s.Get(4, 8)
		s.PutStorage(a)
		if a.Len() != 0 || !slices.Equal(a.Shape(), []int{4, 8}) {
			t.Fatalf("after PutStorage: len %d, shape %v; want 0 and [4 8]", a.Len(), a.Shape())
		}
		if b := s.Get(32); b.Len() != 32 { // reuses a's buffer
			t.Fatalf("Get after PutStorage gave %d elements", b.Len())
		}
		return a
	}
	a := pass()
	if msg, ok := panicMessage(func() { s.PutStorage(a) }); !ok || !strings.Contains(msg, "PutStorage") {
		t.Fatalf("second PutStorage: panic %q", msg)
	}
	s.Reset()
	before := s.Stats().Allocations
	allocs := testing.AllocsPerRun(10, func() { pass(); s.Reset() })
	if s.Stats().Allocations != before || allocs != 0 {
		t.Errorf("a warm pass allocated %d buffers and %v objects", s.Stats().Allocations-before, allocs)
	}
}

// GetUninit hands out storage without clearing it; Get still clears what GetUninit used.
func TestScratchGetUninit(t *testing.T) {
	s := NewScratch()
	a := s.GetUninit(3, 5)
	if !slices.Equal(a.Shape(), []int{3, 5}) || a.Len() != 15 {
		t.Fatalf("GetUninit(3, 5) gave %v", a.Shape())
	}
	a.Fill(7)
	s.Reset()
	if b := s.GetUninit(15); b.Data()[0] != 7 {
		t.Errorf("GetUninit cleared a reused buffer (%v)", b.Data()[0])
	}
	s.Reset()
	for i, v := range s.Get(15).Data() {
		if v != 0 {
			t.Fatalf("Get after GetUninit: element %d is %v", i, v)
		}
	}
}
