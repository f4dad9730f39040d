package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestTransposeInto(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	sizes := []int{0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 70}
	forEachSIMD(t, func(t *testing.T) {
		for _, rows := range sizes {
			for _, depth := range sizes {
				lds, ldd := depth+rng.IntN(5), rows+rng.IntN(5)
				src := make([]float32, max(0, (rows-1)*lds+depth))
				for i := range src {
					src[i] = rng.Float32()
				}
				const sentinel = -7
				dst := make([]float32, max(0, (depth-1)*ldd+rows))
				for i := range dst {
					dst[i] = sentinel
				}
				transposeInto(dst, ldd, src, lds, rows, depth)
				for p := range depth {
					for j := range ldd {
						at := p*ldd + j
						if at >= len(dst) {
							break
						}
						want := float32(sentinel)
						if j < rows {
							want = src[j*lds+p]
						}
						if dst[at] != want {
							t.Fatalf("%s: dst[%d,%d] = %v, want %v", fmt.Sprint(rows, "x", depth), p, j, dst[at], want)
						}
					}
				}
			}
		}
	})
}
