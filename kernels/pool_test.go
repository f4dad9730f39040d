package kernels

import (
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestPoolRunsEveryTaskOnce checks that each task runs exactly once and that worker indices stay
// in range and are never used by two tasks at once, for many loops in a row.
func TestPoolRunsEveryTaskOnce(t *testing.T) {
	for _, size := range []int{1, 2, 3, 8} {
		p := NewPool(size)
		for loop := range 200 {
			tasks := loop % 37
			counts := make([]atomic.Int32, tasks)
			inUse := make([]atomic.Int32, size)
			p.Run(tasks, func(worker, task int) {
				if worker < 0 || worker >= size {
					t.Errorf("worker %d out of [0,%d)", worker, size)
					return
				}
				if inUse[worker].Add(1) != 1 {
					t.Errorf("worker %d runs two tasks at once", worker)
				}
				counts[task].Add(1)
				inUse[worker].Add(-1)
			})
			for i := range counts {
				if c := counts[i].Load(); c != 1 {
					t.Fatalf("size %d loop %d: task %d ran %d times", size, loop, i, c)
				}
			}
		}
		p.Close()
	}
}

// TestPoolNestedAndConcurrent checks that Run called from inside a task, and from several
// goroutines at once, completes every task instead of deadlocking.
func TestPoolNestedAndConcurrent(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	var total atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				p.Run(5, func(_, _ int) {
					p.Run(3, func(_, _ int) { total.Add(1) })
				})
			}
		})
	}
	wg.Wait()
	if got, want := total.Load(), int64(4*20*5*3); got != want {
		t.Fatalf("ran %d inner tasks, want %d", got, want)
	}
}

func TestPoolBadSize(t *testing.T) {
	wantPanic(t, "n = 0", func() { NewPool(0) })
	wantPanic(t, "n = -2", func() { SetThreads(-2) })
	wantPanic(t, "n = 100000", func() { SetThreads(100000) })
	wantPanic(t, "n = 1025", func() { NewPool(MaxThreads + 1) })
	for _, n := range []int{0, 1, MaxThreads} {
		if err := CheckThreads("-threads", n); err != nil {
			t.Errorf("CheckThreads(%d): %v", n, err)
		}
	}
	for _, n := range []int{-1, MaxThreads + 1, 100000} {
		if err := CheckThreads("-threads", n); err == nil || !strings.Contains(err.Error(), "-threads") {
			t.Errorf("CheckThreads(%d) = %v, want an error naming -threads", n, err)
		}
	}
}

// TestSgemmConcurrentCalls runs Sgemm from several goroutines at once on the shared pool (run it
// with -race) and checks every result.
func TestSgemmConcurrentCalls(t *testing.T) {
	withThreads(2, func() {
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), 99))
				for range 3 {
					c := newGemmCase(rng, g%2 == 0, g/2 == 0, 70+g, 90, 130, 1, 0, 1)
					c.check(t, c.run(nil), nil)
				}
			})
		}
		wg.Wait()
	})
}

func TestAlignedFloat32s(t *testing.T) {
	for _, n := range []int{0, 1, 3, 16, 17, 1000} {
		s := AlignedFloat32s(n)
		if len(s) != n || cap(s) != n || !IsAligned(s) {
			t.Fatalf("AlignedFloat32s(%d): len %d cap %d aligned %v", n, len(s), cap(s), IsAligned(s))
		}
	}
	wantPanic(t, "negative", func() { AlignedFloat32s(-1) })
}
