//go:build linux

package kernels

import (
	"math/rand/v2"
	"runtime/debug"
	"syscall"
	"testing"
	"unsafe"
)

// fencedSlice returns a slice of n float32s that ends exactly where an inaccessible page begins,
// so a kernel that reads or writes one element past the end faults.
func fencedSlice(t *testing.T, n int) []float32 {
	t.Helper()
	page := syscall.Getpagesize()
	size := (4*n+page-1)/page*page + page
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[size-page:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&mem[size-page-4*n])), n)
}

// TestVectorStaysInBounds runs every kernel on slices that end at an inaccessible page: the
// masked tails must neither read nor write past the last element.
func TestVectorStaysInBounds(t *testing.T) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	rng := rand.New(rand.NewPCG(18, 18))
	for _, n := range []int{1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 47, 63, 65, 129} {
		fill := func() []float32 {
			s := fencedSlice(t, n)
			for i := range s {
				s[i] = float32(rng.NormFloat64())
			}
			return s
		}
		a, b, c, d, e, f := fill(), fill(), fill(), fill(), fill(), fill()
		one, other := fencedSlice(t, 1), fencedSlice(t, 1)
		cols := n
		forEachSIMD(t, func(t *testing.T) {
			run := func(name string, call func()) {
				t.Helper()
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%s n=%d: %v", name, n, r)
					}
				}()
				call()
			}
			run("Add", func() { Add(c, a, b) })
			run("Scale", func() { Scale(c, 2, a) })
			run("Axpy", func() { Axpy(2, a, c) })
			run("Copy", func() { Copy(c, a) })
			run("addScaledMul", func() { addScaledMulSerial(c, a, b, 2, 3) })
			run("Sum", func() { Sum(a) })
			run("Dot", func() { Dot(a, b) })
			run("Max", func() { Max(a) })
			run("Exp", func() { Exp(c, a) })
			run("ExpSum", func() { ExpSum(c, a, 1) })
			run("GELU", func() { GELU(c, a) })
			run("GELUBackward", func() { GELUBackward(c, a, b) })
			run("biasGELU", func() { biasGELURows(c, n, nil, 0, a, 1, n) })
			run("biasGELUPre", func() { biasGELURows(c, n, d, n, a, 1, n) })
			run("geluGrad", func() { geluGradRows(c, n, a, n, 1, n) })
			run("Softmax", func() { Softmax(c, a, cols) })
			run("LayerNorm", func() { LayerNorm(c, one, other, a, b, d, cols, 1e-5) })
			run("LayerNormBackward", func() { LayerNormBackward(c, e, f, a, b, one, other, d, cols) })
			run("L2Normalize", func() { L2Normalize(c, one, a, cols, 1e-6) })
			run("L2NormalizeBackward", func() { L2NormalizeBackward(c, a, b, one, cols, 1e-6) })
		})
	}
}

// TestSgemmPackedStaysInBounds runs packed products, in both precisions, with A and C ending at
// an inaccessible page: the rounding of A to bf16 pairs and the edge tiles must stay inside.
func TestSgemmPackedStaysInBounds(t *testing.T) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	rng := rand.New(rand.NewPCG(52, 53))
	for _, mnk := range [][3]int{{1, 1, 1}, {15, 33, 17}, {14, 32, 64}, {29, 45, 95}} {
		m, n, k := mnk[0], mnk[1], mnk[2]
		a, c, b := fencedSlice(t, m*k), fencedSlice(t, m*n), make([]float32, n*k)
		for _, s := range [][]float32{a, b} {
			for i := range s {
				s[i] = float32(rng.NormFloat64())
			}
		}
		forEachSIMD(t, func(t *testing.T) {
			for _, p := range []Precision{FP32, BF16} {
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("%v m=%d n=%d k=%d: %v", p, m, n, k, r)
						}
					}()
					SgemmPacked(nil, m, 1, a, k, PackB(p, true, k, n, b, k), 0, c, n)
				}()
			}
		})
	}
}

// TestRoundToPairsStaysInBounds rounds values that end at an inaccessible page into pairs that
// end at another, on every path: the masked tail must neither read nor write past either end.
func TestRoundToPairsStaysInBounds(t *testing.T) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	forEachSIMD(t, func(t *testing.T) {
		for _, n := range []int{1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 65, 97} {
			src, dst := fencedSlice(t, n), fencedSlice(t, (n+1)/2)
			for i := range src {
				src[i] = float32(i) + 0.5
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("n=%d: %v", n, r)
					}
				}()
				roundToPairs(dst, src)
			}()
			if lo, hi := unpairBF16(dst[(n-1)/2]); n%2 == 1 && (lo != BF16Round(src[n-1]) || hi != 0) {
				t.Fatalf("n=%d: last pair holds %v, %v, want %v, 0", n, lo, hi, BF16Round(src[n-1]))
			}
		}
	})
}
