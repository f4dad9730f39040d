package data

import (
	"path"
	"path/filepath"
	"strings"
)

const inatLayout = "one image path per line, relative to the dataset root, its class the parent directory (train_val2018/<kingdom>/<class>/<image>.jpg)"

// ReadINat reads iNaturalist 2018 as DML papers split it (Brown et al., Smooth-AP):
// Inaturalist_train_set1.txt and Inaturalist_test_set1.txt in root, each a list of image
// paths relative to root; the class of an image is its directory.
func ReadINat(root string) (*Dataset, error) {
	ds := &Dataset{Name: "inat", Root: root}
	for _, sp := range []struct{ name, file string }{{"train", "Inaturalist_train_set1.txt"}, {"test", "Inaturalist_test_set1.txt"}} {
		list := filepath.Join(root, sp.file)
		lines, err := readList(list, inatLayout)
		if err != nil {
			return nil, err
		}
		var samples []Sample
		var keys []string
		var lineOf []int
		for _, l := range lines {
			if len(l.fields) != 1 {
				return nil, &LayoutError{File: list, Line: l.n, Msg: "want one path", Layout: inatLayout}
			}
			p := filepath.ToSlash(l.fields[0])
			dir := path.Dir(p)
			if dir == "." || dir == "/" {
				return nil, &LayoutError{File: list, Line: l.n, Msg: "path has no class directory", Layout: inatLayout}
			}
			samples = append(samples, Sample{Path: filepath.Join(root, filepath.FromSlash(p))})
			keys = append(keys, dir)
			lineOf = append(lineOf, l.n)
		}
		if err := checkFiles(samples, lineOf, list, inatLayout); err != nil {
			return nil, err
		}
		ds.Splits = append(ds.Splits, newSplit(sp.name, samples, keys, strings.Compare))
	}
	return ds, nil
}
