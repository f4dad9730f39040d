package weights

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/semprox/semprox/internal/childtest"
	"github.com/semprox/semprox/internal/fulldisk"
	"github.com/semprox/semprox/tensor"
)

// generation is the checkpoint number g of the crash test: 1M values, each g.
func generation(g int) map[string]*tensor.Tensor {
	a, b := tensor.New(512, 1024), tensor.New(1000)
	for _, t := range []*tensor.Tensor{a, b} {
		for i := range t.Data() {
			t.Data()[i] = float32(g)
		}
	}
	return map[string]*tensor.Tensor{"a": a, "b": b}
}

// TestSaveSurvivesKill kills a process that saves checkpoint after checkpoint with SaveKeeping,
// at random moments, many times over, and loads what it left: always a complete checkpoint
// whose metadata and tensors belong together, never older than the last save that returned.
func TestSaveSurvivesKill(t *testing.T) {
	dir := os.Getenv("SEMPROX_CRASH_DIR")
	path := filepath.Join(dir, "last.safetensors")
	if childtest.Child(t) {
		var meta testMeta
		g := 0
		if _, _, err := LoadRecent(path, &meta, nil); err == nil {
			g = meta.Epoch
		}
		for g++; ; g++ {
			start := time.Now()
			if err := SaveKeeping(path, generation(g), testMeta{Epoch: g}); err != nil {
				t.Fatal(err)
			}
			fmt.Printf("saved %d in %d µs\n", g, time.Since(start).Microseconds())
		}
	}
	if testing.Short() {
		t.Skip("kills a child process 40 times")
	}
	dir = t.TempDir()
	path = filepath.Join(dir, "last.safetensors")
	rng := rand.New(rand.NewPCG(7, 11))
	saved, fellBack := 0, 0
	for kill := range 40 {
		cmd := childtest.Command(t, "SEMPROX_CRASH_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Once a first save is done, the child is in the middle of the next one: kill it within
		// twice the time a save took.
		lines := bufio.NewScanner(out)
		var took int64
		for took == 0 && lines.Scan() {
			fmt.Sscanf(lines.Text(), "saved %d in %d µs", &saved, &took)
		}
		time.Sleep(time.Duration(rng.Int64N(2*took+1)) * time.Microsecond)
		cmd.Process.Kill()
		for lines.Scan() {
			fmt.Sscanf(lines.Text(), "saved %d", &saved)
		}
		cmd.Wait()
		var meta testMeta
		c, damaged, err := LoadRecent(path, &meta, nil)
		if err != nil {
			t.Fatalf("kill %d, after save %d returned: %v", kill, saved, err)
		}
		if damaged != nil {
			fellBack++
		}
		if meta.Epoch < saved || meta.Epoch > saved+1 {
			t.Fatalf("kill %d: loaded generation %d, but save %d had returned", kill, meta.Epoch, saved)
		}
		for name, want := range generation(meta.Epoch) {
			if !sameBits(c.Tensors[name], want) {
				t.Fatalf("kill %d: %s of %s does not belong to generation %d", kill, name, c.Path, meta.Epoch)
			}
		}
		saved = meta.Epoch
	}
	t.Logf("40 kills, %d saves, %d loads fell back on the previous checkpoint", saved, fellBack)
}

// TestSaveOnFullDisk fills a small file system with checkpoints until a save fails: the error
// names the file and the cause, no temporary file is left, and the last save that returned is
// the one loaded, bit for bit; once there is room again, saving goes on.
func TestSaveOnFullDisk(t *testing.T) {
	dir := fulldisk.Mount(t, 600<<10) // room for two checkpoints of 244 KB, not three
	path := filepath.Join(dir, "last.safetensors")
	small := func(g int) map[string]*tensor.Tensor {
		return map[string]*tensor.Tensor{"w": generation(g)["b"], "v": tensor.FromSlice(make([]float32, 60_000), 60_000)}
	}
	saved := 0
	var err error
	for g := 1; g < 100 && err == nil; g++ {
		if err = SaveKeeping(path, small(g), testMeta{Epoch: g}); err == nil {
			saved = g
		}
	}
	wantError(t, err, path, "", "no space left on device")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("the failed save left %s", e.Name())
		}
	}
	var meta testMeta
	c, _, err := LoadRecent(path, &meta, nil)
	if err != nil || meta.Epoch != saved || !sameBits(c.Tensors["w"], small(saved)["w"]) {
		t.Fatalf("after a full disk: generation %d (%v), want %d", meta.Epoch, err, saved)
	}
	fulldisk.Resize(t, dir, 4<<20)
	if err := SaveKeeping(path, small(saved+1), testMeta{Epoch: saved + 1}); err != nil {
		t.Fatalf("with room again: %v", err)
	}
	if _, err := Load(path, &meta); err != nil || meta.Epoch != saved+1 {
		t.Errorf("with room again: generation %d, %v", meta.Epoch, err)
	}
}
