package weights_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/semprox/semprox/nn/weights"
	"github.com/semprox/semprox/tensor"
)

// A checkpoint with its metadata: one safetensors file, switched into place by a single rename,
// carrying the metadata and the SHA-256 of its tensor data (and a readable last.json beside it).
func ExampleSave() {
	dir, err := os.MkdirTemp("", "semprox-weights")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "last.safetensors")

	tensors := map[string]*tensor.Tensor{"head.weight": tensor.FromSlice([]float32{1, 2, 3, 4}, 2, 2)}
	if err := weights.Save(path, tensors, map[string]int{"epoch": 3}); err != nil {
		log.Fatal(err)
	}
	var meta struct {
		Epoch int `json:"epoch"`
	}
	ck, err := weights.Load(path, &meta) // checks the data against its SHA-256
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ck.Names, ck.Tensors["head.weight"].Shape(), ck.Tensors["head.weight"].Data(), meta.Epoch)
	// Output: [head.weight] [2 2] [1 2 3 4] 3
}
