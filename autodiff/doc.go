// Package autodiff is a reverse-mode automatic differentiation tape over float32 tensors.
//
// A [Tape] records the operations of one computation (a training step) as they run; each
// operation computes its result at once and records a backward function that turns the
// gradient of its result into gradients of its inputs. [Tape.Backward] runs those functions
// in reverse order from a scalar loss.
//
// Values are [Var]s. A trainable parameter is made with [Param]: its gradient lives across
// steps, accumulating until [Var.ZeroGrad], as optimizers expect. Inputs that are not
// trained are [Constant]s (or frozen Params): no gradient work is done for them, so a frozen
// weight costs its layer only the input-gradient product in backward. In [Tape.SetNoGrad]
// mode nothing is recorded, for inference.
//
// Results and intermediate gradients come from the tape's [tensor.Scratch]: [Tape.Reset]
// returns them all at once, and the next step with the same shapes reuses the same memory.
//
// autodiff knows tensors and kernels, not layers: nn builds layers from these operations.
package autodiff
