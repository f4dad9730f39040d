package data

import (
	"path/filepath"
	"strconv"
)

const (
	cubImagesLayout = "lines `image_id relative/path.jpg`, paths relative to images/"
	cubLabelsLayout = "lines `image_id class_id` with class_id 1-200"
)

// ReadCUB reads CUB-200-2011 from root (the directory holding images.txt,
// image_class_labels.txt and images/): classes 1-100 are the train split, 101-200 the test
// split, as DML papers use it.
func ReadCUB(root string) (*Dataset, error) {
	imgList := filepath.Join(root, "images.txt")
	lblList := filepath.Join(root, "image_class_labels.txt")
	imgs, err := readList(imgList, cubImagesLayout)
	if err != nil {
		return nil, err
	}
	lbls, err := readList(lblList, cubLabelsLayout)
	if err != nil {
		return nil, err
	}
	class := make(map[string]int, len(lbls))
	for _, l := range lbls {
		if len(l.fields) != 2 {
			return nil, &LayoutError{File: lblList, Line: l.n, Msg: "want 2 fields", Layout: cubLabelsLayout}
		}
		c, err := strconv.Atoi(l.fields[1])
		if err != nil || c < 1 {
			return nil, &LayoutError{File: lblList, Line: l.n, Msg: "bad class id " + strconv.Quote(l.fields[1]), Layout: cubLabelsLayout}
		}
		class[l.fields[0]] = c
	}
	var parts [2]struct {
		samples []Sample
		keys    []string
		lines   []int
	}
	for _, l := range imgs {
		if len(l.fields) != 2 {
			return nil, &LayoutError{File: imgList, Line: l.n, Msg: "want 2 fields", Layout: cubImagesLayout}
		}
		c, ok := class[l.fields[0]]
		if !ok {
			return nil, &LayoutError{File: lblList, Msg: "no class for image id " + l.fields[0] + " (listed at " + imgList + ":" + strconv.Itoa(l.n) + ")", Layout: cubLabelsLayout}
		}
		p := &parts[0]
		if c > 100 {
			p = &parts[1]
		}
		p.samples = append(p.samples, Sample{Path: filepath.Join(root, "images", filepath.FromSlash(l.fields[1]))})
		p.keys = append(p.keys, strconv.Itoa(c))
		p.lines = append(p.lines, l.n)
	}
	ds := &Dataset{Name: "cub", Root: root}
	for i, name := range []string{"train", "test"} {
		if err := checkFiles(parts[i].samples, parts[i].lines, imgList, cubImagesLayout); err != nil {
			return nil, err
		}
		ds.Splits = append(ds.Splits, newSplit(name, parts[i].samples, parts[i].keys, numericOrder))
	}
	return ds, nil
}
