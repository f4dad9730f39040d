package data

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The fuzz targets check that the parsers never panic, only return errors, and that what
// they accept is consistent.

func FuzzParseIDX(f *testing.F) {
	f.Add(idxBytes([]int{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	f.Add(idxBytes([]int{3}, []byte{1, 2, 3}))
	f.Add([]byte{0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		dims, pix, err := ParseIDX(b)
		if err != nil {
			return
		}
		n := 1
		for _, d := range dims {
			n *= d
		}
		if len(pix) != n {
			t.Fatalf("dims %v, %d bytes", dims, len(pix))
		}
	})
}

func FuzzReadMAT(f *testing.F) {
	f.Add(carsAnnos([]string{"car_ims/000001.jpg", "car_ims/000002.jpg"}, []int{1, 99}, 2))
	f.Add(matFile(matStruct("annotations", []string{"relative_im_path", "class"}, [][][]byte{{matChar("a.jpg"), matDouble(3)}})))
	f.Add(matFile(matCell("c", matChar("x"), matUint8(7))))
	f.Fuzz(func(t *testing.T, b []byte) {
		vars, err := ReadMAT(b)
		if err != nil {
			return
		}
		for _, v := range vars {
			if v.Class == mxSTRUCT {
				for i := range v.Elems {
					for _, name := range v.Fields {
						v.Field(i, name)
					}
				}
			}
		}
	})
}

// fuzzList writes b as the named list file of a fresh directory and runs read on it; the
// only acceptable failure is a LayoutError.
func fuzzList(t *testing.T, name string, b []byte, read func(root string) (*Dataset, error)) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := read(root)
	if err != nil {
		var le *LayoutError
		if !errors.As(err, &le) {
			t.Fatalf("error %v is not a LayoutError", err)
		}
		return
	}
	for _, sp := range ds.Splits {
		for _, s := range sp.Samples {
			if s.Label < 0 || s.Label >= sp.Classes {
				t.Fatalf("split %s: label %d of %d classes", sp.Name, s.Label, sp.Classes)
			}
		}
	}
}

func FuzzListSOP(f *testing.F) {
	f.Add([]byte("image_id class_id super_class_id path\n1 1 1 x/1.JPG\n"))
	f.Add([]byte("image_id class_id super_class_id path\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzList(t, "Ebay_train.txt", b, func(root string) (*Dataset, error) {
			os.WriteFile(filepath.Join(root, "Ebay_test.txt"), b, 0o644)
			return ReadSOP(root)
		})
	})
}

func FuzzListInShop(f *testing.F) {
	f.Add([]byte("1\nimage_name item_id evaluation_status\nimg/a.jpg id_1 train\n"))
	f.Add([]byte("0\nimage_name item_id evaluation_status\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzList(t, "list_eval_partition.txt", b, ReadInShop)
	})
}

func FuzzListCUB(f *testing.F) {
	f.Add([]byte("1 001.A/a.jpg\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzList(t, "images.txt", b, func(root string) (*Dataset, error) {
			os.WriteFile(filepath.Join(root, "image_class_labels.txt"), []byte("1 1\n2 150\n"), 0o644)
			return ReadCUB(root)
		})
	})
}

func FuzzListINat(f *testing.F) {
	f.Add([]byte("train_val2018/Plantae/7477/a.jpg\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzList(t, "Inaturalist_train_set1.txt", b, ReadINat)
	})
}
