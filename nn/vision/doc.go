// Package vision turns image files into the normalised [3, H, W] float32 inputs a ViT expects:
// decoding (JPEG, PNG, GIF; grayscale, paletted and CMYK to RGB), resizing the shorter side
// (bicubic, as Pillow's, or bilinear), center cropping and per-channel normalisation.
//
// Hostile files cost little: Load reads only regular files (a named pipe or a device is
// refused without blocking) and checks the size an image's header declares against MaxPixels
// before decoding it; every resize checks the size it would make, and its working memory,
// against the same bound before allocating (CheckScale).
package vision
