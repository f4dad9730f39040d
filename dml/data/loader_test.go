package data

import (
	"image"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semprox/semprox/nn/vision"
)

func loaderFixture(t *testing.T) *Split {
	root := t.TempDir()
	// class b has a truncated JPEG; class d has a single image, truncated
	makeFolder(t, root, []string{"a", "b", "c"}, 4, "b/02.jpg")
	writeCorrupt(t, filepath.Join(root, "d", "00.jpg"))
	ds, err := ReadFolder(root, 4)
	if err != nil {
		t.Fatal(err)
	}
	return ds.Split("train")
}

func collect(t *testing.T, sp *Split, workers, prefetch int, batches [][]int) ([]*Batch, *Skips) {
	t.Helper()
	l := NewLoader(LoaderConfig{Split: sp, Transform: NewTrain(12, vision.Bilinear), Workers: workers, Prefetch: prefetch, Seed: 42})
	defer l.Close()
	var out []*Batch
	for ep := range 2 {
		e := l.Stream(ep, batches)
		for b, ok := e.Next(); ok; b, ok = e.Next() {
			// keep a copy and recycle the batch, so that reused storage is exercised
			c := *b
			c.Images = b.Images.Clone()
			c.Labels, c.Indices = slices.Clone(b.Labels), slices.Clone(b.Indices)
			out = append(out, &c)
			l.Recycle(b)
		}
	}
	return out, l.Skips()
}

func TestLoaderDeterministicAcrossWorkers(t *testing.T) {
	sp := loaderFixture(t)
	batches := Shuffled{N: 12, BatchSize: 5, Seed: 1}.Batches(0)
	ref, skips := collect(t, sp, 1, 1, batches)
	if len(ref) != 6 {
		t.Fatalf("%d batches, want 6", len(ref))
	}
	for _, w := range []int{2, 5} {
		got, _ := collect(t, sp, w, 3, batches)
		for i := range ref {
			if !slices.Equal(got[i].Images.Data(), ref[i].Images.Data()) || !slices.Equal(got[i].Indices, ref[i].Indices) {
				t.Fatalf("workers %d: batch %d differs from one worker's", w, i)
			}
		}
	}
	// batches come in order with their samples' labels; the truncated b/02.jpg (index 6) is
	// replaced by another image of class b
	for i, b := range ref {
		if b.Step != i%3 || b.Images.Dim(0) != len(batches[i%3]) {
			t.Fatalf("batch %d: step %d, %d rows", i, b.Step, b.Images.Dim(0))
		}
		for k, idx := range b.Indices {
			want := batches[i%3][k]
			if want == 6 {
				if idx == 6 || sp.Samples[idx].Label != 1 {
					t.Errorf("corrupt sample replaced by %d", idx)
				}
			} else if idx != want {
				t.Errorf("batch %d row %d: sample %d, want %d", i, k, idx, want)
			}
			if b.Labels[k] != sp.Samples[idx].Label {
				t.Errorf("batch %d row %d: label %d", i, k, b.Labels[k])
			}
		}
	}
	if skips.Total() != 1 || !strings.HasSuffix(skips.Named()[0].Path, filepath.Join("b", "02.jpg")) {
		t.Errorf("skips: %v", skips)
	}
	// epochs differ in augmentation
	if slices.Equal(ref[0].Images.Data(), ref[3].Images.Data()) {
		t.Error("epoch 1 repeats epoch 0's augmentation")
	}
}

func TestLoaderDropsIrreplaceable(t *testing.T) {
	sp := loaderFixture(t)
	got, skips := collect(t, sp, 2, 2, [][]int{{0, 12, 4}})
	b := got[0]
	if b.Images.Dim(0) != 2 || !slices.Equal(b.Indices, []int{0, 4}) || !slices.Equal(b.Labels, []int{0, 1}) {
		t.Fatalf("batch of %d rows, indices %v, labels %v", b.Images.Dim(0), b.Indices, b.Labels)
	}
	// the surviving rows moved up intact: compare with a batch of just those samples
	ref, _ := collect(t, sp, 1, 1, [][]int{{0, 4}})
	if !slices.Equal(b.Images.Data(), ref[0].Images.Data()) {
		t.Error("compacted rows differ")
	}
	if skips.Total() != 1 || !strings.Contains(skips.String(), filepath.Join("d", "00.jpg")) {
		t.Errorf("skips: %v", skips)
	}
}

func TestLoaderInMemory(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 28, 28))
	sp := &Split{Name: "train", Classes: 1, Images: []image.Image{g, g}, Samples: []Sample{{Index: 0}, {Index: 1}}}
	l := NewLoader(LoaderConfig{Split: sp, Transform: NewTrain(32, vision.Bicubic)})
	defer l.Close()
	b, ok := l.Stream(0, Sequential{N: 2, BatchSize: 2}.Batches(0)).Next()
	if !ok || !slices.Equal(b.Images.Shape(), []int{2, 3, 32, 32}) {
		t.Fatalf("batch %v", b)
	}
	want := -vision.ImageNetMean[0] / vision.ImageNetStd[0]
	if v := b.Images.At(1, 0, 31, 31); v != want {
		t.Errorf("black pixel: %v, want %v", v, want)
	}
}

// TestLoaderPrefetchBound checks that a loader whose trainer does not take batches decodes
// no more than Prefetch batches ahead.
func TestLoaderPrefetchBound(t *testing.T) {
	sp := loaderFixture(t)
	var opened atomic.Int64
	open := func(p string) (image.Image, error) { opened.Add(1); return vision.Load(p) }
	l := NewLoader(LoaderConfig{Split: sp, Transform: NewTrain(8, vision.Bilinear), Workers: 4, Prefetch: 2, Open: open})
	defer l.Close()
	e := l.Stream(0, Sequential{N: 8, BatchSize: 2}.Batches(0)) // only readable samples 0-7
	time.Sleep(100 * time.Millisecond)
	if n := opened.Load(); n != 4 {
		t.Errorf("opened %d images before the first Next, want 2 batches of 2", n)
	}
	e.Next()
	time.Sleep(50 * time.Millisecond)
	if n := opened.Load(); n != 6 {
		t.Errorf("opened %d images after one Next, want 6", n)
	}
}

func TestLoaderCloseNoLeak(t *testing.T) {
	sp := loaderFixture(t)
	before := runtime.NumGoroutine()
	for range 3 {
		l := NewLoader(LoaderConfig{Split: sp, Transform: NewTrain(8, vision.Bilinear), Workers: 3, Prefetch: 1})
		e := l.Stream(0, Sequential{N: 12, BatchSize: 3}.Batches(0))
		e.Next()
		l.Stream(1, Sequential{N: 12, BatchSize: 3}.Batches(0)) // stops epoch 0 mid-way
		l.Close()                                               // mid-epoch
		if _, ok := e.Next(); ok {
			t.Error("Next after Close returned a batch")
		}
	}
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

func TestSamplers(t *testing.T) {
	if got := (Sequential{N: 5, BatchSize: 2}).Batches(0); len(got) != 3 || !slices.Equal(got[2], []int{4}) {
		t.Errorf("Sequential: %v", got)
	}
	if got := (Sequential{N: 5, BatchSize: 2, DropLast: true}).Batches(0); len(got) != 2 {
		t.Errorf("Sequential DropLast: %v", got)
	}
	s := Shuffled{N: 10, BatchSize: 4, Seed: 3}
	a, b := s.Batches(0), s.Batches(1)
	if slices.Equal(slices.Concat(a...), slices.Concat(b...)) {
		t.Error("Shuffled: epochs 0 and 1 agree")
	}
	all := slices.Concat(s.Batches(0)...)
	slices.Sort(all)
	if !slices.Equal(all, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) || !slices.Equal(slices.Concat(a...), slices.Concat(s.Batches(0)...)) {
		t.Errorf("Shuffled: %v", a)
	}
}
