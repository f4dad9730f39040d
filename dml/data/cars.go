package data

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

const carsMATLayout = "cars_annos.mat: MATLAB v5 struct array `annotations` with fields relative_im_path (char), class (1-196) and test, beside car_ims/"

// ReadCars reads Cars196 (Stanford Cars) from root: from cars_annos.mat (with the images
// under the paths it names, car_ims/...) when that file exists, otherwise from a converted
// root/images/<class name>/ folder. Classes 1-98 are the train split, 99-196 the test split;
// the train/test flag of the annotations is ignored, as DML papers ignore it. In the folder
// layout the classes are the sorted folder names, the first 98 train (the first half when
// there are fewer than 196 folders).
func ReadCars(root string) (*Dataset, error) {
	mat := filepath.Join(root, "cars_annos.mat")
	if _, err := os.Stat(mat); err == nil {
		return readCarsMAT(root, mat)
	}
	dir := filepath.Join(root, "images")
	if _, err := os.Stat(dir); err != nil {
		return nil, &LayoutError{File: mat, Msg: "neither cars_annos.mat nor images/<class>/ found", Layout: carsMATLayout + "; or images/<class name>/<image>"}
	}
	classes, err := listClassDirs(dir)
	if err != nil {
		return nil, err
	}
	train := min(98, len(classes)/2)
	if len(classes) == 196 {
		train = 98
	}
	ds := &Dataset{Name: "cars", Root: root}
	for i, part := range [][]string{classes[:train], classes[train:]} {
		sp, err := folderSplit([]string{"train", "test"}[i], dir, part)
		if err != nil {
			return nil, err
		}
		ds.Splits = append(ds.Splits, sp)
	}
	return ds, nil
}

func readCarsMAT(root, mat string) (*Dataset, error) {
	b, err := os.ReadFile(mat)
	if err != nil {
		return nil, &LayoutError{File: mat, Msg: "cannot read", Layout: carsMATLayout, Err: err}
	}
	vars, err := ReadMAT(b)
	if err != nil {
		return nil, &LayoutError{File: mat, Msg: "not a readable MAT-file", Layout: carsMATLayout, Err: err}
	}
	var ann, names *MATArray
	for _, v := range vars {
		switch v.Name {
		case "annotations":
			ann = v
		case "class_names":
			names = v
		}
	}
	if ann == nil || ann.Class != mxSTRUCT {
		return nil, &LayoutError{File: mat, Msg: "no struct array `annotations`", Layout: carsMATLayout}
	}
	className := func(c int) string {
		if names != nil && names.Class == mxCELL && c-1 < len(names.Cells) && names.Cells[c-1].Class == mxCHAR {
			return names.Cells[c-1].Text
		}
		return strconv.Itoa(c)
	}
	var parts [2]struct {
		samples []Sample
		keys    []int
	}
	for i := range ann.Elems {
		p, c := ann.Field(i, "relative_im_path"), ann.Field(i, "class")
		if p == nil || p.Class != mxCHAR || c == nil || len(c.Numbers) != 1 {
			return nil, &LayoutError{File: mat, Msg: "annotation " + strconv.Itoa(i+1) + " lacks relative_im_path or class", Layout: carsMATLayout}
		}
		class := int(c.Numbers[0])
		if class < 1 || float64(class) != c.Numbers[0] {
			return nil, &LayoutError{File: mat, Msg: "annotation " + strconv.Itoa(i+1) + ": bad class " + strconv.FormatFloat(c.Numbers[0], 'g', -1, 64), Layout: carsMATLayout}
		}
		path := filepath.Join(root, filepath.FromSlash(p.Text))
		if _, err := os.Stat(path); err != nil {
			return nil, &LayoutError{File: mat, Msg: "annotation " + strconv.Itoa(i+1) + ": image " + path + " does not exist", Layout: carsMATLayout}
		}
		k := 0
		if class > 98 {
			k = 1
		}
		parts[k].samples = append(parts[k].samples, Sample{Path: path})
		parts[k].keys = append(parts[k].keys, class)
	}
	ds := &Dataset{Name: "cars", Root: root}
	for k, name := range []string{"train", "test"} {
		// dense labels in class-id order
		seen := map[int]int{}
		var ids []int
		for _, c := range parts[k].keys {
			if _, ok := seen[c]; !ok {
				seen[c] = 0
				ids = append(ids, c)
			}
		}
		slices.Sort(ids)
		sp := &Split{Name: name, Samples: parts[k].samples, Classes: len(ids)}
		for i, c := range ids {
			seen[c] = i
			sp.ClassNames = append(sp.ClassNames, className(c))
		}
		for i, c := range parts[k].keys {
			sp.Samples[i].Label = seen[c]
		}
		ds.Splits = append(ds.Splits, sp)
	}
	return ds, nil
}
