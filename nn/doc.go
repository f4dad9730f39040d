// Package nn builds the layers of a Vision Transformer from autodiff operations: Linear,
// LayerNorm, MLP, multi-head Attention, the pre-norm Block, PatchEmbed and the ViT itself, with
// timm's parameter names and layouts so that timm and DINO checkpoints load as they are.
//
// Layers hold their parameters as autodiff Vars and compute on the Tape passed to Forward;
// they keep no per-call state. Visual prompts enter through a hook on the ViT's forward pass.
// nn knows autodiff, tensor and kernels, nothing of the method trained on top.
package nn
