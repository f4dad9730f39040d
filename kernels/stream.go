package kernels

import "unsafe"

// streamCopy is an assembly copy with non-temporal stores of a multiple of lanes floats to a
// destination aligned to 4*lanes bytes.
type streamCopy struct {
	lanes int
	fn    func(dst, src *float32, n int)
}

// streamThreshold is the result size, in bytes, from which kernels (attention, LayerNorm) write
// with non-temporal stores: well past what the caches of a few cores hold, so the result would
// be evicted before it is read anyway, and reading each line before overwriting it costs a third
// of a streaming kernel's memory traffic. Tests change it to force either path.
var streamThreshold = 16 << 20

// storeRow copies src into dst (at least as long). With stream set, the whole vectors go
// through non-temporal stores when the active path has them and dst is aligned for them; a
// task that streams must call fenceStreams before it returns.
func storeRow(dst, src []float32, stream bool) {
	if stream && len(src) > 0 {
		sc := streamCopyFor(active)
		whole := len(src) / max(sc.lanes, 1) * sc.lanes
		if sc.fn != nil && whole > 0 && uintptr(unsafe.Pointer(&dst[0]))%uintptr(4*sc.lanes) == 0 {
			_ = dst[len(src)-1]
			sc.fn(&dst[0], &src[0], whole)
			copy(dst[whole:len(src)], src[whole:])
			return
		}
	}
	copy(dst, src)
}
