// Package bench holds the benchmarks of semprox that matter to users (the package is only its
// _test.go files). Each reports its figure of merit with b.ReportMetric, so runs compare with
// benchstat and with the anchors in ../shared/tools (OpenBLAS SGEMM, the PyTorch and ONNX
// Runtime ViT, FAISS kNN):
//
//   - sgemm_test.go: kernels.Sgemm, and gonum's for comparison, on squares and a ViT-S/16
//     block's products (GFLOPS);
//   - vector_test.go: the streaming kernels (GELU and LayerNorm with their backward passes, Exp,
//     Softmax) beside copy() as the memory ceiling (Gelem/s);
//   - attention_test.go: the fused attention forward and backward (GFLOPS);
//   - vit_test.go: ViT-S/16 inference and the VPTSP training step at 224x224 (img/s and peak
//     resident bytes);
//   - loader_test.go: the JPEG loader's training and evaluation batches, and the training
//     step fed by it (img/s);
//   - knn_test.go: exact kNN self-retrieval at Stanford Online Products test size (s/op and
//     peak resident bytes).
//
// Run them with go test (make bench runs everything):
//
//	go test -run '^$' -bench . ./bench                    # everything
//	go test -run '^$' -bench 'Sgemm/1024' ./bench         # one shape
//	SEMPROX_SIMD=avx2 go test -run '^$' -bench Sgemm ./bench  # a forced lower SIMD path
package bench
