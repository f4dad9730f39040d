package kernels

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is a fixed set of persistent worker goroutines that run the tasks of one parallel loop at a
// time. Tasks are handed out through an atomic counter, so a task costs tens of nanoseconds, not a
// goroutine; keep tasks at tens of microseconds or more. Between loops a worker spins for a short
// while (spinTime) before it parks, so back-to-back loops, as in Sgemm's cache blocks, start at
// once instead of waiting for the scheduler to wake a thread.
//
// Run may be called from any goroutine. A call made while the pool is busy (by another goroutine,
// or from inside a task) runs its tasks on the calling goroutine instead of waiting, so nested and
// concurrent use never deadlocks.
type Pool struct {
	size    int
	workers []poolWorker
	busy    sync.Mutex

	// ticket announces a loop: a counter in the high bits, the number of helpers in the low 16.
	ticket  atomic.Uint64
	pending atomic.Int64 // helpers of the current loop still working
	fn      func(worker, task int)
	tasks   int64
	next    atomic.Int64
}

type poolWorker struct {
	parked atomic.Bool
	wake   chan struct{}
	stop   atomic.Bool
}

// spinTime is how long an idle worker polls for the next loop before it parks.
const spinTime = 50 * time.Microsecond

// helperBits holds a helper count up to MaxThreads.
const helperBits = 16

// MaxThreads is the most workers a pool may have. It is far above any machine's core count (a
// pool larger than the cores only adds switching), and low enough that the per-worker buffers of
// the kernels and of their callers stay small.
const MaxThreads = 1024

// CheckThreads checks a thread count given by a user, where 0 means one per core: it is an error
// unless 0 <= n <= MaxThreads. The error names flag (such as "-threads").
func CheckThreads(flag string, n int) error {
	if n < 0 || n > MaxThreads {
		return fmt.Errorf("%s %d: want 0 (one per core) to %d", flag, n, MaxThreads)
	}
	return nil
}

// NewPool starts a pool of n workers: the caller of Run and n-1 goroutines. n < 1 or
// n > MaxThreads panics.
func NewPool(n int) *Pool {
	if n < 1 || n > MaxThreads {
		panic(fmt.Sprintf("kernels: NewPool: n = %d, want 1 to %d", n, MaxThreads))
	}
	p := &Pool{size: n, workers: make([]poolWorker, n)}
	for i := 1; i < n; i++ {
		p.workers[i].wake = make(chan struct{}, 1)
		go p.work(i)
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
	helpers := min(p.size, tasks) - 1
	p.fn, p.tasks = fn, int64(tasks)
	p.next.Store(0)
	p.pending.Store(int64(helpers))
	count := p.ticket.Load()>>helperBits + 1
	p.ticket.Store(count<<helperBits | uint64(helpers))
	for i := 1; i <= helpers; i++ {
		if w := &p.workers[i]; w.parked.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	p.drain(0)
	spinUntil(func() bool { return p.pending.Load() == 0 })
	p.fn = nil
}

// spinUntil polls done until it reports true, yielding the thread after the first thousand polls
// so that a long wait leaves the core to the goroutine being waited for.
func spinUntil(done func() bool) {
	for spins := 0; !done(); spins++ {
		if spins > 1000 {
			runtime.Gosched()
		}
	}
}

// Close stops the worker goroutines. The pool must not be used afterwards.
func (p *Pool) Close() {
	p.busy.Lock()
	for i := 1; i < p.size; i++ {
		w := &p.workers[i]
		w.stop.Store(true)
		if w.parked.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
}

func (p *Pool) work(id int) {
	w := &p.workers[id]
	var seen uint64 // tickets start at 0; the first Run announces 1
	for {
		t, ok := p.await(w, seen)
		if !ok {
			return
		}
		seen = t
		if id <= int(t&(1<<helperBits-1)) {
			p.drain(id)
			p.pending.Add(-1)
		}
	}
}

// await returns the next ticket after seen: it polls for spinTime, then parks until Run wakes it.
// It reports false when the pool is closed.
func (p *Pool) await(w *poolWorker, seen uint64) (uint64, bool) {
	deadline := time.Now().Add(spinTime)
	for spins := 0; ; spins++ {
		if t := p.ticket.Load(); t != seen {
			return t, true
		}
		if w.stop.Load() {
			return 0, false
		}
		if spins%64 == 63 && time.Now().After(deadline) {
			break
		}
	}
	for {
		w.parked.Store(true)
		if t := p.ticket.Load(); t != seen || w.stop.Load() {
			if !w.parked.CompareAndSwap(true, false) {
				<-w.wake // Run or Close saw us parked and is sending: take it.
			}
		} else {
			<-w.wake
		}
		if w.stop.Load() {
			return 0, false
		}
		if t := p.ticket.Load(); t != seen {
			return t, true
		}
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

// SetThreads sets the number of workers the kernels use (1 to MaxThreads). Do not call it while
// kernels run.
func SetThreads(n int) {
	if n < 1 || n > MaxThreads {
		panic(fmt.Sprintf("kernels: SetThreads: n = %d, want 1 to %d", n, MaxThreads))
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
