package data

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Sample is one image of a split: a file, or an image held in memory by its split.
type Sample struct {
	Path  string // image file; empty when the image is Split.Images[Index]
	Index int    // index into Split.Images for in-memory images
	Label int    // dense class label, 0..Split.Classes-1
}

// Split is one part of a dataset (train, test, query, gallery).
type Split struct {
	Name    string
	Samples []Sample
	Classes int
	// ClassNames[label] is the class as the dataset names it (an original id, a folder name).
	ClassNames []string
	// Images holds the in-memory images (IDX datasets); nil for datasets of files.
	Images []image.Image
}

// Dataset is a benchmark read from disk, split as DML papers split it.
type Dataset struct {
	Name   string // its name in Kinds: "cub", "mnist", "fashion-mnist", ...
	Root   string
	Splits []*Split
}

// Split returns the split of that name, or nil.
func (d *Dataset) Split(name string) *Split {
	for _, s := range d.Splits {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Labels returns the label of each sample, in sample order (what a class-balanced sampler
// such as dml.NewSampler takes).
func (s *Split) Labels() []int {
	out := make([]int, len(s.Samples))
	for i, smp := range s.Samples {
		out[i] = smp.Label
	}
	return out
}

// ByClass returns, for each label, the indices of the split's samples of that class.
func (s *Split) ByClass() [][]int {
	out := make([][]int, s.Classes)
	for i, smp := range s.Samples {
		out[smp.Label] = append(out[smp.Label], i)
	}
	return out
}

// LayoutError reports a dataset file that is missing or does not have the expected layout.
type LayoutError struct {
	File   string // the list file (or the image it names)
	Line   int    // 1-based line number; 0 when the error is not about one line
	Msg    string
	Layout string // the layout the reader expected
	Err    error  // the underlying error, if any
}

func (e *LayoutError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Layout != "" {
		b.WriteString(" (expected ")
		b.WriteString(e.Layout)
		b.WriteString(")")
	}
	return b.String()
}

func (e *LayoutError) Unwrap() error { return e.Err }

// listLine is one non-blank line of a list file, split into fields.
type listLine struct {
	n      int // 1-based line number
	fields []string
}

// parseList splits r into lines of whitespace-separated fields, skipping blank lines.
func parseList(r io.Reader) ([]listLine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var out []listLine
	n := 0
	for sc.Scan() {
		n++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		out = append(out, listLine{n, f})
	}
	return out, sc.Err()
}

// readList opens and parses a list file; errors are LayoutErrors naming it.
func readList(path, layout string) ([]listLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &LayoutError{File: path, Msg: "cannot open list file", Layout: layout, Err: err}
	}
	defer f.Close()
	lines, err := parseList(f)
	if err != nil {
		return nil, &LayoutError{File: path, Msg: "cannot read list file", Layout: layout, Err: err}
	}
	return lines, nil
}

// checkFiles verifies that every sample's file exists; the error names the list file and
// the line that listed the first missing one.
func checkFiles(samples []Sample, lineOf []int, list, layout string) error {
	for i, s := range samples {
		if _, err := os.Stat(s.Path); err != nil {
			return &LayoutError{File: list, Line: lineOf[i], Msg: "listed image " + s.Path + " does not exist",
				Layout: layout, Err: errors.Unwrap(err)}
		}
	}
	return nil
}

// denseLabels maps the original class keys of samples to dense labels 0..C-1 in the order
// less sorts the keys, writes them into samples and returns the class names.
func denseLabels(samples []Sample, keys []string, less func(a, b string) int) []string {
	names := slices.Clone(keys)
	slices.SortFunc(names, less)
	names = slices.Compact(names)
	idx := make(map[string]int, len(names))
	for i, n := range names {
		idx[n] = i
	}
	for i := range samples {
		samples[i].Label = idx[keys[i]]
	}
	return names
}

// numericOrder orders decimal strings by value (then as strings, so "01" and "1" differ).
func numericOrder(a, b string) int {
	ta, tb := strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(ta) != len(tb) {
		return len(ta) - len(tb)
	}
	if c := strings.Compare(ta, tb); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// newSplit builds a split from samples whose Label is not yet set, with keys the original
// class of each sample.
func newSplit(name string, samples []Sample, keys []string, less func(a, b string) int) *Split {
	names := denseLabels(samples, keys, less)
	return &Split{Name: name, Samples: samples, Classes: len(names), ClassNames: names}
}

// isImageFile reports whether name has an extension of an image format vision decodes.
func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png", ".gif":
		return true
	}
	return false
}
