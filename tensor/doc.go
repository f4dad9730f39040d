// Package tensor provides dense float32 tensors stored contiguously in row-major order.
//
// A [Tensor] is a shape plus a flat []float32 holding exactly as many elements as the
// product of the shape. The package is responsible for:
//
//   - shapes: construction, validation, element counts, row-major strides, reshaping;
//   - storage: tensors created by [New], [FromSlice], [Tensor.Clone] and [Scratch.Get] own
//     contiguous storage whose first element sits on a 64-byte boundary, so the kernels can
//     use aligned vector loads; [Wrap] adopts caller memory without copying or aligning it;
//   - views: [Tensor.Row], [Tensor.Slice] and [Tensor.Reshape] return new tensors that share
//     storage with their parent, so a write through a view is visible in the parent and
//     vice versa. Views are only ever taken along the leading axis (or over the whole
//     tensor), which keeps every tensor contiguous; there are no general strided views;
//   - scratch memory: a [Scratch] pool hands out zeroed, aligned temporaries drawn from
//     power-of-two size classes, so a repeated computation (a training step) stops
//     allocating once the pool has warmed up.
//
// The package deliberately knows nothing about layers, parameters, gradients or automatic
// differentiation, and it does no arithmetic beyond filling and copying: numerical kernels
// operate on [Tensor.Data] directly, and higher-level packages build on top of both.
//
// A Tensor is not safe for concurrent mutation; concurrent reads are fine. A Scratch is
// safe for concurrent use.
package tensor
