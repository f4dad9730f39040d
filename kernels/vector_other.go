//go:build !amd64 || !gc || purego

package kernels

// vectorAsmFor returns nil: this build has only the Go versions of the vector kernels.
func vectorAsmFor(SIMD) *vectorAsm { return nil }
