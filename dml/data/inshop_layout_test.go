package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeInShop writes a small In-Shop dataset beneath root: the list at list (relative to root),
// and its images (listed as img/...) beneath root/imgBase. It returns the image paths as
// listed.
func writeInShop(t *testing.T, root, list, imgBase string) []string {
	rows := []string{"5", "image_name item_id evaluation_status"}
	var paths []string
	for i, r := range []struct{ item, part string }{
		{"id_00000001", "train"}, {"id_00000003", "train"},
		{"id_00000002", "query"}, {"id_00000002", "gallery"}, {"id_00000004", "gallery"},
	} {
		p := fmt.Sprintf("img/MEN/Denim/%s/%02d_1_front.jpg", r.item, i)
		writeJPEG(t, filepath.Join(root, imgBase, filepath.FromSlash(p)), i)
		rows = append(rows, fmt.Sprintf("%s %s %s", p, r.item, r.part))
		paths = append(paths, p)
	}
	writeText(t, filepath.Join(root, filepath.FromSlash(list)), rows...)
	return paths
}

// TestReadInShopLayouts reads In-Shop as its archive unpacks (Eval/ and Img/img/), as copies
// with img/ beside Eval/ have it, and flat (the list beside img/), and with the list flat but
// the images under Img/: the same splits, the images where they are, Root as given.
func TestReadInShopLayouts(t *testing.T) {
	for _, c := range []struct{ name, list, imgBase string }{
		{"archive", "Eval/list_eval_partition.txt", "Img"},
		{"img_beside_eval", "Eval/list_eval_partition.txt", "."},
		{"flat", "list_eval_partition.txt", "."},
		{"flat_list_img_dir", "list_eval_partition.txt", "Img"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), InShopRoot)
			paths := writeInShop(t, root, c.list, c.imgBase)
			ds, err := ReadInShop(root)
			if err != nil {
				t.Fatal(err)
			}
			if ds.Root != root || ds.Name != "inshop" {
				t.Errorf("root %q name %q", ds.Root, ds.Name)
			}
			checkSplit(t, ds, "train", 2, []int{0, 1})
			q := checkSplit(t, ds, "query", 2, []int{0})
			g := checkSplit(t, ds, "gallery", 2, []int{0, 1})
			got := []string{ds.Split("train").Samples[0].Path, q.Samples[0].Path, g.Samples[1].Path}
			want := []string{paths[0], paths[2], paths[4]}
			for i := range got {
				if w := filepath.Join(root, c.imgBase, filepath.FromSlash(want[i])); got[i] != w {
					t.Errorf("image %d at %s, want %s", i, got[i], w)
				}
			}
			// Open reads it the same way.
			if ds, err := Open("in-shop", root); err != nil || len(ds.Split("gallery").Samples) != 2 {
				t.Errorf("Open: %v", err)
			}
		})
	}
}

// TestReadInShopLayoutErrors checks the errors of a dataset without a list, without its first
// image anywhere, and with its first image found but a later one missing.
func TestReadInShopLayoutErrors(t *testing.T) {
	root := t.TempDir()
	_, err := ReadInShop(root)
	wantLayoutError(t, err, "list_eval_partition.txt", 0)
	if want := filepath.Join(root, "Eval", "list_eval_partition.txt"); !strings.Contains(err.Error(), "neither this list file nor "+want+" exists") {
		t.Errorf("no list: %v does not name %s", err, want)
	}

	// The images are in img/, one level too deep for either base.
	paths := writeInShop(t, root, "Eval/list_eval_partition.txt", "Img/Img")
	_, err = ReadInShop(root)
	wantLayoutError(t, err, "list_eval_partition.txt", 3)
	tried := []string{filepath.Join(root, filepath.FromSlash(paths[0])), filepath.Join(root, "Img", filepath.FromSlash(paths[0]))}
	if want := "listed image " + paths[0] + " is at neither " + tried[0] + " nor " + tried[1]; !strings.Contains(err.Error(), want) {
		t.Errorf("missing images: %v, want it to say %q", err, want)
	}
	if !strings.Contains(err.Error(), filepath.Join(root, "Eval", "list_eval_partition.txt")+":3:") {
		t.Errorf("missing images: %v does not name the list and line", err)
	}

	// The first image under Img/, the fourth one missing.
	root = t.TempDir()
	paths = writeInShop(t, root, "Eval/list_eval_partition.txt", "Img")
	if err := os.Remove(filepath.Join(root, "Img", filepath.FromSlash(paths[3]))); err != nil {
		t.Fatal(err)
	}
	_, err = ReadInShop(root)
	wantLayoutError(t, err, "list_eval_partition.txt", 6)
	if !strings.Contains(err.Error(), filepath.Join(root, "Img", filepath.FromSlash(paths[3]))) {
		t.Errorf("one missing image: %v does not name its path", err)
	}
}
