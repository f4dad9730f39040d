package kernels

import "unsafe"

// genericGemmKernel is the plain Go micro-kernel, the fallback on every machine.
var genericGemmKernel = gemmKernel{mr: 2, nr: 3, kc: 256, nc: 510, fn: sgemmKernel2x3Go}

// sgemmKernel2x3Go is the microKernel contract for a 2x3 tile in plain Go. The compiler issues a
// step's six products before its six sums, so six sums, six products and the values of A and B
// must all fit the fifteen SSE registers it allocates: larger tiles spill the sums to the stack
// and run at half the speed.
func sgemmKernel2x3Go(k int, a *float32, aRow, aStep int, b *float32, bStep int, c *float32, ldc int, alpha, beta float32) {
	var c00, c01, c02, c10, c11, c12 float32
	pa0, pb := unsafe.Pointer(a), unsafe.Pointer(b)
	row1 := uintptr(aRow) * 4
	stepA, stepB := uintptr(aStep)*4, uintptr(bStep)*4
	// Offsets, not advancing pointers: a pointer is only formed for an element that is read,
	// never one step past the end.
	var offA, offB uintptr
	for range k {
		a0, a1 := *(*float32)(unsafe.Add(pa0, offA)), *(*float32)(unsafe.Add(pa0, offA+row1))
		bv := (*[3]float32)(unsafe.Add(pb, offB))
		b0, b1, b2 := bv[0], bv[1], bv[2]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		offA += stepA
		offB += stepB
	}
	storeRow3(c, alpha, beta, [3]float32{c00, c01, c02})
	storeRow3((*float32)(unsafe.Add(unsafe.Pointer(c), uintptr(ldc)*4)), alpha, beta, [3]float32{c10, c11, c12})
}

// storeRow3 sets the three values at c to alpha*acc + beta*c (c not read when beta == 0).
func storeRow3(c *float32, alpha, beta float32, acc [3]float32) {
	row := (*[3]float32)(unsafe.Pointer(c))
	for j, v := range acc {
		if beta == 0 {
			row[j] = alpha * v
		} else {
			row[j] = alpha*v + beta*row[j]
		}
	}
}
