package data

import (
	"image"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/semprox/semprox/nn/vision"
)

// The dataset switches the table replaces, as cmd/train and Open had them: the preset family
// (cmd/train datasetPreset), the Recall@K list (recallKs), the small gray images (smallImages)
// and the names Open accepted.
var (
	switchFamilies = map[string]string{
		"cub": "cub200", "cub200": "cub200", "cub-200-2011": "cub200",
		"cars": "cars", "cars196": "cars", "sop": "sop", "inshop": "inshop", "in-shop": "inshop",
	}
	switchRecallKs = map[string][]int{
		"sop": {1, 10, 100, 1000}, "inshop": {1, 10, 20, 30, 40, 50}, "in-shop": {1, 10, 20, 30, 40, 50},
	}
	switchSmall = map[string]bool{"mnist": true, "fashion-mnist": true, "fashionmnist": true, "idx": true}
	switchNames = map[string]string{
		"cub": "cub", "cub200": "cub", "cub-200-2011": "cub", "cars": "cars", "cars196": "cars",
		"sop": "sop", "inshop": "inshop", "in-shop": "inshop", "inat": "inat", "inaturalist": "inat",
		"folder": "folder", "mnist": "mnist", "fashion-mnist": "fashion-mnist",
		"fashionmnist": "fashion-mnist", "idx": "idx",
	}
)

// TestKindsAgreeWithSwitches checks every name the switches knew, in three spellings, against
// its row.
func TestKindsAgreeWithSwitches(t *testing.T) {
	for name, canon := range switchNames {
		for _, spelling := range []string{name, strings.ToUpper(name), strings.ToUpper(name[:1]) + name[1:]} {
			k, err := Lookup(spelling)
			if err != nil {
				t.Errorf("Lookup(%q): %v", spelling, err)
				continue
			}
			if k.Name != canon {
				t.Errorf("Lookup(%q).Name = %q, want %q", spelling, k.Name, canon)
			}
			if k.PresetFamily != switchFamilies[name] {
				t.Errorf("%s: preset family %q, want %q", spelling, k.PresetFamily, switchFamilies[name])
			}
			want := switchRecallKs[name]
			if want == nil {
				want = []int{1, 2, 4, 8}
			}
			if !slices.Equal(k.RecallKs, want) {
				t.Errorf("%s: Recall@K %v, want %v", spelling, k.RecallKs, want)
			}
			if k.SmallImages != switchSmall[name] {
				t.Errorf("%s: small images %v, want %v", spelling, k.SmallImages, switchSmall[name])
			}
			if wantP := map[bool]Protocol{true: QueryGallery, false: SelfRetrieval}[canon == "inshop"]; k.Protocol != wantP {
				t.Errorf("%s: protocol %v, want %v", spelling, k.Protocol, wantP)
			}
			if k.NeedsDir != (canon != "mnist" && canon != "fashion-mnist") {
				t.Errorf("%s: needs dir %v", spelling, k.NeedsDir)
			}
		}
	}
	// Every name of the table is one the switches knew, and no name is in two rows.
	seen := map[string]string{}
	for _, k := range Kinds {
		if k.Read == nil || len(k.RecallKs) == 0 {
			t.Errorf("row %s: reader %v, Recall@K %v", k.Name, k.Read != nil, k.RecallKs)
		}
		for _, n := range append([]string{k.Name}, k.Aliases...) {
			if prev, dup := seen[strings.ToLower(n)]; dup {
				t.Errorf("name %q in rows %s and %s", n, prev, k.Name)
			}
			seen[strings.ToLower(n)] = k.Name
			if switchNames[n] != k.Name {
				t.Errorf("row %s: name %q unknown to the switches", k.Name, n)
			}
		}
	}
	if len(seen) != len(switchNames) {
		t.Errorf("table has %d names, the switches %d", len(seen), len(switchNames))
	}
	want := []string{"cub", "cars", "sop", "inshop", "inat", "folder", "mnist", "fashion-mnist", "idx"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, name := range []string{"imagenet", "", "cub "} {
		_, err := Lookup(name)
		if err == nil {
			t.Errorf("Lookup(%q): no error", name)
			continue
		}
		if !strings.Contains(err.Error(), strings.Join(Names(), ", ")) || !strings.Contains(err.Error(), "unknown dataset") {
			t.Errorf("Lookup(%q): %v does not list the datasets", name, err)
		}
		if _, oerr := Open(name, t.TempDir()); oerr == nil || oerr.Error() != err.Error() {
			t.Errorf("Open(%q): %v, Lookup: %v", name, oerr, err)
		}
	}
}

// TestLookupCopies checks that a caller changing its row's lists leaves the table alone.
func TestLookupCopies(t *testing.T) {
	k, err := Lookup("cub")
	if err != nil {
		t.Fatal(err)
	}
	k.RecallKs[0], k.Aliases[0] = 99, "x"
	if k, _ := Lookup("cub200"); k.RecallKs[0] != 1 || k.Aliases[0] != "cub200" {
		t.Errorf("table changed through Lookup: %v %v", k.RecallKs, k.Aliases)
	}
}

// TestOpenNeedsDir checks the error of every dataset that needs a directory, named as given.
func TestOpenNeedsDir(t *testing.T) {
	for _, k := range Kinds {
		if !k.NeedsDir {
			continue
		}
		for _, name := range append([]string{k.Name}, k.Aliases...) {
			name = strings.ToUpper(name)
			_, err := Open(name, "")
			if want := "data: dataset " + name + " needs a data directory"; err == nil || err.Error() != want {
				t.Errorf("Open(%q, \"\"): %v, want %q", name, err, want)
			}
		}
	}
}

// writeIDXDir writes train and t10k IDX files of 2x2 images with those labels into dir.
func writeIDXDir(t *testing.T, dir string, train, test []byte) {
	t.Helper()
	for prefix, labels := range map[string][]byte{"train": train, "t10k": test} {
		writeFile(t, filepath.Join(dir, prefix+"-images-idx3-ubyte"), idxBytes([]int{len(labels), 2, 2}, make([]byte, 4*len(labels))))
		writeFile(t, filepath.Join(dir, prefix+"-labels-idx1-ubyte"), idxBytes([]int{len(labels)}, labels))
	}
}

// TestOpenIDXNames checks that mnist, fashion-mnist and idx read a given directory with
// classes 0-4 (train files) for training and 5-9 (t10k files) for testing, under their names.
func TestOpenIDXNames(t *testing.T) {
	dir := t.TempDir()
	writeIDXDir(t, dir, []byte{0, 4, 5, 9, 1}, []byte{7, 2, 6})
	for name, want := range map[string]string{"mnist": "mnist", "FashionMNIST": "fashion-mnist", "fashion-mnist": "fashion-mnist", "idx": "idx"} {
		ds, err := Open(name, dir)
		if err != nil {
			t.Fatalf("Open(%q): %v", name, err)
		}
		if ds.Name != want || ds.Root != dir {
			t.Errorf("Open(%q): name %q root %q", name, ds.Name, ds.Root)
		}
		checkSplit(t, ds, "train", 3, []int{0, 2, 1})
		checkSplit(t, ds, "test", 2, []int{1, 0})
	}
	if _, err := Open("mnist", filepath.Join(dir, "missing")); err == nil {
		t.Error("mnist from a missing directory: no error")
	}
}

// readTiny is the reader of the test-only dataset: four 2x2 gray images of two classes in
// memory, train and test alike.
func readTiny(dir string) (*Dataset, error) {
	ds := &Dataset{Name: "tiny", Root: dir}
	for _, name := range []string{"train", "test"} {
		sp := &Split{Name: name, Classes: 2, ClassNames: []string{"dark", "light"}}
		for i := range 4 {
			img := image.NewGray(image.Rect(0, 0, 2, 2))
			for p := range img.Pix {
				img.Pix[p] = uint8(i / 2 * 200)
			}
			sp.Images = append(sp.Images, img)
			sp.Samples = append(sp.Samples, Sample{Index: i, Label: i / 2})
		}
		ds.Splits = append(ds.Splits, sp)
	}
	return ds, nil
}

// TestAddKind adds a dataset as one row of Kinds and its reader, and reads it through Open,
// Lookup, Names and a Loader.
func TestAddKind(t *testing.T) {
	saved := Kinds
	func() {
		defer func() { Kinds = saved }()
		Kinds = append(Kinds, Kind{Name: "tiny", Aliases: []string{"tiny-gray"}, Read: readTiny,
			NeedsDir: true, RecallKs: []int{1, 3}, SmallImages: true})

		dir := t.TempDir()
		ds, err := Open("Tiny-Gray", dir)
		if err != nil || ds.Name != "tiny" || ds.Root != dir || len(ds.Split("test").Samples) != 4 {
			t.Fatalf("Open(tiny): %+v, %v", ds, err)
		}
		if _, err := Open("tiny", ""); err == nil || !strings.Contains(err.Error(), "tiny needs a data directory") {
			t.Errorf("Open(tiny, \"\"): %v", err)
		}
		k, err := Lookup("TINY")
		if err != nil || k.Name != "tiny" || !slices.Equal(k.RecallKs, []int{1, 3}) || !k.SmallImages || k.Protocol != SelfRetrieval || k.PresetFamily != "" {
			t.Errorf("Lookup(tiny): %+v, %v", k, err)
		}
		if names := Names(); names[len(names)-1] != "tiny" {
			t.Errorf("Names() = %v", names)
		}
		if _, err := Lookup("nothing"); err == nil || !strings.Contains(err.Error(), "idx, tiny") {
			t.Errorf("unknown dataset: %v", err)
		}

		l := NewLoader(LoaderConfig{Split: ds.Split("train"), Transform: EvalTransform{vision.Preprocess{
			Resize: 4, Crop: 4, Interp: vision.Bilinear, Mean: vision.Channels{}, Std: vision.Channels{1, 1, 1},
		}}, Workers: 1, Seed: 1})
		defer l.Close()
		s := l.Stream(0, [][]int{{0, 3}})
		b, ok := s.Next()
		if !ok || !slices.Equal(b.Labels, []int{0, 1}) {
			t.Fatalf("batch %v, labels %v", ok, b.Labels)
		}
		if v := b.Images.Data()[4*4*3]; v < 0.7 || v > 0.9 { // the light image, 200/255
			t.Errorf("light pixel %v", v)
		}
		l.Recycle(b)
	}()
	if _, err := Lookup("tiny"); err == nil || len(Kinds) != len(saved) {
		t.Errorf("table not restored: %d rows", len(Kinds))
	}
}
