// Package metrics evaluates deep-metric-learning embeddings by retrieval: exact k-nearest
// neighbours by blocked SGEMM similarity, and the metrics of pytorch-metric-learning's
// AccuracyCalculator (Recall@K, precision@1, R-precision, MAP@R, MAP) together with NMI from
// k-means.
//
// Embeddings are dense row-major float32 matrices (one embedding per row); labels are int64 class
// ids, one per row. Neighbours are ranked by cosine similarity (the inner product; callers
// L2-normalise first, see Normalize) or by Euclidean distance. Equal scores rank the smaller
// reference index first, and every sum runs in a fixed order, so results, NMI included, are the
// same bit for bit from run to run and for any thread count. Euclidean distances are computed on
// the embeddings scaled by one common power of two, so no scale of the embeddings overflows or
// underflows float32, and embeddings times any exact power of two rank exactly as they do.
//
// Memory stays O(block x references): the full query x reference similarity matrix is never
// formed. The package knows nothing of models, images or training.
package metrics
