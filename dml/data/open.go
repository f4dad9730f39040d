package data

import (
	"fmt"
	"strings"
)

// FashionMNISTDir is where the Debian package dataset-fashion-mnist installs its IDX files.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// Names lists the dataset names Open knows, for flag help.
var Names = []string{"cub", "cars", "sop", "inshop", "inat", "folder", "mnist", "fashion-mnist", "idx"}

// Open reads the dataset called name from dir, as a -dataset/-data flag pair gives them:
// cub, cars, sop, inshop, inat and folder read dir in their layout; mnist needs no dir (the
// GoMNIST module's copy); fashion-mnist reads dir or, if empty, FashionMNISTDir; idx reads an
// MNIST-layout directory of IDX files.
func Open(name, dir string) (*Dataset, error) {
	needDir := func() error {
		if dir == "" {
			return fmt.Errorf("data: dataset %s needs a data directory", name)
		}
		return nil
	}
	switch strings.ToLower(name) {
	case "cub", "cub200", "cub-200-2011":
		if err := needDir(); err != nil {
			return nil, err
		}
		return ReadCUB(dir)
	case "cars", "cars196":
		if err := needDir(); err != nil {
			return nil, err
		}
		return ReadCars(dir)
	case "sop":
		if err := needDir(); err != nil {
			return nil, err
		}
		return ReadSOP(dir)
	case "inshop", "in-shop":
		if err := needDir(); err != nil {
			return nil, err
		}
		return ReadInShop(dir)
	case "inat", "inaturalist":
		if err := needDir(); err != nil {
			return nil, err
		}
		return ReadINat(dir)
	case "folder":
		if err := needDir(); err != nil {
			return nil, err
		}
		return ReadFolder(dir, 0)
	case "mnist":
		if dir != "" {
			ds, err := ReadIDXDir(dir, 5)
			if ds != nil {
				ds.Name = "mnist"
			}
			return ds, err
		}
		return ReadMNIST()
	case "fashion-mnist", "fashionmnist":
		if dir == "" {
			dir = FashionMNISTDir
		}
		ds, err := ReadIDXDir(dir, 5)
		if ds != nil {
			ds.Name = "fashion-mnist"
		}
		return ds, err
	case "idx":
		if err := needDir(); err != nil {
			return nil, err
		}
		return ReadIDXDir(dir, 0)
	}
	return nil, fmt.Errorf("data: unknown dataset %q (want one of %s)", name, strings.Join(Names, ", "))
}
