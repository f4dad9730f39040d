package kernels

import "unsafe"

// Alignment is the byte alignment of every buffer the kernels allocate: one cache line, and one
// AVX-512 register.
const Alignment = 64

// AlignedFloat32s returns a zeroed slice of length and capacity n whose first element sits on an
// Alignment-byte boundary. It panics if n is negative.
func AlignedFloat32s(n int) []float32 {
	if n < 0 {
		panic("kernels: AlignedFloat32s: negative length")
	}
	if n == 0 {
		return []float32{}
	}
	const pad = Alignment / 4
	raw := make([]float32, n+pad)
	off := 0
	if rem := uintptr(unsafe.Pointer(&raw[0])) % Alignment; rem != 0 {
		off = int((Alignment - rem) / 4)
	}
	return raw[off : off+n : off+n]
}

// IsAligned reports whether the first element of s sits on an Alignment-byte boundary.
// An empty slice counts as aligned.
func IsAligned(s []float32) bool {
	return len(s) == 0 || uintptr(unsafe.Pointer(&s[0]))%Alignment == 0
}

// growAligned returns s if it holds n elements, else a new zeroed slice of n from
// AlignedFloat32s: the way a reused work buffer (packing panels, attention blocks, partial sums)
// grows without reallocating once warm. A new slice does not keep s's contents.
func growAligned(s []float32, n int) []float32 {
	if len(s) >= n {
		return s
	}
	return AlignedFloat32s(n)
}
