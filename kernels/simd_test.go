package kernels

import "testing"

func TestParseSIMD(t *testing.T) {
	for in, want := range map[string]SIMD{"avx512": AVX512, "AVX2": AVX2, " generic ": Generic} {
		if got, err := ParseSIMD(in); err != nil || got != want {
			t.Errorf("ParseSIMD(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseSIMD("sse9"); err == nil {
		t.Error("ParseSIMD(sse9) accepted")
	}
}

func TestSetSIMDRejectsUnsupported(t *testing.T) {
	saved := ActiveSIMD()
	defer SetSIMD(saved)
	if err := SetSIMD(SIMD(7)); err == nil {
		t.Error("SetSIMD(7) accepted")
	}
	if BestSIMD() < AVX512 {
		if err := SetSIMD(AVX512); err == nil {
			t.Error("SetSIMD(AVX512) accepted on a machine without it")
		}
	}
	if err := SetSIMD(Generic); err != nil || ActiveSIMD() != Generic {
		t.Errorf("SetSIMD(Generic): %v, active %v", err, ActiveSIMD())
	}
}
