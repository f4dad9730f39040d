package data

import (
	"path/filepath"
	"strconv"
)

const sopLayout = "a header line, then lines `image_id class_id super_class_id path` with paths relative to the dataset root"

// ReadSOP reads Stanford Online Products from root (the directory holding Ebay_train.txt,
// Ebay_test.txt and the per-category image folders): the train split is Ebay_train.txt
// (11,318 classes), the test split Ebay_test.txt (11,316 classes).
func ReadSOP(root string) (*Dataset, error) {
	ds := &Dataset{Name: "sop", Root: root}
	for _, sp := range []struct{ name, file string }{{"train", "Ebay_train.txt"}, {"test", "Ebay_test.txt"}} {
		list := filepath.Join(root, sp.file)
		lines, err := readList(list, sopLayout)
		if err != nil {
			return nil, err
		}
		var samples []Sample
		var keys []string
		var lineOf []int
		for i, l := range lines {
			if i == 0 && len(l.fields) > 0 {
				if _, err := strconv.Atoi(l.fields[0]); err != nil {
					continue // the header
				}
			}
			if len(l.fields) != 4 {
				return nil, &LayoutError{File: list, Line: l.n, Msg: "want 4 fields", Layout: sopLayout}
			}
			if _, err := strconv.Atoi(l.fields[1]); err != nil {
				return nil, &LayoutError{File: list, Line: l.n, Msg: "bad class_id " + strconv.Quote(l.fields[1]), Layout: sopLayout}
			}
			samples = append(samples, Sample{Path: filepath.Join(root, filepath.FromSlash(l.fields[3]))})
			keys = append(keys, l.fields[1])
			lineOf = append(lineOf, l.n)
		}
		if err := checkFiles(samples, lineOf, list, sopLayout); err != nil {
			return nil, err
		}
		ds.Splits = append(ds.Splits, newSplit(sp.name, samples, keys, numericOrder))
	}
	return ds, nil
}
