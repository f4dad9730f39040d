package weights

import (
	"errors"
	"fmt"
)

// The opcodes of the pickle machine that build containers (tuples, lists, sets, dicts) and
// objects (globals, calls, BUILD, persistent ids).

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
		if err := u.chargeItems(n); err != nil {
			return err
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
		u.push(&pyDict{})
		return u.setItems(items)
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
	if err := u.chargeItems(len(items)); err != nil {
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
	if err := u.chargeItems(len(kv)); err != nil {
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
	if v, ok, err := u.callBuiltin(fn, args); ok || err != nil {
		if err != nil {
			return err
		}
		u.push(v)
		return nil
	}
	if u.hooks.call != nil {
		if err := u.chargeArgs(args); err != nil {
			return err
		}
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

// chargeArgs charges for what a hook may copy or hash from the arguments of a call or a
// persistent id: their items, the items of those that are tuples (a tensor's size and
// stride) and the bytes of the strings among both (a storage's key). Memoized arguments can
// be passed again and again for a few bytes each.
func (u *unpickler) chargeArgs(args pyTuple) error {
	var n int64
	for _, a := range args {
		n += argBytes(a)
		if t, ok := a.(pyTuple); ok {
			for _, x := range t {
				n += argBytes(x)
			}
		}
	}
	return u.charge(n)
}

// argBytes is what chargeArgs charges for one argument.
func argBytes(v any) int64 {
	s, _ := v.(string)
	return itemBytes + int64(len(s))
}

// callBuiltin evaluates the few calls that pickle itself uses to encode plain values in
// older protocols: bytes as _codecs.encode(str, "latin1") and sets as set(list). Both copy
// an argument that may be memoized, so the copy is charged.
func (u *unpickler) callBuiltin(fn any, args pyTuple) (v any, handled bool, err error) {
	g, ok := fn.(pyGlobal)
	if !ok {
		return nil, false, nil
	}
	switch g { // compared field by field: concatenating them would copy long names every call
	case pyGlobal{"_codecs", "encode"}:
		if len(args) != 2 {
			return nil, false, nil
		}
		str, ok2 := args[0].(string)
		enc, ok3 := args[1].(string)
		if !ok2 || !ok3 || (enc != "latin1" && enc != "latin-1") {
			return nil, false, nil
		}
		if err := u.charge(int64(len(str))); err != nil {
			return nil, false, err
		}
		b := make(pyBytes, 0, len(str))
		for _, r := range str {
			if r > 0xff {
				return nil, false, fmt.Errorf("_codecs.encode: %U is not latin-1", r)
			}
			b = append(b, byte(r))
		}
		return b, true, nil
	case pyGlobal{"builtins", "set"}, pyGlobal{"__builtin__", "set"}, pyGlobal{"builtins", "frozenset"}, pyGlobal{"__builtin__", "frozenset"}:
		switch {
		case len(args) == 0:
			return &pyList{}, true, nil
		case len(args) == 1:
			if l, ok := args[0].(*pyList); ok {
				if err := u.chargeItems(len(l.items)); err != nil {
					return nil, false, err
				}
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
	if t, ok := pid.(pyTuple); ok {
		if err := u.chargeArgs(t); err != nil {
			return err
		}
	}
	v, err := u.hooks.persistentLoad(pid)
	if err != nil {
		return err
	}
	u.push(v)
	return nil
}
