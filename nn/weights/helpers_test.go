package weights

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/semprox/semprox/tensor"
)

// torchrefDir holds the repository's shared PyTorch fixtures (see its README.md).
const torchrefDir = "../../testdata/torchref"

// writeTemp writes data to a new file in a test's temporary directory and returns its path.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// stFile assembles a safetensors file from a JSON header and a data section, without
// padding, so that tests control every byte.
func stFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

// wantError checks that err is an *Error for path naming tensor (when tensor is not
// empty) whose message contains every one of parts.
func wantError(t *testing.T, err error, path, tensorName string, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q (%T) is not a *weights.Error", err, err)
	}
	if e.Path != path {
		t.Errorf("error %q: Path = %q, want %q", err, e.Path, path)
	}
	if e.Tensor != tensorName {
		t.Errorf("error %q: Tensor = %q, want %q", err, e.Tensor, tensorName)
	}
	msg := err.Error()
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q does not contain %q", msg, p)
		}
	}
}

// sameBits reports whether a and b have equal shapes and bit-identical elements.
func sameBits(a, b *tensor.Tensor) bool {
	if !slices.Equal(a.Shape(), b.Shape()) {
		return false
	}
	x, y := a.Data(), b.Data()
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return false
		}
	}
	return true
}

// mustRead reads a checkpoint or fails the test.
func mustRead(t *testing.T, path string) *Checkpoint {
	t.Helper()
	c, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
