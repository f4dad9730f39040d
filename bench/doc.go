// Package bench holds the benchmarks of semprox that matter to users: the kernels beside their
// reference implementations, and later the ViT forward pass, the training step and kNN search.
// Each reports its figure of merit with b.ReportMetric (GFLOPS, img/s), so runs compare with
// benchstat and with the anchors in ../shared/tools.
//
//	go test -bench . ./bench                     # everything
//	go test -bench 'Sgemm/1024' ./bench          # one shape
//	SEMPROX_SIMD=avx2 go test -bench Sgemm ./bench  # a forced lower SIMD path
package bench
