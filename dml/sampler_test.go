package dml

import (
	"slices"
	"testing"
)

func TestSampler(t *testing.T) {
	// 5 classes: class 3 has one image, class 1 none.
	labels := []int{0, 0, 0, 2, 2, 2, 2, 3, 4, 4, 4}
	s, err := NewBalancedSampler(labels, 6, 2, 7)
	if err != nil {
		t.Fatal(err)
	}
	if s.StepsPerEpoch() != 1 {
		t.Errorf("steps per epoch %d, want 11/6 = 1", s.StepsPerEpoch())
	}
	again, _ := NewBalancedSampler(labels, 6, 2, 7)
	if slices.Equal(s.Batches(0)[0], s.Batches(1)[0]) && slices.Equal(s.Batches(0)[0], s.Batches(2)[0]) {
		t.Error("epochs 0, 1 and 2 drew the same batch")
	}
	for e := range 50 {
		batches := s.Batches(e)
		if len(batches) != 1 {
			t.Fatalf("epoch %d: %d batches", e, len(batches))
		}
		b := batches[0]
		if !slices.Equal(b, again.Batches(e)[0]) {
			t.Fatal("same seed, different batches")
		}
		if len(b) != 6 {
			t.Fatalf("batch %v", b)
		}
		seen := map[int]bool{}
		for i := 0; i < len(b); i += 2 {
			c := labels[b[i]]
			if labels[b[i+1]] != c || seen[c] {
				t.Fatalf("batch %v: pairs are not distinct classes", b)
			}
			seen[c] = true
			if c != 3 && b[i] == b[i+1] {
				t.Fatalf("batch %v repeats an image of class %d", b, c)
			}
		}
	}
	for _, bad := range [][2]int{{5, 2}, {0, 1}, {10, 2}} {
		if _, err := NewBalancedSampler(labels, bad[0], bad[1], 1); err == nil {
			t.Errorf("batch %d, k %d accepted", bad[0], bad[1])
		}
	}
}
