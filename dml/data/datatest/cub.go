package datatest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"strings"
	"time"
)

// CUBRoot is the directory CUB_200_2011.tgz unpacks to.
const CUBRoot = "CUB_200_2011"

// WriteCUBArchive writes to w a gzip-compressed tar archive in the layout of CUB_200_2011.tgz:
// attributes.txt at the top and CUB_200_2011/ with images.txt, image_class_labels.txt,
// train_test_split.txt, classes.txt and images/<class>/<image>.jpg, perClass side x side JPEGs
// for each of classes classes (1-200). CUB's readers split by class id, 1-100 train and
// 101-200 test, so the first ceil(classes/2) classes get ids 1, 2, ... and the rest ids 101,
// 102, ...: both splits have classes (with 64 classes and 2 images each, the train split has 32
// classes of 2 images). The bytes depend only on the arguments.
func WriteCUBArchive(w io.Writer, classes, perClass, side int) error {
	if classes < 1 || classes > 200 || perClass < 1 || side < 1 || side > 1024 {
		return fmt.Errorf("datatest: CUB archive of %d classes of %d images of %dx%d: want 1-200 classes, at least 1 image each, sides of 1-1024",
			classes, perClass, side, side)
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	mtime := time.Date(2011, 6, 1, 0, 0, 0, 0, time.UTC)
	put := func(name string, body []byte) error {
		typ, mode := byte(tar.TypeReg), int64(0o644)
		if strings.HasSuffix(name, "/") {
			typ, mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: typ, Mode: mode, Size: int64(len(body)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	var images, labels, split, names strings.Builder
	if err := put("attributes.txt", []byte("1 has_bill_shape::curved_(up_or_down)\n")); err != nil {
		return err
	}
	for _, d := range []string{CUBRoot + "/", CUBRoot + "/images/"} {
		if err := put(d, nil); err != nil {
			return err
		}
	}
	id := 0
	for i := range classes {
		c := 1 + i
		if i >= (classes+1)/2 {
			c = 101 + i - (classes+1)/2
		}
		dir := fmt.Sprintf("%03d.Bird_%03d", c, c)
		fmt.Fprintf(&names, "%d %s\n", c, dir)
		if err := put(CUBRoot+"/images/"+dir+"/", nil); err != nil {
			return err
		}
		for k := range perClass {
			id++
			rel := fmt.Sprintf("%s/Bird_%03d_%04d.jpg", dir, c, k)
			img, err := birdJPEG(side, c, k)
			if err != nil {
				return err
			}
			if err := put(CUBRoot+"/images/"+rel, img); err != nil {
				return err
			}
			fmt.Fprintf(&images, "%d %s\n", id, rel)
			fmt.Fprintf(&labels, "%d %d\n", id, c)
			fmt.Fprintf(&split, "%d %d\n", id, (k+1)%2)
		}
	}
	for _, f := range []struct{ name, body string }{
		{"images.txt", images.String()}, {"image_class_labels.txt", labels.String()},
		{"train_test_split.txt", split.String()}, {"classes.txt", names.String()},
	} {
		if err := put(CUBRoot+"/"+f.name, []byte(f.body)); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// CUBArchive returns the archive WriteCUBArchive writes and its MD5 (hex), what a test server
// serves and SEMPROX_CUB_MD5 names.
func CUBArchive(classes, perClass, side int) (tgz []byte, md5hex string, err error) {
	var b bytes.Buffer
	if err := WriteCUBArchive(&b, classes, perClass, side); err != nil {
		return nil, "", err
	}
	sum := md5.Sum(b.Bytes())
	return b.Bytes(), hex.EncodeToString(sum[:]), nil
}

// birdJPEG encodes a side x side image whose colours depend on the class and the image.
func birdJPEG(side, class, k int) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			img.Set(x, y, color.RGBA{uint8(class * 37), uint8(x*255/side + k*29), uint8(y*255/side + class*11), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
