package tensor

import (
	"fmt"
	"math/bits"
	"sync"

	"github.com/semprox/semprox/kernels"
)

// minClassLog2 is the log2 of the smallest buffer size class, in elements: 16 float32s are
// one 64-byte cache line.
const minClassLog2 = 4

// maxClassLog2 bounds the size classes; larger requests panic.
const maxClassLog2 = bits.UintSize - 2

// Scratch is a pool of temporary tensors for computations that repeat with the same (or
// similar) shapes, such as a training step. [Scratch.Get] hands out zeroed tensors whose
// storage is 64-byte aligned and drawn from free lists of buffers sized in powers of two
// elements; [Scratch.Reset] returns everything handed out since the previous Reset, and
// [Scratch.Put] returns a single tensor early. After one warm-up pass, a pass that requests
// the same shapes allocates no new buffers and no tensor headers.
//
// Buffers are never released to the garbage collector while the Scratch is reachable; the
// pool's footprint is the peak demand of any one pass, rounded up to the size classes.
//
// A Scratch is safe for concurrent use by multiple goroutines. The zero value is not
// usable; create one with [NewScratch].
type Scratch struct {
	mu sync.Mutex

	free    [maxClassLog2 + 1][][]float32 // free buffers per size class, used as stacks
	headers []*Tensor                     // recycled tensor headers, used as a stack

	out      []scratchEntry        // handed out since the last Reset, in Get order (up to Put swaps)
	detached []*Tensor             // headers whose storage PutStorage returned; recycled by Reset
	index    map[*float32]int      // first element of an out buffer -> its position in out
	owned    map[*float32]struct{} // first element of every buffer ever allocated

	stats ScratchStats
}

type scratchEntry struct {
	buf []float32 // the whole buffer, len == cap == size class
	hdr *Tensor   // the header handed out with it
}

// ScratchStats is a snapshot of a [Scratch]'s counters.
type ScratchStats struct {
	// Allocations is the number of fresh buffers the pool has ever allocated. It stops
	// growing once the pool has warmed up for a workload.
	Allocations int
	// Gets is the number of Get calls so far.
	Gets int
	// InUse is the number of buffers handed out and not yet returned by Put or Reset.
	InUse int
	// Free is the number of buffers sitting in the free lists.
	Free int
	// Bytes is the total size of every buffer the pool holds, in use or free, counted in
	// float32 capacity (alignment padding excluded).
	Bytes int64
}

// NewScratch returns an empty pool.
func NewScratch() *Scratch {
	return &Scratch{
		index: make(map[*float32]int),
		owned: make(map[*float32]struct{}),
	}
}

// classOf returns the size class (log2 of the buffer length in elements) for n elements.
func classOf(n int) int {
	if n <= 1<<minClassLog2 {
		return minClassLog2
	}
	c := bits.Len(uint(n - 1))
	if c > maxClassLog2 {
		panic(fmt.Sprintf("tensor: Scratch.Get: %d elements exceeds the largest size class", n))
	}
	return c
}

// Get returns a zeroed tensor of the given shape whose storage comes from the pool. The
// storage is 64-byte aligned and Data() is exactly Len() long; the underlying buffer may be
// larger (it is rounded up to a power of two elements, at least 16) so that it can be
// reused for slightly different sizes later. Get with no dimensions returns a scalar; an
// empty shape still takes a (minimum-size) buffer so that it can be returned by Put.
//
// The tensor, and every view of it, stays valid until it is passed to [Scratch.Put] or
// until the next [Scratch.Reset], whichever comes first. After that its storage and even
// its *Tensor header may be handed out again by a later Get, so the caller must not use
// it or any view of it.
//
// Get panics if a dimension is negative (naming the dimension index and value).
func (s *Scratch) Get(shape ...int) *Tensor { return s.get("Scratch.Get", true, shape) }

// GetUninit is Get without the zeroing: the tensor's elements are unspecified (whatever a
// previous user left). For results that the caller overwrites entirely.
func (s *Scratch) GetUninit(shape ...int) *Tensor { return s.get("Scratch.GetUninit", false, shape) }

func (s *Scratch) get(op string, zero bool, shape []int) *Tensor {
	n := numElements(op, shape)
	class := classOf(n)

	s.mu.Lock()
	var buf []float32
	fresh := false
	if fl := s.free[class]; len(fl) > 0 {
		buf = fl[len(fl)-1]
		fl[len(fl)-1] = nil
		s.free[class] = fl[:len(fl)-1]
		s.stats.Free--
	} else {
		buf = kernels.AlignedFloat32s(1 << class)
		s.owned[&buf[0]] = struct{}{}
		s.stats.Allocations++
		s.stats.Bytes += int64(4) << class
		fresh = true
	}
	var hdr *Tensor
	if h := s.headers; len(h) > 0 {
		hdr = h[len(h)-1]
		h[len(h)-1] = nil
		s.headers = h[:len(h)-1]
	} else {
		hdr = new(Tensor)
	}
	s.index[&buf[0]] = len(s.out)
	s.out = append(s.out, scratchEntry{buf: buf, hdr: hdr})
	s.stats.Gets++
	s.stats.InUse++
	s.mu.Unlock()

	// The buffer and header now belong to this caller alone; prepare them unlocked.
	data := buf[:n]
	if zero && !fresh {
		clear(data)
	}
	hdr.shape = append(hdr.shape[:0], shape...)
	hdr.data = data
	return hdr
}

// Put returns t's storage to the pool before the next Reset. t must be a tensor obtained
// from this pool's Get (or a view of it that starts at its first element, such as a
// Reshape or Row(0)) and not already returned; after Put, neither t nor any view of it may
// be used.
//
// Put panics if t is nil, if t's storage did not come from this pool, or if it has already
// been returned by Put or Reset.
func (s *Scratch) Put(t *Tensor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.release(s.take("Put", t))
}

// PutStorage returns t's storage to the pool like Put but leaves its header to the caller:
// t keeps its shape and becomes empty (Len 0, no data), so code that still holds it can ask its
// shape, and any read of its elements fails; returning it again panics. The header is recycled at the next Reset. The
// same conditions as for Put apply.
func (s *Scratch) PutStorage(t *Tensor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.take("PutStorage", t)
	shape := t.shape
	s.release(e)
	s.headers = s.headers[:len(s.headers)-1] // release pushed the header: keep it out
	t.shape, t.data = shape, nil             // not even a stale pointer: the buffer may be handed out again
	s.detached = append(s.detached, t)
}

// take removes t's entry from the handed-out list, panicking (attributed to op) if t is nil,
// foreign, an interior view or already returned. s.mu must be held.
func (s *Scratch) take(op string, t *Tensor) scratchEntry {
	if t == nil {
		panic("tensor: Scratch." + op + ": nil tensor")
	}
	if cap(t.data) == 0 {
		panic("tensor: Scratch." + op + ": tensor storage does not start a buffer of this Scratch (foreign tensor, or an interior view)")
	}
	key := &t.data[:1][0]
	i, ok := s.index[key]
	if !ok {
		if _, known := s.owned[key]; known {
			panic("tensor: Scratch." + op + ": tensor was already returned to this Scratch (double Put, or Put after Reset)")
		}
		panic("tensor: Scratch." + op + ": tensor storage does not start a buffer of this Scratch (foreign tensor, or an interior view)")
	}
	e := s.out[i]
	last := len(s.out) - 1
	if i != last {
		s.out[i] = s.out[last]
		s.index[&s.out[i].buf[0]] = i
	}
	s.out[last] = scratchEntry{}
	s.out = s.out[:last]
	delete(s.index, key)
	return e
}

// Reset returns every buffer handed out since the previous Reset (and not already Put) to
// the free lists. Every tensor obtained from Get before the Reset, and every view of one,
// becomes invalid: the caller must not use it, since its storage and header will be handed
// out again by later Gets. A pass that repeats the same sequence of Get calls after a Reset
// receives the same buffers in the same order.
func (s *Scratch) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Release in reverse so that the stacks pop buffers in the original Get order.
	for i := len(s.out) - 1; i >= 0; i-- {
		s.release(s.out[i])
		s.out[i] = scratchEntry{}
	}
	s.out = s.out[:0]
	clear(s.index)
	for i, h := range s.detached {
		h.shape = h.shape[:0]
		s.headers = append(s.headers, h)
		s.detached[i] = nil
	}
	s.detached = s.detached[:0]
}

// release puts e's buffer and header back on the free stacks. s.mu must be held.
func (s *Scratch) release(e scratchEntry) {
	class := bits.TrailingZeros(uint(len(e.buf)))
	s.free[class] = append(s.free[class], e.buf)
	// Leave the stale header empty (so misuse fails fast) but still pointing at its
	// buffer, so that a second Put of it is reported as a double Put.
	e.hdr.data = e.buf[:0]
	e.hdr.shape = e.hdr.shape[:0]
	s.headers = append(s.headers, e.hdr)
	s.stats.InUse--
	s.stats.Free++
}

// Stats returns a snapshot of the pool's counters.
func (s *Scratch) Stats() ScratchStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}
