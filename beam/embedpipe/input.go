package embedpipe

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/semprox/semprox/beam/shards"
)

// Entry is one input image: its place in the input (0-based), its URI, its label when the
// manifest gives labels, and its shard.
type Entry struct {
	Index    int64
	URI      string
	Label    int64
	HasLabel bool
	Shard    int
}

// readManifest reads a manifest: one image URI a line, optionally followed by a tab and an
// integer label, either on every line or on none. Blank lines and lines starting with # are
// skipped. A URI that is neither absolute nor has a scheme is relative to the manifest's
// directory. Errors name the manifest and the line.
func readManifest(ctx context.Context, path string) ([]Entry, error) {
	b, err := shards.ReadFile(ctx, path, shards.MaxFileBytes)
	if err != nil {
		return nil, err
	}
	dir := path[:strings.LastIndex(path, "/")+1]
	var entries []Entry
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e := Entry{Index: int64(len(entries)), URI: line}
		if tab := strings.LastIndexByte(line, '\t'); tab >= 0 {
			e.URI = line[:tab]
			e.Label, err = strconv.ParseInt(strings.TrimSpace(line[tab+1:]), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: line %d: label %q is not an integer", path, i+1, line[tab+1:])
			}
			e.HasLabel = true
		}
		if e.URI == "" {
			return nil, fmt.Errorf("%s: line %d: no URI before the label", path, i+1)
		}
		if len(entries) > 0 && e.HasLabel != entries[0].HasLabel {
			return nil, fmt.Errorf("%s: line %d: a label on some lines only (give one on every line, or on none)", path, i+1)
		}
		if !strings.Contains(e.URI, "://") && !strings.HasPrefix(e.URI, "/") {
			e.URI = dir + e.URI
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s: no images listed", path)
	}
	return entries, nil
}

// listGlob lists the files a glob matches, sorted, as cmd/embed sorts a directory's images.
func listGlob(ctx context.Context, glob string) ([]Entry, error) {
	fs, err := filesystem.New(ctx, glob)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	uris, err := fs.List(ctx, glob)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", glob, err)
	}
	if len(uris) == 0 {
		return nil, fmt.Errorf("%s: matches no file", glob)
	}
	slices.Sort(uris)
	entries := make([]Entry, len(uris))
	for i, u := range uris {
		entries[i] = Entry{Index: int64(i), URI: u}
	}
	return entries, nil
}

// assignShards puts entry i of n in shard i*shards/n: contiguous runs in input order.
func assignShards(entries []Entry, shards int) {
	n := int64(len(entries))
	for i := range entries {
		entries[i].Shard = int(entries[i].Index * int64(shards) / n)
	}
}
