package kernels

import "testing"

func TestStoreRow(t *testing.T) {
	forEachSIMD(t, func(t *testing.T) {
		for _, n := range []int{0, 1, 7, 8, 15, 16, 17, 33, 64, 100} {
			for _, offset := range []int{0, 1, 8, 16} {
				for _, stream := range []bool{false, true} {
					src := make([]float32, n)
					for i := range src {
						src[i] = float32(i) + 0.5
					}
					buf := AlignedFloat32s(n + 20)
					for i := range buf {
						buf[i] = -1
					}
					storeRow(buf[offset:], src, stream)
					fenceStreams()
					for i, v := range buf {
						want := float32(-1)
						if i >= offset && i < offset+n {
							want = src[i-offset]
						}
						if v != want {
							t.Fatalf("n=%d offset=%d stream=%v: buf[%d] = %v, want %v", n, offset, stream, i, v, want)
						}
					}
				}
			}
		}
	})
}
