package data

import (
	"fmt"
	"image"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/semprox/semprox/nn/vision"
	"github.com/semprox/semprox/tensor"
)

// BatchOrder gives the batch composition of each epoch as lists of sample indices of a split.
// The loader accepts any such lists; the DML class-balanced sampler lives with the trainer.
type BatchOrder interface {
	Batches(epoch int) [][]int
}

// Sequential yields 0..N-1 in order, BatchSize at a time; the last, shorter batch is kept
// unless DropLast.
type Sequential struct {
	N, BatchSize int
	DropLast     bool
}

// Batches implements BatchOrder. It panics if BatchSize is not positive.
func (s Sequential) Batches(int) [][]int {
	idx := make([]int, s.N)
	for i := range idx {
		idx[i] = i
	}
	return chunk(idx, s.BatchSize, s.DropLast)
}

// Shuffled yields a permutation of 0..N-1 drawn from (Seed, epoch), BatchSize at a time.
type Shuffled struct {
	N, BatchSize int
	DropLast     bool
	Seed         uint64
}

// Batches implements BatchOrder. It panics if BatchSize is not positive.
func (s Shuffled) Batches(epoch int) [][]int {
	rng := rand.New(rand.NewPCG(s.Seed, splitmix(uint64(epoch))))
	return chunk(rng.Perm(s.N), s.BatchSize, s.DropLast)
}

func chunk(idx []int, size int, dropLast bool) [][]int {
	if size <= 0 {
		panic(fmt.Sprintf("data: batch size %d", size))
	}
	var out [][]int
	for lo := 0; lo < len(idx); lo += size {
		hi := min(lo+size, len(idx))
		if hi-lo < size && dropLast {
			break
		}
		out = append(out, idx[lo:hi:hi])
	}
	return out
}

// LoaderConfig configures a Loader.
type LoaderConfig struct {
	Split     *Split
	Transform Transform
	Workers   int    // decoding goroutines; <= 0: GOMAXPROCS
	Prefetch  int    // batches in progress or ready ahead of the trainer; <= 0: 2
	Seed      uint64 // with the epoch and the sample index, determines every augmentation
	// Skips records unreadable images; nil: the loader keeps its own (see Loader.Skips).
	Skips *Skips
	// Open decodes an image file; nil: vision.Load.
	Open func(path string) (image.Image, error)
}

// Batch is one batch of transformed images.
type Batch struct {
	Images  *tensor.Tensor // [B, 3, S, S]
	Labels  []int          // dense labels of the rows
	Indices []int          // sample index of each row (a replacement's, where one was used)
	Step    int            // position of the batch in the epoch
	storage *tensor.Tensor // Images before dropped rows were sliced away
}

// maxReplaceTries bounds the attempts at replacing an unreadable image.
const maxReplaceTries = 8

// Loader decodes and augments images on worker goroutines and hands batches to the trainer
// in order, at most Prefetch batches ahead of it.
//
// Unreadable images: a sample whose image cannot be decoded (missing, truncated, corrupt,
// empty, not a regular file, larger than [vision.MaxPixels], refused by the transform's Check
// or making the transform panic) is replaced by another sample of the same class,
// drawn from the failed sample's own random stream (up to 8 tries), so the batch keeps its
// size and class composition, which the DML losses rely on. Only if no replacement can be
// read is the row dropped, leaving a shorter batch. Every unreadable file is recorded once in
// Skips; the run goes on.
//
// Determinism: the content of every batch depends only on the split, the transform, Seed,
// the epoch and the batch lists, never on Workers or scheduling.
type Loader struct {
	cfg     LoaderConfig
	byClass [][]int
	size    int
	jobs    chan job
	free    chan *tensor.Tensor // recycled batch storage
	quit    chan struct{}
	workers sync.WaitGroup
	bad     sync.Map // sample index -> true, known unreadable
	mu      sync.Mutex
	cur     *BatchStream
	closed  bool
}

type job struct {
	ep  *BatchStream
	p   *pending
	pos int
}

// pending is a batch being filled by workers.
type pending struct {
	b       *Batch
	dropped []bool
	left    atomic.Int64  // samples not yet filled
	ready   chan struct{} // closed when left reaches 0
}

// done marks n samples of the batch as finished.
func (p *pending) done(n int) {
	if p.left.Add(int64(-n)) == 0 {
		close(p.ready)
	}
}

// NewLoader starts the workers of a loader; Close stops them. It panics if cfg has no Split or
// no Transform.
func NewLoader(cfg LoaderConfig) *Loader {
	if cfg.Split == nil || cfg.Transform == nil {
		panic("data: NewLoader needs a Split and a Transform")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = 2
	}
	if cfg.Skips == nil {
		cfg.Skips = &Skips{}
	}
	if cfg.Open == nil {
		cfg.Open = vision.Load
	}
	l := &Loader{
		cfg: cfg, byClass: cfg.Split.ByClass(), size: cfg.Transform.Size(),
		jobs: make(chan job, cfg.Workers), free: make(chan *tensor.Tensor, cfg.Prefetch+1),
		quit: make(chan struct{}),
	}
	for range cfg.Workers {
		l.workers.Go(l.work)
	}
	return l
}

// Skips returns the record of unreadable images.
func (l *Loader) Skips() *Skips { return l.cfg.Skips }

// BatchStream is one pass over a list of batches.
type BatchStream struct {
	l       *Loader
	epoch   int
	batches [][]int
	order   chan *pending // batches in order, as they are started
	slots   chan struct{} // one per batch started and not yet handed over
	stop    chan struct{}
	once    sync.Once
	done    sync.WaitGroup // the dispatcher
}

// Stream starts producing the given batches (lists of sample indices) for epoch number
// epoch, stopping the previous epoch if it is still running. The loader keeps no reference
// to batches after the epoch ends. It panics if a sample index is outside the split or the
// loader is closed.
func (l *Loader) Stream(epoch int, batches [][]int) *BatchStream {
	for _, b := range batches {
		for _, i := range b {
			if i < 0 || i >= len(l.cfg.Split.Samples) {
				panic(fmt.Sprintf("data: Loader.Stream: sample index %d out of range [0, %d)", i, len(l.cfg.Split.Samples)))
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		panic("data: Loader.Stream after Close")
	}
	if l.cur != nil {
		l.cur.Stop()
	}
	e := &BatchStream{
		l: l, epoch: epoch, batches: batches,
		order: make(chan *pending, l.cfg.Prefetch), slots: make(chan struct{}, l.cfg.Prefetch),
		stop: make(chan struct{}),
	}
	l.cur = e
	e.done.Go(e.dispatch)
	return e
}

// dispatch starts the batches in order, at most Prefetch ahead of the consumer.
func (e *BatchStream) dispatch() {
	defer close(e.order)
	s := e.l.size
	for step, idx := range e.batches {
		select {
		case e.slots <- struct{}{}:
		case <-e.stop:
			return
		}
		img := e.l.storage(len(idx), s)
		p := &pending{
			b: &Batch{
				Images: img, Labels: make([]int, len(idx)),
				Indices: make([]int, len(idx)), Step: step, storage: img,
			},
			dropped: make([]bool, len(idx)),
			ready:   make(chan struct{}),
		}
		copy(p.b.Indices, idx)
		p.left.Store(int64(len(idx)))
		if len(idx) == 0 {
			close(p.ready)
		}
		e.order <- p // never blocks: order holds as many as slots
		for pos := range idx {
			select {
			case e.l.jobs <- job{e, p, pos}:
			case <-e.stop:
				// the rest of this batch will never be consumed
				p.done(len(idx) - pos)
				return
			}
		}
	}
}

// storage returns a [n, 3, s, s] tensor, recycled if one of that shape is free. Its contents
// need no clearing: every row is written or dropped.
func (l *Loader) storage(n, s int) *tensor.Tensor {
	select {
	case t := <-l.free:
		if t.Dim(0) == n {
			return t
		}
	default:
	}
	return tensor.New(n, 3, s, s)
}

// Recycle hands the storage of a batch the trainer no longer needs back to the loader, which
// fills it again for a later batch; b must not be used afterwards. Recycling is optional: it
// only saves allocating and clearing a batch-sized tensor per step.
func (l *Loader) Recycle(b *Batch) {
	if b == nil || b.storage == nil {
		return
	}
	select {
	case l.free <- b.storage:
	default:
	}
	b.Images, b.storage = nil, nil
}

// Next returns the next batch of the epoch, or false when the epoch is over (or stopped).
// The batch belongs to the caller (see Loader.Recycle). Next is meant for one goroutine, the
// trainer's.
func (e *BatchStream) Next() (*Batch, bool) {
	var p *pending
	var ok bool
	select {
	case p, ok = <-e.order:
	case <-e.stop:
		return nil, false
	}
	if !ok {
		return nil, false
	}
	select {
	case <-p.ready:
	case <-e.stop:
		return nil, false
	}
	select { // stopping wins over a batch finished at the same time
	case <-e.stop:
		return nil, false
	default:
	}
	<-e.slots
	return p.finish(), true
}

// finish compacts the rows of dropped samples away.
func (p *pending) finish() *Batch {
	b := p.b
	row := b.Images.Len() / max(len(b.Indices), 1)
	data := b.Images.Data()
	k := 0
	for i := range b.Indices {
		if p.dropped[i] {
			continue
		}
		if k != i {
			copy(data[k*row:(k+1)*row], data[i*row:(i+1)*row])
			b.Labels[k], b.Indices[k] = b.Labels[i], b.Indices[i]
		}
		k++
	}
	if k < len(b.Indices) {
		b.Images = b.Images.Slice(0, k)
		b.Labels, b.Indices = b.Labels[:k], b.Indices[:k]
	}
	return b
}

// Stop ends the epoch early; batches in progress are abandoned. It is safe to call more
// than once and after the epoch has ended.
func (e *BatchStream) Stop() {
	e.once.Do(func() { close(e.stop) })
	e.done.Wait()
}

// Close stops the epoch in progress and the workers, and waits for them to exit.
func (l *Loader) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	if l.cur != nil {
		l.cur.Stop()
	}
	l.mu.Unlock()
	close(l.quit)
	l.workers.Wait()
}

func (l *Loader) work() {
	for {
		select {
		case j := <-l.jobs:
			l.fill(j)
		case <-l.quit:
			return
		}
	}
}

// fill transforms the sample at j.pos of its batch into its row, or a replacement of the
// same class, or marks the row dropped.
func (l *Loader) fill(j job) {
	defer j.p.done(1)
	select {
	case <-j.ep.stop:
		return
	default:
	}
	b := j.p.b
	idx := b.Indices[j.pos]
	row := b.Images.Row(j.pos).Data()
	label := l.cfg.Split.Samples[idx].Label
	b.Labels[j.pos] = label
	if l.try(row, j.ep.epoch, idx) {
		return
	}
	members := l.byClass[label]
	rr := sampleRNG(^l.cfg.Seed, j.ep.epoch, idx) // the replacement stream of this sample
	for range maxReplaceTries {
		c := members[rr.IntN(len(members))]
		if c != idx && l.try(row, j.ep.epoch, c) {
			b.Indices[j.pos] = c
			return
		}
	}
	j.p.dropped[j.pos] = true
}

// try decodes and transforms sample i into row, reporting success; failures are recorded.
func (l *Loader) try(row []float32, epoch, i int) (ok bool) {
	if _, bad := l.bad.Load(i); bad {
		return false
	}
	defer func() {
		if r := recover(); r != nil {
			l.markBad(i, fmt.Errorf("transform failed: %v", r))
			ok = false
		}
	}()
	img, err := openSample(l.cfg.Split, i, l.cfg.Open)
	if err == nil {
		err = checkSize(l.cfg.Transform, img)
	}
	if err != nil {
		l.markBad(i, err)
		return false
	}
	l.cfg.Transform.Apply(row, img, sampleRNG(l.cfg.Seed, epoch, i))
	return true
}

// sizeChecker is a Transform that can refuse an image by its size (see Transform).
type sizeChecker interface {
	Check(size image.Point) error
}

// checkSize asks t, if it can, whether it accepts img.
func checkSize(t Transform, img image.Image) error {
	if c, ok := t.(sizeChecker); ok {
		return c.Check(img.Bounds().Size())
	}
	return nil
}

func (l *Loader) markBad(i int, err error) {
	l.bad.Store(i, true)
	l.cfg.Skips.Add(sampleName(l.cfg.Split, i), bareError(l.cfg.Split.Samples[i].Path, err))
}
