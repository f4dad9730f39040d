package weights

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// pyRepr formats a value as Python's repr would, for comparison with CPython's output.
func pyRepr(v any) string {
	join := func(items []any) string {
		s := make([]string, len(items))
		for i, it := range items {
			s[i] = pyRepr(it)
		}
		return strings.Join(s, ", ")
	}
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eIN") {
			s += ".0"
		}
		return s
	case string:
		return "'" + x + "'"
	case pyBytes:
		return "b'" + string(x) + "'"
	case pyTuple:
		if len(x) == 1 {
			return "(" + pyRepr(x[0]) + ",)"
		}
		return "(" + join(x) + ")"
	case *pyList:
		return "[" + join(x.items) + "]"
	case *pyDict:
		s := make([]string, len(x.items))
		for i, it := range x.items {
			s[i] = pyRepr(it.key) + ": " + pyRepr(it.value)
		}
		return "{" + strings.Join(s, ", ") + "}"
	}
	return fmt.Sprintf("<%s>", describe(v))
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnpickleMatchesCPython reads pickles that CPython 3.11 wrote with every protocol and
// compares the result with CPython's repr of the original value.
func TestUnpickleMatchesCPython(t *testing.T) {
	// pickle.dumps(v, p) for
	// s = ['shared']
	// v = {'a': [1, 2.5, None, True, False, 'x', b'y', (1, 2), (), (3,), (4, 5, 6), -3, 255, 65535,
	//      65536, -2**31, 2**40, -(2**40), -1.25e-7], 'r1': s, 'r2': s, 'nested': {'k': {'z': 0}}, 'uni': 'héllo'}
	const wantV = "{'a': [1, 2.5, None, True, False, 'x', b'y', (1, 2), (), (3,), (4, 5, 6), -3, 255, 65535, 65536, -2147483648, 1099511627776, -1099511627776, -1.25e-07], 'r1': ['shared'], 'r2': ['shared'], 'nested': {'k': {'z': 0}}, 'uni': 'héllo'}"
	cases := []struct {
		proto int
		hex   string
		want  string
	}{
		{1, "7d71002858010000006171015d7102284b014740040000000000004e4930310a4930300a5801000000787103635f636f646563730a656e636f64650a710428580100000079710558060000006c6174696e317106747107527108284b014b0274710929284b0374710a284b044b054b0674710b4afdffffff4bff4dffff4a000001004a000000804c313039393531313632373737364c0a4c2d313039393531313632373737364c0a47be80c6f7a0b5ed8d6558020000007231710c5d710d5806000000736861726564710e6158020000007232710f680d58060000006e657374656471107d711158010000006b71127d711358010000007a71144b0073735803000000756e697115580600000068c3a96c6c6f7116752e", wantV},
		{2, "80027d71002858010000006171015d7102284b014740040000000000004e88895801000000787103635f636f646563730a656e636f64650a7104580100000079710558060000006c6174696e3171068671075271084b014b02867109294b0385710a4b044b054b0687710b4afdffffff4bff4dffff4a000001004a000000808a060000000000018a060000000000ff47be80c6f7a0b5ed8d6558020000007231710c5d710d5806000000736861726564710e6158020000007232710f680d58060000006e657374656471107d711158010000006b71127d711358010000007a71144b0073735803000000756e697115580600000068c3a96c6c6f7116752e", wantV},
		{3, "80037d71002858010000006171015d7102284b014740040000000000004e8889580100000078710343017971044b014b02867105294b038571064b044b054b068771074afdffffff4bff4dffff4a000001004a000000808a060000000000018a060000000000ff47be80c6f7a0b5ed8d655802000000723171085d71095806000000736861726564710a6158020000007232710b680958060000006e6573746564710c7d710d58010000006b710e7d710f58010000007a71104b0073735803000000756e697111580600000068c3a96c6c6f7112752e", wantV},
		{4, "800495a3000000000000007d94288c0161945d94284b014740040000000000004e88898c017894430179944b014b028694294b0385944b044b054b0687944afdffffff4bff4dffff4a000001004a000000808a060000000000018a060000000000ff47be80c6f7a0b5ed8d658c027231945d948c0673686172656494618c0272329468098c066e6573746564947d948c016b947d948c017a944b0073738c03756e69948c0668c3a96c6c6f94752e", wantV},
		{5, "800595a3000000000000007d94288c0161945d94284b014740040000000000004e88898c017894430179944b014b028694294b0385944b044b054b0687944afdffffff4bff4dffff4a000001004a000000808a060000000000018a060000000000ff47be80c6f7a0b5ed8d658c027231945d948c0673686172656494618c0272329468098c066e6573746564947d948c016b947d948c017a944b0073738c03756e69948c0668c3a96c6c6f94752e", wantV},
		// Protocol 0 (text opcodes), for w = {1: [1, 2.5, None, True, (1, 2), -3, 2**40, []], 2: []}.
		{0, "286470300a49310a286c70310a49310a6146322e350a614e614930310a612849310a49320a7470320a61492d330a614c313039393531313632373737364c0a61286c70330a617349320a286c70340a732e",
			"{1: [1, 2.5, None, True, (1, 2), -3, 1099511627776, []], 2: []}"},
	}
	for _, tc := range cases {
		v, err := unpickle(mustHex(t, tc.hex), pickleHooks{})
		if err != nil {
			t.Fatalf("protocol %d: %v", tc.proto, err)
		}
		if got := pyRepr(v); got != tc.want {
			t.Errorf("protocol %d:\n got %s\nwant %s", tc.proto, got, tc.want)
		}
		// The memo makes r1 and r2 the same list, as in Python.
		if d, ok := v.(*pyDict); ok && tc.proto > 0 {
			r1, _ := d.get("r1")
			r2, _ := d.get("r2")
			if r1.(*pyList) != r2.(*pyList) {
				t.Errorf("protocol %d: r1 and r2 are different lists", tc.proto)
			}
		}
	}
}

// TestUnpickleSets reads sets and frozensets (protocol 4: EMPTY_SET, ADDITEMS, FROZENSET).
func TestUnpickleSets(t *testing.T) {
	// pickle.dumps({'s': {1, 2}, 'f': frozenset([3])}, 4)
	v, err := unpickle(mustHex(t, "8004951a000000000000007d94288c0173948f94284b014b02908c016694284b039194752e"), pickleHooks{})
	if err != nil {
		t.Fatal(err)
	}
	if got := pyRepr(v); got != "{'s': [1, 2], 'f': [3]}" {
		t.Errorf("got %s", got)
	}
}

// TestUnpickleObjects checks that globals are never run: calling an unknown one builds an
// opaque object that keeps its class, arguments and BUILD state.
func TestUnpickleObjects(t *testing.T) {
	// GLOBAL os.system, ('echo',), REDUCE, then BUILD {'x': 1}; STOP.
	p := []byte("\x80\x02cos\nsystem\nX\x04\x00\x00\x00echo\x85R}X\x01\x00\x00\x00xK\x01sb.")
	v, err := unpickle(p, pickleHooks{})
	if err != nil {
		t.Fatal(err)
	}
	o, ok := v.(*pyObject)
	if !ok || o.class != (pyGlobal{"os", "system"}) || len(o.args) != 1 || o.args[0] != "echo" {
		t.Fatalf("got %#v", v)
	}
	if pyRepr(o.state) != "{'x': 1}" {
		t.Errorf("state %s", pyRepr(o.state))
	}
	// NEWOBJ, then APPEND and SETITEM on the object itself (list and dict subclasses).
	p = []byte("\x80\x02cm\nC\n)\x81K\x01aK\x02K\x03s.")
	v, err = unpickle(p, pickleHooks{})
	if err != nil {
		t.Fatal(err)
	}
	o = v.(*pyObject)
	if len(o.items) != 1 || o.dict == nil || pyRepr(o.dict) != "{2: 3}" {
		t.Errorf("object %#v", o)
	}
}

// TestUnpickleErrors feeds malformed and hostile pickles: each is an error naming the
// opcode and offset, never a panic, and huge length fields allocate nothing.
func TestUnpickleErrors(t *testing.T) {
	cases := []struct {
		name, data, want string
	}{
		{"empty", "", "without a STOP"},
		{"no stop", "\x80\x02K\x01", "without a STOP"},
		{"unknown opcode", "\xff", "opcode 0xff at byte 0: unknown opcode"},
		{"protocol 6", "\x80\x06", "unsupported pickle protocol 6"},
		{"stop on empty stack", ".", "stack is empty"},
		{"pop mark without mark", "1", "no MARK"},
		{"tuple without mark", "t", "no MARK"},
		{"tuple2 short", "K\x01\x86", "stack holds 1 items, need 2"},
		{"setitem short", "K\x01s", "stack holds 1 items, need 2"},
		{"setitem without dict", "}K\x01s", "stack is empty"},
		{"setitem on int", "K\x01K\x01K\x01s", "cannot set items of a int"},
		{"append to int", "K\x01K\x02a.", "cannot append to a int"},
		{"setitems odd", "}(K\x01u.", "odd number (1)"},
		{"memo miss", "h\x05.", "memo key 5 was never stored"},
		{"put on empty", "q\x00", "stack is empty"},
		{"huge BINBYTES8", "\x8e\xff\xff\xff\xff\xff\xff\xff\x7f", "truncated"},
		{"huge BINUNICODE", "X\xff\xff\xff\xff", "truncated"},
		{"huge LONG4", "\x8b\xff\xff\xff\x7f", "truncated"},
		{"huge FRAME", "\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x01", "truncated"},
		{"short BININT", "J\x01\x02", "truncated"},
		{"bad utf8", "X\x02\x00\x00\x00\xff\xfe.", "not valid UTF-8"},
		{"global without newline", "cos\nsys", "truncated"},
		{"reduce non-tuple", "cos\nsystem\nK\x01R.", "arguments must be a tuple"},
		{"call non-global", "K\x01)R.", "cannot call a int"},
		{"stack global non-string", "K\x01K\x02\x93.", "must be strings"},
		{"persistent id unexpected", "K\x01Q.", "persistent ids are not expected"},
		{"extension code", "\x82\x01.", "extension registry"},
		{"out-of-band buffer", "\x97.", "out-of-band buffers"},
		{"text string", "S'a'\n.", "protocol 0 text strings"},
		{"bad text int", "Ixyz\n.", `integer "xyz"`},
		{"bad text float", "Fxyz\n.", `float "xyz"`},
		{"bad put key", "K\x01pxyz\n.", `memo key "xyz"`},
		{"bad codecs", "c_codecs\nencode\nX\x02\x00\x00\x00\xc4\x80X\x06\x00\x00\x00latin1\x86R.", "not latin-1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := unpickle([]byte(tc.data), pickleHooks{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "pickle: ") {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestUnpickleSmallValues covers the opcodes the CPython samples do not: DUP, POP, POP_MARK,
// LONG1 of 9 bytes, text LONG too big for int64, EMPTY_LIST + APPENDS, DICT, LIST, INST,
// OBJ, STACK_GLOBAL, MEMOIZE, READONLY_BUFFER, BYTEARRAY8, BINSTRING.
func TestUnpickleSmallValues(t *testing.T) {
	cases := []struct{ data, want string }{
		{"K\x072\x86.", "(7, 7)"},
		{"K\x01K\x020.", "1"},
		{"(0K\x03.", "3"}, // POP on an empty stack pops the mark
		{"K\x04(K\x01K\x021.", "4"},
		{"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.", "<int>"},
		{"L123456789012345678901234567890L\n.", "<int>"},
		{"\x8a\x00.", "0"},
		{"\x8a\x01\xff.", "-1"},
		{"](K\x01K\x02e.", "[1, 2]"},
		{"(K\x01K\x02d.", "{1: 2}"},
		{"(K\x01l.", "[1]"},
		{"(K\x01imod\ncls\n.", "<mod.cls object>"},
		{"(cmod\ncls\nK\x01o.", "<mod.cls object>"},
		{"\x8c\x01m\x8c\x01n\x93.", "<global m.n>"},
		{"K\x05\x94h\x00\x86.", "(5, 5)"},
		{"C\x01z\x98.", "b'z'"},
		{"\x96\x01\x00\x00\x00\x00\x00\x00\x00q.", "b'q'"},
		{"T\x02\x00\x00\x00hi.", "'hi'"},
		{"U\x02hi.", "'hi'"},
		{"I00\n.", "False"},
		{"N\x85.", "(None,)"},
		{"(K\x01K\x02K\x03t.", "(1, 2, 3)"},
		{"c__builtin__\nset\n)R.", "[]"},
		{"cbuiltins\nset\n]K\x01a\x85R.", "[1]"},
		{"K\x01g0\n.", "<error>"},
	}
	for _, tc := range cases {
		v, err := unpickle([]byte(tc.data), pickleHooks{})
		got := pyRepr(v)
		if err != nil {
			got = "<error>"
		}
		if got != tc.want {
			t.Errorf("%q: got %s (%v), want %s", tc.data, got, err, tc.want)
		}
	}
}

// TestUnpickleBudget checks the unpickler's allocation budget: a pickle that copies a
// memoized list or string again and again runs out of it, while one that copies nothing
// fits even at its most expensive per byte.
func TestUnpickleBudget(t *testing.T) {
	for name, runs := range map[string][]pklRun{"set": setCopyPickle(5000, 700), "codecs": codecsPickle(5000, 700)} {
		_, err := unpickle(pklBytes(runs), pickleHooks{})
		if err == nil || !strings.Contains(err.Error(), "opcode 'R'") || !strings.Contains(err.Error(), "its objects would take more than") {
			t.Errorf("%s copies: error %v, want the budget's", name, err)
		}
	}
	for name, runs := range map[string][]pklRun{
		"memoized empty lists": {once([]byte("\x80\x04](")), {[]byte("]\x94"), 1 << 16}, once([]byte("e."))},
		"MEMOIZE":              {once([]byte("\x80\x04N")), {[]byte("\x94"), 1 << 17}, once([]byte("."))},
		"DUP":                  {once([]byte("\x80\x04N")), {[]byte("2"), 1 << 17}, once([]byte("."))},
	} {
		data := pklBytes(runs)
		u := newUnpickler(data, pickleHooks{})
		u.limit = 1 << 40
		if _, err := u.run(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if u.used > pickleAllocPerByte*int64(len(data)) {
			t.Errorf("%s: charged %d bytes for a %d-byte pickle, more than %d a byte", name, u.used, len(data), pickleAllocPerByte)
		}
	}
}
