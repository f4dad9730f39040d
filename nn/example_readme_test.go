package nn_test

import (
	"fmt"
	"log"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/pretrained"
	"github.com/semprox/semprox/tensor"
)

// One step of BitFit (the ViT's biases trainable, its weights frozen) with VPT-deep prompts, on
// the embedded backbone: a 6-block, 96-wide ViT for 28x28 images.
func ExampleViT_Embed() {
	vit, _, err := pretrained.FashionMNIST() // an *nn.ViT; nn.LoadViT reads one from a timm or DINO checkpoint
	if err != nil {
		log.Fatal(err)
	}
	nn.SetTrainable(vit.Parameters(), nn.IsBias)
	prompts := make([]*autodiff.Var, vit.Depth) // 5 prompts per block, shared by the batch
	for l := range prompts {
		prompts[l] = autodiff.Param(tensor.New(1, 5, vit.Dim))
	}
	images := autodiff.Constant(tensor.New(2, 3, 28, 28)) // [B, 3, H, W], normalised

	tp := autodiff.NewTape()
	emb := vit.Embed(tp, images, func(l int) *autodiff.Var { return prompts[l] }) // [B, D]

	// A loss; backward leaves its gradients in prompts[l].Grad() and every bias.
	tp.Backward(tp.Sum(emb))
	fmt.Println(emb.Shape(), prompts[0].Grad().Shape(), vit.Norm.Bias.Grad().Shape(), vit.PatchWeight.RequiresGrad())
	tp.Reset() // the step's memory goes back to the tape's pool
	// Output: [2 96] [1 5 96] [96] false
}
