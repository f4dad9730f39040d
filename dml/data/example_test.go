package data_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/nn/vision"
)

func ExampleSummarize() {
	ds := &data.Dataset{Name: "cub", Root: "/data/CUB_200_2011", Splits: []*data.Split{
		{Name: "train", Samples: make([]data.Sample, 5864), Classes: 100},
		{Name: "test", Samples: make([]data.Sample, 5924), Classes: 100},
	}}
	var skips data.Skips
	skips.Add("/data/CUB_200_2011/images/001.x/broken.jpg", errors.New("unexpected EOF"))
	fmt.Println(data.Summarize(ds, &skips))
	// Output:
	// dataset cub (/data/CUB_200_2011)
	//   train        5864 images     100 classes
	//   test         5924 images     100 classes
	//   skipped         1 files
	//     /data/CUB_200_2011/images/001.x/broken.jpg: unexpected EOF
}

// A training loop: the loader decodes and augments on one worker goroutine, two batches
// ahead of the step.
func ExampleLoader() {
	ds, err := data.Open("mnist", "")
	if err != nil {
		log.Fatal(err)
	}
	train := ds.Split("train")
	l := data.NewLoader(data.LoaderConfig{
		Split: train, Transform: data.NewTrain(224, vision.Bicubic), Workers: 1, Prefetch: 2, Seed: 1,
	})
	defer l.Close()
	sampler := data.Shuffled{N: len(train.Samples), BatchSize: 32, DropLast: true, Seed: 1}
	for epoch := range 1 {
		e := l.Stream(epoch, sampler.Batches(epoch)[:2])
		for b, ok := e.Next(); ok; b, ok = e.Next() {
			_ = b.Images // [32, 3, 224, 224]: the step's input; b.Labels its classes
			l.Recycle(b)
		}
	}
	fmt.Println(l.Skips().Total(), "files skipped")
}
