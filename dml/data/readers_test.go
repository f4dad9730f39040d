package data

import (
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// checkSplit compares a split's size, class count and labels (in sample order).
func checkSplit(t *testing.T, ds *Dataset, name string, classes int, labels []int) *Split {
	t.Helper()
	sp := ds.Split(name)
	if sp == nil {
		t.Fatalf("no split %q", name)
	}
	var got []int
	for _, s := range sp.Samples {
		got = append(got, s.Label)
	}
	if sp.Classes != classes || !slices.Equal(got, labels) || !slices.Equal(sp.Labels(), got) {
		t.Fatalf("split %s: %d classes, labels %v; want %d, %v", name, sp.Classes, got, classes, labels)
	}
	return sp
}

// wantLayoutError checks that err is a LayoutError naming file (base name) and line.
func wantLayoutError(t *testing.T, err error, file string, line int) {
	t.Helper()
	var le *LayoutError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a LayoutError", err)
	}
	if filepath.Base(le.File) != file || le.Line != line || le.Layout == "" {
		t.Fatalf("error %q: file %s line %d; want %s line %d and a layout", err, le.File, le.Line, file, line)
	}
	if !strings.Contains(err.Error(), "expected") {
		t.Fatalf("error %q does not state the expected layout", err)
	}
}

func makeCUB(t *testing.T) string {
	root := t.TempDir()
	classes := []int{1, 2, 100, 101, 150, 200}
	var imgs, lbls []string
	id := 1
	for _, c := range classes {
		for k := range 2 {
			rel := fmt.Sprintf("%03d.Bird_%d/Bird_%d_%d.jpg", c, c, c, k)
			writeJPEG(t, filepath.Join(root, "images", rel), id)
			imgs = append(imgs, fmt.Sprintf("%d %s", id, rel))
			lbls = append(lbls, fmt.Sprintf("%d %d", id, c))
			id++
		}
	}
	writeText(t, filepath.Join(root, "images.txt"), imgs...)
	writeText(t, filepath.Join(root, "image_class_labels.txt"), lbls...)
	return root
}

func TestReadCUB(t *testing.T) {
	root := makeCUB(t)
	ds, err := ReadCUB(root)
	if err != nil {
		t.Fatal(err)
	}
	tr := checkSplit(t, ds, "train", 3, []int{0, 0, 1, 1, 2, 2})
	checkSplit(t, ds, "test", 3, []int{0, 0, 1, 1, 2, 2})
	if !slices.Equal(tr.ClassNames, []string{"1", "2", "100"}) {
		t.Errorf("class names %v", tr.ClassNames)
	}
	if _, err := os.Stat(tr.Samples[0].Path); err != nil {
		t.Error(err)
	}

	// a malformed line, a path that does not exist, a missing list file
	b, _ := os.ReadFile(filepath.Join(root, "images.txt"))
	lines := strings.Split(string(b), "\n")
	lines[2] = "3"
	writeText(t, filepath.Join(root, "images.txt"), lines...)
	_, err = ReadCUB(root)
	wantLayoutError(t, err, "images.txt", 3)
	lines[2] = "3 nowhere/x.jpg"
	writeText(t, filepath.Join(root, "images.txt"), lines...)
	_, err = ReadCUB(root)
	wantLayoutError(t, err, "images.txt", 3)
	if !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("error %q", err)
	}
	os.Remove(filepath.Join(root, "image_class_labels.txt"))
	_, err = ReadCUB(root)
	wantLayoutError(t, err, "image_class_labels.txt", 0)
}

func TestReadCarsMAT(t *testing.T) {
	root := t.TempDir()
	classes := []int{1, 98, 99, 196, 1, 99}
	var paths []string
	for i := range classes {
		p := fmt.Sprintf("car_ims/%06d.jpg", i+1)
		writeJPEG(t, filepath.Join(root, p), i)
		paths = append(paths, p)
	}
	writeFile(t, filepath.Join(root, "cars_annos.mat"), carsAnnos(paths, classes, 196))
	ds, err := ReadCars(root)
	if err != nil {
		t.Fatal(err)
	}
	tr := checkSplit(t, ds, "train", 2, []int{0, 1, 0})
	te := checkSplit(t, ds, "test", 2, []int{0, 1, 0})
	if !slices.Equal(tr.ClassNames, []string{"Car 1", "Car 98"}) || !slices.Equal(te.ClassNames, []string{"Car 99", "Car 196"}) {
		t.Errorf("class names %v %v", tr.ClassNames, te.ClassNames)
	}
	if filepath.Base(te.Samples[2].Path) != "000006.jpg" {
		t.Errorf("path %s", te.Samples[2].Path)
	}

	os.Remove(filepath.Join(root, paths[3]))
	_, err = ReadCars(root)
	if err == nil || !strings.Contains(err.Error(), "000004.jpg") || !strings.Contains(err.Error(), "cars_annos.mat") {
		t.Errorf("missing image: error %v", err)
	}
	writeFile(t, filepath.Join(root, "cars_annos.mat"), []byte("not a mat file"))
	_, err = ReadCars(root)
	wantLayoutError(t, err, "cars_annos.mat", 0)
}

func TestReadCarsFolder(t *testing.T) {
	root := t.TempDir()
	makeFolder(t, filepath.Join(root, "images"), []string{"Audi A4", "BMW M3", "Chevrolet Volt", "Dodge Ram"}, 2, "")
	ds, err := ReadCars(root)
	if err != nil {
		t.Fatal(err)
	}
	tr := checkSplit(t, ds, "train", 2, []int{0, 0, 1, 1})
	checkSplit(t, ds, "test", 2, []int{0, 0, 1, 1})
	if tr.ClassNames[1] != "BMW M3" {
		t.Errorf("class names %v", tr.ClassNames)
	}
	_, err = ReadCars(t.TempDir())
	wantLayoutError(t, err, "cars_annos.mat", 0)
}

func TestReadSOP(t *testing.T) {
	root := t.TempDir()
	hdr := "image_id class_id super_class_id path"
	rows := func(ids ...int) []string {
		out := []string{hdr}
		for i, c := range ids {
			p := fmt.Sprintf("bicycle_final/%d_%d.JPG", c, i)
			writeJPEG(t, filepath.Join(root, p), c+i)
			out = append(out, fmt.Sprintf("%d %d 1 %s", i+1, c, p))
		}
		return out
	}
	writeText(t, filepath.Join(root, "Ebay_train.txt"), rows(1, 1, 2, 10, 10)...)
	writeText(t, filepath.Join(root, "Ebay_test.txt"), rows(11319, 11318, 11318)...)
	ds, err := ReadSOP(root)
	if err != nil {
		t.Fatal(err)
	}
	checkSplit(t, ds, "train", 3, []int{0, 0, 1, 2, 2})
	checkSplit(t, ds, "test", 2, []int{1, 0, 0})

	writeText(t, filepath.Join(root, "Ebay_test.txt"), hdr, "1 11318 1 a.JPG extra")
	_, err = ReadSOP(root)
	wantLayoutError(t, err, "Ebay_test.txt", 2)
	os.Remove(filepath.Join(root, "Ebay_train.txt"))
	_, err = ReadSOP(root)
	wantLayoutError(t, err, "Ebay_train.txt", 0)
}

func TestReadInShop(t *testing.T) {
	root := t.TempDir()
	rows := []string{"7", "image_name item_id evaluation_status"}
	for i, r := range []struct{ item, part string }{
		{"id_00000001", "train"}, {"id_00000001", "train"}, {"id_00000003", "train"},
		{"id_00000002", "query"}, {"id_00000007", "gallery"}, {"id_00000002", "gallery"}, {"id_00000007", "query"},
	} {
		p := fmt.Sprintf("img/WOMEN/Dresses/%s/%02d_1_front.jpg", r.item, i)
		writeJPEG(t, filepath.Join(root, p), i)
		rows = append(rows, fmt.Sprintf("%s %s %s", p, r.item, r.part))
	}
	writeText(t, filepath.Join(root, "list_eval_partition.txt"), rows...)
	ds, err := ReadInShop(root)
	if err != nil {
		t.Fatal(err)
	}
	checkSplit(t, ds, "train", 2, []int{0, 0, 1})
	q := checkSplit(t, ds, "query", 2, []int{0, 1})
	g := checkSplit(t, ds, "gallery", 2, []int{1, 0})
	if q.ClassNames[1] != "id_00000007" || g.ClassNames[1] != "id_00000007" {
		t.Errorf("query and gallery label maps %v %v", q.ClassNames, g.ClassNames)
	}

	rows[0] = "8"
	writeText(t, filepath.Join(root, "list_eval_partition.txt"), rows...)
	_, err = ReadInShop(root)
	wantLayoutError(t, err, "list_eval_partition.txt", 1)
	rows[0] = "7"
	rows[5] = strings.Replace(rows[5], "query", "probe", 1)
	writeText(t, filepath.Join(root, "list_eval_partition.txt"), rows...)
	_, err = ReadInShop(root)
	wantLayoutError(t, err, "list_eval_partition.txt", 6)
}

func TestReadINat(t *testing.T) {
	root := t.TempDir()
	list := func(name string, classes ...string) {
		var lines []string
		for i, c := range classes {
			p := fmt.Sprintf("train_val2018/%s/%x.jpg", c, i+len(name))
			writeJPEG(t, filepath.Join(root, p), i)
			lines = append(lines, p)
		}
		writeText(t, filepath.Join(root, name), lines...)
	}
	list("Inaturalist_train_set1.txt", "Plantae/7477", "Aves/2761", "Plantae/7477")
	list("Inaturalist_test_set1.txt", "Fungi/1000", "Fungi/1001", "Fungi/1000", "Fungi/1001")
	ds, err := ReadINat(root)
	if err != nil {
		t.Fatal(err)
	}
	checkSplit(t, ds, "train", 2, []int{1, 0, 1})
	checkSplit(t, ds, "test", 2, []int{0, 1, 0, 1})

	writeText(t, filepath.Join(root, "Inaturalist_test_set1.txt"), "", "noclass.jpg")
	_, err = ReadINat(root)
	wantLayoutError(t, err, "Inaturalist_test_set1.txt", 2)
}

func TestReadFolder(t *testing.T) {
	root := t.TempDir()
	makeFolder(t, root, []string{"zebra", "ant", "moth", "bee", "cat"}, 2, "bee/01.jpg")
	writeText(t, filepath.Join(root, "ant", "notes.txt"), "not an image")
	ds, err := ReadFolder(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	tr := checkSplit(t, ds, "train", 2, []int{0, 0, 1, 1})
	checkSplit(t, ds, "test", 3, []int{0, 0, 1, 1, 2, 2})
	if !slices.Equal(tr.ClassNames, []string{"ant", "bee"}) {
		t.Errorf("class names %v", tr.ClassNames)
	}
	ds, err = ReadFolder(root, 5)
	if err != nil {
		t.Fatal(err)
	}
	checkSplit(t, ds, "test", 0, nil)
	if _, err := ReadFolder(root, 6); err == nil {
		t.Error("6 train classes of 5: no error")
	}
	_, err = ReadFolder(filepath.Join(root, "missing"), 0)
	wantLayoutError(t, err, "missing", 0)
}

func TestReadIDXDir(t *testing.T) {
	dir := t.TempDir()
	write := func(prefix string, labels []byte, gz bool) {
		pix := make([]byte, len(labels)*4*3)
		for i := range pix {
			pix[i] = byte(i)
		}
		img, lbl := idxBytes([]int{len(labels), 4, 3}, pix), idxBytes([]int{len(labels)}, labels)
		ip, lp := filepath.Join(dir, prefix+"-images-idx3-ubyte"), filepath.Join(dir, prefix+"-labels-idx1-ubyte")
		if gz {
			img, lbl, ip, lp = gzipBytes(img), gzipBytes(lbl), ip+".gz", lp+".gz"
		}
		writeFile(t, ip, img)
		writeFile(t, lp, lbl)
	}
	write("train", []byte{0, 7, 4, 1, 9, 0}, true)
	write("t10k", []byte{5, 2, 9, 9}, false)
	ds, err := ReadIDXDir(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	tr := checkSplit(t, ds, "train", 3, []int{0, 2, 1, 0})
	te := checkSplit(t, ds, "test", 2, []int{0, 1, 1})
	g := tr.Images[1].(*image.Gray)
	if g.Bounds().Dx() != 3 || g.Bounds().Dy() != 4 || g.GrayAt(0, 0).Y != 2*12 || g.GrayAt(2, 1).Y != 2*12+5 {
		t.Errorf("image 1: %v, pixels %v", g.Bounds(), g.Pix)
	}
	if len(te.Images) != 3 || te.Samples[2].Index != 2 {
		t.Errorf("test images %d", len(te.Images))
	}

	writeFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte"), idxBytes([]int{3}, []byte{1, 2, 3}))
	_, err = ReadIDXDir(dir, 0)
	wantLayoutError(t, err, "t10k-labels-idx1-ubyte", 0)
}

func TestReadMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 70,000 images")
	}
	ds, err := ReadMNIST()
	if err != nil {
		t.Skip("GoMNIST module files not available:", err)
	}
	tr, te := ds.Split("train"), ds.Split("test")
	// MNIST train has 30,596 images of digits 0-4; t10k has 4,861 of digits 5-9
	if len(tr.Samples) != 30596 || tr.Classes != 5 || len(te.Samples) != 4861 || te.Classes != 5 {
		t.Errorf("splits %d/%d, %d/%d", len(tr.Samples), tr.Classes, len(te.Samples), te.Classes)
	}
	if te.ClassNames[0] != "5" || tr.Images[0].Bounds().Dx() != 28 {
		t.Errorf("class names %v", te.ClassNames)
	}
}

func TestSummary(t *testing.T) {
	root := t.TempDir()
	makeFolder(t, root, []string{"a", "b", "c", "d"}, 3, "c/02.jpg")
	ds, err := ReadFolder(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	var skips Skips
	if n := Scan(ds.Split("test"), 2, &skips); n != 5 {
		t.Errorf("Scan: %d readable, want 5", n)
	}
	s := Summarize(ds, &skips).String()
	if e := skips.Named()[0].Err.Error(); strings.Contains(e, "02.jpg") {
		t.Errorf("skip error %q repeats the path", e)
	}
	for _, want := range []string{"dataset folder", "train           6 images       2 classes", "test            6 images       2 classes", "skipped         1 files", filepath.Join("c", "02.jpg")} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}
