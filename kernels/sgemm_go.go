package kernels

import "unsafe"

// genericGemmKernel is the plain Go micro-kernel, the fallback on every machine.
var genericGemmKernel = gemmKernel{mr: 4, nr: 4, kc: 256, nc: 512, fn: sgemmKernel4x4Go}

// sgemmKernel4x4Go is the microKernel contract for a 4x4 tile in plain Go: sixteen scalar
// accumulators, one fused step per p.
func sgemmKernel4x4Go(k int, a *float32, aRow, aStep int, b *float32, bStep int, c *float32, ldc int, alpha, beta float32) {
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	pa, pb := unsafe.Pointer(a), unsafe.Pointer(b)
	r1, r2, r3 := uintptr(aRow)*4, uintptr(aRow)*8, uintptr(aRow)*12
	var offA, offB uintptr
	for range k {
		a0 := *(*float32)(unsafe.Add(pa, offA))
		a1 := *(*float32)(unsafe.Add(pa, offA+r1))
		a2 := *(*float32)(unsafe.Add(pa, offA+r2))
		a3 := *(*float32)(unsafe.Add(pa, offA+r3))
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
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
		offA += uintptr(aStep) * 4
		offB += uintptr(bStep) * 4
	}
	tile := [4][4]float32{
		{c00, c01, c02, c03},
		{c10, c11, c12, c13},
		{c20, c21, c22, c23},
		{c30, c31, c32, c33},
	}
	pc := unsafe.Pointer(c)
	for i := range tile {
		row := (*[4]float32)(unsafe.Add(pc, uintptr(i*ldc)*4))
		for j, v := range tile[i] {
			if beta == 0 {
				row[j] = alpha * v
			} else {
				row[j] = alpha*v + beta*row[j]
			}
		}
	}
}
