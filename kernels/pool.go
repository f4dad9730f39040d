package kernels

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Pool is a fixed set of persistent worker goroutines that run the tasks of one parallel loop at a
// time. Tasks are handed out through an atomic counter, so a task costs tens of nanoseconds, not a
// goroutine; keep tasks at tens of microseconds or more.
//
// Run may be called from any goroutine. A call made while the pool is busy (by another goroutine,
// or from inside a task) runs its tasks on the calling goroutine instead of waiting, so nested and
// concurrent use never deadlocks.
type Pool struct {
	size  int
	wake  []chan struct{}
	busy  sync.Mutex
	done  sync.WaitGroup
	fn    func(worker, task int)
	tasks int64
	next  atomic.Int64
}

// NewPool starts a pool of n workers: the caller of Run and n-1 goroutines. n < 1 panics.
func NewPool(n int) *Pool {
	if n < 1 {
		panic(fmt.Sprintf("kernels: NewPool: n = %d, want at least 1", n))
	}
	p := &Pool{size: n, wake: make([]chan struct{}, n-1)}
	for i := range p.wake {
		p.wake[i] = make(chan struct{}, 1)
		go p.work(i+1, p.wake[i])
	}
	return p
}

// Size is the number of workers, the caller of Run included.
func (p *Pool) Size() int { return p.size }

// Run calls fn(worker, task) once for every task in [0, tasks) and returns when all have returned.
// worker is in [0, Size()) and no two tasks run at once with the same worker index, so per-worker
// scratch indexed by worker needs no locking.
func (p *Pool) Run(tasks int, fn func(worker, task int)) {
	if tasks <= 0 {
		return
	}
	if p.size == 1 || tasks == 1 || !p.busy.TryLock() {
		for t := range tasks {
			fn(0, t)
		}
		return
	}
	defer p.busy.Unlock()
	p.fn, p.tasks = fn, int64(tasks)
	p.next.Store(0)
	helpers := min(p.size, tasks) - 1
	p.done.Add(helpers)
	for i := range helpers {
		p.wake[i] <- struct{}{}
	}
	p.drain(0)
	p.done.Wait()
	p.fn = nil
}

// Close stops the worker goroutines. The pool must not be used afterwards.
func (p *Pool) Close() {
	p.busy.Lock()
	for _, ch := range p.wake {
		close(ch)
	}
}

func (p *Pool) work(worker int, wake chan struct{}) {
	for range wake {
		p.drain(worker)
		p.done.Done()
	}
}

func (p *Pool) drain(worker int) {
	for {
		t := p.next.Add(1) - 1
		if t >= p.tasks {
			return
		}
		p.fn(worker, int(t))
	}
}

var (
	defaultPoolMu sync.Mutex
	defaultPool   *Pool
)

// Threads reports the number of workers the kernels use: GOMAXPROCS at first use, or the value
// given to SetThreads.
func Threads() int { return pool().Size() }

// SetThreads sets the number of workers the kernels use (at least 1). Do not call it while
// kernels run.
func SetThreads(n int) {
	if n < 1 {
		panic(fmt.Sprintf("kernels: SetThreads: n = %d, want at least 1", n))
	}
	defaultPoolMu.Lock()
	defer defaultPoolMu.Unlock()
	if defaultPool != nil {
		if defaultPool.Size() == n {
			return
		}
		defaultPool.Close()
	}
	defaultPool = NewPool(n)
}

// pool returns the shared worker pool, starting it on first use.
func pool() *Pool {
	defaultPoolMu.Lock()
	defer defaultPoolMu.Unlock()
	if defaultPool == nil {
		defaultPool = NewPool(runtime.GOMAXPROCS(0))
	}
	return defaultPool
}
