package dml

import (
	"fmt"
	"math/rand/v2"
)

// Sampler composes batches as DML training does: batch/k distinct classes drawn at random, k
// images of each (distinct while the class has enough, else drawn again), the k images of a
// class consecutive in the batch. An epoch is len(labels)/batch batches. It is deterministic
// for a seed.
type Sampler struct {
	byClass  [][]int // image indices of each class that has images
	batch, k int
	rng      *rand.Rand
}

// NewSampler returns a sampler over images with the given labels (classes 0..C-1, some may
// be empty). batch must be a positive multiple of k, and there must be at least batch/k
// classes with images.
func NewSampler(labels []int, batch, k int, seed uint64) (*Sampler, error) {
	if k <= 0 || batch <= 0 || batch%k != 0 {
		return nil, fmt.Errorf("dml: sampler: batch %d is not a positive multiple of %d images per class", batch, k)
	}
	idx := map[int][]int{}
	maxLabel := -1
	for i, l := range labels {
		if l < 0 {
			return nil, fmt.Errorf("dml: sampler: label %d of image %d is negative", l, i)
		}
		idx[l] = append(idx[l], i)
		maxLabel = max(maxLabel, l)
	}
	s := &Sampler{batch: batch, k: k, rng: rand.New(rand.NewPCG(seed, 0x5eed))}
	for c := 0; c <= maxLabel; c++ {
		if len(idx[c]) > 0 {
			s.byClass = append(s.byClass, idx[c])
		}
	}
	if len(s.byClass) < batch/k {
		return nil, fmt.Errorf("dml: sampler: %d classes with images, a batch of %d with %d per class needs %d", len(s.byClass), batch, k, batch/k)
	}
	return s, nil
}

// StepsPerEpoch is the number of batches in an epoch: images / batch (at least 1).
func (s *Sampler) StepsPerEpoch() int {
	n := 0
	for _, c := range s.byClass {
		n += len(c)
	}
	return max(1, n/s.batch)
}

// Next returns the image indices of the next batch.
func (s *Sampler) Next() []int {
	out := make([]int, 0, s.batch)
	for _, c := range s.rng.Perm(len(s.byClass))[:s.batch/s.k] {
		imgs := s.byClass[c]
		if len(imgs) >= s.k {
			for _, j := range s.rng.Perm(len(imgs))[:s.k] {
				out = append(out, imgs[j])
			}
			continue
		}
		for range s.k {
			out = append(out, imgs[s.rng.IntN(len(imgs))])
		}
	}
	return out
}
