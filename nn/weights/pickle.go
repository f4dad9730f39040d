package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// This file is a small, bounded reader for Python's pickle format (protocols 0 to 5), enough
// to read what torch.save writes. Like torch.load(weights_only=True) it never imports or
// runs anything: a global is just its name, and calling one (REDUCE, NEWOBJ) builds an
// opaque pyObject unless a hook knows the callable (the PyTorch reader knows OrderedDict
// and the tensor rebuilders).
//
// It works on a byte slice held in memory and checks every length field against the bytes
// that remain, so hostile input cannot make it allocate more than a small multiple of its
// own size, loop, recurse or panic.

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
	data  []byte
	pos   int
	op    byte // current opcode, for messages
	opPos int  // its offset
	stack []any
	marks [][]any // stacks saved by MARK
	memo  map[int64]any
	hooks pickleHooks
}

// unpickle runs the pickle program in data and returns the value that STOP pops.
func unpickle(data []byte, hooks pickleHooks) (any, error) {
	u := &unpickler{data: data, memo: make(map[int64]any), hooks: hooks}
	for {
		if u.pos >= len(u.data) {
			return nil, fmt.Errorf("pickle: ends at byte %d without a STOP opcode (truncated?)", len(u.data))
		}
		u.opPos = u.pos
		u.op = u.data[u.pos]
		u.pos++
		v, stop, err := u.step()
		if err != nil {
			return nil, fmt.Errorf("pickle: opcode %s at byte %d: %w", opName(u.op), u.opPos, err)
		}
		if stop {
			return v, nil
		}
	}
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
	return u.take(n)
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

// step executes the opcode u.op. It returns stop = true and the result at STOP.
func (u *unpickler) step() (v any, stop bool, err error) {
	switch u.op {
	case '.': // STOP
		v, err = u.pop()
		return v, err == nil, err
	case 0x80: // PROTO
		p, err := u.u8()
		if err == nil && p > 5 {
			err = fmt.Errorf("unsupported pickle protocol %d", p)
		}
		return nil, false, err
	case 0x95: // FRAME: framing only, the data is already in memory
		n, err := u.u64()
		if err == nil && n > uint64(len(u.data)-u.pos) {
			err = errTruncated
		}
		return nil, false, err
	case 0x98: // READONLY_BUFFER
		_, err = u.top()
		return nil, false, err
	}
	if err := u.stepData(); err != nil {
		return nil, false, err
	}
	return nil, false, nil
}

// stepData executes the opcodes that build values.
func (u *unpickler) stepData() error {
	switch u.op {
	// Stack and memo.
	case '(': // MARK
		u.marks = append(u.marks, u.stack)
		u.stack = nil
	case '0': // POP (an empty stack pops the mark, as Python does)
		if len(u.stack) == 0 {
			_, err := u.popMark()
			return err
		}
		u.stack = u.stack[:len(u.stack)-1]
	case '1': // POP_MARK
		_, err := u.popMark()
		return err
	case '2': // DUP
		v, err := u.top()
		if err != nil {
			return err
		}
		u.push(v)
	case 'p': // PUT
		s, err := u.line()
		if err != nil {
			return err
		}
		k, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("memo key %q: %v", s, err)
		}
		return u.memoPut(k)
	case 'q': // BINPUT
		k, err := u.u8()
		if err != nil {
			return err
		}
		return u.memoPut(int64(k))
	case 'r': // LONG_BINPUT
		k, err := u.u32()
		if err != nil {
			return err
		}
		return u.memoPut(int64(k))
	case 0x94: // MEMOIZE
		return u.memoPut(int64(len(u.memo)))
	case 'g': // GET
		s, err := u.line()
		if err != nil {
			return err
		}
		k, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("memo key %q: %v", s, err)
		}
		return u.memoGet(k)
	case 'h': // BINGET
		k, err := u.u8()
		if err != nil {
			return err
		}
		return u.memoGet(int64(k))
	case 'j': // LONG_BINGET
		k, err := u.u32()
		if err != nil {
			return err
		}
		return u.memoGet(int64(k))
	default:
		return u.stepScalar()
	}
	return nil
}

// stepScalar executes the opcodes that push constants, numbers and strings.
func (u *unpickler) stepScalar() error {
	switch u.op {
	case 'N': // NONE
		u.push(nil)
	case 0x88: // NEWTRUE
		u.push(true)
	case 0x89: // NEWFALSE
		u.push(false)
	case 'K': // BININT1
		n, err := u.u8()
		if err != nil {
			return err
		}
		u.push(int64(n))
	case 'M': // BININT2
		n, err := u.u16()
		if err != nil {
			return err
		}
		u.push(int64(n))
	case 'J': // BININT
		n, err := u.u32()
		if err != nil {
			return err
		}
		u.push(int64(int32(uint32(n))))
	case 0x8a, 0x8b: // LONG1, LONG4: little-endian two's complement
		width := 1
		if u.op == 0x8b {
			width = 4
		}
		b, err := u.lengthPrefixed(width)
		if err != nil {
			return err
		}
		u.push(decodeLong(b))
	case 'I', 'L': // INT, LONG (text)
		s, err := u.line()
		if err != nil {
			return err
		}
		return u.pushTextInt(s)
	case 'G': // BINFLOAT (big-endian)
		b, err := u.take(8)
		if err != nil {
			return err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case 'F': // FLOAT (text)
		s, err := u.line()
		if err != nil {
			return err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("float %q: %v", s, err)
		}
		u.push(f)
	case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
		width := lengthWidth(u.op)
		b, err := u.lengthPrefixed(width)
		if err != nil {
			return err
		}
		if !utf8.Valid(b) {
			return errors.New("string is not valid UTF-8")
		}
		u.push(string(b))
	case 'T', 'U': // BINSTRING, SHORT_BINSTRING (Python 2 str, kept as bytes-as-string)
		b, err := u.lengthPrefixed(lengthWidth(u.op))
		if err != nil {
			return err
		}
		u.push(string(b))
	case 'B', 'C', 0x8e, 0x96: // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
		width := lengthWidth(u.op)
		b, err := u.lengthPrefixed(width)
		if err != nil {
			return err
		}
		u.push(pyBytes(bytes.Clone(b)))
	default:
		return u.stepContainer()
	}
	return nil
}

// lengthWidth returns the width in bytes of the length field of a string or bytes opcode.
func lengthWidth(op byte) int {
	switch op {
	case 0x8c, 'C', 'U': // SHORT_BINUNICODE, SHORT_BINBYTES, SHORT_BINSTRING
		return 1
	case 0x8d, 0x8e, 0x96: // BINUNICODE8, BINBYTES8, BYTEARRAY8
		return 8
	}
	return 4
}

// decodeLong decodes a little-endian two's complement integer.
func decodeLong(b []byte) any {
	if len(b) > 8 {
		return &pyLong{bytes: len(b)}
	}
	var n uint64
	for i := len(b) - 1; i >= 0; i-- {
		n = n<<8 | uint64(b[i])
	}
	if len(b) > 0 && len(b) < 8 && b[len(b)-1]&0x80 != 0 { // sign-extend
		n |= ^uint64(0) << (8 * len(b))
	}
	return int64(n)
}

// pushTextInt pushes the value of an INT or LONG text line: "00"/"01" are False/True.
func (u *unpickler) pushTextInt(s string) error {
	switch s {
	case "00":
		u.push(false)
		return nil
	case "01":
		u.push(true)
		return nil
	}
	digits := s
	if len(digits) > 0 && digits[len(digits)-1] == 'L' {
		digits = digits[:len(digits)-1]
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			u.push(&pyLong{bytes: len(digits)})
			return nil
		}
		return fmt.Errorf("integer %q: %v", s, err)
	}
	u.push(n)
	return nil
}

// stepContainer executes the opcodes that build tuples, lists, sets and dicts.
func (u *unpickler) stepContainer() error {
	switch u.op {
	case ')': // EMPTY_TUPLE
		u.push(pyTuple{})
	case 't': // TUPLE
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(pyTuple(items))
	case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
		n := int(u.op - 0x84)
		if len(u.stack) < n {
			return fmt.Errorf("stack holds %d items, need %d", len(u.stack), n)
		}
		t := make(pyTuple, n)
		copy(t, u.stack[len(u.stack)-n:])
		u.stack = u.stack[:len(u.stack)-n]
		u.push(t)
	case ']': // EMPTY_LIST
		u.push(&pyList{})
	case 0x8f: // EMPTY_SET
		u.push(&pyList{})
	case 'l', 0x91: // LIST, FROZENSET
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(&pyList{items: items})
	case 'a': // APPEND
		v, err := u.pop()
		if err != nil {
			return err
		}
		return u.extend([]any{v})
	case 'e', 0x90: // APPENDS, ADDITEMS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.extend(items)
	case '}': // EMPTY_DICT
		u.push(&pyDict{})
	case 'd': // DICT
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d := &pyDict{}
		if err := d.setItems(items); err != nil {
			return err
		}
		u.push(d)
	case 's': // SETITEM
		if len(u.stack) < 2 {
			return fmt.Errorf("stack holds %d items, need 2", len(u.stack))
		}
		kv := u.stack[len(u.stack)-2:]
		u.stack = u.stack[:len(u.stack)-2]
		return u.setItems(kv)
	case 'u': // SETITEMS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.setItems(items)
	default:
		return u.stepObject()
	}
	return nil
}

// extend appends items to the list (or list-like object) on top of the stack.
func (u *unpickler) extend(items []any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	switch l := t.(type) {
	case *pyList:
		l.items = append(l.items, items...)
	case *pyObject:
		l.items = append(l.items, items...)
	default:
		return fmt.Errorf("cannot append to a %s", describe(t))
	}
	return nil
}

// setItems stores key/value pairs into the dict (or dict-like object) on top of the stack.
func (u *unpickler) setItems(kv []any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	switch d := t.(type) {
	case *pyDict:
		return d.setItems(kv)
	case *pyObject:
		if d.dict == nil {
			d.dict = &pyDict{}
		}
		return d.dict.setItems(kv)
	}
	return fmt.Errorf("cannot set items of a %s", describe(t))
}

func (d *pyDict) setItems(kv []any) error {
	if len(kv)%2 != 0 {
		return fmt.Errorf("odd number (%d) of keys and values", len(kv))
	}
	for i := 0; i < len(kv); i += 2 {
		d.items = append(d.items, pyItem{key: kv[i], value: kv[i+1]})
	}
	return nil
}

// stepObject executes the opcodes that name globals, call them and build objects.
func (u *unpickler) stepObject() error {
	switch u.op {
	case 'c': // GLOBAL
		module, err := u.line()
		if err != nil {
			return err
		}
		name, err := u.line()
		if err != nil {
			return err
		}
		u.push(pyGlobal{module, name})
	case 0x93: // STACK_GLOBAL
		name, err1 := u.pop()
		module, err2 := u.pop()
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		m, ok1 := module.(string)
		n, ok2 := name.(string)
		if !ok1 || !ok2 {
			return fmt.Errorf("module and name must be strings, got %s and %s", describe(module), describe(name))
		}
		u.push(pyGlobal{m, n})
	case 'R': // REDUCE
		args, err1 := u.pop()
		fn, err2 := u.pop()
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		t, ok := args.(pyTuple)
		if !ok {
			return fmt.Errorf("arguments must be a tuple, got %s", describe(args))
		}
		return u.call(fn, t)
	case 0x81: // NEWOBJ: cls.__new__(cls, *args)
		args, err1 := u.pop()
		cls, err2 := u.pop()
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		return u.newObject(cls, args)
	case 0x92: // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
		_, err1 := u.pop()
		args, err2 := u.pop()
		cls, err3 := u.pop()
		if err := errors.Join(err1, err2, err3); err != nil {
			return err
		}
		return u.newObject(cls, args)
	case 'o': // OBJ: MARK cls args... OBJ
		items, err := u.popMark()
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return errors.New("no class")
		}
		return u.newObject(items[0], pyTuple(items[1:]))
	case 'i': // INST: MARK args... INST module\nname\n
		module, err := u.line()
		if err != nil {
			return err
		}
		name, err := u.line()
		if err != nil {
			return err
		}
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.newObject(pyGlobal{module, name}, pyTuple(items))
	case 'b': // BUILD: obj.__setstate__(state); kept on objects, ignored elsewhere
		state, err := u.pop()
		if err != nil {
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		if o, ok := obj.(*pyObject); ok {
			o.state = state
		}
	case 'Q': // BINPERSID
		pid, err := u.pop()
		if err != nil {
			return err
		}
		return u.persistent(pid)
	case 'P': // PERSID
		s, err := u.line()
		if err != nil {
			return err
		}
		return u.persistent(s)
	case 0x82, 0x83, 0x84: // EXT1, EXT2, EXT4
		return errors.New("extension registry codes are not supported")
	case 0x97: // NEXT_BUFFER
		return errors.New("out-of-band buffers are not supported")
	case 'S', 'V': // STRING, UNICODE (protocol 0 text strings)
		return errors.New("protocol 0 text strings are not supported")
	default:
		return errors.New("unknown opcode")
	}
	return nil
}

func (u *unpickler) call(fn any, args pyTuple) error {
	if v, ok, err := callBuiltin(fn, args); ok || err != nil {
		if err != nil {
			return err
		}
		u.push(v)
		return nil
	}
	if u.hooks.call != nil {
		v, handled, err := u.hooks.call(fn, args)
		if err != nil {
			return err
		}
		if handled {
			u.push(v)
			return nil
		}
	}
	return u.newObject(fn, args)
}

// callBuiltin evaluates the few calls that pickle itself uses to encode plain values in
// older protocols: bytes as _codecs.encode(str, "latin1") and sets as set(list).
func callBuiltin(fn any, args pyTuple) (v any, handled bool, err error) {
	g, ok := fn.(pyGlobal)
	if !ok {
		return nil, false, nil
	}
	switch g.String() {
	case "_codecs.encode":
		if len(args) != 2 {
			return nil, false, nil
		}
		str, ok2 := args[0].(string)
		enc, ok3 := args[1].(string)
		if !ok2 || !ok3 || (enc != "latin1" && enc != "latin-1") {
			return nil, false, nil
		}
		b := make(pyBytes, 0, len(str))
		for _, r := range str {
			if r > 0xff {
				return nil, false, fmt.Errorf("_codecs.encode: %U is not latin-1", r)
			}
			b = append(b, byte(r))
		}
		return b, true, nil
	case "builtins.set", "__builtin__.set", "builtins.frozenset", "__builtin__.frozenset":
		switch {
		case len(args) == 0:
			return &pyList{}, true, nil
		case len(args) == 1:
			if l, ok := args[0].(*pyList); ok {
				return &pyList{items: append([]any(nil), l.items...)}, true, nil
			}
		}
	}
	return nil, false, nil
}

func (u *unpickler) newObject(cls, args any) error {
	g, ok := cls.(pyGlobal)
	if !ok {
		return fmt.Errorf("cannot call a %s", describe(cls))
	}
	t, ok := args.(pyTuple)
	if !ok {
		return fmt.Errorf("arguments of %s must be a tuple, got %s", g, describe(args))
	}
	u.push(&pyObject{class: g, args: t})
	return nil
}

func (u *unpickler) persistent(pid any) error {
	if u.hooks.persistentLoad == nil {
		return errors.New("persistent ids are not expected here")
	}
	v, err := u.hooks.persistentLoad(pid)
	if err != nil {
		return err
	}
	u.push(v)
	return nil
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
