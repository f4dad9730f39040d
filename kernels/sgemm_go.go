package kernels

import "unsafe"

// genericGemmKernel is the plain Go micro-kernel, the fallback on every machine.
var genericGemmKernel = gemmKernel{mr: 2, nr: 4, kc: 256, nc: 512, fn: sgemmKernel2x4Go}

// sgemmKernel2x4Go is the microKernel contract for a 2x4 tile in plain Go. Eight scalar
// accumulators, two values of A and four of B fit the sixteen SSE registers the Go compiler
// uses; larger tiles spill to the stack and run slower.
func sgemmKernel2x4Go(k int, a *float32, aRow, aStep int, b *float32, bStep int, c *float32, ldc int, alpha, beta float32) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	pa, pb := unsafe.Pointer(a), unsafe.Pointer(b)
	row1 := uintptr(aRow) * 4
	var offA, offB uintptr
	for range k {
		a0 := *(*float32)(unsafe.Add(pa, offA))
		a1 := *(*float32)(unsafe.Add(pa, offA+row1))
		bv := (*[4]float32)(unsafe.Add(pb, offB))
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		offA += uintptr(aStep) * 4
		offB += uintptr(bStep) * 4
	}
	storeRow4(c, alpha, beta, [4]float32{c00, c01, c02, c03})
	storeRow4((*float32)(unsafe.Add(unsafe.Pointer(c), uintptr(ldc)*4)), alpha, beta, [4]float32{c10, c11, c12, c13})
}

// storeRow4 sets the four values at c to alpha*acc + beta*c (c not read when beta == 0).
func storeRow4(c *float32, alpha, beta float32, acc [4]float32) {
	row := (*[4]float32)(unsafe.Pointer(c))
	for j, v := range acc {
		if beta == 0 {
			row[j] = alpha * v
		} else {
			row[j] = alpha*v + beta*row[j]
		}
	}
}
