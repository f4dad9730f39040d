package metrics

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// partitionBest must leave the k best entries (score descending, index ascending) in front,
// the k-th best at k-1, for any k, with many equal scores.
func TestPartitionBest(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for n := 1; n < 60; n++ {
		for k := 1; k <= n; k++ {
			h := topK{idx: make([]int32, n), score: make([]float32, n)}
			for i, p := range rng.Perm(n) {
				h.idx[i], h.score[i] = int32(p), float32(rng.IntN(4))
			}
			type e struct {
				i int32
				s float32
			}
			all := make([]e, n)
			for i := range all {
				all[i] = e{h.idx[i], h.score[i]}
			}
			slices.SortFunc(all, func(a, b e) int {
				return cmp.Or(cmp.Compare(b.s, a.s), cmp.Compare(a.i, b.i))
			})
			h.partitionBest(k)
			front := slices.Clone(h.idx[:k])
			slices.Sort(front)
			want := make([]int32, k)
			for i := range want {
				want[i] = all[i].i
			}
			slices.Sort(want)
			if !slices.Equal(front, want) || h.idx[k-1] != all[k-1].i {
				t.Fatalf("n=%d k=%d: front %v (k-th %d), want %v (k-th %d)", n, k, front, h.idx[k-1], want, all[k-1].i)
			}
		}
	}
}
