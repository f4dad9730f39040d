// Package weights reads and writes the weight files of the engine's models.
//
// It reads the checkpoints users already have for timm, DINO and Google's AugReg Vision
// Transformers into named float32 tensors ([Read], [ReadKey]):
//
//   - safetensors files (timm's model.safetensors), with F32, F16, BF16 and F64 tensors
//     (and integer and BOOL ones) converted to float32;
//   - PyTorch zip checkpoints written by torch.save since PyTorch 1.6 (.pth, .pt, timm's
//     pytorch_model.bin, DINO's dino_deitsmall16_pretrain.pth and full training
//     checkpoints), read without executing the pickle, with strided and offset tensor views
//     made contiguous and the state dict found inside wrapping dicts such as DINO's
//     {"teacher": ...}, {"model": ...} or {"state_dict": ...};
//   - NumPy .npz archives (np.savez or np.savez_compressed: a zip of .npy files, stored or
//     deflated) of float32, float16 or float64 arrays, such as the AugReg ViT checkpoints
//     that Google released with its vision_transformer code (the paper's backbones
//     vit_small_patch16_224_in21k and vit_base_patch16_224_in21k among them), whose arrays
//     are named like "Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel".
//
// The format is detected from the content, not the name. The legacy (pre-1.6) PyTorch
// format and TorchScript archives are refused with a message saying how to convert them.
//
// [Checkpoint.TimmNames] maps wrapper names to timm's ("module." and "backbone." stripped,
// "head.*" dropped and counted), and converts an AugReg checkpoint's Flax names and layout
// to timm's: the patch kernel from HWIO to OIHW, the per-head query, key and value kernels
// into one qkv weight, and every [in, out] kernel to an [out, in] weight, moving elements
// without rounding them, as timm's loader of those files does. [Check] compares a
// checkpoint with the names and
// shapes a model expects, reporting every missing, unexpected and wrongly shaped tensor at
// once; [ReadTimm] does all three. [Save] and [Load] write and read the engine's own
// checkpoints: one F32 safetensors file, switched into place atomically, that carries the
// caller's JSON metadata and the SHA-256 of its tensor data (a readable copy of the JSON is
// written beside it). [SaveKeeping] also keeps the checkpoint it replaces, and [LoadRecent]
// falls back on that one when the newest is missing or damaged.
//
// Every file is treated as untrusted input: headers, pickles and zip entries are validated
// before anything is allocated from the sizes they claim, which are capped against the
// file's own length, and every error names the file and, where there is one, the tensor
// (see [Error]). The parsers are fuzzed.
//
// The package knows tensors and files only; it knows nothing of layers or models, which
// pass in the shapes they expect.
//
// # Why the parsers are our own
//
// Two libraries on the Go module proxy were weighed. github.com/nlpodyssey/gopickle
// (v0.2.0, January 2023) reads PyTorch files, but it is not safe on untrusted input: a
// 9-byte pickle (BINBYTES8 with a 2^48 length) makes it allocate without bound and
// kills the process with a fatal out-of-memory error, opcode 0xff panics with an index out
// of range, its PyTorch layer allocates storages of whatever size the pickle names, and
// its legacy-format path panics ("not implemented"). Its unpickler also cannot be driven
// with our own storage loader, so we could not bound those sizes from outside. The small
// pickle reader here handles protocols 0 to 5 as far as torch.save needs, never imports
// anything, and checks every length against the bytes that remain.
//
// github.com/nlpodyssey/safetensors (BSD-2-Clause, no tagged release) validates headers
// soundly, but its API parses a []byte holding the whole file, which doubles peak memory
// for a ViT-B (346 MB of file plus 346 MB of tensors); it converts no dtypes, and its
// size-mismatch error does not name the tensor. The format is a length, a JSON header and
// raw little-endian data, so this package parses the header itself (applying the same
// rules as the reference implementation: offsets contiguous from zero, sizes equal to
// shape times dtype, nothing after the last tensor) and streams each tensor from the file
// straight into its float32 storage.
package weights
