package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// entry is one tar entry of a test archive: a header and, for a file, its content.
type entry struct {
	hdr  tar.Header
	data string
}

func file(name, data string) entry {
	return entry{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))}, data}
}

func dir(name string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

func link(typ byte, name, target string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: typ, Linkname: target, Mode: 0o777}}
}

// tarBytes writes entries as a plain tar archive.
func tarBytes(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("header %q: %v", h.Name, err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

// tgz writes entries as a gzip-compressed tar archive.
func tgz(t testing.TB, entries ...entry) []byte { return gzipBytes(t, tarBytes(t, entries...)) }

var roomy = Limits{MaxBytes: 1 << 20, MaxFiles: 100}

// tree lists every path beneath root (slash-separated, directories with a trailing slash)
// with the content of each file, failing on anything but files and directories.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			out[rel+"/"] = ""
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = string(b)
		default:
			t.Errorf("%s: type %v is neither a file nor a directory", p, d.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, root string, want map[string]string) {
	t.Helper()
	got := tree(t, root)
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: %q (present %v), want %q", k, g, ok, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: extracted, not in the archive", k)
		}
	}
}

// goodEntries is a small dataset-like archive: a top directory listed or implied, nested files,
// modes that must not survive (setuid, world-writable), owners, a "./" entry and a pax global
// header.
func goodEntries() []entry {
	suid := file("top/bin/tool", "#!/bin/sh\n")
	suid.hdr.Mode = 0o4777
	suid.hdr.Uid, suid.hdr.Gid = 0, 0
	open := dir("top/open/")
	open.hdr.Mode = 0o1777
	return []entry{
		{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "x"}}},
		dir("./"),
		dir("top/"),
		file("top/images.txt", "1 a/1.jpg\n"),
		file("top/a/1.jpg", "jpeg bytes"),
		suid,
		open,
		file("top/open/../b/2.jpg", "more"),
		file("top/empty", ""),
		file("README", "beside top"),
	}
}

var goodTree = map[string]string{
	"top/": "", "top/images.txt": "1 a/1.jpg\n", "top/a/": "", "top/a/1.jpg": "jpeg bytes",
	"top/bin/": "", "top/bin/tool": "#!/bin/sh\n", "top/open/": "", "top/b/": "", "top/b/2.jpg": "more",
	"top/empty": "", "README": "beside top",
}

// TestExtractGood extracts the good archive, compressed and plain, and checks the files, their
// modes and the counts.
func TestExtractGood(t *testing.T) {
	for name, b := range map[string][]byte{"tgz": tgz(t, goodEntries()...), "tar": tarBytes(t, goodEntries()...)} {
		t.Run(name, func(t *testing.T) {
			dest := t.TempDir()
			st, err := Extract(bytes.NewReader(b), dest, roomy)
			if err != nil {
				t.Fatal(err)
			}
			sameTree(t, dest, goodTree)
			if want := (Stats{Files: 6, Dirs: 5, Bytes: int64(len("1 a/1.jpg\njpeg bytes#!/bin/sh\nmorebeside top"))}); st != want {
				t.Errorf("stats %+v, want %+v", st, want)
			}
			for p, want := range map[string]fs.FileMode{"top/bin/tool": 0o644, "top/open": 0o755 | fs.ModeDir, "top/a/1.jpg": 0o644} {
				fi, err := os.Stat(filepath.Join(dest, p))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode()&^want != 0 || fi.Mode()&(fs.ModeSetuid|fs.ModeSticky) != 0 {
					t.Errorf("%s: mode %v, want at most %v", p, fi.Mode(), want)
				}
			}
		})
	}
}

// dests makes base/a/b and returns base and the target base/a/b/target, so that an entry
// escaping by one or two levels would land in a directory the test inspects.
func dests(t *testing.T) (base, target string) {
	base = t.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	return base, filepath.Join(base, "a", "b", "target")
}

// onlyDirs checks that base holds nothing but the directories a and a/b, so that neither the
// target nor a temporary directory nor anything an entry escaped to is left.
func onlyDirs(t *testing.T, base string) {
	t.Helper()
	sameTree(t, base, map[string]string{"a/": "", "a/b/": ""})
}

var hostile = []struct {
	name    string
	entries []entry
	is      error
	entry   string // the entry the error names
	says    string
}{
	{"dotdot", []entry{file("top/ok", "x"), file("../evil", "x")}, ErrUnsafePath, "../evil", "leaves the destination"},
	{"dotdot2", []entry{file("top/ok", "x"), file("top/../../../evil", "x")}, ErrUnsafePath, "top/../../../evil", "leaves"},
	{"backslash", []entry{file("top/ok", "x"), file(`..\evil`, "x")}, ErrUnsafePath, `..\\evil`, "leaves"},
	{"backslash_deep", []entry{file(`top\..\..\..\evil`, "x")}, ErrUnsafePath, `top\\..\\..\\..\\evil`, "leaves"},
	{"absolute", []entry{file("top/ok", "x"), file("/tmp/evil", "x")}, ErrUnsafePath, "/tmp/evil", "unsafe path: it is absolute"},
	{"drive", []entry{file(`C:\evil`, "x")}, ErrUnsafePath, `C:\\evil`, "absolute"},
	{"dotdot_dir", []entry{dir("../../evil/")}, ErrUnsafePath, "../../evil/", "leaves"},
	{"symlink", []entry{file("top/ok", "x"), link(tar.TypeSymlink, "top/link", "../../..")}, ErrLink, "top/link", `symbolic link to "../../.."`},
	{"symlink_then_write", []entry{link(tar.TypeSymlink, "top", ".."), file("top/evil", "x")}, ErrLink, "top", "symbolic link"},
	{"hardlink", []entry{file("top/ok", "x"), link(tar.TypeLink, "top/hard", "/etc/passwd")}, ErrLink, "top/hard", `hard link to "/etc/passwd"`},
	{"device", []entry{{hdr: tar.Header{Name: "top/dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}}, ErrSpecial, "top/dev", "device"},
	{"fifo", []entry{{hdr: tar.Header{Name: "top/fifo", Typeflag: tar.TypeFifo}}}, ErrSpecial, "top/fifo", "FIFO"},
	{"duplicate", []entry{file("top/f", "x"), file("top/./f", "y")}, ErrDuplicate, "top/./f", "a file of that name came earlier"},
	{"file_then_dir", []entry{file("top/f", "x"), dir("top/f/")}, ErrDuplicate, "top/f/", "a file of that name"},
	{"dir_then_file", []entry{dir("top/d/"), file("top/d", "x")}, ErrDuplicate, "top/d", "a directory of that name"},
	{"under_file", []entry{file("top/f", "x"), file("top/f/g", "y")}, ErrDuplicate, "top/f/g", `"top/f" came earlier as a file`},
	{"file_as_dest", []entry{file("top/..", "x")}, ErrUnsafePath, "top/..", "destination directory"},
}

// TestExtractAtomicRefuses extracts each hostile archive with ExtractAtomic: the error names the
// entry and what is wrong, nothing was written outside the target, and the target does not
// exist after the failure.
func TestExtractAtomicRefuses(t *testing.T) {
	for _, c := range hostile {
		t.Run(c.name, func(t *testing.T) {
			base, target := dests(t)
			_, err := ExtractAtomic(bytes.NewReader(tgz(t, c.entries...)), target, roomy)
			var ee *EntryError
			if !errors.Is(err, c.is) || !errors.As(err, &ee) {
				t.Fatalf("error %v, want an EntryError wrapping %v", err, c.is)
			}
			if want := `archive entry "` + c.entry + `"`; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q, want it to start %q and say %q", err, want, c.says)
			}
			onlyDirs(t, base)
		})
	}
}

// TestExtractRefusesInPlace checks that Extract itself, into an existing directory, writes
// nothing outside it before refusing.
func TestExtractRefusesInPlace(t *testing.T) {
	for _, c := range hostile {
		t.Run(c.name, func(t *testing.T) {
			base, target := dests(t)
			os.Mkdir(target, 0o755)
			if _, err := Extract(bytes.NewReader(tgz(t, c.entries...)), target, roomy); !errors.Is(err, c.is) {
				t.Fatalf("error %v, want %v", err, c.is)
			}
			got := tree(t, base)
			for p := range got {
				if !strings.HasPrefix(p, "a/b/target/") && p != "a/" && p != "a/b/" {
					t.Errorf("%s written outside the target", p)
				}
			}
		})
	}
}

// TestExtractLimits checks the entry and byte limits: a header claiming more than is left is
// refused before anything of it is written, whatever data follows.
func TestExtractLimits(t *testing.T) {
	// A header that lies: 1 GB claimed, 10 bytes present.
	var lie bytes.Buffer
	tw := tar.NewWriter(&lie)
	tw.WriteHeader(&tar.Header{Name: "big.bin", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 30})
	lie.WriteString("0123456789")
	many := make([]entry, 10)
	for i := range many {
		many[i] = file("f"+string(rune('a'+i)), "x")
	}
	for _, c := range []struct {
		name    string
		archive []byte
		lim     Limits
		entry   string
		says    string
		wrote   int
	}{
		{"header_lies", gzipBytes(t, lie.Bytes()), Limits{MaxBytes: 1 << 20, MaxFiles: 10}, "big.bin",
			"it is 1073741824 bytes, and only 1048576 of the 1048576-byte limit are left", 0},
		{"total", tgz(t, file("a", strings.Repeat("a", 400)), file("b", strings.Repeat("b", 400)), file("c", strings.Repeat("c", 400))),
			Limits{MaxBytes: 1000, MaxFiles: 10}, "c", "it is 400 bytes, and only 200 of the 1000-byte limit are left", 2},
		{"entries", tgz(t, many...), Limits{MaxBytes: 1000, MaxFiles: 5}, "ff", "more than 5 entries", 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			dest := t.TempDir()
			st, err := Extract(bytes.NewReader(c.archive), dest, c.lim)
			if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), `"`+c.entry+`"`) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %v, want the limit error naming %q and saying %q", err, c.entry, c.says)
			}
			if got := len(tree(t, dest)); got != c.wrote || st.Files != c.wrote {
				t.Errorf("%d files written (stats %+v), want %d", got, st, c.wrote)
			}
			if st.Bytes > c.lim.MaxBytes {
				t.Errorf("wrote %d bytes, over the %d limit", st.Bytes, c.lim.MaxBytes)
			}
		})
	}
	if _, err := Extract(bytes.NewReader(tgz(t, file("a", "x"))), t.TempDir(), Limits{}); err == nil || !strings.Contains(err.Error(), "above zero") {
		t.Errorf("zero limits: %v", err)
	}
}

// TestExtractTruncated cuts a gzip-compressed archive at many points, and a plain one just
// before its end-of-archive blocks: each is an ErrCorrupt error, and ExtractAtomic leaves
// nothing.
func TestExtractTruncated(t *testing.T) {
	var entries []entry
	for i := range 20 {
		entries = append(entries, file("top/"+strings.Repeat("x", i+1), strings.Repeat(string(rune('a'+i)), 3000+i*997)))
	}
	full := tgz(t, entries...)
	for _, n := range []int{20, len(full) / 4, len(full) / 2, len(full) - 9, len(full) - 4, len(full) - 1} {
		base, target := dests(t)
		_, err := ExtractAtomic(bytes.NewReader(full[:n]), target, roomy)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("cut at %d of %d: %v, want ErrCorrupt", n, len(full), err)
		}
		onlyDirs(t, base)
	}
	plain := tarBytes(t, file("a", "x"), file("b", "y"))
	if _, err := Extract(bytes.NewReader(plain[:len(plain)-1024]), t.TempDir(), roomy); !errors.Is(err, ErrCorrupt) ||
		!strings.Contains(err.Error(), `ends after entry "b" without the end-of-archive blocks`) {
		t.Errorf("plain tar without its end: %v", err)
	}
	// A damaged byte in the middle of the gzip data.
	bad := slices.Clone(full)
	bad[len(bad)/2] ^= 0xff
	if _, err := Extract(bytes.NewReader(bad), t.TempDir(), roomy); !errors.Is(err, ErrCorrupt) {
		t.Errorf("damaged gzip: %v, want ErrCorrupt", err)
	}
}

// TestExtractNotArchive checks that input that is not a tar archive is refused with a clear
// error, whatever it is.
func TestExtractNotArchive(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		is   error
		says string
	}{
		{"empty", nil, ErrFormat, "the input is empty"},
		{"html", []byte("<!DOCTYPE html><html><body>Not found</body></html>\n"), ErrFormat, "its first 51 bytes are not a tar header"},
		{"text", bytes.Repeat([]byte("this is not a tar archive\n"), 100), ErrFormat, "its first 512 bytes are not a tar header"},
		{"zip", []byte("PK\x03\x04\x14\x00\x00\x00"), ErrFormat, "it is a zip archive"},
		{"bzip2", []byte("BZh91AY&SY"), ErrFormat, "it is bzip2-compressed"},
		{"xz", []byte("\xfd7zXZ\x00\x00"), ErrFormat, "it is xz-compressed"},
		{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0}, ErrFormat, "it is zstd-compressed"},
		{"gzip_text", gzipBytes(t, bytes.Repeat([]byte("plain text, gzip-compressed\n"), 40)), ErrFormat, "not a gzip-compressed tar header"},
		{"gzip_empty", gzipBytes(t, nil), ErrFormat, "the gzip stream holds nothing"},
		{"gzip_header_only", []byte{0x1f, 0x8b, 8}, ErrCorrupt, "bad gzip header"},
		{"tar_no_entries", tarBytes(t), ErrFormat, "holds no entries"},
		{"zeros_then_data", append(make([]byte, 512), bytes.Repeat([]byte{1}, 512)...), ErrFormat, "not a tar header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			base, target := dests(t)
			_, err := ExtractAtomic(bytes.NewReader(c.in), target, roomy)
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %v, want %v saying %q", err, c.is, c.says)
			}
			onlyDirs(t, base)
		})
	}
}

// TestExtractTrailing accepts the padding tar writers add after the end-of-archive blocks and
// refuses more than maxTrailing bytes of anything.
func TestExtractTrailing(t *testing.T) {
	b := tarBytes(t, file("a", "x"))
	if _, err := Extract(bytes.NewReader(gzipBytes(t, append(b, make([]byte, 9*1024)...))), t.TempDir(), roomy); err != nil {
		t.Errorf("record padding: %v", err)
	}
	if _, err := Extract(bytes.NewReader(gzipBytes(t, append(b, make([]byte, maxTrailing+1)...))), t.TempDir(), roomy); !errors.Is(err, ErrCorrupt) ||
		!strings.Contains(err.Error(), "follow the end of the tar data") {
		t.Errorf("over a MiB after the end: %v", err)
	}
}

// TestExtractAtomic checks the success path: the target appears whole, with no temporary
// directory beside it, and an existing target is refused and left alone.
func TestExtractAtomic(t *testing.T) {
	base, target := dests(t)
	st, err := ExtractAtomic(bytes.NewReader(tgz(t, goodEntries()...)), target, roomy)
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 6 {
		t.Errorf("stats %+v", st)
	}
	want := map[string]string{"a/": "", "a/b/": "", "a/b/target/": ""}
	for k, v := range goodTree {
		want["a/b/target/"+k] = v
	}
	sameTree(t, base, want)
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm()&^0o755 != 0 {
		t.Errorf("target: %v %v", fi.Mode(), err)
	}
	if _, err := ExtractAtomic(bytes.NewReader(tgz(t, file("new", "x"))), target, roomy); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("existing target: %v", err)
	}
	sameTree(t, base, want)

	// The parent is created when missing.
	deep := filepath.Join(t.TempDir(), "x", "y", "z")
	if _, err := ExtractAtomic(bytes.NewReader(tgz(t, file("f", "1"))), deep, roomy); err != nil {
		t.Fatal(err)
	}
	sameTree(t, deep, map[string]string{"f": "1"})
}

// TestExtractAtomicDir makes the archive's top directory the target and drops what lies beside
// it; an archive without that directory is an error listing its top level, leaving nothing.
func TestExtractAtomicDir(t *testing.T) {
	base, target := dests(t)
	if _, err := ExtractAtomicDir(bytes.NewReader(tgz(t, goodEntries()...)), target, "top", roomy); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a/": "", "a/b/": "", "a/b/target/": ""}
	for k, v := range goodTree {
		if rest, ok := strings.CutPrefix(k, "top/"); ok && rest != "" {
			want["a/b/target/"+rest] = v
		}
	}
	sameTree(t, base, want)

	base, target = dests(t)
	_, err := ExtractAtomicDir(bytes.NewReader(tgz(t, goodEntries()...)), target, "CUB_200_2011", roomy)
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), `it has no directory "CUB_200_2011" (its top level holds "README", "top/")`) {
		t.Errorf("missing top: %v", err)
	}
	onlyDirs(t, base)
	_, err = ExtractAtomicDir(bytes.NewReader(tgz(t, file("README", "x"))), target, "top/../..", roomy)
	if err == nil || !strings.Contains(err.Error(), "is not a directory within an archive") {
		t.Errorf("top leaving the archive: %v", err)
	}
	onlyDirs(t, base)
}
