package data

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const inshopLayout = "a count line, a header line, then lines `image_name item_id train|query|gallery`"

// InShopRoot is the directory the In-Shop Clothes Retrieval Benchmark unpacks to.
const InShopRoot = "In-shop Clothes Retrieval Benchmark"

// ReadInShop reads In-Shop Clothes Retrieval from root: splits train, query and gallery. Query
// and gallery share one label map (an item has the same label in both), as retrieval between
// them needs.
//
// root is the directory the benchmark unpacks to ([InShopRoot], holding
// Eval/list_eval_partition.txt and Img/img/...), or one holding list_eval_partition.txt beside
// img/. The list is read from root/list_eval_partition.txt, else root/Eval/list_eval_partition.txt.
// Its image paths (img/...) are resolved against root, else root/Img: whichever holds the first
// listed image, for the whole list. The Dataset's Root is root.
func ReadInShop(root string) (*Dataset, error) {
	list, err := inshopList(root)
	if err != nil {
		return nil, err
	}
	lines, err := readList(list, inshopLayout)
	if err != nil {
		return nil, err
	}
	if len(lines) < 2 {
		return nil, &LayoutError{File: list, Msg: "want a count line and a header line", Layout: inshopLayout}
	}
	count, err := strconv.Atoi(lines[0].fields[0])
	if err != nil || len(lines[0].fields) != 1 {
		return nil, &LayoutError{File: list, Line: lines[0].n, Msg: "want the image count", Layout: inshopLayout}
	}
	var train, eval []Sample
	var trainKeys, evalKeys []string
	var trainLines, evalLines []int
	var evalPart []int // 0 query, 1 gallery
	for _, l := range lines[2:] {
		if len(l.fields) != 3 {
			return nil, &LayoutError{File: list, Line: l.n, Msg: "want 3 fields", Layout: inshopLayout}
		}
		s := Sample{Path: filepath.FromSlash(l.fields[0])} // relative to the image base, for now
		switch strings.ToLower(l.fields[2]) {
		case "train":
			train = append(train, s)
			trainKeys = append(trainKeys, l.fields[1])
			trainLines = append(trainLines, l.n)
		case "query", "gallery":
			eval = append(eval, s)
			evalKeys = append(evalKeys, l.fields[1])
			evalLines = append(evalLines, l.n)
			part := 0
			if strings.EqualFold(l.fields[2], "gallery") {
				part = 1
			}
			evalPart = append(evalPart, part)
		default:
			return nil, &LayoutError{File: list, Line: l.n, Msg: "unknown partition " + strconv.Quote(l.fields[2]), Layout: inshopLayout}
		}
	}
	if n := len(train) + len(eval); n != count {
		return nil, &LayoutError{File: list, Line: lines[0].n, Msg: "count line says " + strconv.Itoa(count) + " images, list has " + strconv.Itoa(n), Layout: inshopLayout}
	}
	base := root
	if len(lines) > 2 {
		if base, err = inshopImageBase(root, list, lines[2]); err != nil {
			return nil, err
		}
	}
	for _, part := range [][]Sample{train, eval} {
		for i := range part {
			part[i].Path = filepath.Join(base, part[i].Path)
		}
	}
	if err := checkFiles(train, trainLines, list, inshopLayout); err != nil {
		return nil, err
	}
	if err := checkFiles(eval, evalLines, list, inshopLayout); err != nil {
		return nil, err
	}
	ds := &Dataset{Name: "inshop", Root: root}
	ds.Splits = append(ds.Splits, newSplit("train", train, trainKeys, strings.Compare))
	names := denseLabels(eval, evalKeys, strings.Compare)
	q := &Split{Name: "query", Classes: len(names), ClassNames: names}
	g := &Split{Name: "gallery", Classes: len(names), ClassNames: names}
	for i, s := range eval {
		if evalPart[i] == 0 {
			q.Samples = append(q.Samples, s)
		} else {
			g.Samples = append(g.Samples, s)
		}
	}
	ds.Splits = append(ds.Splits, q, g)
	return ds, nil
}

// inshopList returns root/list_eval_partition.txt or, if there is none, the archive's
// root/Eval/list_eval_partition.txt; without either, an error naming both.
func inshopList(root string) (string, error) {
	flat := filepath.Join(root, "list_eval_partition.txt")
	eval := filepath.Join(root, "Eval", "list_eval_partition.txt")
	_, err := os.Stat(flat)
	if !errors.Is(err, fs.ErrNotExist) {
		return flat, nil // readList reports any other trouble with it
	}
	if _, err := os.Stat(eval); !errors.Is(err, fs.ErrNotExist) {
		return eval, nil
	}
	return "", &LayoutError{File: flat, Msg: "neither this list file nor " + eval + " exists", Layout: inshopLayout}
}

// inshopImageBase returns the directory the list's image paths are relative to: root or
// root/Img, whichever holds the image of first, the list's first image line.
func inshopImageBase(root, list string, first listLine) (string, error) {
	rel := filepath.FromSlash(first.fields[0])
	var tried []string
	for _, base := range []string{root, filepath.Join(root, "Img")} {
		p := filepath.Join(base, rel)
		if _, err := os.Stat(p); err == nil {
			return base, nil
		}
		tried = append(tried, p)
	}
	return "", &LayoutError{File: list, Line: first.n, Msg: "listed image " + first.fields[0] + " is at neither " + strings.Join(tried, " nor "),
		Layout: inshopLayout}
}
