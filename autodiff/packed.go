package autodiff

import (
	"fmt"
	"sync"

	"github.com/semprox/semprox/kernels"
)

// packedWeight is a frozen weight w [out, in] packed once for the two products it takes part in:
// x w^T forward, and dy w for the input gradient (packed on the first backward pass that needs
// it, so inference never holds it).
type packedWeight struct {
	precision kernels.Precision
	out, in   int
	forward   *kernels.PackedB // op(B) = w^T, [in, out]
	once      sync.Once
	backward  *kernels.PackedB // op(B) = w, [out, in]
	value     []float32
}

// Pack makes the linear layers that use v as their weight (Linear, MLP, PatchEmbed) multiply by
// a copy of it packed once in the given precision, while v does not require a gradient or the
// tape records none (SetNoGrad): in float32 that only skips packing it at every product; in
// bf16 both the weight and the layer's input are rounded to bfloat16 and the products summed in
// float32 (see kernels.BF16). Where gradients are recorded, a weight that requires one is read
// itself, never its packed copy.
//
// The copy for the input gradient's product (dy w) is made now when inputGradient is set, else
// on the first backward pass that needs it. v is read as [out, in], its dimensions after the
// first flattened (a patch embedding's [D, C, p, p] is [D, C*p*p]). Pack once v holds its final
// values: a value written to v later is not seen until Pack is called again. It panics if v has
// fewer than two dimensions.
func (v *Var) Pack(precision kernels.Precision, inputGradient bool) {
	if v.Value.Dims() < 2 {
		panic(fmt.Sprintf("autodiff: Pack: weight has shape %v, want [out, in, ...]", v.Shape()))
	}
	out := v.Value.Dim(0)
	in := v.Value.Len() / max(out, 1)
	data := v.Value.Data()
	v.packed = &packedWeight{precision: precision, out: out, in: in, value: data,
		forward: kernels.PackB(precision, true, in, out, data, in)}
	if inputGradient {
		v.packed.inputGradient()
	}
}

// Unpack drops v's packed copy: products read v itself again.
func (v *Var) Unpack() { v.packed = nil }

// Packed reports the precision of v's packed copy, if it has one.
func (v *Var) Packed() (kernels.Precision, bool) {
	if v.packed == nil {
		return kernels.FP32, false
	}
	return v.packed.precision, true
}

// PackedBytes is the memory v's packed copies take now.
func (v *Var) PackedBytes() int {
	pw := v.packed
	if pw == nil {
		return 0
	}
	n := pw.forward.Bytes()
	if pw.backward != nil {
		n += pw.backward.Bytes()
	}
	return n
}

// packing is v's packed copy when products may use it: v has one, and v is frozen or the
// product is recorded without gradients (noGrad), so that v cannot change before it ends.
func (v *Var) packing(noGrad bool) *packedWeight {
	if v.packed == nil || (v.requiresGrad && !noGrad) {
		return nil
	}
	return v.packed
}

// inputGradient returns w packed for dy w, packing it on first use.
func (pw *packedWeight) inputGradient() *kernels.PackedB {
	pw.once.Do(func() { pw.backward = kernels.PackB(pw.precision, false, pw.out, pw.in, pw.value, pw.in) })
	return pw.backward
}
