package archive

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzExtract extracts arbitrary input into base/a/dest: whatever the input, Extract returns
// (no panic, no hang), writes nothing but regular files and directories, nothing outside dest,
// no file mode beyond 0644 and no more than its limits allow; on success its Stats match what
// is on disk.
func FuzzExtract(f *testing.F) {
	f.Add(tgz(f, goodEntries()...))
	f.Add(tarBytes(f, goodEntries()...))
	for _, c := range hostile {
		f.Add(tgz(f, c.entries...))
		f.Add(tarBytes(f, c.entries...))
	}
	good := tgz(f, goodEntries()...)
	f.Add(good[:len(good)/2])
	f.Add([]byte("<html>not found</html>"))
	f.Add([]byte{})
	lim := Limits{MaxBytes: 1 << 16, MaxFiles: 64}
	f.Fuzz(func(t *testing.T, in []byte) {
		base := t.TempDir()
		dest := filepath.Join(base, "a", "dest")
		if err := os.MkdirAll(dest, 0o755); err != nil {
			t.Fatal(err)
		}
		st, err := Extract(bytes.NewReader(in), dest, lim)
		var files int
		var size int64
		walkErr := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(base, p)
			if rel != "." && rel != "a" && rel != filepath.Join("a", "dest") && !strings.HasPrefix(rel, filepath.Join("a", "dest")+string(filepath.Separator)) {
				t.Errorf("%s written outside the destination", rel)
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			switch {
			case d.IsDir():
			case info.Mode().IsRegular():
				files++
				size += info.Size()
				if info.Mode()&^0o644 != 0 {
					t.Errorf("%s: mode %v", rel, info.Mode())
				}
			default:
				t.Errorf("%s: type %v", rel, info.Mode().Type())
			}
			return nil
		})
		if walkErr != nil {
			t.Fatal(walkErr)
		}
		if files > lim.MaxFiles || size > lim.MaxBytes {
			t.Errorf("%d files of %d bytes, over the limits %+v", files, size, lim)
		}
		if err == nil && (st.Files != files || st.Bytes != size) {
			t.Errorf("stats %+v, on disk %d files of %d bytes", st, files, size)
		}
	})
}
