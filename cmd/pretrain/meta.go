package main

import (
	"time"

	"github.com/semprox/semprox/nn"
)

// Meta is the JSON record written beside the checkpoint's tensors.
type Meta struct {
	Arch         string     `json:"arch"`
	Config       nn.Config  `json:"config"`
	Mean         [3]float32 `json:"mean"`
	Std          [3]float32 `json:"std"`
	Classes      int        `json:"classes"`
	Data         string     `json:"data"`
	TrainImages  int        `json:"train_images"`
	Seed         uint64     `json:"seed"`
	Epochs       int        `json:"epochs"`
	LR           float64    `json:"lr"`
	WeightDecay  float64    `json:"weight_decay"`
	Batch        int        `json:"batch"`
	Threads      int        `json:"threads"`
	Precision    string     `json:"precision"` // of the test passes
	TestAccuracy float64    `json:"test_accuracy"`
	WallSeconds  float64    `json:"wall_seconds"`
	Command      string     `json:"command"`
}

// newMeta records a run of o on trainImages images that reached test accuracy acc in wall
// time, on threads kernel threads.
func newMeta(o options, trainImages int, acc float64, wall time.Duration, threads int) Meta {
	return Meta{
		Arch: o.arch, Config: o.cfg, Mean: mean, Std: std, Classes: classes, Data: o.data,
		TrainImages: trainImages, Seed: o.seed, Epochs: o.epochs, LR: o.lr, WeightDecay: o.wd,
		Batch: o.batch, Threads: threads, Precision: o.evalPrecision.String(), TestAccuracy: acc, WallSeconds: wall.Seconds(),
		Command: o.commandLine,
	}
}
