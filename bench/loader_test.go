package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/nn/vision"
)

// loaderFiles writes n JPEG photographs' worth of files (500x375, the typical size of a
// CUB-200-2011 or SOP image, textured so the entropy decoder has work) in classes of 8 and
// reads them back as a class-folder dataset.
func loaderFiles(b *testing.B, n int) *data.Split {
	root := b.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	const w, h = 500, 375
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				nz := uint8(rng.IntN(48))
				img.Set(x, y, color.RGBA{uint8(x/2+i*9) + nz, uint8(y/2+i*5) + nz, uint8((x+y)/4+i*3) + nz, 255})
			}
		}
		path := filepath.Join(root, fmt.Sprintf("class%03d", i/8), fmt.Sprintf("%04d.jpg", i))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 90}); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	ds, err := data.ReadFolder(root, n/8)
	if err != nil {
		b.Fatal(err)
	}
	return ds.Split("train")
}

// BenchmarkLoader measures the loader's throughput for ViT-S/16 training batches (32 JPEG
// files, RandomResizedCrop to 224x224 bicubic, flip, normalise) and evaluation batches
// (resize 256, center crop 224), with as many workers as GOMAXPROCS unless named. It reports
// img/s: compare with the training step's consumption (BenchmarkViTSmall... img/s on the
// same cores); the loader must stay well ahead.
//
//	go test -run NONE -bench Loader -benchtime 20x ./bench
func BenchmarkLoader(b *testing.B) {
	const batch = 32
	sp := loaderFiles(b, 64)
	procs := runtime.GOMAXPROCS(0)
	for _, c := range []struct {
		name    string
		tf      data.Transform
		workers int
	}{
		{"train224", data.NewTrain(224, vision.Bicubic), procs},
		{"train224/workers=1", data.NewTrain(224, vision.Bicubic), 1},
		{"eval224", data.EvalTransform{Preprocess: vision.Preprocess{Resize: 256, Crop: 224, Interp: vision.Bicubic, Mean: vision.ImageNetMean, Std: vision.ImageNetStd}}, procs},
	} {
		b.Run(c.name, func(b *testing.B) {
			l := data.NewLoader(data.LoaderConfig{Split: sp, Transform: c.tf, Workers: c.workers, Prefetch: 2, Seed: 1})
			defer l.Close()
			var batches [][]int
			for len(batches) < b.N {
				batches = append(batches, data.Shuffled{N: len(sp.Samples), BatchSize: batch, DropLast: true, Seed: 2}.Batches(len(batches))...)
			}
			batches = batches[:b.N]
			b.ResetTimer()
			start := time.Now()
			e := l.Stream(0, batches)
			for range b.N {
				bt, ok := e.Next()
				if !ok {
					b.Fatal("epoch ended early")
				}
				l.Recycle(bt)
			}
			b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "img/s")
			if n := l.Skips().Total(); n != 0 {
				b.Fatalf("%d files skipped: %v", n, l.Skips())
			}
		})
	}
}

// BenchmarkViTS16TrainStepFed is BenchmarkViTS16's train step at batch 32 on 2 threads with
// its images coming from the loader (training transform, one worker, two batches
// prefetched), decoding on the same cores: its img/s against the train-step figure of
// BenchmarkViTS16 is what the loader costs the trainer.
//
//	go test -run NONE -bench 'ViTS16/train-step|TrainStepFed' -benchtime 3x ./bench
func BenchmarkViTS16TrainStepFed(b *testing.B) {
	const batch = 32
	sp := loaderFiles(b, 64)
	s := newViTStep(batch)
	withBenchThreads(2, func() {
		l := data.NewLoader(data.LoaderConfig{Split: sp, Transform: data.NewTrain(224, vision.Bicubic), Workers: 1, Prefetch: 2, Seed: 1})
		defer l.Close()
		var batches [][]int
		for len(batches) < b.N+1 {
			batches = append(batches, data.Shuffled{N: len(sp.Samples), BatchSize: batch, DropLast: true, Seed: 2}.Batches(len(batches))...)
		}
		e := l.Stream(0, batches[:b.N+1])
		step := func() {
			bt, ok := e.Next()
			if !ok {
				b.Fatal("epoch ended early")
			}
			s.images.Value.CopyFrom(bt.Images)
			copy(s.labels, bt.Labels)
			l.Recycle(bt)
			s.trainStep()
		}
		step()
		b.ResetTimer()
		for range b.N {
			step()
		}
		b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "img/s")
	})
}
