// Package nn builds the networks of semprox from autodiff operations, with timm's parameter
// names and layouts so that timm and DINO checkpoints load as they are.
//
// Layers (layers.go): [Linear], [LayerNorm], [MLP], multi-head [Attention] and the pre-norm
// [Block]. The [ViT] and its configurations, [Config] and [Configs] (vit.go): its forward pass
// takes per-block prompts (VPT-deep, see [Prompts]), and its blocks compute only the tokens
// whose outputs are kept. Beside it: the bottleneck [Adapter] a block may carry (adapter.go),
// the [GRUProxyCell] that accumulates semantic proxies (gru.go) and the embedding [Head]
// (head.go).
//
// Training: initialisation ([TruncNormal], [XavierNormal], [XavierUniform], [ViT.Init]; init.go),
// the [SGD] and [AdamW] optimizers over parameter groups ([Group]) with savable state and the
// [Cosine] schedule (optim.go), and parameters by name ([Named], [SetTrainable], [IsBias],
// [CountTrainable], [InferConfig]; params.go). load.go reads checkpoints into models ([LoadViT],
// [Load]).
//
// Layers hold their parameters as autodiff Vars and compute on the Tape passed to Forward; they
// keep no per-call state. Subpackages: nn/weights reads and writes weight files (safetensors,
// PyTorch), nn/vision turns image files into normalised inputs, and nn/pretrained embeds a small
// Fashion-MNIST backbone. nn knows autodiff, tensor and nn/weights, nothing of the losses and
// training loop built on top (package dml).
package nn
