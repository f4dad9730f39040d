// Package pretrained holds the backbone that ships with the module, so that training and
// examples run with no download: a small Vision Transformer (vit_micro_patch4_28: 28x28
// inputs, 4x4 patches, width 96, 6 blocks, 3 heads) trained from scratch by supervised
// classification of the ten Fashion-MNIST classes with cmd/pretrain. The command that wrote
// it, its seed, its test accuracy and its input normalisation are recorded in the embedded
// JSON beside the tensors, and returned in [Info].
//
// The checkpoint pair (fashion_mnist_vit.safetensors and fashion_mnist_vit.json) is embedded
// into any binary that imports this package, about 3 MB; the JSON's SHA-256 is checked against
// the one the tensor file records, so a regenerated pair cannot be mixed up. The package knows
// nn and nn/weights; it knows nothing of the method trained on top of the backbone.
package pretrained
