// Package vision turns image files into the normalised [3, H, W] float32 inputs a ViT expects:
// decoding (JPEG, PNG, GIF; grayscale, paletted and CMYK to RGB), resizing the shorter side
// (bicubic, as Pillow's, or bilinear), center cropping and per-channel normalisation.
package vision
