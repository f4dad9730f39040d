// Package beamtest is what the Beam module's tests share: a TestMain that initialises Beam,
// quiets Prism's logs and builds the commands a test compares with, model options parsed from
// flags, and the gathering of a pipeline's shards.
package beamtest

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/semprox/semprox/beam/shards"
	"github.com/semprox/semprox/dml/embedder"
)

// Bin is the directory of the commands Main built.
var Bin string

// Main runs a package's tests: it parses the flags, calls beam.Init, discards Prism's job logs
// unless -test.v, builds the commands pkgs (import paths or relative package paths) into Bin,
// runs the tests and exits with their status.
func Main(m *testing.M, pkgs ...string) {
	flag.Parse()
	beam.Init()
	if !testing.Verbose() {
		slog.SetDefault(slog.New(slog.DiscardHandler))
	}
	dir, err := os.MkdirTemp("", "beamtest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	Bin = dir
	for _, pkg := range pkgs {
		if out, err := exec.Command("go", "build", "-o", dir, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Command is the path of the built command name.
func Command(name string) string { return filepath.Join(Bin, name) }

// Options parses the model flags args (dml/embedder's) as a command does.
func Options(t testing.TB, args ...string) embedder.Options {
	t.Helper()
	var o embedder.Options
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	o.Parsed(fs)
	return o
}

// Gather reads every shard under prefix into one, as cmd/gather does.
func Gather(t testing.TB, prefix string) shards.Shard {
	t.Helper()
	bases, err := shards.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	s, err := shards.Gather(context.Background(), bases)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
