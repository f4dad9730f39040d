// Package dml is the deep-metric-learning method of semprox (VPTSP): the Proxy-Anchor loss,
// semantic proxies learned from class prompts and accumulated in a class memory (EMA or the GRU
// cell), the learnable proxy bias, and the pieces a trainer combines.
//
// dml builds on nn and autodiff; it knows nothing of files, flags or progress output.
package dml
