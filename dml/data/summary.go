package data

import (
	"errors"
	"fmt"
	"image"
	"io/fs"
	"runtime"
	"strings"
	"sync"

	"github.com/semprox/semprox/nn/vision"
)

// MaxNamedSkips is how many skipped files Skips keeps by name; the rest are only counted.
const MaxNamedSkips = 10

// Skip is an image that could not be read.
type Skip struct {
	Path string
	Err  error
}

// Skips records the images a run could not read, each file once: the first MaxNamedSkips by
// path and error, and the total. It is safe for concurrent use; the zero value is ready.
type Skips struct {
	mu    sync.Mutex
	seen  map[string]bool
	named []Skip
}

// Add records path as unreadable and reports whether it was new.
func (s *Skips) Add(path string, err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if s.seen[path] {
		return false
	}
	s.seen[path] = true
	if len(s.named) < MaxNamedSkips {
		s.named = append(s.named, Skip{path, err})
	}
	return true
}

// Total is the number of distinct files skipped.
func (s *Skips) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// Named returns the first skipped files, at most MaxNamedSkips.
func (s *Skips) Named() []Skip {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Skip(nil), s.named...)
}

// String is "N files skipped" then one line per named file and "... and M more".
func (s *Skips) String() string {
	named, total := s.Named(), s.Total()
	var b strings.Builder
	fmt.Fprintf(&b, "%d unreadable image files skipped", total)
	for _, k := range named {
		fmt.Fprintf(&b, "\n  %s: %v", k.Path, k.Err)
	}
	if total > len(named) {
		fmt.Fprintf(&b, "\n  ... and %d more", total-len(named))
	}
	return b.String()
}

// SplitSummary counts one split.
type SplitSummary struct {
	Name            string
	Images, Classes int
}

// Summary describes a dataset as read: images and classes per split, and the files skipped
// so far (by a Scan or a Loader sharing the Skips).
type Summary struct {
	Dataset, Root string
	Splits        []SplitSummary
	Skipped       int
	Named         []Skip // the first skipped files
}

// Summarize counts the splits of ds; skips may be nil.
func Summarize(ds *Dataset, skips *Skips) Summary {
	s := Summary{Dataset: ds.Name, Root: ds.Root}
	for _, sp := range ds.Splits {
		s.Splits = append(s.Splits, SplitSummary{sp.Name, len(sp.Samples), sp.Classes})
	}
	if skips != nil {
		s.Skipped, s.Named = skips.Total(), skips.Named()
	}
	return s
}

// String prints the summary as cmd/train -dry-run shows it.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dataset %s", s.Dataset)
	if s.Root != "" {
		fmt.Fprintf(&b, " (%s)", s.Root)
	}
	for _, sp := range s.Splits {
		fmt.Fprintf(&b, "\n  %-8s %8d images %7d classes", sp.Name, sp.Images, sp.Classes)
	}
	fmt.Fprintf(&b, "\n  skipped  %8d files", s.Skipped)
	for _, k := range s.Named {
		fmt.Fprintf(&b, "\n    %s: %v", k.Path, k.Err)
	}
	if s.Skipped > len(s.Named) {
		fmt.Fprintf(&b, "\n    ... and %d more", s.Skipped-len(s.Named))
	}
	return b.String()
}

// Scan decodes every image of sp on workers goroutines (<= 0: GOMAXPROCS) and records the
// unreadable ones in skips; it returns how many were readable. It is the optional check of a
// dry run: a full pass over the files, as slow as an epoch without the model.
func Scan(sp *Split, workers int, skips *Skips) int {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			n := 0
			for i := range next {
				if _, err := openSample(sp, i, vision.Load); err != nil {
					skips.Add(sampleName(sp, i), bareError(sp.Samples[i].Path, err))
				} else {
					n++
				}
			}
			mu.Lock()
			ok += n
			mu.Unlock()
		})
	}
	for i := range sp.Samples {
		next <- i
	}
	close(next)
	wg.Wait()
	return ok
}

// bareError strips the file name from an error about path (os.Open's and vision.Load's
// errors name it), since Skips prints the path beside it.
func bareError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err != nil {
		return pe.Err
	}
	if u := errors.Unwrap(err); u != nil && path != "" && strings.HasPrefix(err.Error(), path+": ") {
		return u
	}
	return err
}

// sampleName names sample i in messages: its path, or split[index] for in-memory images.
func sampleName(sp *Split, i int) string {
	if p := sp.Samples[i].Path; p != "" {
		return p
	}
	return fmt.Sprintf("%s[%d]", sp.Name, sp.Samples[i].Index)
}

// openSample returns the decoded image of sample i; an empty image is an error.
func openSample(sp *Split, i int, open func(string) (image.Image, error)) (image.Image, error) {
	s := sp.Samples[i]
	var img image.Image
	if s.Path == "" {
		if s.Index < 0 || s.Index >= len(sp.Images) {
			return nil, fmt.Errorf("in-memory image %d of %d", s.Index, len(sp.Images))
		}
		img = sp.Images[s.Index]
	} else {
		var err error
		if img, err = open(s.Path); err != nil {
			return nil, err
		}
	}
	if img.Bounds().Empty() {
		return nil, fmt.Errorf("empty image")
	}
	return img, nil
}
