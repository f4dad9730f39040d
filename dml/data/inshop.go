package data

import (
	"path/filepath"
	"strconv"
	"strings"
)

const inshopLayout = "a count line, a header line, then lines `image_name item_id train|query|gallery`"

// ReadInShop reads In-Shop Clothes Retrieval from root (the directory holding
// list_eval_partition.txt and img/): splits train, query and gallery. Query and gallery share
// one label map (an item has the same label in both), as retrieval between them needs.
func ReadInShop(root string) (*Dataset, error) {
	list := filepath.Join(root, "list_eval_partition.txt")
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
		s := Sample{Path: filepath.Join(root, filepath.FromSlash(l.fields[0]))}
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
