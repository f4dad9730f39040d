package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The constants of the algorithms. They must equal those of the Go versions in
// ../../vector_go.go, which the tests compare with the assembly bit for bit.
var (
	// exp: clamp, range reduction and the minimax polynomial 1 + c1 r + ... + c6 r^6 for e^r on
	// [-0.3486, 0.3486] (relative error 3.3e-9 with these float32 coefficients; fit.py).
	expLo, expHi = float32(-105), float32(89)
	log2e        = float32(1.44269504088896341)
	ln2Hi        = float32(0.693147182464599609375)
	ln2Lo        = float32(math.Ln2 - 0.693147182464599609375)
	expPoly      = [...]float32{1.0, 0.4999999403953552, 0.1666651964187622, 0.04166829213500023, 0.008368907496333122, 0.0013819169253110886}

	// GELU: Q(a) = 0.5 erfc(a/sqrt2) = exp(-a*a/2) * t * S(t) with t = 1/(1 + geluK*a) and
	// S(t) = s0 + s1 t + ... + s9 t^9, fitted for relative error on a in [0, 14.5] (7.5e-9 for
	// a <= 7, 1.3e-7 beyond, where Q < 1e-12; fit.py).
	geluClamp  = float32(20)
	geluK      = float32(0.3125)
	geluPoly   = [...]float32{0.12465531378984451, 0.12494631111621857, 0.11026442050933838, 0.09755975008010864, 0.03424862399697304, 0.03647663816809654, 0.02818378247320652, -0.11711069196462631, 0.07722800970077515, -0.016452161595225334}
	invSqrt2Pi = float32(0.398942280401432677939946059934)
)

// constants lists every constant vector: 16 copies of a 32-bit pattern, one cache line each, so
// both widths load them whole.
var constants = []struct {
	name string
	bits uint32
}{
	{"one", math.Float32bits(1)},
	{"zero", 0},
	{"negInf", math.Float32bits(float32(math.Inf(-1)))},
	{"absMask", 0x7fffffff},
	{"minusHalf", math.Float32bits(-0.5)},
	{"expLo", math.Float32bits(expLo)},
	{"expHi", math.Float32bits(expHi)},
	{"log2e", math.Float32bits(log2e)},
	{"ln2Hi", math.Float32bits(ln2Hi)},
	{"ln2Lo", math.Float32bits(ln2Lo)},
	{"exp1", math.Float32bits(expPoly[0])},
	{"exp2", math.Float32bits(expPoly[1])},
	{"exp3", math.Float32bits(expPoly[2])},
	{"exp4", math.Float32bits(expPoly[3])},
	{"exp5", math.Float32bits(expPoly[4])},
	{"exp6", math.Float32bits(expPoly[5])},
	{"expBias", 127},
	{"geluClamp", math.Float32bits(geluClamp)},
	{"geluNegClamp", math.Float32bits(-geluClamp)},
	{"geluK", math.Float32bits(geluK)},
	{"gelu0", math.Float32bits(geluPoly[0])},
	{"gelu1", math.Float32bits(geluPoly[1])},
	{"gelu2", math.Float32bits(geluPoly[2])},
	{"gelu3", math.Float32bits(geluPoly[3])},
	{"gelu4", math.Float32bits(geluPoly[4])},
	{"gelu5", math.Float32bits(geluPoly[5])},
	{"gelu6", math.Float32bits(geluPoly[6])},
	{"gelu7", math.Float32bits(geluPoly[7])},
	{"gelu8", math.Float32bits(geluPoly[8])},
	{"gelu9", math.Float32bits(geluPoly[9])},
	{"invSqrt2Pi", math.Float32bits(invSqrt2Pi)},
}

var constMems = map[string]Mem{}

// defineConstants emits the read-only data of every constant vector, and the lane indices
// 0..15 that tail masks compare against.
func defineConstants() {
	for _, c := range constants {
		m := GLOBL("vec_"+c.name, RODATA|NOPTR)
		for i := 0; i < 16; i++ {
			DATA(4*i, U32(c.bits))
		}
		constMems[c.name] = m
	}
	m := GLOBL("vec_iota", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(i))
	}
	constMems["iota"] = m
}

func constMem(name string) Mem {
	m, ok := constMems[name]
	if !ok {
		panic(fmt.Sprintf("unknown constant %q", name))
	}
	return m
}

// constPool hands out the constants of one kernel: those hoisted into registers before the
// loop, the rest as memory operands.
type constPool struct {
	w    width
	regs map[string]VecVirtual
}

// hoist loads the named constants into registers, for the whole function.
func (w width) hoist(names ...string) *constPool {
	c := &constPool{w: w, regs: map[string]VecVirtual{}}
	for _, n := range names {
		r := w.vec()
		VMOVUPS(constMem(n), r)
		c.regs[n] = r
	}
	return c
}

// op returns the constant as an operand: its register when hoisted, else its memory.
func (c *constPool) op(name string) Op {
	if r, ok := c.regs[name]; ok {
		return r
	}
	return constMem(name)
}

// reg returns the constant in a register: its own when hoisted, else a fresh load.
func (c *constPool) reg(name string) VecVirtual {
	if r, ok := c.regs[name]; ok {
		return r
	}
	r := c.w.vec()
	VMOVUPS(constMem(name), r)
	return r
}

// load copies the constant into dst.
func (c *constPool) load(name string, dst VecVirtual) {
	if r, ok := c.regs[name]; ok {
		VMOVAPS(r, dst)
		return
	}
	VMOVUPS(constMem(name), dst)
}
