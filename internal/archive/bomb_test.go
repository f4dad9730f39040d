package archive

import (
	"archive/tar"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/semprox/semprox/internal/childtest"
)

// Archive bombs: small archives that expand to far more than their size. TestExtractBombs
// extracts each in a child process under a 4 GB address-space limit; each must be refused
// within the limits, having written at most MaxBytes.

// bombLimits are the limits the bombs are extracted with.
var bombLimits = Limits{MaxBytes: 64 << 20, MaxFiles: 1000}

// deflateSegment deflates data, ending with a sync flush so that segments concatenate, or with
// the final block when final is set.
func deflateSegment(t testing.TB, data []byte, final bool) []byte {
	t.Helper()
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestCompression)
	fw.Write(data)
	var err error
	if final {
		err = fw.Close()
	} else {
		err = fw.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// zerosSegment deflates n zero bytes (a multiple of 1 MiB) as one sync-flushed segment.
func zerosSegment(t testing.TB, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestCompression)
	zeros := make([]byte, 1<<20)
	for range n >> 20 {
		fw.Write(zeros)
	}
	if err := fw.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gzipMember frames deflate data as a gzip member. Its CRC is not computed (zero): every bomb
// must be refused before Extract reaches the trailer.
func gzipMember(deflated []byte, size uint64) []byte {
	b := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}
	b = append(b, deflated...)
	b = binary.LittleEndian.AppendUint32(b, 0)
	return binary.LittleEndian.AppendUint32(b, uint32(size))
}

// tarHeader returns the header blocks tar writes for h.
func tarHeader(t testing.TB, h *tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(h); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The zeros of the big bombs: zerosReps copies of the deflated form of zerosBlock zeros.
const zerosBlock, zerosReps = 100 << 20, 100

var bombs = []struct {
	name  string
	build func(t testing.TB) []byte
	is    error
	says  []string
	files int // files written before the refusal
}{
	// One entry of 10 GiB of zeros that says so: refused on its header.
	{"zeros_10GiB", func(t testing.TB) []byte {
		const n = zerosReps * zerosBlock
		hdr := deflateSegment(t, tarHeader(t, &tar.Header{Name: "zeros.bin", Typeflag: tar.TypeReg, Mode: 0o644, Size: n}), false)
		block := zerosSegment(t, zerosBlock)
		z := append(hdr, bytes.Repeat(block, zerosReps+1)...)
		return gzipMember(append(z, deflateSegment(t, nil, true)...), n)
	}, ErrLimit, []string{`"zeros.bin"`, "it is 10485760000 bytes, and only 67108864 of the 67108864-byte limit are left"}, 0},
	// 1000 entries of 16 MiB of zeros, 16 GiB in all: the fifth is refused.
	{"entries_of_zeros", func(t testing.TB) []byte {
		const n, size = 1000, 16 << 20
		block := zerosSegment(t, size)
		var z []byte
		for i := range n {
			z = append(z, deflateSegment(t, tarHeader(t, &tar.Header{Name: fmt.Sprintf("z/%04d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: size}), false)...)
			z = append(z, block...)
		}
		return gzipMember(append(z, deflateSegment(t, make([]byte, 1024), true)...), n*size)
	}, ErrLimit, []string{`"z/0004"`, "it is 16777216 bytes, and only 0 of the 67108864-byte limit are left"}, 4},
	// A small archive followed by 10 GiB of zeros: refused after maxTrailing of them.
	{"trailing_zeros", func(t testing.TB) []byte {
		const n = zerosReps * zerosBlock
		z := deflateSegment(t, tarBytes(t, file("small", "x")), false)
		block := zerosSegment(t, zerosBlock)
		z = append(z, bytes.Repeat(block, zerosReps)...)
		return gzipMember(append(z, deflateSegment(t, nil, true)...), n)
	}, ErrCorrupt, []string{"more than 1048576 bytes follow the end of the tar data"}, 1},
	// 100,000 empty files: the 1001st entry is refused.
	{"many_entries", func(t testing.TB) []byte {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		tw := tar.NewWriter(zw)
		for i := range 100_000 {
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d/%06d", i), Typeflag: tar.TypeReg, Mode: 0o644})
		}
		tw.Close()
		zw.Close()
		return b.Bytes()
	}, ErrLimit, []string{`"d/001000"`, "more than 1000 entries"}, 1000},
	// A pax extended header that claims 10 GiB, followed by zeros.
	{"pax_header_10GiB", func(t testing.TB) []byte {
		const n = zerosReps * zerosBlock
		h := tarHeader(t, &tar.Header{Name: "x", Typeflag: tar.TypeReg, Size: 0})
		copy(h[156:], "x")                                   // typeflag: pax extended header
		copy(h[124:136], fmt.Sprintf("%011o\x00", int64(n))) // size
		var sum int64
		copy(h[148:156], "        ")
		for _, c := range h[:512] {
			sum += int64(c)
		}
		copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
		z := deflateSegment(t, h[:512], false)
		block := zerosSegment(t, zerosBlock)
		z = append(z, bytes.Repeat(block, zerosReps)...)
		return gzipMember(append(z, deflateSegment(t, nil, true)...), n)
	}, ErrCorrupt, []string{"archive: corrupt or truncated archive"}, 0},
}

// TestExtractBombs extracts each bomb with ExtractAtomic in a child process under a 4 GB
// address-space limit and a 20 s timeout: each is refused with the error expected, after
// writing no more than the limits allow, and leaves nothing behind.
func TestExtractBombs(t *testing.T) {
	for _, b := range bombs {
		t.Run(b.name, func(t *testing.T) {
			if !childtest.Child(t) {
				childtest.RunLimited(t, 4<<30, 20*time.Second)
				return
			}
			archive := b.build(t)
			base, target := dests(t)
			start := time.Now()
			st, err := ExtractAtomic(bytes.NewReader(archive), target, bombLimits)
			t.Logf("%d-byte archive refused in %v: %v", len(archive), time.Since(start).Round(time.Millisecond), err)
			if !errors.Is(err, b.is) {
				t.Fatalf("error %v, want %v", err, b.is)
			}
			for _, s := range b.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if st.Files != b.files || st.Bytes > bombLimits.MaxBytes {
				t.Errorf("wrote %+v, want %d files within %d bytes", st, b.files, bombLimits.MaxBytes)
			}
			onlyDirs(t, base)
		})
	}
}
