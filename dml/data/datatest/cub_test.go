package datatest_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/dml/data/datatest"
	"github.com/semprox/semprox/internal/archive"
)

// TestWriteCUBArchive unpacks generated archives as Download does and reads them with ReadCUB:
// both splits have the classes asked for (the train split 32 classes of 2 images for the
// cub200_small shape, all 200 CUB ids for 200), and the bytes repeat.
func TestWriteCUBArchive(t *testing.T) {
	for _, c := range []struct{ classes, per, train, test int }{{64, 2, 32, 32}, {200, 1, 100, 100}, {3, 2, 2, 1}, {1, 1, 1, 0}} {
		b, sum, err := datatest.CUBArchive(c.classes, c.per, 8)
		if err != nil {
			t.Fatal(err)
		}
		root := filepath.Join(t.TempDir(), datatest.CUBRoot)
		if _, err := archive.ExtractAtomicDir(bytes.NewReader(b), root, datatest.CUBRoot, archive.Limits{MaxBytes: 1 << 30, MaxFiles: 10000}); err != nil {
			t.Fatal(err)
		}
		ds, err := data.ReadCUB(root)
		if err != nil {
			t.Fatal(err)
		}
		train, test := ds.Split("train"), ds.Split("test")
		if train.Classes != c.train || len(train.Samples) != c.train*c.per || test.Classes != c.test || len(test.Samples) != c.test*c.per {
			t.Errorf("%d classes of %d: train %d classes %d images, test %d classes %d images", c.classes, c.per,
				train.Classes, len(train.Samples), test.Classes, len(test.Samples))
		}
		if c.classes == 200 && (train.ClassNames[99] != "100" || test.ClassNames[0] != "101" || test.ClassNames[99] != "200") {
			t.Errorf("200 classes: train %v, test %v", train.ClassNames, test.ClassNames)
		}
		again, sum2, _ := datatest.CUBArchive(c.classes, c.per, 8)
		if !bytes.Equal(b, again) || sum != sum2 || len(sum) != 32 {
			t.Errorf("%d classes: the archive differs between two calls (%s, %s)", c.classes, sum, sum2)
		}
	}
	for _, bad := range [][3]int{{0, 1, 8}, {201, 1, 8}, {10, 0, 8}, {10, 1, 0}} {
		if err := datatest.WriteCUBArchive(&bytes.Buffer{}, bad[0], bad[1], bad[2]); err == nil || !strings.Contains(err.Error(), "want 1-200 classes") {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
