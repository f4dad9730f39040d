package main

import (
	"fmt"
	"os"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/nn/vision"
)

// classes is the number of classes of an IDX classification dataset (MNIST, Fashion-MNIST).
const classes = 10

// Normalisation of the inputs: gray in [0, 1] replicated to RGB, then (x - 0.5) / 0.5.
var (
	mean = [3]float32{0.5, 0.5, 0.5}
	std  = [3]float32{0.5, 0.5, 0.5}
)

// readSplits reads the train and t10k files of dir as two splits of all classes; limit > 0
// keeps the first limit training images.
func readSplits(dir string, limit int) (train, test *data.Split, err error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, nil, fmt.Errorf("-data %s: not a directory of IDX files (Fashion-MNIST: apt install dataset-fashion-mnist)", dir)
	}
	if train, err = readSplit(dir, "train"); err != nil {
		return nil, nil, err
	}
	if test, err = readSplit(dir, "t10k"); err != nil {
		return nil, nil, err
	}
	if limit > 0 && limit < len(train.Samples) {
		train.Samples = train.Samples[:limit]
	}
	return train, test, nil
}

// readSplit reads dir/prefix-images-idx3-ubyte and dir/prefix-labels-idx1-ubyte (each gzip
// or raw) into a split whose labels are the file's, checked to be below classes.
func readSplit(dir, prefix string) (*data.Split, error) {
	imagesPath := data.IDXFile(dir, prefix+"-images-idx3-ubyte")
	imgs, labels, err := data.IDXImages(imagesPath, data.IDXFile(dir, prefix+"-labels-idx1-ubyte"))
	if err != nil {
		return nil, err
	}
	s := &data.Split{Name: prefix, Images: imgs, Classes: classes}
	for i, l := range labels {
		if l >= classes {
			return nil, fmt.Errorf("%s: image %d has label %d, want < %d", imagesPath, i, l, classes)
		}
		s.Samples = append(s.Samples, data.Sample{Index: i, Label: l})
	}
	for c := range classes {
		s.ClassNames = append(s.ClassNames, fmt.Sprint(c))
	}
	return s, nil
}

// trainTransform is the augmentation for 28x28 training images: a random resized crop that
// keeps most of the object, a horizontal flip, the normalisation.
func trainTransform(size int) data.Transform {
	return data.Train{
		Crop: size, Scale: [2]float64{0.6, 1}, Ratio: [2]float64{0.8, 1.25}, FlipProb: 0.5,
		Interp: vision.Bicubic, Mean: mean, Std: std,
	}
}

// evalTransform only resizes (a no-op at the model's size) and normalises.
func evalTransform(size int) data.Transform {
	return data.EvalTransform{Preprocess: vision.Preprocess{Resize: size, Crop: size, Interp: vision.Bicubic, Mean: mean, Std: std}}
}
