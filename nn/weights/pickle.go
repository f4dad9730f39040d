package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// pickle.go, pickle_ops.go and pickle_objects.go are a small, bounded reader for Python's
// pickle format (protocols 0 to 5), enough to read what torch.save writes. Like
// torch.load(weights_only=True) it never imports or runs anything: a global is just its
// name, and calling one (REDUCE, NEWOBJ) builds an opaque pyObject unless a hook knows the
// callable (the PyTorch reader knows OrderedDict and the tensor rebuilders).
//
// It works on a byte slice held in memory and checks every length field against the bytes
// that remain. Every opcode consumes at least one byte, so the opcode count, the stack's
// depth and the memo's size are bounded by the pickle's length; a budget (see
// pickleAllocPerByte) bounds the bytes of the objects built, which opcodes that copy an
// existing object (set(), _codecs.encode, the caller's hooks) could otherwise multiply. So
// hostile input cannot make it allocate more than a small multiple of its own size, loop,
// recurse or panic.

// The unpickler's budget: the objects it builds may take an estimated pickleAllocPerByte
// bytes per byte of the pickle plus pickleAllocFloor, and never more than maxPickleAlloc.
// Each opcode is charged opBytes (its stack slot and the small object it may make), each
// item added to a container itemBytes, a memo entry twice that, and the bytes it copies out
// of the pickle or out of an existing object. A pickle that copies nothing stays within 64
// bytes per byte (a protocol 4 list of memoized empty lists, ']' MEMOIZE per item, takes
// 56); torch.save's pickles take 12 to 21.
const (
	pickleAllocPerByte = 64
	pickleAllocFloor   = 64 << 10
	maxPickleAlloc     = 2 << 30
	opBytes            = 32
	itemBytes          = 16
)

// Python values as the reader represents them: nil (None), bool, int64, *pyLong (an int
// too wide for int64; its value is not kept), float64, string (str), pyBytes (bytes,
// bytearray), pyTuple, *pyList (list, set, frozenset), *pyDict (dict, OrderedDict),
// pyGlobal (a class or function named by GLOBAL) and *pyObject (the result of calling a
// global that no hook knows).
type (
	pyLong   struct{ bytes int }
	pyBytes  []byte
	pyTuple  []any
	pyList   struct{ items []any }
	pyGlobal struct{ module, name string }

	pyDict struct{ items []pyItem }
	pyItem struct{ key, value any }

	pyObject struct {
		class pyGlobal
		args  []any
		state any     // set by BUILD
		items []any   // APPEND / APPENDS on the object (a list subclass)
		dict  *pyDict // SETITEM / SETITEMS on the object (a dict subclass)
	}
)

func (g pyGlobal) String() string { return g.module + "." + g.name }

// get returns the value of the last item whose key is the string k.
func (d *pyDict) get(k string) (any, bool) {
	for i := len(d.items) - 1; i >= 0; i-- {
		if s, ok := d.items[i].key.(string); ok && s == k {
			return d.items[i].value, true
		}
	}
	return nil, false
}

// pickleHooks lets the caller give meaning to globals and persistent ids. A nil hook
// leaves the default behaviour.
type pickleHooks struct {
	// call is asked first for every REDUCE; handled false falls back to building a
	// *pyObject (or an error when fn is not a global).
	call func(fn any, args pyTuple) (v any, handled bool, err error)
	// persistentLoad resolves BINPERSID / PERSID; without it they are errors.
	persistentLoad func(pid any) (any, error)
}

// unpickler is the state of one Load.
type unpickler struct {
	data   []byte
	pos    int
	op     byte // current opcode, for messages
	opPos  int  // its offset
	stack  []any
	marks  [][]any // stacks saved by MARK
	memo   map[int64]any
	hooks  pickleHooks
	budget // estimated bytes of the objects built so far
}

// budget counts estimated bytes against a limit.
type budget struct{ used, limit int64 }

// spend counts n things of size bytes each (size > 0) and reports true, unless that would
// pass the limit.
func (b *budget) spend(n, size int64) bool {
	if n < 0 || n > (b.limit-b.used)/size {
		return false
	}
	b.used += n * size
	return true
}

// unpickle runs the pickle program in data and returns the value that STOP pops.
func unpickle(data []byte, hooks pickleHooks) (any, error) {
	return newUnpickler(data, hooks).run()
}

// newUnpickler returns an unpickler for data with the budget its length allows.
func newUnpickler(data []byte, hooks pickleHooks) *unpickler {
	return &unpickler{data: data, memo: make(map[int64]any), hooks: hooks, budget: budget{limit: pickleBudget(len(data))}}
}

// run executes the pickle program and returns the value that STOP pops.
func (u *unpickler) run() (any, error) {
	for {
		if u.pos >= len(u.data) {
			return nil, fmt.Errorf("pickle: ends at byte %d without a STOP opcode (truncated?)", len(u.data))
		}
		u.opPos = u.pos
		u.op = u.data[u.pos]
		u.pos++
		u.used += opBytes
		v, stop, err := u.step()
		if err == nil && u.used > u.limit {
			err = u.overBudget()
		}
		if err != nil {
			return nil, fmt.Errorf("pickle: opcode %s at byte %d: %w", opName(u.op), u.opPos, err)
		}
		if stop {
			return v, nil
		}
	}
}

// pickleBudget returns the bytes of objects that a pickle of n bytes may build.
func pickleBudget(n int) int64 {
	return min(pickleAllocPerByte*int64(n)+pickleAllocFloor, maxPickleAlloc)
}

// charge counts n more bytes of objects, failing before they are made if that would
// exceed the budget.
func (u *unpickler) charge(n int64) error {
	if !u.spend(n, 1) {
		return u.overBudget()
	}
	return nil
}

// chargeItems charges for n items added to a container.
func (u *unpickler) chargeItems(n int) error {
	if !u.spend(int64(n), itemBytes) {
		return u.overBudget()
	}
	return nil
}

func (u *unpickler) overBudget() error {
	return fmt.Errorf("its objects would take more than %d bytes, the limit for a %d-byte pickle (a hostile file?)",
		u.limit, len(u.data))
}

func opName(op byte) string {
	if op >= 0x20 && op < 0x7f {
		return strconv.QuoteRune(rune(op))
	}
	return fmt.Sprintf("0x%02x", op)
}

var errTruncated = errors.New("data ends inside the opcode's argument (truncated?)")

// take returns the next n bytes.
func (u *unpickler) take(n uint64) ([]byte, error) {
	if n > uint64(len(u.data)-u.pos) {
		return nil, errTruncated
	}
	b := u.data[u.pos : u.pos+int(n)]
	u.pos += int(n)
	return b, nil
}

func (u *unpickler) u8() (uint64, error) {
	b, err := u.take(1)
	if err != nil {
		return 0, err
	}
	return uint64(b[0]), nil
}

func (u *unpickler) u16() (uint64, error) {
	b, err := u.take(2)
	if err != nil {
		return 0, err
	}
	return uint64(binary.LittleEndian.Uint16(b)), nil
}

func (u *unpickler) u32() (uint64, error) {
	b, err := u.take(4)
	if err != nil {
		return 0, err
	}
	return uint64(binary.LittleEndian.Uint32(b)), nil
}

func (u *unpickler) u64() (uint64, error) {
	b, err := u.take(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// line returns the bytes up to the next newline, without it.
func (u *unpickler) line() (string, error) {
	i := bytes.IndexByte(u.data[u.pos:], '\n')
	if i < 0 {
		return "", errTruncated
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	u.used += int64(i)
	return s, nil
}

// lengthPrefixed reads a length of width bytes (1, 4 or 8) and then that many bytes.
func (u *unpickler) lengthPrefixed(width int) ([]byte, error) {
	var n uint64
	var err error
	switch width {
	case 1:
		n, err = u.u8()
	case 4:
		n, err = u.u32()
	default:
		n, err = u.u64()
	}
	if err != nil {
		return nil, err
	}
	b, err := u.take(n)
	u.used += int64(len(b)) // the caller copies them
	return b, err
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 {
		return nil, errors.New("stack is empty")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 {
		return nil, errors.New("stack is empty")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the items pushed since the last MARK and restores the stack before it.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("no MARK on the stack")
	}
	items := u.stack
	u.stack = u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	return items, nil
}

func (u *unpickler) memoPut(key int64) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	if _, ok := u.memo[key]; !ok {
		u.used += 2 * itemBytes
	}
	u.memo[key] = v
	return nil
}

func (u *unpickler) memoGet(key int64) error {
	v, ok := u.memo[key]
	if !ok {
		return fmt.Errorf("memo key %d was never stored", key)
	}
	u.push(v)
	return nil
}

// pyValue formats v for messages: an int's value, otherwise what describe says (never the
// contents of a container, which may be nested or shared without bound).
func pyValue(v any) string {
	if n, ok := v.(int64); ok {
		return strconv.FormatInt(n, 10)
	}
	return describe(v)
}

// describe names the Python type of v for messages, without formatting its contents.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *pyLong:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pyBytes:
		return "bytes"
	case pyTuple:
		return fmt.Sprintf("tuple of %d", len(x))
	case *pyList:
		return fmt.Sprintf("list of %d", len(x.items))
	case *pyDict:
		return fmt.Sprintf("dict of %d", len(x.items))
	case pyGlobal:
		return "global " + x.String()
	case *pyObject:
		return x.class.String() + " object"
	case *torchTensor:
		return "tensor"
	case *torchStorage:
		return "storage"
	}
	return fmt.Sprintf("%T", v)
}
