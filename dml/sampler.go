package dml

import (
	"fmt"
	"math/rand/v2"
)

// BalancedSampler composes batches as DML training does: batch/k distinct classes drawn at random, k
// images of each (distinct while the class has enough, else drawn again), the k images of a
// class consecutive in the batch. An epoch is len(labels)/batch batches. The batches of an
// epoch depend only on the seed and the epoch, so a resumed run draws what an uninterrupted
// one would.
type BalancedSampler struct {
	byClass  [][]int // image indices of each class that has images
	batch, k int
	seed     uint64
}

// NewBalancedSampler returns a sampler over images with the given labels (classes 0..C-1, some may
// be empty). batch must be a positive multiple of k, and there must be at least batch/k
// classes with images.
func NewBalancedSampler(labels []int, batch, k int, seed uint64) (*BalancedSampler, error) {
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
	s := &BalancedSampler{batch: batch, k: k, seed: seed}
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
func (s *BalancedSampler) StepsPerEpoch() int {
	n := 0
	for _, c := range s.byClass {
		n += len(c)
	}
	return max(1, n/s.batch)
}

// Batches returns the image indices of every batch of an epoch (0-based). It implements
// data.BatchOrder.
func (s *BalancedSampler) Batches(epoch int) [][]int {
	rng := rand.New(rand.NewPCG(s.seed, 0x5eed+uint64(epoch)*0x9e3779b97f4a7c15))
	out := make([][]int, s.StepsPerEpoch())
	for i := range out {
		out[i] = s.batchFrom(rng)
	}
	return out
}

// batchFrom draws one batch from rng.
func (s *BalancedSampler) batchFrom(rng *rand.Rand) []int {
	out := make([]int, 0, s.batch)
	for _, c := range rng.Perm(len(s.byClass))[:s.batch/s.k] {
		imgs := s.byClass[c]
		if len(imgs) >= s.k {
			for _, j := range rng.Perm(len(imgs))[:s.k] {
				out = append(out, imgs[j])
			}
			continue
		}
		for range s.k {
			out = append(out, imgs[rng.IntN(len(imgs))])
		}
	}
	return out
}
