package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var encodedOps = []evexOp{opVDPBF16PS, opVCVTNE2PS2BF16}

// registerSweep covers every bit of a register number: 0, each power of two and each value
// with all but one of the five bits set.
var registerSweep = []int{0, 1, 2, 4, 7, 8, 15, 16, 23, 24, 28, 29, 30, 31}

// TestEncodeByHand checks one encoding of each instruction, worked out by hand from the
// layout in evex.go.
func TestEncodeByHand(t *testing.T) {
	for _, c := range []struct {
		op   evexOp
		want []byte
	}{
		// zmm1, zmm2, zmm3: P0 = 1111 0010, P1 = 0 1101 1 10 (F3), P2 = 0 10 0 1 000, ModRM = 11 001 011.
		{opVDPBF16PS, []byte{0x62, 0xf2, 0x6e, 0x48, 0x52, 0xcb}},
		{opVCVTNE2PS2BF16, []byte{0x62, 0xf2, 0x6f, 0x48, 0x72, 0xcb}},
	} {
		if got := c.op.encode(1, 2, 3); !bytes.Equal(got, c.want) {
			t.Errorf("%s: % x, want % x", c.op.intel(1, 2, 3), got, c.want)
		}
	}
}

// TestEncodeObjdump disassembles every encoding of a sweep over the registers with binutils'
// objdump, where it is installed, and checks each line names the instruction and registers it
// was encoded from.
func TestEncodeObjdump(t *testing.T) {
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("objdump (binutils) is not installed")
	}
	var code []byte
	var want []string
	for _, op := range encodedOps {
		for _, d := range registerSweep {
			for _, s1 := range registerSweep {
				for _, s2 := range registerSweep {
					code = append(code, op.encode(d, s1, s2)...)
					want = append(want, fmt.Sprintf("%s zmm%d,zmm%d,zmm%d", strings.ToLower(op.name), d, s1, s2))
				}
			}
		}
	}
	file := filepath.Join(t.TempDir(), "code.bin")
	if err := os.WriteFile(file, code, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(objdump, "-D", "-b", "binary", "-m", "i386:x86-64", "-M", "intel", file).Output()
	if err != nil {
		t.Fatalf("objdump: %v", err)
	}
	got := disassembled(string(out))
	if len(got) != len(want) {
		t.Fatalf("objdump shows %d instructions, want %d:\n%s", len(got), len(want), out)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("instruction %d disassembles as %q, want %q", i, got[i], want[i])
		}
	}
}

// disassembled returns the instruction text of each line of objdump -d output, spaces after
// the mnemonic squeezed to one.
func disassembled(out string) []string {
	var insns []string
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Split(line, "\t")
		if len(fields) < 3 || !strings.HasSuffix(strings.TrimSpace(fields[0]), ":") {
			continue
		}
		insns = append(insns, strings.Join(strings.Fields(fields[2]), " "))
	}
	return insns
}

func TestEncodeRejectsRegister(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("encode(32, 0, 0) did not panic")
		}
	}()
	opVDPBF16PS.encode(32, 0, 0)
}
