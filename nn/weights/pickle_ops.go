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

// The opcodes of the pickle machine that control it and push plain values: framing, the
// stack, the memo, constants, numbers, strings and bytes. Containers and objects are in
// pickle_objects.go.

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
