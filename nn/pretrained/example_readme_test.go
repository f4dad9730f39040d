package pretrained_test

import (
	"fmt"
	"log"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/nn/pretrained"
)

// The embedded backbone and the preprocessing it was trained with, as a data.Transform for the
// loader.
func ExampleFashionMNIST() {
	vit, info, err := pretrained.FashionMNIST() // a fresh copy each call; info: arch, config, mean/std, accuracy, command
	if err != nil {
		log.Fatal(err)
	}
	tf := data.EvalTransform{Preprocess: info.Eval()} // resize/crop to 28, normalise with mean = std = 0.5
	fmt.Println(info.Arch, vit.Depth, vit.Dim, tf.Size(), info.Mean, info.TestAccuracy)
	// Output: vit_micro_patch4_28 6 96 28 [0.5 0.5 0.5] 0.8631
}
