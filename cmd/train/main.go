// Command train trains image-retrieval embeddings with VPTSP (visual prompts, semantic proxies
// and the Proxy-Anchor loss) on a frozen Vision Transformer.
//
// The training loop is not built yet; today the command reports what the engine offers.
package main

import (
	"fmt"
	"os"

	"github.com/semprox/semprox/kernels"
)

func main() {
	fmt.Fprintf(os.Stderr, "semprox train: not yet available: the training loop lands with the dml and trainer work.\n")
	fmt.Fprintf(os.Stderr, "The kernel layer is ready: SIMD path %v, %d worker threads. Try `go test -bench Sgemm ./bench`.\n",
		kernels.ActiveSIMD(), kernels.Threads())
	os.Exit(1)
}
