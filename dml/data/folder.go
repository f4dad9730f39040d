package data

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

const folderLayout = "root/<class>/<image>.jpg|.png: one directory per class"

// ReadFolder reads a generic root/<class>/<image> tree. Classes are the subdirectories of
// root in sorted order; the first trainClasses of them form the train split and the rest the
// test split. trainClasses <= 0 means the first half (rounded down), as DML papers split.
// Files other than JPEG, PNG and GIF are ignored.
func ReadFolder(root string, trainClasses int) (*Dataset, error) {
	classes, err := listClassDirs(root)
	if err != nil {
		return nil, err
	}
	if trainClasses <= 0 {
		trainClasses = len(classes) / 2
	}
	if trainClasses > len(classes) {
		return nil, &LayoutError{File: root, Msg: "asked for " + strconv.Itoa(trainClasses) + " train classes, found " + strconv.Itoa(len(classes)), Layout: folderLayout}
	}
	ds := &Dataset{Name: "folder", Root: root}
	for i, part := range [][]string{classes[:trainClasses], classes[trainClasses:]} {
		sp, err := folderSplit([]string{"train", "test"}[i], root, part)
		if err != nil {
			return nil, err
		}
		ds.Splits = append(ds.Splits, sp)
	}
	return ds, nil
}

// listClassDirs returns the sorted subdirectory names of root.
func listClassDirs(root string) ([]string, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, &LayoutError{File: root, Msg: "cannot read image folder", Layout: folderLayout, Err: err}
	}
	var classes []string
	for _, e := range ents {
		if e.IsDir() {
			classes = append(classes, e.Name())
		}
	}
	if len(classes) == 0 {
		return nil, &LayoutError{File: root, Msg: "no class directories", Layout: folderLayout}
	}
	slices.Sort(classes)
	return classes, nil
}

// folderSplit lists the images of the given class directories, labelled in that order.
func folderSplit(name, root string, classes []string) (*Split, error) {
	sp := &Split{Name: name, Classes: len(classes), ClassNames: classes}
	for label, c := range classes {
		ents, err := os.ReadDir(filepath.Join(root, c))
		if err != nil {
			return nil, &LayoutError{File: filepath.Join(root, c), Msg: "cannot read class directory", Layout: folderLayout, Err: err}
		}
		var files []string
		for _, e := range ents {
			if !e.IsDir() && isImageFile(e.Name()) {
				files = append(files, e.Name())
			}
		}
		slices.Sort(files)
		for _, f := range files {
			sp.Samples = append(sp.Samples, Sample{Path: filepath.Join(root, c, f), Label: label})
		}
	}
	return sp, nil
}
